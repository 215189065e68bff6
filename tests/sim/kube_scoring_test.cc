// kube-scheduler's own scoring tables (pkg/scheduler/framework/plugins/noderesources/*_test.go) replayed
// through `allot sim --explain --json`. Existing pods with explicit requests become the node's
// `allocated`; kube's container-less "nothing requested" pod is a request of explicit zeros (no non-zero
// defaults apply to explicit values). Node capacities keep kube's numbers: "4000" cpu is 4000 cores.
#include <gtest/gtest.h>

#include "sim_helpers.h"

namespace allot::testing {
namespace {

// Two nodes and one probe request `p` submitted at t=1, scored with --explain.
Scores ProbeScores(const std::string& policy, const std::string& nodes, const std::string& request,
                   const std::string& before = "") {
  std::string yaml = "policy: " + policy + "\nnodes:\n" + nodes + "events:\n" + before +
                     "  - {at: 1, submit: {id: p, requests: " + request + "}}\n";
  SimRun r = RunSim(yaml, /*explain=*/true);
  EXPECT_EQ(r.exit_code, 0) << r.err << "\n" << yaml;
  return ScoresOf(r.out, "p");
}

const char* kLeast = "{scoring: least-allocated}";
const char* kMost = "{scoring: most-allocated}";
const char* kBalanced = "{scoring: balanced-allocation}";

// ---- least_allocated_test.go ----

TEST(KubeLeastAllocated, NothingScheduledDifferentlySizedNodes) {
  // node1: cpu (4000-3000)*100/4000 = 25, memory (10000-5000)*100/10000 = 50 -> (25+50)/2 = 37
  // node2: cpu (6000-3000)*100/6000 = 50, memory 50 -> 50
  EXPECT_EQ(ProbeScores(kLeast,
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 37}, {"node2", 50}}));
}

TEST(KubeLeastAllocated, NoResourcesRequestedPodsScheduledWithResources) {
  // node1: cpu (10000-6000)*100/10000 = 40, memory (20000-0)*100/20000 = 100 -> (40+100)/2 = 70
  // node2: cpu 40, memory (20000-5000)*100/20000 = 75 -> (40+75)/2 = 57
  EXPECT_EQ(ProbeScores(kLeast,
                        "  - {name: node1, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"6000\", memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"6000\", memory: \"5000\"}}\n",
                        "{cpu: \"0\", memory: \"0\"}"),
            (Scores{{"node1", 70}, {"node2", 57}}));
}

TEST(KubeLeastAllocated, ResourcesRequestedPodsScheduledWithResources) {
  // node1: cpu (10000-6000)*100/10000 = 40, memory (20000-5000)*100/20000 = 75 -> 57
  // node2: cpu 40, memory (20000-10000)*100/20000 = 50 -> 45
  EXPECT_EQ(ProbeScores(kLeast,
                        "  - {name: node1, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"3000\", memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"3000\", memory: \"5000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 57}, {"node2", 45}}));
}

TEST(KubeLeastAllocated, DifferentlySizedNodesWithPods) {
  // node1: 40, 75 -> 57; node2: cpu 40, memory (50000-10000)*100/50000 = 80 -> 60
  EXPECT_EQ(ProbeScores(kLeast,
                        "  - {name: node1, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"3000\", memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"10000\", memory: \"50000\"}, allocated: {cpu: \"3000\", memory: \"5000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 57}, {"node2", 60}}));
}

TEST(KubeLeastAllocated, Weights) {
  // node1: cpu 25, memory 50 -> (25*1 + 50*2)/3 = 125/3 = 41; node2: (50*1 + 50*2)/3 = 50
  EXPECT_EQ(ProbeScores("{scoring: least-allocated, weights: {memory: 2, cpu: 1}}",
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 41}, {"node2", 50}}));
}

TEST(KubeLeastAllocated, ExtendedResourceNotRequestedIsBypassed) {
  // example.com/foo is not requested: skipped. Both nodes: cpu 50, memory 50 -> 50
  EXPECT_EQ(ProbeScores("{scoring: least-allocated, weights: {cpu: 1, memory: 1, example.com/foo: 1}}",
                        "  - {name: node1, capacity: {cpu: \"6000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"4\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 50}, {"node2", 50}}));
}

