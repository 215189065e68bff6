// Pod arithmetic (init containers, sidecars, overhead), QoS rules, LimitRange defaults, option parsers.
#include <gtest/gtest.h>

#include "allot/plan.h"
#include "plan_test_util.h"

namespace allot::plan {
namespace {

using testing::kGi;
using testing::kMi;
using testing::LoadOrDie;
using testing::Of;
using testing::PlanOrDie;

Workload Computed(const std::string& yaml) {
  Manifests m = LoadOrDie(yaml);
  EXPECT_EQ(m.workloads.size(), 1u);
  if (m.workloads.empty()) return {};
  Workload w = m.workloads[0];
  ComputeWorkload(&w, m.limit_ranges, m.runtime_classes);
  return w;
}

TEST(ComputeTest, InitContainerMaxAgainstSumOfAppContainers) {
  Workload w = Computed(R"(
kind: Pod
metadata: {name: p}
spec:
  initContainers:
    - {name: migrate, resources: {requests: {cpu: "2", memory: 64Mi}}}
  containers:
    - {name: a, resources: {requests: {cpu: 500m, memory: 256Mi}}}
    - {name: b, resources: {requests: {cpu: 500m, memory: 256Mi}}}
)");
  // cpu: max(init 2000m, apps 500m + 500m = 1000m) = 2000m.
  EXPECT_EQ(Of(w.pod_requests, "cpu"), 2000);
  // memory: max(init 64Mi, apps 256Mi + 256Mi = 512Mi) = 512Mi.
  EXPECT_EQ(Of(w.pod_requests, "memory"), 512 * kMi);
}

TEST(ComputeTest, SidecarsAddToAppsAndToLaterInitContainers) {
  Workload w = Computed(R"(
kind: Pod
metadata: {name: p}
spec:
  overhead: {cpu: 100m, memory: 10Mi}
  initContainers:
    - {name: proxy, restartPolicy: Always, resources: {requests: {cpu: 200m, memory: 100Mi}}}
    - {name: setup, resources: {requests: {cpu: "1", memory: 50Mi}}}
  containers:
    - {name: app, resources: {requests: {cpu: 300m, memory: 200Mi}, limits: {memory: 400Mi}}}
)");
  // Init phase peak: setup 1000m runs beside the proxy sidecar 200m = 1200m; running phase: app 300m + proxy
  // 200m = 500m; pod = max(1200m, 500m) + overhead 100m = 1300m.
  EXPECT_EQ(Of(w.pod_requests, "cpu"), 1300);
  // memory: init phase 50Mi + 100Mi = 150Mi; running 200Mi + 100Mi = 300Mi; + 10Mi overhead = 310Mi.
  EXPECT_EQ(Of(w.pod_requests, "memory"), 310 * kMi);
  // Limits: only app sets one (400Mi); overhead is added to limits that exist: 400Mi + 10Mi.
  EXPECT_EQ(Of(w.pod_limits, "memory"), 410 * kMi);
  EXPECT_EQ(w.pod_limits.count("cpu"), 0u);
}

TEST(ComputeTest, RuntimeClassSuppliesOverhead) {
  Manifests m = LoadOrDie(R"(
kind: RuntimeClass
metadata: {name: kata}
handler: kata
overhead: {podFixed: {cpu: 250m, memory: 120Mi}}
---
kind: Pod
metadata: {name: p}
spec:
  runtimeClassName: kata
  containers: [{name: a, resources: {requests: {cpu: 250m, memory: 1Gi}}}]
)");
  Plan p = PlanOrDie(m);
  ASSERT_EQ(p.workloads.size(), 1u);
  // 250m + 250m overhead; 1Gi + 120Mi.
  EXPECT_EQ(Of(p.workloads[0].pod_requests, "cpu"), 500);
  EXPECT_EQ(Of(p.workloads[0].pod_requests, "memory"), kGi + 120 * kMi);
}

TEST(ComputeTest, QosClasses) {
  auto qos = [](const std::string& resources) {
    return Computed("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: a, resources: " + resources + "}\n").qos;
  };
  EXPECT_EQ(qos("{}"), Qos::kBestEffort);
  // Limits only: requests default to limits, so Guaranteed.
  EXPECT_EQ(qos("{limits: {cpu: 1, memory: 1Gi}}"), Qos::kGuaranteed);
  EXPECT_EQ(qos("{requests: {cpu: 1, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}"), Qos::kGuaranteed);
  EXPECT_EQ(qos("{requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 1, memory: 1Gi}}"), Qos::kBurstable);
  // Only a memory limit: memory request = limit, but no cpu limit -> Burstable.
  EXPECT_EQ(qos("{limits: {memory: 1Gi}}"), Qos::kBurstable);
  // Zero values are ignored: only ephemeral-storage set -> still BestEffort.
  EXPECT_EQ(qos("{requests: {cpu: 0, ephemeral-storage: 1Gi}}"), Qos::kBestEffort);
}

TEST(ComputeTest, QosCountsInitContainers) {
  Workload w = Computed(R"(
kind: Pod
metadata: {name: p}
spec:
  initContainers: [{name: i}]
  containers: [{name: a, resources: {limits: {cpu: 1, memory: 1Gi}}}]
)");
  // The init container has no limits, so not every container has cpu and memory limits.
  EXPECT_EQ(w.qos, Qos::kBurstable);
}

TEST(ComputeTest, LimitRangeDefaultsFillOnlyMissingValues) {
  Manifests m = LoadOrDie(R"(
kind: LimitRange
metadata: {name: lr, namespace: team}
spec:
  limits:
    - type: Container
      default: {cpu: 400m, memory: 256Mi}
---
kind: Deployment
metadata: {name: d, namespace: team}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - {name: none}
        - {name: req, resources: {requests: {cpu: 100m}}}
        - {name: lim, resources: {limits: {memory: 1Gi}}}
)");
  Plan p = PlanOrDie(m);
  ASSERT_EQ(p.workloads.size(), 1u);
  const auto& c = p.workloads[0].containers;
  ASSERT_EQ(c.size(), 3u);
  // defaultRequest defaults to default: 400m / 256Mi where nothing was set.
  EXPECT_EQ(Of(c[0].requests, "cpu"), 400);
  EXPECT_EQ(Of(c[0].limits, "memory"), 256 * kMi);
  // A set request stays; the missing limit comes from the LimitRange.
  EXPECT_EQ(Of(c[1].requests, "cpu"), 100);
  EXPECT_EQ(Of(c[1].limits, "cpu"), 400);
  // A memory limit alone became the request by API defaulting before LimitRanger ran.
  EXPECT_EQ(Of(c[2].requests, "memory"), kGi);
  // Pod cpu requests: 400m + 100m + 400m = 900m; × 2 replicas = 1800m.
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 1800);
}

TEST(ComputeTest, JobParallelismAndCronJob) {
  Manifests m = LoadOrDie(R"(
kind: Job
metadata: {name: j}
spec:
  parallelism: 5
  completions: 3
  template: {spec: {containers: [{name: a, resources: {requests: {cpu: 100m}}}]}}
---
kind: CronJob
metadata: {name: c}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      parallelism: 2
      template: {spec: {containers: [{name: a, resources: {requests: {cpu: 100m}}}]}}
)");
  Plan p = PlanOrDie(m);
  // Job: min(parallelism 5, completions 3) = 3 pods; CronJob: parallelism 2.
  EXPECT_EQ(testing::FindWorkload(p, "j").replicas, 3);
  EXPECT_EQ(testing::FindWorkload(p, "c").replicas, 2);
  // (3 + 2) × 100m = 500m.
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 500);
}

