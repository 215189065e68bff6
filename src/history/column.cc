// Column: see column.h.
#include "history/column.h"

namespace allot::history::internal {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view in, size_t* pos, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*pos >= in.size()) return false;
    auto b = static_cast<uint8_t>(in[(*pos)++]);
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

size_t Column::bytes() const {
  size_t n = open_.capacity() + sealed_.capacity() * sizeof(Block);
  for (const Block& b : sealed_)
    n += b.bytes.capacity() > 15 ? b.bytes.capacity() : 0;  // past the SSO buffer
  return n;
}

void Column::FlushRepeats() {
  if (repeats_ == 0) return;
  PutVarint(&open_, (static_cast<uint64_t>(repeats_) << 1) | 1);
  repeats_ = 0;
}

void Column::Seal() {
  if (open_index_ < 0) return;
  FlushRepeats();
  open_.shrink_to_fit();
  sealed_.push_back({open_index_, std::move(open_)});
  open_ = std::string();
  open_index_ = -1;
}

void Column::Open(int64_t index) {
  Seal();
  open_index_ = index;
  prev_row_ = index * kBlockRows - 1;
  ref_ = Point{};
}

void Column::PutPoint(int64_t row, const Point& p) {
  if (row / kBlockRows != open_index_) Open(row / kBlockRows);
  if (p == ref_ && row == prev_row_ + 1 && !open_.empty()) {
    repeats_++;
    prev_row_ = row;
    return;
  }
  FlushRepeats();
  uint64_t changed = 0;
  for (int f = 0; f < kNumFields; f++) {
    if (p.has(f) && p.value[static_cast<size_t>(f)] != ref_.value[static_cast<size_t>(f)]) changed |= 1u << f;
  }
  bool pchg = p.present != ref_.present;
  uint64_t h = (static_cast<uint64_t>(row - prev_row_) << 6) | (changed << 2) | (pchg ? 2u : 0u);
  PutVarint(&open_, h);
  if (pchg) open_.push_back(static_cast<char>(p.present));
  for (int f = 0; f < kNumFields; f++) {
    if ((changed >> f) & 1) {
      PutVarint(&open_, Zigzag(WrapSub(p.value[static_cast<size_t>(f)], ref_.value[static_cast<size_t>(f)])));
    }
  }
  ref_ = p;
  prev_row_ = row;
}

void Column::Extend(int64_t to_row) {
  while (last_row_ < to_row) {
    int64_t r = last_row_ + 1;
    if (r / kBlockRows != open_index_) {
      PutPoint(r, last_);  // the first row of a new block: a whole point
      last_row_ = r;
      continue;
    }
    // Within the open block, up to its end or to_row: one run.
    int64_t end = std::min(to_row, (open_index_ + 1) * kBlockRows - 1);
    repeats_ += static_cast<uint32_t>(end - last_row_);
    prev_row_ = end;
    last_row_ = end;
  }
}

void Column::Append(int64_t row, const Point& p) {
  if (live_ && last_row_ >= 0) Extend(row - 1);
  PutPoint(row, p);
  last_row_ = row;
  last_ = p;
  live_ = true;
}

void Column::Gone(int64_t row) {
  if (live_) Extend(row - 1);
  live_ = false;
}

void Column::DropBefore(int64_t row) {
  if (live_ && last_row_ < row) Extend(row);
  size_t keep = 0;
  while (keep < sealed_.size() && (sealed_[keep].index + 1) * kBlockRows <= row) keep++;
  if (keep > 0) sealed_.erase(sealed_.begin(), sealed_.begin() + static_cast<std::ptrdiff_t>(keep));
  if (!live_ && open_index_ >= 0 && (open_index_ + 1) * kBlockRows <= row) {
    open_index_ = -1;
    open_ = std::string();
    repeats_ = 0;
  }
}

}  // namespace allot::history::internal