TEST(KubeLeastAllocated, ExtendedResourceRequestedIsHonored) {
  // foo: node1 (4-2)*100/4 = 50, node2 (10-2)*100/10 = 80
  // node1 (50+50+50)/3 = 50; node2 (50+50+80)/3 = 60
  EXPECT_EQ(ProbeScores("{scoring: least-allocated, weights: {cpu: 1, memory: 1, example.com/foo: 1}}",
                        "  - {name: node1, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"4\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"10\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\", example.com/foo: \"2\"}"),
            (Scores{{"node1", 50}, {"node2", 60}}));
}

TEST(KubeLeastAllocated, NodeWithoutTheResource) {
  // foo (weight 2) is not requested: skipped. cpu (6000-3000)*100/6000 = 50, memory (10000-4000)*100/10000 = 60
  // -> (50+60)/2 = 55 on both
  EXPECT_EQ(ProbeScores("{scoring: least-allocated, weights: {example.com/foo: 2, cpu: 1, memory: 1}}",
                        "  - {name: node1, capacity: {cpu: \"6000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"4\"}}\n",
                        "{cpu: \"3000\", memory: \"4000\"}"),
            (Scores{{"node1", 55}, {"node2", 55}}));
}

TEST(KubeLeastAllocated, NonZeroDefaultsAndClamping) {
  // Same cluster as most_allocated_test.go's "nonzero request for resource": two request-less pods on
  // node1, so its non-zero requested cpu is 2*100m + 100m (probe) = 300m > 250m -> clamped: cpu score 0;
  // memory 3*200Mi = 600Mi of 1000Mi -> (1000-600)*100/1000 = 40 -> node1 (0+40)/2 = 20.
  // node2: cpu (250-100)*100/250 = 60, memory (1000-200)*100/1000 = 80 -> 70
  EXPECT_EQ(ProbeScores(kLeast,
                        "  - {name: node1, capacity: {cpu: 250m, memory: 1000Mi}, labels: {n: \"1\"}}\n"
                        "  - {name: node2, capacity: {cpu: 250m, memory: 1000Mi}}\n",
                        "{ephemeral-storage: \"0\"}",
                        "  - {at: 0, submit: {id: e1, requests: {ephemeral-storage: \"0\"}, selector: {n: \"1\"}}}\n"
                        "  - {at: 0, submit: {id: e2, requests: {ephemeral-storage: \"0\"}, selector: {n: \"1\"}}}\n"),
            (Scores{{"node1", 20}, {"node2", 70}}));
}

// ---- most_allocated_test.go ----

TEST(KubeMostAllocated, NothingScheduledDifferentlySizedNodes) {
  // node1: cpu 3000*100/4000 = 75, memory 5000*100/10000 = 50 -> (75+50)/2 = 62
  // node2: cpu 3000*100/6000 = 50, memory 50 -> 50
  EXPECT_EQ(ProbeScores(kMost,
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 62}, {"node2", 50}}));
}

TEST(KubeMostAllocated, NoResourcesRequestedPodsScheduledWithResources) {
  // node1: cpu 6000*100/10000 = 60, memory 0 -> 30; node2: cpu 60, memory 5000*100/20000 = 25 -> 85/2 = 42
  EXPECT_EQ(ProbeScores(kMost,
                        "  - {name: node1, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"6000\", memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"6000\", memory: \"5000\"}}\n",
                        "{cpu: \"0\", memory: \"0\"}"),
            (Scores{{"node1", 30}, {"node2", 42}}));
}

