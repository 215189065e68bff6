// The policy registry (allot/policy.h): the names it lists, aliases, and that Engine::Create builds from it.
#include <gtest/gtest.h>

#include "allot/engine.h"
#include "allot/policy.h"

namespace allot {
namespace {

TEST(PolicyRegistry, ListsTheScoringStrategiesAndQueueOrders) {
  EXPECT_EQ(PolicyNames(PolicyKind::kScoring),
            "least-allocated, most-allocated, requested-to-capacity-ratio, balanced-allocation, gpu-fragmentation");
  EXPECT_EQ(PolicyNames(PolicyKind::kQueueOrder, " | "), "none | drf");
  for (auto kind : {PolicyKind::kScoring, PolicyKind::kQueueOrder})
    for (const auto& p : Policies(kind)) EXPECT_FALSE(p.summary.empty()) << p.name;
  EXPECT_STREQ(PolicyKey(PolicyKind::kScoring), "scoring");
  EXPECT_STREQ(PolicyKey(PolicyKind::kQueueOrder), "fair_share");
}

TEST(PolicyRegistry, ResolvesAliasesToCanonicalNames) {
  EXPECT_EQ(CanonicalPolicyName(PolicyKind::kScoring, "MostAllocated"), "most-allocated");
  EXPECT_EQ(CanonicalPolicyName(PolicyKind::kScoring, "gpu-fragmentation"), "gpu-fragmentation");
  EXPECT_EQ(CanonicalPolicyName(PolicyKind::kQueueOrder, "fifo"), "none");
  EXPECT_EQ(CanonicalPolicyName(PolicyKind::kScoring, "drf"), std::nullopt);  // an order, not a strategy
  EXPECT_EQ(CanonicalPolicyName(PolicyKind::kQueueOrder, "DRF"), std::nullopt);  // exact case
}

TEST(PolicyRegistry, EveryNameAndAliasBuildsAnEngine) {
  for (const auto& p : Policies(PolicyKind::kScoring)) {
    std::vector<std::string> names = p.aliases;
    names.push_back(p.name);
    for (const auto& n : names) {
      EngineOptions o;
      o.scoring = n;
      auto e = Engine::Create(o);
      EXPECT_TRUE(e.ok()) << n << ": " << (e.ok() ? "" : e.error().message);
    }
  }
  for (const auto& p : Policies(PolicyKind::kQueueOrder)) {
    std::vector<std::string> names = p.aliases;
    names.push_back(p.name);
    for (const auto& n : names) {
      EngineOptions o;
      o.fair_share = n;
      EXPECT_TRUE(Engine::Create(o).ok()) << n;
    }
  }
}

TEST(PolicyRegistry, UnknownNamesAreErrorsThatListTheKnownOnes) {
  EngineOptions o;
  o.scoring = "fastest";
  auto e = Engine::Create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "unknown scoring strategy \"fastest\" (use " + PolicyNames(PolicyKind::kScoring) + ")");
  o = EngineOptions{};
  o.fair_share = "lottery";
  e = Engine::Create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "unknown fair_share \"lottery\" (use none, drf)");
}

TEST(PolicyRegistry, StrategyOptionsAreValidatedByTheirFactory) {
  EngineOptions o;
  o.scoring = "requested-to-capacity-ratio";
  o.shape = {{50, 5}, {40, 10}};
  auto e = Engine::Create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("strictly increasing"), std::string::npos) << e.error().message;
  o = EngineOptions{};
  o.scoring = "gpu-fragmentation";
  GpuWorkloadClass c;
  c.gpu = 1500;  // neither a share nor whole devices
  o.gpu_workload = {c};
  e = Engine::Create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("gpu_workload[0].gpu"), std::string::npos) << e.error().message;
}

}  // namespace
}  // namespace allot
