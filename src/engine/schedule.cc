// The scheduling pass: what is due ends, then the queue order (queue_order.h) yields each queued request
// once and the pass tries it (placement.cc) and decides what a failure means: strict FCFS holds the nodes
// a blocked request could use, EASY backfill protects the first blocked request (the head), preemption
// may make room.
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {

void Engine::Schedule(TimeMs now) {
  impl_->ExpireDue(now);
  impl_->Pass(now);
  impl_->RejectExpiredWaits(now);
}

std::optional<TimeMs> Engine::NextWakeup() const {
  auto& m = *impl_;
  std::optional<TimeMs> best;
  auto consider = [&](TimeMs t) {
    if (!best || t < *best) best = t;
  };
  // Heaps hold stale entries lazily: drop those on top that no longer match their allocation (copying
  // the heap to look past them cost O(leases) a call, the most of a simulation's time after loading).
  auto& lease = m.lease_heap;
  while (!lease.empty()) {
    auto [t, ai] = lease.top();
    if (m.allocs[ai].state == AllocState::kPlaced && m.allocs[ai].expires() == t) {
      consider(t);
      break;
    }
    lease.pop();
  }
  auto& wait = m.wait_heap;
  while (!wait.empty()) {
    auto [t, ai] = wait.top();
    if (m.allocs[ai].state == AllocState::kQueued && m.allocs[ai].wait_deadline() == t) {
      consider(t);
      break;
    }
    wait.pop();
  }
  for (const auto& r : m.reservations) {
    if (!r.live) continue;
    if (r.spec.start > m.last_share_update) consider(r.spec.start);
    consider(r.spec.end);
  }
  if (m.bursting > 0) {
    for (const auto& t : m.tenants)
      if (t.burst_since >= 0) consider(t.burst_since + t.grace);
  }
  return best;
}

void Engine::Impl::ExpireDue(TimeMs now) {
  while (!lease_heap.empty() && lease_heap.top().first <= now) {
    auto [t, ai] = lease_heap.top();
    lease_heap.pop();
    Alloc& a = allocs[ai];
    if (a.state != AllocState::kPlaced || a.expires() != t) continue;
    AllocState to = a.ttl ? AllocState::kExpired : AllocState::kCompleted;
    ReasonCode code = a.ttl ? ReasonCode::kLeaseExpired : ReasonCode::kDurationElapsed;
    Emit(a.ttl ? EventType::kExpired : EventType::kCompleted, t, a.id, NodeList(a), tenants[a.tenant].path, code,
         a.ttl ? "lease expired without renewal" : "duration elapsed");
    Unplace(ai, to, t, code, a.ttl ? "lease expired without renewal" : "");
  }
  // Reservations whose window is over (a look at each only when the earliest end has passed).
  for (size_t i = 0; live_reservations > 0 && reservation_end_min <= now && i < reservations.size(); i++) {
    Reservation& r = reservations[i];
    if (!r.live || r.spec.end > now) continue;
    EndReservation(static_cast<int32_t>(i));
    capacity_epoch++;
    reservation_index.erase(r.spec.id);
    Emit(EventType::kUnreserved, r.spec.end, r.spec.id, r.node == kNone ? "" : nodes[r.node].name, r.spec.tenant,
         ReasonCode::kWindowEnded, "window ended");
  }
  if (live_reservations > 0 && reservation_end_min <= now) {
    reservation_end_min = kForever;
    for (const auto& r : reservations)
      if (r.live) reservation_end_min = std::min(reservation_end_min, r.spec.end);
  }
  if (bursting > 0) ReclaimOverMax(now, true);
  last_share_update = now;
}

void Engine::Impl::RejectExpiredWaits(TimeMs now) {
  while (!wait_heap.empty() && wait_heap.top().first <= now) {
    auto [t, ai] = wait_heap.top();
    wait_heap.pop();
    Alloc& a = allocs[ai];
    if (a.state != AllocState::kQueued || a.wait_deadline() != t) continue;
    queue.Removed();
    tenants[a.tenant].queued--;
    std::string last = a.extra ? a.extra->reason : "";
    if (last.empty()) last = "it stayed behind earlier requests in the queue (FCFS)";
    Reason why{ReasonCode::kWaitExpired, "waited " + std::to_string((t - a.submitted) / 1000) +
                                             "s without being placed" + (last.empty() ? "" : ": " + last)};
    Reject(a, t, why);
  }
}

size_t Engine::Impl::MarkEligible(const Alloc& a, std::vector<uint8_t>* mask) const {
  size_t added = 0;
  bool checks_static = a.HasSelectorOrTolerations();
  for (uint32_t ni = 0; ni < nodes.size(); ni++) {
    if ((*mask)[ni] || !schedulable[ni]) continue;
    bool ok = true;
    for (size_t k = 0; k < a.req.size() && ok; k++) ok = a.req.amount(k) <= cap[a.req.slot(k)][ni];
    if (ok && (!(checks_static || nodes[ni].hard_taint) || NodeStaticOk(a, ni, nullptr))) {
      (*mask)[ni] = 1;
      added++;
    }
  }
  return added;
}

namespace {
// Whether every resource `a` asks for is available on some single unheld node (a necessary condition).
bool FitsUnheldMax(const Alloc& a, const std::vector<int64_t>& unheld_max) {
  for (size_t k = 0; k < a.req.size(); k++) {
    uint16_t sl = a.req.slot(k);
    int64_t need = a.req.amount(k);
    if (need > 0 && (sl >= unheld_max.size() || need > unheld_max[sl])) return false;
  }
  return true;
}
}  // namespace

// One pass's state beyond the order's cursors.
struct Engine::Impl::PassState {
  // Backfill: the first request blocked for capacity (the head) and when and where it is expected to start.
  bool head_set = false;
  Shadow shadow;
  // Strict FCFS without backfill: nodes an earlier blocked request could use are held for it.
  std::vector<uint8_t> held;
  std::vector<double> held_bias;    // `bias` with held nodes excluded (the kernel then skips them)
  std::vector<uint32_t> unheld;     // schedulable nodes not held yet
  std::vector<int64_t> unheld_max;  // per slot: the most free on one unheld node (as of the last hold)
  size_t held_count = 0;
  bool any_reservation = false;  // a held node may still serve a request through its own reservation
};

void Engine::Impl::Pass(TimeMs now) {
  if (queue.empty()) return;
  if (queue.Entries() > 2 * queue.size() + 8) {
    queue.Compact([&](const RunQueue::Entry& e) { return IsQueuedEntry(e); });
  }
  PassState ps;
  ps.any_reservation = live_reservations > 0;
  const engine::QueueView view = queue_view();
  order->Begin(view);
  int position = 0;
  for (uint32_t ai = order->Next(view); ai != kNone; ai = order->Next(view)) {
    Alloc& a = allocs[ai];
    if (a.state != AllocState::kQueued) continue;
    position++;
    Explanation ex;
    Explanation* exp = explain ? &ex : nullptr;
    if (exp) {
      ex.id = a.id;
      ex.at = now;
      ex.detail = "queue position " + std::to_string(position) + " (priority " + PriorityName(a.priority) +
                  order->ExplainNote(view, ai) + ")";
    }
    Reason why;
    bool stop = false;
    switch (Attempt(ps, ai, now, &why, exp)) {
      case TryResult::kPlaced:
        if (exp) ex.outcome = ps.head_set ? "backfilled" : "placed";
        break;
      case TryResult::kQuotaReject:
        queue.Removed();
        tenants[a.tenant].queued--;
        Reject(a, now, why);
        if (exp) ex.outcome = "rejected";
        break;
      case TryResult::kQuotaWait:
      case TryResult::kNeverFits:
      case TryResult::kWaitReservation:
        SetReason(a, why);
        if (exp) ex.outcome = "queued";
        break;
      case TryResult::kNoCapacity:
        stop = OnNoCapacity(ps, ai, now, why, exp);
        break;
    }
    if (exp) explanations.push_back(std::move(ex));
    if (stop) break;
  }
}

TryResult Engine::Impl::Attempt(PassState& ps, uint32_t ai, TimeMs now, Reason* why, Explanation* ex) {
  Alloc& a = allocs[ai];
  bool plain = !ps.head_set && ps.held_count == 0;  // no backfill shadow, no FCFS holds: a pure capacity check
  if (plain && ex == nullptr && !opts.preemption && a.blocked_epoch == static_cast<uint32_t>(capacity_epoch)) {
    why->Set(a.reason_code, a.extra ? a.extra->reason : "");  // nothing freed since it last failed: still no fit
    return TryResult::kNoCapacity;
  }
  if (ps.held_count > 0 && ex == nullptr && a.reservation < 0 && !ps.any_reservation && !opts.preemption &&
      !FitsUnheldMax(a, ps.unheld_max)) {
    // Strict FCFS: no node left unheld has enough of some resource free, so it cannot start now. (Not
    // with preemption, which may free capacity during the pass that the estimate does not know of.)
    why->Set(ReasonCode::kNoCapacity, "waiting for capacity");
    return TryResult::kNoCapacity;
  }
  TryResult res = TryPlace(ai, now, ps.head_set ? &ps.shadow : nullptr, ps.held_count ? &ps.held : nullptr, why, ex,
                           ps.held_count ? ps.held_bias.data() : nullptr);
  if (res == TryResult::kNoCapacity && plain) a.blocked_epoch = static_cast<uint32_t>(capacity_epoch);
  return res;
}

bool Engine::Impl::OnNoCapacity(PassState& ps, uint32_t ai, TimeMs now, const Reason& why, Explanation* ex) {
  Alloc& a = allocs[ai];
  if (ps.head_set) {
    SetReason(a, ReasonCode::kBehindQueueHead, why.text + " (backfill: would delay the queue head)");
    if (ex) ex->outcome = "queued";
    return false;
  }
  if (opts.preemption && TryPreempt(ai, now, ex)) return false;
  if (ps.held_count > 0) {
    SetReason(a, ReasonCode::kHeldForEarlier, why.text + " (some nodes are held for earlier requests)");
  } else {
    SetReason(a, why);
  }
  if (ex) ex->outcome = "queued";
  if (!opts.backfill) return HoldNodesFor(ps, a, ex);
  // EASY backfill: this is the head; later requests may start only where they do not delay it.
  ps.head_set = true;
  ComputeShadow(ai, now, &ps.shadow);
  if (ex) {
    ex->detail += ps.shadow.valid ? "; queue head: expected start " + std::to_string(ps.shadow.time / 1000) + "s on " +
                                        nodes[ps.shadow.nodes.front()].name + ", later requests may backfill"
                                  : "; queue head: no expected start (capacity held without end), no backfill";
  }
  return !ps.shadow.valid;
}

bool Engine::Impl::HoldNodesFor(PassState& ps, Alloc& a, Explanation* ex) {
  // The nodes this request could use are held for it; later requests may still start on nodes it could
  // never use. A request that could use every schedulable node ends the pass at once (its count is cached
  // until the node set changes).
  if (ps.held_count == 0) {
    AllocExtra& x = a.X();
    if (x.eligible_epoch != topology_epoch) {
      std::vector<uint8_t> probe(nodes.size(), 0);
      x.eligible_count = MarkEligible(a, &probe);
      x.eligible_epoch = topology_epoch;
    }
    if (x.eligible_count >= SchedulableCount()) {
      if (ex) ex->detail += "; FCFS: it could use every node, the queue waits behind it";
      return true;
    }
  }
  if (ps.held.empty()) {
    ps.held.assign(nodes.size(), 0);
    ps.held_bias = bias;
    for (uint32_t ni = 0; ni < nodes.size(); ni++)
      if (schedulable[ni]) ps.unheld.push_back(ni);
  }
  // Hold the nodes it could use; only the nodes still unheld need a look.
  size_t keep = 0;
  bool checks_static = a.HasSelectorOrTolerations();
  for (uint32_t ni : ps.unheld) {
    bool ok = true;
    for (size_t k = 0; k < a.req.size() && ok; k++) ok = a.req.amount(k) <= cap[a.req.slot(k)][ni];
    if (ok && (!(checks_static || nodes[ni].hard_taint) || NodeStaticOk(a, ni, nullptr))) {
      ps.held[ni] = 1;
      ps.held_bias[ni] = engine::kExcludedBias;
      ps.held_count++;
    } else {
      ps.unheld[keep++] = ni;
    }
  }
  ps.unheld.resize(keep);
  ps.unheld_max.assign(cap.size(), -1);
  for (uint32_t ni : ps.unheld)
    for (size_t sl = 0; sl < cap.size(); sl++) ps.unheld_max[sl] = std::max(ps.unheld_max[sl], free_col[sl][ni]);
  if (ex) ex->detail += "; FCFS: nodes it could use are held for it";
  return ps.held_count >= nodes.size() || ps.unheld.empty();
}

TimeMs Engine::OldestQueuedSubmitted() const {
  // Every live entry: a preempted request is queued again behind younger ones, keeping its submit time.
  TimeMs oldest = -1;
  for (const auto& [priority, entries] : impl_->queue.levels()) {
    for (const auto& e : entries) {
      if (!impl_->IsQueuedEntry(e)) continue;
      TimeMs t = impl_->allocs[e.first].submitted;
      if (oldest < 0 || t < oldest) oldest = t;
    }
  }
  return oldest;
}

}  // namespace allot
