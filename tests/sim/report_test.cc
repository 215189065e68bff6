// allot sim --json writes its requests directly, not through a JSON library: the text must be exactly
// what nlohmann's ordered_json gives with dump(2) for the same values, so parsing it and dumping again
// must give the same bytes, for any ids, times, gangs and devices.
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "allot/sim.h"

namespace allot::sim {
namespace {

std::string Canonical(const std::string& text) {
  return nlohmann::ordered_json::parse(text).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

TEST(SimReport, RequestsAreWrittenAsTheJsonLibraryWouldWriteThem) {
  std::mt19937_64 rng(42);
  const std::vector<std::string> names = {"req-1", "", "a\"b", "back\\slash", "tab\there", "nl\nline",
                                          "\x01\x1f", "caf\xc3\xa9", "bad\xff\xfe", "\xe2\x82\xac", "x/y z"};
  const std::vector<TimeMs> times = {-1, 0, 1, 9, 10, 100, 999, 1000, 1001, 1010, 1100, 79009, 86'400'000,
                                     999'999'999'999, 1'000'000'000'000, 1'000'000'000'001, 4'611'686'018'427'387'903};
  auto name = [&] { return names[rng() % names.size()]; };
  auto time = [&] { return times[rng() % times.size()]; };
  SimResult r;
  for (int i = 0; i < 400; i++) {
    RequestOutcome o;
    o.id = name();
    o.tenant = name();
    o.priority = static_cast<int>(rng() % 7) - 2;
    o.state = static_cast<AllocState>(rng() % 6);
    o.count = 1 + static_cast<int>(rng() % 3);
    for (int u = 0; u < o.count && rng() % 4 != 0; u++) o.nodes.push_back(name());
    o.submitted = time();
    o.started = time();
    o.ended = time();
    o.reason = name();
    if (rng() % 3 == 0) o.preempted_by = name();
    for (int d = static_cast<int>(rng() % 3); d > 0; d--) o.devices.push_back(name());
    r.requests.push_back(std::move(o));
  }
  r.summary.states["completed"] = 400;
  std::string text = ToJson(r, false);
  EXPECT_EQ(text, Canonical(text));
  auto parsed = nlohmann::ordered_json::parse(text);
  ASSERT_EQ(parsed["requests"].size(), 400u);
  // Values survive: a time in milliseconds is seconds with three decimals at most.
  for (size_t i = 0; i < r.requests.size(); i++) {
    const auto& j = parsed["requests"][i];
    const auto& o = r.requests[i];
    if (o.submitted < 0) EXPECT_TRUE(j["submitted"].is_null());
    else EXPECT_DOUBLE_EQ(j["submitted"].get<double>(), static_cast<double>(o.submitted) / 1000.0) << i;
    EXPECT_EQ(j["priority"].get<int>(), o.priority);
    EXPECT_EQ(j.contains("nodes"), o.count > 1);
    EXPECT_EQ(j.contains("wait"), o.started >= 0);
  }
}

TEST(SimReport, NoRequestsIsAnEmptyArray) {
  SimResult r;
  std::string text = ToJson(r, false);
  EXPECT_EQ(text, Canonical(text));
  EXPECT_NE(text.find("\"requests\": []"), std::string::npos);
}

}  // namespace
}  // namespace allot::sim
