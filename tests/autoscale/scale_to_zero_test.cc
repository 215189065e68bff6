// HPA input exactness: fractional ages (any JSON/YAML number of seconds) and minReplicas 0 behind the
// HPAScaleToZero feature gate, with what the controller (horizontal.go) then does.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "allot/autoscale.h"
#include "support.h"

namespace allot::autoscale {
namespace {

// External Value target 1 (metric `lag`), minReplicas 0, three ready pods.
std::string ZeroSpec(const std::string& lag, int current) {
  std::string y =
      "hpa: {spec: {minReplicas: 0, maxReplicas: 10, metrics: [{type: External, external: {metric: {name: lag}, "
      "target: {type: Value, value: '1'}}}]}}\n"
      "current_replicas: " + std::to_string(current) + "\nexternal_metrics: {lag: '" + lag + "'}\n"
      "recommendations: []\npods:\n";
  for (int i = 0; i < current; i++) y += "  - {name: p" + std::to_string(i) + "}\n";
  return y;
}

FeatureGates ScaleToZero(bool on) {
  FeatureGates g;
  g.hpa_scale_to_zero = on;
  return g;
}

TEST(HpaScaleToZero, RefusedWithoutTheGateNamingIt) {
  auto in = ParseHpaInput(ZeroSpec("0", 3), "in.yaml");
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.error().message.find("hpa.spec.minReplicas: must be greater than or equal to 1"), std::string::npos)
      << in.error().message;
  EXPECT_NE(in.error().message.find("HPAScaleToZero"), std::string::npos) << in.error().message;
  // Explicitly off (command line) wins over the input's key.
  auto off = ParseHpaInput("feature_gates: {HPAScaleToZero: true}\n" + ZeroSpec("0", 3), "in.yaml", ScaleToZero(false));
  EXPECT_FALSE(off.ok());
  // EvaluateHpa re-checks: a spec with minReplicas 0 and the gate off is refused there too.
  auto with = ParseHpaInput(ZeroSpec("0", 3), "in.yaml", ScaleToZero(true));
  ASSERT_TRUE(with.ok()) << with.error().message;
  HpaInput copy = *with;
  copy.options.hpa_scale_to_zero = false;
  auto d = EvaluateHpa(copy);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("HPAScaleToZero"), std::string::npos);
}

TEST(HpaScaleToZero, GateStillNeedsAnObjectOrExternalMetric) {
  // validateMetrics: minReplicas 0 with only a Resource metric is forbidden even with the gate.
  auto in = ParseHpaInput(
      "hpa: {spec: {minReplicas: 0, maxReplicas: 5}}\ncurrent_replicas: 1\npods: [{name: a}]\n", "in.yaml",
      ScaleToZero(true));
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.error().message.find("must specify at least one Object or External metric"), std::string::npos)
      << in.error().message;
}

TEST(HpaScaleToZero, ScalesToZeroAndBackFromZero) {
  // Gate from the input's key (mapping form). lag 0 vs target 1: ratio 0, outside the tolerance; ceil(0 * 3
  // ready pods) = 0, and minReplicas 0 lets it stand (an empty history: no stabilisation).
  auto down = ParseHpaInput("feature_gates: {HPAScaleToZero: true}\n" + ZeroSpec("0", 3), "in.yaml");
  ASSERT_TRUE(down.ok()) << down.error().message;
  auto d = EvaluateHpa(*down);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->desired_replicas, 0) << HpaDecisionToJson(*d);
  // At zero replicas with minReplicas 0 the HPA stays active (no "scaling is disabled"): with no pods,
  // getUsageRatioReplicaCount gives ceil(ratio) = ceil(2.5) = 3. Gate in the string form.
  auto up = ParseHpaInput("feature_gates: HPAScaleToZero=true\n" + ZeroSpec("2500m", 0), "in.yaml");
  ASSERT_TRUE(up.ok()) << up.error().message;
  auto u = EvaluateHpa(*up);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->desired_replicas, 3) << HpaDecisionToJson(*u);
  EXPECT_EQ(u->reason.find("scaling is disabled"), std::string::npos);
  // At zero with a metric still at zero: ceil(0) = 0, it stays at zero.
  auto idle = ParseHpaInput(ZeroSpec("0", 0), "in.yaml", ScaleToZero(true));
  ASSERT_TRUE(idle.ok()) << idle.error().message;
  EXPECT_EQ(EvaluateHpa(*idle)->desired_replicas, 0);
  // With minReplicas 1 a target at zero replicas means autoscaling is disabled (horizontal.go:
  // ScalingActive False, ScalingDisabled) whatever the metric says.
  std::string one = ZeroSpec("2500m", 0);
  one.replace(one.find("minReplicas: 0"), 14, "minReplicas: 1");
  auto disabled = ParseHpaInput(one, "in.yaml");
  ASSERT_TRUE(disabled.ok()) << disabled.error().message;
  auto dd = EvaluateHpa(*disabled);
  ASSERT_TRUE(dd.ok());
  EXPECT_EQ(dd->desired_replicas, 0);
  EXPECT_EQ(dd->reason, "scaling is disabled since the replica count of the target is zero");
}

