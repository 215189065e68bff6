// The quantity table: inputs, their milli-values and Kubernetes' canonical form.
#include "allot/quantity.h"

#include <gtest/gtest.h>

#include "support.h"

namespace allot {
namespace {

struct Case {
  const char* in;
  int64_t milli;
  const char* canonical;
};

// Each row follows apimachinery's rules: values are rounded up (away from zero) to 1n; an input already
// in canonical form is printed back as typed; BinarySI prints as DecimalSI when inexact or |v| < 1024.
const Case kValid[] = {
    {"0", 0, "0"},
    {"1", 1000, "1"},
    {"500m", 500, "500m"},
    {"0.5", 500, "500m"},
    {".5", 500, "500m"},
    {"1.", 1000, "1."},               // fast path keeps the typed string
    {"1.5", 1500, "1500m"},
    {"2", 2000, "2"},
    {"100m", 100, "100m"},
    {"1000m", 1000, "1"},           // 1000m has trailing zeros: recomputed as 1
    {"1500m", 1500, "1500m"},
    {"1k", 1000000, "1k"},
    {"1000", 1000000, "1k"},        // shifted "1000" ends in 000: recomputed
    {"100", 100000, "100"},
    {"1M", 1000000000, "1M"},
    {"1G", 1000000000000LL, "1G"},
    {"8G", 8000000000000LL, "8G"},
    {"1T", 1000000000000000LL, "1T"},
    {"1P", 1000000000000000000LL, "1P"},
    {"1Ki", 1024000, "1Ki"},
    {"1Mi", 1048576000, "1Mi"},
    {"512Mi", 536870912000LL, "512Mi"},
    {"2Gi", 2147483648000LL, "2Gi"},
    {"1024Mi", 1073741824000LL, "1Gi"},  // 1024 & 7 == 0: recomputed
    {"1.5Gi", 1610612736000LL, "1536Mi"},
    {"0.5Gi", 536870912000LL, "512Mi"},
    {"0.5Ki", 512000, "512"},           // below 1024: DecimalSI
    {"1.1Ki", 1126400, "1126400m"},      // inexact in bytes: DecimalSI
    {"1e3", 1000000, "1e3"},
    {"1E3", 1000000, "1E3"},           // canonical by Kubernetes' test: the input string is kept
    {"1e+3", 1000000, "1e+3"},
    {"1e-3", 1, "1e-3"},
    {"1.5e3", 1500000, "1500"},
    {"12e6", 12000000000LL, "12e6"},
    {"1e0", 1000, "1e0"},
    {"e3", 0, "0"},                     // no digits: zero, as Kubernetes parses it
    {"2e2", 200000, "200"},
    {"1n", 1, "1n"},                    // milli rounds up
    {"1u", 1, "1u"},
    {"1500u", 2, "1500u"},
    {"1.5m", 2, "1500u"},
    {"0.0001", 1, "100u"},
    {"1e-10", 1, "1e-9"},               // rounded up to 1n
    {"0.0000000001", 1, "1n"},
    {"-1", -1000, "-1"},
    {"-1.5", -1500, "-1500m"},
    {"-500m", -500, "-500m"},
    {"-1Ki", -1024000, "-1Ki"},
    {"-1.5m", -2, "-1500u"},
    {"+1", 1000, "+1"},                 // kept as typed, as Kubernetes does
    {"+1.5", 1500, "1500m"},
    {"01", 1000, "01"},                 // leading zeros stripped, yet the input is kept
    {"000", 0, "0"},
    {"0.0", 0, "0"},
    {"0Mi", 0, "0"},
    {"Ki", 0, "0"},                     // an empty number is 0 in Kubernetes
    {"1.500", 1500, "1.500"},
    {"1.5000", 1500, "1500m"},
    {"100E", 0, nullptr},               // too large for int64 milli: listed below as invalid
};

TEST(QuantityTest, ValidTable) {
  for (const auto& c : kValid) {
    if (c.canonical == nullptr) continue;
    auto q = ParseQuantity(c.in);
    ASSERT_TRUE(q.ok()) << c.in << ": " << q.error().message;
    EXPECT_EQ(q->Milli(), c.milli) << c.in;
    EXPECT_EQ(q->canonical, c.canonical) << c.in;
  }
}

TEST(QuantityTest, CanonicalFormIsStable) {
  // Parsing a canonical form again gives the same value and the same text.
  for (const auto& c : kValid) {
    if (c.canonical == nullptr) continue;
    auto q = ParseQuantity(c.canonical);
    ASSERT_TRUE(q.ok()) << c.canonical;
    EXPECT_EQ(q->Milli(), c.milli) << c.canonical;
    EXPECT_EQ(q->canonical, c.canonical) << c.canonical;
  }
}

TEST(QuantityTest, InvalidTable) {
  const char* kInvalid[] = {"",     "x",      "1x",  "1 Ki", " 1", "1 ",  "1.2.3", "1Ki2", "1e3e", "1e",
                            "1ki",  "1KI",    "1mi", "1Gb",  "--1", "1..", "1e1.5",   "1k1", "1Kii", "1e3.0",
                            "100E", "10000P", "9Ei", "1e100", "1µ", "0x10", "1_000", "∞"};
  for (const char* in : kInvalid) {
    auto q = ParseQuantity(in);
    EXPECT_FALSE(q.ok()) << "'" << in << "' should be rejected, got " << (q.ok() ? q->canonical : "");
    if (!q.ok()) {
      EXPECT_NE(q.error().message.find("invalid quantity"), std::string::npos);
    }
  }
}

TEST(QuantityTest, ExponentRange) {
  // Kubernetes parses the exponent as an int64 (past it: a ParseInt range error) and keeps it as a
  // negated int32 scale, so only [-2147483647, 2147483647] is accepted (TestInterpretExponentInt32Bounds).
  for (const char* bad : {"1e9223372036854775808", "1e-9223372036854775809", "0e9223372036854775808",
                          "0e-9223372036854775809", "1e9223372036854775807", "1e2147483648", "1e-2147483648",
                          "1e4294967297", "1E8589934592", "1e6024865272343", "-1e99999999999999999999"}) {
    auto q = ParseQuantityExact(bad);
    EXPECT_FALSE(q.ok()) << bad << " parsed as " << (q.ok() ? q->canonical : "");
    if (!q.ok()) {
      EXPECT_NE(q.error().message.find("exponent out of range"), std::string::npos) << q.error().message;
    }
    EXPECT_FALSE(ParseQuantity(bad).ok()) << bad;
  }
  // The bounds themselves parse, and are kept as digits and an exponent, never expanded: the canonical
  // form and the JSON milli-value stay as short as the input.
  auto big = ParseQuantityExact("1e2147483647");
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->canonical, "10e2147483646");  // the exponent moved to a multiple of 3, as Kubernetes prints it
  EXPECT_EQ(big->MilliText(), "1e2147483650");  // exact: 1 × 10^(2147483647 + 3) milli
  auto zero = ParseQuantityExact("0e2147483647");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->canonical, "0");
  EXPECT_EQ(zero->MilliText(), "0");
  auto tiny = ParseQuantityExact("1e-2147483647");  // rounded up to 1n, as Kubernetes rounds
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->canonical, "1e-9");
  EXPECT_EQ(tiny->MilliText(), "1");
  // Leading zeros: ParseInt takes them (and the fast path keeps the typed string).
  EXPECT_EQ(ParseQuantityExact("1e+0000000000000000000000003")->MilliText(), "1000000");
  // Milli-values up to 1024 zeros are written out in full; past that as digits and an exponent.
  EXPECT_EQ(ParseQuantityExact("5e1021")->MilliText(), "5" + std::string(1024, '0'));
  EXPECT_EQ(ParseQuantityExact("5e1022")->MilliText(), "5e1025");
  EXPECT_EQ(ParseQuantityExact("-25e3000")->MilliText(), "-25e3003");
}

