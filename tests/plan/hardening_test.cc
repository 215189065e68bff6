// Hostile input to `allot plan` through the real binary (issue 13): a name that is not UTF-8 aborted
// `--format json` (nlohmann type_error 316); now every key and string of a manifest, compose file or
// --config is checked where the file is read (exit 2 naming file, line and key path), and what is
// printed never aborts (a file name that is not UTF-8 is written with U+FFFD).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot::plan {
namespace {

using allot::testing::RunAllot;
using allot::testing::RunResult;
using allot::testing::TempDir;

std::string Deployment(const std::string& name, const std::string& container = "app") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: \"" + name + "\", namespace: shop}\nspec:\n"
         "  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: \"" + container +
         "\"\n          resources: {requests: {cpu: 100m, memory: 64Mi}}\n";
}

void ExpectRejected(const RunResult& r, const std::string& want) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out.substr(0, 200);
  EXPECT_NE(r.err.find(want), std::string::npos) << "want " << want << "\ngot " << r.err;
}

TEST(PlanHardening, InvalidUtf8NameInAManifestExitsTwo) {
  TempDir dir;
  std::string f = dir.Write("m.yaml", Deployment("web\xff"));
  for (const char* format : {"json", "table", "markdown"}) {
    ExpectRejected(RunAllot({"plan", f, "--format", format}),
                   "allot: plan: " + f + ":3: metadata.name: invalid UTF-8 at byte 3");
  }
  // In a later document, in a container name, and in a key.
  f = dir.Write("m2.yaml", Deployment("ok") + "---\n" + Deployment("ok2", "c\xc3"));
  ExpectRejected(RunAllot({"plan", f, "--format", "json"}),
                 f + ":20: spec.template.spec.containers[0].name: invalid UTF-8 at byte 1");
  f = dir.Write("m3.yaml", "kind: Pod\nmetadata: {name: p, labels: {\"\xe2\x82\": x}}\n");
  ExpectRejected(RunAllot({"plan", f, "--emit", "patch"}), f + ":2: metadata.labels.\\xE2\\x82: invalid UTF-8 in the key");
}

TEST(PlanHardening, InvalidUtf8InComposeAndConfigExitsTwo) {
  TempDir dir;
  std::string compose = dir.Write("compose.yaml",
                                  "services:\n  \"w\xfe\":\n    image: nginx\n    deploy: {resources: {limits: {cpus: '0.5'}}}\n");
  ExpectRejected(RunAllot({"plan", compose, "--format", "json"}), compose + ":2: services.w\\xFE: invalid UTF-8 in the key");
  std::string ok = dir.Write("ok.yaml", Deployment("web"));
  std::string config = dir.Write("config.yaml", "environments:\n  prod:\n    cpu: \"1.5\xff\"\n");
  ExpectRejected(RunAllot({"plan", ok, "--config", config, "--format", "json"}),
                 config + ":3: environments.prod.cpu: invalid UTF-8 at byte 3");
}

TEST(PlanHardening, ValidUtf8IsPrinted) {
  TempDir dir;
  RunResult r = RunAllot({"plan", dir.Write("m.yaml", Deployment("caf\xc3\xa9")), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["workloads"][0]["name"], "caf\xc3\xa9");
}

TEST(PlanHardening, AFileNameThatIsNotUtf8IsPrintedWithReplacement) {
  // Names come from the directory listing, not from the file: they are printed, with U+FFFD.
  TempDir dir;
  dir.Write("web\xff.yaml", Deployment("web"));
  RunResult r = RunAllot({"plan", dir.path(), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["workloads"].size(), 1u);
  EXPECT_NE(j["workloads"][0]["source"].get<std::string>().find("web\xef\xbf\xbd.yaml:"), std::string::npos)
      << j["workloads"][0]["source"];
}

std::string Replicas(const std::string& n, const std::string& cpu = "100m") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: " + n +
         "\n  template:\n    spec:\n      containers:\n        - {name: app, resources: {requests: {cpu: \"" + cpu +
         "\", memory: 64Mi}}}\n";
}

TEST(PlanHardening, HugeReplicaCountsNeitherHangNorWrap) {
  TempDir dir;
  // Sizing placed pods one by one, rescanning every full node for each: 10^6 replicas ran for minutes,
  // 2^63 - 1 forever. Now full nodes leave an item's candidates (10^6 pods of 100m on 8-cpu nodes:
  // 80 a node, 12500 nodes) and more than 10^7 pods are refused.
  RunResult r = RunAllot({"plan", dir.Write("m.yaml", Replicas("1000000")), "--format", "json", "--node-shape",
                          "cpu=8,memory=16Gi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["sizing"]["max"]["nodes"], 12500);
  r = RunAllot({"plan", dir.Write("huge.yaml", Replicas("9223372036854775807")), "--format", "json", "--node-shape",
                "cpu=8,memory=16Gi"});
  ExpectRejected(r, "allot: plan: sizing: 9223372036854775807 pods at max replicas; --node-shape sizes at most 10000000");
  // Without sizing the totals saturate at 2^63 - 1 instead of wrapping negative: 9e15 cores a pod.
  r = RunAllot({"plan", dir.Write("big.yaml", Replicas("9223372036854775807", "9000T")), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["totals"]["max"]["requests"]["cpu"], INT64_MAX) << j["totals"];
}

TEST(PlanHardening, AliasCycleAndBombEndWithAnError) {
  TempDir dir;
  std::string f = dir.Write("cycle.yaml", "kind: List\nitems: &i [{kind: List, items: *i}]\n");
  RunResult r = RunAllot({"plan", f, "--format", "json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("a cycle"), std::string::npos) << r.err;
  std::string bomb = "kind: ConfigMap\ndata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; i++) {
    bomb += "  a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; k++) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  r = RunAllot({"plan", dir.Write("bomb.yaml", bomb), "--format", "json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("too many nodes (aliases)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace allot::plan