TEST(ComputeTest, EnvMultipliersScaleEachReportedLevelExactly) {
  Manifests m = LoadOrDie(R"(
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: a, resources: {requests: {cpu: 99m, memory: 101Mi, nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 1}}}]
)");
  PlanOptions o;
  o.env = "dev";
  Plan p = PlanOrDie(m, o);
  // dev = 0.5× cpu and memory, applied exactly at each reported level: the pod is ceil(99m × 0.5 = 49.5m) = 50m,
  // the total ceil(2 × 99m × 0.5) = 99m (the written total times the factor, not a sum of rounded pods).
  EXPECT_EQ(Of(p.workloads[0].pod_requests, "cpu"), 50);
  EXPECT_EQ(Of(p.workloads[0].containers[0].requests, "cpu"), 50);
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 99);
  // memory: 2 × 101Mi × 0.5 = 101Mi.
  EXPECT_EQ(Of(p.total_min.requests, "memory"), 101 * kMi);
  // gpu is 1× in dev: 2 pods × 1 GPU = 2000 milli-GPU internally.
  EXPECT_EQ(Of(p.total_min.requests, "gpu"), 2000);
  // prod = 1.5×: 2 × 99m × 1.5 = 297m.
  EXPECT_EQ(Of(p.by_env["prod"].first.requests, "cpu"), 297);
  o.env = "qa";
  EXPECT_FALSE(MakePlan(m, o).ok());
}

TEST(ComputeTest, ParseConfigOverridesEnvironmentsAndLint) {
  EnvConfig env = EnvConfig::Defaults();
  LintConfig lint;
  ASSERT_TRUE(ParseConfig("environments:\n  dev: {cpu: 0.25}\n  perf: {cpu: 2, memory: 3}\nlint:\n  cpu_ratio: [1, 8]\n"
                          "  disable: [limit-ratio]\n", "c.yaml", &env, &lint).ok());
  EXPECT_EQ(env.envs["dev"].Factor("cpu"), 250'000);
  EXPECT_EQ(env.envs["dev"].Factor("memory"), 1'000'000);  // not named: 1×
  EXPECT_EQ(env.envs["perf"].Factor("memory"), 3'000'000);
  EXPECT_EQ(env.envs["prod"].Factor("cpu"), 1'500'000);  // untouched default
  EXPECT_DOUBLE_EQ(lint.cpu_ratio_max, 8);
  ASSERT_EQ(lint.disabled.size(), 1u);
  Status bad = ParseConfig("environments:\n  dev: {cpu: lots}\n", "c.yaml", &env, &lint);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("c.yaml:2"), std::string::npos) << bad.message();
}

TEST(ComputeTest, ParseNodeShape) {
  auto s = ParseNodeShape("cpu=8,memory=16Gi,gpu=1,count=3,cost=2.5");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Of(s->capacity, "cpu"), 8000);
  EXPECT_EQ(Of(s->capacity, "memory"), 16 * kGi);
  EXPECT_EQ(Of(s->capacity, "gpu"), 1000);
  EXPECT_EQ(Of(s->capacity, "pods"), 110);
  EXPECT_EQ(s->max_count, 3);
  EXPECT_DOUBLE_EQ(s->cost, 2.5);
  EXPECT_EQ(s->name, "cpu=8,memory=16Gi,gpu=1");
  EXPECT_FALSE(ParseNodeShape("cpu=8").ok());
  EXPECT_FALSE(ParseNodeShape("cpu=8,memory=lots").ok());
  EXPECT_FALSE(ParseNodeShape("cpu=8,memory=1Gi,count=-1").ok());
}

}  // namespace
}  // namespace allot::plan
