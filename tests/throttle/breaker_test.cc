#include "allot/throttle/breaker.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = kNanosPerSecond;

BreakerOptions Opts() {
  BreakerOptions o;
  o.window_ns = 10 * kS;
  o.window_buckets = 10;
  o.min_requests = 4;
  o.failure_rate = 0.5;
  o.consecutive_failures = 3;
  o.cooldown_ns = 5 * kS;
  o.half_open_probes = 2;
  o.close_after_successes = 2;
  return o;
}

TEST(CircuitBreakerTest, OpensOnFailureRateWithMinimumRequests) {
  BreakerOptions o = Opts();
  o.consecutive_failures = 0;  // rate only
  CircuitBreaker b(o);
  b.Record(0, false);
  b.Record(0, true);
  b.Record(0, false);
  EXPECT_EQ(b.State(0), BreakerState::kClosed);  // 2 of 3 failed, but fewer than min_requests 4
  b.Record(kS, true);
  EXPECT_EQ(b.State(kS), BreakerState::kClosed);  // 2/4 = 0.5 is reached only by a failure report
  b.Record(kS, false);
  // 3 failures of 5 = 0.6 >= 0.5 with 5 >= 4 calls.
  EXPECT_EQ(b.State(kS), BreakerState::kOpen);
  ASSERT_EQ(b.transitions().size(), 1u);
  EXPECT_EQ(b.transitions()[0].reason, "failure rate 3/5 >= 0.50");
}

TEST(CircuitBreakerTest, OldFailuresLeaveTheWindow) {
  BreakerOptions o = Opts();
  o.consecutive_failures = 0;
  CircuitBreaker b(o);
  b.Record(0, false);
  b.Record(0, false);
  b.Record(0, false);
  // 11 s later those three are outside the 10 s window: 1 failure in 4 calls does not trip.
  for (int i = 0; i < 3; ++i) b.Record(11 * kS, true);
  b.Record(11 * kS, false);
  EXPECT_EQ(b.State(11 * kS), BreakerState::kClosed);
  EXPECT_EQ(b.Snapshot(11 * kS).window_requests, 4);
}

TEST(CircuitBreakerTest, ConsecutiveFailuresAndTheFullCycle) {
  CircuitBreaker b(Opts());
  b.Record(0, false);
  b.Record(0, false);
  EXPECT_TRUE(b.Allow(0).allowed);
  b.Record(0, false);  // third in a row
  ASSERT_EQ(b.State(0), BreakerState::kOpen);
  BreakerDecision d = b.Allow(2 * kS);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ns, 3 * kS);  // cool-down 5 s from t=0
  EXPECT_EQ(d.reason, "circuit open");
  // Half-open at 5 s: two probes, the third waits.
  EXPECT_TRUE(b.Allow(5 * kS).allowed);
  EXPECT_EQ(b.State(5 * kS), BreakerState::kHalfOpen);
  EXPECT_TRUE(b.Allow(5 * kS).allowed);
  EXPECT_FALSE(b.Allow(5 * kS).allowed);
  b.Record(6 * kS, true);
  EXPECT_EQ(b.State(6 * kS), BreakerState::kHalfOpen);  // 1 of 2 successes
  b.Record(6 * kS, true);
  EXPECT_EQ(b.State(6 * kS), BreakerState::kClosed);
  std::vector<std::pair<BreakerState, BreakerState>> seen;
  for (const auto& t : b.transitions()) seen.emplace_back(t.from, t.to);
  std::vector<std::pair<BreakerState, BreakerState>> want = {{BreakerState::kClosed, BreakerState::kOpen},
                                                             {BreakerState::kOpen, BreakerState::kHalfOpen},
                                                             {BreakerState::kHalfOpen, BreakerState::kClosed}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(b.Snapshot(6 * kS).transitions_total, 3u);
}

TEST(CircuitBreakerTest, ProbeFailureReopens) {
  CircuitBreaker b(Opts());
  for (int i = 0; i < 3; ++i) b.Record(0, false);
  ASSERT_TRUE(b.Allow(5 * kS).allowed);
  b.Record(5 * kS, false);
  EXPECT_EQ(b.State(5 * kS), BreakerState::kOpen);
  EXPECT_EQ(b.Allow(6 * kS).retry_after_ns, 4 * kS);  // a new cool-down from 5 s
}

TEST(CircuitBreakerTest, SlowCallsCountAsFailures) {
  BreakerOptions o = Opts();
  o.slow_call_ns = kS / 2;
  CircuitBreaker b(o);
  for (int i = 0; i < 3; ++i) b.Record(0, true, kS);
  EXPECT_EQ(b.State(0), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, ClockGoingBackDoesNotShortenTheCooldown) {
  CircuitBreaker b(Opts());
  for (int i = 0; i < 3; ++i) b.Record(100 * kS, false);
  ASSERT_EQ(b.State(100 * kS), BreakerState::kOpen);
  EXPECT_EQ(b.State(50 * kS), BreakerState::kOpen);
  EXPECT_EQ(b.State(54 * kS), BreakerState::kOpen);
  EXPECT_EQ(b.State(55 * kS), BreakerState::kHalfOpen);  // full 5 s from the earlier time
}

TEST(BreakerSetTest, PerKeyAndTransitionLog) {
  BreakerSet set(Opts());
  for (int i = 0; i < 3; ++i) set.Record(kS, "llm/openai", false);
  set.Record(kS, "llm/anthropic", true);
  EXPECT_FALSE(set.Allow(2 * kS, "llm/openai").allowed);
  EXPECT_TRUE(set.Allow(2 * kS, "llm/anthropic").allowed);
  auto log = set.TransitionsSince(0);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].first, "llm/openai");
  EXPECT_EQ(log[0].second.to, BreakerState::kOpen);
  BreakerOptions bad = Opts();
  bad.failure_rate = 1.5;
  EXPECT_NE(set.Configure("x", bad).message().find("failure_rate"), std::string::npos);
}

}  // namespace
}  // namespace allot::throttle