TEST(KubeMostAllocated, ResourcesRequestedPodsScheduledWithResources) {
  // node1: cpu 6000*100/10000 = 60, memory 5000*100/20000 = 25 -> 42
  // node2: cpu 60, memory 10000*100/20000 = 50 -> 55
  EXPECT_EQ(ProbeScores(kMost,
                        "  - {name: node1, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"3000\", memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"10000\", memory: \"20000\"}, allocated: {cpu: \"3000\", memory: \"5000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 42}, {"node2", 55}}));
}

TEST(KubeMostAllocated, RequestsEqualNodeCapacity) {
  // node1: cpu 5000*100/5000 = 100, memory 9000*100/10000 = 90 -> 95
  // node2: cpu 5000*100/10000 = 50, memory 9000*100/9000 = 100 -> 75
  EXPECT_EQ(ProbeScores(kMost,
                        "  - {name: node1, capacity: {cpu: \"5000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"10000\", memory: \"9000\"}}\n",
                        "{cpu: \"5000\", memory: \"9000\"}"),
            (Scores{{"node1", 95}, {"node2", 75}}));
}

TEST(KubeMostAllocated, Weights) {
  // node1: (75*1 + 50*2)/3 = 175/3 = 58; node2: (50*1 + 50*2)/3 = 50
  EXPECT_EQ(ProbeScores("{scoring: most-allocated, weights: {memory: 2, cpu: 1}}",
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 58}, {"node2", 50}}));
}

TEST(KubeMostAllocated, NonZeroRequestForResource) {
  // Request-less pods count 100m cpu and 200Mi memory. node1 holds two, plus the probe:
  // cpu 300m of 250m -> clamped to 100; memory 600Mi*100/1000Mi = 60 -> (100+60)/2 = 80
  // node2 (probe only): cpu 100*100/250 = 40, memory 200*100/1000 = 20 -> 30
  EXPECT_EQ(ProbeScores(kMost,
                        "  - {name: node1, capacity: {cpu: 250m, memory: 1000Mi}, labels: {n: \"1\"}}\n"
                        "  - {name: node2, capacity: {cpu: 250m, memory: 1000Mi}}\n",
                        "{ephemeral-storage: \"0\"}",
                        "  - {at: 0, submit: {id: e1, requests: {ephemeral-storage: \"0\"}, selector: {n: \"1\"}}}\n"
                        "  - {at: 0, submit: {id: e2, requests: {ephemeral-storage: \"0\"}, selector: {n: \"1\"}}}\n"),
            (Scores{{"node1", 80}, {"node2", 30}}));
}

TEST(KubeMostAllocated, ExtendedResources) {
  // Not requested: bypassed -> cpu 50, memory 50 -> 50 on both.
  EXPECT_EQ(ProbeScores("{scoring: most-allocated, weights: {cpu: 1, memory: 1, example.com/foo: 1}}",
                        "  - {name: node1, capacity: {cpu: \"6000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"4\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 50}, {"node2", 50}}));
  // Requested: foo node1 2*100/4 = 50 -> (50+50+50)/3 = 50; node2 2*100/10 = 20 -> (50+50+20)/3 = 40
  EXPECT_EQ(ProbeScores("{scoring: most-allocated, weights: {cpu: 1, memory: 1, example.com/foo: 1}}",
                        "  - {name: node1, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"4\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"10\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\", example.com/foo: \"2\"}"),
            (Scores{{"node1", 50}, {"node2", 40}}));
  // Node without the resource, foo weight 2 but not requested: cpu 3000*100/6000 = 50,
  // memory 4000*100/10000 = 40 -> 45 on both.
  EXPECT_EQ(ProbeScores("{scoring: most-allocated, weights: {example.com/foo: 2, cpu: 1, memory: 1}}",
                        "  - {name: node1, capacity: {cpu: \"6000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\", example.com/foo: \"4\"}}\n",
                        "{cpu: \"3000\", memory: \"4000\"}"),
            (Scores{{"node1", 45}, {"node2", 45}}));
}

// ---- balanced_allocation_test.go (makeNode: cpu in millicores, memory in bytes) ----

