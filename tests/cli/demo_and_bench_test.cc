// The demo's log and the load generators (issue 15): `make run`'s config writes request lines at debug,
// so the demo's terminal shows events, not every GET; load generators answer --help and need --url (no
// default aimed at the demo's port 7070); benchmark scripts never build the tree themselves.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../server/server_process.h"
#include "support.h"

namespace allot::testing {
namespace {

std::string DemoConfig() { return SourceDir() + "/examples/server/demo.yaml"; }
std::string BenchDir() { return std::filesystem::path(AllotBinary()).parent_path().string() + "/bench"; }

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

TEST(DemoLog, RequestLinesAreDebugInTheDemo) {
  TempDir dir;
  {
    LoggedServerProcess s(dir.path() + "/info", {"--dev", "--config", DemoConfig()});
    ASSERT_TRUE(s.Start()) << s.Log();
    Api api(s.url());
    for (int i = 0; i < 3; i++) EXPECT_EQ(api.Call("GET", "/v1/nodes").status, 200);
    std::string log = s.Log();
    EXPECT_EQ(Count(log, "\"msg\":\"request\""), 0u) << log;
    EXPECT_NE(log.find("\"msg\":\"listening\""), std::string::npos) << log;
  }
  LoggedServerProcess s(dir.path() + "/debug", {"--dev", "--config", DemoConfig(), "--log-level", "debug"});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  for (int i = 0; i < 3; i++) EXPECT_EQ(api.Call("GET", "/v1/nodes").status, 200);
  // Lines are written after the answer: wait for them.
  std::string log;
  for (int i = 0; i < 200 && Count(log, "\"path\":\"/v1/nodes\"") < 3; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    log = s.Log();
  }
  EXPECT_EQ(Count(log, "\"path\":\"/v1/nodes\""), 3u) << log;
  EXPECT_NE(log.find("\"level\":\"debug\",\"msg\":\"request\""), std::string::npos) << log;
}

TEST(DemoLog, WithoutTheDemoConfigRequestsStayAtInfo) {
  TempDir dir;
  LoggedServerProcess s(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  EXPECT_EQ(api.Call("GET", "/v1/nodes").status, 200);
  std::string log;
  for (int i = 0; i < 200 && log.find("/v1/nodes") == std::string::npos; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    log = s.Log();
  }
  EXPECT_NE(log.find("\"level\":\"info\",\"msg\":\"request\""), std::string::npos) << log;
  auto bad = RunAllot({"serve", "--dev", "--log-level", "verbose"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--log-level must be debug, info or warn"), std::string::npos) << bad.err;
}

TEST(Serve, ABadListenAddressCreatesNoStore) {
  TempDir dir;
  auto r = RunAllot({"serve", "--dev", "--listen", "bad", "--data", dir.path() + "/data"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("listen: address \"bad\": expected HOST:PORT"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/data"))
      << "the store was created before the address was checked";
}

TEST(LoadGenerators, AnswerHelpAndNeedAUrl) {
  for (const std::string name : {"bench_server_ratelimit", "bench_server"}) {
    std::string bin = BenchDir() + "/" + name;
    if (!std::filesystem::exists(bin)) GTEST_SKIP() << bin << " not built (ALLOT_BENCH off or no Google Benchmark)";
    std::vector<std::string> mode = name == "bench_server" ? std::vector<std::string>{"pairs"} : std::vector<std::string>{};
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> argv = {bin};
      argv.insert(argv.end(), mode.begin(), mode.end());
      argv.insert(argv.end(), extra.begin(), extra.end());
      return argv;
    };
    auto t0 = std::chrono::steady_clock::now();
    auto help = RunProgram(with({"--help"}));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(help.exit_code, 0) << name << help.err;
    EXPECT_NE(help.out.find("usage: " + name), std::string::npos) << help.out;
    EXPECT_LT(secs, 2.0) << name << " --help ran a load";
    auto bare = RunProgram(with({"--seconds", "5"}));
    EXPECT_EQ(bare.exit_code, 2) << name << bare.out;
    EXPECT_NE(bare.err.find("--url is required"), std::string::npos) << bare.err;
    auto typo = RunProgram(with({"--url", "http://127.0.0.1:1", "--conections", "4"}));
    EXPECT_EQ(typo.exit_code, 2) << name << typo.out;
    EXPECT_NE(typo.err.find("--conections is not an option"), std::string::npos) << typo.err;
  }
  auto top = RunProgram({BenchDir() + "/bench_server", "--help"});
  EXPECT_EQ(top.exit_code, 0) << top.err;
  EXPECT_NE(top.out.find("bench_server metrics --url"), std::string::npos) << top.out;
}

// --seconds takes a duration through the one parser (issue 15): `300ms` is 0.3 s, not 300 s (std::stod read
// the leading 300); a bad one is refused before any load starts.
TEST(LoadGenerators, SecondsTakeDurations) {
  const std::string bench = BenchDir() + "/bench_server";
  if (!std::filesystem::exists(bench))
    GTEST_SKIP() << bench << " not built (ALLOT_BENCH off or no Google Benchmark)";
  TempDir dir;
  std::string config =
      dir.Write("pairs.yaml", "nodes: [{name: big-1, capacity: {cpu: \"100000\", memory: 100Ti}}]\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", config});
  ASSERT_TRUE(s.Start()) << s.Log();
  auto r = RunProgram({bench, "pairs", "--url", s.url(), "--connections", "1", "--seconds", "300ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_GT(j["pairs"].get<double>(), 0) << r.out;
  EXPECT_LT(j["seconds"].get<double>(), 60) << r.out;  // the load ran for 0.3 s (plus the machine's delays)

  struct Case {
    std::vector<std::string> argv;
    std::string message;
  } cases[] = {
      {{bench, "pairs", "--url", s.url(), "--seconds", "5 minutes"},
       "bench_server pairs: --seconds \"5 minutes\""},
      {{bench, "pairs", "--url", s.url(), "--seconds", "0s"}, "--seconds \"0s\": must be at least 1ms"},
      {{BenchDir() + "/bench_server_ratelimit", "--url", s.url(), "--seconds", "1x"},
       "bench_server_ratelimit: --seconds \"1x\": unknown unit \"x\""},
      {{BenchDir() + "/bench_store_replica", "allocs", "--servers", s.url(), "--seconds", "-5s"},
       "bench_store_replica allocs: --seconds \"-5s\": must not be negative"},
      {{BenchDir() + "/bench_server_history", "read", "--step", "1500ms"},
       "bench_server_history read: --step \"1500ms\""},
  };
  for (const auto& c : cases) {
    if (!std::filesystem::exists(c.argv[0])) continue;
    auto bad = RunProgram(c.argv);
    EXPECT_EQ(bad.exit_code, 2) << c.argv[0] << bad.out << bad.err;
    EXPECT_NE(bad.err.find(c.message), std::string::npos) << "want " << c.message << "\ngot " << bad.err;
  }
}

// Both designs of the pairs generator release every allocation they make, the time being up or not, and
// count exactly the releases the server made; an unknown design, or TLS from the epoll one, is refused.
TEST(LoadGenerators, PairsReleaseWhatTheyAllocateInBothDesigns) {
  const std::string bench = BenchDir() + "/bench_server";
  if (!std::filesystem::exists(bench))
    GTEST_SKIP() << bench << " not built (ALLOT_BENCH off or no Google Benchmark)";
  TempDir dir;
  std::string config =
      dir.Write("pairs.yaml", "nodes: [{name: big-1, capacity: {cpu: \"100000\", memory: 100Ti}}]\n");
  for (const std::string generator : {"epoll", "threads"}) {
    ServerProcess s(dir.path() + "/data-" + generator, {"--dev", "--config", config});
    ASSERT_TRUE(s.Start()) << s.Log();
    auto r = RunProgram({bench, "pairs", "--url", s.url(), "--connections", "5", "--seconds", "400ms",
                         "--generator", generator});
    ASSERT_EQ(r.exit_code, 0) << generator << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["generator"], generator) << r.out;
    EXPECT_EQ(j["errors"], 0) << r.out;
    const int64_t pairs = j["pairs"].get<int64_t>();
    EXPECT_GT(pairs, 0) << r.out;
    Api api(s.url());
    auto u = api.Call("GET", "/v1/utilization");
    ASSERT_EQ(u.status, 200);
    EXPECT_EQ(u.body["allocations"]["placed"], 0)
        << generator << " left allocations behind: " << u.body.dump();
    auto m = api.Call("GET", "/metrics");
    ASSERT_EQ(m.status, 200);
    const std::string text = m.body.get<std::string>();
    const std::string key = "allot_allocations{state=\"released\"} ";
    size_t at = text.find(key);
    ASSERT_NE(at, std::string::npos) << text.substr(0, 2000);
    EXPECT_EQ(std::stoll(text.substr(at + key.size())), pairs) << generator << ": " << r.out;
  }
  auto bogus = RunProgram({bench, "pairs", "--url", "http://127.0.0.1:1", "--generator", "fibers"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_NE(bogus.err.find("--generator fibers: expected epoll or threads"), std::string::npos) << bogus.err;
  auto tls = RunProgram({bench, "pairs", "--url", "https://127.0.0.1:1", "--generator", "epoll"});
  EXPECT_EQ(tls.exit_code, 2);
  EXPECT_NE(tls.err.find("https:// needs threads"), std::string::npos) << tls.err;
}

TEST(LoadGenerators, NoneDefaultsToTheDemoPort) {
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/bench")) {
    std::string text = ReadFile(e.path().string());
    EXPECT_EQ(text.find(":7070"), std::string::npos) << e.path();
  }
  for (const char* script : {"bench-server.sh", "bench-ratelimit-api.sh", "bench-ratelimit.sh", "bench-guard.sh"}) {
    std::string text = ReadFile(SourceDir() + "/scripts/" + script);
    EXPECT_EQ(text.find(":7070"), std::string::npos) << script;
  }
}

TEST(BenchScripts, FailClearlyInsteadOfBuilding) {
  TempDir dir;
  std::string empty = dir.path() + "/no-build";
  std::filesystem::create_directory(empty);
  struct Case {
    std::vector<std::string> argv;
    std::string missing;
  };
  std::vector<Case> cases = {
      {{"env", "BUILD=" + empty, SourceDir() + "/scripts/bench-ratelimit-api.sh", "1", "10"}, empty + "/allot"},
      {{"env", "BUILD=" + empty, SourceDir() + "/scripts/bench-ratelimit.sh", "10"}, empty + "/bench/bench_throttle"},
      {{SourceDir() + "/scripts/bench-server.sh", empty}, empty + "/allot"},
  };
  for (const auto& c : cases) {
    auto r = RunProgram(c.argv);
    EXPECT_EQ(r.exit_code, 2) << c.argv[c.argv.size() > 3 ? 2 : 0] << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(c.missing + " is missing"), std::string::npos) << r.err;
    // Nothing was configured or built in the build dir.
    EXPECT_TRUE(std::filesystem::is_empty(empty)) << c.argv[0];
  }
}

TEST(BenchScripts, EveryOneAnswersHelpWithoutRunningAnything) {
  TempDir dir;
  size_t scripts = 0;
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/scripts")) {
    std::string name = e.path().filename().string();
    if (name.rfind("bench-", 0) != 0 || e.path().extension() != ".sh") continue;
    scripts++;
    for (const char* flag : {"--help", "-h"}) {
      // Run from an empty directory with BUILD pointing at it: a script that ran would fail or write there.
      auto r = RunProgram({"env", "BUILD=" + dir.path(), "sh", "-c", "cd \"$0\" && exec \"$1\" \"$2\"",
                           dir.path(), e.path().string(), flag});
      EXPECT_EQ(r.exit_code, 0) << name << " " << flag << ": " << r.err;
      EXPECT_NE(r.out.find("Usage: scripts/" + name), std::string::npos) << name << ":\n" << r.out;
      EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << name;
    }
  }
  EXPECT_GE(scripts, 5u);
}

}  // namespace
}  // namespace allot::testing