TEST(HpaScaleToZero, FeatureGatesText) {
  auto g = ParseFeatureGates("HPAScaleToZero=true");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->hpa_scale_to_zero, std::optional<bool>(true));
  EXPECT_EQ(ParseFeatureGates("HPAScaleToZero=False")->hpa_scale_to_zero, std::optional<bool>(false));
  EXPECT_FALSE(ParseFeatureGates("")->hpa_scale_to_zero.has_value());
  auto unknown = ParseFeatureGates("HPAScaleToZeroo=true");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("unrecognized feature gate"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("known: HPAScaleToZero"), std::string::npos);
  EXPECT_FALSE(ParseFeatureGates("HPAScaleToZero").ok());
  EXPECT_FALSE(ParseFeatureGates("HPAScaleToZero=yes").ok());
  auto bad = ParseHpaInput("feature_gates: {Bogus: true}\n" + ZeroSpec("0", 3), "in.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("in.yaml:1: feature_gates"), std::string::npos) << bad.error().message;
}

// Legacy path, 300 s downscale window: a recommendation is kept unless it is older than the window.
int LegacyWith(const std::string& age) {
  auto in = ParseHpaInput(
      "hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 10\ndesired_replicas: 2\n"
      "recommendations: [{age_seconds: " + age + ", replicas: 7}]\n",
      "in.yaml");
  EXPECT_TRUE(in.ok()) << age << ": " << in.error().message;
  if (!in.ok()) return -1;
  auto d = EvaluateHpa(*in);
  EXPECT_TRUE(d.ok());
  return d.ok() ? d->desired_replicas : -1;
}

TEST(HpaAges, AnyNumberOfSeconds) {
  // 100.0 (a JSON/YAML float) is 100 s: inside the window, so max(2, 7) = 7.
  EXPECT_EQ(LegacyWith("100.0"), 7);
  EXPECT_EQ(LegacyWith("1e2"), 7);
  EXPECT_EQ(LegacyWith("1.5E+2"), 7);
  // The window edge in fractions: 300.0 is kept (age <= 300), 300.000000001 (1 ns older) is not.
  EXPECT_EQ(LegacyWith("300.0"), 7);
  EXPECT_EQ(LegacyWith("300.000000001"), 2);
  EXPECT_EQ(LegacyWith("300.5"), 2);
  // The same through JSON.
  auto json = ParseHpaInput(
      R"({"hpa": {"spec": {"maxReplicas": 10}}, "current_replicas": 10, "desired_replicas": 2,
          "recommendations": [{"age_seconds": 299.75, "replicas": 7}]})",
      "in.json");
  ASSERT_TRUE(json.ok()) << json.error().message;
  EXPECT_EQ(json->recommendations[0].age_ns, 299'750'000'000);
  EXPECT_EQ(EvaluateHpa(*json)->desired_replicas, 7);
}

