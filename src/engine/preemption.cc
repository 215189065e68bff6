// Engine: preemption. A request that cannot start for capacity may evict preemptible allocations of lower
// priority, or of tenants borrowing beyond their guarantee when it is within its own, on one node.
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {

bool Engine::Impl::TryPreempt(uint32_t ai, TimeMs now, Explanation* ex) {
  Alloc& a = allocs[ai];
  if (a.count > 1) return false;
  bool reclaim = WithinGuaranteed(a.tenant, a);
  TimeMs end = a.duration >= 0 ? now + a.duration : kForever;
  struct Candidate {
    uint32_t node = kNone;
    std::vector<uint32_t> victims;
    int64_t max_prio = 0, sum_prio = 0;
  };
  Candidate best;
  size_t r = registry.size();
  std::vector<int64_t> free(r);
  for (uint32_t ni = 0; ni < nodes.size(); ni++) {
    if (!schedulable[ni] || !NodeStaticOk(a, ni, nullptr)) continue;
    std::vector<uint32_t> pot;
    for (uint32_t bj : nodes[ni].allocs) {
      const Alloc& b = allocs[bj];
      if (b.state != AllocState::kPlaced || !b.preemptible || b.count > 1) continue;
      bool lower = b.priority < a.priority;
      bool borrower = reclaim && !TenantIsAncestor(a.tenant, b.tenant) && IsBorrowing(b.tenant);
      if (lower || borrower) pot.push_back(bj);
    }
    if (pot.empty()) continue;
    for (size_t s = 0; s < r; s++) {
      free[s] = cap[s][ni] - used[s][ni] - ReservedAgainst(a, ni, static_cast<uint16_t>(s), now, end);
    }
    for (uint32_t bj : pot)
      for (size_t k = 0; k < allocs[bj].req.size(); k++) free[allocs[bj].req.slot(k)] += allocs[bj].req.amount(k);
    auto fits = [&]() {
      for (size_t k = 0; k < a.req.size(); k++)
        if (a.req.amount(k) > free[a.req.slot(k)]) return false;
      return true;
    };
    if (!fits()) continue;
    // Reprieve the most important victims first (non-borrowers, higher priority, older) while it still fits.
    std::sort(pot.begin(), pot.end(), [&](uint32_t x, uint32_t y) {
      bool bx = IsBorrowing(allocs[x].tenant), by = IsBorrowing(allocs[y].tenant);
      if (bx != by) return !bx;
      if (allocs[x].priority != allocs[y].priority) return allocs[x].priority > allocs[y].priority;
      return allocs[x].started < allocs[y].started;
    });
    Candidate c;
    c.node = ni;
    for (uint32_t bj : pot) {
      const Alloc& b = allocs[bj];
      for (size_t k = 0; k < b.req.size(); k++) free[b.req.slot(k)] -= b.req.amount(k);
      if (fits()) continue;  // reprieved
      for (size_t k = 0; k < b.req.size(); k++) free[b.req.slot(k)] += b.req.amount(k);
      c.victims.push_back(bj);
      c.max_prio = c.victims.size() == 1 ? b.priority : std::max<int64_t>(c.max_prio, b.priority);
      c.sum_prio += b.priority;
    }
    bool better = best.node == kNone || c.max_prio < best.max_prio ||
                  (c.max_prio == best.max_prio &&
                   (c.sum_prio < best.sum_prio || (c.sum_prio == best.sum_prio && c.victims.size() < best.victims.size())));
    if (better) best = std::move(c);
  }
  if (best.node == kNone) return false;
  std::string names;
  for (uint32_t bj : best.victims) {
    Alloc& b = allocs[bj];
    std::string why = "preempted by " + a.id.str() + " (priority " + PriorityName(a.priority) + ") on " +
                      nodes[best.node].name;
    Emit(EventType::kPreempted, now, b.id, NodeList(b), tenants[b.tenant].path, ReasonCode::kPreempted, why, a.id);
    b.X().preempted_by = a.id.str();
    Unplace(bj, AllocState::kPreempted, now, ReasonCode::kPreempted, why);
    names += (names.empty() ? "" : ",") + b.id.str();
  }
  PlaceUnit(ai, best.node);
  if (ex) {
    ex->chosen = nodes[best.node].name;
    ex->outcome = "preempted";
    ex->detail += (ex->detail.empty() ? "" : "; ") + std::string("victims: ") + names;
  }
  Finalize(ai, now);
  return true;
}

}  // namespace allot
