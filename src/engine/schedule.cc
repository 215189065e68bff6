// The scheduling pass: ordering, filter + score placement, gangs, preemption, EASY backfill.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

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
  // Heaps hold stale entries lazily; skip those that no longer match their allocation.
  auto lease = m.lease_heap;
  while (!lease.empty()) {
    auto [t, ai] = lease.top();
    if (m.allocs[ai].state == AllocState::kPlaced && m.allocs[ai].expires == t) {
      consider(t);
      break;
    }
    lease.pop();
  }
  auto wait = m.wait_heap;
  while (!wait.empty()) {
    auto [t, ai] = wait.top();
    if (m.allocs[ai].state == AllocState::kQueued && m.allocs[ai].wait_deadline == t) {
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
    if (a.state != AllocState::kPlaced || a.expires != t) continue;
    AllocState to = a.ttl ? AllocState::kExpired : AllocState::kCompleted;
    Emit(a.ttl ? EventType::kExpired : EventType::kCompleted, t, a.id, NodeList(a), tenants[a.tenant].path,
         a.ttl ? "lease expired without renewal" : "duration elapsed");
    Unplace(ai, to, t, a.ttl ? "lease expired without renewal" : "");
  }
  for (size_t i = 0; i < reservations.size(); i++) {
    Reservation& r = reservations[i];
    if (!r.live || r.spec.end > now) continue;
    if (r.node != kNone) {
      auto& v = nodes[r.node].reservations;
      v.erase(std::remove(v.begin(), v.end(), static_cast<int32_t>(i)), v.end());
    }
    r.live = false;
    capacity_epoch++;
    reservation_index.erase(r.spec.id);
    Emit(EventType::kUnreserved, r.spec.end, r.spec.id, r.node == kNone ? "" : nodes[r.node].name, r.spec.tenant,
         "window ended");
  }
  if (bursting > 0) ReclaimOverMax(now, true);
  last_share_update = now;
}

void Engine::Impl::RejectExpiredWaits(TimeMs now) {
  while (!wait_heap.empty() && wait_heap.top().first <= now) {
    auto [t, ai] = wait_heap.top();
    wait_heap.pop();
    Alloc& a = allocs[ai];
    if (a.state != AllocState::kQueued || a.wait_deadline != t) continue;
    queue.Removed();
    tenants[a.tenant].queued--;
    std::string last = a.extra ? a.extra->reason : "";
    if (last.empty()) last = "it stayed behind earlier requests in the queue (FCFS)";
    std::string why = "waited " + std::to_string((t - a.submitted) / 1000) + "s without being placed" +
                      (last.empty() ? "" : ": " + last);
    a.state = AllocState::kRejected;
    a.ended = t;
    SetReason(a, why);
    Emit(EventType::kRejected, t, a.id, "", tenants[a.tenant].path, why);
  }
}

bool Engine::Impl::UsableBy(const Reservation& r, const Alloc& a) const {
  if (a.reservation >= 0 && &reservations[a.reservation] == &r) return true;
  return TenantIsAncestor(r.tenant, a.tenant);
}

int64_t Engine::Impl::ReservedAgainst(const Alloc& a, uint32_t ni, uint16_t slot, TimeMs now, TimeMs end) const {
  int64_t held = 0;
  for (int32_t ri : nodes[ni].reservations) {
    const Reservation& r = reservations[ri];
    if (!r.live || r.spec.start >= end || r.spec.end <= now || UsableBy(r, a)) continue;
    int64_t amount = r.amount.Get(slot);
    if (r.spec.start <= now) amount -= r.used[slot];
    if (amount > 0) held += amount;
  }
  return held;
}

bool Engine::Impl::NodeStaticOk(const Alloc& a, uint32_t ni, std::string* why) const {
  const NodeMeta& n = nodes[ni];
  if (a.extra) {
    for (const auto& [k, v] : a.extra->selector) {
      auto it = n.labels.find(k);
      if (it == n.labels.end() || it->second != v) {
        if (why) *why = "node didn't match the node selector (" + k + "=" + v + ")";
        return false;
      }
    }
  }
  if (a.extra && !a.extra->gpu_model.empty()) {
    auto it = n.labels.find("gpu_model");
    bool match = false;
    if (it != n.labels.end()) {
      std::string_view models = a.extra->gpu_model;
      while (!models.empty() && !match) {
        size_t bar = models.find('|');
        match = models.substr(0, bar) == it->second;
        models = bar == std::string_view::npos ? std::string_view() : models.substr(bar + 1);
      }
    }
    if (!match) {
      if (why) *why = "GPU model " + (it == n.labels.end() ? std::string("unknown") : it->second) + " not in " + a.extra->gpu_model;
      return false;
    }
  }
  if (n.hard_taint) {
    for (const auto& t : n.taints) {
      if (t.effect == "PreferNoSchedule") continue;
      bool tolerated = false;
      if (a.extra) {
        for (const auto& tol : a.extra->tolerations) {
          bool key_ok = tol.key == t.key || (tol.key.empty() && tol.op == "Exists");
          bool value_ok = tol.op == "Exists" || tol.value == t.value;
          bool effect_ok = tol.effect.empty() || tol.effect == t.effect;
          if (key_ok && value_ok && effect_ok) {
            tolerated = true;
            break;
          }
        }
      }
      if (!tolerated) {
        if (why) *why = "node had untolerated taint {" + t.key + (t.value.empty() ? "" : ": " + t.value) + "}";
        return false;
      }
    }
  }
  return true;
}

