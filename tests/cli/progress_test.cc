// Long commands show progress (issue 15): on a terminal, a line on stderr that says what runs, how far it
// is, a rate and an ETA, erased before the report; nothing of it when stderr is a pipe or a file, with
// --quiet, or in what --json prints.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pty_child.h"
#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

std::string Traces() { return SharedDir() + "/data/traces"; }
std::string Nasa() { return "swf:" + Traces() + "/pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz"; }
std::string Alibaba() {
  return "alibaba-gpu2023:" + Traces() + "/alibaba-gpu-v2023/openb_node_list_all_node.csv," + Traces() +
         "/alibaba-gpu-v2023/openb_pod_list_default.csv";
}

// Runs argv on a terminal to the end; returns everything the terminal showed.
std::string OnTerminal(const std::vector<std::string>& argv, int* exit_code) {
  PtyChild child;
  EXPECT_TRUE(child.Start(argv));
  *exit_code = child.Wait(120000);
  child.WaitFor("\x01never\x01", 50);  // what is left in the terminal's buffer
  return child.output;
}

struct Case {
  std::vector<std::string> args;
  std::vector<std::string> phases;  // progress lines the terminal must show
  std::string report;               // a word of the report on stdout
};

std::vector<Case> Cases() {
  return {
      {{"trace", "replay", Nasa(), "--limit", "3000"},
       {"reading NASA-iPSC-1993-3.1-cln.swf.gz:", "replaying:"},
       "mean bounded slowdown"},
      {{"trace", "inflate", Alibaba(), "--policies", "best-fit", "--arrive-until", "0.2"},
       {"reading openb_node_list_all_node.csv:", "reading openb_pod_list_default.csv:", "inflating:"},
       "best-fit"},
      {{"bench", "engine", "--nodes", "20", "--requests", "3000"},
       {"timing decisions: 0/3000 decisions"},
       "decisions_per_s"},
      {{"trace", "convert", Nasa(), "-o", "-", "--limit", "100"},
       {"reading NASA-iPSC-1993-3.1-cln.swf.gz:"},
       "events:"},
  };
}

TEST(Progress, ShownOnATerminalAndErasedBeforeTheReport) {
  for (const auto& c : Cases()) {
    std::vector<std::string> argv = {AllotBinary()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    int rc = -1;
    std::string screen = OnTerminal(argv, &rc);
    EXPECT_EQ(rc, 0) << c.args[0] << " " << c.args[1] << "\n" << screen;
    size_t last = 0;
    for (const auto& phase : c.phases) {
      size_t at = screen.find("\r" + phase);
      EXPECT_NE(at, std::string::npos) << "no progress line \"" << phase << "\" on the terminal:\n" << screen;
      if (at != std::string::npos) last = std::max(last, at);
    }
    // The line is erased (carriage return, erase to end of line) before the report starts.
    size_t erased = screen.find("\r\x1b[K", last);
    size_t report = screen.find(c.report, last);
    EXPECT_NE(erased, std::string::npos) << screen;
    EXPECT_NE(report, std::string::npos) << screen;
    EXPECT_LT(erased, report) << screen;
    // With --quiet: the same report, no progress.
    argv.push_back("--quiet");
    std::string quiet = OnTerminal(argv, &rc);
    EXPECT_EQ(rc, 0) << quiet;
    for (const auto& phase : c.phases) EXPECT_EQ(quiet.find(phase), std::string::npos) << quiet;
    EXPECT_NE(quiet.find(c.report), std::string::npos) << quiet;
  }
}

TEST(Progress, NeverWhenStderrIsNotATerminal) {
  for (const auto& c : Cases()) {
    auto r = RunAllot(c.args);  // stdout and stderr are pipes
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("\x1b["), std::string::npos) << r.err;
    for (const auto& phase : c.phases) EXPECT_EQ(r.err.find(phase), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find('\r'), std::string::npos);
  }
}

// A scenario of `n` one-cpu submits on one 8-cpu node, each held 30 s: most of them queue, so passes go
// on after the last event. JSON when `as_json`, else YAML.
std::string SimScenario(const TempDir& dir, int n, bool as_json, const std::string& last_event = "") {
  std::string s = as_json
                      ? "{\"nodes\": [{\"name\": \"n1\", \"capacity\": {\"cpu\": \"8\"}}], \"events\": [\n"
                      : "nodes: [{name: n1, capacity: {cpu: \"8\"}}]\nevents:\n";
  for (int i = 0; i < n; i++) {
    std::string id = "j" + std::to_string(i), at = std::to_string(i / 10);
    s += as_json ? std::string(i ? ",\n" : "") + "{\"at\": " + at + ", \"submit\": {\"id\": \"" + id +
                       "\", \"requests\": {\"cpu\": 1}, \"duration\": \"30s\"}}"
                 : "  - {at: " + at + ", submit: {id: " + id + ", requests: {cpu: 1}, duration: 30s}}\n";
  }
  if (!last_event.empty()) s += as_json ? ",\n" + last_event : "  - " + last_event + "\n";
  if (as_json) s += "]}\n";
  return dir.Write(as_json ? "scenario.json" : "scenario.yaml", s);
}