// Held-out rows from apimachinery's quantity_test.go (TestQuantityParse, TestQuantityString,
// TestQuantityParseEmit), restated: input, canonical form and, where it fits, the milli-value.
TEST(QuantityTest, KubernetesTableRows) {
  struct Row {
    const char* in;
    const char* canonical;
    const char* milli;
  };
  const Row kRows[] = {
      {"0n", "0", "0"},
      {"0Ki", "0", "0"},
      {"8Ki", "8Ki", "8192000"},
      {"7Mi", "7Mi", "7340032000"},
      {"3Ei", "3Ei", "3458764513820540928000"},
      {"100Ti", "100Ti", "109951162777600000"},
      {"50k", "50k", "50000000"},
      {"300T", "300T", "300000000000000000"},
      {"1.2e3", "1200", "1200000"},               // 12e2 -> exponent to a multiple of 3: 1200
      {"1.3E+6", "1300e3", "1300000000"},
      {"1.40e9", "1400e6", "1400000000000"},
      {"0.5e-1", "50e-3", "50"},
      {"0.0005k", "500m", "500"},
      {"10.035M", "10.035M", "10035000000"},     // scale 6-3 is a multiple of 3: kept as typed
      {"7.123456M", "7.123456M", "7123456000"},
      {"6.987654321G", "6.987654321G", "6987654321000"},
      {"10.0350M", "10035k", "10035000000"},     // shifted 100350 ... scale 2: recomputed
      {"0.00000012354", "124n", "1"},
      {"0.0000000005", "1n", "1"},
      {"0.9n", "1n", "1"},
      {"0.5e-9", "1e-9", "1"},
      {"0.05Gi", "53687091200m", "53687091200"},  // 53687091.2 bytes: not whole, DecimalSI
      {"0.025Ti", "27487790694400m", "27487790694400"},
      {".001Ki", "1024m", "1024"},
      {".000001Ki", "1024u", "2"},
      {".000000001Ki", "1024n", "1"},
      {"1.G", "1.G", "1000000000000"},           // canonical by the fast path: kept as typed
      {".0001k", "100m", "100"},
      {"1000M", "1G", "1000000000000"},
      {"1080m", "1080m", "1080"},
      {"1.08", "1080m", "1080"},
      {"1080000000n", "1080m", "1080"},
      {"0.001T", "1G", "1000000000000"},
      {"1000E", "1e21", "1000000000000000000000000"},  // Kubernetes' fallback past E (no "1")
      {"5000E", "5e21", "5000000000000000000000000"},
      {".001e12", "1e9", "1000000000000"},
      {"1000e-12", "1e-9", "1"},
      {"-300.2T", "-300200G", "-300200000000000000"},
  };
  for (const auto& r : kRows) {
    auto q = ParseQuantityExact(r.in);
    ASSERT_TRUE(q.ok()) << r.in << ": " << q.error().message;
    EXPECT_EQ(q->canonical, r.canonical) << r.in;
    EXPECT_EQ(q->MilliText(), r.milli) << r.in;
  }
}

