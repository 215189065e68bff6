// Engine: queue positions and estimated start times (QueueEstimates, allot/engine.h), as `squeue --start`
// gives Slurm users.
//
// The estimate plays the queue forward on a per-node timeline of what is free: leases end at their
// `expires`, reservation windows end at their `end`, and each queued request, in the order of the next
// scheduling pass, takes the earliest time at which one node (or, for a gang, `count` nodes) has room for
// it for its whole duration; it then holds that room from its start for its duration (forever when it has
// none). Without backfill a request never starts before the one ahead of it (strict FCFS). What the
// model cannot know: allocations without a lease (they never end), quota waits, preemption, nodes that
// will join. Those give no estimate (-1) or an earlier one than the truth.
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {
namespace {

// Amount changes on one node at one time: +release, -hold.
struct Change {
  TimeMs at;
  std::vector<std::pair<uint16_t, int64_t>> delta;
};

// One node's future: what is free now and the changes to come, kept sorted by time.
struct Timeline {
  std::vector<int64_t> free;  // per slot, now
  std::vector<Change> changes;
  void Add(TimeMs at, std::vector<std::pair<uint16_t, int64_t>> delta) {
    auto it = std::upper_bound(changes.begin(), changes.end(), at, [](TimeMs t, const Change& c) { return t < c.at; });
    changes.insert(it, Change{at, std::move(delta)});
  }
};

bool Covers(const std::vector<int64_t>& free, const SmallRes& req) {
  for (size_t k = 0; k < req.size(); k++)
    if (req.amount(k) > free[req.slot(k)]) return false;
  return true;
}

TimeMs EndOf(TimeMs start, TimeMs duration) {
  if (duration < 0 || start > kForever - duration) return kForever;
  return start + duration;
}

// The earliest time >= not_before at which `req` fits on the node for [t, t + duration), or kForever.
TimeMs EarliestFit(const Timeline& tl, const SmallRes& req, TimeMs now, TimeMs not_before, TimeMs duration) {
  // Candidate starts: now (or not_before) and every change time after it; a start holds when the request
  // fits at it and at every change inside its window.
  std::vector<int64_t> free = tl.free;
  size_t i = 0;
  auto advance_to = [&](TimeMs t) {
    while (i < tl.changes.size() && tl.changes[i].at <= t) {
      for (const auto& [s, v] : tl.changes[i].delta) free[s] += v;
      i++;
    }
  };
  TimeMs start = std::max(now, not_before);
  advance_to(start);
  while (true) {
    if (Covers(free, req)) {
      std::vector<int64_t> probe = free;
      TimeMs end = EndOf(start, duration);
      bool holds = true;
      // Changes at one instant apply together: a lease ending as another request starts frees its room first.
      for (size_t j = i; j < tl.changes.size() && tl.changes[j].at < end && holds;) {
        const TimeMs at = tl.changes[j].at;
        for (; j < tl.changes.size() && tl.changes[j].at == at; j++) {
          for (const auto& [s, v] : tl.changes[j].delta) probe[s] += v;
        }
        holds = Covers(probe, req);
      }
      if (holds) return start;
    }
    if (i >= tl.changes.size()) return kForever;
    start = tl.changes[i].at;
    advance_to(start);
  }
}

std::vector<std::pair<uint16_t, int64_t>> Pairs(const SmallRes& r, int64_t sign) {
  std::vector<std::pair<uint16_t, int64_t>> out;
  for (size_t k = 0; k < r.size(); k++) out.emplace_back(r.slot(k), sign * r.amount(k));
  return out;
}

}  // namespace

std::vector<QueueEstimate> Engine::QueueEstimates(TimeMs now, const QueueEstimateOptions& options) const {
  const Impl& m = *impl_;
  std::vector<QueueEstimate> out;
  if (m.queue.empty()) return out;
  const size_t r = m.registry.size();
  // Timelines are built on first use: a node no queued request can use costs nothing.
  std::vector<Timeline> lines(m.nodes.size());
  std::vector<uint8_t> built(m.nodes.size(), 0);
  auto line = [&](uint32_t ni) -> Timeline& {
    Timeline& tl = lines[ni];
    if (built[ni]) return tl;
    built[ni] = 1;
    tl.free.assign(r, 0);
    for (size_t s = 0; s < r; s++) tl.free[s] = m.cap[s][ni] - m.used[s][ni];
    for (uint32_t bj : m.nodes[ni].allocs) {
      const Alloc& b = m.allocs[bj];
      if (b.state == AllocState::kPlaced && b.expires() >= 0)
        tl.Add(std::max(b.expires(), now), Pairs(b.req, +1));
    }
    for (int32_t ri : m.nodes[ni].reservations) {
      const Reservation& rv = m.reservations[ri];
      if (!rv.live || rv.spec.end <= now) continue;
      // Room held for a window: held until it ends (queued requests are estimated outside reservations).
      std::vector<std::pair<uint16_t, int64_t>> held;
      for (size_t k = 0; k < rv.amount.size(); k++) {
        uint16_t s = rv.amount.slot(k);
        int64_t amt = rv.amount.amount(k) - (rv.spec.start <= now ? rv.used[s] : 0);
        if (amt <= 0) continue;
        if (rv.spec.start <= now) tl.free[s] -= amt;
        held.emplace_back(s, amt);
      }
      if (rv.spec.start > now) {
        std::vector<std::pair<uint16_t, int64_t>> take;
        for (auto [s, v] : held) take.emplace_back(s, -v);
        tl.Add(rv.spec.start, std::move(take));
      }
      tl.Add(rv.spec.end, std::move(held));
    }
    return tl;
  };

  std::map<uint32_t, int64_t> per_tenant;
  TimeMs floor = now;           // strict FCFS: nobody starts before the request ahead
  bool ahead_unknown = false;   // ... and after one that has no estimate, nobody has one
  const engine::QueueView view = m.queue_view();
  m.order->Begin(view);
  for (uint32_t ai = m.order->Next(view); ai != kNone; ai = m.order->Next(view)) {
    const Alloc& a = m.allocs[ai];
    if (a.state != AllocState::kQueued) continue;
    QueueEstimate e;
    e.id = a.id;
    e.tenant = m.tenants[a.tenant].path;
    e.priority = a.priority;
    e.submitted = a.submitted;
    e.position = static_cast<int64_t>(out.size()) + 1;
    e.tenant_position = ++per_tenant[a.tenant];
    e.reason_code = a.reason_code;
    if (a.extra) e.reason = a.extra->reason;
    bool model = out.size() < options.max_estimated && !(ahead_unknown && !m.opts.backfill) && a.reason_code != ReasonCode::kInfeasible &&
                 a.reason_code != ReasonCode::kReservationEnded && a.reason_code != ReasonCode::kQuota &&
                 a.reason_code != ReasonCode::kQuotaBorrowing;
    if (model && a.reservation >= 0) {
      // It starts inside its reservation, which holds its room: at the window's start at the latest.
      const Reservation& rv = m.reservations[a.reservation];
      if (rv.live && rv.spec.end > now) e.estimated_start = std::max(now, rv.spec.start);
      model = false;
    }
    if (model) {
      // Per node: the earliest start of one unit; a gang needs `count` nodes (one unit each) at once.
      std::vector<std::pair<TimeMs, uint32_t>> starts;
      for (uint32_t ni = 0; ni < m.nodes.size(); ni++) {
        if (!m.schedulable[ni] || !m.NodeStaticOk(a, ni, nullptr) || !m.GpuFits(ni, a.req.Get(kGpu), true)) continue;
        TimeMs t = EarliestFit(line(ni), a.req, now, m.opts.backfill ? now : floor, a.duration);
        if (t != kForever) starts.emplace_back(t, ni);
      }
      size_t units = static_cast<size_t>(std::max<int>(1, a.count));
      if (starts.size() >= units) {
        std::partial_sort(starts.begin(), starts.begin() + static_cast<std::ptrdiff_t>(units), starts.end());
        TimeMs start = starts[units - 1].first;
        e.estimated_start = start;
        for (size_t u = 0; u < units; u++) {
          Timeline& tl = line(starts[u].second);
          if (start <= now) {
            for (size_t k = 0; k < a.req.size(); k++) tl.free[a.req.slot(k)] -= a.req.amount(k);
          } else {
            tl.Add(start, Pairs(a.req, -1));
          }
          if (TimeMs end = EndOf(start, a.duration); end != kForever) tl.Add(end, Pairs(a.req, +1));
        }
        floor = std::max(floor, start);
      }
    }
    if (e.estimated_start < 0) ahead_unknown = true;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace allot
