// Every command that prints data takes --json (issue 15): the command table (`allot man --json`, the same
// declarations --help, the man pages and the completions come from) is checked command by command, and
// each data command is called for real (against a real `allot serve` where it is a client) with its
// stdout parsed as JSON. A new command must either declare --json or be named below with the reason it
// prints no data; a new data command must get a real call here.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "../server/server_process.h"
#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// Commands (or subcommands) that print no data of their own, and why.
const std::map<std::string, std::string> kNoData = {
    {"agent", "a daemon: registers this node and reports usage; its lines are a log"},
    {"completion", "prints a shell script"},
    {"serve", "runs the server; its log is already JSON lines"},
    {"rules", "writes a Prometheus rules file (YAML) for promtool and the operator"},
    {"trace convert", "writes a scenario file (YAML) for allot sim"},
    {"guard wait", "waits; exit 0 or 1 is the answer, messages go to stderr"},
    {"guard run", "runs a command; its output is the command's"},
    {"guard metrics", "prints or serves the Prometheus text format (guard status --json has the same data)"},
};

// The parsers of the command table that stand for a command: its subcommands where it has any (the
// top-level parser of `trace` only dispatches), else its own.
std::map<std::string, json> DataParsers(const json& table) {
  std::map<std::string, json> out;
  for (const auto& c : table["commands"]) {
    if (!c["subcommands"].empty()) {
      for (const auto& s : c["subcommands"]) out[s["command"].get<std::string>()] = s;
    } else if (!c["parser"].is_null()) {
      out[c["name"].get<std::string>()] = c["parser"];
    } else {
      ADD_FAILURE() << c["name"] << ": neither a parser nor subcommands in the command table";
    }
  }
  return out;
}

json CommandTable() {
  auto r = RunAllot({"man", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("commands")) << r.out.substr(0, 500);
  return j;
}

TEST(JsonOutput, EveryDataCommandDeclaresJson) {
  json table = CommandTable();
  ASSERT_TRUE(table.is_object());
  auto parsers = DataParsers(table);
  ASSERT_GT(parsers.size(), 25u);
  for (const auto& [name, p] : parsers) {
    bool has_json = false;
    for (const auto& o : p["options"]) has_json |= o["name"] == "json" && o["value"].is_null();
    if (kNoData.count(name)) {
      EXPECT_FALSE(has_json) << name << " declares --json: take it off the no-data list";
    } else {
      EXPECT_TRUE(has_json) << "allot " << name << " prints data but has no --json flag";
    }
  }
  for (const auto& [name, why] : kNoData)
    EXPECT_TRUE(parsers.count(name)) << name << " is no longer a command";
  // --json and --format together: --json means --format json, and a contradiction is refused.
  auto both = RunAllot(
      {"plan", SourceDir() + "/examples/plan/retail-performance.yml", "--json", "--format", "table"});
  EXPECT_EQ(both.exit_code, 2) << both.out;
  EXPECT_NE(both.err.find("--json and --format table contradict each other"), std::string::npos) << both.err;
}

TEST(JsonOutput, EveryDataCommandPrintsJson) {
  TempDir dir;
  const std::string src = SourceDir(), traces = SharedDir() + "/data/traces";
  ServerProcess demo(dir.path() + "/demo", {"--dev", "--config", src + "/examples/server/demo.yaml"});
  ASSERT_TRUE(demo.Start()) << demo.Log();
  const std::string server = demo.url();
  auto placed = RunAllot({"alloc", "--server", server, "--tenant", "org/research", "--cpu", "1", "--memory",
                          "1G", "--duration", "10m", "--json"});
  ASSERT_EQ(placed.exit_code, 0) << placed.err;
  json body = json::parse(placed.out, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("id") && body["id"].is_string()) << placed.out;
  const std::string id = body["id"].get<std::string>();
  std::string nasa = "swf:" + traces + "/pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz";
  std::string alibaba = "alibaba-gpu2023:" + traces + "/alibaba-gpu-v2023/openb_node_list_all_node.csv," +
                        traces + "/alibaba-gpu-v2023/openb_pod_list_default.csv";
  // One real call per data command; client commands talk to the demo server.
  std::map<std::string, std::vector<std::string>> calls = {
      {"alloc", {"alloc", "--server", server, "--tenant", "org/agents", "--cpu", "500m", "--json"}},
      {"autoscale eval", {"autoscale", "eval", src + "/examples/autoscale/eval-cpu.yaml", "--json"}},
      {"autoscale simulate",
       {"autoscale", "simulate", "--hpa", src + "/examples/autoscale/hpa.yaml",
        src + "/examples/autoscale/usage-series.csv", "--json"}},
      {"bench", {"bench", "engine", "--nodes", "20", "--requests", "200", "--json"}},
      {"config", {"config", "check", src + "/examples/server/demo.yaml", "--json"}},
      {"guard status", {"guard", "status", "--json", "--no-state"}},
      {"guard check", {"guard", "check", "--memory", "1Mi", "--json", "--no-state"}},
      {"guard recommend", {"guard", "recommend", "--json", "--no-state"}},
      {"history", {"history", "--server", server, "--limit", "5", "--json"}},
      {"man", {"man", "--json", "quantity"}},
      {"node", {"node", "list", "--server", server, "--json"}},
      {"plan",
       {"plan", src + "/examples/plan/retail-performance.yml", "--compose",
        SharedDir() + "/data/compose/retail-store-sample-app-docker-compose.yml", "--json"}},
      {"quantity", {"quantity", "--json", "1.5Gi", "500m"}},
      {"queue", {"queue", "--server", server, "--json"}},
      {"quota", {"quota", "list", "--server", server, "--json"}},
      {"ratelimit", {"ratelimit", "list", "--server", server, "--json"}},
      {"recommend", {"recommend", src + "/examples/autoscale/usage.csv", "--json"}},
      {"renew", {"renew", id, "--server", server, "--duration", "20m", "--json"}},
      {"reserve", {"reserve", "list", "--server", server, "--json"}},
      {"sim", {"sim", src + "/examples/sim/basic.yaml", "--json"}},
      {"status", {"status", "--server", server, "--json"}},
      {"top", {"top", "--server", server, "--json"}},
      {"trace replay", {"trace", "replay", nasa, "--limit", "200", "--json"}},
      {"trace inflate",
       {"trace", "inflate", alibaba, "--policies", "best-fit", "--arrive-until", "0.1", "--json"}},
      {"version", {"version", "--json"}},
      {"release", {"release", id, "--server", server, "--json"}},  // last: it ends the allocation
  };
  auto parsers = DataParsers(CommandTable());
  for (const auto& [name, p] : parsers) {
    if (kNoData.count(name) == 0) {
      EXPECT_TRUE(calls.count(name)) << "no real call of `allot " << name << " --json` here";
    }
  }
  std::vector<std::string> order;
  for (const auto& [name, argv] : calls) {
    if (name != "release") order.push_back(name);
  }
  order.push_back("release");
  for (const auto& name : order) {
    auto r = RunAllot(calls[name]);
    // guard check answers 1 for "not now" (a loaded test machine), with the decision still on stdout.
    EXPECT_TRUE(r.exit_code == 0 || (name == "guard check" && r.exit_code == 1)) << name << ": " << r.err;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "allot " << name << " --json printed no JSON:\n"
                                   << r.out.substr(0, 400);
    EXPECT_TRUE(j.is_object() || j.is_array()) << name;
  }
}

}  // namespace
}  // namespace allot::testing
