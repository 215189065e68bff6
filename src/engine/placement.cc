// Placement of one request: admission (reservation, quota), then for each unit a filter + score search
// over the nodes. The search goes through the placement index (placement_index.h): a depth-first walk in
// node order over the subtrees whose score bound for the request's shape could beat the best node found
// so far, down to blocks where the bound kernel (block_keys.h) picks the nodes to score exactly. So a
// search visits O(log N) tree nodes plus the blocks near the top, and its answer is a full scan's: the
// highest exact score, ties to the node added first. Scorers without a bound or column-only scores
// (gpu-fragmentation) scan every node of the subtrees where the request fits the free amounts.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/engine_impl.h"

namespace allot {

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

// One request's search for a node per unit. `best` and `best_score` are per unit; `last_filter` (the
// first filter reason met) spans the units, for the waiting reason.
struct Engine::Impl::UnitSearch {
  Alloc& a;
  TimeMs now, end;  // end: when the lease would end, kForever for none
  const Shadow* shadow;
  const std::vector<uint8_t>* held;
  const Reservation* named;  // the reservation the request names, if any
  bool checks_static;        // selector, tolerations or GPU model to match
  const std::vector<uint32_t>& placed;
  Explanation* record;  // set while recording (the first unit under --explain)
  std::string last_filter;
  uint32_t best;
  int64_t best_score;
};

TryResult Engine::Impl::TryPlace(uint32_t ai, TimeMs now, const Shadow* shadow, const std::vector<uint8_t>* held,
                                 Reason* why, Explanation* ex, const double* held_bias) {
  Alloc& a = allocs[ai];
  const Reservation* named = nullptr;
  if (TryResult r = Admit(a, now, &named, why, ex); r != TryResult::kPlaced) return r;
  std::vector<uint32_t>& placed = placed_scratch;
  placed.clear();
  UnitSearch s{.a = a,
               .now = now,
               .end = a.duration >= 0 ? now + a.duration : kForever,
               .shadow = shadow,
               .held = held,
               .named = named,
               .checks_static = a.HasSelectorOrTolerations(),
               .placed = placed,
               .record = nullptr,
               .last_filter = {},
               .best = kNone,
               .best_score = -1};
  // The bound kernel takes at most 16 requested and 16 scored resources. Up to kFlatBlocks blocks a flat
  // scan of every block costs less than the index's bookkeeping.
  constexpr size_t kFlatBlocks = 8;
  bool kernel = bound != engine::ScoreBound::kNone && a.req.size() <= 16 && score_resources.size() <= 16;
  bool indexed = kernel || (scorer->ColumnsOnly() && a.req.size() <= 16);
  for (int unit = 0; unit < a.count; unit++) {
    s.best = kNone;
    s.best_score = -1;
    s.record = unit == 0 ? ex : nullptr;
    if (ex != nullptr) {
      for (uint32_t ni = 0; ni < nodes.size(); ni++) Consider(s, ni);  // every node, for the explanation
    } else if (named != nullptr) {
      if (named->node != kNone) Consider(s, named->node);  // no other node may take it
    } else if (kernel && (held != nullptr || tree.blocks() <= kFlatBlocks)) {
      ScanBounded(s, held != nullptr && held_bias != nullptr ? held_bias : bias.data());
    } else if (held == nullptr && indexed) {
      SearchIndex(s);
    } else {
      ScanFeasibleBlocks(s, tree.levels() - 1, 0);
    }
    if (s.best == kNone) return Unwind(ai, placed, std::move(s.last_filter), why);
    DrawReservation(a, s.best, now);
    PlaceUnit(ai, s.best);
    placed.push_back(s.best);
  }
  if (ex) ex->chosen = NodeList(a);
  Finalize(ai, now);
  return TryResult::kPlaced;
}

TryResult Engine::Impl::Admit(const Alloc& a, TimeMs now, const Reservation** named, Reason* why, Explanation* ex) {
  if (a.reservation >= 0 && a.extra && !a.extra->reservation.empty()) {
    const Reservation& r = reservations[a.reservation];
    if (!r.live) {
      why->Set(ReasonCode::kReservationEnded, "reservation " + a.extra->reservation + " has ended");
      return TryResult::kNeverFits;
    }
    if (r.spec.start > now) {
      why->Set(ReasonCode::kReservationPending,
               "reservation " + r.spec.id + " starts at " + std::to_string(r.spec.start / 1000) + "s");
      return TryResult::kWaitReservation;
    }
    *named = &r;
  }
  std::string qwhy;
  TryResult q = CheckQuota(a, &qwhy);
  if (q == TryResult::kPlaced) return q;
  if (ex) ex->detail = "quota: " + qwhy;
  why->Set(q == TryResult::kQuotaReject ? ReasonCode::kQuota : ReasonCode::kQuotaBorrowing, std::move(qwhy));
  if (q == TryResult::kQuotaReject && opts.quota_mode == QuotaMode::kStrict) return TryResult::kQuotaReject;
  return TryResult::kQuotaWait;
}

void Engine::Impl::Consider(UnitSearch& s, uint32_t ni) {
  const Alloc& a = s.a;
  Explanation* ex = s.record;
  if (!schedulable[ni]) {
    if (ex && !nodes[ni].removed) ex->filtered.emplace_back(nodes[ni].name, nodes[ni].up ? "node is draining" : "node is down");
    return;
  }
  bool own_reservation = !nodes[ni].reservations.empty() && CoveredByReservation(a, ni, s.now);
  if (s.held != nullptr && (*s.held)[ni] && !own_reservation) {
    if (ex) ex->filtered.emplace_back(nodes[ni].name, "held for an earlier request in the queue (FCFS)");
    return;
  }
  if (s.named != nullptr && ni != s.named->node) {
    if (ex) ex->filtered.emplace_back(nodes[ni].name, "not the node of reservation " + s.named->spec.id);
    return;
  }
  if (a.spread && std::find(s.placed.begin(), s.placed.end(), ni) != s.placed.end()) {
    if (ex) ex->filtered.emplace_back(nodes[ni].name, "holds another unit of this gang (spread)");
    return;
  }
  std::string fwhy;
  if ((s.checks_static || nodes[ni].hard_taint) && !NodeStaticOk(a, ni, ex ? &fwhy : nullptr)) {
    if (ex) ex->filtered.emplace_back(nodes[ni].name, fwhy);
    return;
  }
  if (!FitsNow(a, ni, s.now, s.end, (ex || s.last_filter.empty()) ? &fwhy : nullptr)) {
    if (ex) ex->filtered.emplace_back(nodes[ni].name, fwhy);
    if (s.last_filter.empty()) s.last_filter = fwhy;
    return;
  }
  const std::vector<int64_t>* spare =
      s.shadow != nullptr && s.shadow->valid && s.end > s.shadow->time && !own_reservation ? s.shadow->SpareFor(ni)
                                                                                          : nullptr;
  if (spare != nullptr) {
    bool leaves_room = true;
    for (size_t k = 0; k < a.req.size(); k++)
      if (a.req.amount(k) > (*spare)[a.req.slot(k)]) leaves_room = false;
    if (!leaves_room) {
      if (ex) {
        ex->filtered.emplace_back(nodes[ni].name,
                                  "held for the queue head until " + std::to_string(s.shadow->time / 1000) + "s (backfill)");
      }
      return;
    }
  }
  int64_t score = ScoreNode(a, ni);
  if (ex) {
    ex->scores.emplace_back(nodes[ni].name, score);
    ExplainScore(a, ni, ex);
  }
  if (score > s.best_score || (score == s.best_score && ni < s.best)) {
    s.best_score = score;
    s.best = ni;
  }
}

namespace {
// The kernel's input for one unit of `a`: its needs, and per scored resource the pod's amount (with the
// non-zero defaults where the scorer counts them) and weight. Scalar resources the pod does not ask for
// are left out, as kube-scheduler counts their allocatable as 0.
void FillKernelInput(const Alloc& a, const std::vector<std::pair<uint16_t, int64_t>>& score_resources,
                     const std::vector<std::vector<int64_t>>& free_col,
                     const std::vector<std::vector<double>>& used,
                     const std::vector<std::vector<double>>& inv, bool nonzero, bool packing,
                     const double* bias, engine::KernelInput* in) {
  in->n_req = 0;
  for (size_t k = 0; k < a.req.size() && in->n_req < 16; k++) {
    if (a.req.amount(k) == 0) continue;
    in->free[in->n_req] = free_col[a.req.slot(k)].data();
    in->need[in->n_req] = a.req.amount(k);
    in->slot_of[in->n_req] = a.req.slot(k);
    in->n_req++;
  }
  double wsum = 0;
  in->n_dims = 0;
  for (size_t k = 0; k < score_resources.size() && in->n_dims < 16; k++) {
    auto [sl, w] = score_resources[k];
    int64_t pod = a.req.Get(sl);
    if (nonzero && sl == kCpu && !a.req.Has(kCpu)) pod = engine::kDefaultMilliCpuRequest;
    if (nonzero && sl == kMemory && !a.req.Has(kMemory)) pod = engine::kDefaultMemoryRequest;
    bool scalar = sl != kCpu && sl != kMemory && sl != kDisk;
    if (scalar && pod == 0) continue;
    in->used[in->n_dims] = used[k].data();
    in->inv[in->n_dims] = inv[k].data();
    in->pod[in->n_dims] = static_cast<double>(pod);
    in->weight[in->n_dims] = static_cast<double>(w);
    wsum += static_cast<double>(w);
    in->n_dims++;
  }
  in->inv_wsum = wsum > 0 ? 1.0 / wsum : 0;
  in->packing = packing;
  in->bias = bias;
}
}  // namespace

// One search through the index: the kernel's input (needs and, with a ScoreBound, the score inputs) and
// the shape's bounds.
struct Engine::Impl::ShapeQuery {
  const Alloc& a;
  engine::ShapeBounds& sb;
  engine::KernelInput in;
  bool kernel;  // bounds from the kernel; otherwise the exact scores of the nodes that fit the free amounts
};

namespace {
// Whether nodes with bound `k` (a kernel key or a subtree's bound) from node `first` on could beat the
// best so far: a higher score (at most floor(k)), or the same from a node added earlier.
bool Worth(double k, uint32_t first, int64_t best_score, uint32_t best) {
  if (k < 0) return false;
  int64_t f = static_cast<int64_t>(k + 1e-9);
  return f > best_score || (f == best_score && first < best);
}
}  // namespace

void Engine::Impl::SearchIndex(UnitSearch& s) {
  // A request no reservation applies to reads the free amounts outside reservations (its bounds are
  // kept apart from those of the same shape that read free_col).
  bool outside = !free_out_col.empty() && NoReservationApplies(s.a);
  ShapeQuery q{.a = s.a,
               .sb = shapes.Find(s.a.req.shape_id() * 2 + (outside ? 1 : 0), tree),
               .in = {},
               .kernel = bound != engine::ScoreBound::kNone};
  FillKernelInput(s.a, score_resources, outside ? free_out_col : free_col, score_used, score_inv,
                  score_nonzero, bound == engine::ScoreBound::kMostAllocated, bias.data(), &q.in);
  // A dive first: from the root to the child with the highest bound (the first of equals) down to a
  // block, and there the node with the highest key. Its score is usually the answer, so the walk in node
  // order after it only looks where a node could beat it or tie it from a lower index.
  size_t top = tree.levels() - 1;
  if (ShapeBound(q, top, 0) < 0) return;  // no node has enough free
  uint32_t i = 0;
  for (size_t level = top; level > 0; level--) {
    auto [lo, hi] = tree.Children(level, i);
    double most = -1;
    for (uint32_t c = lo; c < hi; c++) {
      double b = ShapeBound(q, level - 1, c);
      if (b > most) most = b, i = c;
    }
  }
  if (q.kernel) {
    double k[kBlock];
    engine::BlockKeys(q.in, i * kBlock, k);
    uint32_t arg = static_cast<uint32_t>(std::max_element(k, k + kBlock) - k);
    if (k[arg] >= 0) Consider(s, i * kBlock + arg);
  } else {
    VisitBlock(s, q, i);
  }
  SearchSubtree(s, q, top, 0);
}

double Engine::Impl::ShapeBound(const ShapeQuery& q, size_t level, uint32_t i) {
  engine::ShapeBounds::Cell& cell = q.sb.cells[level][i];
  if (cell.valid_at >= tree.stamp(level, i)) return cell.bound;
  double b = -1;
  bool fits = true;
  for (int r = 0; r < q.in.n_req && fits; r++)
    fits = tree.max_free(level, q.in.slot_of[r], i) >= q.in.need[r];
  if (fits && level == 0 && i < tree.blocks()) {
    if (q.kernel) {
      double k[kBlock];
      b = engine::BlockKeys(q.in, i * kBlock, k);
    } else {
      uint32_t hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), (i + 1) * kBlock);
      for (uint32_t ni = i * kBlock; ni < hi; ni++) {
        bool ok = schedulable[ni];
        for (int r = 0; r < q.in.n_req && ok; r++) ok = q.in.free[r][ni] >= q.in.need[r];
        if (ok) b = std::max(b, static_cast<double>(ScoreNode(q.a, ni)));
      }
    }
  } else if (fits && level > 0) {
    auto [lo, hi] = tree.Children(level, i);
    for (uint32_t c = lo; c < hi; c++) b = std::max(b, ShapeBound(q, level - 1, c));
  }
  cell = {b, tree.clock()};
  return b;
}

