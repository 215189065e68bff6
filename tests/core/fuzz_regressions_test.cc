// Inputs the fuzzers (fuzz/, docs/fuzzing.md) found in the core parsers, each with the answer it must get.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <tuple>

#include "allot/quantity.h"

namespace allot {
namespace {

// quantity_fuzz: "819991118299987Pi" (a number below the parser's bound, times 2^50) overflowed the
// 128-bit intermediate and came back as a negative size.
TEST(QuantityFuzzRegression, DockerMemoryTooLargeForItsUnitIsAnError) {
  for (const char* big : {"819991118299987Pi", "9223372036854775p", "9007199254740993t", "8589934592g"}) {
    auto m = ParseDockerMemory(big);
    ASSERT_FALSE(m.ok()) << big << " = " << *m;
    EXPECT_NE(m.error().message.find("too large"), std::string::npos) << m.error().message;
  }
  // The largest sizes each unit allows still parse, exactly.
  EXPECT_EQ(*ParseDockerMemory("8191p"), int64_t{8191} << 50);
  EXPECT_EQ(*ParseDockerMemory("8589934591g"), int64_t{8589934591} << 30);
}

// The same class in ParseDockerCpus: the largest whole number of cores with a fraction rounded up past
// int64's milli-cores and was narrowed to a negative value.
TEST(QuantityFuzzRegression, DockerCpusBeyondInt64MilliIsAnError) {
  auto c = ParseDockerCpus("9223372036854775.999");
  ASSERT_FALSE(c.ok()) << *c;
  EXPECT_NE(c.error().message.find("too large"), std::string::npos) << c.error().message;
  EXPECT_EQ(*ParseDockerCpus("9223372036854775.807"), std::numeric_limits<int64_t>::max());
}

// quantity_fuzz: "1000440005562.5Ki" (1,024,450,565,696,000 bytes, no whole number of Ki) is written as
// those bare bytes; read back, a bare number is DecimalSI, whose canonical form takes the k: the value
// survives the round trip, the string does not, as in Kubernetes. The harness asserted the string.
TEST(QuantityFuzzRegression, ABinaryAmountWrittenAsBareBytesReadsBackAsDecimal) {
  for (auto [in, first, second] :
       {std::tuple{"1000440005562.5Ki", "1024450565696000", "1024450565696k"},
        std::tuple{"62.5Ki", "64000", "64k"}, std::tuple{"1.5Ki", "1536", "1536"}}) {
    auto q = ParseQuantityExact(in);
    ASSERT_TRUE(q.ok()) << in;
    EXPECT_EQ(q->canonical, first) << in;
    EXPECT_EQ(q->format, QuantityFormat::kBinarySI) << in;
    auto again = ParseQuantityExact(q->canonical);
    ASSERT_TRUE(again.ok()) << first;
    EXPECT_EQ(again->canonical, second) << first;
    EXPECT_EQ(again->format, QuantityFormat::kDecimalSI) << first;
    EXPECT_EQ(again->digits, q->digits) << in;
    EXPECT_EQ(again->exp10, q->exp10) << in;
  }
}

// quantity_fuzz: "10000000000000e2147483647" is 1e2147483660; its canonical form moved every zero into
// the exponent ("100e2147483658"), past the e2147483647 the parser reads, so it did not read back.
TEST(QuantityFuzzRegression, AnExponentPastTheParsersRangeStaysInTheMantissa) {
  auto q = ParseQuantityExact("10000000000000e2147483647");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->canonical, "100000000000000e2147483646");
  auto again = ParseQuantityExact(q->canonical);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->canonical, q->canonical);
  EXPECT_EQ(again->digits, q->digits);
  EXPECT_EQ(again->exp10, q->exp10);
  EXPECT_EQ(ParseQuantityExact("1e2147483646")->canonical, "1e2147483646");  // within range: as before
}

}  // namespace
}  // namespace allot
