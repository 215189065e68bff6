#include "allot/throttle/timezone.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = 1'000'000'000;

// Expected instants come from GNU date with the same tz database, e.g.
//   TZ=Europe/Berlin date -d '2024-03-31 00:00' +%s   ->  1711839600

TEST(TimeZoneTest, BerlinOffsets) {
  auto z = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->OffsetAt(1711839600), 3600);      // 2024-03-31 00:00 CET
  EXPECT_EQ(z->OffsetAt(1711846800 - 1), 3600);  // 00:59:59 UTC, still CET
  EXPECT_EQ(z->OffsetAt(1711846800), 7200);      // 01:00 UTC: CEST begins
  EXPECT_EQ(z->OffsetAt(1729990800 - 1), 7200);  // 2024-10-27 00:59:59 UTC, still CEST
  EXPECT_EQ(z->OffsetAt(1729990800), 3600);      // 01:00 UTC: back to CET
}

TEST(TimeZoneTest, SpringForwardDayHas23Hours) {
  auto z = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(z.ok());
  // Noon local on 2024-03-31 (CEST) = 10:00 UTC.
  TimeZone::Day d = z->DayOf(int64_t{1711879200} * kS);
  EXPECT_EQ(d.year, 2024);
  EXPECT_EQ(d.month, 3u);
  EXPECT_EQ(d.day, 31u);
  EXPECT_EQ(d.start_ns, int64_t{1711839600} * kS);  // 2024-03-31 00:00 +0100
  EXPECT_EQ(d.end_ns, int64_t{1711922400} * kS);    // 2024-04-01 00:00 +0200
  EXPECT_EQ(d.end_ns - d.start_ns, 23 * 3600 * kS);
}

TEST(TimeZoneTest, FallBackDayHas25Hours) {
  auto z = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(z.ok());
  // 2024-10-27 02:30 happens twice; the second one (CET) is 01:30 UTC = 1729992600.
  TimeZone::Day d = z->DayOf(int64_t{1729992600} * kS);
  EXPECT_EQ(d.day, 27u);
  EXPECT_EQ(d.start_ns, int64_t{1729980000} * kS);  // 2024-10-27 00:00 +0200
  EXPECT_EQ(d.end_ns, int64_t{1730070000} * kS);    // 2024-10-28 00:00 +0100
  EXPECT_EQ(d.end_ns - d.start_ns, 25 * 3600 * kS);
}

TEST(TimeZoneTest, DayBoundariesAreHalfOpen) {
  auto z = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(z.ok());
  const int64_t midnight = int64_t{1711922400} * kS;  // 2024-04-01 00:00 +0200
  EXPECT_EQ(z->DayOf(midnight - 1).day, 31u);
  EXPECT_EQ(z->DayOf(midnight).day, 1u);
  EXPECT_EQ(z->DayOf(midnight).start_ns, midnight);
}

TEST(TimeZoneTest, BeyondTheTableUsesThePosixFooter) {
  auto z = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(z.ok());
  // 2100 is past the zone file's table (2037): the footer rule CET-1CEST,M3.5.0,M10.5.0/3 decides.
  // Last Sunday of March 2100 is the 28th: that day is 23 h long (GNU date: 4109871600 .. 4109954400).
  TimeZone::Day d = z->DayOf(int64_t{4109900000} * kS);
  EXPECT_EQ(d.year, 2100);
  EXPECT_EQ(d.day, 28u);
  EXPECT_EQ(d.start_ns, int64_t{4109871600} * kS);
  EXPECT_EQ(d.end_ns, int64_t{4109954400} * kS);
  auto posix = TimeZone::FromPosix("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(posix.ok());
  for (int64_t t : {int64_t{1711846799}, int64_t{1711846800}, int64_t{1729990799}, int64_t{1729990800},
                    int64_t{4109900000}}) {
    EXPECT_EQ(posix->OffsetAt(t), z->OffsetAt(t)) << t;
  }
}

TEST(TimeZoneTest, MidnightInADstGapStartsTheDayAtTheGapsEnd) {
  auto z = TimeZone::Load("America/Santiago");
  ASSERT_TRUE(z.ok());
  // 2024-09-08: clocks jump from 00:00 -04 to 01:00 -03, so that day begins at 04:00 UTC
  // (GNU date: '2024-09-08 01:00' -> 1725768000 -0300).
  TimeZone::Day d = z->DayOf(int64_t{1725800000} * kS);
  EXPECT_EQ(d.day, 8u);
  EXPECT_EQ(d.start_ns, int64_t{1725768000} * kS);
  EXPECT_EQ(z->DayOf(d.start_ns - 1).day, 7u);
}

TEST(TimeZoneTest, SouthernHemispherePosixRule) {
  // Australia/Sydney style: DST from the first Sunday of October to the first Sunday of April.
  auto z = TimeZone::FromPosix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->OffsetAt(1704067200), 11 * 3600);  // 2024-01-01 00:00 UTC: summer, AEDT
  EXPECT_EQ(z->OffsetAt(1719792000), 10 * 3600);  // 2024-07-01 00:00 UTC: winter, AEST
  auto sydney = TimeZone::Load("Australia/Sydney");
  ASSERT_TRUE(sydney.ok());
  for (int64_t t = 1704067200; t < 1735689600; t += 86400 / 4) {  // every 6 h through 2024
    ASSERT_EQ(z->OffsetAt(t), sydney->OffsetAt(t)) << t;
  }
}

TEST(TimeZoneTest, UtcAndFixedZones) {
  TimeZone u = TimeZone::Utc();
  TimeZone::Day d = u.DayOf(int64_t{1711879200} * kS);
  EXPECT_EQ(d.start_ns, int64_t{1711843200} * kS);  // 2024-03-31 00:00 UTC
  EXPECT_EQ(d.end_ns - d.start_ns, 86400 * kS);
  auto est = TimeZone::FromPosix("EST5");
  ASSERT_TRUE(est.ok());
  EXPECT_EQ(est->OffsetAt(0), -5 * 3600);
  EXPECT_EQ(est->DayOf(0).day, 31u);  // 1970-01-01 00:00 UTC is still Dec 31 in New York
  auto loaded = TimeZone::Load("UTC");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->OffsetAt(1711879200), 0);
}

TEST(TimeZoneTest, BadNamesAndFiles) {
  EXPECT_EQ(TimeZone::Load("../../etc/passwd").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("/etc/passwd").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("Mars/Olympus_Mons").error().code, ErrorCode::kNotFound);
  auto tab = TimeZone::Load("zone.tab");  // a text file in the database directory
  ASSERT_FALSE(tab.ok());
  EXPECT_NE(tab.error().message.find("not a TZif file"), std::string::npos);
  EXPECT_FALSE(TimeZone::FromTzif("x", "TZif2").ok());
  EXPECT_FALSE(TimeZone::FromPosix("CET-1CEST,M13.5.0,M10.5.0").ok());
  EXPECT_FALSE(TimeZone::FromPosix("X1").ok());
}

}  // namespace
}  // namespace allot::throttle