bool Engine::Impl::FitsNow(const Alloc& a, uint32_t ni, TimeMs now, TimeMs end, std::string* why) const {
  bool reserved_here = !nodes[ni].reservations.empty();
  if (int64_t g = a.req.Get(kGpu); g > 0 && !GpuFits(ni, g, false) && g <= cap[kGpu][ni] - used[kGpu][ni]) {
    if (why) *why = g < 1000 ? "no single GPU device has " + std::to_string(g) + "m free" : "not enough whole free GPU devices";
    return false;
  }
  for (size_t k = 0; k < a.req.size(); k++) {
    uint16_t s = a.req.slot(k);
    int64_t need = a.req.amount(k);
    if (need == 0) continue;
    int64_t free = cap[s][ni] - used[s][ni];
    if (need > free) {
      if (why) *why = "Insufficient " + registry.Name(s);
      return false;
    }
    if (reserved_here) {
      int64_t held = ReservedAgainst(a, ni, s, now, end);
      if (need > free - held) {
        if (why) *why = "Insufficient " + registry.Name(s) + " outside reservations";
        return false;
      }
    }
  }
  return true;
}

bool Engine::Impl::EverFits(const Alloc& a) const {
  for (uint32_t ni = 0; ni < nodes.size(); ni++) {
    if (nodes[ni].removed) continue;
    bool ok = true;
    for (size_t k = 0; k < a.req.size() && ok; k++) {
      uint16_t s = a.req.slot(k);
      int64_t unmanaged = 0;
      auto it = nodes[ni].unmanaged.find(registry.Name(s));
      if (it != nodes[ni].unmanaged.end()) unmanaged = it->second;
      ok = a.req.amount(k) <= cap[s][ni] - unmanaged;
    }
    if (ok && GpuFits(ni, a.req.Get(kGpu), true) && NodeStaticOk(a, ni, nullptr)) return true;
  }
  return false;
}

int64_t Engine::Impl::ScoreNode(const Alloc& a, uint32_t ni) const {
  if (fgd) return FgdScore(a, ni);  // gpu-fragmentation scores device state (gpu_fragmentation.cc)
  int64_t requested[16], allocatable[16], weights[16];
  int n = 0;
  bool nonzero = scorer->UsesNonZeroRequests();
  for (const auto& [s, w] : score_resources) {
    if (n >= 16) break;
    int64_t pod = a.req.Get(s);
    int64_t node_req = used[s][ni];
    if (nonzero && s == kCpu) {
      pod = a.req.Has(kCpu) ? pod : engine::kDefaultMilliCpuRequest;
      node_req = nz_cpu[ni];
    } else if (nonzero && s == kMemory) {
      pod = a.req.Has(kMemory) ? pod : engine::kDefaultMemoryRequest;
      node_req = nz_mem[ni];
    }
    bool scalar = s != kCpu && s != kMemory && s != kDisk;
    allocatable[n] = (scalar && pod == 0) ? 0 : cap[s][ni];
    requested[n] = (scalar && pod == 0) ? 0 : node_req + pod;
    weights[n] = w;
    n++;
  }
  return scorer->Score(requested, allocatable, weights, n);
}