TEST(KubeBalancedAllocation, NothingScheduledDifferentlySizedNodes) {
  // node1: cpu 3000/4000 = 0.75, memory 5000/10000 = 0.5, std |0.75-0.5|/2 = 0.125 -> (1-0.125)*100 = 87
  // node2: 3000/6000 = 0.5, 0.5 -> std 0 -> 100
  EXPECT_EQ(ProbeScores(kBalanced,
                        "  - {name: node1, capacity: {cpu: 4000m, memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: 6000m, memory: \"10000\"}}\n",
                        "{cpu: 3000m, memory: \"5000\"}"),
            (Scores{{"node1", 87}, {"node2", 100}}));
}

TEST(KubeBalancedAllocation, PodsScheduledWithResources) {
  // node1 (cpuOnly there): cpu 6000/10000 = 0.6, memory 5000/20000 = 0.25, std 0.175 -> 82
  // node2 (cpuAndMemory there): 0.6, 10000/20000 = 0.5, std 0.05 -> 95
  EXPECT_EQ(ProbeScores(kBalanced,
                        "  - {name: node1, capacity: {cpu: 10000m, memory: \"20000\"}, allocated: {cpu: 3000m, memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: 10000m, memory: \"20000\"}, allocated: {cpu: 3000m, memory: \"5000\"}}\n",
                        "{cpu: 3000m, memory: \"5000\"}"),
            (Scores{{"node1", 82}, {"node2", 95}}));
  // node2 with 50000 memory: 0.6, 10000/50000 = 0.2, std 0.2 -> 80
  EXPECT_EQ(ProbeScores(kBalanced,
                        "  - {name: node1, capacity: {cpu: 10000m, memory: \"20000\"}, allocated: {cpu: 3000m, memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: 10000m, memory: \"50000\"}, allocated: {cpu: 3000m, memory: \"5000\"}}\n",
                        "{cpu: 3000m, memory: \"5000\"}"),
            (Scores{{"node1", 82}, {"node2", 80}}));
}

TEST(KubeBalancedAllocation, RequestedResourcesAtNodeCapacity) {
  // cpuOnly probe (3000m, memory 0). node1: cpu 6000/6000 = 1, memory 0 -> std 0.5 -> 50
  // node2: cpu 1, memory 5000/10000 = 0.5 -> std 0.25 -> 75
  EXPECT_EQ(ProbeScores(kBalanced,
                        "  - {name: node1, capacity: {cpu: 6000m, memory: \"10000\"}, allocated: {cpu: 3000m, memory: \"0\"}}\n"
                        "  - {name: node2, capacity: {cpu: 6000m, memory: \"10000\"}, allocated: {cpu: 3000m, memory: \"5000\"}}\n",
                        "{cpu: 3000m, memory: \"0\"}"),
            (Scores{{"node1", 50}, {"node2", 75}}));
}

TEST(KubeBalancedAllocation, ThreeResourcesWithGpu) {
  // node1: cpu 3000/3500 = 0.8571, memory 5000/40000 = 0.125, gpu (3+1)/8 = 0.5; mean 0.4940;
  //   std sqrt((0.3631^2 + 0.3690^2 + 0.0060^2)/3) = 0.2989 -> (1-0.2989)*100 = 70
  // node2: 0.8571, 0.125, gpu 1/8 = 0.125; mean 0.3690; std sqrt((0.4881^2 + 2*0.2440^2)/3) = 0.3451 -> 65
  EXPECT_EQ(ProbeScores("{scoring: balanced-allocation, weights: {cpu: 1, memory: 1, nvidia.com/gpu: 1}}",
                        "  - {name: node1, capacity: {cpu: 3500m, memory: \"40000\", nvidia.com/gpu: 8},"
                        " allocated: {cpu: 3000m, memory: \"5000\", nvidia.com/gpu: 3}}\n"
                        "  - {name: node2, capacity: {cpu: 3500m, memory: \"40000\", nvidia.com/gpu: 8},"
                        " allocated: {cpu: 3000m, memory: \"5000\"}}\n",
                        "{memory: \"0\", nvidia.com/gpu: \"1\"}"),
            (Scores{{"node1", 70}, {"node2", 65}}));
}

