// Engine: EASY backfill's protection of the queue head (Shadow, state.h).
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {

bool Engine::Impl::ComputeShadow(uint32_t ai, TimeMs now, Shadow* out) const {
  const Alloc& a = allocs[ai];
  out->valid = false;
  out->time = kForever;
  out->nodes.clear();
  out->spare.clear();
  size_t r = registry.size();
  std::vector<int64_t> free(r);
  // Per node: the earliest time one unit of the head fits, given the leases and reservation windows that
  // end there, and what that node has left at that time after the unit.
  struct NodeStart {
    TimeMs t;
    uint32_t ni;
    std::vector<int64_t> spare;
  };
  std::vector<NodeStart> starts;
  for (uint32_t ni = 0; ni < nodes.size(); ni++) {
    if (!schedulable[ni] || !NodeStaticOk(a, ni, nullptr) || !GpuFits(ni, a.req.Get(kGpu), true)) continue;
    for (size_t s = 0; s < r; s++) free[s] = cap[s][ni] - used[s][ni];
    std::vector<std::pair<TimeMs, std::vector<std::pair<uint16_t, int64_t>>>> ending;
    for (int32_t ri : nodes[ni].reservations) {
      const Reservation& rv = reservations[ri];
      if (!rv.live || UsableBy(rv, a) || rv.spec.end <= now) continue;
      std::vector<std::pair<uint16_t, int64_t>> held;
      for (size_t k = 0; k < rv.amount.size(); k++) {
        uint16_t s = rv.amount.slot(k);
        int64_t amt = rv.amount.amount(k) - (rv.spec.start <= now ? rv.used[s] : 0);
        if (amt > 0) {
          free[s] -= amt;
          held.emplace_back(s, amt);
        }
      }
      ending.emplace_back(rv.spec.end, std::move(held));
    }
    for (uint32_t bj : nodes[ni].allocs) {
      const Alloc& b = allocs[bj];
      if (b.state != AllocState::kPlaced || b.expires() < 0) continue;
      std::vector<std::pair<uint16_t, int64_t>> back;
      for (size_t k = 0; k < b.req.size(); k++) back.emplace_back(b.req.slot(k), b.req.amount(k));
      ending.emplace_back(b.expires(), std::move(back));
    }
    std::sort(ending.begin(), ending.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    auto fits = [&]() {
      for (size_t k = 0; k < a.req.size(); k++)
        if (a.req.amount(k) > free[a.req.slot(k)]) return false;
      return true;
    };
    TimeMs t = now;
    if (!fits()) {
      t = kForever;
      for (const auto& [when, back] : ending) {
        for (const auto& [s, v] : back) free[s] += v;
        if (fits()) {
          t = when;
          break;
        }
      }
    }
    if (t == kForever) continue;
    NodeStart st{t, ni, std::vector<int64_t>(r)};
    for (size_t s = 0; s < r; s++) st.spare[s] = free[s] - a.req.Get(static_cast<uint16_t>(s));
    starts.push_back(std::move(st));
  }
  // A gang needs `count` units at once: on distinct nodes (an estimate also for gangs that may share).
  size_t need = a.count;
  if (starts.size() < need) return false;
  std::stable_sort(starts.begin(), starts.end(), [](const NodeStart& x, const NodeStart& y) { return x.t < y.t; });
  out->time = starts[need - 1].t;
  for (size_t i = 0; i < need; i++) {
    out->nodes.push_back(starts[i].ni);
    out->spare.push_back(std::move(starts[i].spare));
  }
  out->valid = true;
  return true;
}

}  // namespace allot
