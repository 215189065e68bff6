// Node scoring strategies: the Scorer interface, the node view scorers read, and the helper that gives
// kube-scheduler's strategies their inputs. One file per strategy (least_allocated.cc, most_allocated.cc,
// requested_to_capacity_ratio.cc, balanced_allocation.cc, gpu_fragmentation.cc); the policy registry
// (policy.cc, allot/policy.h) builds the one named by EngineOptions::scoring.
//
// kube-scheduler's strategies (NodeResourcesFit scoring strategies and NodeResourcesBalancedAllocation)
// score integer 0-100 from, for each scored resource k of a node, `requested[k]` (what the node would
// hold with the pod placed, pod included) and `allocatable[k]`; a resource with allocatable 0 is
// skipped, as kube-scheduler does. Least/most-allocated and requested-to-capacity-ratio use "non-zero"
// requests for cpu and memory (a pod without a cpu request counts as 100m, without memory as 200Mi),
// balanced allocation the actual requests. gpu-fragmentation scores a node's GPU devices instead
// (gpu_fragmentation.h) and chooses the device of a share.
//
// Thread-safety: none; the engine serialises access. A scorer may keep caches and learn from submitted
// requests (Observe), so its methods are not const.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "allot/engine.h"
#include "allot/resources.h"
#include "allot/result.h"
#include "engine/state.h"

namespace allot::engine {

inline constexpr int64_t kMaxNodeScore = 100;
inline constexpr int64_t kDefaultMilliCpuRequest = 100;              // 0.1 core
inline constexpr int64_t kDefaultMemoryRequest = 200 * 1024 * 1024;  // 200 MiB

// What scorers read of the cluster, by node index and resource slot: capacity, use (managed and
// unmanaged), use with kube-scheduler's non-zero cpu/memory defaults, GPU devices and labels; and the
// scored resources with their weights. Read-only, and cheap to copy: it points at the engine's columns,
// which never move while the engine lives.
class NodeView {
 public:
  using Columns = std::vector<std::vector<int64_t>>;  // [slot][node]
  using Weights = std::vector<std::pair<uint16_t, int64_t>>;
  NodeView(const Columns* cap, const Columns* used, const std::vector<int64_t>* nz_cpu,
           const std::vector<int64_t>* nz_mem, const std::vector<NodeMeta>* nodes, const uint64_t* topology_epoch,
           const Weights* score_resources)
      : cap_(cap), used_(used), nz_cpu_(nz_cpu), nz_mem_(nz_mem), nodes_(nodes), topology_epoch_(topology_epoch),
        score_resources_(score_resources) {}

  size_t size() const { return nodes_->size(); }
  int64_t capacity(uint16_t slot, uint32_t ni) const { return (*cap_)[slot][ni]; }
  int64_t used(uint16_t slot, uint32_t ni) const { return (*used_)[slot][ni]; }
  int64_t free(uint16_t slot, uint32_t ni) const { return capacity(slot, ni) - used(slot, ni); }
  // Use of cpu and memory with every request that named none counted at the non-zero defaults.
  int64_t nonzero_cpu(uint32_t ni) const { return (*nz_cpu_)[ni]; }
  int64_t nonzero_memory(uint32_t ni) const { return (*nz_mem_)[ni]; }
  const std::vector<int16_t>& gpu_free(uint32_t ni) const { return (*nodes_)[ni].gpu_free; }  // per device, milli
  const Labels& labels(uint32_t ni) const { return (*nodes_)[ni].labels; }
  // Moves whenever the node set or a node's labels or state change.
  uint64_t topology_epoch() const { return *topology_epoch_; }
  // (slot, weight) of the resources scored, by slot (EngineOptions::weights; default cpu and memory 1).
  const Weights& score_resources() const { return *score_resources_; }

