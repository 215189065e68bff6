// The node agent against a fake loopback server: registration and heartbeat bodies, re-registration,
// refusals; and two `allot agent` processes with recorded /proc roots.
#include "allot/host/agent.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_server.h"
#include "support.h"

namespace allot::host {
namespace {

using testing_fake::FakeServer;

AgentOptions Options(const std::string& root, const std::string& server) {
  AgentOptions o;
  o.server = server;
  o.roots.proc = std::string(ALLOT_HOST_DATA) + "/" + root + "/proc";
  o.roots.sys = std::string(ALLOT_HOST_DATA) + "/" + root + "/sys";
  o.roots.gpu_file = std::string(ALLOT_HOST_DATA) + "/gpus.json";
  o.once = true;
  return o;
}

TEST(AgentTest, RegistersThenHeartbeatsWithQuantityStrings) {
  FakeServer server;
  auto o = Options("idle", server.url());
  o.labels = {{"zone", "a"}};
  o.token = "secret";
  EXPECT_EQ(RunAgent(o), 0);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/v1/nodes");
  EXPECT_NE(reqs[0].head.find("Authorization: Bearer secret"), std::string::npos);
  auto reg = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(reg["name"], "node-a");  // from proc/sys/kernel/hostname
  EXPECT_EQ(reg["capacity"]["cpu"], "8");
  EXPECT_EQ(reg["capacity"]["memory"], "16Gi");  // MemTotal 16777216 kB
  EXPECT_EQ(reg["capacity"]["gpu"], "2");
  EXPECT_TRUE(reg["capacity"].contains("ephemeral-storage"));
  EXPECT_EQ(reg["labels"]["zone"], "a");
  EXPECT_EQ(reg["gpus"][0]["model"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(reqs[1].path, "/v1/nodes/node-a/heartbeat");
  auto hb = nlohmann::json::parse(reqs[1].body);
  // recorded /proc/stat never moves: cpu from load 0.80 of 8 cores = 10 % = 800m
  EXPECT_EQ(hb["usage"]["cpu"], "800m");
  // MemTotal 16 GiB - MemAvailable 12 GiB
  EXPECT_EQ(hb["usage"]["memory"], "4Gi");
  // GPU utilisation 95 % + 10 % = 1.05 devices busy
  EXPECT_EQ(hb["usage"]["gpu"], "1050m");
}

TEST(AgentTest, ContainerCapacityComesFromTheCgroup) {
  FakeServer server;
  auto o = Options("container", server.url());
  o.name = "pod-1";
  testing::TempDir dir;
  o.roots.gpu_file = dir.Write("none.json", "[]");
  EXPECT_EQ(RunAgent(o), 0);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto reg = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(reg["capacity"]["cpu"], "2");       // cpu.max 200000/100000
  EXPECT_EQ(reg["capacity"]["memory"], "4Gi");  // memory.max
  EXPECT_FALSE(reg["capacity"].contains("gpu"));
  auto hb = nlohmann::json::parse(reqs[1].body);
  EXPECT_EQ(hb["usage"]["memory"], "2Gi");  // memory.current 3 GiB - inactive_file 1 GiB
}

TEST(AgentTest, AlreadyRegisteredIsFineAndAForgottenNodeRegistersAgain) {
  // registration answers 409 the first time; the first heartbeat 404 (server restarted and forgot it)
  FakeServer server([](const std::string&, const std::string& path, int nth) {
    if (path == "/v1/nodes") return nth == 0 ? 409 : 201;
    return nth == 0 ? 404 : 200;
  });
  auto o = Options("busy", server.url());
  EXPECT_EQ(RunAgent(o), 0);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].path, "/v1/nodes");
  EXPECT_EQ(reqs[1].path, "/v1/nodes/node-b/heartbeat");
  EXPECT_EQ(reqs[2].path, "/v1/nodes");
  EXPECT_EQ(reqs[3].path, "/v1/nodes/node-b/heartbeat");
}

TEST(AgentTest, RefusalAndUnreachableServerFailOnce) {
  FakeServer server([](const std::string&, const std::string&, int) { return 422; });
  EXPECT_EQ(RunAgent(Options("idle", server.url())), 1);
  int port = testing::FreePort();
  EXPECT_EQ(RunAgent(Options("idle", "http://127.0.0.1:" + std::to_string(port))), 1);
  EXPECT_EQ(RunAgent(Options("idle", "https://127.0.0.1:" + std::to_string(port))), 1);  // TLS, nothing there
  EXPECT_EQ(RunAgent(Options("idle", "ftp://127.0.0.1:1")), 2);
  EXPECT_EQ(RunAgent(Options("broken", server.url())), 2);
}

TEST(AgentTest, HeartbeatsEveryIntervalUntilStopped) {
  FakeServer server;
  auto o = Options("idle", server.url());
  o.once = false;
  std::atomic<bool> stop{false};
  int slept = 0;
  o.stop = &stop;
  o.sleep = [&](std::chrono::milliseconds d) {
    EXPECT_EQ(d.count(), 10000);
    if (++slept == 3) stop = true;  // stop after the third interval
  };
  EXPECT_EQ(RunAgent(o), 0);
  auto reqs = server.requests();
  // register, heartbeat after interval 1 and 2; the third sleep ends with stop
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[2].path, "/v1/nodes/node-a/heartbeat");
}

TEST(AgentTest, LabelsAreValidated) {
  std::map<std::string, std::string> l;
  EXPECT_TRUE(AddLabel("zone=eu-1", &l).ok());
  EXPECT_TRUE(AddLabel("example.com/role=", &l).ok());
  EXPECT_FALSE(AddLabel("novalue", &l).ok());
  EXPECT_FALSE(AddLabel("=x", &l).ok());
  EXPECT_FALSE(AddLabel("a=b c", &l).ok());
}

TEST(AgentCliTest, TwoAgentsWithRecordedRootsRegisterAndReport) {
  FakeServer server;
  std::string data = ALLOT_HOST_DATA;
  auto a = testing::RunAllot({"agent", "--server", server.url(), "--proc-root", data + "/idle/proc", "--gpus",
                              data + "/gpus.json", "--label", "zone=a", "--once"});
  auto b = testing::RunAllot({"agent", "--server", server.url(), "--proc-root", data + "/busy/proc", "--name", "b2",
                              "--gpus", data + "/gpus.json", "--once", "--quiet"});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body)["name"], "node-a");
  EXPECT_EQ(nlohmann::json::parse(reqs[2].body)["name"], "b2");
  EXPECT_EQ(nlohmann::json::parse(reqs[2].body)["capacity"]["memory"], "8Gi");
  EXPECT_EQ(reqs[3].path, "/v1/nodes/b2/heartbeat");
  // busy: load 3.60 of 4 cores = 90 % = 3600m; 8 GiB - 1 GiB available = 7 GiB
  EXPECT_EQ(nlohmann::json::parse(reqs[3].body)["usage"]["cpu"], "3600m");
  EXPECT_EQ(nlohmann::json::parse(reqs[3].body)["usage"]["memory"], "7Gi");
}

TEST(AgentCliTest, BadInput) {
  EXPECT_EQ(testing::RunAllot({"agent"}).exit_code, 2);
  EXPECT_EQ(testing::RunAllot({"agent", "--server", "http://x", "--label", "bad"}).exit_code, 2);
  EXPECT_EQ(testing::RunAllot({"agent", "--server", "http://x", "--interval", "-1"}).exit_code, 2);
  EXPECT_EQ(testing::RunAllot({"agent", "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace allot::host
