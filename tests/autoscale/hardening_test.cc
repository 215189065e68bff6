// Hostile input to `allot autoscale eval|simulate` and `allot recommend` through the real binary
// (issue 13): a string that is not UTF-8 aborted the JSON output (nlohmann type_error 316); now the
// YAML and CSV inputs are checked where they are read, and each such input exits 2 naming file, line
// and field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot::testing {
namespace {

const std::string kEvalHead =
    "hpa:\n  spec:\n    minReplicas: 2\n    maxReplicas: 10\n    metrics:\n"
    "      - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}\n"
    "current_replicas: 3\npods:\n";

void ExpectRejected(const RunResult& r, const std::string& want) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out.substr(0, 200);
  EXPECT_NE(r.err.find(want), std::string::npos) << "want " << want << "\ngot " << r.err;
}

TEST(AutoscaleHardening, EvalRefusesInvalidUtf8) {
  TempDir dir;
  std::string f = dir.Write("in.yaml", kEvalHead +
                                           "  - {name: \"p\xff\", phase: Running, ready: true, requests: {cpu: \"1\"}, "
                                           "usage: {cpu: 900m}}\n");
  ExpectRejected(RunAllot({"autoscale", "eval", f}), "allot: autoscale eval: " + f + ":9: pods[0].name: invalid UTF-8 at byte 1");
  // A metric name that the decision echoes, given as JSON on stdin.
  RunResult r = RunAllot({"autoscale", "eval", "-"},
                         "{\"hpa\": {\"spec\": {\"maxReplicas\": 5, \"metrics\": [{\"type\": \"External\", \"external\": "
                         "{\"metric\": {\"name\": \"q\xc3\"}, \"target\": {\"type\": \"Value\", \"value\": \"10\"}}}]}},"
                         " \"current_replicas\": 1, \"external_metrics\": {\"q\xc3\": \"20\"}}");
  ExpectRejected(r, "allot: autoscale eval: <stdin>:1: hpa.spec.metrics[0].external.metric.name: invalid UTF-8 at byte 1");
}

TEST(AutoscaleHardening, EvalPrintsValidUtf8Names) {
  TempDir dir;
  std::string f = dir.Write("in.yaml", kEvalHead +
                                           "  - {name: \"p\xc3\xa4\", phase: Running, ready: true, requests: {cpu: \"1\"}, "
                                           "usage: {cpu: 900m}}\n");
  RunResult r = RunAllot({"autoscale", "eval", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // One ready pod at 900m of 1 vs 50 %: ceil(1.8 * 1) = 2, held at the current 3 by the legacy 300 s
  // downscale stabilization.
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["desired_replicas"], 3);
  EXPECT_EQ(j["metric_replicas"], 2);
}

TEST(AutoscaleHardening, OverflowingSumsWrapAsInGoInsteadOfTrapping) {
  // Was SIGFPE: requests (2^63-1) + (2^63-1) + 1 milli wrap to -1 and usage 2^61 * 100 wraps to
  // MinInt64; MinInt64 / -1 traps in C++. The controller's Go arithmetic wraps: MinInt64 / -1 is
  // MinInt64, int32 of it 0, so utilization 0 and 0 metric replicas.
  TempDir dir;
  std::string f = dir.Write(
      "in.yaml",
      "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
      "averageUtilization: 50}}}]}}\ncurrent_replicas: 3\npods:\n"
      "  - {name: p1, phase: Running, ready: true, requests: {cpu: 9223372036854775807m}, usage: {cpu: 2305843009213693952m}}\n"
      "  - {name: p2, phase: Running, ready: true, requests: {cpu: 9223372036854775807m}, usage: {cpu: \"0\"}}\n"
      "  - {name: p3, phase: Running, ready: true, requests: {cpu: 1m}, usage: {cpu: \"0\"}}\n");
  RunResult r = RunAllot({"autoscale", "eval", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metrics"][0]["current_utilization"], 0);
  EXPECT_EQ(j["metric_replicas"], 0);
}

TEST(AutoscaleHardening, SimulateRefusesInvalidUtf8) {
  TempDir dir;
  std::string hpa = dir.Write("hpa.yaml", "spec: {minReplicas: 1, maxReplicas: 4, metrics: [{type: Resource, resource: "
                                          "{name: cpu, target: {type: Utilization, averageUtilization: 50}}}]}\n");
  std::string csv = dir.Write("usage.csv", "time,cpu\xfe\n0,1\n30,2\n");
  ExpectRejected(RunAllot({"autoscale", "simulate", "--hpa", hpa, csv}),
                 "allot: autoscale simulate: " + csv + ":1: header: invalid UTF-8 at byte 3");
  std::string bad_hpa = dir.Write("bad.yaml", "spec: {maxReplicas: 4, \"m\xff\": 1}\n");
  ExpectRejected(RunAllot({"autoscale", "simulate", "--hpa", bad_hpa, csv}),
                 bad_hpa + ":1: spec.m\\xFF: invalid UTF-8 in the key at byte 1");
}

TEST(AutoscaleHardening, RecommendRefusesInvalidUtf8) {
  TempDir dir;
  std::string csv = dir.Write("usage.csv",
                              "time,namespace,workload,container,cpu,memory\n1700000000,shop,web,app,100m,64Mi\n"
                              "1700000060,shop,w\xe2\x82" "b,app,100m,64Mi\n");
  for (const char* format : {"json", "table"}) {
    ExpectRejected(RunAllot({"recommend", csv, "--format", format}),
                   "allot: recommend: " + csv + ":3: column workload: invalid UTF-8 at byte 1");
  }
  std::string good = dir.Write("good.csv", "time,namespace,workload,container,cpu,memory\n1700000000,shop,web,app,100m,64Mi\n");
  std::string manifests = dir.Write("web.yaml",
                                    "kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n"
                                    "    spec:\n      containers:\n        - {name: \"app\x80\", resources: {requests: {cpu: 1}}}\n");
  ExpectRejected(RunAllot({"recommend", good, "--manifests", manifests, "--format", "json"}),
                 manifests + ":7: spec.template.spec.containers[0].name: invalid UTF-8 at byte 3");
}

}  // namespace
}  // namespace allot::testing
