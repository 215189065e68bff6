// Node sizing: a first-fit-decreasing packer that, among open nodes a pod fits, picks the most allocated
// one (kube-scheduler's MostAllocated over cpu and memory), so pods consolidate onto few nodes.
//
// Pods are sorted GPU pods first, then by dominant share (largest fraction of the biggest shape) descending.
// A new node opens only when no open node fits; its shape is the run's preferred shape when it fits,
// else the cheapest fitting one. One run per shape as the preferred one; the cheapest result wins (fewest
// unplaced pods, then cost, then nodes, then total capacity). GPU nodes take only GPU pods unless
// gpu_nodes_shared. Per-node workloads (DaemonSets) are reserved on every node before packing.
// Nodes whose free capacity is below the smallest demand still to come are dropped from the candidate list,
// which keeps the scan short for large inputs.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "allot/plan.h"
#include "plan/internal.h"

namespace allot::plan {
namespace {

using internal::Get;

struct Item {
  size_t workload;
  std::vector<int64_t> demand;
  int64_t count;
  bool gpu;
  double key;
};

struct RunResult {
  SizingResult result;
  int64_t unplaced_pods = 0;
  __int128 capacity_sum = 0;
};

struct Packer {
  std::vector<std::string> dims;
  size_t d_cpu = 0, d_mem = 1, d_gpu = 2;
  std::vector<std::vector<int64_t>> shape_free;  // usable capacity per shape after per-node reservation
  std::vector<std::vector<int64_t>> shape_cap;   // raw capacity per shape
  std::vector<bool> shape_gpu;
  std::vector<int64_t> reserved;                 // per-node reservation
};

bool Fits(const int64_t* free, const std::vector<int64_t>& demand) {
  for (size_t d = 0; d < demand.size(); d++) {
    if (demand[d] > free[d]) return false;
  }
  return true;
}

RunResult Run(const Packer& pk, const std::vector<Item>& items, const std::vector<Workload>& workloads,
              const SizingOptions& options, size_t preferred, bool shared) {
  const size_t D = pk.dims.size();
  const size_t S = options.shapes.size();
  // Shape order for opening nodes: preferred first, then by cost, then by capacity (cpu, memory).
  std::vector<size_t> order(S);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (a == preferred || b == preferred) return a == preferred && b != preferred;
    if (options.shapes[a].cost != options.shapes[b].cost) return options.shapes[a].cost < options.shapes[b].cost;
    return pk.shape_cap[a] < pk.shape_cap[b];
  });
  std::vector<int64_t> free;        // node-major free capacity
  std::vector<size_t> node_shape;
  std::vector<int64_t> opened(S, 0);
  std::vector<size_t> candidates;   // open nodes that may still take a pod
  std::vector<size_t> live;         // of those, the ones that may take the current item's next pod
  // suffix_min[i][d]: the smallest demand in dimension d among items i.. (for pruning full nodes).
  std::vector<int64_t> suffix_min((items.size() + 1) * D, INT64_MAX);
  for (size_t i = items.size(); i-- > 0;) {
    for (size_t d = 0; d < D; d++) suffix_min[i * D + d] = std::min(suffix_min[(i + 1) * D + d], items[i].demand[d]);
  }
  RunResult rr;
  std::vector<__int128> placed(D, 0);
  std::vector<bool> unplaced_w(workloads.size(), false);
  for (size_t i = 0; i < items.size(); i++) {
    const Item& it = items[i];
    // Prune nodes that cannot take even the smallest demand still to come.
    if ((i & 63) == 0) {
      const int64_t* mins = &suffix_min[i * D];
      candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                      [&](size_t n) {
                                        for (size_t d = 0; d < D; d++) {
                                          if (free[n * D + d] < mins[d]) return true;
                                        }
                                        return false;
                                      }),
                       candidates.end());
    }
    size_t first_node = SIZE_MAX;
    bool spread = options.ha && it.count >= 2;
    // The candidates for this item: a node that cannot take one of its pods never takes a later one (free
    // capacity only shrinks), so it leaves the list, in order; without that, an item of many replicas
    // rescanned every full node for each pod.
    live.assign(candidates.begin(), candidates.end());
    for (int64_t r = 0; r < it.count; r++) {
      size_t best = SIZE_MAX;
      double best_score = -1;
      size_t kept = 0;
      for (size_t k = 0; k < live.size(); k++) {
        size_t n = live[k];
        if ((!it.gpu && pk.shape_gpu[node_shape[n]] && !shared) || !Fits(&free[n * D], it.demand)) continue;
        live[kept++] = n;
        if (spread && r == 1 && n == first_node) continue;
        const auto& cap = pk.shape_cap[node_shape[n]];
        double score = 0;
        for (size_t d : {pk.d_cpu, pk.d_mem}) {
          double used = static_cast<double>(cap[d] - free[n * D + d] + it.demand[d]);
          score += cap[d] > 0 ? used / static_cast<double>(cap[d]) : 0;
        }
        if (score > best_score) {
          best_score = score;
          best = n;
        }
      }
      live.resize(kept);
      if (best == SIZE_MAX) {
        // Open a node: the first shape in order that fits, is allowed, and has count left. GPU-free pods
        // try GPU-free shapes first.
        size_t chosen = SIZE_MAX;
        for (int pass = 0; pass < 2 && chosen == SIZE_MAX; pass++) {
          for (size_t s : order) {
            bool gpu_shape = pk.shape_gpu[s];
            if (it.gpu && !gpu_shape) continue;
            if (!it.gpu && gpu_shape && (pass == 0 || !shared)) continue;
            if (options.shapes[s].max_count >= 0 && opened[s] >= options.shapes[s].max_count) continue;
            if (!Fits(pk.shape_free[s].data(), it.demand)) continue;
            chosen = s;
            break;
          }
        }
        if (chosen == SIZE_MAX) {
          rr.unplaced_pods += it.count - r;
          unplaced_w[it.workload] = true;
          break;
        }
        opened[chosen]++;
        best = node_shape.size();
        node_shape.push_back(chosen);
        free.insert(free.end(), pk.shape_free[chosen].begin(), pk.shape_free[chosen].end());
        candidates.push_back(best);
        live.push_back(best);
      }
      for (size_t d = 0; d < D; d++) {
        free[best * D + d] -= it.demand[d];
        placed[d] += it.demand[d];
      }
      if (r == 0) first_node = best;
    }
  }
  SizingResult& res = rr.result;
  res.nodes = static_cast<int64_t>(node_shape.size());
  for (size_t s = 0; s < S; s++) {
    if (opened[s] == 0) continue;
    res.by_shape.push_back({options.shapes[s].name, opened[s], static_cast<double>(opened[s]) * options.shapes[s].cost});
    res.cost += static_cast<double>(opened[s]) * options.shapes[s].cost;
  }
  for (size_t d = 0; d < D; d++) {
    __int128 cap = 0;
    for (size_t n = 0; n < node_shape.size(); n++) cap += pk.shape_cap[node_shape[n]][d];
    if (d == pk.d_cpu || d == pk.d_mem || (d == pk.d_gpu && cap > 0) || pk.dims[d] == "pods") {
      __int128 used = placed[d] + static_cast<__int128>(pk.reserved[d]) * res.nodes;
      double pct = cap > 0 ? 100.0 * static_cast<double>(used) / static_cast<double>(cap) : 0;
      res.utilization[pk.dims[d]] = std::round(pct * 10) / 10;
    }
    rr.capacity_sum += cap;
  }
  for (size_t w = 0; w < workloads.size(); w++) {
    if (unplaced_w[w]) res.unplaced.push_back(workloads[w].ns + "/" + workloads[w].name);
  }
  return rr;
}

}  // namespace