// Kubernetes caps BinarySI values past 2^63-1 at 2^63-1 after rounding to 1n (maxAllowed), fractional
// ones too; its Value() of the result is 9223372036854775807. DecimalSI values are not capped.
TEST(QuantityTest, BinarySiCap) {
  for (const char* in : {"9Ei", "8.1Ei", "8.0000000001Ei", "9223372036854775807.5", "9223372036854775807Ki",
                         "1000000Pi", "8192.5Pi"}) {
    bool binary = std::string_view(in).find('i') != std::string_view::npos;
    auto q = ParseQuantityExact(in);
    ASSERT_TRUE(q.ok()) << in;
    if (!binary) {
      EXPECT_EQ(q->canonical, "9223372036854775807500m") << in;  // DecimalSI: not capped
      continue;
    }
    EXPECT_EQ(q->canonical, "9223372036854775807") << in;
    EXPECT_EQ(q->MilliText(), "9223372036854775807000") << in;
    auto v = ParseQuantity(in, QuantityRange::kValue);
    ASSERT_TRUE(v.ok()) << in;
    EXPECT_EQ(v->Value(), INT64_MAX) << in;
    EXPECT_EQ(v->Milli(), INT64_MAX) << in;  // saturated (Kubernetes' MilliValue wraps to -1000)
    EXPECT_FALSE(ParseQuantity(in).ok()) << in;  // milli-value past int64
  }
  auto neg = ParseQuantityExact("-8.1Ei");  // the sign is put back after the cap
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(neg->canonical, "-9223372036854775807");
  // Just below the cap: 8Ei - 1 byte is 9223372036854775807, exact and unchanged.
  EXPECT_EQ(ParseQuantityExact("8191.99999999999999911182158029987Pi")->canonical, "9223372036854775807");
  EXPECT_EQ(ParseQuantityExact("7.5Ei")->canonical, "7680Pi");
}