void Engine::Impl::SearchSubtree(UnitSearch& s, const ShapeQuery& q, size_t level, uint32_t i) {
  // Depth first in node order: a subtree whose bound cannot beat the best so far, nor tie it from a
  // lower node, is left out.
  if (!Worth(ShapeBound(q, level, i), tree.FirstBlock(level, i) * kBlock, s.best_score, s.best)) return;
  if (level == 0) {
    VisitBlock(s, q, i);
    return;
  }
  auto [lo, hi] = tree.Children(level, i);
  for (uint32_t c = lo; c < hi; c++) SearchSubtree(s, q, level - 1, c);
}

void Engine::Impl::VisitBlock(UnitSearch& s, const ShapeQuery& q, uint32_t block) {
  uint32_t lo = block * kBlock;
  uint32_t hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), lo + kBlock);
  if (q.kernel) {
    double k[kBlock];
    engine::BlockKeys(q.in, lo, k);
    for (uint32_t ni = lo; ni < hi; ni++)
      if (Worth(k[ni - lo], ni, s.best_score, s.best)) Consider(s, ni);
    return;
  }
  for (uint32_t ni = lo; ni < hi; ni++) {
    bool ok = schedulable[ni];
    for (int r = 0; r < q.in.n_req && ok; r++) ok = q.in.free[r][ni] >= q.in.need[r];
    if (ok && Worth(static_cast<double>(ScoreNode(q.a, ni)), ni, s.best_score, s.best)) Consider(s, ni);
  }
}

