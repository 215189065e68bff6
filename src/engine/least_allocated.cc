// LeastAllocated: favours nodes with more free capacity.
// Per resource: (allocatable - requested) * 100 / allocatable, 0 when requested > allocatable;
// node score: sum(score * weight) / sum(weight), integer division, over resources with allocatable > 0.
#include "engine/scorer.h"

namespace allot::engine {
namespace {

class LeastAllocated final : public ResourceScorer<LeastAllocated, true> {
 public:
  static constexpr bool kPerResource = true;
  int64_t ScoreResources(const int64_t* requested, const int64_t* allocatable, const int64_t* weights, int n) const {
    int64_t node_score = 0, weight_sum = 0;
    for (int i = 0; i < n; i++) {
      if (allocatable[i] == 0) continue;
      // In 128 bits: (allocatable - requested) × 100 overflows an int64 past 92 PB.
      int64_t s = requested[i] > allocatable[i]
                      ? 0
                      : static_cast<int64_t>(static_cast<__int128>(allocatable[i] - requested[i]) * kMaxNodeScore /
                                             allocatable[i]);
      node_score += s * weights[i];
      weight_sum += weights[i];
    }
    return weight_sum == 0 ? 0 : node_score / weight_sum;
  }
  ScoreBound bound() const override { return ScoreBound::kLeastAllocated; }
  const char* name() const override { return "least-allocated"; }
};

}  // namespace

Result<std::unique_ptr<Scorer>> MakeLeastAllocated(const EngineOptions&) {
  return std::unique_ptr<Scorer>(std::make_unique<LeastAllocated>());
}

}  // namespace allot::engine
