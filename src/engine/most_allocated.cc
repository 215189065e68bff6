// MostAllocated: favours nodes that are already busy (bin packing).
// Per resource: min(requested, allocatable) * 100 / allocatable; node score: weighted integer mean as in
// LeastAllocated.
#include "engine/scorer.h"

namespace allot::engine {
namespace {

class MostAllocated final : public ResourceScorer<MostAllocated, true> {
 public:
  static constexpr bool kPerResource = true;
  int64_t ScoreResources(const int64_t* requested, const int64_t* allocatable, const int64_t* weights, int n) const {
    int64_t node_score = 0, weight_sum = 0;
    for (int i = 0; i < n; i++) {
      if (allocatable[i] == 0) continue;
      int64_t r = requested[i] > allocatable[i] ? allocatable[i] : requested[i];
      // In 128 bits: r × 100 overflows an int64 past 92 PB (a 100000Ti disk).
      node_score += static_cast<int64_t>(static_cast<__int128>(r) * kMaxNodeScore / allocatable[i]) * weights[i];
      weight_sum += weights[i];
    }
    return weight_sum == 0 ? 0 : node_score / weight_sum;
  }
  ScoreBound bound() const override { return ScoreBound::kMostAllocated; }
  const char* name() const override { return "most-allocated"; }
};

}  // namespace

Result<std::unique_ptr<Scorer>> MakeMostAllocated(const EngineOptions&) {
  return std::unique_ptr<Scorer>(std::make_unique<MostAllocated>());
}

}  // namespace allot::engine
