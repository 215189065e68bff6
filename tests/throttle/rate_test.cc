#include "allot/throttle/rate.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = kNanosPerSecond;
constexpr int64_t kT0 = 1'700'000'000 * kS;  // an arbitrary Unix instant

TEST(ParseRateTest, UnitsAndMultiples) {
  EXPECT_EQ(ParseRate("5/m")->count, 5);
  EXPECT_EQ(ParseRate("5/m")->period_ns, 60 * kS);
  EXPECT_EQ(ParseRate("100/10s")->count, 100);
  EXPECT_EQ(ParseRate("100/10s")->period_ns, 10 * kS);
  EXPECT_EQ(ParseRate("1000/h")->period_ns, 3600 * kS);
  EXPECT_EQ(ParseRate("20/d")->period_ns, 86400 * kS);
  EXPECT_EQ(ParseRate(" 3 / 500ms ")->period_ns, 500'000'000);
  EXPECT_EQ(ParseRate("7/2hours")->period_ns, 7200 * kS);
  EXPECT_EQ(FormatRate(*ParseRate("100/10s")), "100/10s");
  EXPECT_EQ(FormatRate(*ParseRate("5/60s")), "5/m");
}

TEST(ParseRateTest, BadInputNamesTheProblem) {
  EXPECT_NE(ParseRate("5").error().message.find("COUNT/PERIOD"), std::string::npos);
  EXPECT_NE(ParseRate("0/s").error().message.find("at least 1"), std::string::npos);
  EXPECT_NE(ParseRate("-1/s").error().message.find("positive"), std::string::npos);
  EXPECT_NE(ParseRate("5/w").error().message.find("unknown unit \"w\""), std::string::npos);
  EXPECT_FALSE(ParseRate("5/").ok());
  EXPECT_FALSE(ParseRate("5/0s").ok());
  EXPECT_FALSE(ParseRate("5/-1s").ok());
  EXPECT_FALSE(ParseRate("1.5/s").ok());
  EXPECT_FALSE(ParseRate("5/1.5s").ok());
  EXPECT_FALSE(ParseRate("5/400d").ok());
  EXPECT_FALSE(ParseRate("99999999999999999999/s").ok());
}

TEST(CompareRatesTest, Exact) {
  EXPECT_EQ(CompareRates(*ParseRate("60/m"), *ParseRate("1/s")), 0);
  EXPECT_LT(CompareRates(*ParseRate("59/m"), *ParseRate("1/s")), 0);
  EXPECT_GT(CompareRates(*ParseRate("3601/h"), *ParseRate("1/s")), 0);
}

// The Redis peer's oracle (../shared/peers/redis-ratelimit.sh check): rate 1/s, burst 5 -> exactly
// 5 of 20 instant calls allowed, and 2 more of 10 after 2.1 s.
TEST(GcraTest, RedisPeerOracle) {
  GcraLimiter g(*ParseRate("1/s"), 5);
  int first = 0;
  for (int i = 0; i < 20; ++i) first += g.Acquire(kT0).allowed();
  // 20 calls at t0: call k has allow_at = t0 + (k+1-5) s, allowed while k+1 <= 5.
  EXPECT_EQ(first, 5);
  int later = 0;
  for (int i = 0; i < 10; ++i) later += g.Acquire(kT0 + 2'100'000'000).allowed();
  // TAT is t0+5 s; at t0+2.1 s the next calls have allow_at t0+1 s, t0+2 s (<= 2.1: allowed), t0+3 s (no).
  EXPECT_EQ(later, 2);
}

TEST(GcraTest, ExactRetryAfterAtTheEdge) {
  GcraLimiter g(*ParseRate("5/m"), 5);  // one unit every 12 s, 5 at once
  for (int i = 0; i < 5; ++i) {
    Decision d = g.Acquire(kT0);
    ASSERT_TRUE(d.allowed());
    EXPECT_EQ(d.remaining, 4 - i);
  }
  Decision d = g.Acquire(kT0 + 3 * kS);
  ASSERT_EQ(d.verdict, Verdict::kDenied);
  // TAT = t0 + 60 s; allow_at for one more = TAT + 12 s - 5*12 s = t0 + 12 s; now is t0 + 3 s -> 9 s.
  EXPECT_EQ(d.retry_after_ns, 9 * kS);
  EXPECT_DOUBLE_EQ(d.retry_after_s(), 9.0);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.reset_after_ns, 57 * kS);  // full at TAT = t0 + 60 s
  EXPECT_EQ(g.Acquire(kT0 + 12 * kS - 1).verdict, Verdict::kDenied);
  Decision ok = g.Acquire(kT0 + 12 * kS);
  EXPECT_TRUE(ok.allowed());
  EXPECT_EQ(ok.remaining, 0);
}

TEST(GcraTest, RetryAfterRoundsUpToTheNanosecond) {
  GcraLimiter g(*ParseRate("3/s"), 3);  // emission interval 333,333,333.33 ns: not a whole ns
  ASSERT_TRUE(g.Acquire(kT0, 3).allowed());
  Decision d = g.Acquire(kT0);
  ASSERT_EQ(d.verdict, Verdict::kDenied);
  // 1e9 / 3 = 333333333.33 ns -> rounded up.
  EXPECT_EQ(d.retry_after_ns, 333'333'334);
  EXPECT_EQ(g.Acquire(kT0 + d.retry_after_ns - 1).verdict, Verdict::kDenied);
  EXPECT_EQ(g.Available(kT0 + d.retry_after_ns), 1);
  // No drift: three units are back after exactly one second (3 x 333333333.33 ns), not 1 ns later.
  EXPECT_EQ(g.Available(kT0 + kS - 1), 2);
  EXPECT_EQ(g.Available(kT0 + kS), 3);
}

