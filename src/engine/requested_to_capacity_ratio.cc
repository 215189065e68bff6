// RequestedToCapacityRatio: a piecewise-linear function of utilization given by a shape.
// Shape scores 0-10 are scaled by 10 to 0-100. Per resource: utilization = requested * 100 / allocatable
// (100 when requested > allocatable); score = the broken-linear function of it (integer arithmetic);
// only resources with a positive score enter the weighted mean, which is rounded (math.Round).
#include <cmath>

#include "engine/scorer.h"

namespace allot::engine {
namespace {

class RequestedToCapacityRatio final : public ResourceScorer<RequestedToCapacityRatio, true> {
 public:
  static constexpr bool kPerResource = true;
  explicit RequestedToCapacityRatio(std::vector<std::pair<int64_t, int64_t>> shape) : shape_(std::move(shape)) {
    for (auto& p : shape_) p.second *= kMaxNodeScore / 10;
  }
  int64_t ScoreResources(const int64_t* requested, const int64_t* allocatable, const int64_t* weights, int n) const {
    int64_t node_score = 0, weight_sum = 0;
    for (int i = 0; i < n; i++) {
      if (allocatable[i] == 0) continue;
      int64_t s = requested[i] > allocatable[i] ? Broken(100) : Broken(static_cast<int64_t>(static_cast<__int128>(requested[i]) * 100 / allocatable[i]));
      if (s > 0) {
        node_score += s * weights[i];
        weight_sum += weights[i];
      }
    }
    if (weight_sum == 0) return 0;
    return static_cast<int64_t>(std::round(static_cast<double>(node_score) / static_cast<double>(weight_sum)));
  }
  const char* name() const override { return "requested-to-capacity-ratio"; }

 private:
  int64_t Broken(int64_t p) const {
    for (size_t i = 0; i < shape_.size(); i++) {
      if (p <= shape_[i].first) {
        if (i == 0) return shape_[0].second;
        const auto& a = shape_[i - 1];
        const auto& b = shape_[i];
        return a.second + (b.second - a.second) * (p - a.first) / (b.first - a.first);
      }
    }
    return shape_.back().second;
  }
  std::vector<std::pair<int64_t, int64_t>> shape_;
};

}  // namespace

Result<std::unique_ptr<Scorer>> MakeRequestedToCapacityRatio(const EngineOptions& options) {
  const auto& shape_in = options.shape;
  // kube-scheduler's default shape: {0, 10}, {100, 0} (least-allocated-like) when none is given.
  auto shape = shape_in.empty() ? std::vector<std::pair<int64_t, int64_t>>{{0, 10}, {100, 0}} : shape_in;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i].first < 0 || shape[i].first > 100) {
      return InvalidArgument("policy.shape[" + std::to_string(i) + "].utilization must be within 0-100");
    }
    if (shape[i].second < 0 || shape[i].second > 10) {
      return InvalidArgument("policy.shape[" + std::to_string(i) + "].score must be within 0-10");
    }
    if (i > 0 && shape[i].first <= shape[i - 1].first) {
      return InvalidArgument("policy.shape utilizations must be strictly increasing (point " + std::to_string(i) + ")");
    }
  }
  return std::unique_ptr<Scorer>(std::make_unique<RequestedToCapacityRatio>(shape));
}

}  // namespace allot::engine
