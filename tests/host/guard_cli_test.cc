// `allot guard ...` end to end with recorded /proc roots: exit codes, JSON, metrics, run, wait.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "allot/http.h"
#include "support.h"

namespace allot::host {
namespace {

using testing::RunAllot;
using testing::RunResult;

std::string Data() { return ALLOT_HOST_DATA; }

// Common flags: a recorded root, no CPU state between calls, no sampling window (load average).
std::vector<std::string> Guard(const std::string& sub, const std::string& root, std::vector<std::string> more = {}) {
  std::vector<std::string> a{"guard", sub, "--proc-root", Data() + "/" + root + "/proc", "--sys-root",
                             Data() + "/" + root + "/sys", "--no-state", "--cpu-sample-ms", "0"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(GuardCliTest, CheckGoesOnAnIdleHost) {
  // idle: memory 4 GiB of 16 + 2 GiB = 37.5 % <= 80 %; cpu 10 %
  auto r = RunAllot(Guard("check", "idle", {"--memory", "2Gi", "--cpu", "2"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("go"), std::string::npos);
}

TEST(GuardCliTest, CheckSaysNoWithReasonsOnABusyHost) {
  auto r = RunAllot(Guard("check", "busy", {"--memory", "100Mi"}));
  EXPECT_EQ(r.exit_code, 1);
  // busy: cpu 90 % and memory 87.5 % are both past the 80 % limits
  EXPECT_NE(r.err.find("cpu: at 90.0 %"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("memory: at 87.5 %"), std::string::npos) << r.err;
  // Both at level 4 (past the limit): seed 004's table blocks all spawns there, critical ones too.
  r = RunAllot(Guard("check", "busy", {"--memory", "512Mi", "--priority", "critical"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("(level 4 critical, limit 80.0 %): nothing starts at this level"), std::string::npos) << r.err;
  // With level 4 opened to critical work, it goes if it fits in what is physically left: 7 GiB + 512 MiB <= 8 GiB.
  testing::TempDir dir;
  std::string cfg = dir.Write("guard.yaml", "levels:\n  4: {min_priority: critical, scale: 0.1}\n");
  r = RunAllot(Guard("check", "busy", {"--config", cfg, "--memory", "512Mi", "--priority", "critical"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("go (critical, level 4 critical, scale 0.1)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("warning: cpu: at 90.0 % (level 4 critical"), std::string::npos) << r.err;
  EXPECT_EQ(RunAllot(Guard("check", "busy", {"--config", cfg, "--memory", "2Gi", "--priority", "critical"})).exit_code, 1);
}

TEST(GuardCliTest, LevelsAndScaleFactorInStatusMetricsAndRun) {
  // busy is at level 4: scale 0; idle at 0: scale 1.
  auto st = RunAllot(Guard("status", "busy", {"--json"}));
  ASSERT_EQ(st.exit_code, 0) << st.err;
  auto j = nlohmann::json::parse(st.out);
  EXPECT_EQ(j["level"], 4);
  EXPECT_EQ(j["level_name"], "critical");
  EXPECT_EQ(j["scale"], 0.0);
  auto text = RunAllot(Guard("status", "idle"));
  EXPECT_NE(text.out.find("level 0 normal, scale 1 (tier"), std::string::npos) << text.out;
  auto m = RunAllot(Guard("metrics", "busy"));
  EXPECT_NE(m.out.find("allot_guard_scale_factor 0\n"), std::string::npos) << m.out;
  // guard run hands level and scale to the command.
  auto run = RunAllot(Guard("run", "idle", {"--", "sh", "-c", "echo level=$ALLOT_GUARD_LEVEL scale=$ALLOT_GUARD_SCALE"}));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("level=0 scale=1"), std::string::npos) << run.out;
}

TEST(GuardCliTest, CheckOnTooLargeARequest) {
  // 4 GiB + 9 GiB = 13 GiB > 12.8 GiB (80 % of 16 GiB)
  auto r = RunAllot(Guard("check", "idle", {"--memory", "9Gi"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("over the 80.0 % limit"), std::string::npos) << r.err;
  // ... but fits under a 85 % limit (13.6 GiB)
  EXPECT_EQ(RunAllot(Guard("check", "idle", {"--memory", "9Gi", "--limit", "memory=85"})).exit_code, 0);
}

TEST(GuardCliTest, GpuChecksUseTheRecordedDevices) {
  std::string gpus = Data() + "/gpus.json";
  // gpu 1: 8 GiB used of 80 GiB + 50 GiB = 58 GiB <= 64 GiB (80 %)
  EXPECT_EQ(RunAllot(Guard("check", "idle", {"--gpus", gpus, "--gpu-memory", "50Gi"})).exit_code, 0);
  auto r = RunAllot(Guard("check", "idle", {"--gpus", gpus, "--gpu-memory", "60Gi"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("gpu:"), std::string::npos) << r.err;
  testing::TempDir dir;
  r = RunAllot(Guard("check", "idle", {"--gpus", dir.Write("none.json", "[]"), "--gpu-memory", "1Gi"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no GPU"), std::string::npos) << r.err;
}

TEST(GuardCliTest, DiskCheckOnARealPath) {
  testing::TempDir dir;
  EXPECT_EQ(RunAllot(Guard("check", "idle", {"--disk", "1Ki", "--path", dir.path(), "--limit", "disk=100"})).exit_code, 0);
  // no filesystem here has 1 PiB free
  EXPECT_EQ(RunAllot(Guard("check", "idle", {"--disk", "1Pi", "--path", dir.path()})).exit_code, 1);
}

TEST(GuardCliTest, BadInputExitsTwo) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  } cases[] = {
      {Guard("check", "idle", {"--memory", "-1Gi"}), "negative"},
      {Guard("check", "idle", {"--memory", "lots"}), "memory"},
      {Guard("check", "idle", {"--disk", "1Gi", "--path", "/no/such/dir"}), "/no/such/dir"},
      {Guard("check", "idle", {"--limit", "swap=50"}), "unknown resource \"swap\""},
      {Guard("check", "idle", {"--priority", "urgent"}), "priority"},
      {Guard("check", "idle", {"--priority", "-1"}), "negative"},
      {Guard("check", "idle", {"--tier", "huge"}), "tier"},
      {Guard("check", "broken"), "MemTotal"},
      {Guard("check", "nonexistent"), "cannot read"},
      {Guard("status", "broken"), "MemTotal"},
      {Guard("wait", "idle", {"--timeout", "-3"}), "timeout"},
      {Guard("check", "idle", {"--gpus", "/no/such.json", "--gpu-memory", "1Gi"}), "/no/such.json"},
      {{"guard", "frobnicate"}, "unknown subcommand"},
      {{"guard", "check", "--bogus"}, "unknown option"},
  };
  for (const auto& c : cases) {
    auto r = RunAllot(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.says << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("allot: guard", 0), 0u) << r.err;
  }
}

TEST(GuardCliTest, StatusJson) {
  auto r = RunAllot(Guard("status", "container", {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  auto res = j["resources"];
  ASSERT_GE(res.size(), 2u);
  EXPECT_EQ(res[0]["resource"], "cpu");
  EXPECT_EQ(res[0]["capacity"], 4000);  // 4 cores in millicores
  EXPECT_EQ(res[0]["used"], 400);       // load 0.40 of 4 cores = 10 %
  EXPECT_EQ(res[1]["resource"], "memory");
  EXPECT_EQ(res[1]["capacity"], 4294967296LL);  // cgroup memory.max, not the host's 16 GiB
  EXPECT_EQ(res[1]["used"], 2147483648LL);
  EXPECT_EQ(res[1]["used_percent"], 50.0);
  EXPECT_EQ(res[1]["limit_percent"], 80.0);
  EXPECT_EQ(res[1]["warn_percent"], 70.0);
  // 80 % of 4 GiB = 3435973836 (floored) - 2 GiB used
  EXPECT_EQ(res[1]["headroom"], 3435973836LL - 2147483648LL);
  EXPECT_EQ(res[1]["level"], 0);  // 50 / 80 = 62.5 % of the limit
  EXPECT_EQ(j["cgroup"]["cpu_max"], 2000);
}

TEST(GuardCliTest, StatusWithTierAndConfig) {
  testing::TempDir dir;
  auto cfg = dir.Write("g.yaml", "tier: small\nlimits: {disk: {max: 90, warn: 85}}\n");
  auto r = RunAllot(Guard("status", "idle", {"--json", "--config", cfg, "--path", dir.path()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tier"], "small");
  EXPECT_EQ(j["resources"][1]["limit_percent"], 55.0);  // small tier: 55 %
  EXPECT_EQ(j["resources"][2]["limit_percent"], 90.0);  // config
  EXPECT_EQ(j["resources"][2]["path"], dir.path());
  // flags beat the config
  r = RunAllot(Guard("status", "idle", {"--json", "--config", cfg, "--limit", "memory=70", "--tier", "large"}));
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resources"][1]["limit_percent"], 70.0);
  EXPECT_EQ(j["resources"][0]["limit_percent"], 65.0);  // large tier
}

TEST(GuardCliTest, RecommendNamesWhatToDo) {
  auto r = RunAllot(Guard("recommend", "busy", {"--gpus", Data() + "/gpus.json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("memory at 87.5 %"), std::string::npos) << r.out;
  // 7 GiB used - 70 % of 8 GiB (5.6 GiB) = 1.4 GiB
  EXPECT_NE(r.out.find("free at least 1.4 GiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpu:0 at 95.0 %"), std::string::npos) << r.out;
  testing::TempDir dir;
  r = RunAllot(Guard("recommend", "idle", {"--path", dir.path(), "--limit", "disk=1"}));
  EXPECT_NE(r.out.find("disk at"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("archive or delete"), std::string::npos) << r.out;
  r = RunAllot(Guard("recommend", "idle", {"--path", dir.path(), "--limit", "disk=100", "--warn", "disk=100"}));
  EXPECT_NE(r.out.find("nothing to do"), std::string::npos) << r.out;
}

TEST(GuardCliTest, MetricsPassPromtool) {
  auto r = RunAllot(Guard("metrics", "idle", {"--gpus", Data() + "/gpus.json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("allot_guard_used_ratio{resource=\"memory\",id=\"memory\"} 0.25"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("allot_guard_degradation_level{resource=\"gpu\",id=\"gpu:0\"} 4"), std::string::npos);
  auto lint = testing::RunProgram({"promtool", "check", "metrics"}, r.out);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
}

TEST(GuardCliTest, RunPassesTheCommandsStatus) {
  auto r = RunAllot(Guard("run", "idle", {"--memory", "1Gi", "--", "sh", "-c", "echo ran; exit 7"}));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "ran\n");
  // without "--" the first positional starts the command
  r = RunAllot(Guard("run", "idle", {"true"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunAllot(Guard("run", "idle", {"--", "sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(r.exit_code, 128 + 15);
  r = RunAllot(Guard("run", "idle", {"--", "/no/such/program"}));
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(RunAllot(Guard("run", "idle")).exit_code, 2);
}

TEST(GuardCliTest, RunDoesNotStartTheCommandWhenTheWaitTimesOut) {
  testing::TempDir dir;
  std::string marker = dir.path() + "/ran";
  auto r = RunAllot(Guard("run", "busy", {"--timeout", "0.3", "--initial-delay", "0.05", "--", "touch", marker}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("waiting for"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(marker).good());
}

TEST(GuardCliTest, RunWithCgroupSaysWhenItCannotAndStillRuns) {
  // A fake cgroup2 mount: cgroup.controllers exists, so the guard creates a child directory there, but a
  // plain directory has no memory.max to write: the limits cannot be applied, which it must say.
  testing::TempDir sys;
  sys.Write("fs/cgroup/cgroup.controllers", "cpu memory\n");
  auto args = Guard("run", "idle", {"--cgroup", "--memory", "64Mi", "--", "sh", "-c", "exit 3"});
  args[5] = sys.path();  // --sys-root
  auto r = RunAllot(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("cgroup v2 not writable"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("memory.max"), std::string::npos) << r.err;
  // and no cgroup directory is left behind
  int left = 0;
  for (const auto& e : std::filesystem::directory_iterator(sys.path() + "/fs/cgroup")) left += e.is_directory() ? 1 : 0;
  EXPECT_EQ(left, 0);
}

TEST(GuardCliTest, WaitReturnsAtOnceWhenFreeAndTimesOutWhenNot) {
  EXPECT_EQ(RunAllot(Guard("wait", "idle", {"--timeout", "5", "--memory", "1Gi"})).exit_code, 0);
  auto r = RunAllot(Guard("wait", "busy", {"--timeout", "0.2", "--initial-delay", "0.05"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("waiting for cpu"), std::string::npos) << r.err;
}

TEST(GuardCliTest, HelpEverywhere) {
  for (const char* sub : {"status", "check", "wait", "run", "recommend", "metrics"}) {
    auto r = RunAllot({"guard", sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("usage: allot guard"), std::string::npos) << sub;
  }
  EXPECT_EQ(RunAllot({"guard", "--help"}).exit_code, 0);
  EXPECT_EQ(RunAllot({"guard"}).exit_code, 2);
}

}  // namespace
}  // namespace allot::host

namespace allot::host {
namespace {

TEST(GuardCliTest, MetricsListenServesGetMetricsUntilTerminated) {
  int port = testing::FreePort();
  std::string addr = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = Guard("metrics", "idle", {"--listen", addr});
  args.insert(args.begin(), testing::AllotBinary());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto client = net::HttpClient::Create("http://" + addr, 2000);
  ASSERT_TRUE(client.ok());
  Result<net::ClientResponse> r = Error{ErrorCode::kUnavailable, "not tried"};
  for (int i = 0; i < 200 && !r.ok(); i++) {  // the listener needs a moment to start
    usleep(20000);
    r = client->Request("GET", "/metrics");
  }
  auto missing = client->Request("GET", "/nope");
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->headers["content-type"].find("version=0.0.4"), std::string::npos);
  EXPECT_NE(r->body.find("allot_guard_used_ratio{resource=\"memory\",id=\"memory\"} 0.25"), std::string::npos);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace allot::host