TEST(GcraTest, RetryAfterIsExactForEveryN) {
  const Rate r = *ParseRate("100/10s");  // 100 ms per unit
  for (int64_t n = 1; n <= 20; ++n) {
    GcraLimiter g(r, 20);
    ASSERT_TRUE(g.Acquire(kT0, 20).allowed());
    Decision d = g.Acquire(kT0, n);
    ASSERT_EQ(d.verdict, Verdict::kDenied);
    EXPECT_EQ(d.retry_after_ns, n * 100'000'000) << n;  // n units refill in n * 100 ms
    EXPECT_FALSE(g.Acquire(kT0 + d.retry_after_ns - 1, n).allowed()) << n;
    EXPECT_TRUE(g.Acquire(kT0 + d.retry_after_ns, n).allowed()) << n;
  }
}

TEST(GcraTest, NUnitsAndNever) {
  GcraLimiter g(*ParseRate("10/s"), 10);
  Decision d = g.Acquire(kT0, 11);
  EXPECT_EQ(d.verdict, Verdict::kNever);  // 11 > burst 10: no wait ever makes it fit
  EXPECT_EQ(d.retry_after_ns, 0);
  EXPECT_EQ(d.remaining, 10);
  EXPECT_TRUE(g.Acquire(kT0, 10).allowed());  // exactly the burst is fine
  Decision e = g.Acquire(kT0, 10);
  EXPECT_EQ(e.verdict, Verdict::kDenied);
  EXPECT_EQ(e.retry_after_ns, kS);  // 10 units at 100 ms each
}

TEST(GcraTest, BurstRefillsToCapacityOnly) {
  GcraLimiter g(*ParseRate("1/s"), 3);
  EXPECT_EQ(g.Available(kT0), 3);
  ASSERT_TRUE(g.Acquire(kT0, 3).allowed());
  EXPECT_EQ(g.Available(kT0 + 1'999'999'999), 1);
  EXPECT_EQ(g.Available(kT0 + 2 * kS), 2);
  EXPECT_EQ(g.Available(kT0 + 3600 * kS), 3);  // an idle hour does not bank more than the burst
  EXPECT_TRUE(g.IsFull(kT0 + 3 * kS));
  EXPECT_FALSE(g.IsFull(kT0 + 3 * kS - 1));
}

TEST(GcraTest, BackwardsClockJumpGrantsNothing) {
  GcraLimiter g(*ParseRate("1/s"), 5);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(g.Acquire(kT0 + 10 * kS).allowed());
  EXPECT_FALSE(g.Acquire(kT0 + 10 * kS).allowed());
  // The clock goes back an hour: the bucket stays empty (as at the latest time seen) ...
  const int64_t back = kT0 + 10 * kS - 3600 * kS;
  Decision d = g.Acquire(back);
  EXPECT_EQ(d.verdict, Verdict::kDenied);
  EXPECT_EQ(d.retry_after_ns, kS);  // ... and refills from the new "now", not an hour later
  EXPECT_TRUE(g.Acquire(back + kS).allowed());
  // Forward again to the old time: accrual continues from the jump, never beyond the burst.
  EXPECT_EQ(g.Available(back + 2 * kS), 1);
  EXPECT_EQ(g.Available(kT0 + 10 * kS), 5);
}

TEST(GcraTest, ManyBackwardJumpsNeverExceedTheRate) {
  GcraLimiter g(*ParseRate("1/s"), 1);
  int granted = 0;
  int64_t t = kT0;
  for (int i = 0; i < 100; ++i) {
    t += (i % 2 == 0) ? 500'000'000 : -400'000'000;  // net +50 ms per step
    granted += g.Acquire(t).allowed();
  }
  // Real (monotonic) elapsed time is what counts: 50 forward steps of 0.5 s = 25 s of accrual at most,
  // plus the initial burst of 1.
  EXPECT_LE(granted, 26);
  EXPECT_GE(granted, 1);
}

TEST(GcraTest, ReconfigureKeepsUsedUnits) {
  GcraLimiter g(*ParseRate("10/s"), 10);
  ASSERT_TRUE(g.Acquire(kT0, 6).allowed());
  EXPECT_EQ(g.Available(kT0), 4);
  g.Reconfigure(kT0, *ParseRate("20/s"), 10);  // 6 used stay used, now refilling twice as fast
  EXPECT_EQ(g.Available(kT0), 4);
  EXPECT_EQ(g.Available(kT0 + 100'000'000), 6);  // 100 ms at 50 ms/unit = 2 back
  g.Reconfigure(kT0, *ParseRate("20/s"), 3);      // burst shrinks below what is free
  EXPECT_EQ(g.Available(kT0), 0);
  EXPECT_EQ(g.Available(kT0 + 150'000'000), 3);
}

TEST(GcraTest, CreateValidates) {
  EXPECT_FALSE(GcraLimiter::Create(Rate{0, kS}, 1).ok());
  EXPECT_FALSE(GcraLimiter::Create(Rate{1, 0}, 1).ok());
  EXPECT_NE(GcraLimiter::Create(Rate{1, kS}, 0).error().message.find("burst"), std::string::npos);
  EXPECT_FALSE(GcraLimiter::Create(Rate{1, kS}, -3).ok());
  EXPECT_TRUE(GcraLimiter::Create(Rate{1, kS}, 1).ok());
}

}  // namespace
}  // namespace allot::throttle