void Engine::Impl::ScanBounded(UnitSearch& s, const double* node_bias) {
  // Bounds for every node of every block where the request fits the free amounts; the node with the
  // highest bound first (a good best early), then every block in node order, scoring exactly each node
  // whose bound could beat the best so far (or tie it from a lower index).
  engine::KernelInput in;
  bool outside = !free_out_col.empty() && NoReservationApplies(s.a);
  FillKernelInput(s.a, score_resources, outside ? free_out_col : free_col, score_used, score_inv,
                  score_nonzero, bound == engine::ScoreBound::kMostAllocated, node_bias, &in);
  uint32_t n_nodes = static_cast<uint32_t>(nodes.size());
  size_t nblocks = (n_nodes + kBlock - 1) / kBlock;
  keys.resize(nblocks * kBlock);
  std::vector<std::pair<double, uint32_t>>& cand = cand_scratch;
  cand.clear();
  size_t top = 0;
  for (uint32_t b = 0; b < nblocks; b++) {
    bool feasible = true;
    for (int r = 0; r < in.n_req && feasible; r++)
      feasible = tree.max_free(0, in.slot_of[r], b) >= in.need[r];
    if (!feasible) continue;
    cand.emplace_back(engine::BlockKeys(in, b * kBlock, keys.data() + b * kBlock), b);
    if (cand.back().first > cand[top].first) top = cand.size() - 1;
  }
  auto visit = [&](uint32_t b) {
    uint32_t hi = std::min<uint32_t>(n_nodes, (b + 1) * kBlock);
    for (uint32_t ni = b * kBlock; ni < hi; ni++)
      if (Worth(keys[ni], ni, s.best_score, s.best)) Consider(s, ni);
  };
  if (cand.empty() || cand[top].first < 0) return;
  const double* k = keys.data() + cand[top].second * kBlock;
  Consider(s, cand[top].second * kBlock + static_cast<uint32_t>(std::max_element(k, k + kBlock) - k));
  for (const auto& [bmax, b] : cand)
    if (Worth(bmax, b * kBlock, s.best_score, s.best)) visit(b);
}

