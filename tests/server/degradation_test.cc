// Degradation levels through the real server: levels from allocated utilisation, priority gating on
// POST /v1/allocations (503 `degraded` with Retry-After), the level and scale factor on every decision,
// hysteresis (a long dwell holds the level after load falls; a short one lets it fall), metrics and
// audit events; adaptive admission visible in metrics; bad config named by file and key.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

json Node(const std::string& name, const std::string& cpu) {
  return {{"name", name}, {"capacity", {{"cpu", cpu}, {"memory", "1Ti"}}}};
}
json Req(const std::string& cpu, const std::string& priority) {
  return {{"requests", {{"cpu", cpu}}}, {"priority", priority}};
}

// The value of an unlabelled sample in a Prometheus text body (NaN when absent).
double MetricValue(const std::string& text, const std::string& sample) {
  size_t at = 0;
  while ((at = text.find(sample + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + sample.size() + 1));
    at++;
  }
  return std::nan("");
}

std::string Config(TempDir& dir, const std::string& dwell, const std::string& extra = "") {
  return dir.Write("c.yaml", "throttling:\n  degradation: {margin: 5, dwell: " + dwell +
                                 ", thresholds: {default: [70, 85, 95, 100]}}\n" + extra);
}

TEST(DegradationTest, LevelsGatePrioritiesAndTravelWithEveryDecision) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", Config(dir, "1h")});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "20")).status, 201);
  // 14 of 20 cores = 70 %: level 1 (light), scale factor 1.
  auto a = api.Call("POST", "/v1/allocations", Req("14", "normal"));
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["degradation"]["level"], 1);
  EXPECT_EQ(a.body["degradation"]["scale_factor"], 1.0);
  // 17 of 20 = 85 %: level 2 (moderate), scale 0.5.
  auto b = api.Call("POST", "/v1/allocations", Req("3", "normal"));
  ASSERT_EQ(b.status, 201);
  EXPECT_EQ(b.body["degradation"]["level"], 2);
  EXPECT_EQ(b.body["degradation"]["scale_factor"], 0.5);
  // 19 of 20 = 95 %: level 3 (heavy), scale 0.25.
  ASSERT_EQ(api.Call("POST", "/v1/allocations", Req("2", "critical")).body["degradation"]["level"], 3);
  // Level 3 refuses below normal; normal passes: 19.1 of 20 = 95.5 %, still level 3.
  auto low = api.Call("POST", "/v1/allocations", Req("100m", "low"));
  EXPECT_EQ(low.status, 503) << low.body.dump();
  EXPECT_EQ(low.body["error"]["code"], "degraded");
  EXPECT_EQ(low.body["error"]["field"], "priority");
  EXPECT_NE(low.body["error"]["message"].get<std::string>().find("level 3"), std::string::npos);
  EXPECT_EQ(low.body["degradation"]["level"], 3);
  EXPECT_EQ(low.body["degradation"]["scale_factor"], 0.25);
  EXPECT_EQ(low.headers.count("retry-after") + low.headers.count("Retry-After"), 1u);
  auto normal = api.Call("POST", "/v1/allocations", Req("100m", "normal"));
  ASSERT_EQ(normal.status, 201) << normal.body.dump();
  // 19.1 + 0.9 = 20 of 20 = 100 %: level 4 (critical), scale 0; only critical passes.
  auto full = api.Call("POST", "/v1/allocations", Req("900m", "critical"));
  ASSERT_EQ(full.status, 201);
  EXPECT_EQ(full.body["degradation"]["level"], 4);
  EXPECT_EQ(full.body["degradation"]["scale_factor"], 0.0);
  EXPECT_EQ(api.Call("POST", "/v1/allocations", Req("100m", "high")).status, 503);
  auto crit = api.Call("POST", "/v1/allocations", Req("100m", "critical"));
  EXPECT_EQ(crit.status, 202) << crit.body.dump();  // passes the gate, waits for room
  EXPECT_EQ(crit.body["degradation"]["level"], 4);

  // Hysteresis: with a dwell of 1 h the level stays at 4 after the load falls to 6.1 of 20.
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + a.body["id"].get<std::string>()).status, 200);
  // 6.1 / 20 = 30.5 %: the samples alone say normal once the timer has seen the release (polled).
  json u;
  for (int i = 0; i < 600; i++) {
    u = api.Call("GET", "/v1/utilization").body;
    if (u["degradation"]["raw_level"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(u["degradation"]["raw_level"], 0) << u.dump();
  EXPECT_EQ(u["degradation"]["level"], 4);
  EXPECT_EQ(api.Call("POST", "/v1/allocations", Req("100m", "normal")).status, 503);

  auto m = api.Call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  std::string text = m.body.get<std::string>();
  EXPECT_EQ(MetricValue(text, "allot_degradation_level"), 4);
  EXPECT_EQ(MetricValue(text, "allot_scale_factor"), 0);
  EXPECT_EQ(MetricValue(text, "allot_degradation_refusals_total"), 3);  // low, high, normal
  EXPECT_NE(text.find("allot_rejections_total{reason=\"degraded\"} 3"), std::string::npos);
  // Each rise was audited: 0->1, 1->2, 2->3, 3->4.
  auto ev = api.Call("GET", "/v1/events?id=cluster");
  int rises = 0;
  for (const auto& e : ev.body["events"]) rises += e["type"] == "degradation";
  EXPECT_EQ(rises, 4) << ev.body.dump();
}

TEST(DegradationTest, WithoutADegradationSectionTheLevelIsReportedButNothingIsRefused) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", Req("4", "normal"));
  ASSERT_EQ(a.status, 201);
  EXPECT_EQ(a.body["degradation"]["level"], 4);  // 4 of 4 cores
  // A full cluster queues as it always did: the gate is only enforced when configured.
  auto low = api.Call("POST", "/v1/allocations", Req("1", "low"));
  EXPECT_EQ(low.status, 202) << low.body.dump();
  EXPECT_EQ(low.body["degradation"]["level"], 4);
  EXPECT_EQ(api.Call("GET", "/v1/utilization").body["degradation"]["enforced"], false);
}

TEST(DegradationTest, TheLevelFallsAfterTheDwellOnceLoadIsBelowTheMargin) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", Config(dir, "100ms")});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "10")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", Req("10", "critical"));
  ASSERT_EQ(a.status, 201);
  EXPECT_EQ(a.body["degradation"]["level"], 4);  // 10 of 10
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + a.body["id"].get<std::string>()).status, 200);
  // 0 % is below every threshold minus the 5-point margin; after the 100 ms dwell the level is 0.
  // Polled for at most ~60 s (a bound for a loaded machine, not a timing assertion).
  json u;
  for (int i = 0; i < 600; i++) {
    u = api.Call("GET", "/v1/utilization").body;
    if (u["degradation"]["level"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(u["degradation"]["level"], 0) << u.dump();
  auto low = api.Call("POST", "/v1/allocations", Req("1", "background"));
  EXPECT_EQ(low.status, 201) << low.body.dump();
  EXPECT_EQ(low.body["degradation"]["level"], 0);  // 1 of 10 = 10 %
}

TEST(DegradationTest, ObservedUsageCountsAndPoolsHaveTheirOwnLevel) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", Config(dir, "1h")});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  json n1 = Node("n1", "10");
  n1["pool"] = "gpu";
  ASSERT_EQ(api.Call("POST", "/v1/nodes", n1).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n2", "10")).status, 201);
  // n1 reports 9.6 of 10 cores used although nothing is allocated: pool gpu at 96 % (level 3);
  // the cluster at 9.6 of 20 = 48 % (level 0).
  auto hb = api.Call("POST", "/v1/nodes/n1/heartbeat", json{{"usage", {{"cpu", "9600m"}}}});
  ASSERT_EQ(hb.status, 200) << hb.body.dump();
  json u;
  for (int i = 0; i < 600; i++) {
    u = api.Call("GET", "/v1/utilization").body;
    if (u["degradation"]["pools"].contains("gpu") && u["degradation"]["pools"]["gpu"]["level"] == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(u["degradation"]["pools"]["gpu"]["level"], 3) << u.dump();
  EXPECT_EQ(u["degradation"]["level"], 0);
  EXPECT_NEAR(u["effective_percent"]["cpu"].get<double>(), 48.0, 1e-9);
  // Now n2 reports 9.8: cluster 19.4 of 20 = 97 % -> level 3: low priority is refused.
  ASSERT_EQ(api.Call("POST", "/v1/nodes/n2/heartbeat", json{{"usage", {{"cpu", "9800m"}}}}).status, 200);
  for (int i = 0; i < 600; i++) {
    u = api.Call("GET", "/v1/utilization").body;
    if (u["degradation"]["level"] == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(u["degradation"]["level"], 3) << u.dump();
  EXPECT_EQ(api.Call("POST", "/v1/allocations", Req("100m", "low")).status, 503);
  std::string text = api.Call("GET", "/metrics").body.get<std::string>();
  EXPECT_NE(text.find("allot_pool_degradation_level{pool=\"gpu\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("allot_node_observed{node=\"n2\",resource=\"cpu\"} 9.8"), std::string::npos);
}

// The periodic scan finds each node's record once and keeps it by the node's engine slot; a node removed
// and registered again under its name (same slot, new record) must be read from its new record.
TEST(DegradationTest, ANodeRemovedAndRegisteredAgainIsScannedAsItIsNow) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", Config(dir, "100ms")});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  auto levels = [&](const std::function<bool(const json&)>& done) {
    json u;
    for (int i = 0; i < 600; i++) {  // ~60 s at most: a bound for a loaded machine
      u = api.Call("GET", "/v1/utilization").body;
      if (done(u["degradation"]["pools"])) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return u["degradation"]["pools"];
  };
  json n1 = Node("n1", "10");
  n1["pool"] = "a";
  ASSERT_EQ(api.Call("POST", "/v1/nodes", n1).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n2", "10")).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/nodes/n1/heartbeat", json{{"usage", {{"cpu", "9600m"}}}}).status, 200);
  json p = levels([](const json& q) { return q.contains("a") && q["a"]["level"] == 3; });
  ASSERT_EQ(p["a"]["level"], 3) << p.dump();
  ASSERT_EQ(api.Call("DELETE", "/v1/nodes/n1").status, 200);
  n1["pool"] = "b";
  ASSERT_EQ(api.Call("POST", "/v1/nodes", n1).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/nodes/n1/heartbeat", json{{"usage", {{"cpu", "9700m"}}}}).status, 200);
  // Pool b now has n1 at 97 %; pool a has no node left and falls to 0 after the dwell.
  p = levels([](const json& q) { return q.contains("b") && q["b"]["level"] == 3 && q["a"]["level"] == 0; });
  EXPECT_EQ(p["b"]["level"], 3) << p.dump();
  EXPECT_EQ(p["a"]["level"], 0) << p.dump();
}

// A cluster of more than one scan slice (State::kScanSlice nodes) is scanned a slice at a time with the
// state lock let go in between, while requests come and go: nodes of the first and of the last slice
// both count.
TEST(DegradationTest, AClusterScannedInSlicesCountsEveryNode) {
  TempDir dir;
  std::string nodes = "nodes:\n";
  const int kNodes = 5000;
  for (int i = 0; i < kNodes; i++) {
    nodes += "  - {name: n" + std::to_string(i) + ", capacity: {cpu: \"10\", memory: 1Ti}" +
             (i == 0            ? ", pool: first"
              : i == kNodes - 1 ? ", pool: last"
                                : "") +
             "}\n";
  }
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", Config(dir, "100ms", nodes)});
  ASSERT_TRUE(s.Start()) << s.Log();
  std::atomic<bool> stop{false};
  std::atomic<int> pairs{0};
  std::thread load([&] {
    Api api(s.url());
    while (!stop.load()) {
      auto a = api.Call("POST", "/v1/allocations", Req("1", "high"));
      if (a.status != 201) continue;
      api.Call("DELETE", "/v1/allocations/" + a.body["id"].get<std::string>());
      pairs++;
    }
  });
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes/n0/heartbeat", json{{"usage", {{"cpu", "9600m"}}}}).status, 200);
  ASSERT_EQ(api.Call("POST", "/v1/nodes/n4999/heartbeat", json{{"usage", {{"cpu", "9700m"}}}}).status, 200);
  json u;
  for (int i = 0; i < 600; i++) {  // ~60 s at most: a bound for a loaded machine
    u = api.Call("GET", "/v1/utilization").body;
    const json& p = u["degradation"]["pools"];
    if (p.contains("first") && p.contains("last") && p["first"]["level"] == 3 && p["last"]["level"] == 3)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  load.join();
  EXPECT_EQ(u["degradation"]["pools"]["first"]["level"], 3) << u.dump();
  EXPECT_EQ(u["degradation"]["pools"]["last"]["level"], 3) << u.dump();
  EXPECT_EQ(u["degradation"]["level"], 0);  // 19.3 of 50,000 cores
  EXPECT_GT(pairs.load(), 0);
}

TEST(AdmissionTest, TheAdaptiveLimitIsVisibleInMetrics) {
  TempDir dir;
  // Every sample is over a 1 ns latency target: the limit halves once per (1 h) interval, 100 -> 50.
  std::string cfg = dir.Write("c.yaml",
                              "throttling:\n  admission: {initial_limit: 100, min_limit: 1, max_limit: 1000, "
                              "target_latency: 1ns, interval: 1h}\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", cfg});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "10")).status, 201);
  for (int i = 0; i < 3; i++) ASSERT_EQ(api.Call("POST", "/v1/allocations", Req("100m", "normal")).status, 201);
  std::string text = api.Call("GET", "/metrics").body.get<std::string>();
  EXPECT_EQ(MetricValue(text, "allot_admission_limit"), 50) << text;
  EXPECT_EQ(MetricValue(text, "allot_admission_enforced"), 1);
  EXPECT_NE(text.find("allot_admission_adjustments_total{direction=\"decrease\"} 1"), std::string::npos);
  auto u = api.Call("GET", "/v1/utilization");
  EXPECT_EQ(u.body["admission"]["limit"], 50);
  EXPECT_EQ(u.body["admission"]["enforced"], true);
}

TEST(DegradationTest, BadThrottlingConfigIsNamedByFileAndKey) {
  TempDir dir;
  std::string bad = dir.Write("bad.yaml", "throttling:\n  degradation: {thresholds: {cpu: [90, 80, 95, 100]}}\n");
  auto r = RunAllot({"serve", "--dev", "--config", bad, "--data", dir.path() + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("throttling.degradation.thresholds.cpu"), std::string::npos) << r.err;
  bad = dir.Write("bad2.yaml", "throttling:\n  admission: {decrease_factor: 2}\n");
  r = RunAllot({"serve", "--dev", "--config", bad, "--data", dir.path() + "/d"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("decrease_factor"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace allot::testing
