#include "allot/throttle/degradation.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = 1'000'000'000;

TEST(DegradationTest, LevelsFromTheWorstResource) {
  DegradationOptions o = DegradationOptions::Defaults();
  o.dwell_ns = 0;
  o.margin = 0;
  DegradationMonitor m(o);
  m.Observe(0, "", "cpu", 69, 100);
  EXPECT_EQ(m.level(), 0);
  m.Observe(0, "", "cpu", 70, 100);
  EXPECT_EQ(m.level(), 1);
  m.Observe(0, "", "memory", 85, 100);
  EXPECT_EQ(m.level(), 2);
  m.Observe(0, "gpu-pool", "cpu", 95, 100);
  EXPECT_EQ(m.level(), 3);
  m.Observe(0, "", "memory", 100, 100);
  EXPECT_EQ(m.level(), 4);
  EXPECT_EQ(m.scale(), 0);
  std::string worst;
  EXPECT_EQ(m.RawLevel(&worst), 4);
  EXPECT_EQ(worst, "memory");
}

TEST(DegradationTest, DiskIsTighter) {
  DegradationOptions o = DegradationOptions::Defaults();
  o.dwell_ns = 0;
  DegradationMonitor m(o);
  m.Observe(0, "", "ephemeral-storage", 66, 100);
  EXPECT_EQ(m.level(), 1);  // warn at 65 %, where cpu would still be level 0
  m.Observe(0, "", "ephemeral-storage", 70, 100);
  EXPECT_EQ(m.level(), 4);  // max at 70 %
  // Levels 2 and 3 sit at 67.5 % and 65 + 5 * 25/30 = 69.17 %.
  auto t = LevelThresholds::FromWarnMax(65, 70);
  EXPECT_DOUBLE_EQ(t->percent[1], 67.5);
  EXPECT_NEAR(t->percent[2], 69.1667, 1e-4);
  EXPECT_FALSE(LevelThresholds::FromWarnMax(70, 65).ok());
}

TEST(DegradationTest, HysteresisNeedsMarginAndDwell) {
  DegradationOptions o;  // margin 5 points, dwell 30 s
  DegradationMonitor m(o);
  m.Observe(0, "", "cpu", 86, 100);
  ASSERT_EQ(m.level(), 2);
  // Dropping just under 85 % is not enough: still within the 5-point margin (85 - 5 = 80).
  m.Observe(1 * kS, "", "cpu", 84, 100);
  EXPECT_EQ(m.level(), 2);
  m.Observe(100 * kS, "", "cpu", 84, 100);
  EXPECT_EQ(m.level(), 2);
  // Below 80 % the fall waits for the dwell time ...
  m.Observe(101 * kS, "", "cpu", 79, 100);
  EXPECT_EQ(m.level(), 2);
  EXPECT_EQ(m.Evaluate(131 * kS - 1), 2);
  // ... and flapping back above 80 % restarts it.
  m.Observe(120 * kS, "", "cpu", 81, 100);
  m.Observe(121 * kS, "", "cpu", 79, 100);
  EXPECT_EQ(m.Evaluate(150 * kS), 2);
  // 79 % with thresholds shifted 5 points down (65/80/90/95) is level 1.
  EXPECT_EQ(m.Evaluate(151 * kS), 1);
  // Rising is immediate.
  m.Observe(152 * kS, "", "cpu", 96, 100);
  EXPECT_EQ(m.level(), 3);
  ASSERT_GE(m.changes().size(), 3u);
  EXPECT_EQ(m.changes().back().to, 3);
}

TEST(DegradationTest, PriorityGateAndScale) {
  DegradationOptions o;
  o.dwell_ns = 0;
  DegradationMonitor m(o);
  m.Observe(0, "", "cpu", 90, 100);
  GateDecision g = m.Gate(0, 0);
  EXPECT_TRUE(g.allowed);  // level 2 refuses nobody
  EXPECT_EQ(g.scale, 0.5);
  m.Observe(0, "", "cpu", 97, 100);
  EXPECT_FALSE(m.Gate(0, 1).allowed);  // level 3: low (1) refused
  EXPECT_TRUE(m.Gate(0, 2).allowed);   // normal passes
  EXPECT_EQ(m.Gate(0, 2).scale, 0.25);
  m.Observe(0, "", "cpu", 120, 100);
  EXPECT_FALSE(m.Gate(0, 3).allowed);  // level 4: only critical
  GateDecision c = m.Gate(0, 4);
  EXPECT_TRUE(c.allowed);
  EXPECT_EQ(c.scale, 0);
  EXPECT_NE(m.Gate(0, 3).reason.find("level 4"), std::string::npos);
}

TEST(DegradationTest, VanishedCapacityCountsAsFull) {
  DegradationMonitor m(DegradationOptions{});
  m.Observe(0, "pool-a", "gpu", 1, 0);
  EXPECT_EQ(m.level(), 4);
  m.Forget(0, "pool-a", "gpu");
  EXPECT_EQ(m.RawLevel(), 0);
}

TEST(AimdTest, ShrinksMultiplicativelyGrowsAdditively) {
  AimdOptions o;
  o.initial_limit = 40;
  o.min_limit = 2;
  o.max_limit = 42;
  o.target_latency_ns = 100'000'000;  // 100 ms
  o.interval_ns = kS;
  AimdLimiter a(o);
  a.Observe(0, 50'000'000, 0);
  EXPECT_EQ(a.limit(), 40);
  a.Observe(kS, 500'000'000, 0);  // slow: 40 * 0.5
  EXPECT_EQ(a.limit(), 20);
  a.Observe(kS + 1, 500'000'000, 0);  // same interval: no second cut
  EXPECT_EQ(a.limit(), 20);
  a.Observe(2 * kS, 500'000'000, 0);
  EXPECT_EQ(a.limit(), 10);
  a.Observe(2 * kS + 1, 10'000'000, 0);  // healthy, but an interval has not passed since the cut
  EXPECT_EQ(a.limit(), 10);
  for (int i = 3; i <= 7; ++i) a.Observe(i * kS, 10'000'000, 0);
  EXPECT_EQ(a.limit(), 15);  // +1 per healthy second, 5 seconds
  for (int i = 8; i < 100; ++i) a.Observe(i * kS, 10'000'000, 0);
  EXPECT_EQ(a.limit(), 42);  // capped at max_limit
  for (int i = 100; i < 110; ++i) a.Observe(i * kS, kS, 0);
  EXPECT_EQ(a.limit(), 2);   // floored at min_limit
  EXPECT_EQ(a.state().decreases, 12u);
}

TEST(AimdTest, QueueDepthAndAdmission) {
  AimdOptions o;
  o.initial_limit = 2;
  o.target_latency_ns = 0;
  o.target_queue_depth = 10;
  AimdLimiter a(o);
  EXPECT_TRUE(a.TryAcquire());
  EXPECT_TRUE(a.TryAcquire());
  EXPECT_FALSE(a.TryAcquire());
  a.Release(0, -1, 50);  // deep queue: 2 -> 1
  EXPECT_EQ(a.limit(), 1);
  EXPECT_FALSE(a.TryAcquire());  // one still in flight
  EXPECT_EQ(a.state().rejected, 2u);
  EXPECT_FALSE(ValidateAimdOptions(AimdOptions{.target_latency_ns = 0}).ok());
}

}  // namespace
}  // namespace allot::throttle