TEST(KubeBalancedAllocation, NodeWithoutScalarResourceSkipsIt) {
  // gpu not requested: skipped. cpu 3000/3500 = 0.8571, memory 5000/40000 = 0.125,
  // std (0.8571-0.125)/2 = 0.3661 -> 63 on both
  EXPECT_EQ(ProbeScores("{scoring: balanced-allocation, weights: {cpu: 1, memory: 1, nvidia.com/gpu: 1}}",
                        "  - {name: node1, capacity: {cpu: 3500m, memory: \"40000\", nvidia.com/gpu: 8}}\n"
                        "  - {name: node2, capacity: {cpu: 3500m, memory: \"40000\"}}\n",
                        "{cpu: 3000m, memory: \"5000\"}"),
            (Scores{{"node1", 63}, {"node2", 63}}));
}

TEST(KubeBalancedAllocation, UsesActualRequestsNotDefaults) {
  // A probe without a memory request counts 0 memory here (balanced allocation uses actual requests).
  // node1: cpu 500m/1000m = 0.5, memory 0 -> std 0.25 -> 75; node2: cpu 500m/2000m = 0.25, memory 0 ->
  // std 0.125 -> 87. (With the 200Mi default, node1 would be |0.5 - 200Mi/1Gi = 0.1953|/2 = 0.1523 -> 84.)
  EXPECT_EQ(ProbeScores(kBalanced,
                        "  - {name: node1, capacity: {cpu: 1000m, memory: 1Gi}}\n"
                        "  - {name: node2, capacity: {cpu: 2000m, memory: 1Gi}}\n",
                        "{cpu: 500m}"),
            (Scores{{"node1", 75}, {"node2", 87}}));
}

// ---- requested_to_capacity_ratio_test.go ----

TEST(KubeRequestedToCapacityRatio, LeastRequestedShape) {
  // shape {0,10},{100,0} scaled x10: score = 100 - utilization.
  // node1: cpu 3000*100/4000 = 75 -> 25, memory 50 -> 50; round((25+50)/2 = 37.5) = 38
  // node2: cpu 50 -> 50, memory 50 -> 50 -> 50
  const char* policy = "{scoring: requested-to-capacity-ratio, shape: [{utilization: 0, score: 10}, {utilization: 100, score: 0}]}";
  EXPECT_EQ(ProbeScores(policy,
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 38}, {"node2", 50}}));
  // Pods already there, nothing requested: same utilisations -> 38 and 50.
  EXPECT_EQ(ProbeScores(policy,
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}, allocated: {cpu: \"3000\", memory: \"5000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}, allocated: {cpu: \"3000\", memory: \"5000\"}}\n",
                        "{cpu: \"0\", memory: \"0\"}"),
            (Scores{{"node1", 38}, {"node2", 50}}));
}

TEST(KubeRequestedToCapacityRatio, SingleExtendedResource) {
  // shape {0,0},{100,1} scaled x10 -> score = utilization * 10 / 100 (integer).
  const char* policy =
      "{scoring: requested-to-capacity-ratio, weights: {intel.com/foo: 1},"
      " shape: [{utilization: 0, score: 0}, {utilization: 100, score: 1}]}";
  const char* nodes =
      "  - {name: node1, capacity: {cpu: 4000m, memory: 10000Mi, intel.com/foo: \"8\"}}\n"
      "  - {name: node2, capacity: {cpu: 4000m, memory: 10000Mi, intel.com/foo: \"4\"}}\n";
  // Nothing requested: the only scored resource is skipped -> 0 on both.
  EXPECT_EQ(ProbeScores(policy, nodes, "{cpu: \"0\"}"), (Scores{{"node1", 0}, {"node2", 0}}));
  // foo 2: node1 2*100/8 = 25 -> 10*25/100 = 2; node2 2*100/4 = 50 -> 5
  EXPECT_EQ(ProbeScores(policy, nodes, "{intel.com/foo: \"2\"}"), (Scores{{"node1", 2}, {"node2", 5}}));
  // A pod with foo 2 already on node2: node2 (2+2)*100/4 = 100 -> 10
  EXPECT_EQ(ProbeScores(policy,
                        "  - {name: node1, capacity: {cpu: 4000m, memory: 10000Mi, intel.com/foo: \"8\"}}\n"
                        "  - {name: node2, capacity: {cpu: 4000m, memory: 10000Mi, intel.com/foo: \"4\"}, allocated: {intel.com/foo: \"2\"}}\n",
                        "{intel.com/foo: \"2\"}"),
            (Scores{{"node1", 2}, {"node2", 10}}));
  // foo 4: node1 50 -> 5; node2 100 -> 10
  EXPECT_EQ(ProbeScores(policy, nodes, "{intel.com/foo: \"4\"}"), (Scores{{"node1", 5}, {"node2", 10}}));
}

