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
    // Leaves for `capacity` blocks, then each level kFanout times narrower, down to one root; the
    // blocks' values are kept and the levels above recomputed from them.
    std::vector<int64_t> old_blocks = max_free_.empty() ? std::vector<int64_t>() : std::move(max_free_[0]);
    size_t old_width = width_.empty() ? 0 : width_[0];
    width_.clear();
    for (size_t w = capacity;; w /= kFanout) {
      width_.push_back(static_cast<uint32_t>(w));
      if (w == 1) break;
    }
    max_free_.assign(width_.size(), {});
    stamp_.assign(width_.size(), {});
    for (size_t l = 0; l < width_.size(); l++) {
      max_free_[l].assign(slots * width_[l], -1);
      stamp_[l].assign(width_[l], clock_);
    }
    for (size_t s = 0; s < slots_ && s < slots; s++) {
      std::copy_n(old_blocks.begin() + static_cast<std::ptrdiff_t>(s * old_width), old_width,
                  max_free_[0].begin() + static_cast<std::ptrdiff_t>(s * width_[0]));
      for (size_t l = 1; l < width_.size(); l++) {
        for (uint32_t i = 0; i < width_[l]; i++) {
          const int64_t* c = max_free_[l - 1].data() + s * width_[l - 1] + static_cast<size_t>(i) * kFanout;
          max_free_[l][s * width_[l] + i] = *std::max_element(c, c + kFanout);
        }
      }
    }
  } else if (slots > slots_) {
    for (size_t l = 0; l < width_.size(); l++) max_free_[l].resize(slots * width_[l], -1);  // slot-major
  }
  slots_ = std::max(slots_, slots);
  used_.assign(width_.size(), 1);
  size_t span = 1;
  for (size_t l = 0; l < width_.size(); l++, span *= kFanout)
    used_[l] = static_cast<uint32_t>(std::max<size_t>(1, (blocks + span - 1) / span));
  return relayout;
}

void BlockTree::SetBlockMaxFree(uint16_t slot, uint32_t block, int64_t v) {
  int64_t* level0 = max_free_[0].data() + static_cast<size_t>(slot) * width_[0];
  int64_t old = level0[block];
  if (old == v) return;
  level0[block] = v;
  uint32_t i = block;
  for (size_t l = 1; l < width_.size(); l++) {
    uint32_t p = i / kFanout;
    int64_t& pv = max_free_[l][static_cast<size_t>(slot) * width_[l] + p];
    int64_t nv = pv;
    if (v > pv) {
      nv = v;
    } else if (old == pv) {  // the child that held the maximum shrank: look at its siblings
      const int64_t* c = max_free_[l - 1].data() + static_cast<size_t>(slot) * width_[l - 1] + p * kFanout;
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
  lru->cells.resize(tree.levels());
  for (size_t l = 0; l < tree.levels(); l++) lru->cells[l].assign(tree.width(l), ShapeBounds::Cell{-1, 0});
  return *lru;
}

}  // namespace allot::engine