TEST(HpaAges, FractionalAgesInBehaviorWindowsAndPeriods) {
  // behavior: scaleDown window 60 s keeps recommendations younger than 60 s (age < window).
  std::string base =
      "hpa: {spec: {maxReplicas: 10, behavior: {scaleDown: {stabilizationWindowSeconds: 60}}}}\n"
      "current_replicas: 10\ndesired_replicas: 2\n";
  auto at = [&](const std::string& age) {
    auto in = ParseHpaInput(base + "recommendations: [{age_seconds: " + age + ", replicas: 7}]\n", "in.yaml");
    EXPECT_TRUE(in.ok()) << in.error().message;
    return in.ok() ? EvaluateHpa(*in)->desired_replicas : -1;
  };
  EXPECT_EQ(at("59.999"), 7);
  EXPECT_EQ(at("60.0"), 2);
  // scale_events over periodSeconds 15 (one policy: Pods 4 per 15 s): an event 14.5 s old still counts
  // (timestamp.After(now - period) <=> age < period), one 15.0 s old does not.
  std::string up =
      "hpa: {spec: {maxReplicas: 50, behavior: {scaleUp: {policies: [{type: Pods, value: 4, periodSeconds: 15}]}}}}\n"
      "current_replicas: 6\ndesired_replicas: 40\nrecommendations: []\n";
  auto ev = [&](const std::string& age) {
    auto in = ParseHpaInput(up + "scale_events: [{age_seconds: " + age + ", change: 4}]\n", "in.yaml");
    EXPECT_TRUE(in.ok()) << in.error().message;
    return in.ok() ? EvaluateHpa(*in)->desired_replicas : -1;
  };
  // Inside the period: the 6 replicas began the period at 6 - 4 = 2, so the limit is 2 + 4 = 6.
  EXPECT_EQ(ev("14.5"), 6);
  // Past it: the period starts at 6, the limit is 6 + 4 = 10.
  EXPECT_EQ(ev("15.0"), 10);
}

TEST(HpaAges, PodAgesTakeFractionsAndBadNumbersAreRefused) {
  auto in = ParseHpaInput(
      "hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 1\n"
      "pods: [{name: a, start_age_seconds: 12.5, ready_transition_age_seconds: 2.25, metric_age_seconds: 0.5, "
      "metric_window_seconds: 30.0, requests: {cpu: '1'}, usage: {cpu: 500m}}]\n",
      "in.yaml");
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(in->pods[0].start_age_ns, std::optional<int64_t>(12'500'000'000));
  EXPECT_EQ(in->pods[0].ready_transition_age_ns, std::optional<int64_t>(2'250'000'000));
  EXPECT_EQ(in->pods[0].metric_age_ns, 500'000'000);
  EXPECT_EQ(in->pods[0].metric_window_ns, 30'000'000'000);
  for (const char* bad : {"ten", "1m", "2Gi", ".inf", "1e", "--1", "1.2.3"}) {
    auto r = ParseHpaInput(std::string("hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 1\ndesired_replicas: 1\n"
                                       "recommendations: [{age_seconds: '") + bad + "', replicas: 1}]\n",
                           "in.yaml");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("recommendations[0].age_seconds: must be a number of seconds"), std::string::npos)
        << r.error().message;
  }
  auto neg = ParseHpaInput(
      "hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 1\nrecommendations: [{age_seconds: -0.5, replicas: 1}]\n",
      "in.yaml");
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.error().message.find("must be >= 0"), std::string::npos);
  auto huge = ParseHpaInput(
      "hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 1\nrecommendations: [{age_seconds: 1e300, replicas: 1}]\n",
      "in.yaml");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("out of range"), std::string::npos);
}

TEST(HpaScaleToZeroCli, FeatureGatesFlag) {
  testing::TempDir dir;
  std::string path = dir.Write("in.yaml", ZeroSpec("0", 3));
  auto refused = testing::RunAllot({"autoscale", "eval", path});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("HPAScaleToZero"), std::string::npos) << refused.err;
  auto r = testing::RunAllot({"autoscale", "eval", "--feature-gates", "HPAScaleToZero=true", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["desired_replicas"], 0);
  auto typo = testing::RunAllot({"autoscale", "eval", "--feature-gates", "HPAScaleToZero=maybe", path});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("--feature-gates: HPAScaleToZero: expected true or false"), std::string::npos) << typo.err;
}

}  // namespace
}  // namespace allot::autoscale