void Engine::Impl::ScanFeasibleBlocks(UnitSearch& s, size_t level, uint32_t i) {
  const Alloc& a = s.a;
  for (size_t k = 0; k < a.req.size(); k++) {
    int64_t need = a.req.amount(k);
    if (need > 0 && tree.max_free(level, a.req.slot(k), i) < need) return;
  }
  if (level > 0) {
    auto [lo, hi] = tree.Children(level, i);
    for (uint32_t c = lo; c < hi; c++) ScanFeasibleBlocks(s, level - 1, c);
    return;
  }
  uint32_t hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), (i + 1) * kBlock);
  for (uint32_t ni = i * kBlock; ni < hi; ni++) Consider(s, ni);
}

TryResult Engine::Impl::Unwind(uint32_t ai, const std::vector<uint32_t>& placed, std::string last_filter,
                               Reason* why) {
  Alloc& a = allocs[ai];
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
    why->Set(ReasonCode::kInfeasible,
             "no node can ever fit it" + (last_filter.empty() ? std::string() : " (" + last_filter + ")"));
    return TryResult::kNeverFits;
  }
  if (last_filter.empty()) {
    // The pruned scan skipped whole blocks: name a resource that no node has enough of, if any.
    for (size_t k = 0; k < a.req.size() && last_filter.empty(); k++) {
      uint16_t sl = a.req.slot(k);
      if (a.req.amount(k) > tree.MostFree(sl)) last_filter = "Insufficient " + registry.Name(sl);
    }
    if (last_filter.empty()) last_filter = "no node has all of it free at once";
  }
  why->Set(ReasonCode::kNoCapacity,
           a.count > 1 ? "gang of " + std::to_string(a.count) + ": only " + std::to_string(placed.size()) +
                             " units fit now"
                       : "waiting for capacity" + (last_filter.empty() ? std::string() : ": " + last_filter));
  return TryResult::kNoCapacity;
}

void Engine::Impl::DrawReservation(Alloc& a, uint32_t ni, TimeMs now) {
  if (a.reservation >= 0) return;
  for (int32_t ri : nodes[ni].reservations) {
    const Reservation& r = reservations[ri];
    if (r.live && r.spec.start <= now && TenantIsAncestor(r.tenant, a.tenant)) {
      a.reservation = ri;
      return;
    }
  }
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
  a.when = a.duration >= 0 ? now + a.duration : -1;  // was the wait deadline while queued
  if (a.duration >= 0) lease_heap.push({a.when, ai});
  SetReason(a, ReasonCode::kNone, "");
  NoteBurst(a, now);
  Emit(EventType::kPlaced, now, a.id, NodeList(a), tenants[a.tenant].path);
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

}  // namespace allot
