// The scenario runner: every tests/scenarios/NAME.expected.json names a scenario (its sibling NAME.yaml,
// or the file in its "scenario" key, relative to the repository root) and a subset of the expected
// `allot sim --json` output:
//   "requests": {id: {"state", "node", "nodes", "started", "ended", "reason_contains"}},
//   "summary": {key: value} (numbers compared to 1e-4), "scores": {id: {node: score}} (runs --explain),
//   "notes_contain": ["text", ...].
// Every tests/scenarios/*.yaml must have its expected file. Every examples/sim and examples/policy
// scenario must run with exit 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sim_helpers.h"

namespace allot::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<fs::path> FilesIn(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void CompareRequest(const json& out, const std::string& id, const json& want) {
  json got = Request(out, id);
  ASSERT_FALSE(got.is_null()) << "no request " << id << " in the output";
  for (auto it = want.begin(); it != want.end(); ++it) {
    const std::string& k = it.key();
    if (k == "reason_contains") {
      EXPECT_NE(got["reason"].get<std::string>().find(it.value().get<std::string>()), std::string::npos)
          << id << ".reason = " << got["reason"];
    } else {
      EXPECT_EQ(got[k], it.value()) << id << "." << k;
    }
  }
}

void CompareSummary(const json& out, const json& want) {
  const json& sum = out["summary"];
  for (auto it = want.begin(); it != want.end(); ++it) {
    ASSERT_TRUE(sum.contains(it.key())) << "summary has no " << it.key();
    if (it.value().is_number() && sum[it.key()].is_number()) {
      EXPECT_NEAR(sum[it.key()].get<double>(), it.value().get<double>(), 1e-4) << "summary." << it.key();
    } else if (it.value().is_object()) {
      for (auto jt = it.value().begin(); jt != it.value().end(); ++jt) {
        ASSERT_TRUE(sum[it.key()].contains(jt.key())) << "summary." << it.key() << " has no " << jt.key();
        EXPECT_NEAR(sum[it.key()][jt.key()].get<double>(), jt.value().get<double>(), 1e-4)
            << "summary." << it.key() << "." << jt.key();
      }
    } else {
      EXPECT_EQ(sum[it.key()], it.value()) << "summary." << it.key();
    }
  }
}

TEST(Scenarios, EveryScenarioHasExpectations) {
  fs::path dir = fs::path(SourceDir()) / "tests" / "scenarios";
  auto yamls = FilesIn(dir, ".yaml");
  ASSERT_FALSE(yamls.empty());
  for (const auto& y : yamls) {
    fs::path expected = y;
    expected.replace_extension(".expected.json");
    EXPECT_TRUE(fs::exists(expected)) << y << " has no " << expected.filename();
  }
}

TEST(Scenarios, OutcomesMatchExpectations) {
  fs::path root = SourceDir();
  auto expectations = FilesIn(root / "tests" / "scenarios", ".expected.json");
  ASSERT_GE(expectations.size(), 10u);
  for (const auto& e : expectations) {
    SCOPED_TRACE(e.filename().string());
    json want = json::parse(ReadFile(e.string()), nullptr, false);
    ASSERT_FALSE(want.is_discarded()) << "invalid JSON";
    std::string name = e.filename().string();
    fs::path scenario = want.contains("scenario") ? root / want["scenario"].get<std::string>()
                                                  : e.parent_path() / (name.substr(0, name.size() - 14) + ".yaml");
    ASSERT_TRUE(fs::exists(scenario)) << scenario;
    std::vector<std::string> args{"sim", scenario.string(), "--json"};
    bool explain = want.contains("scores");
    if (explain) args.push_back("--explain");
    RunResult r = RunAllot(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json out = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(out.is_discarded());
    if (want.contains("requests")) {
      for (auto it = want["requests"].begin(); it != want["requests"].end(); ++it) CompareRequest(out, it.key(), it.value());
    }
    if (want.contains("summary")) CompareSummary(out, want["summary"]);
    if (explain) {
      for (auto it = want["scores"].begin(); it != want["scores"].end(); ++it) {
        Scores expect;
        for (auto jt = it.value().begin(); jt != it.value().end(); ++jt) expect[jt.key()] = jt.value().get<int64_t>();
        EXPECT_EQ(ScoresOf(out, it.key()), expect) << "scores of " << it.key();
      }
    }
    if (want.contains("notes_contain")) {
      std::string notes = out.contains("notes") ? out["notes"].dump() : "";
      for (const auto& n : want["notes_contain"]) {
        EXPECT_NE(notes.find(n.get<std::string>()), std::string::npos) << "notes: " << notes;
      }
    }
  }
}

TEST(Scenarios, EveryExampleRuns) {
  fs::path root = SourceDir();
  std::vector<fs::path> all;
  for (const char* d : {"examples/sim", "examples/policy"}) {
    auto v = FilesIn(root / d, ".yaml");
    all.insert(all.end(), v.begin(), v.end());
  }
  // examples/sim/basic.yaml and the eight policy examples.
  ASSERT_GE(all.size(), 9u);
  for (const auto& f : all) {
    SCOPED_TRACE(f.string());
    for (bool json_out : {false, true}) {
      std::vector<std::string> args{"sim", f.string(), "--explain"};
      if (json_out) args.push_back("--json");
      RunResult r = RunAllot(args);
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_TRUE(r.err.empty()) << r.err;
      if (json_out) {
        EXPECT_FALSE(json::parse(r.out, nullptr, false).is_discarded());
      }
    }
  }
}

}  // namespace
}  // namespace allot::testing