TEST(QuantityTest, ValueRange) {
  // Bytes and counts may use all of int64: 100000Ti and 20Pi are far past the milli limit (~8Pi).
  auto disk = ParseQuantity("100000Ti", QuantityRange::kValue);
  ASSERT_TRUE(disk.ok()) << disk.error().message;
  EXPECT_EQ(disk->Value(), 100000LL << 40);  // 109951162777600000
  EXPECT_EQ(disk->canonical, "100000Ti");
  EXPECT_EQ(ParseQuantity("20Pi", QuantityRange::kValue)->Value(), 20LL << 50);
  EXPECT_EQ(ParseQuantity("9223372036854775807", QuantityRange::kValue)->Value(), INT64_MAX);
  auto over = ParseQuantity("9223372036854775808", QuantityRange::kValue);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("the value must fit in 64 bits"), std::string::npos) << over.error().message;
  // Value() rounds up: one nano past the largest value is refused.
  EXPECT_EQ(ParseQuantity("9223372036854775806.000000001", QuantityRange::kValue)->Value(), INT64_MAX);
  EXPECT_FALSE(ParseQuantity("9223372036854775807.000000001", QuantityRange::kValue).ok());
  EXPECT_FALSE(ParseQuantity("1e30", QuantityRange::kValue).ok());
  EXPECT_EQ(ParseQuantity("-9223372036854775807", QuantityRange::kValue)->Value(), -INT64_MAX);
  // The milli range is unchanged.
  auto milli = ParseQuantity("100000Ti");
  ASSERT_FALSE(milli.ok());
  EXPECT_NE(milli.error().message.find("milli-value must fit in 64 bits"), std::string::npos);
}

TEST(QuantityTest, LargestAccepted) {
  // 9223372036854775807m is the largest milli-value; one more nano is rejected.
  auto q = ParseQuantity("9223372036854775807m");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Milli(), INT64_MAX);
  EXPECT_FALSE(ParseQuantity("9223372036854775808m").ok());
  EXPECT_TRUE(ParseQuantity("8Pi").ok());
  EXPECT_EQ(ParseQuantity("8Pi")->Value(), 9007199254740992LL);
}

TEST(QuantityTest, FormatHelpers) {
  EXPECT_EQ(FormatMilli(1500), "1500m");
  EXPECT_EQ(FormatMilli(2000), "2");
  EXPECT_EQ(FormatBytes(2147483648LL), "2Gi");
  EXPECT_EQ(FormatBytes(1000), "1k");
  EXPECT_EQ(FormatBytes(1536), "1536");
  EXPECT_EQ(FormatBytes(3 * 1024), "3Ki");
}