 private:
  const Columns* cap_;
  const Columns* used_;
  const std::vector<int64_t>* nz_cpu_;
  const std::vector<int64_t>* nz_mem_;
  const std::vector<NodeMeta>* nodes_;
  const uint64_t* topology_epoch_;
  const Weights* score_resources_;
};

// An upper bound on a strategy's score that the placement loop computes for every node block at once
// (four nodes per vector step, from columns the engine keeps current) before it scores exactly only the
// nodes near the top: the weighted mean of the unfloored per-resource scores of most- or least-allocated.
// kNone: every feasible node is scored exactly.
enum class ScoreBound { kNone, kMostAllocated, kLeastAllocated };

// One scored resource behind a node's score (--explain): see allot::ScoreTerm.
struct ResourceTerm {
  uint16_t slot = 0;
  int64_t requested = 0, allocatable = 0;
  int64_t score = -1;  // -1: the strategy has no per-resource score
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual const char* name() const = 0;
  // The score 0-100 of one unit of `a` on node `ni`. REQUIRES: the unit fits on `ni` now.
  virtual int64_t Score(const NodeView& nodes, const Alloc& a, uint32_t ni) = 0;
  // The resources behind Score, for --explain (slow is fine). REQUIRES: as Score. Default: none.
  virtual std::vector<ResourceTerm> Explain(const NodeView& nodes, const Alloc& a, uint32_t ni) {
    (void)nodes, (void)a, (void)ni;
    return {};
  }
  // The bound the placement loop may use; the exact score must never exceed it.
  virtual ScoreBound bound() const { return ScoreBound::kNone; }
  // Whether the bound's columns count kube-scheduler's non-zero cpu and memory requests.
  virtual bool UsesNonZeroRequests() const { return true; }
  // Whether Score reads nothing but the node's columns (capacity, use, non-zero use) and the request's
  // amounts, so that the placement index may keep per-block maxima of it between searches (a scorer
  // with learned state, gpu-fragmentation, may not).
  virtual bool ColumnsOnly() const { return false; }
  // The device on `ni` that a GPU share (below 1000m) of `a` takes, or -1 if none holds it. The default is
  // best fit: the device with the least free capacity that still holds the share (the first of equals).
  virtual int ShareDevice(const NodeView& nodes, const Alloc& a, uint32_t ni);
  // Called for every submitted request, before it is queued.
  virtual void Observe(const Alloc& a) { (void)a; }
};

// kube-scheduler's inputs for one unit of `a` on `ni`: per scored resource (at most 16) requested and
// allocatable as described above (a scalar resource the pod does not ask for counts as allocatable 0)
// and its weight. `nonzero`: count cpu and memory at the non-zero defaults. Returns how many it filled.
inline int GatherResources(const NodeView& nodes, const Alloc& a, uint32_t ni, bool nonzero, int64_t* requested,
                           int64_t* allocatable, int64_t* weights) {
  int n = 0;
  for (const auto& [s, w] : nodes.score_resources()) {
    if (n >= 16) break;
    int64_t pod = a.req.Get(s);
    int64_t node_req = nodes.used(s, ni);
    if (nonzero && s == kCpu) {
      pod = a.req.Has(kCpu) ? pod : kDefaultMilliCpuRequest;
      node_req = nodes.nonzero_cpu(ni);
    } else if (nonzero && s == kMemory) {
      pod = a.req.Has(kMemory) ? pod : kDefaultMemoryRequest;
      node_req = nodes.nonzero_memory(ni);
    }
    bool scalar = s != kCpu && s != kMemory && s != kDisk;
    allocatable[n] = (scalar && pod == 0) ? 0 : nodes.capacity(s, ni);
    requested[n] = (scalar && pod == 0) ? 0 : node_req + pod;
    weights[n] = w;
    n++;
  }
  return n;
}

// Base of the strategies that score resources: Derived::ScoreResources(requested, allocatable, weights, n)
// is called with GatherResources' inputs (statically: one virtual call per node, Score). A strategy whose
// node score is a mean of per-resource scores says so with `static constexpr bool kPerResource = true`:
// Explain then reports each resource's score (ScoreResources of that resource alone).
template <typename Derived, bool kNonZero>
class ResourceScorer : public Scorer {
 public:
  int64_t Score(const NodeView& nodes, const Alloc& a, uint32_t ni) final {
    int64_t requested[16], allocatable[16], weights[16];
    int n = GatherResources(nodes, a, ni, kNonZero, requested, allocatable, weights);
    return static_cast<const Derived*>(this)->ScoreResources(requested, allocatable, weights, n);
  }
  std::vector<ResourceTerm> Explain(const NodeView& nodes, const Alloc& a, uint32_t ni) final {
    int64_t requested[16], allocatable[16], weights[16];
    int n = GatherResources(nodes, a, ni, kNonZero, requested, allocatable, weights);
    std::vector<ResourceTerm> out;
    for (int i = 0; i < n; i++) {
      if (allocatable[i] == 0) continue;  // not scored (kube-scheduler skips it)
      ResourceTerm t{nodes.score_resources()[static_cast<size_t>(i)].first, requested[i], allocatable[i], -1};
      if constexpr (requires { Derived::kPerResource; }) {
        const int64_t one = 1;
        t.score = static_cast<const Derived*>(this)->ScoreResources(&requested[i], &allocatable[i], &one, 1);
      }
      out.push_back(t);
    }
    return out;
  }
  bool UsesNonZeroRequests() const final { return kNonZero; }
  bool ColumnsOnly() const final { return true; }
};

// The strategy EngineOptions::scoring names (see policy.cc, the registry), built from the options
// (requested-to-capacity-ratio's shape, gpu-fragmentation's workload); errors name the known strategies.
Result<std::unique_ptr<Scorer>> MakeScorer(const EngineOptions& options);

// One factory per strategy, for the registry.
Result<std::unique_ptr<Scorer>> MakeLeastAllocated(const EngineOptions& options);
Result<std::unique_ptr<Scorer>> MakeMostAllocated(const EngineOptions& options);
Result<std::unique_ptr<Scorer>> MakeBalancedAllocation(const EngineOptions& options);
// `options.shape`: points of (utilization 0-100, score 0-10), utilizations strictly increasing.
Result<std::unique_ptr<Scorer>> MakeRequestedToCapacityRatio(const EngineOptions& options);
// `options.gpu_workload`: validated here; empty: learned online.
Result<std::unique_ptr<Scorer>> MakeGpuFragmentation(const EngineOptions& options);

}  // namespace allot::engine
