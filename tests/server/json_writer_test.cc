// The request path writes its answers as text (JsonWriter, WriteAllocFields) and formats times without
// gmtime: each must say exactly what the Json objects, Dump and gmtime said before.
#include <gtest/gtest.h>

#include <ctime>
#include <random>

#include "server/state.h"
#include "server/throttle_state.h"
#include "server/util.h"

namespace allot::server {
namespace {

// Times as gmtime and printf wrote them (the reference the fast formatter replaces).
std::string ReferenceTime(int64_t ms) {
  time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int64_t frac = ms - static_cast<int64_t>(secs) * 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(frac));
  return buf;
}

TEST(FormatTimeTest, SaysWhatGmtimeSays) {
  std::mt19937_64 rng(7);
  // Leap days, century years (1900 and 2100 are not leap, 2000 is), the epoch's edges, negative times,
  // and the ends of four-digit years.
  const int64_t fixed[] = {0,
                           -1,
                           999,
                           -999,
                           951'782'400'000,      // 2000-02-29
                           951'868'799'999,      // its last millisecond
                           4'107'542'400'000,    // 2100-03-01
                           -2'203'891'200'000,   // 1900-03-01
                           253'402'300'799'999,  // 9999-12-31T23:59:59.999
                           253'402'300'800'000,  // 10000-01-01
                           -62'167'219'200'000,  // 0000-01-01
                           -62'167'219'200'001};
  for (int64_t ms : fixed) EXPECT_EQ(FormatTime(ms), ReferenceTime(ms)) << ms;
  std::uniform_int_distribution<int64_t> any(-70'000'000'000'000, 300'000'000'000'000);
  for (int i = 0; i < 200'000; i++) {
    int64_t ms = any(rng);
    ASSERT_EQ(FormatTime(ms), ReferenceTime(ms)) << ms;
  }
}

TEST(JsonWriterTest, EscapesAsDumpDoes) {
  const std::vector<std::string> strings = {
      "",         "plain", "a\"b",        "back\\slash", "tab\there",    "nl\n",
      "\x01\x1f", "\x7f",  "caf\xc3\xa9", "bad\xff\xfe", "\xe2\x82\xac", "/ slash"};
  JsonWriter w;
  Json want = Json::object();
  w.BeginObject();
  for (size_t i = 0; i < strings.size(); i++) {
    w.Key(strings[i]).String(strings[i]);
    want[strings[i]] = strings[i];
  }
  w.Key("n").Int(INT64_MIN).Key("t").Bool(true).Key("z").Null();
  w.Key("list").BeginArray().Int(1).BeginObject().EndObject().BeginArray().EndArray().String("x").EndArray();
  w.EndObject();
  want["n"] = INT64_MIN;
  want["t"] = true;
  want["z"] = nullptr;
  want["list"] = Json::array({1, Json::object(), Json::array(), "x"});
  // Same values; and each string's text is Dump's, byte for byte.
  Json got = Json::parse(w.out());
  EXPECT_EQ(Dump(got), Dump(want));
  for (const auto& s : strings) {
    JsonWriter one;
    one.String(s);
    EXPECT_EQ(one.out(), Dump(Json(s))) << s;
  }
}

// The allocation's JSON as the Json object of the previous server built it, key by key.
Json ReferenceAlloc(const AllocationInfo& i, const std::string* idem, const std::string& agent) {
  Json j = {{"id", i.id},
            {"tenant", i.tenant},
            {"workflow", i.workflow},
            {"priority", i.priority},
            {"state", AllocStateName(i.state)},
            {"node", i.nodes.empty() ? Json(nullptr) : Json(i.nodes.front())},
            {"nodes", i.nodes},
            {"requests", ResourcesJson(i.requests)},
            {"limits", ResourcesJson(i.limits)},
            {"count", i.count},
            {"preemptible", i.preemptible},
            {"qos", QosClassName(i.qos)},
            {"submitted", NullableTime(i.submitted)},
            {"started", NullableTime(i.started)},
            {"ended", NullableTime(i.ended)},
            {"expires", NullableTime(i.expires)},
            {"reason", i.reason},
            {"reason_code", ReasonCodeName(i.reason_code)}};
  if (!i.preempted_by.empty()) j["preempted_by"] = i.preempted_by;
  if (!i.reservation.empty()) j["reservation"] = i.reservation;
  if (idem != nullptr && !idem->empty()) j["idempotency_key"] = *idem;
  if (!agent.empty()) j["agent_id"] = agent;
  return j;
}

TEST(JsonWriterTest, AnAllocationIsWhatTheJsonObjectWas) {
  std::mt19937_64 rng(11);
  const std::vector<std::string> names = {"a-1", "", "org/team", "x\"y", "caf\xc3\xa9", "n1"};
  auto name = [&] { return names[rng() % names.size()]; };
  State s;
  for (int k = 0; k < 500; k++) {
    AllocationInfo i;
    i.id = "id-" + std::to_string(k);
    i.tenant = name();
    i.workflow = name();
    i.priority = static_cast<int>(rng() % 1000);
    i.state = static_cast<AllocState>(rng() % 6);
    for (int n = static_cast<int>(rng() % 3); n > 0; n--) i.nodes.push_back(name());
    i.requests = {{"cpu", 1500}, {"memory", int64_t{1} << 33}};
    if (rng() % 2) i.requests["gpu"] = 500;
    if (rng() % 2) i.limits = {{"cpu", 2000}};
    i.count = 1 + static_cast<int>(rng() % 3);
    i.preemptible = rng() % 2;
    i.submitted = 1'700'000'000'000 + static_cast<int64_t>(rng() % 1000000);
    i.started = rng() % 2 ? -1 : i.submitted + 5;
    i.ended = rng() % 2 ? -1 : i.submitted + 50;
    i.expires = rng() % 2 ? -1 : i.submitted + 500;
    i.reason = name();
    i.reason_code = static_cast<ReasonCode>(rng() % 3);
    if (rng() % 3 == 0) i.preempted_by = name();
    if (rng() % 3 == 0) i.reservation = name();
    std::string idem = rng() % 2 ? "key-" + std::to_string(k) : "";
    std::string agent = rng() % 2 ? "agent_0" + std::to_string(k % 7) : "";
    if (!agent.empty()) s.active[i.id].agent = agent;
    JsonWriter w;
    w.BeginObject();
    s.WriteAllocFields(w, i, &idem);
    w.EndObject();
    // Same text as Dump wrote for the object (keys in the same order), and the same values.
    EXPECT_EQ(w.out(), Dump(ReferenceAlloc(i, &idem, agent))) << k;
    EXPECT_EQ(s.AllocJson(i, &idem), ReferenceAlloc(i, &idem, agent)) << k;
  }
}

// A single rate-limit acquire is answered as text (DecisionText); the batch form and every other answer
// build the object and Dump it (Outcome). Both must write the same bytes for every decision.
TEST(DecisionTextTest, SaysWhatDumpOfTheOutcomeSays) {
  std::mt19937_64 rng(11);
  const int64_t fixed_ns[] = {0,
                              1,
                              999,
                              1'000,
                              50'000,
                              999'999,
                              1'000'000,
                              10'000'000,
                              123'456'789,
                              999'999'999,
                              1'000'000'000,
                              1'500'000'000,
                              86'400'000'000'000,
                              3'600'000'000'001};
  std::vector<int64_t> ns(std::begin(fixed_ns), std::end(fixed_ns));
  for (int i = 0; i < 2000; i++)
    ns.push_back(static_cast<int64_t>(rng() % 100'000'000'000'000ULL) >> (rng() % 40));
  int checked = 0;
  for (size_t i = 0; i < ns.size(); i++) {
    th::RateDecision d;
    d.verdict = i % 3 == 0 ? th::Verdict::kDenied : th::Verdict::kAllowed;
    d.remaining = static_cast<int64_t>(rng() % 1000) - (i % 7 == 0 ? 5 : 0);
    d.retry_after_ns = d.allowed() ? 0 : ns[i];
    d.reset_after_ns = ns[(i * 7) % ns.size()];
    d.limited_by = i % 2 ? "global" : "tenant \"a\"/é";
    d.from_reservation = i % 5 == 0;
    const std::string key = i % 4 ? "api/openai" : "k\u00e9y/\"quoted\"";
    ThrottleService::Impl::AcquireOutcome o = ThrottleService::Impl::Outcome(key, 1, d, Json());
    ASSERT_EQ(o.status, 200);
    ASSERT_EQ(ThrottleService::Impl::DecisionText(key, d), Dump(o.body)) << i;
    checked++;
  }
  EXPECT_EQ(checked, static_cast<int>(ns.size()));
}

}  // namespace
}  // namespace allot::server
