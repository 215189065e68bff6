// The engine's small containers: the id index, per-unit request lists and their interning (state.h).
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
    if ((v >> 32) == fp && id_of_(ctx_, ai) == id) return ai;
  }
}
void IdIndex::Grow() {
  std::vector<uint64_t> old;
  old.swap(slots_);
  // At most half full afterwards (8 to 16 bytes per id; a quarter, as before, cost 64 MB of the
  // 100,000-node benchmark's 1.2M allocations).
  size_t cap = 16;
  while (cap < (size_ + 1) * 2) cap *= 2;
  slots_.assign(cap, kEmptySlot);
  size_t mask = cap - 1;
  for (uint64_t v : old) {
    if (Index(v) == kEmpty) continue;
    size_t i = (v >> 32) & mask;
    while (Index(slots_[i]) != kEmpty) i = (i + 1) & mask;
    slots_[i] = v;
  }
}
void IdIndex::Insert(uint32_t ai) {
  if ((size_ + 1) * 4 > slots_.size() * 3) Grow();  // at most three quarters full
  size_t h = Hash(id_of_(ctx_, ai));
  size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (Index(slots_[i]) != kEmpty) i = (i + 1) & mask;
  slots_[i] = Make(h, ai);
  size_++;
}
void IdIndex::Erase(std::string_view id) {
  uint32_t ai = Find(id);
  if (ai == kNone) return;
  size_t mask = slots_.size() - 1;
  size_t i = Hash(id) & mask;
  while (Index(slots_[i]) != ai) i = (i + 1) & mask;
  // Backward shift: pull each later entry of the run into the hole unless its home lies after the hole
  // (cyclically in (hole, j]), so every entry stays reachable from its home without tombstones.
  for (size_t j = (i + 1) & mask; Index(slots_[j]) != kEmpty; j = (j + 1) & mask) {
    size_t home = (slots_[j] >> 32) & mask;
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = kEmptySlot;
  size_--;
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

size_t RequestShapes::Hash(const SmallRes& r) {
  size_t h = r.size();
  for (size_t i = 0; i < r.size(); i++) {
    h = h * 1000003 ^ r.slot(i);
    h = h * 1000003 ^ static_cast<size_t>(r.amount(i));
  }
  return h;
}

bool RequestShapes::Equal(const SmallRes& a, const SmallRes& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (a.slot(i) != b.slot(i) || a.amount(i) != b.amount(i)) return false;
  return true;
}

RequestRef RequestShapes::Intern(const SmallRes& r) {
  size_t h = Hash(r);
  auto [lo, hi] = table_.equal_range(h);
  for (auto it = lo; it != hi; ++it)
    if (Equal(it->second->res, r)) return RequestRef(it->second.get());
  if (table_.size() >= sweep_at_) Sweep();
  auto shape = std::make_unique<RequestShape>();
  for (size_t i = 0; i < r.size(); i++) shape->res.Set(r.slot(i), r.amount(i));
  shape->id = next_id_++;
  RequestShape* p = shape.get();
  table_.emplace(h, std::move(shape));
  return RequestRef(p);
}

void RequestShapes::Sweep() {
  for (auto it = table_.begin(); it != table_.end();)
    it = it->second->refs == 0 ? table_.erase(it) : std::next(it);
  sweep_at_ = std::max<size_t>(64, table_.size() * 2);
}

}  // namespace allot
