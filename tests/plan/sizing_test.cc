// Node sizing: GPU placement, lower bounds, headroom, HA spreading, count limits, per-node workloads.
#include <gtest/gtest.h>

#include "allot/plan.h"
#include "plan_test_util.h"
#include "support.h"

namespace allot::plan {
namespace {

using testing::Of;

NodeShape Shape(const std::string& text) {
  auto s = ParseNodeShape(text);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : NodeShape{};
}

Workload Pods(const std::string& name, int64_t cpu_milli, int64_t mem_mi, int64_t replicas, int64_t gpu = 0) {
  Workload w;
  w.kind = "Deployment";
  w.name = name;
  w.ns = "default";
  w.replicas = w.min_replicas = w.max_replicas = replicas;
  w.pod_requests = {{"cpu", cpu_milli}, {"memory", mem_mi * testing::kMi}};
  if (gpu > 0) w.pod_requests["gpu"] = gpu * 1000;
  return w;
}

int64_t NodesOf(const SizingResult& r, const std::string& shape) {
  for (const auto& b : r.by_shape) {
    if (b.shape == shape) return b.nodes;
  }
  return 0;
}

TEST(SizingTest, GpuPodsGetGpuNodesAndCpuPodsStayOff) {
  SizingOptions o;
  o.shapes = {Shape("cpu=8,memory=32Gi,name=cpu"), Shape("cpu=8,memory=64Gi,gpu=1,name=gpu")};
  // 2 GPU pods (1 GPU each) need 2 GPU nodes; 12 pods × 1 cpu = 12 cpu need ceil(12 / 8) = 2 CPU nodes.
  std::vector<Workload> ws = {Pods("train", 2000, 4096, 2, 1), Pods("web", 1000, 1024, 12)};
  SizingResult r = SizeCluster(ws, true, o);
  EXPECT_EQ(NodesOf(r, "gpu"), 2);
  EXPECT_EQ(NodesOf(r, "cpu"), 2);
  EXPECT_EQ(r.nodes, 4);
  EXPECT_TRUE(r.unplaced.empty());
  // Allowing CPU pods on GPU nodes: the 2 GPU nodes have 2 × (8 - 2) = 12 cpu spare, enough for the 12 web pods.
  o.gpu_nodes_shared = true;
  EXPECT_EQ(SizeCluster(ws, true, o).nodes, 2);
}

TEST(SizingTest, LowerBoundAndUtilisation) {
  SizingOptions o;
  o.shapes = {Shape("cpu=4,memory=16Gi")};
  // 10 pods × 1500m = 15000m; 1500m pods fit 2 per 4-cpu node (3000m), so 5 nodes; the lower bound is
  // ceil(15000 / 4000) = 4 (fractional packing).
  SizingResult r = SizeCluster({Pods("a", 1500, 1024, 10)}, true, o);
  EXPECT_EQ(r.nodes, 5);
  EXPECT_EQ(r.lower_bound, 4);
  // cpu utilisation: 15000 / (5 × 4000) = 75%; memory 10 × 1Gi / (5 × 16Gi) = 12.5%.
  EXPECT_DOUBLE_EQ(r.utilization["cpu"], 75.0);
  EXPECT_DOUBLE_EQ(r.utilization["memory"], 12.5);
}

TEST(SizingTest, MinAndMaxReplicasSizeSeparately) {
  SizingOptions o;
  o.shapes = {Shape("cpu=4,memory=16Gi")};
  Workload w = Pods("web", 1000, 512, 2);
  w.max_replicas = 9;
  // min: 2 × 1 cpu -> 1 node; max: 9 cpu -> ceil(9 / 4) = 3 nodes.
  EXPECT_EQ(SizeCluster({w}, false, o).nodes, 1);
  EXPECT_EQ(SizeCluster({w}, true, o).nodes, 3);
}

TEST(SizingTest, HeadroomKeepsCapacityFree) {
  SizingOptions o;
  o.shapes = {Shape("cpu=8,memory=32Gi")};
  std::vector<Workload> ws = {Pods("a", 1000, 1024, 8)};
  // 8 cpu fit one 8-cpu node; with 25% headroom only 6 cpu are usable per node -> 2 nodes.
  EXPECT_EQ(SizeCluster(ws, true, o).nodes, 1);
  o.headroom = 0.25;
  EXPECT_EQ(SizeCluster(ws, true, o).nodes, 2);
}

TEST(SizingTest, HaSpreadsReplicasOverTwoNodes) {
  SizingOptions o;
  o.shapes = {Shape("cpu=8,memory=32Gi")};
  std::vector<Workload> ws = {Pods("a", 500, 512, 3)};
  EXPECT_EQ(SizeCluster(ws, true, o).nodes, 1);
  o.ha = true;
  EXPECT_EQ(SizeCluster(ws, true, o).nodes, 2);
}

TEST(SizingTest, CountLimitFallsBackToAnotherShapeOrUnplaced) {
  SizingOptions o;
  o.shapes = {Shape("cpu=4,memory=16Gi,count=1,name=small,cost=1"), Shape("cpu=8,memory=64Gi,name=big,cost=5")};
  // 12 × 1 cpu: one small node (the count limit) takes 4 pods, one big node the other 8: cost 1 + 5 = 6,
  // cheaper than two big nodes (10).
  SizingResult r = SizeCluster({Pods("a", 1000, 1024, 12)}, true, o);
  EXPECT_EQ(NodesOf(r, "small"), 1);
  EXPECT_EQ(NodesOf(r, "big"), 1);
  EXPECT_DOUBLE_EQ(r.cost, 6.0);
  // 6 pods fit one big node (cost 5), cheaper than small + big (6).
  SizingResult six = SizeCluster({Pods("a", 1000, 1024, 6)}, true, o);
  EXPECT_EQ(six.nodes, 1);
  EXPECT_DOUBLE_EQ(six.cost, 5.0);
  // A 32-cpu pod fits no shape.
  SizingResult u = SizeCluster({Pods("huge", 32000, 1024, 1)}, true, o);
  ASSERT_EQ(u.unplaced.size(), 1u);
  EXPECT_EQ(u.unplaced[0], "default/huge");
}

TEST(SizingTest, GpuPodWithoutGpuShapeIsUnplaced) {
  SizingOptions o;
  o.shapes = {Shape("cpu=8,memory=32Gi")};
  SizingResult r = SizeCluster({Pods("train", 1000, 1024, 1, 1)}, true, o);
  EXPECT_EQ(r.unplaced.size(), 1u);
  EXPECT_EQ(r.nodes, 0);
}

TEST(SizingTest, DaemonSetsTakeTheirShareOnEveryNodeAndCountNodes) {
  Manifests m = testing::LoadOrDie(R"(
kind: DaemonSet
metadata: {name: agent}
spec:
  template: {spec: {containers: [{name: a, resources: {requests: {cpu: 1, memory: 1Gi}}}]}}
---
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  template: {spec: {containers: [{name: w, resources: {requests: {cpu: 1, memory: 1Gi}}}]}}
)");
  PlanOptions o;
  o.sizing.shapes = {Shape("cpu=4,memory=16Gi")};
  Plan p = testing::PlanOrDie(m, o);
  // Each node keeps 1 cpu for the agent, leaving 3 for web pods: ceil(6 / 3) = 2 nodes, so 2 agent pods.
  EXPECT_EQ(p.sizing.at_max.nodes, 2);
  EXPECT_EQ(testing::FindWorkload(p, "agent").max_replicas, 2);
  // cpu requests at max: 6 × 1 + 2 × 1 = 8 cpu.
  EXPECT_EQ(Of(p.total_max.requests, "cpu"), 8000);
  // An explicit node count wins.
  o.daemonset_nodes = 7;
  Plan q = testing::PlanOrDie(m, o);
  EXPECT_EQ(testing::FindWorkload(q, "agent").max_replicas, 7);
}

}  // namespace
}  // namespace allot::plan

