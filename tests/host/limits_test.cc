// Limits: percentages, flags, tiers and the YAML config.
#include <gtest/gtest.h>

#include "allot/guard.h"
#include "support.h"

namespace allot::host {
namespace {

constexpr int64_t kGiB = 1LL << 30;
constexpr int64_t kGB = 1'000'000'000;

TEST(LimitsTest, ParsePercent) {
  EXPECT_EQ(*ParsePercent("75"), 7500);
  EXPECT_EQ(*ParsePercent("72.5%"), 7250);
  EXPECT_EQ(*ParsePercent("0.25"), 25);
  EXPECT_EQ(*ParsePercent("100"), 10000);
  for (const char* bad : {"0", "-5", "101", "abc", "", "%", "1.234", "50x"}) {
    EXPECT_FALSE(ParsePercent(bad).ok()) << bad;
  }
}

TEST(LimitsTest, SeedDefaults) {
  GuardLimits l;
  EXPECT_EQ(l[GuardResource::kCpu].max_bp, 8000);
  EXPECT_EQ(l[GuardResource::kCpu].warn_bp, 7000);
  EXPECT_EQ(l[GuardResource::kMemory].max_bp, 8000);
  EXPECT_EQ(l[GuardResource::kGpu].warn_bp, 7000);
  EXPECT_EQ(l[GuardResource::kDisk].max_bp, 7000);
  EXPECT_EQ(l[GuardResource::kDisk].warn_bp, 6500);
}

TEST(LimitsTest, FlagsOverrideAndRejectUnknownResources) {
  GuardConfig c;
  ASSERT_TRUE(ApplyLimitFlag("memory=75", false, &c).ok());
  ASSERT_TRUE(ApplyLimitFlag("disk=60", true, &c).ok());
  auto l = ResolveLimits(c, 16 * kGiB, false);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)[GuardResource::kMemory].max_bp, 7500);
  EXPECT_EQ((*l)[GuardResource::kMemory].warn_bp, 7000);
  EXPECT_EQ((*l)[GuardResource::kDisk].warn_bp, 6000);
  auto bad = ApplyLimitFlag("swap=10", false, &c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("unknown resource \"swap\""), std::string::npos);
  EXPECT_FALSE(ApplyLimitFlag("memory", false, &c).ok());
  EXPECT_FALSE(ApplyLimitFlag("memory=-3", false, &c).ok());
}

TEST(LimitsTest, LoweredLimitDragsDefaultWarnButExplicitWarnAboveMaxIsAnError) {
  GuardConfig c;
  ASSERT_TRUE(ApplyLimitFlag("cpu=50", false, &c).ok());
  auto l = ResolveLimits(c, 16 * kGiB, false);
  ASSERT_TRUE(l.ok());
  // default warn 70 % > max 50 %: warn becomes 50 - 10 = 40 %
  EXPECT_EQ((*l)[GuardResource::kCpu].warn_bp, 4000);
  ASSERT_TRUE(ApplyLimitFlag("cpu=60", true, &c).ok());
  EXPECT_FALSE(ResolveLimits(c, 16 * kGiB, false).ok());
}

TEST(LimitsTest, TiersByMemoryAndGpu) {
  EXPECT_EQ(ResolveTier(HostTier::kAuto, 128 * kGB, true), HostTier::kLarge);
  EXPECT_EQ(ResolveTier(HostTier::kAuto, 64 * kGB, true), HostTier::kMedium);
  EXPECT_EQ(ResolveTier(HostTier::kAuto, 24 * kGB, true), HostTier::kSmall);
  EXPECT_EQ(ResolveTier(HostTier::kAuto, 8 * kGB, true), HostTier::kCpuOnly);
  EXPECT_EQ(ResolveTier(HostTier::kAuto, 512 * kGB, false), HostTier::kCpuOnly);
  EXPECT_EQ(ResolveTier(HostTier::kMedium, 8 * kGB, false), HostTier::kMedium);  // explicit wins
  EXPECT_EQ(TierTargetBp(HostTier::kLarge), 6500);
  EXPECT_EQ(TierTargetBp(HostTier::kMedium), 6000);
  EXPECT_EQ(TierTargetBp(HostTier::kSmall), 5500);
  EXPECT_EQ(TierTargetBp(HostTier::kCpuOnly), 5000);
}