TEST(DockerUnitsTest, Memory) {
  struct {
    const char* in;
    int64_t bytes;
  } cases[] = {{"512m", 512LL << 20}, {"2g", 2LL << 30}, {"1gb", 1LL << 30}, {"1GB", 1LL << 30},
               {"100", 100},          {"100b", 100},     {"1k", 1024},       {"1.5g", 3LL << 29},
               {"1kb", 1024},         {"1t", 1LL << 40}, {"2 g", 2LL << 30}, {"0.5k", 512},
               {"1gib", 1LL << 30}};
  for (auto& c : cases) {
    auto r = ParseDockerMemory(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.error().message;
    EXPECT_EQ(*r, c.bytes) << c.in;
  }
  for (const char* bad : {"", "g", "1x", "-1g", "1.2.3m", "1gg"}) EXPECT_FALSE(ParseDockerMemory(bad).ok()) << bad;
}

TEST(DockerUnitsTest, Cpus) {
  EXPECT_EQ(*ParseDockerCpus("0.5"), 500);
  EXPECT_EQ(*ParseDockerCpus("2"), 2000);
  EXPECT_EQ(*ParseDockerCpus("0.0001"), 1);
  EXPECT_EQ(*ParseDockerCpus("1.25"), 1250);
  EXPECT_FALSE(ParseDockerCpus("-1").ok());
  EXPECT_FALSE(ParseDockerCpus("half").ok());
  EXPECT_FALSE(ParseDockerCpus("500m").ok());
}

TEST(QuantityCliTest, JsonAndExitCodes) {
  auto r = testing::RunAllot({"quantity", "--json", "500m", "2Gi", "bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("\"milli\": 500"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"canonical\": \"2Gi\""), std::string::npos);
  EXPECT_NE(r.out.find("\"error\""), std::string::npos);
  auto neg = testing::RunAllot({"quantity", "--", "-1"});
  EXPECT_EQ(neg.exit_code, 0);
  EXPECT_EQ(neg.out, "-1\n");
  auto plain = testing::RunAllot({"quantity", "1024Mi", "1.5"});
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_EQ(plain.out, "1Gi\n1500m\n");
  auto bad = testing::RunAllot({"quantity", "1x"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("allot: quantity: ", 0), 0u) << bad.err;
}

}  // namespace
}  // namespace allot

