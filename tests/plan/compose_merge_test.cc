// `allot plan --compose A --compose B`: compose files merged in order as `docker compose -f A -f B` merges
// them (seed 003's docker-compose.yml + docker-compose.performance.yml), on the shared retail compose file.
#include <gtest/gtest.h>

#include <fstream>

#include "allot/plan.h"
#include "plan_test_util.h"
#include "support.h"

namespace allot::plan {
namespace {

using testing::FindWorkload;
using testing::kMi;
using testing::Of;

std::string Retail() { return allot::testing::SharedDir() + "/data/compose/retail-store-sample-app-docker-compose.yml"; }

class ComposeMerge : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  allot::testing::TempDir dir_;
};

TEST_F(ComposeMerge, AnOverrideFileChangesServicesInsteadOfCountingThemTwice) {
  // The override raises ui's memory, gives carts a deploy reservation and adds one service.
  std::string perf = Write("docker-compose.performance.yml", R"(
services:
  ui:
    mem_limit: 1g
  carts:
    deploy:
      resources:
        reservations: {cpus: "0.5", memory: 128M}
  loadgen:
    image: locust
    deploy:
      resources:
        limits: {memory: 256M}
)");
  LoadOptions one;
  one.compose_files = {Retail()};
  auto base = Load({}, one);
  ASSERT_TRUE(base.ok()) << base.error().message;
  Plan b = testing::PlanOrDie(*base, {});
  LoadOptions both;
  both.compose_files = {Retail(), perf};
  auto merged = Load({}, both);
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  Plan m = testing::PlanOrDie(*merged, {});
  EXPECT_EQ(m.workloads.size(), b.workloads.size() + 1);  // loadgen; nothing twice
  // Limits: 2368Mi in the base file; ui 512Mi -> 1Gi, plus loadgen's 256Mi: 2368 - 512 + 1024 + 256 = 3136Mi.
  EXPECT_EQ(Of(b.total_max.limits, "memory"), 2368 * kMi);
  EXPECT_EQ(Of(m.total_max.limits, "memory"), 3136 * kMi);
  // carts keeps its mem_limit (256m) from the base file and gains the override's reservation.
  const Workload& carts = FindWorkload(m, "carts");
  EXPECT_EQ(Of(carts.pod_limits, "memory"), 256 * kMi);
  EXPECT_EQ(Of(carts.pod_requests, "memory"), 128 * kMi);
  EXPECT_EQ(Of(carts.pod_requests, "cpu"), 500);
  // The same two files as separate inputs are two projects: every base service counted twice.
  auto separate = Load({Retail(), Retail()});
  ASSERT_TRUE(separate.ok());
  EXPECT_EQ(testing::PlanOrDie(*separate, {}).workloads.size(), 2 * b.workloads.size());
}

TEST_F(ComposeMerge, AnEmittedOverrideReadsBackAsTheTargets) {
  LoadOptions one;
  one.compose_files = {Retail()};
  auto base = Load({}, one);
  ASSERT_TRUE(base.ok()) << base.error().message;
  Plan b = testing::PlanOrDie(*base, {});
  // Seed 003's scale-up: limits only (reservations: half), and a row with both.
  TargetTable targets;
  ASSERT_TRUE(ParseTargets(R"(
targets:
  - workload: ui
    limits: {cpu: "4", memory: 8Gi}
  - workload: ComposeService/orders
    requests: {cpu: 250m, memory: 384Mi}
    limits: {cpu: 1500m, memory: 1Gi}
)", "targets.yaml", &targets).ok());
  auto text = RenderComposeOverride(b, targets);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_NE(text->find("cpus: '1.5'"), std::string::npos) << *text;
  std::string override_file = Write("docker-compose.override.yml", *text);
  LoadOptions both;
  both.compose_files = {Retail(), override_file};
  auto merged = Load({}, both);
  ASSERT_TRUE(merged.ok()) << merged.error().message << "\n" << *text;
  Plan m = testing::PlanOrDie(*merged, {});
  const Workload& ui = FindWorkload(m, "ui");
  EXPECT_EQ(Of(ui.pod_limits, "cpu"), 4000);
  EXPECT_EQ(Of(ui.pod_limits, "memory"), 8 * testing::kGi);
  EXPECT_EQ(Of(ui.pod_requests, "cpu"), 2000);  // half
  EXPECT_EQ(Of(ui.pod_requests, "memory"), 4 * testing::kGi);
  const Workload& orders = FindWorkload(m, "orders");
  EXPECT_EQ(Of(orders.pod_limits, "cpu"), 1500);
  EXPECT_EQ(Of(orders.pod_requests, "cpu"), 250);
  EXPECT_EQ(Of(orders.pod_requests, "memory"), 384 * kMi);
  EXPECT_EQ(m.workloads.size(), b.workloads.size());
  // Bad rows: no such service, a resource compose has not, a request above its limit.
  for (const char* bad : {"targets: [{workload: nope, limits: {cpu: '1'}}]\n",
                          "targets: [{workload: ui, limits: {gpu: '1'}}]\n",
                          "targets: [{workload: ui, requests: {cpu: '2'}, limits: {cpu: '1'}}]\n"}) {
    TargetTable t;
    ASSERT_TRUE(ParseTargets(bad, "t.yaml", &t).ok()) << bad;
    auto r = RenderComposeOverride(b, t);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("t.yaml:1"), std::string::npos) << r.error().message;
  }
}

TEST_F(ComposeMerge, ABadOverrideNamesItsOwnFileAndLine) {
  std::string bad = Write("bad.yml", "services:\n  ui:\n    mem_limit: lots\n");
  LoadOptions o;
  o.compose_files = {Retail(), bad};
  auto m = Load({}, o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("bad.yml:3"), std::string::npos) << m.error().message;
  std::string k8s = Write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n");
  o.compose_files = {Retail(), k8s};
  m = Load({}, o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("not a compose file"), std::string::npos) << m.error().message;
  o.compose_files = {Retail(), dir_.path() + "/missing.yml"};
  EXPECT_FALSE(Load({}, o).ok());
}

}  // namespace
}  // namespace allot::plan
