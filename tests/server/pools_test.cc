// Elastic pools through the real server (pool_interval 100 ms): desired node counts from allocated
// utilisation and queued demand (autoscale::DesiredPoolSize), cool-downs, GET /v1/nodepools, metrics, audit
// events, the scaling command (argv, no shell string from input), the Holt forecast and `allot status`.
#include <gtest/gtest.h>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

json Req(const std::string& cpu) { return {{"requests", {{"cpu", cpu}}}}; }

json Pool(Api& api) {
  auto r = api.Call("GET", "/v1/nodepools/gpu");
  return r.status == 200 ? r.body : json();
}

// Polls the pool until `done`, for at most ~60 s (a bound for a loaded machine, not a timing assertion).
template <typename Done>
json PoolUntil(Api& api, Done done) {
  json p;
  for (int i = 0; i < 600; i++) {
    p = Pool(api);
    if (!p.is_null() && done(p)) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return p;
}

TEST(PoolsTest, DesiredNodesFollowUtilisationAndQueuedDemandAndRunTheCommand) {
  TempDir dir;
  std::string out = dir.path() + "/scaled.txt";
  // The command is an argv list: the server appends the pool name and the desired count ($1 $2 here).
  std::string cfg = dir.Write("c.yaml",
                              "pool_interval: 100ms\n"
                              "forecast: {alpha: 0.5, beta: 0.5, horizon: 3}\n"
                              "pools:\n"
                              "  - name: gpu\n"
                              "    min_nodes: 1\n"
                              "    max_nodes: 5\n"
                              "    target_utilization: 50%\n"
                              "    scale_up_cooldown: 0s\n"
                              "    scale_down_cooldown: 1h\n"
                              "    command: [/bin/sh, -c, 'echo \"$1 $2 $ALLOT_POOL $ALLOT_DESIRED_NODES\" >> " + out +
                                  "', scale]\n"
                              "nodes:\n"
                              "  - {name: p1, capacity: {cpu: '4'}, pool: gpu}\n"
                              "  - {name: p2, capacity: {cpu: '4'}, pool: gpu}\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", cfg});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  // Idle: utilisation 0 -> ceil(2 x 0 / 0.5) = 0 nodes, raised to min_nodes 1; a scale-down of one step.
  json p = PoolUntil(api, [](const json& j) { return j["desired"] == 1; });
  EXPECT_EQ(p["desired"], 1) << p.dump();
  EXPECT_EQ(p["nodes"], 2);
  EXPECT_EQ(p["node_capacity"], 4000);
  EXPECT_EQ(p["resource"], "cpu");
  // 6 of 8 cores allocated: utilisation 0.75, ratio 0.75 / 0.5 = 1.5 -> ceil(2 x 1.5) = 3 nodes.
  ASSERT_EQ(api.Call("POST", "/v1/allocations", Req("3")).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/allocations", Req("3")).status, 201);
  p = PoolUntil(api, [](const json& j) { return j["desired"] == 3 && j["allocated"] == 6000; });
  EXPECT_EQ(p["desired"], 3) << p.dump();
  EXPECT_DOUBLE_EQ(p["utilization"].get<double>(), 0.75);
  // A 4-core request fits no node (1 core free on each): queued demand 4000m needs
  // ceil(4000 / (4000 x 0.5)) = 2 more nodes -> 3 + 2 = 5 (= max_nodes).
  auto q = api.Call("POST", "/v1/allocations", Req("4"));
  ASSERT_EQ(q.status, 202) << q.body.dump();
  p = PoolUntil(api, [](const json& j) { return j["desired"] == 5; });
  EXPECT_EQ(p["desired"], 5) << p.dump();
  EXPECT_EQ(p["queued_demand"], 4000);
  // Releasing everything would size the pool at 1, but the 1 h scale-down cool-down since the last
  // scale-up freezes the desired count at 5.
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + q.body["id"].get<std::string>()).status, 200);
  p = PoolUntil(api, [](const json& j) { return j["queued_demand"] == 0; });
  EXPECT_EQ(p["desired"], 5) << p.dump();
  EXPECT_NE(p["reason"].get<std::string>().find("cool-down"), std::string::npos) << p.dump();
  // Forecast: Holt's linear trend over the per-interval demand, 3 steps ahead.
  ASSERT_TRUE(p["forecast"].is_object()) << p.dump();
  EXPECT_EQ(p["forecast"]["method"], "holt-linear");
  EXPECT_EQ(p["forecast"]["demand"].size(), 3u);
  EXPECT_EQ(p["forecast"]["step_seconds"], 0.1);

  // The command ran for each change, with the pool and desired count as arguments and environment.
  std::string lines;
  for (int i = 0; i < 600; i++) {
    lines = ReadFile(out);
    if (lines.find("gpu 5 gpu 5") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(lines.find("gpu 1 gpu 1\n"), std::string::npos) << lines;
  EXPECT_NE(lines.find("gpu 5 gpu 5\n"), std::string::npos) << lines;
  // Audit events for every change of the desired count, and the command's results.
  auto ev = api.Call("GET", "/v1/events?id=gpu");
  int scale = 0, command = 0;
  for (const auto& e : ev.body["events"]) {
    scale += e["type"] == "pool_scale";
    command += e["type"] == "pool_command";
  }
  EXPECT_GE(scale, 3) << ev.body.dump();  // 2 -> 1, 1 -> ... -> 3, ... -> 5
  EXPECT_GE(command, 1) << ev.body.dump();
  std::string text = api.Call("GET", "/metrics").body.get<std::string>();
  EXPECT_NE(text.find("allot_pool_desired_nodes{pool=\"gpu\"} 5"), std::string::npos) << text;
  EXPECT_NE(text.find("allot_pool_nodes{pool=\"gpu\"} 2"), std::string::npos);
  auto list = api.Call("GET", "/v1/nodepools");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["pools"].size(), 1u);
  EXPECT_EQ(api.Call("GET", "/v1/nodepools/none").status, 404);
  // `allot status` shows the pool with its forecast.
  auto st = RunAllot({"status", "--server", s.url()});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("POOL"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("gpu"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("degradation"), std::string::npos) << st.out;
}

TEST(PoolsTest, ScaleFromZeroUsesTheLastKnownNodeSizeAndBadPoolConfigIsNamed) {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", "pools:\n  - {name: x, min_nodes: 3, max_nodes: 2}\n");
  auto r = RunAllot({"serve", "--dev", "--config", bad, "--data", dir.path() + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pools[0].max_nodes"), std::string::npos) << r.err;
  bad = dir.Write("bad2.yaml", "pools:\n  - {name: x, max_nodes: 2, target_utilization: 1.5}\n");
  r = RunAllot({"serve", "--dev", "--config", bad, "--data", dir.path() + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pools[0].target_utilization"), std::string::npos) << r.err;
  bad = dir.Write("bad3.yaml", "pools:\n  - {name: x, max_nodes: 2, scale_up_cooldown: soon}\n");
  r = RunAllot({"serve", "--dev", "--config", bad, "--data", dir.path() + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pools[0].scale_up_cooldown"), std::string::npos) << r.err;

  std::string cfg = dir.Write("c.yaml",
                              "pool_interval: 100ms\n"
                              "pools: [{name: gpu, min_nodes: 0, max_nodes: 4, target_utilization: 0.5, "
                              "scale_up_cooldown: 0s, scale_down_cooldown: 0s}]\n"
                              "nodes: [{name: p1, capacity: {cpu: '4'}, pool: gpu}]\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", cfg});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  // The node is seen (4 cores), then drained: 0 schedulable nodes, and an idle pool wants 0.
  json p = PoolUntil(api, [](const json& j) { return j["node_capacity"] == 4000; });
  ASSERT_EQ(p["node_capacity"], 4000) << p.dump();
  ASSERT_EQ(api.Call("POST", "/v1/nodes/p1/drain").status, 200);
  p = PoolUntil(api, [](const json& j) { return j["nodes"] == 0 && j["desired"] == 0; });
  EXPECT_EQ(p["desired"], 0) << p.dump();
  // 3 cores wait: ceil(3000 / (4000 x 0.5)) = 2 nodes, from the remembered node size.
  ASSERT_EQ(api.Call("POST", "/v1/allocations", Req("3")).status, 202);
  p = PoolUntil(api, [](const json& j) { return j["desired"] == 2; });
  EXPECT_EQ(p["desired"], 2) << p.dump();
  EXPECT_EQ(p["queued_demand"], 3000);
}

}  // namespace
}  // namespace allot::testing
