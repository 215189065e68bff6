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
  EXPECT_EQ(b.transitions()[0].reason, "failure rate 0.60 over 5 calls >= 0.50");
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
  EXPECT_EQ(b.transitions()[0].reason, "3 consecutive failures");
  EXPECT_EQ(b.transitions()[1].reason, "cool-down 5s elapsed");
  EXPECT_EQ(b.transitions()[2].reason, "2 probe successes");
  BreakerSnapshot s = b.Snapshot(6 * kS);
  EXPECT_EQ(s.transitions_total, 3u);
  auto edge = [&](BreakerState f, BreakerState t) {
    return s.transitions[static_cast<int>(f)][static_cast<int>(t)];
  };
  EXPECT_EQ(edge(BreakerState::kClosed, BreakerState::kOpen), 1u);
  EXPECT_EQ(edge(BreakerState::kOpen, BreakerState::kHalfOpen), 1u);
  EXPECT_EQ(edge(BreakerState::kHalfOpen, BreakerState::kClosed), 1u);
  EXPECT_EQ(edge(BreakerState::kHalfOpen, BreakerState::kOpen), 0u);
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

TEST(BreakerSetTest, TakeTransitionsReturnsEachOnceIncludingTheLazyHalfOpen) {
  BreakerSet set(Opts());
  EXPECT_TRUE(set.TakeTransitions().empty());
  for (int i = 0; i < 3; ++i) set.Record(kS, "llm/openai", false);
  auto opened = set.TakeTransitions();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].first, "llm/openai");
  EXPECT_EQ(opened[0].second.from, BreakerState::kClosed);
  EXPECT_EQ(opened[0].second.to, BreakerState::kOpen);
  EXPECT_TRUE(set.TakeTransitions().empty());  // taken once
  // The cool-down (5 s from 1 s) passes at 6 s; the first read after it makes the transition, later
  // reads do not repeat it.
  EXPECT_EQ(set.Snapshot(7 * kS, "llm/openai").state, BreakerState::kHalfOpen);
  EXPECT_EQ(set.Snapshot(8 * kS, "llm/openai").state, BreakerState::kHalfOpen);
  EXPECT_TRUE(set.Allow(8 * kS, "llm/openai").allowed);
  auto half = set.TakeTransitions();
  ASSERT_EQ(half.size(), 1u);
  EXPECT_EQ(half[0].second.to, BreakerState::kHalfOpen);
  EXPECT_EQ(half[0].second.at_ns, 7 * kS);
  EXPECT_EQ(half[0].second.reason, "cool-down 5s elapsed");
  // A failed probe reopens it.
  set.Record(9 * kS, "llm/openai", false);
  auto reopened = set.TakeTransitions();
  ASSERT_EQ(reopened.size(), 1u);
  EXPECT_EQ(reopened[0].second.from, BreakerState::kHalfOpen);
  EXPECT_EQ(reopened[0].second.to, BreakerState::kOpen);
  EXPECT_EQ(reopened[0].second.reason, "probe failed");
  EXPECT_EQ(set.dropped_transitions(), 0u);
}

TEST(BreakerSetTest, PendingTransitionsAreBounded) {
  BreakerOptions o = Opts();
  o.consecutive_failures = 1;
  o.cooldown_ns = 1;
  o.half_open_probes = 1;
  BreakerSet set(o);
  // Each round: closed/half-open -> open on a failure, then open -> half-open on the next call (1 ns
  // cool-down). 3000 rounds make 6000 transitions minus one (the first failure comes from closed).
  for (int64_t t = 0; t < 3000; ++t) set.Record(t * 10, "k", false);
  auto got = set.TakeTransitions();
  EXPECT_EQ(got.size(), BreakerSet::kMaxPending);
  EXPECT_EQ(set.dropped_transitions(), 5999u - BreakerSet::kMaxPending);
}

}  // namespace
}  // namespace allot::throttle
