// The one duration parser (API bodies, config files, command-line flags) and the short form allot prints.
#include "allot/duration.h"

#include <gtest/gtest.h>

namespace allot {
namespace {

TEST(Duration, UnitsAndSumsOfTerms) {
  EXPECT_EQ(*ParseDurationNs("90s"), 90 * kNanosPerSecond);
  EXPECT_EQ(*ParseDurationNs("1m30s"), 90 * kNanosPerSecond);
  EXPECT_EQ(*ParseDurationNs("1h30m"), 5400 * kNanosPerSecond);
  EXPECT_EQ(*ParseDurationNs("1.5h"), 5400 * kNanosPerSecond);
  EXPECT_EQ(*ParseDurationNs("2d"), 2 * 86400 * kNanosPerSecond);
  EXPECT_EQ(*ParseDurationNs("500ms"), 500 * kNanosPerMs);
  EXPECT_EQ(*ParseDurationNs("250us"), 250'000);
  EXPECT_EQ(*ParseDurationNs("7ns"), 7);
  EXPECT_EQ(*ParseDurationNs("0s"), 0);
}

TEST(Duration, APlainNumberCountsInTheCallersUnit) {
  EXPECT_EQ(*ParseDurationNs("45"), 45 * kNanosPerSecond);
  EXPECT_EQ(*ParseDurationNs("2.5"), 2500 * kNanosPerMs);
  EXPECT_EQ(*ParseDurationNs("250", kNanosPerMs), 250 * kNanosPerMs);  // a flag that always took ms
  EXPECT_EQ(*ParseDurationMs("2.5"), 2500);
  EXPECT_EQ(*ParseDurationMs("1h30m"), 5'400'000);
  // The API's rounding: to the nearest millisecond.
  EXPECT_EQ(*ParseDurationMs("1.5ms"), 2);
  EXPECT_EQ(*ParseDurationMs("400us"), 0);
}

TEST(Duration, ErrorsSayWhatIsWrong) {
  auto neg = ParseDurationNs("-1s");
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.error().message.find("must not be negative"), std::string::npos) << neg.error().message;
  auto unit = ParseDurationNs("5 parsecs");
  ASSERT_FALSE(unit.ok());
  auto fortnight = ParseDurationNs("2fortnights");
  ASSERT_FALSE(fortnight.ok());
  EXPECT_NE(fortnight.error().message.find("unknown unit \"fortnights\""), std::string::npos);
  auto bare = ParseDurationNs("1h30");
  ASSERT_FALSE(bare.ok());
  EXPECT_NE(bare.error().message.find("needs a unit"), std::string::npos) << bare.error().message;
  EXPECT_FALSE(ParseDurationNs("").ok());
  EXPECT_FALSE(ParseDurationNs("s").ok());
  EXPECT_FALSE(ParseDurationNs("nan").ok());
  EXPECT_FALSE(ParseDurationNs("inf").ok());
  EXPECT_FALSE(ParseDurationNs("1H").ok());  // units are lower case, as in Go's time.ParseDuration
  EXPECT_FALSE(ParseDurationNs("300y").ok());
  EXPECT_FALSE(ParseDurationNs("1000000d").ok());  // past int64 nanoseconds
  EXPECT_FALSE(ParseDurationMs("-5").has_value());
  EXPECT_TRUE(ParseDurationMs("1000000d").has_value());  // the API's milliseconds go further
  EXPECT_FALSE(ParseDurationMs("1e13").has_value());     // past kMaxDurationMs
}

TEST(Duration, FlagsNameThemselvesAndTheirRange) {
  EXPECT_EQ(*ParseDurationFlag("interval", "2s"), 2000);
  EXPECT_EQ(*ParseDurationFlag("interval", "2"), 2000);
  EXPECT_EQ(*ParseDurationFlag("cpu-sample-ms", "250", 1), 250);
  EXPECT_EQ(*ParseDurationFlag("cpu-sample-ms", "1s", 1), 1000);
  auto bad = ParseDurationFlag("timeout", "soon");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind("--timeout \"soon\": not a duration", 0), 0u) << bad.error().message;
  auto small = ParseDurationFlag("interval", "10ms", 1000, 50, 86'400'000);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().message, "--interval \"10ms\": must be between 50ms and 1d");
}

TEST(Duration, FormatIsExactAndShort) {
  EXPECT_EQ(FormatDurationMs(0), "0s");
  EXPECT_EQ(FormatDurationMs(250), "250ms");
  EXPECT_EQ(FormatDurationMs(1500), "1.5s");
  EXPECT_EQ(FormatDurationMs(120'000), "2m");
  EXPECT_EQ(FormatDurationMs(5'400'000), "1h30m");
  EXPECT_EQ(FormatDurationMs(97'200'000), "1d3h");
  EXPECT_EQ(FormatDurationMs(60'500), "1m0.5s");
  EXPECT_EQ(FormatDurationMs(-1500), "-1.5s");
  // What it prints, the parser reads back.
  for (int64_t ms : {1, 999, 1000, 61'001, 3'723'004, 90'061'001}) {
    EXPECT_EQ(*ParseDurationMs(FormatDurationMs(ms)), ms) << FormatDurationMs(ms);
  }
}

}  // namespace
}  // namespace allot