TEST(Progress, SimShowsItsRunOnATerminal) {
  TempDir dir;
  for (bool as_json : {true, false}) {
    std::string file = SimScenario(dir, 3000, as_json);
    int rc = -1;
    std::string screen = OnTerminal({AllotBinary(), "sim", file}, &rc);
    EXPECT_EQ(rc, 0) << screen;
    // The first report of each phase is drawn at once: the bytes of the file, then the passes after it.
    size_t simulating = screen.find("\rsimulating: 0.0 MiB/");
    size_t finishing = screen.find("\rfinishing: 0 passes");
    ASSERT_NE(simulating, std::string::npos) << screen.substr(0, 500);
    ASSERT_NE(finishing, std::string::npos) << screen.substr(0, 500);
    EXPECT_LT(simulating, finishing);
    size_t erased = screen.find("\r\x1b[K", finishing);
    size_t report = screen.find("STATE", finishing);
    ASSERT_NE(erased, std::string::npos) << screen.substr(0, 500);
    EXPECT_LT(erased, report) << screen.substr(0, 500);
    EXPECT_EQ(screen.find("\x1b[", erased + 4), std::string::npos);  // nothing of it after the report starts

    std::string quiet = OnTerminal({AllotBinary(), "sim", file, "--quiet"}, &rc);
    EXPECT_EQ(rc, 0) << quiet;
    EXPECT_EQ(quiet.find("simulating:"), std::string::npos) << quiet.substr(0, 500);
    EXPECT_EQ(quiet.find("\x1b["), std::string::npos) << quiet.substr(0, 500);
    EXPECT_NE(quiet.find("summary: 3000 requests"), std::string::npos);

    auto piped = RunAllot({"sim", file, "--json"});  // stderr a pipe: no line
    EXPECT_EQ(piped.exit_code, 0) << piped.err;
    EXPECT_TRUE(piped.err.empty()) << piped.err;
    EXPECT_FALSE(json::parse(piped.out, nullptr, false).is_discarded());
  }
  // A load error found after events ran: the line is erased and the error starts on a clean line.
  std::string bad = SimScenario(dir, 2000, false, "{at: 9999, release: nobody}");
  int rc = -1;
  std::string screen = OnTerminal({AllotBinary(), "sim", bad}, &rc);
  EXPECT_EQ(rc, 2) << screen;
  size_t error = screen.find("allot: sim: " + bad + ":2003:");
  ASSERT_NE(error, std::string::npos) << screen.substr(0, 500);
  EXPECT_NE(screen.find("\rsimulating:"), std::string::npos) << screen.substr(0, 500);
  EXPECT_EQ(screen.rfind("\r\x1b[K", error) + 4, error) << screen.substr(0, 500);
}

TEST(Progress, NeverInJsonOutput) {
  // stdout to a file, stderr on the terminal: progress on the terminal, clean JSON in the file.
  TempDir dir;
  std::string out = dir.path() + "/replay.json";
  int rc = -1;
  std::string screen =
      OnTerminal({"/bin/sh", "-c", "exec \"$0\" trace replay \"$1\" --limit 3000 --json > \"$2\"",
                  AllotBinary(), Nasa(), out},
                 &rc);
  EXPECT_EQ(rc, 0) << screen;
  EXPECT_NE(screen.find("\rreplaying:"), std::string::npos) << screen;
  std::string text = ReadFile(out);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  json j = json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text.substr(0, 300);
  // All on the terminal: the line is erased before the JSON starts, and nothing of it follows.
  std::string both = OnTerminal({AllotBinary(), "trace", "replay", Nasa(), "--limit", "3000", "--json"}, &rc);
  EXPECT_EQ(rc, 0) << both;
  size_t erased = both.rfind("\r\x1b[K");
  ASSERT_NE(erased, std::string::npos) << both;
  EXPECT_LT(both.rfind("replaying:"), erased) << both;
  std::string tail = both.substr(erased + 4);
  EXPECT_EQ(tail.find("\x1b["), std::string::npos) << tail.substr(0, 300);
  EXPECT_TRUE(tail.rfind("{", 0) == 0 || tail.rfind("[", 0) == 0) << tail.substr(0, 300);
}

}  // namespace
}  // namespace allot::testing
