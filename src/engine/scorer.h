// Node scoring strategies with kube-scheduler's names and arithmetic (NodeResourcesFit scoring
// strategies and NodeResourcesBalancedAllocation), integer scores 0-100.
//
// The engine gathers, for each scored resource k of a node, `requested[k]` (what the node would hold
// with the pod placed, pod included) and `allocatable[k]`; a resource with allocatable 0 is skipped, as
// kube-scheduler does. Least/most-allocated and requested-to-capacity-ratio use "non-zero" requests for
// cpu and memory (a pod without a cpu request counts as 100m, without memory as 200Mi), balanced
// allocation uses the actual requests: UsesNonZeroRequests() tells the engine which to gather.
// gpu-fragmentation (gpu_fragmentation.h) needs a node's devices and the expected workload, which this
// interface does not carry: its Scorer only names it (and scores 50, neutral, if asked), and the engine
// scores it through its GpuFragmentationState.
// Thread-safety: scorers are immutable after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "allot/result.h"

namespace allot::engine {

inline constexpr int64_t kMaxNodeScore = 100;
inline constexpr int64_t kDefaultMilliCpuRequest = 100;              // 0.1 core
inline constexpr int64_t kDefaultMemoryRequest = 200 * 1024 * 1024;  // 200 MiB

class Scorer {
 public:
  virtual ~Scorer() = default;
  // REQUIRES: requested, allocatable and weights have n entries.
  virtual int64_t Score(const int64_t* requested, const int64_t* allocatable, const int64_t* weights,
                        int n) const = 0;
  virtual bool UsesNonZeroRequests() const { return true; }
  // True when more allocated means a higher score (packing); used by callers for pruning only.
  virtual const char* name() const = 0;
};

// The strategy named `name`; `shape` is for requested-to-capacity-ratio: points of (utilization 0-100,
// score 0-10), utilizations strictly increasing.
Result<std::unique_ptr<Scorer>> MakeScorer(const std::string& name,
                                           const std::vector<std::pair<int64_t, int64_t>>& shape);

std::unique_ptr<Scorer> MakeLeastAllocated();
std::unique_ptr<Scorer> MakeMostAllocated();
std::unique_ptr<Scorer> MakeBalancedAllocation();
std::unique_ptr<Scorer> MakeGpuFragmentation();
Result<std::unique_ptr<Scorer>> MakeRequestedToCapacityRatio(const std::vector<std::pair<int64_t, int64_t>>& shape);

}  // namespace allot::engine