namespace allot {
namespace {

// Magnitudes beyond int64 milli, as Kubernetes parses them (inf.Dec path; BinarySI capped at 2^63-1).
TEST(QuantityExactTest, LargeAndTinyValues) {
  struct {
    const char* in;
    const char* milli;
    const char* canonical;
  } cases[] = {
      {"1E18", "1000000000000000000000", "1E18"},          // fast path keeps the typed form
      {"12E", "12000000000000000000000", "12E"},
      {"1.7E18", "1700000000000000000000", "1700e15"},     // 17e17: exponent to a multiple of 3
      {"1.01E", "1010000000000000000000", "1010P"},
      {"9Ei", "9223372036854775807000", "9223372036854775807"},  // capped at 2^63-1
      {"9223372036854775807Ki", "9223372036854775807000", "9223372036854775807"},
      {"1e100", nullptr, "10e99"},                        // milli 10^103, checked below
      {"0.000000000001Ki", "1", "2n"},                     // 1.024n rounds up to 2n, DecimalSI
      {"100.035Ki", "102435840", "102435840m"},            // 102435.84 bytes: not whole, DecimalSI
      {"0.5Mi", "524288000", "512Ki"},
      {"3.001n", "1", "4n"},
      {"1.1E-9", "1", "2e-9"},
      {"0.00000012345", "1", "124n"},
      {"-12E", "-12000000000000000000000", "-12E"},
      {"1000E", "1000000000000000000000000", "1e21"},      // Kubernetes would print a bare "1" here
  };
  for (const auto& c : cases) {
    auto q = ParseQuantityExact(c.in);
    ASSERT_TRUE(q.ok()) << c.in << ": " << q.error().message;
    EXPECT_EQ(q->MilliText(), c.milli ? std::string(c.milli) : "1" + std::string(103, '0')) << c.in;
    EXPECT_EQ(q->canonical, c.canonical) << c.in;
  }
  // Kubernetes' own invalid inputs stay invalid.
  for (const char* bad : {"1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 "}) {
    EXPECT_FALSE(ParseQuantityExact(bad).ok()) << bad;
  }
  // The int64 entry point refuses what does not fit.
  EXPECT_FALSE(ParseQuantity("1E18").ok());
  EXPECT_TRUE(ParseQuantity("1P").ok());
}

TEST(QuantityExactTest, CliPrintsExactBigIntegers) {
  auto r = testing::RunAllot({"quantity", "--json", "12E"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("\"milli\": 12000000000000000000000,"), std::string::npos) << r.out;
}

// Bytes for people (issue 15): exact in the unit the amount was most likely given in; in tables, rounded
// with '~' once the exact number would be longer than 4 digits.
TEST(FormatBytesTest, ExactInTheLargestUnitWithFewestDigits) {
  EXPECT_EQ(FormatBytesExact(0), "0");
  EXPECT_EQ(FormatBytesExact(1536), "1536");  // 1.5Ki is not whole: plain bytes
  EXPECT_EQ(FormatBytesExact(int64_t{4} << 30), "4Gi");
  EXPECT_EQ(FormatBytesExact(1000 * (int64_t{1} << 20)), "1000Mi");  // 1048576k has more digits
  EXPECT_EQ(FormatBytesExact(1'000'000'000), "1G");
  EXPECT_EQ(FormatBytesExact(2'000'000'000), "2G");  // Kubernetes' canonical form: 1953125Ki
  EXPECT_EQ(FormatBytes(2'000'000'000), "1953125Ki");
  EXPECT_EQ(FormatBytesExact(14536037 * int64_t{1024}), "14536037Ki");  // nothing shorter is exact
  EXPECT_EQ(FormatBytesExact(int64_t{1} << 60), "1Ei");
  EXPECT_EQ(FormatBytesExact(INT64_MAX), "9223372036854775807");
  EXPECT_EQ(FormatBytesExact(-(int64_t{3} << 20)), "-3Mi");
  EXPECT_EQ(FormatBytesExact(INT64_MIN), "-8Ei");
  // Each is a quantity that parses back to the same bytes.
  for (int64_t v :
       {int64_t{1536}, int64_t{1} << 40, int64_t{5'000'000}, int64_t{1234567} * 1024, INT64_MAX}) {
    auto q = ParseQuantity(FormatBytesExact(v), QuantityRange::kValue);
    ASSERT_TRUE(q.ok()) << FormatBytesExact(v);
    EXPECT_EQ(q->Value(), v) << FormatBytesExact(v);
  }
}

TEST(FormatBytesTest, TablesRoundLongNumbersAndSaySo) {
  EXPECT_EQ(FormatBytesTable(int64_t{64} << 30), "64Gi");
  EXPECT_EQ(FormatBytesTable(5096 * (int64_t{1} << 20)), "5096Mi");  // 4 digits: still exact
  EXPECT_EQ(FormatBytesTable(1'000'000'000), "1G");
  EXPECT_EQ(FormatBytesTable(512), "512");
  // 14536037Ki = 13.8626... Gi; 798853497Ki = 761.84... Gi; 130072Mi = 127.02... Gi.
  EXPECT_EQ(FormatBytesTable(14536037 * int64_t{1024}), "~13.86Gi");
  EXPECT_EQ(FormatBytesTable(798853497 * int64_t{1024}), "~761.8Gi");
  EXPECT_EQ(FormatBytesTable(130072 * (int64_t{1} << 20)), "~127Gi");
  EXPECT_EQ(FormatBytesTable(12345), "~12.06Ki");
  // 1023.99Gi rounds to the next unit rather than to "1024Gi".
  EXPECT_EQ(FormatBytesTable((int64_t{1} << 40) - 1), "~1Ti");
  EXPECT_EQ(FormatBytesTable(INT64_MAX), "~8Ei");
  EXPECT_EQ(FormatBytesTable(-(14536037 * int64_t{1024})), "~-13.86Gi");
}

}  // namespace
}  // namespace allot
