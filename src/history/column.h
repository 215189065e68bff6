// The in-memory encoding of one series in one tier: its points by tier row index, in blocks of kBlockRows
// rows (block k holds rows [k·kBlockRows, (k+1)·kBlockRows)).
//
// A block is a string of tokens, each a varint `h`:
//   h odd:  the previous point again at the next h >> 1 rows;
//   h even: a point, h = drow << 6 | changed << 2 | presence_changed << 1, where drow (≥ 1) is its row minus
//           the previous point's (the block's first row minus 1 at its start); then the presence mask (one
//           byte) if it changed, then for each field in `changed` its value minus the previous point's, as
//           a zigzag varint. The previous point at a block's start is all absent and 0.
// A series that did not change since its last point is not written at every row: while it is `live` (it
// had a point at the tier's latest row, as far as the Db knows) its last point stands for every row after
// it, and it is materialised (as repeats) only when the series changes, goes, or old blocks are dropped.
// Thread-safety: none.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "allot/history.h"

namespace allot::history::internal {

void PutVarint(std::string* out, uint64_t v);
// Reads a varint at *pos; false when the input ends first or it is longer than 10 bytes.
bool GetVarint(std::string_view in, size_t* pos, uint64_t* v);
inline uint64_t Zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t Unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }
// a - b without overflow (amounts near the int64 limits wrap around in two's complement, which the
// decoder undoes the same way).
inline int64_t WrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
inline int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
// floor(a / b) for b > 0.
inline int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

class Column {
 public:
  // Records `p` (some field present) at `row`, after every row it holds. A live series repeats its last
  // point up to row - 1 first.
  void Append(int64_t row, const Point& p);
  // The series has no point at `row` (nor after it, until the next Append).
  void Gone(int64_t row);
  // Drops the blocks that end before `row` (a live series keeps its value: it is materialised up to `row`
  // first). REQUIRES: row <= the tier's latest row when live.
  void DropBefore(int64_t row);
  // fn(row, point) for each point in rows [lo, hi], in order; a live series stands until `last_row`.
  template <typename Fn>
  void Scan(int64_t lo, int64_t hi, int64_t last_row, Fn&& fn) const;

  bool live() const { return live_; }
  bool empty() const { return sealed_.empty() && open_index_ < 0; }
  size_t bytes() const;  // heap held by the encoded blocks
  int64_t last_row() const { return last_row_; }

 private:
  struct Block {
    int64_t index = 0;
    std::string bytes;
  };
  void Extend(int64_t to_row);  // repeats the last point at every row up to to_row
  void Open(int64_t index);     // seals the open block, opens block `index`
  void Seal();
  void FlushRepeats();
  void PutPoint(int64_t row, const Point& p);
  // Decodes one block's tokens: fn(row, point); `repeats` more of the last point at its end.
  template <typename Fn>
  static void Decode(int64_t index, std::string_view in, uint32_t repeats, int64_t lo, int64_t hi, Fn&& fn);

  std::vector<Block> sealed_;
  int64_t open_index_ = -1;
  std::string open_;
  int64_t prev_row_ = -1;  // row of the last point written in the open block (as token or repeat)
  Point ref_;              // the open block's previous point, the encoder's reference
  uint32_t repeats_ = 0;   // the last point again at the rows after prev_row_, not yet a token
  int64_t last_row_ = -1;  // the series' last materialised row
  Point last_;             // its last point
  bool live_ = false;
};

template <typename Fn>
void Column::Decode(int64_t index, std::string_view in, uint32_t repeats, int64_t lo, int64_t hi, Fn&& fn) {
  size_t pos = 0;
  int64_t row = index * kBlockRows - 1;
  Point p;
  while (pos < in.size()) {
    uint64_t h = 0;
    if (!GetVarint(in, &pos, &h)) return;
    if (h & 1) {
      int64_t n = static_cast<int64_t>(h >> 1);
      if (row + n < lo) {  // the whole run is before the range
        row += n;
        continue;
      }
      for (int64_t k = 0; k < n; k++) {
        ++row;
        if (row > hi) return;
        if (row >= lo) fn(row, p);
      }
      continue;
    }
    row += static_cast<int64_t>(h >> 6);
    if (h & 2) {
      if (pos >= in.size()) return;
      uint8_t mask = static_cast<uint8_t>(in[pos++]);
      for (int f = 0; f < kNumFields; f++) {
        if (!((mask >> f) & 1)) p.value[static_cast<size_t>(f)] = 0;
      }
      p.present = mask;
    }
    for (int f = 0; f < kNumFields; f++) {
      if (!((h >> (2 + f)) & 1)) continue;
      uint64_t d = 0;
      if (!GetVarint(in, &pos, &d)) return;
      p.value[static_cast<size_t>(f)] = WrapAdd(p.value[static_cast<size_t>(f)], Unzigzag(d));
    }
    if (row > hi) return;
    if (row >= lo) fn(row, p);
  }
  for (uint32_t k = 0; k < repeats; k++) {
    ++row;
    if (row > hi) return;
    if (row >= lo) fn(row, p);
  }
}

template <typename Fn>
void Column::Scan(int64_t lo, int64_t hi, int64_t last_row, Fn&& fn) const {
  if (lo > hi) return;
  for (const Block& b : sealed_) {
    if ((b.index + 1) * kBlockRows <= lo) continue;
    if (b.index * kBlockRows > hi) return;
    Decode(b.index, b.bytes, 0, lo, hi, fn);
  }
  if (open_index_ >= 0 && open_index_ * kBlockRows <= hi) Decode(open_index_, open_, repeats_, lo, hi, fn);
  if (live_) {
    for (int64_t r = std::max(last_row_ + 1, lo); r <= std::min(hi, last_row); r++) fn(r, last_);
  }
}

}  // namespace allot::history::internal