TEST(LimitsTest, TierSetsCpuMemoryGpuAndFlagsStillWin) {
  GuardConfig c;
  c.tier = HostTier::kAuto;
  ASSERT_TRUE(ApplyLimitFlag("gpu=90", false, &c).ok());
  auto l = ResolveLimits(c, 128 * kGB, true);  // large: 65 %
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)[GuardResource::kCpu].max_bp, 6500);
  EXPECT_EQ((*l)[GuardResource::kCpu].warn_bp, 5500);  // 65 - 10
  EXPECT_EQ((*l)[GuardResource::kMemory].max_bp, 6500);
  EXPECT_EQ((*l)[GuardResource::kGpu].max_bp, 9000);
  EXPECT_EQ((*l)[GuardResource::kDisk].max_bp, 7000);  // tiers leave disk alone
}

TEST(LimitsTest, YamlConfig) {
  testing::TempDir dir;
  auto path = dir.Write("guard.yaml",
                        "tier: small\nlimits:\n  memory: {max: 75, warn: \"60%\"}\n  disk:\n    max: 80\npaths: [/data, /scratch]\n");
  auto c = LoadGuardConfig(path);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tier, HostTier::kSmall);
  EXPECT_EQ(c->max_bp[static_cast<int>(GuardResource::kMemory)], 7500);
  EXPECT_EQ(c->warn_bp[static_cast<int>(GuardResource::kMemory)], 6000);
  EXPECT_EQ(c->max_bp[static_cast<int>(GuardResource::kDisk)], 8000);
  EXPECT_EQ(c->paths, (std::vector<std::string>{"/data", "/scratch"}));
}

TEST(LimitsTest, YamlLevels) {
  testing::TempDir dir;
  auto c = LoadGuardConfig(dir.Write("levels.yaml", "levels:\n  1: {warn: false}\n  3: {min_priority: HIGH, scale: 0.1}\n"
                                                    "  4: {min_priority: critical, scale: 0}\n  2: {min_priority: none}\n"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->levels.warn[1]);
  EXPECT_EQ(c->levels.min_priority[3], 3);
  EXPECT_EQ(c->levels.scale_bp[3], 1000);
  EXPECT_EQ(c->levels.min_priority[4], 4);
  EXPECT_EQ(c->levels.min_priority[2], 5);
  EXPECT_EQ(c->levels.scale_bp[2], 5000);  // untouched: the default
  auto l = ResolveLimits(*c, 16LL << 30, false);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->levels.min_priority[4], 4);  // carried into the limits that Evaluate uses
  for (const char* bad : {"levels:\n  5: {scale: 1}\n", "levels:\n  3: {scale: 1.5}\n", "levels:\n  3: {min_priority: urgent}\n",
                          "levels:\n  3: {gate: 2}\n", "levels:\n  3: {warn: maybe}\n", "levels: [1]\n"}) {
    auto e = LoadGuardConfig(dir.Write("bad.yaml", bad));
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.error().message.find("bad.yaml:"), std::string::npos) << e.error().message;
    EXPECT_NE(e.error().message.find("levels"), std::string::npos) << e.error().message;
  }
}

TEST(LimitsTest, YamlErrorsNameFileLineAndKey) {
  testing::TempDir dir;
  auto c = LoadGuardConfig(dir.Write("a.yaml", "limits:\n  memory: {max: 75}\n  swap: {max: 10}\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("a.yaml:3"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("swap"), std::string::npos);
  c = LoadGuardConfig(dir.Write("b.yaml", "limits:\n  cpu: {max: 120}\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("b.yaml:2"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("limits.cpu.max"), std::string::npos);
  c = LoadGuardConfig(dir.Write("c.yaml", "tier: huge\n"));
  ASSERT_FALSE(c.ok());
  c = LoadGuardConfig(dir.Write("d.yaml", "limits: [1, 2\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("d.yaml"), std::string::npos);
  EXPECT_FALSE(LoadGuardConfig(dir.path() + "/missing.yaml").ok());
}

}  // namespace
}  // namespace allot::host
