// Lint rules: each rule fires on a minimal manifest, with its severity, and stays quiet on a clean one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "allot/plan.h"
#include "plan_test_util.h"

namespace allot::plan {
namespace {

using testing::CountRule;

Plan LintOf(const std::string& yaml, const PlanOptions& o = {}) { return testing::PlanOrDie(testing::LoadOrDie(yaml), o); }

const Finding* First(const Plan& p, const std::string& rule) {
  for (const auto& f : p.findings) {
    if (f.rule == rule) return &f;
  }
  return nullptr;
}

std::string Deployment(const std::string& resources, const std::string& extra = "") {
  return "kind: Deployment\nmetadata: {name: d, namespace: team}\nspec:\n  replicas: 2\n  template:\n" + extra +
         "    spec:\n      containers:\n        - name: app\n          resources: " + resources + "\n";
}

TEST(LintTest, CleanWorkloadHasOnlyTheQuotaHint) {
  Plan p = LintOf(Deployment("{requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 500m, memory: 512Mi}}"));
  ASSERT_EQ(p.findings.size(), 1u);
  EXPECT_EQ(p.findings[0].rule, "namespace-without-quota");
}

TEST(LintTest, MissingRequestsAndLimits) {
  Plan p = LintOf(Deployment("{requests: {cpu: 100m}}"));
  const Finding* f = First(p, "missing-requests");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_EQ(f->container, "app");
  EXPECT_NE(f->message.find("memory"), std::string::npos);
  // The patch sets the missing memory request on the named container of the pod template.
  auto patch = nlohmann::json::parse(f->patch);
  EXPECT_EQ(patch["spec"]["template"]["spec"]["containers"][0]["name"], "app");
  EXPECT_EQ(patch["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"], "128Mi");
  // No memory limit is a warning, no cpu limit only info.
  int warn = 0, info = 0;
  for (const auto& x : p.findings) {
    if (x.rule != "missing-limits") continue;
    (x.severity == Severity::kWarning ? warn : info)++;
  }
  EXPECT_EQ(warn, 1);
  EXPECT_EQ(info, 1);
}

TEST(LintTest, RatioGuidanceAndLimitBelowRequest) {
  // cpu 100m -> 1 is 10× (outside 2-4×, info); memory 100Mi -> 1Gi is 10.24× (above 2×, warning).
  Plan p = LintOf(Deployment("{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 1, memory: 1Gi}}"));
  int info = 0, warn = 0;
  for (const auto& f : p.findings) {
    if (f.rule == "limit-ratio") (f.severity == Severity::kWarning ? warn : info)++;
  }
  EXPECT_EQ(info, 1);
  EXPECT_EQ(warn, 1);
  // Equal requests and limits are the Guaranteed pattern: no ratio finding.
  EXPECT_EQ(CountRule(LintOf(Deployment("{limits: {cpu: 1, memory: 1Gi}}")), "limit-ratio"), 0);
  Plan bad = LintOf(Deployment("{requests: {cpu: 1, memory: 2Gi}, limits: {cpu: 2, memory: 1Gi}}"));
  const Finding* f = First(bad, "limit-below-request");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kError);
  // Configurable guidance: with cpu 1-20× the cpu ratio passes.
  PlanOptions o;
  o.lint.cpu_ratio_max = 20;
  o.lint.memory_ratio_max = 20;
  EXPECT_EQ(CountRule(LintOf(Deployment("{requests: {cpu: 100m, memory: 100Mi}, limits: {cpu: 1, memory: 1Gi}}"), o),
                      "limit-ratio"),
            0);
}

TEST(LintTest, BestEffortAndGuaranteedIntent) {
  Plan be = LintOf(Deployment("{}"));
  EXPECT_EQ(CountRule(be, "besteffort-pod"), 1);
  EXPECT_EQ(CountRule(be, "missing-requests"), 0);  // covered by the pod-level finding
  Plan annotated = LintOf(Deployment("{requests: {cpu: 1, memory: 1Gi}}",
                                     "    metadata: {annotations: {allot.dev/qos: Guaranteed}}\n"));
  EXPECT_EQ(CountRule(annotated, "guaranteed-not-met"), 1);
  Plan by_class = LintOf("kind: PriorityClass\nmetadata: {name: tier-1}\nvalue: 2000000\n---\n" +
                         Deployment("{requests: {cpu: 1, memory: 1Gi}}", "") + "      priorityClassName: tier-1\n");
  EXPECT_EQ(CountRule(by_class, "guaranteed-not-met"), 1);
  Plan met = LintOf(Deployment("{limits: {cpu: 1, memory: 1Gi}}", "    metadata: {annotations: {allot.dev/qos: Guaranteed}}\n"));
  EXPECT_EQ(CountRule(met, "guaranteed-not-met"), 0);
}

TEST(LintTest, GpuWithoutLimits) {
  Plan p = LintOf(Deployment("{requests: {cpu: 1, memory: 1Gi, nvidia.com/gpu: 1}, limits: {cpu: 2, memory: 2Gi}}"));
  const Finding* f = First(p, "gpu-without-limits");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kError);
}