namespace {

// Upper bounds K >= exact score for the kBlock nodes of one block; -1 for infeasible or non-simple nodes.
// K is the weighted mean of the unfloored per-resource scores, so the exact (floored) score S satisfies
// K - 2 < S <= K. Compiled for AVX2 where the CPU has it, with a portable fallback.
struct KernelInput {
  const int64_t* free[16];
  int64_t need[16];
  uint16_t slot_of[16];
  int n_req;
  const double* used[16];
  const double* inv[16];
  double pod[16], weight[16];
  int n_dims;
  double inv_wsum;
  bool packing;
  const double* bias;
};

using V4d = double __attribute__((vector_size(32)));
using V4l = int64_t __attribute__((vector_size(32)));

// Four nodes at a time, every dimension and requested resource applied while the sums stay in registers.
__attribute__((target_clones("avx2", "default"))) double BlockKeys(const KernelInput& in, uint32_t lo, double* out) {
  constexpr uint32_t B = 32;
  const V4d no = {-1e300, -1e300, -1e300, -1e300};
  const V4d hundred = {100.0, 100.0, 100.0, 100.0};
  const V4d zero = {0.0, 0.0, 0.0, 0.0};
  const V4d minus_one = {-1.0, -1.0, -1.0, -1.0};
  V4d best = minus_one;
  for (uint32_t j = lo; j < lo + B; j += 4) {
    V4d acc, u, iv;
    V4l f;
    std::memcpy(&acc, in.bias + j, sizeof acc);  // 0 for simple nodes, -1e300 otherwise
    for (int k = 0; k < in.n_dims; k++) {
      std::memcpy(&u, in.used[k] + j, sizeof u);
      std::memcpy(&iv, in.inv[k] + j, sizeof iv);
      V4d x = (u + in.pod[k]) * iv;
      if (in.packing) {
        acc += in.weight[k] * (x < hundred ? x : hundred);
      } else {
        x = hundred - x;
        acc += in.weight[k] * (x > zero ? x : zero);
      }
    }
    for (int r = 0; r < in.n_req; r++) {
      std::memcpy(&f, in.free[r] + j, sizeof f);
      acc = f >= in.need[r] ? acc : no;
    }
    V4d v = acc * in.inv_wsum;
    v = v < zero ? minus_one : v;
    std::memcpy(out + (j - lo), &v, sizeof v);
    best = v > best ? v : best;
  }
  double b = best[0];
  for (int i = 1; i < 4; i++) b = best[i] > b ? best[i] : b;
  return b;
}

}  // namespace

void Engine::Impl::InitDevices(uint32_t ni) {
  NodeMeta& n = nodes[ni];
  int64_t c = cap[kGpu][ni];
  n.gpu_cap.assign(static_cast<size_t>(c / 1000), 1000);
  if (c % 1000) n.gpu_cap.push_back(static_cast<int16_t>(c % 1000));
  n.gpu_free = n.gpu_cap;
  // Unmanaged GPU use takes whole devices from the end.
  int64_t u = 0;
  auto it = n.unmanaged.find("gpu");
  if (it != n.unmanaged.end()) u = it->second;
  for (size_t d = n.gpu_free.size(); d-- > 0 && u > 0;) {
    int64_t take = std::min<int64_t>(u, n.gpu_free[d]);
    n.gpu_free[d] = static_cast<int16_t>(n.gpu_free[d] - take);
    u -= take;
  }
}

bool Engine::Impl::GpuFits(uint32_t ni, int64_t g, bool ever) const {
  if (g <= 0) return true;
  const auto& v = ever ? nodes[ni].gpu_cap : nodes[ni].gpu_free;
  if (g < 1000) {
    for (int16_t f : v)
      if (f >= g) return true;
    return false;
  }
  int64_t whole = 0;
  for (int16_t f : v) whole += f == 1000;
  return whole * 1000 >= g;
}

void Engine::Impl::GpuTake(uint32_t ai, uint32_t ni) {
  Alloc& a = allocs[ai];
  int64_t g = a.req.Get(kGpu);
  if (g <= 0) return;
  auto& f = nodes[ni].gpu_free;
  auto& held = a.X().gpu_devices;
  if (g < 1000) {
    // Best fit: the device with the least free capacity that still holds the share; under
    // gpu-fragmentation the device that leaves the node least fragmented.
    int best = -1;
    if (fgd) FgdDelta(a, ni, &best);
    for (size_t d = 0; d < f.size() && !fgd; d++)
      if (f[d] >= g && (best < 0 || f[d] < f[best])) best = static_cast<int>(d);
    if (best < 0) return;  // only when restoring onto a changed node
    f[best] = static_cast<int16_t>(f[best] - g);
    held.emplace_back(ni, static_cast<uint8_t>(best));
    return;
  }
  int64_t need = g / 1000;
  for (size_t d = 0; d < f.size() && need > 0; d++) {
    if (f[d] == 1000) {
      f[d] = 0;
      held.emplace_back(ni, static_cast<uint8_t>(d));
      need--;
    }
  }
}

void Engine::Impl::GpuRelease(Alloc& a) {
  if (!a.extra || a.extra->gpu_devices.empty() || a.extra->gpu_released) return;
  int64_t g = a.req.Get(kGpu);
  int16_t each = static_cast<int16_t>(g < 1000 ? g : 1000);
  for (const auto& [ni, d] : a.extra->gpu_devices) {
    auto& f = nodes[ni].gpu_free;
    if (d < f.size()) f[d] = static_cast<int16_t>(std::min<int>(f[d] + each, nodes[ni].gpu_cap[d]));
  }
  a.extra->gpu_released = true;
}

