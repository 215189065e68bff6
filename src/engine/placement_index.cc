// The placement index's data (placement_index.h); the search that reads it is in placement.cc.
#include "engine/placement_index.h"

#include <algorithm>

namespace allot::engine {

bool BlockTree::Resize(size_t blocks, size_t slots) {
  blocks_ = blocks;
  size_t capacity = 1;
  while (capacity < blocks) capacity *= kFanout;
  bool relayout = width_.empty() || width_[0] < capacity;
  if (relayout) {
    // Leaves for `capacity` blocks, then each level kFanout times narrower, down to one root.
    std::vector<std::vector<std::vector<int64_t>>> old = std::move(max_free_);
    width_.clear();
    for (size_t w = capacity;; w /= kFanout) {
      width_.push_back(static_cast<uint32_t>(w));
      if (w == 1) break;
    }
    max_free_.assign(width_.size(), {});
    stamp_.assign(width_.size(), {});
    for (size_t l = 0; l < width_.size(); l++) stamp_[l].assign(width_[l], clock_);
    for (size_t s = 0; s < slots; s++) {
      for (size_t l = 0; l < width_.size(); l++) max_free_[l].emplace_back(width_[l], -1);
      // Keep the blocks' values; the levels above are recomputed from them.
      if (!old.empty() && s < old[0].size()) {
        std::copy(old[0][s].begin(), old[0][s].end(), max_free_[0][s].begin());
        for (size_t l = 1; l < width_.size(); l++) {
          for (uint32_t i = 0; i < width_[l]; i++) {
            const int64_t* c = max_free_[l - 1][s].data() + static_cast<size_t>(i) * kFanout;
            max_free_[l][s][i] = *std::max_element(c, c + kFanout);
          }
        }
      }
    }
    return true;
  }
  while (max_free_[0].size() < slots) {
    for (size_t l = 0; l < width_.size(); l++) max_free_[l].emplace_back(width_[l], -1);
  }
  return false;
}

void BlockTree::SetBlockMaxFree(uint16_t slot, uint32_t block, int64_t v) {
  int64_t old = max_free_[0][slot][block];
  if (old == v) return;
  max_free_[0][slot][block] = v;
  uint32_t i = block;
  for (size_t l = 1; l < width_.size(); l++) {
    uint32_t p = i / kFanout;
    int64_t& pv = max_free_[l][slot][p];
    int64_t nv = pv;
    if (v > pv) {
      nv = v;
    } else if (old == pv) {  // the child that held the maximum shrank: look at its siblings
      const int64_t* c = max_free_[l - 1][slot].data() + static_cast<size_t>(p) * kFanout;
      nv = *std::max_element(c, c + kFanout);
    }
    if (nv == pv) return;
    old = pv;
    pv = nv;
    v = nv;
    i = p;
  }
}

void BlockTree::Touch(uint32_t block) {
  clock_++;
  uint32_t i = block;
  for (size_t l = 0; l < width_.size(); l++, i /= kFanout) stamp_[l][i] = clock_;
}

ShapeBounds& ShapeCache::Find(uint64_t shape, const BlockTree& tree) {
  uses_++;
  ShapeBounds* lru = nullptr;
  for (auto& s : shapes_) {
    if (s->shape == shape) {
      s->last_used = uses_;
      return *s;
    }
    if (lru == nullptr || s->last_used < lru->last_used) lru = s.get();
  }
  if (shapes_.size() < kShapes) {
    shapes_.push_back(std::make_unique<ShapeBounds>());
    lru = shapes_.back().get();
  }
  // A new shape (or the least recently used one replaced): every bound invalid.
  lru->shape = shape;
  lru->last_used = uses_;
  lru->bound.resize(tree.levels());
  lru->valid_at.resize(tree.levels());
  for (size_t l = 0; l < tree.levels(); l++) {
    lru->bound[l].assign(tree.width(l), -1);
    lru->valid_at[l].assign(tree.width(l), 0);
  }
  return *lru;
}

}  // namespace allot::engine