TEST(KubeRequestedToCapacityRatio, MultipleExtendedResources) {
  const char* policy =
      "{scoring: requested-to-capacity-ratio, weights: {intel.com/foo: 3, intel.com/bar: 5},"
      " shape: [{utilization: 0, score: 0}, {utilization: 100, score: 1}]}";
  const char* nodes =
      "  - {name: node1, capacity: {cpu: 4000m, memory: 10000Mi, intel.com/foo: \"8\", intel.com/bar: \"4\"}}\n"
      "  - {name: node2, capacity: {cpu: 4000m, memory: 10000Mi, intel.com/foo: \"4\", intel.com/bar: \"8\"}}\n";
  EXPECT_EQ(ProbeScores(policy, nodes, "{cpu: \"0\"}"), (Scores{{"node1", 0}, {"node2", 0}}));
  // foo 2, bar 2. node1: foo 25 -> 2, bar 50 -> 5; round((2*3 + 5*5)/8 = 3.875) = 4
  // node2: foo 50 -> 5, bar 25 -> 2; round((5*3 + 2*5)/8 = 3.125) = 3
  EXPECT_EQ(ProbeScores(policy, nodes, "{intel.com/foo: \"2\", intel.com/bar: \"2\"}"),
            (Scores{{"node1", 4}, {"node2", 3}}));
  // foo 4, bar 2. node1: foo 50 -> 5, bar 50 -> 5 -> 5; node2: foo 100 -> 10, bar 25 -> 2;
  // round((10*3 + 2*5)/8 = 5) = 5
  EXPECT_EQ(ProbeScores(policy, nodes, "{intel.com/foo: \"4\", intel.com/bar: \"2\"}"),
            (Scores{{"node1", 5}, {"node2", 5}}));
}

TEST(KubeRequestedToCapacityRatio, MostRequestedShapeHandComputed) {
  // shape {0,0},{100,10}: score = utilization. node1 cpu 3000*100/4000 = 75, memory 5000*100/10000 = 50
  // -> round(62.5) = 63 (math.Round rounds half away from zero); node2 cpu 50, memory 50 -> 50
  EXPECT_EQ(ProbeScores("{scoring: requested-to-capacity-ratio, shape: [{utilization: 0, score: 0}, {utilization: 100, score: 10}]}",
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n"
                        "  - {name: node2, capacity: {cpu: \"6000\", memory: \"10000\"}}\n",
                        "{cpu: \"3000\", memory: \"5000\"}"),
            (Scores{{"node1", 63}, {"node2", 50}}));
  // Three-point shape {0,2},{40,10},{100,0} (x10: {0,20},{40,100},{100,0}): utilization 30 ->
  // 20 + (100-20)*(30-0)/40 = 80; utilization 70 -> 100 + (0-100)*(70-40)/60 = 50.
  // node1: cpu 1200*100/4000 = 30 -> 80, memory 7000*100/10000 = 70 -> 50 -> round(65) = 65
  EXPECT_EQ(ProbeScores("{scoring: requested-to-capacity-ratio, shape: [{utilization: 0, score: 2}, {utilization: 40, score: 10}, {utilization: 100, score: 0}]}",
                        "  - {name: node1, capacity: {cpu: \"4000\", memory: \"10000\"}}\n",
                        "{cpu: \"1200\", memory: \"7000\"}"),
            (Scores{{"node1", 65}}));
}

}  // namespace
}  // namespace allot::testing