void Engine::Impl::PlaceUnit(uint32_t ai, uint32_t ni) {
  Alloc& a = allocs[ai];
  GpuTake(ai, ni);
  AddUsage(a, ni, +1);
  nodes[ni].allocs.push_back(ai);
  if (a.node == kNone) a.node = ni;
  else a.X().nodes.push_back(ni);
}

void Engine::Impl::Finalize(uint32_t ai, TimeMs now) {
  Alloc& a = allocs[ai];
  queue.Removed();
  tenants[a.tenant].queued--;
  tenants[a.tenant].running++;
  running++;
  a.state = AllocState::kPlaced;
  a.started = now;
  if (a.duration >= 0) {
    a.expires = now + a.duration;
    lease_heap.push({a.expires, ai});
  }
  SetReason(a, "");
  NoteBurst(a, now);
  Emit(EventType::kPlaced, now, a.id, NodeList(a), tenants[a.tenant].path);
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

TryResult Engine::Impl::TryPlace(uint32_t ai, TimeMs now, const Shadow* shadow, const std::vector<uint8_t>* held,
                                 std::string* why, Explanation* ex, const double* held_bias) {
  Alloc& a = allocs[ai];
  const Reservation* named = nullptr;
  if (a.reservation >= 0 && a.extra && !a.extra->reservation.empty()) {
    named = &reservations[a.reservation];
    if (!named->live) {
      *why = "reservation " + a.extra->reservation + " has ended";
      return TryResult::kNeverFits;
    }
    if (named->spec.start > now) {
      *why = "reservation " + named->spec.id + " starts at " + std::to_string(named->spec.start / 1000) + "s";
      return TryResult::kWaitReservation;
    }
  }
  std::string qwhy;
  TryResult q = CheckQuota(a, &qwhy);
  if (q != TryResult::kPlaced) {
    *why = qwhy;
    if (ex) ex->detail = "quota: " + qwhy;
    if (q == TryResult::kQuotaReject && opts.quota_mode == QuotaMode::kStrict) return TryResult::kQuotaReject;
    return TryResult::kQuotaWait;
  }
  TimeMs end = a.duration >= 0 ? now + a.duration : kForever;
  uint32_t n_nodes = static_cast<uint32_t>(nodes.size());
  std::vector<uint32_t>& placed = placed_scratch;
  placed.clear();
  std::string last_filter;
  bool checks_static = a.HasSelectorOrTolerations();
  // Per-request scoring inputs for the block bounds.
  bool nonzero = scorer->UsesNonZeroRequests();
  bool packing = std::string_view(scorer->name()) == "most-allocated";
  bool spreading = std::string_view(scorer->name()) == "least-allocated";
  std::vector<std::pair<double, uint32_t>>& cand = cand_scratch;
  for (int unit = 0; unit < a.count; unit++) {
    uint32_t best = kNone;
    int64_t best_score = -1;
    bool record = ex != nullptr && unit == 0;
    auto consider = [&](uint32_t ni) {
      if (!schedulable[ni]) {
        if (record && !nodes[ni].removed) ex->filtered.emplace_back(nodes[ni].name, nodes[ni].up ? "node is draining" : "node is down");
        return;
      }
      bool own_reservation = !nodes[ni].reservations.empty() && CoveredByReservation(a, ni, now);
      if (held != nullptr && (*held)[ni] && !own_reservation) {
        if (record) ex->filtered.emplace_back(nodes[ni].name, "held for an earlier request in the queue (FCFS)");
        return;
      }
      if (named != nullptr && ni != named->node) {
        if (record) ex->filtered.emplace_back(nodes[ni].name, "not the node of reservation " + named->spec.id);
        return;
      }
      if (a.spread && std::find(placed.begin(), placed.end(), ni) != placed.end()) {
        if (record) ex->filtered.emplace_back(nodes[ni].name, "holds another unit of this gang (spread)");
        return;
      }
      std::string fwhy;
      if ((checks_static || nodes[ni].hard_taint) && !NodeStaticOk(a, ni, record ? &fwhy : nullptr)) {
        if (record) ex->filtered.emplace_back(nodes[ni].name, fwhy);
        return;
      }
      if (!FitsNow(a, ni, now, end, (record || last_filter.empty()) ? &fwhy : nullptr)) {
        if (record) ex->filtered.emplace_back(nodes[ni].name, fwhy);
        if (last_filter.empty()) last_filter = fwhy;
        return;
      }
      const std::vector<int64_t>* spare =
          shadow != nullptr && shadow->valid && end > shadow->time && !own_reservation ? shadow->SpareFor(ni) : nullptr;
      if (spare != nullptr) {
        bool leaves_room = true;
        for (size_t k = 0; k < a.req.size(); k++)
          if (a.req.amount(k) > (*spare)[a.req.slot(k)]) leaves_room = false;
        if (!leaves_room) {
          if (record) {
            ex->filtered.emplace_back(nodes[ni].name, "held for the queue head until " +
                                                          std::to_string(shadow->time / 1000) + "s (backfill)");
          }
          return;
        }
      }
      int64_t score = ScoreNode(a, ni);
      if (record) ex->scores.emplace_back(nodes[ni].name, score);
      if (score > best_score || (score == best_score && ni < best)) {
        best_score = score;
        best = ni;
      }
    };
    bool fast_done = false;
    if (ex == nullptr && (packing || spreading) && a.req.size() <= 16 && score_resources.size() <= 16) {
      // Fast path: bounds for every feasible simple node, then exact scores only near the top.
      KernelInput in{};
      in.n_req = 0;
      for (size_t k = 0; k < a.req.size(); k++) {
        if (a.req.amount(k) == 0) continue;
        in.free[in.n_req] = free_col[a.req.slot(k)].data();
        in.need[in.n_req] = a.req.amount(k);
        in.slot_of[in.n_req] = a.req.slot(k);
        in.n_req++;
      }
      double wsum = 0;
      in.n_dims = 0;
      for (size_t k = 0; k < score_resources.size(); k++) {
        auto [sl, w] = score_resources[k];
        int64_t pod = a.req.Get(sl);
        if (nonzero && sl == kCpu && !a.req.Has(kCpu)) pod = engine::kDefaultMilliCpuRequest;
        if (nonzero && sl == kMemory && !a.req.Has(kMemory)) pod = engine::kDefaultMemoryRequest;
        bool scalar = sl != kCpu && sl != kMemory && sl != kDisk;
        if (scalar && pod == 0) continue;
        in.used[in.n_dims] = score_used[k].data();
        in.inv[in.n_dims] = score_inv[k].data();
        in.pod[in.n_dims] = static_cast<double>(pod);
        in.weight[in.n_dims] = static_cast<double>(w);
        wsum += static_cast<double>(w);
        in.n_dims++;
      }
      in.inv_wsum = wsum > 0 ? 1.0 / wsum : 0;
      in.packing = packing;
      in.bias = held != nullptr && held_bias != nullptr ? held_bias : simple_bias.data();
      size_t nblocks = (n_nodes + kBlock - 1) / kBlock;
      keys.resize(nblocks * kBlock);
      double kmax = -1;
      cand.clear();
      for (uint32_t b = 0; b < nblocks; b++) {
        bool feasible = true;
        for (int r = 0; r < in.n_req && feasible; r++) feasible = block_max_free[in.slot_of[r]][b] >= in.need[r];
        if (!feasible) continue;
        double bmax = BlockKeys(in, b * kBlock, keys.data() + b * kBlock);
        kmax = std::max(kmax, bmax);
        cand.emplace_back(bmax, b);
      }
      // With kmax < 0 no simple node fits: only the blocks' complex nodes are scored (exactly).
      double threshold = kmax >= 0 ? kmax - 2.0 - 1e-6 : 1e300;
      for (const auto& [bmax, b] : cand) {
        bool complex_here = block_complex[b] > 0;
        if (bmax < threshold && !complex_here) continue;
        uint32_t hi = std::min<uint32_t>(n_nodes, (b + 1) * kBlock);
        for (uint32_t ni = b * kBlock; ni < hi; ni++) {
          if (complex_here && schedulable[ni] && !simple[ni]) {
            consider(ni);
          } else if (keys[ni] >= threshold) {
            // Nodes come in index order and ties go to the lower index, so a simple node whose bound
            // (S <= floor(K)) cannot exceed the best exact score so far cannot win: skip the exact score.
            // This keeps a mostly empty cluster (thousands of nodes tied at the top) cheap.
            if (best != kNone && std::floor(keys[ni] + 1e-6) <= static_cast<double>(best_score)) continue;
            consider(ni);
          }
        }
      }
      // Authoritative when the best exact score reaches the threshold: every node left out has
      // S <= K < threshold <= best. Otherwise (constraints excluded the top nodes) scan fully below.
      fast_done = kmax < 0 || (best != kNone && static_cast<double>(best_score) >= threshold);
    }
    if (fast_done) {
    } else if (ex != nullptr) {
      for (uint32_t ni = 0; ni < n_nodes; ni++) consider(ni);
    } else {
      // Every node of every block that could hold a feasible node (the fast path's answer was not
      // authoritative, or the strategy has no cheap bound).
      best = kNone;
      best_score = -1;
      size_t nblocks = (n_nodes + kBlock - 1) / kBlock;
      for (uint32_t b = 0; b < nblocks; b++) {
        bool feasible = true;
        for (size_t k = 0; k < a.req.size() && feasible; k++) {
          int64_t need = a.req.amount(k);
          feasible = need == 0 || block_max_free[a.req.slot(k)][b] >= need;
        }
        if (!feasible) continue;
        uint32_t hi = std::min<uint32_t>(n_nodes, (b + 1) * kBlock);
        for (uint32_t ni = b * kBlock; ni < hi; ni++) consider(ni);
      }
    }
    if (best == kNone) {
      // Roll back the units placed so far.
      GpuRelease(a);
      if (a.extra) {
        a.extra->gpu_devices.clear();
        a.extra->gpu_released = false;
      }
      for (uint32_t ni : placed) {
        AddUsage(a, ni, -1);
        auto& v = nodes[ni].allocs;
        v.erase(std::find(v.begin(), v.end(), ai));
      }
      a.node = kNone;
      if (a.extra) a.extra->nodes.clear();
      if (!EverFits(a)) {
        *why = "no node can ever fit it" + (last_filter.empty() ? std::string() : " (" + last_filter + ")");
        return TryResult::kNeverFits;
      }
      if (last_filter.empty()) {
        // The pruned scan skipped whole blocks: name a resource that no node has enough of, if any.
        for (size_t k = 0; k < a.req.size() && last_filter.empty(); k++) {
          uint16_t sl = a.req.slot(k);
          int64_t most = -1;
          for (int64_t v : block_max_free[sl]) most = std::max(most, v);
          if (a.req.amount(k) > most) last_filter = "Insufficient " + registry.Name(sl);
        }
        if (last_filter.empty()) last_filter = "no node has all of it free at once";
      }
      *why = a.count > 1 ? "gang of " + std::to_string(a.count) + ": only " + std::to_string(placed.size()) +
                               " units fit now"
                         : "waiting for capacity" + (last_filter.empty() ? std::string() : ": " + last_filter);
      return TryResult::kNoCapacity;
    }
    // Draw from a reservation of this tenant that is active on the chosen node.
    if (a.reservation < 0) {
      for (int32_t ri : nodes[best].reservations) {
        const Reservation& r = reservations[ri];
        if (r.live && r.spec.start <= now && TenantIsAncestor(r.tenant, a.tenant)) {
          a.reservation = ri;
          break;
        }
      }
    }
    PlaceUnit(ai, best);
    placed.push_back(best);
  }
  if (ex) ex->chosen = NodeList(a);
  Finalize(ai, now);
  return TryResult::kPlaced;
}

bool Engine::Impl::CoveredByReservation(const Alloc& a, uint32_t ni, TimeMs now) const {
  for (int32_t ri : nodes[ni].reservations) {
    const Reservation& r = reservations[ri];
    if (!r.live || r.spec.start > now || r.spec.end <= now || !UsableBy(r, a)) continue;
    bool fits = true;
    for (size_t k = 0; k < a.req.size() && fits; k++) {
      uint16_t s = a.req.slot(k);
      fits = a.req.amount(k) <= r.amount.Get(s) - r.used[s];
    }
    if (fits) return true;
  }
  return false;
}

void Engine::Impl::NoteBurst(const Alloc& a, TimeMs now) {
  for (uint32_t x = a.tenant; x != kNone; x = tenants[x].parent) {
    Tenant& tx = tenants[x];
    if (!tx.has_quota || tx.burst_since >= 0) continue;
    for (size_t k = 0; k < a.req.size(); k++) {
      uint16_t s = a.req.slot(k);
      if (tx.max[s] >= 0 && tx.used[s] > tx.max[s]) {
        tx.burst_since = now;
        bursting++;
        break;
      }
    }
  }
}

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
      if (b.state != AllocState::kPlaced || b.expires < 0) continue;
      std::vector<std::pair<uint16_t, int64_t>> back;
      for (size_t k = 0; k < b.req.size(); k++) back.emplace_back(b.req.slot(k), b.req.amount(k));
      ending.emplace_back(b.expires, std::move(back));
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
    std::string why = "preempted by " + a.id + " (priority " + PriorityName(a.priority) + ") on " + nodes[best.node].name;
    Emit(EventType::kPreempted, now, b.id, NodeList(b), tenants[b.tenant].path, why, a.id);
    b.X().preempted_by = a.id;
    Unplace(bj, AllocState::kPreempted, now, why);
    names += (names.empty() ? "" : ",") + b.id;
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

void Engine::Impl::Pass(TimeMs now) {
  if (queue.empty()) return;
  if (queue.Entries() > 2 * queue.size() + 8) {
    queue.Compact([&](const RunQueue::Entry& e) { return IsQueuedEntry(e); });
  }
  bool drf = opts.fair_share == "drf";
  Shadow shadow;
  bool head_set = false;
  // Strict FCFS without backfill: nodes an earlier blocked request could use are held for it.
  std::vector<uint8_t> held;
  std::vector<double> held_bias;  // simple_bias with held nodes excluded (the kernel then skips them)
  std::vector<uint32_t> unheld;   // schedulable nodes not held yet
  std::vector<int64_t> unheld_max;  // per slot: the most free on one unheld node (as of the last hold)
  size_t held_count = 0;
  bool any_reservation = false;  // a held node may still serve a request through its own reservation
  for (const auto& r : reservations) any_reservation |= r.live;
  // FIFO order: priority levels high to low, each in submission order.
  std::vector<const std::vector<RunQueue::Entry>*>& levels = levels_scratch;  // Pass is not re-entrant
  levels.clear();
  for (const auto& [prio, v] : queue.levels()) levels.push_back(&v);
  size_t level = 0;
  // DRF: per-tenant cursors into the FIFO order.
  std::vector<std::vector<uint32_t>> per_tenant;
  std::vector<uint32_t> tenant_of_list;
  std::vector<size_t> cursor;
  if (drf) {
    std::unordered_map<uint32_t, size_t> idx;
    for (const auto* v : levels)
      for (const auto& e : *v) {
      if (!IsQueuedEntry(e)) continue;
      uint32_t ai = e.first;
      auto [it, fresh] = idx.emplace(allocs[ai].tenant, per_tenant.size());
      if (fresh) {
        per_tenant.emplace_back();
        tenant_of_list.push_back(allocs[ai].tenant);
      }
      per_tenant[it->second].push_back(ai);
      }
    cursor.assign(per_tenant.size(), 0);
  }
  // Hierarchical DRF comparison: the first differing ancestors (siblings) compare by dominant share.
  auto path_of = [&](uint32_t t) {
    std::vector<uint32_t> p;
    for (; t != kNone; t = tenants[t].parent) p.push_back(t);
    std::reverse(p.begin(), p.end());
    return p;
  };
  auto drf_less = [&](uint32_t ax, uint32_t ay) {
    const Alloc& x = allocs[ax];
    const Alloc& y = allocs[ay];
    if (x.priority != y.priority) return x.priority > y.priority;
    if (x.tenant != y.tenant) {
      auto px = path_of(x.tenant), py = path_of(y.tenant);
      size_t i = 0;
      while (i < px.size() && i < py.size() && px[i] == py[i]) i++;
      uint32_t sx = i < px.size() ? px[i] : x.tenant;
      uint32_t sy = i < py.size() ? py[i] : y.tenant;
      double dx = DominantShare(sx), dy = DominantShare(sy);
      if (dx != dy) return dx < dy;
    }
    return x.seq < y.seq;
  };
  size_t fifo_pos = 0;
  int position = 0;
  while (true) {
    uint32_t ai = kNone;
    if (drf) {
      size_t best_list = SIZE_MAX;
      for (size_t l = 0; l < per_tenant.size(); l++) {
        if (cursor[l] >= per_tenant[l].size()) continue;
        if (best_list == SIZE_MAX || drf_less(per_tenant[l][cursor[l]], per_tenant[best_list][cursor[best_list]])) {
          best_list = l;
        }
      }
      if (best_list == SIZE_MAX) break;
      ai = per_tenant[best_list][cursor[best_list]++];
    } else {
      while (level < levels.size() && fifo_pos >= levels[level]->size()) {
        level++;
        fifo_pos = 0;
      }
      if (level >= levels.size()) break;
      const RunQueue::Entry& e = (*levels[level])[fifo_pos++];
      if (!IsQueuedEntry(e)) continue;
      ai = e.first;
    }
    Alloc& a = allocs[ai];
    if (a.state != AllocState::kQueued) continue;
    position++;
    Explanation ex;
    Explanation* exp = explain ? &ex : nullptr;
    if (exp) {
      ex.id = a.id;
      ex.at = now;
      ex.detail = "queue position " + std::to_string(position) + " (priority " + PriorityName(a.priority) +
                  (drf ? ", dominant share " + std::to_string(DominantShare(a.tenant)).substr(0, 6) : std::string()) + ")";
    }
    std::string why;
    TryResult res;
    bool plain = !head_set && held_count == 0;  // no backfill shadow, no FCFS holds: a pure capacity check
    if (plain && exp == nullptr && !opts.preemption && a.blocked_epoch == static_cast<uint32_t>(capacity_epoch)) {
      res = TryResult::kNoCapacity;  // nothing freed since it last failed: it still cannot fit
      why = a.extra ? a.extra->reason : "";
    } else if (held_count > 0 && exp == nullptr && a.reservation < 0 && !any_reservation && !opts.preemption &&
               !FitsUnheldMax(a, unheld_max)) {
      // Strict FCFS: no node left unheld has enough of some resource free, so it cannot start now. (Not
      // with preemption, which may free capacity during the pass that the estimate does not know of.)
      res = TryResult::kNoCapacity;
      why = "waiting for capacity";
    } else {
      res = TryPlace(ai, now, head_set ? &shadow : nullptr, held_count ? &held : nullptr, &why, exp,
                     held_count ? held_bias.data() : nullptr);
      if (res == TryResult::kNoCapacity && plain) a.blocked_epoch = static_cast<uint32_t>(capacity_epoch);
    }
    bool stop = false;
    switch (res) {
      case TryResult::kPlaced:
        if (exp) ex.outcome = head_set ? "backfilled" : "placed";
        break;
      case TryResult::kQuotaReject: {
        queue.Removed();
        tenants[a.tenant].queued--;
        a.state = AllocState::kRejected;
        a.ended = now;
        SetReason(a, why);
        Emit(EventType::kRejected, now, a.id, "", tenants[a.tenant].path, why);
        if (exp) ex.outcome = "rejected";
        break;
      }
      case TryResult::kQuotaWait:
      case TryResult::kNeverFits:
      case TryResult::kWaitReservation:
        SetReason(a, why);
        if (exp) ex.outcome = "queued";
        break;
      case TryResult::kNoCapacity:
        if (head_set) {
          SetReason(a, why + " (backfill: would delay the queue head)");
          if (exp) ex.outcome = "queued";
          break;
        }
        if (opts.preemption && TryPreempt(ai, now, exp)) break;
        SetReason(a, held_count > 0 ? why + " (some nodes are held for earlier requests)" : why);
        if (exp) ex.outcome = "queued";
        if (opts.backfill) {
          head_set = true;
          ComputeShadow(ai, now, &shadow);
          if (exp) {
            ex.detail += shadow.valid ? "; queue head: expected start " + std::to_string(shadow.time / 1000) + "s on " +
                                            nodes[shadow.nodes.front()].name + ", later requests may backfill"
                                      : "; queue head: no expected start (capacity held without end), no backfill";
          }
          if (!shadow.valid) stop = true;
        } else {
          // Strict FCFS: the nodes this request could use are held for it; later requests may still
          // start on nodes it could never use. A request that could use every schedulable node ends the
          // pass at once (its count is cached until the node set changes).
          if (held_count == 0) {
            AllocExtra& x = a.X();
            if (x.eligible_epoch != topology_epoch) {
              std::vector<uint8_t> probe(nodes.size(), 0);
              x.eligible_count = MarkEligible(a, &probe);
              x.eligible_epoch = topology_epoch;
            }
            if (x.eligible_count >= SchedulableCount()) {
              if (exp) ex.detail += "; FCFS: it could use every node, the queue waits behind it";
              stop = true;
              break;
            }
          }
          if (held.empty()) {
            held.assign(nodes.size(), 0);
            held_bias = simple_bias;
            for (uint32_t ni = 0; ni < nodes.size(); ni++)
              if (schedulable[ni]) unheld.push_back(ni);
          }
          // Hold the nodes it could use; only the nodes still unheld need a look.
          size_t keep = 0;
          bool checks_static = a.HasSelectorOrTolerations();
          for (uint32_t ni : unheld) {
            bool ok = true;
            for (size_t k = 0; k < a.req.size() && ok; k++) ok = a.req.amount(k) <= cap[a.req.slot(k)][ni];
            if (ok && (!(checks_static || nodes[ni].hard_taint) || NodeStaticOk(a, ni, nullptr))) {
              held[ni] = 1;
              held_bias[ni] = -1e300;
              held_count++;
            } else {
              unheld[keep++] = ni;
            }
          }
          unheld.resize(keep);
          unheld_max.assign(cap.size(), -1);
          for (uint32_t ni : unheld)
            for (size_t sl = 0; sl < cap.size(); sl++) unheld_max[sl] = std::max(unheld_max[sl], free_col[sl][ni]);
          if (exp) ex.detail += "; FCFS: nodes it could use are held for it";
          if (held_count >= nodes.size() || unheld.empty()) stop = true;
        }
        break;
    }
    if (exp) explanations.push_back(std::move(ex));
    if (stop) break;
  }
}

}  // namespace allot
