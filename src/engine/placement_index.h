// The placement index: what lets a placement search look at O(log N) node blocks instead of all of them,
// with the same answer as a scan of every node.
//
// BlockTree is a tree over the node blocks (kBlock consecutive nodes each, the leaves) with kFanout
// children per tree node. Every tree node keeps, per resource slot, the most free on one node below it
// (a subtree where no node has enough of something free is skipped whole), and the clock of the last
// change below it. It does not depend on requests; the engine updates it on every usage or node change.
//
// ShapeBounds keeps, for one request shape (a request's amounts: most requests share one with many
// others), an upper bound per tree node on the score any node below could give that shape, and the
// clock at which it was computed. Bounds are computed lazily, during a search: a bound stays valid while
// nothing below its tree node changed, so a search pays only for the blocks that changed since the
// shape's previous search. ShapeCache holds the shapes searched most recently.
//
// Thread-safety: none; the engine serialises access.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "engine/state.h"

namespace allot::engine {

class BlockTree {
 public:
  static constexpr uint32_t kFanout = 16;  // FirstBlock shifts by 4 bits a level

  // Sizes the tree for `blocks` leaves and `slots` resource slots. The layout (and every stamp) changes
  // only when the leaves outgrow a power of kFanout; returns true then (shape bounds must be dropped).
  bool Resize(size_t blocks, size_t slots);

  size_t levels() const { return width_.size(); }  // level 0: the blocks; the last: the root
  uint32_t width(size_t level) const { return width_[level]; }  // tree nodes laid out at `level`
  size_t blocks() const { return blocks_; }
  // The children of (level, i) that have blocks below them: [first, last).
  std::pair<uint32_t, uint32_t> Children(size_t level, uint32_t i) const {
    uint32_t lo = i * kFanout;
    return {lo, std::min(lo + kFanout, used_[level - 1])};
  }
  // The first block below tree node (level, i).
  uint32_t FirstBlock(size_t level, uint32_t i) const { return i << (4 * level); }

  // Per slot, the most free on one node of (level, i); -1 when no schedulable node is below.
  int64_t max_free(size_t level, uint16_t slot, uint32_t i) const {
    return max_free_[level][static_cast<size_t>(slot) * width_[level] + i];
  }
  int64_t MostFree(uint16_t slot) const { return max_free_.back()[slot]; }
  // Sets one block's most free for `slot` and carries the change up.
  void SetBlockMaxFree(uint16_t slot, uint32_t block, int64_t v);

  // Something in `block` changed (usage, capacity, state): moves the clock and stamps the path up.
  void Touch(uint32_t block);
  uint64_t clock() const { return clock_; }
  uint64_t stamp(size_t level, uint32_t i) const { return stamp_[level][i]; }

 private:
  size_t blocks_ = 0;
  std::vector<uint32_t> width_;                 // per level, a power of kFanout
  std::vector<uint32_t> used_;                  // per level, the tree nodes with blocks below them
  std::vector<std::vector<int64_t>> max_free_;  // [level][slot * width + i]
  std::vector<std::vector<uint64_t>> stamp_;    // [level][i]
  size_t slots_ = 0;
  uint64_t clock_ = 1;
};

struct ShapeBounds {
  struct Cell {
    double bound;       // at least the score of any node below that could hold the shape
    uint64_t valid_at;  // BlockTree::clock() when `bound` was computed
  };
  uint64_t shape = 0;  // RequestShape::id
  uint64_t last_used = 0;
  std::vector<std::vector<Cell>> cells;  // [level][i]
};

class ShapeCache {
 public:
  static constexpr size_t kShapes = 32;
  // The bounds of request shape `shape` (RequestShape::id), new (every bound invalid) if it was not among
  // the kShapes most recent.
  ShapeBounds& Find(uint64_t shape, const BlockTree& tree);
  void Clear() { shapes_.clear(); }

 private:
  std::vector<std::unique_ptr<ShapeBounds>> shapes_;
  uint64_t uses_ = 0;
};

}  // namespace allot::engine
