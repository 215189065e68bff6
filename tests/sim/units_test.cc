// Durations with units in scenarios (issue 15): every time field (`at`, `duration`, `wait`, reservation
// `start`/`end`, `grace`, `preemption_grace`) takes `90s`, `5m`, `1h30m` through allot/duration.h, a plain
// number keeping its meaning (seconds); a bad one names file, line, column and field and the accepted forms.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "sim_helpers.h"

namespace allot::testing {
namespace {

// One scenario with every time field, its times written by `t` (plain seconds or with units).
std::string Scenario(
    const std::function<std::string(const std::string& seconds, const std::string& units)>& t) {
  return "policy: {preemption_grace: " + t("30", "30s") +
         "}\n"
         "nodes:\n  - {name: n1, capacity: {cpu: \"4\", memory: 8Gi}}\n"
         "tenants:\n  - {path: org/a, quota: {max: {cpu: \"4\"}, burst: 2, grace: " +
         t("90", "1m30s") +
         "}}\n"
         "events:\n"
         "  - {at: 0, submit: {id: a, tenant: org/a, requests: {cpu: \"3\"}, duration: " +
         t("5400", "1h30m") + "}}\n  - {at: " + t("60", "1m") +
         ", submit: {id: b, requests: {cpu: \"2\"}, wait: " + t("0.5", "500ms") +
         "}}\n  - {at: " + t("120", "2m") + ", reserve: {id: r, start: " + t("300", "5m") +
         ", end: " + t("7200", "2h") + ", requests: {cpu: \"1\"}}}\n  - {at: " + t("3600.25", "1h250ms") +
         ", submit: {id: c, requests: {cpu: \"1\"}, duration: " + t("86400", "1d") + "}}\n";
}

nlohmann::json WithoutTiming(nlohmann::json j) {
  j["summary"].erase("load_seconds");
  return j;
}

TEST(ScenarioDurations, UnitsReadAsThePlainSecondsTheySpell) {
  auto plain = [](const std::string& s, const std::string&) { return s; };
  auto units = [](const std::string&, const std::string& u) { return u; };
  auto quoted = [](const std::string&, const std::string& u) { return "\"" + u + "\""; };
  SimRun a = RunSim(Scenario(plain)), b = RunSim(Scenario(units)), c = RunSim(Scenario(quoted));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(WithoutTiming(a.out), WithoutTiming(b.out));
  EXPECT_EQ(WithoutTiming(a.out), WithoutTiming(c.out));
  // The run used the times: a holds 3 of n1's 4 cpu for 1h30m; b (2 cpu) gives up after 500ms; c arrives
  // at 3600.25 s.
  EXPECT_EQ(Request(b.out, "a")["ended"], 5400);
  EXPECT_EQ(Request(b.out, "b")["state"], "rejected");
  EXPECT_EQ(Request(b.out, "b")["ended"], 60.5);
  EXPECT_EQ(Request(b.out, "c")["submitted"], 3600.25);
}

TEST(ScenarioDurations, JsonScenariosTakeThemToo) {
  TempDir dir;
  const std::string head = "{\"nodes\": [{\"name\": \"n1\", \"capacity\": {\"cpu\": \"4\"}}], \"events\": [";
  std::string plain = dir.Write(
      "plain.json",
      head + "{\"at\": 90, \"submit\": {\"id\": \"a\", \"requests\": {\"cpu\": 1}, \"duration\": 600}}]}");
  std::string units = dir.Write("units.json", head +
                                                  "{\"at\": \"1m30s\", \"submit\": {\"id\": \"a\", "
                                                  "\"requests\": {\"cpu\": 1}, \"duration\": \"10m\"}}]}");
  RunResult a = RunAllot({"sim", plain, "--json"}), b = RunAllot({"sim", units, "--json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(WithoutTiming(ja), WithoutTiming(jb));
  EXPECT_EQ(jb["requests"][0]["ended"], 690);

  std::string bad = dir.Write("bad.json", head +
                                              "{\"at\": 0, \"submit\": {\"id\": \"a\", \"requests\": "
                                              "{\"cpu\": 1}, \"duration\": \"ten minutes\"}}]}");
  RunResult r = RunAllot({"sim", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("events[0].submit.duration: \"ten minutes\": not a duration"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("a plain number is seconds"), std::string::npos) << r.err;
}

TEST(ScenarioDurations, BadDurationsNameTheFieldAndTheForms) {
  const std::string nodes = "nodes:\n  - {name: n1, capacity: {cpu: \"4\"}}\nevents:\n";
  struct Case {
    std::string event, where, problem;
  } cases[] = {
      {"  - {at: 5x, release: a}\n", ":4:10: events[0].at",
       "\"5x\": unknown unit \"x\" (use ns, us, ms, s, m, h or d)"},
      {"  - {at: -1m, release: a}\n", ":4:10: events[0].at", "\"-1m\": must not be negative"},
      {"  - {at: -1, release: a}\n", ":4:10: events[0].at", "must not be negative"},
      {"  - {at: 1h30, release: a}\n", ":4:10: events[0].at", "a number inside a duration needs a unit"},
      {"  - {at: 0, submit: {id: a, requests: {cpu: 1}, wait: soon}}\n", ":4:55: events[0].submit.wait",
       "\"soon\": not a duration (use a number with a unit: 90s, 1m30s, 500ms, 2h, 1d); a plain number is "
       "seconds"},
      {"  - {at: 0, submit: {id: a, requests: {cpu: 1}, duration: 0s}}\n", ":4:59: events[0].submit.duration",
       "must be positive"},
      {"  - {at: 0, reserve: {id: r, start: 1m, end: 60s, requests: {cpu: 1}}}\n",
       ":4:46: events[0].reserve.end", "must be after start"},
      {"  - {at: 0, submit: {id: a, requests: {cpu: 1}, duration: 300y}}\n",
       ":4:59: events[0].submit.duration", "unknown unit \"y\""},
  };
  for (const auto& c : cases) {
    TempDir dir;
    std::string file = dir.Write("bad.yaml", nodes + c.event);
    RunResult r = RunAllot({"sim", file});
    EXPECT_EQ(r.exit_code, 2) << c.event << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(file + c.where), std::string::npos) << "want " << c.where << "\ngot " << r.err;
    EXPECT_NE(r.err.find(c.problem), std::string::npos) << "want " << c.problem << "\ngot " << r.err;
  }
}

}  // namespace
}  // namespace allot::testing
