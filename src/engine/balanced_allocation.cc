// BalancedAllocation: favours nodes whose resources are used evenly after placement.
// fraction_k = min(requested_k / allocatable_k, 1) over resources with allocatable > 0 (actual requests,
// not the non-zero defaults); std = |f0 - f1| / 2 for two resources, the population standard deviation
// for more, 0 for fewer; score = int64((1 - std) * 100). Weights are not used, as in kube-scheduler.
#include <cmath>
#include <vector>

#include "engine/scorer.h"

namespace allot::engine {
namespace {

class BalancedAllocation final : public ResourceScorer<BalancedAllocation, false> {
 public:
  int64_t ScoreResources(const int64_t* requested, const int64_t* allocatable, const int64_t*, int n) const {
    double fractions[64];
    int m = 0;
    double total = 0;
    for (int i = 0; i < n && m < 64; i++) {
      if (allocatable[i] == 0) continue;
      double f = static_cast<double>(requested[i]) / static_cast<double>(allocatable[i]);
      if (f > 1) f = 1;
      total += f;
      fractions[m++] = f;
    }
    double std_dev = 0;
    if (m == 2) {
      std_dev = std::fabs((fractions[0] - fractions[1]) / 2);
    } else if (m > 2) {
      double mean = total / m, sum = 0;
      for (int i = 0; i < m; i++) sum += (fractions[i] - mean) * (fractions[i] - mean);
      std_dev = std::sqrt(sum / m);
    }
    return static_cast<int64_t>((1 - std_dev) * static_cast<double>(kMaxNodeScore));
  }
  const char* name() const override { return "balanced-allocation"; }
};

}  // namespace
Result<std::unique_ptr<Scorer>> MakeBalancedAllocation(const EngineOptions&) {
  return std::unique_ptr<Scorer>(std::make_unique<BalancedAllocation>());
}
}  // namespace allot::engine
