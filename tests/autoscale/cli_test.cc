// The `allot autoscale` and `allot recommend` commands driven through the real binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot::testing {
namespace {

TEST(AutoscaleCli, EvalJsonInputPrintsDecision) {
  TempDir dir;
  // 3 pods at 800m of 1 cpu vs 50 %: utilization 80, ratio 1.6; ceil(1.6*3) = 5 (limit max(6, 4) = 6).
  std::string input = R"({"hpa": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
      "minReplicas": 2, "maxReplicas": 10,
      "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}},
    "current_replicas": 3,
    "pods": [{"name": "p1", "phase": "Running", "ready": true, "requests": {"cpu": "1"}, "usage": {"cpu": "800m"}},
             {"name": "p2", "phase": "Running", "ready": true, "requests": {"cpu": "1"}, "usage": {"cpu": "800m"}},
             {"name": "p3", "phase": "Running", "ready": true, "requests": {"cpu": "1"}, "usage": {"cpu": "800m"}}]})";
  auto r = RunAllot({"autoscale", "eval", dir.Write("in.json", input)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["desired_replicas"], 5);
  EXPECT_EQ(j["metrics"][0]["current_utilization"], 80);
  EXPECT_EQ(j["per_metric"], j["metrics"]);
  EXPECT_TRUE(j["limited_by"].is_null());
  EXPECT_NE(j["reason"].get<std::string>().find("above target"), std::string::npos);
}

TEST(AutoscaleCli, EvalFromStdinAndDesiredReplicas) {
  auto r = RunAllot({"autoscale", "eval", "-"},
                    "hpa: {spec: {maxReplicas: 10, behavior: {}}}\ncurrent_replicas: 10\ndesired_replicas: 2\n"
                    "recommendations: [{age_seconds: 60, replicas: 7}]\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // max(2, 7) = 7 within the 300 s window; the default Percent 100 % policy lets it go down to 7.
  EXPECT_EQ(nlohmann::json::parse(r.out)["desired_replicas"], 7);
}

TEST(AutoscaleCli, BadInputExitsTwo) {
  TempDir dir;
  auto r = RunAllot({"autoscale", "eval", dir.Write("bad.yaml", "hpa: {spec: {minReplicas: 4, maxReplicas: 2}}\ncurrent_replicas: 3\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("allot: autoscale eval: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:1: hpa.spec.minReplicas"), std::string::npos) << r.err;
  r = RunAllot({"autoscale", "eval", dir.path() + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunAllot({"autoscale", "eval", dir.Write("nometric.yaml", "hpa: {spec: {maxReplicas: 2}}\ncurrent_replicas: 1\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no usable metric"), std::string::npos) << r.err;
  r = RunAllot({"autoscale", "eval", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: allot autoscale eval"), std::string::npos);
}

}  // namespace
}  // namespace allot::testing
