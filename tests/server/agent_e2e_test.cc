// End to end: `allot serve` and two real `allot agent` processes reading recorded /proc roots
// (tests/host/data): registration with GPUs, usage reports in /v1/nodes and /v1/utilization, and node loss
// when one agent is killed (node down after the heartbeat timeout, its allocation preempted and audited),
// then the node's return with the agent.
#include <gtest/gtest.h>

#include <cmath>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// A background `allot ARGS...` process, stopped by its PID.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log) {
    std::vector<std::string> argv = {AllotBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() { Kill(SIGKILL); }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

// Polls `get` until `done` holds for its answer, for at most ~60 s (a bound for a loaded machine, not
// a timing assertion); returns the last answer.
template <typename Get, typename Done>
json Until(Get get, Done done) {
  json last;
  for (int i = 0; i < 600; i++) {
    last = get();
    if (done(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

json NodeNamed(const json& list, const std::string& name) {
  for (const auto& n : list["nodes"]) {
    if (n["name"] == name) return n;
  }
  return nullptr;
}

TEST(AgentE2eTest, TwoAgentsRegisterReportUsageAndALostNodeIsMarkedDownAndFreed) {
  TempDir dir;
  std::string cfg = dir.Write("c.yaml", "heartbeat_timeout: 2s\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", cfg});
  ASSERT_TRUE(s.Start()) << s.Log();
  const std::string data = SourceDir() + "/tests/host/data";
  auto agent = [&](const std::string& name, const std::string& root, const std::string& zone) {
    return std::make_unique<Child>(
        std::vector<std::string>{"agent", "--server", s.url(), "--name", name, "--proc-root", data + "/" + root + "/proc",
                                 "--gpus", data + "/gpus.json", "--label", "zone=" + zone, "--disk", dir.path(),
                                 "--interval", "0.2"},
        dir.path() + "/agent-" + name + ".log");
  };
  auto a = agent("node-a", "idle", "a");
  auto b = agent("node-b", "busy", "b");
  ASSERT_TRUE(a->running() && b->running());
  Api api(s.url());
  auto nodes = Until([&] { return api.Call("GET", "/v1/nodes").body; }, [](const json& j) {
    json na = NodeNamed(j, "node-a"), nb = NodeNamed(j, "node-b");
    return !na.is_null() && !nb.is_null() && na["observed"].contains("memory") && nb["observed"].contains("memory");
  });
  json na = NodeNamed(nodes, "node-a"), nb = NodeNamed(nodes, "node-b");
  ASSERT_FALSE(na.is_null()) << nodes.dump() << ReadFile(dir.path() + "/agent-node-a.log");
  ASSERT_FALSE(nb.is_null()) << nodes.dump() << ReadFile(dir.path() + "/agent-node-b.log");
  ASSERT_TRUE(nb["observed"].contains("memory")) << nodes.dump();
  // Registration: idle/ has 8 cores and MemTotal 16 GiB; busy/ 4 cores and 8 GiB; both two H100s.
  EXPECT_EQ(na["capacity"]["cpu"], 8000);
  EXPECT_EQ(na["capacity"]["memory"], int64_t{16} << 30);
  EXPECT_EQ(nb["capacity"]["cpu"], 4000);
  EXPECT_EQ(na["capacity"]["gpu"], 2);
  EXPECT_EQ(na["labels"]["zone"], "a");
  EXPECT_EQ(na["labels"]["allot.dev/gpu-count"], "2");
  EXPECT_EQ(na["labels"]["allot.dev/gpu-model"], "NVIDIA-H100-80GB-HBM3");
  ASSERT_EQ(na["gpus"].size(), 2u);
  EXPECT_EQ(na["gpus"][0]["model"], "NVIDIA H100 80GB HBM3");
  EXPECT_TRUE(na["gpus"][0].contains("utilization"));  // heartbeats carry the GPUs' use
  EXPECT_EQ(na["state"], "up");
  EXPECT_TRUE(na["agent"].get<bool>());
  // Usage: the recorded /proc/stat never changes, so CPU falls back to the load average:
  // node-a 0.80 / 8 cores = 10 % -> 800m; node-b 3.60 / 4 = 90 % -> 3600m.
  // Memory used = MemTotal - MemAvailable: 16 - 12 = 4 GiB; 8 - 1 = 7 GiB.
  // GPU: utilisation 95 % + 10 % -> 1050 milli-GPUs.
  EXPECT_EQ(na["observed"]["cpu"], 800);
  EXPECT_EQ(nb["observed"]["cpu"], 3600);
  EXPECT_EQ(na["observed"]["memory"], int64_t{4} << 30);
  EXPECT_EQ(nb["observed"]["memory"], int64_t{7} << 30);
  EXPECT_EQ(na["observed"]["gpu_milli"], 1050);

  auto u = api.Call("GET", "/v1/utilization");
  ASSERT_EQ(u.status, 200);
  // Cluster: observed cpu 800 + 3600 = 4400m of 12000m = 36.67 %; memory 11 of 24 GiB.
  EXPECT_EQ(u.body["reporting_nodes"], 2);
  EXPECT_EQ(u.body["observed"]["cpu"], 4400);
  EXPECT_EQ(u.body["observed"]["memory"], int64_t{11} << 30);
  EXPECT_NEAR(u.body["observed_percent"]["cpu"].get<double>(), 4400.0 * 100 / 12000, 1e-9);
  EXPECT_EQ(u.body["allocated"].value("cpu", 0), 0);
  EXPECT_TRUE(u.body["degradation"].contains("level"));

  // An allocation on node-b (critical, so that the recorded disk use cannot gate it), then node-b's agent dies.
  auto al = api.Call("POST", "/v1/allocations",
                     json{{"requests", {{"cpu", "2"}}}, {"selector", {{"zone", "b"}}}, {"priority", "critical"}});
  ASSERT_EQ(al.status, 201) << al.body.dump();
  EXPECT_EQ(al.body["node"], "node-b");
  ASSERT_TRUE(al.body["degradation"].contains("scale_factor"));
  std::string id = al.body["id"];
  u = api.Call("GET", "/v1/utilization");
  // Effective cpu on node-b: max(allocated 2000, observed 3600) = 3600; node-a 800: 4400 of 12000.
  EXPECT_EQ(u.body["allocated"]["cpu"], 2000);
  EXPECT_NEAR(u.body["effective_percent"]["cpu"].get<double>(), 4400.0 * 100 / 12000, 1e-9);
  b->Kill(SIGKILL);
  auto w = api.Call("GET", "/v1/allocations/" + id + "?wait=60s&state=placed");
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(w.body["state"], "preempted") << w.body.dump();
  auto nb_down = api.Call("GET", "/v1/nodes/node-b");
  EXPECT_EQ(nb_down.body["state"], "down");
  EXPECT_EQ(api.Call("GET", "/v1/nodes/node-a").body["state"], "up");  // its agent still reports
  u = api.Call("GET", "/v1/utilization");
  EXPECT_EQ(u.body["nodes"]["down"], 1);
  EXPECT_EQ(u.body["nodes"]["up"], 1);
  EXPECT_EQ(u.body["allocated"].value("cpu", 0), 0);  // freed
  EXPECT_EQ(u.body["reporting_nodes"], 1);   // only schedulable nodes count
  // Audited: the node went down and the allocation was preempted because of it.
  auto ev = api.Call("GET", "/v1/events?id=" + id);
  bool preempted = false;
  for (const auto& e : ev.body["events"]) preempted |= e["type"] == "preempted" && e["node"] == "node-b";
  EXPECT_TRUE(preempted) << ev.body.dump();
  auto nev = api.Call("GET", "/v1/events?id=node-b");
  bool down = false;
  for (const auto& e : nev.body["events"]) down |= e["type"] == "node_down";
  EXPECT_TRUE(down) << nev.body.dump();

  // The agent comes back: it registers again (the server knows the node) and its heartbeat brings it up.
  b = agent("node-b", "busy", "b");
  auto back = Until([&] { return api.Call("GET", "/v1/nodes/node-b").body; },
                    [](const json& j) { return j.value("state", "") == "up"; });
  EXPECT_EQ(back["state"], "up") << ReadFile(dir.path() + "/agent-node-b.log");
}

}  // namespace
}  // namespace allot::testing