namespace allot::plan {
namespace {

TEST(SizingExtraTest, OnlyGpuShapesTakeEveryPod) {
  SizingOptions o;
  o.shapes = {Shape("cpu=8,memory=32Gi,gpu=2")};
  // No GPU-free shape: the CPU pods must go on GPU nodes. 1 GPU pod + 6 × 1 cpu = 8 cpu -> 1 node.
  SizingResult r = SizeCluster({Pods("train", 2000, 1024, 1, 1), Pods("web", 1000, 1024, 6)}, true, o);
  EXPECT_TRUE(r.unplaced.empty());
  EXPECT_EQ(r.nodes, 1);
}

TEST(SizingExtraTest, LowerBoundAddsGpuAndCpuGroupsWhenGpuNodesAreReserved) {
  SizingOptions o;
  o.shapes = {Shape("cpu=8,memory=32Gi,name=cpu"), Shape("cpu=32,memory=128Gi,gpu=4,name=gpu")};
  // GPU group: 8 GPUs / 4 per node = 2 nodes. CPU group: 20 × 1 cpu over 8-cpu nodes = 3 nodes. Reserved GPU
  // nodes make the groups disjoint: bound 2 + 3 = 5 (the shared bound, 28 cpu / 32, would say only 2).
  SizingResult r = SizeCluster({Pods("train", 1000, 1024, 8, 1), Pods("web", 1000, 1024, 20)}, true, o);
  EXPECT_EQ(r.lower_bound, 5);
  EXPECT_EQ(r.nodes, 5);
}

}  // namespace
}  // namespace allot::plan