SizingResult SizeCluster(const std::vector<Workload>& workloads, bool at_max, const SizingOptions& options) {
  SizingResult empty;
  if (options.shapes.empty()) return empty;
  Packer pk;
  pk.dims = {"cpu", "memory", "gpu"};
  for (const auto& s : options.shapes) {
    for (const auto& [k, v] : s.capacity) {
      if (std::find(pk.dims.begin(), pk.dims.end(), k) == pk.dims.end()) pk.dims.push_back(k);
    }
  }
  const size_t D = pk.dims.size();
  pk.reserved.assign(D, 0);
  for (const auto& w : workloads) {
    if (!w.per_node) continue;
    for (size_t d = 0; d < D; d++) pk.reserved[d] += pk.dims[d] == "pods" ? 1 : Get(w.pod_requests, pk.dims[d]);
  }
  for (const auto& s : options.shapes) {
    std::vector<int64_t> cap(D), fr(D);
    for (size_t d = 0; d < D; d++) {
      cap[d] = Get(s.capacity, pk.dims[d]);
      int64_t usable = static_cast<int64_t>(std::floor(static_cast<double>(cap[d]) * (1.0 - options.headroom)));
      if (pk.dims[d] == "gpu" || pk.dims[d] == "pods") usable = cap[d];  // devices and pod slots are not shared
      fr[d] = std::max<int64_t>(0, usable - pk.reserved[d]);
    }
    pk.shape_gpu.push_back(cap[pk.d_gpu] > 0);
    pk.shape_cap.push_back(std::move(cap));
    pk.shape_free.push_back(std::move(fr));
  }
  std::vector<int64_t> biggest(D, 0);
  for (const auto& c : pk.shape_cap) {
    for (size_t d = 0; d < D; d++) biggest[d] = std::max(biggest[d], c[d]);
  }
  std::vector<Item> items;
  items.reserve(workloads.size());
  for (size_t i = 0; i < workloads.size(); i++) {
    const Workload& w = workloads[i];
    int64_t n = at_max ? w.max_replicas : w.min_replicas;
    if (w.per_node || n <= 0) continue;
    Item it{i, std::vector<int64_t>(D), n, false, 0};
    for (size_t d = 0; d < D; d++) {
      it.demand[d] = pk.dims[d] == "pods" ? 1 : Get(w.pod_requests, pk.dims[d]);
      if (biggest[d] > 0) it.key = std::max(it.key, static_cast<double>(it.demand[d]) / static_cast<double>(biggest[d]));
    }
    it.gpu = it.demand[pk.d_gpu] > 0;
    items.push_back(std::move(it));
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.gpu != b.gpu) return a.gpu;
    return a.key > b.key;
  });
  // GPU nodes take pods without GPUs only when allowed, or when no GPU-free shape exists at all.
  bool shared = options.gpu_nodes_shared ||
                std::all_of(pk.shape_gpu.begin(), pk.shape_gpu.end(), [](bool g) { return g; });
  RunResult best;
  bool have = false;
  for (size_t p = 0; p < options.shapes.size(); p++) {
    // A GPU shape as the preferred one only changes the result for GPU pods, which prefer GPU shapes anyway.
    if (pk.shape_gpu[p] && options.shapes.size() > 1) continue;
    RunResult r = Run(pk, items, workloads, options, p, shared);
    auto rank = [](const RunResult& x) { return std::tuple(x.unplaced_pods, x.result.cost, x.result.nodes, x.capacity_sum); };
    if (!have || rank(r) < rank(best)) {
      best = std::move(r);
      have = true;
    }
  }
  if (!have) best = Run(pk, items, workloads, options, 0, shared);
  // Lower bound: no packing can use fewer nodes than a group's total demand over the largest usable node of
  // the shapes it may use, per dimension. When GPU nodes are reserved for GPU pods, the two groups use
  // disjoint nodes and their bounds add up.
  auto bound = [&](bool gpu_group, bool any_pod, bool gpu_shapes_only, bool cpu_shapes_only) {
    std::vector<__int128> sum(D, 0);
    for (const auto& it : items) {
      if (!any_pod && it.gpu != gpu_group) continue;
      for (size_t d = 0; d < D; d++) sum[d] += static_cast<__int128>(it.demand[d]) * it.count;
    }
    int64_t out = 0;
    for (size_t d = 0; d < D; d++) {
      if (sum[d] == 0) continue;
      int64_t cap = 0;
      for (size_t s = 0; s < pk.shape_free.size(); s++) {
        if ((gpu_shapes_only && !pk.shape_gpu[s]) || (cpu_shapes_only && pk.shape_gpu[s])) continue;
        cap = std::max(cap, pk.shape_free[s][d]);
      }
      if (cap <= 0) continue;
      out = std::max<int64_t>(out, static_cast<int64_t>((sum[d] + cap - 1) / cap));
    }
    return out;
  };
  int64_t lb = bound(false, true, false, false);
  if (!shared) lb = std::max(lb, bound(true, false, true, false) + bound(false, false, false, true));
  best.result.lower_bound = lb;
  return best.result;
}

}  // namespace allot::plan
