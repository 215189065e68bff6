// DRF queue order (fair_share: drf): priority first; within a priority the request whose tenant has the
// smaller weighted dominant share goes first, compared hierarchically (the first ancestors where two
// tenants' paths differ, siblings, compare by their subtree's share); then submission order. Shares are
// looked at again at every step, so a tenant that just started a request falls back behind the others.
#include <algorithm>
#include <unordered_map>

#include "engine/queue_order.h"

namespace allot::engine {
namespace {

class DrfOrder final : public QueueOrder {
 public:
  const char* name() const override { return "drf"; }

  // Splits the FIFO order into one list per tenant (each in FIFO order) with a cursor each.
  void Begin(const QueueView& q) override {
    per_tenant_.clear();
    std::unordered_map<uint32_t, size_t> idx;
    for (const auto& [prio, v] : q.queue.levels()) {
      for (const auto& e : v) {
        if (!q.IsQueued(e)) continue;
        uint32_t ai = e.first;
        auto [it, fresh] = idx.emplace(q.allocs[ai].tenant, per_tenant_.size());
        if (fresh) per_tenant_.emplace_back();
        per_tenant_[it->second].push_back(ai);
      }
    }
    cursor_.assign(per_tenant_.size(), 0);
  }

  // The head of the tenant list that compares least.
  uint32_t Next(const QueueView& q) override {
    size_t best = SIZE_MAX;
    for (size_t l = 0; l < per_tenant_.size(); l++) {
      if (cursor_[l] >= per_tenant_[l].size()) continue;
      if (best == SIZE_MAX || Less(q, per_tenant_[l][cursor_[l]], per_tenant_[best][cursor_[best]])) best = l;
    }
    if (best == SIZE_MAX) return kNone;
    return per_tenant_[best][cursor_[best]++];
  }

  std::string ExplainNote(const QueueView& q, uint32_t ai) const override {
    return ", dominant share " + std::to_string(q.DominantShare(q.allocs[ai].tenant)).substr(0, 6);
  }

 private:
  static std::vector<uint32_t> PathOf(const QueueView& q, uint32_t t) {
    std::vector<uint32_t> p;
    for (; t != kNone; t = q.tenants[t].parent) p.push_back(t);
    std::reverse(p.begin(), p.end());
    return p;
  }

  static bool Less(const QueueView& q, uint32_t ax, uint32_t ay) {
    const Alloc& x = q.allocs[ax];
    const Alloc& y = q.allocs[ay];
    if (x.priority != y.priority) return x.priority > y.priority;
    if (x.tenant != y.tenant) {
      auto px = PathOf(q, x.tenant), py = PathOf(q, y.tenant);
      size_t i = 0;
      while (i < px.size() && i < py.size() && px[i] == py[i]) i++;
      uint32_t sx = i < px.size() ? px[i] : x.tenant;
      uint32_t sy = i < py.size() ? py[i] : y.tenant;
      double dx = q.DominantShare(sx), dy = q.DominantShare(sy);
      if (dx != dy) return dx < dy;
    }
    return x.seq < y.seq;
  }

  std::vector<std::vector<uint32_t>> per_tenant_;
  std::vector<size_t> cursor_;
};

}  // namespace

Result<std::unique_ptr<QueueOrder>> MakeDrfOrder(const EngineOptions&) {
  return std::unique_ptr<QueueOrder>(std::make_unique<DrfOrder>());
}

}  // namespace allot::engine
