#include "allot/throttle/quota.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = kNanosPerSecond;

std::shared_ptr<const TimeZone> Berlin() {
  auto z = TimeZone::Load("Europe/Berlin");
  EXPECT_TRUE(z.ok());
  return std::make_shared<const TimeZone>(std::move(*z));
}

TEST(CalendarQuotaTest, ResetsAtLocalMidnight) {
  CalendarQuota q(3, Berlin());
  // 2024-03-30 23:00 UTC is 2024-03-31 00:00 CET (GNU date: 1711839600).
  const int64_t day_start = int64_t{1711839600} * kS;
  const int64_t day_end = int64_t{1711922400} * kS;  // 2024-04-01 00:00 CEST: a 23-hour day
  const int64_t t = day_start + 5 * 3600 * kS;
  EXPECT_TRUE(q.Acquire(t, 2).allowed());
  Decision one = q.Acquire(t);
  EXPECT_TRUE(one.allowed());
  EXPECT_EQ(one.remaining, 0);
  Decision d = q.Acquire(t);
  ASSERT_EQ(d.verdict, Verdict::kDenied);
  // 23 h day minus 5 h used = 18 h to the next local midnight.
  EXPECT_EQ(d.retry_after_ns, 18 * 3600 * kS);
  EXPECT_EQ(d.retry_after_ns, day_end - t);
  EXPECT_FALSE(q.Acquire(day_end - 1).allowed());
  Decision next = q.Acquire(day_end);
  EXPECT_TRUE(next.allowed());
  EXPECT_EQ(next.remaining, 2);
}

TEST(CalendarQuotaTest, FallBackDayIs25Hours) {
  CalendarQuota q(1, Berlin());
  const int64_t start = int64_t{1729980000} * kS;  // 2024-10-27 00:00 +0200
  ASSERT_TRUE(q.Acquire(start).allowed());
  Decision d = q.Acquire(start + kS);
  ASSERT_EQ(d.verdict, Verdict::kDenied);
  EXPECT_EQ(d.retry_after_ns, 25 * 3600 * kS - kS);  // 25 h day, 1 s already gone
}

TEST(CalendarQuotaTest, NeverWhenNExceedsTheDailyLimit) {
  CalendarQuota q(10, std::make_shared<const TimeZone>(TimeZone::Utc()));
  Decision d = q.Acquire(0, 11);
  EXPECT_EQ(d.verdict, Verdict::kNever);
  EXPECT_EQ(d.retry_after_ns, 0);
  EXPECT_EQ(d.remaining, 10);
}

TEST(CalendarQuotaTest, BackwardsJumpAcrossMidnightDoesNotReset) {
  CalendarQuota q(2, std::make_shared<const TimeZone>(TimeZone::Utc()));
  const int64_t day2 = 86400 * kS;
  ASSERT_TRUE(q.Acquire(day2 + 10 * kS, 2).allowed());
  // The clock goes back into yesterday: that is not a new day, the used units stay used.
  Decision d = q.Acquire(day2 - 3600 * kS);
  EXPECT_EQ(d.verdict, Verdict::kDenied);
  EXPECT_EQ(d.retry_after_ns, 86400 * kS + 3600 * kS);  // until the real end of day 2
  EXPECT_TRUE(q.Acquire(2 * day2).allowed());
}

}  // namespace
}  // namespace allot::throttle