TEST(LintTest, HpaReplicaRules) {
  std::string hpa = "---\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: team}\nspec:\n"
                    "  scaleTargetRef: {kind: Deployment, name: d}\n  minReplicas: 1\n  maxReplicas: 1\n";
  // spec.replicas 2 above max 1.
  Plan p = LintOf(Deployment("{limits: {cpu: 1, memory: 1Gi}}") + hpa);
  EXPECT_EQ(CountRule(p, "replicas-above-hpa-max"), 1);
  EXPECT_EQ(testing::FindWorkload(p, "d").max_replicas, 1);
  std::string other = "---\nkind: HorizontalPodAutoscaler\nmetadata: {name: x, namespace: team}\nspec:\n"
                      "  scaleTargetRef: {kind: Deployment, name: gone}\n  maxReplicas: 3\n";
  EXPECT_EQ(CountRule(LintOf(Deployment("{limits: {cpu: 1, memory: 1Gi}}") + other), "hpa-target-missing"), 1);
}

TEST(LintTest, QuotaExceededNamesTheExcess) {
  std::string quota = "---\nkind: ResourceQuota\nmetadata: {name: q, namespace: team}\nspec:\n  hard:\n"
                      "    requests.cpu: 1500m\n    limits.memory: 10Gi\n    pods: \"1\"\n";
  Plan p = LintOf(Deployment("{limits: {cpu: 1, memory: 1Gi}}") + quota);
  // requests.cpu: 2 replicas × 1 cpu = 2 cpu against 1500m: 500m over, already at min replicas -> error.
  const Finding* f = nullptr;
  int pods = 0;
  for (const auto& x : p.findings) {
    if (x.rule == "quota-exceeded" && x.message.find("requests.cpu") != std::string::npos) f = &x;
    if (x.rule == "quota-exceeded" && x.message.find("pods") != std::string::npos) pods++;
  }
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, Severity::kError);
  EXPECT_NE(f->message.find("500m over"), std::string::npos) << f->message;
  EXPECT_EQ(pods, 1);  // 2 pods against 1
  EXPECT_EQ(CountRule(p, "namespace-without-quota"), 0);
}

TEST(LintTest, LimitRangeViolation) {
  std::string lr = "---\nkind: LimitRange\nmetadata: {name: lr, namespace: team}\nspec:\n  limits:\n"
                   "    - type: Container\n      max: {cpu: 500m}\n";
  Plan p = LintOf(Deployment("{limits: {cpu: 1, memory: 1Gi}}") + lr);
  EXPECT_EQ(CountRule(p, "limitrange-violation"), 1);
}

TEST(LintTest, JvmHeapAgainstMemoryLimit) {
  std::string base = "kind: Deployment\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers:\n"
                     "        - name: app\n          env: [{name: JAVA_OPTS, value: \"-Xms256m XMX\"}]\n"
                     "          resources: {limits: {cpu: 1, memory: 1Gi}}\n";
  auto with = [&](const std::string& xmx) {
    std::string y = base;
    y.replace(y.find("XMX"), 3, xmx);
    return LintOf(y);
  };
  // -Xmx1g = 1Gi, at the limit: error. -Xmx900m is 87.9% of 1Gi: warning. -Xmx512m is 50%: fine.
  EXPECT_EQ(First(with("-Xmx1g"), "jvm-heap-over-limit")->severity, Severity::kError);
  EXPECT_EQ(First(with("-Xmx900m"), "jvm-heap-over-limit")->severity, Severity::kWarning);
  EXPECT_EQ(CountRule(with("-Xmx512m"), "jvm-heap-over-limit"), 0);
}

TEST(LintTest, DisabledRulesAndFailOnThreshold) {
  PlanOptions o;
  Plan p = LintOf(Deployment("{}"), o);
  EXPECT_TRUE(HasFindingAtOrAbove(p, Severity::kWarning));
  EXPECT_FALSE(HasFindingAtOrAbove(p, Severity::kError));
  o.lint.disabled = {"besteffort-pod", "namespace-without-quota"};
  EXPECT_TRUE(LintOf(Deployment("{}"), o).findings.empty());
}

}  // namespace
}  // namespace allot::plan
