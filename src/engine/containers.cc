// The engine's small containers: the id index and per-unit request lists (state.h).
#include "engine/state.h"

namespace allot {

uint32_t IdIndex::Find(std::string_view id) const {
  if (slots_.empty()) return kNone;
  size_t h = Hash(id);
  uint64_t fp = Make(h, 0) >> 32;
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint64_t v = slots_[i];
    uint32_t ai = Index(v);
    if (ai == kEmpty) return kNone;
    if (ai != kTomb && (v >> 32) == fp && id_of_(ctx_, ai) == id) return ai;
  }
}
void IdIndex::Grow() {
  std::vector<uint64_t> old;
  old.swap(slots_);
  // Room for at least as many inserts again before the next rehash: at most a quarter full afterwards, so
  // insert/erase churn at a steady size (tombstones) rehashes once per size_ inserts, not every few.
  size_t cap = 16;
  while (cap < (size_ + 1) * 4) cap *= 2;
  slots_.assign(cap, kEmpty);
  used_ = size_ = 0;
  for (uint64_t v : old)
    if (Index(v) != kEmpty && Index(v) != kTomb) Insert(Index(v));
}
void IdIndex::Insert(uint32_t ai) {
  if ((used_ + 1) * 2 > slots_.size()) Grow();
  size_t h = Hash(id_of_(ctx_, ai));
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint32_t cur = Index(slots_[i]);
    if (cur == kEmpty || cur == kTomb) {
      if (cur == kEmpty) used_++;
      slots_[i] = Make(h, ai);
      size_++;
      return;
    }
  }
}
void IdIndex::Erase(std::string_view id) {
  uint32_t ai = Find(id);
  if (ai == kNone) return;
  size_t mask = slots_.size() - 1;
  for (size_t i = Hash(id) & mask;; i = (i + 1) & mask) {
    if (Index(slots_[i]) == ai) {
      slots_[i] = kTomb;
      size_--;
      return;
    }
  }
}

void SmallRes::Set(uint16_t slot, int64_t amount) {
  for (size_t i = 0; i < n_; i++) {
    if (slots_[i] == slot) {
      amounts_[i] = amount;
      return;
    }
  }
  if (more_) {
    for (auto& p : *more_) {
      if (p.first == slot) {
        p.second = amount;
        return;
      }
    }
  }
  if (n_ < 6) {
    slots_[n_] = slot;
    amounts_[n_] = amount;
    n_++;
    return;
  }
  if (!more_) more_ = std::make_unique<std::vector<std::pair<uint16_t, int64_t>>>();
  more_->emplace_back(slot, amount);
}
int64_t SmallRes::Get(uint16_t slot) const {
  for (size_t i = 0; i < size(); i++)
    if (this->slot(i) == slot) return amount(i);
  return 0;
}
bool SmallRes::Has(uint16_t slot) const {
  for (size_t i = 0; i < size(); i++)
    if (this->slot(i) == slot) return true;
  return false;
}

}  // namespace allot
