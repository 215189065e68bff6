// The amount history and the analytics through the real server: GET /v1/history per scope, its errors and
// roles, samples that survive a restart, /v1/analytics/*, and `allot alloc --wait-placed` printing the
// queue position and estimated start as it waits.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "allot/clock.h"
#include "allot/server.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// Samples every second: a 1 s tier kept an hour and a 2 s tier with the nodes.
constexpr const char* kHistoryConfig = R"(
history:
  interval: 1s
  tiers:
    - {step: 1s, keep: 1h}
    - {step: 2s, keep: 1d, nodes: true}
analytics:
  prices: {cpu: 3600, memory: 0.5}
  currency: EUR
)";

json Node(const std::string& name) {
  return {{"name", name},
          {"capacity", {{"cpu", "4"}, {"memory", "16Gi"}}},
          {"labels", {{"allot.dev/pool", "p1"}}},
          {"pool", "p1"}};
}

// The last point of `series` (a history series) for `field`.
json Last(const json& series, const std::string& field) {
  return series[field].empty() ? json() : series[field].back();
}

// Polls `path` until `pred` holds on the answer (up to ~10 s).
json Until(Api& api, const std::string& path, const std::function<bool(const json&)>& pred) {
  json last;
  for (int i = 0; i < 100; i++) {
    auto r = api.Call("GET", path);
    last = r.body;
    if (r.status == 200 && pred(r.body)) return r.body;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << path << " never got there; last answer: " << last.dump();
  return last;
}

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.Write("history.yaml", kHistoryConfig);
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data",
                                              std::vector<std::string>{"--dev", "--config", config_});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    api_ = std::make_unique<Api>(server_->url());
    for (const char* n : {"n1", "n2"}) ASSERT_EQ(api_->Call("POST", "/v1/nodes", Node(n)).status, 201);
    ASSERT_EQ(api_->Call("POST", "/v1/nodes/n1/heartbeat", json{{"usage", {{"cpu", "1500m"}}}}).status, 200);
    t0_ = server::WallNowMs();
    // org/a holds 3 cpu on each node; org/b's 2 cpu (pinned to pool p1) wait for room.
    auto a = api_->Call("POST", "/v1/allocations",
                        json{{"tenant", "org/a"}, {"workflow", "wf1"}, {"requests", {{"cpu", "3"}}}});
    ASSERT_EQ(a.status, 201) << a.body.dump();
    ASSERT_EQ(
        api_->Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "3"}}}}).status,
        201);
    auto b = api_->Call(
        "POST", "/v1/allocations",
        json{{"tenant", "org/b"}, {"requests", {{"cpu", "2"}}}, {"selector", {{"allot.dev/pool", "p1"}}}});
    ASSERT_EQ(b.status, 202) << b.body.dump();
  }

  TempDir dir_;
  std::string config_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> api_;
  int64_t t0_ = 0;
};

TEST_F(HistoryTest, EveryScopeHasItsAmounts) {
  // The cluster: 8 cpu, 6 allocated, 1.5 used (only n1 reports), 2 queued.
  json c = Until(*api_, "/v1/history?resource=cpu", [](const json& b) {
    return !b["series"].empty() && b["series"][0]["t"].size() >= 2 &&
           Last(b["series"][0], "queued") == 2000 && Last(b["series"][0], "allocated") == 6000 &&
           Last(b["series"][0], "used") == 1500;
  });
  EXPECT_EQ(c["scope"], "cluster");
  EXPECT_EQ(c["name"], "");
  EXPECT_EQ(c["step"], 1);
  EXPECT_EQ(c["resolution"], 1);
  const json& cpu = c["series"][0];
  EXPECT_EQ(cpu["resource"], "cpu");
  EXPECT_EQ(cpu["unit"], "millicores");
  EXPECT_EQ(Last(cpu, "capacity"), 8000);
  ASSERT_GE(cpu["t"].size(), 2u);
  for (size_t i = 1; i < cpu["t"].size(); i++) EXPECT_LT(cpu["t"][i - 1], cpu["t"][i]);
  for (const char* f : {"capacity", "allocated", "used", "queued"})
    EXPECT_EQ(cpu[f].size(), cpu["t"].size()) << f;
  EXPECT_NEAR(cpu["t"].back().get<double>(), static_cast<double>(server::WallNowMs()) / 1000, 5);
  // Every resource without `resource`, cpu first; memory in bytes.
  auto all = api_->Call("GET", "/v1/history?from=10m");
  ASSERT_EQ(all.status, 200);
  ASSERT_EQ(all.body["series"].size(), 2u);
  EXPECT_EQ(all.body["series"][1]["resource"], "memory");
  EXPECT_EQ(all.body["series"][1]["unit"], "bytes");
  EXPECT_EQ(Last(all.body["series"][1], "capacity"), 2 * (int64_t{16} << 30));
  // The pool has the pinned queued demand; the tenant subtree sums; a tenant's capacity is its quota max
  // (none).
  json pool = Until(*api_, "/v1/history?scope=pool&name=p1&resource=cpu",
                    [](const json& b) { return Last(b["series"][0], "queued") == 2000; });
  EXPECT_EQ(Last(pool["series"][0], "capacity"), 8000);
  json org = Until(*api_, "/v1/history?scope=tenant&name=org&resource=cpu", [](const json& b) {
    return Last(b["series"][0], "allocated") == 6000 && Last(b["series"][0], "queued") == 2000;
  });
  EXPECT_TRUE(Last(org["series"][0], "capacity").is_null());
  EXPECT_TRUE(Last(org["series"][0], "used").is_null());
  json orgb = Until(*api_, "/v1/history?scope=tenant&name=org/b&resource=cpu",
                    [](const json& b) { return Last(b["series"][0], "queued") == 2000; });
  EXPECT_EQ(Last(orgb["series"][0], "allocated"), 0);
  // Nodes are in the 2 s tier only.
  json n1 = Until(*api_, "/v1/history?scope=node&name=n1&resource=cpu",
                  [](const json& b) { return Last(b["series"][0], "allocated") == 3000; });
  EXPECT_EQ(n1["resolution"], 2);
  EXPECT_EQ(Last(n1["series"][0], "used"), 1500);
  EXPECT_TRUE(Last(n1["series"][0], "queued").is_null());
  json n2 = Until(*api_, "/v1/history?scope=node&name=n2&resource=cpu",
                  [](const json& b) { return Last(b["series"][0], "allocated") == 3000; });
  EXPECT_TRUE(Last(n2["series"][0], "used").is_null());  // no agent reports for n2
  // A coarser step averages: 10 s steps start at multiples of 10.
  auto ten = api_->Call("GET", "/v1/history?resource=cpu&step=10s&from=1m");
  ASSERT_EQ(ten.status, 200) << ten.body.dump();
  EXPECT_EQ(ten.body["step"], 10);
  EXPECT_EQ(ten.body["from"].get<int64_t>() % 10, 0);
  for (const auto& t : ten.body["series"][0]["t"]) EXPECT_EQ(t.get<int64_t>() % 10, 0);
}

TEST_F(HistoryTest, BadQueriesAreRefusedNamingTheParameter) {
  Until(*api_, "/v1/history?scope=node&name=n1", [](const json& b) { return !b["series"].empty(); });
  auto expect = [&](const std::string& q, int status, const std::string& field) {
    auto r = api_->Call("GET", "/v1/history" + q);
    EXPECT_EQ(r.status, status) << q << ": " << r.body.dump();
    EXPECT_EQ(r.body["error"].value("field", ""), field) << q << ": " << r.body.dump();
  };
  expect("?scope=galaxy", 400, "scope");
  expect("?from=yesterday", 400, "from");
  expect("?to=soon", 400, "to");
  expect("?step=fast", 400, "step");
  expect("?step=500ms", 422, "step");
  expect("?from=1m&to=2m", 422, "from");           // from (1 min ago) after to (2 min ago)
  expect("?from=2h&step=1s", 422, "step");         // 2 h ago only the 2 s tier reaches
  expect("?from=30d&to=1s&step=60", 422, "step");  // more than 10,080 steps
  expect("?name=x", 422, "name");                  // the cluster has no name
  expect("?scope=pool", 422, "name");
  expect("?scope=pool&name=nope", 404, "name");
  expect("?scope=node&name=n1&resource=gpu", 404, "resource");
  expect("?resource=bad%20name", 400, "resource");
  // Unix seconds and RFC 3339 work for from and to.
  int64_t now = server::WallNowMs() / 1000;
  auto r = api_->Call(
      "GET", "/v1/history?from=" + std::to_string(now - 60) + "&to=" + server::FormatTime((now + 1) * 1000));
  EXPECT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["from"], now - 60);
}

TEST_F(HistoryTest, AnalyticsFromTheHistoryTheQueueAndTheAllocations) {
  // Wait until the last two seconds of samples all saw the allocations (and the heartbeat).
  Until(*api_, "/v1/history?resource=cpu&from=4s", [](const json& b) {
    const json& s = b["series"][0];
    if (s["t"].size() < 3) return false;
    for (const auto& v : s["allocated"]) {
      if (v != 6000) return false;
    }
    return true;
  });
  auto eff = api_->Call("GET", "/v1/analytics/efficiency?window=2s");
  ASSERT_EQ(eff.status, 200) << eff.body.dump();
  EXPECT_EQ(eff.body["window"], 2);
  const json& cpu = eff.body["cluster"]["cpu"];
  EXPECT_EQ(cpu["capacity"], 8000);
  EXPECT_EQ(cpu["allocated"], 6000);
  EXPECT_EQ(cpu["used"], 1500);
  EXPECT_DOUBLE_EQ(cpu["allocation_ratio"].get<double>(), 0.75);  // 6000 / 8000
  EXPECT_DOUBLE_EQ(cpu["usage_ratio"].get<double>(), 0.25);       // 1500 / 6000
  EXPECT_TRUE(eff.body["cluster"]["memory"]["used"].is_null());   // n1 reports cpu only
  EXPECT_EQ(eff.body["pools"]["p1"]["cpu"]["allocated"], 6000);
  EXPECT_EQ(eff.body["tenants"]["org/a"]["cpu"]["allocated"], 6000);
  EXPECT_TRUE(eff.body["tenants"]["org/a"]["cpu"]["usage_ratio"].is_null());
  EXPECT_EQ(api_->Call("GET", "/v1/analytics/efficiency?window=400d").status, 422);

  auto bn = api_->Call("GET", "/v1/analytics/bottleneck");
  ASSERT_EQ(bn.status, 200) << bn.body.dump();
  EXPECT_EQ(bn.body["resource"], "cpu");
  EXPECT_EQ(bn.body["queued"], 1);
  EXPECT_EQ(bn.body["demand"]["cpu"], 2000);
  ASSERT_EQ(bn.body["blocked_by"].size(), 1u);
  EXPECT_EQ(bn.body["blocked_by"][0]["requests"], 1);
  EXPECT_DOUBLE_EQ(bn.body["blocked_by"][0]["share"].get<double>(), 0.25);  // 2000 of 8000
  EXPECT_EQ(bn.body["blocked_by"][0]["pools"], json::array({"p1"}));

  // 3600 per core-hour is 1 per core-second: 6 cores held since just after t0.
  int64_t before = server::WallNowMs();
  auto cost = api_->Call("GET", "/v1/analytics/cost?window=1h");
  int64_t after = server::WallNowMs();
  ASSERT_EQ(cost.status, 200) << cost.body.dump();
  EXPECT_EQ(cost.body["currency"], "EUR");
  EXPECT_EQ(cost.body["by"], "tenant");
  ASSERT_EQ(cost.body["items"].size(), 1u);
  EXPECT_EQ(cost.body["items"][0]["name"], "org/a");
  double total = cost.body["total"].get<double>();
  EXPECT_LE(total, 6.0 * static_cast<double>(after - t0_) / 1000 + 1e-6);
  EXPECT_GE(total, 6.0 * static_cast<double>(before - t0_) / 1000 - 0.5);  // both started within ~0.1 s of t0
  auto by_wf = api_->Call("GET", "/v1/analytics/cost?by=workflow");
  ASSERT_EQ(by_wf.status, 200);
  ASSERT_EQ(by_wf.body["items"].size(), 2u);  // wf1 and the one without a workflow: 3 cores each
  EXPECT_EQ(api_->Call("GET", "/v1/analytics/cost?by=node").status, 400);

  auto fc = api_->Call("GET", "/v1/analytics/forecast?resource=cpu&step=1s&window=30s&horizon=3s");
  ASSERT_EQ(fc.status, 200) << fc.body.dump();
  EXPECT_EQ(fc.body["step"], 1);
  const json& hist = fc.body["history"];
  ASSERT_GE(hist["value"].size(), 3u);
  EXPECT_EQ(hist["value"].back(), 6000);
  ASSERT_EQ(fc.body["forecast"]["t"].size(), 3u);
  EXPECT_EQ(fc.body["forecast"]["t"][0], hist["t"].back().get<int64_t>() + 1);
  EXPECT_EQ(fc.body["error"]["points"], hist["value"].size() - 2);
  EXPECT_TRUE(fc.body["error"]["mae"].is_number());
  EXPECT_EQ(api_->Call("GET", "/v1/analytics/forecast?scope=node&name=n1").status, 400);
  EXPECT_EQ(api_->Call("GET", "/v1/analytics/forecast?scope=pool&name=none").status, 404);
  EXPECT_EQ(api_->Call("GET", "/v1/analytics/forecast?horizon=2000h").status, 422);
}

TEST_F(HistoryTest, SamplesBeforeARestartAreAnsweredAfterIt) {
  json before = Until(*api_, "/v1/history?resource=cpu&from=1h", [](const json& b) {
    return b["series"][0]["t"].size() >= 3 && Last(b["series"][0], "allocated") == 6000;
  });
  json nodes_before = Until(*api_, "/v1/history?scope=node&name=n1&resource=cpu&from=1h",
                            [](const json& b) { return b["series"][0]["t"].size() >= 1; });
  ASSERT_EQ(server_->Kill(SIGTERM), 0);
  ASSERT_TRUE(server_->Start()) << server_->Log();
  Api again(server_->url());
  auto after = again.Call("GET", "/v1/history?resource=cpu&from=1h");
  ASSERT_EQ(after.status, 200) << after.body.dump();
  const json &b = before["series"][0], &a = after.body["series"][0];
  // Every point answered before the restart is answered after it, with the same amounts.
  std::map<int64_t, size_t> at;
  for (size_t i = 0; i < a["t"].size(); i++) at[a["t"][i].get<int64_t>()] = i;
  for (size_t i = 0; i < b["t"].size(); i++) {
    auto it = at.find(b["t"][i].get<int64_t>());
    ASSERT_NE(it, at.end()) << "t " << b["t"][i] << " lost in the restart";
    for (const char* f : {"capacity", "allocated", "used", "queued"})
      EXPECT_EQ(a[f][it->second], b[f][i]) << f;
  }
  auto nodes_after = again.Call("GET", "/v1/history?scope=node&name=n1&resource=cpu&from=1h");
  ASSERT_EQ(nodes_after.status, 200);
  EXPECT_GE(nodes_after.body["series"][0]["t"].size(), nodes_before["series"][0]["t"].size());
  EXPECT_EQ(nodes_after.body["series"][0]["t"][0], nodes_before["series"][0]["t"][0]);
  // The server goes on sampling after the restart.
  Until(again, "/v1/history?resource=cpu&from=1h", [&](const json& x) {
    return x["series"][0]["t"].back().get<int64_t>() > b["t"].back().get<int64_t>() + 1;
  });
}

TEST(HistoryAuthTest, RolesAndSubtrees) {
  TempDir dir;
  std::string cfg = dir.Write("auth.yaml", std::string(kHistoryConfig) + R"(
auth:
  tokens:
    - {name: admin, role: admin, token: admin-secret}
    - {name: reader, role: reader, token: reader-secret}
    - {name: team-a, role: writer, tenant: org/a, token: writer-secret}
    - {name: agent, role: agent, token: agent-secret}
tenants:
  - {path: org/a}
  - {path: org/b}
)");
  ServerProcess server(dir.path() + "/data", {"--config", cfg});
  ASSERT_TRUE(server.Start()) << server.Log();
  Api admin(server.url(), "admin-secret"), reader(server.url(), "reader-secret"),
      writer(server.url(), "writer-secret"), agent(server.url(), "agent-secret");
  ASSERT_EQ(admin.Call("POST", "/v1/nodes", Node("n1")).status, 201);
  ASSERT_EQ(
      admin.Call("POST", "/v1/allocations", json{{"tenant", "org/b"}, {"requests", {{"cpu", "1"}}}}).status,
      201);
  ASSERT_EQ(
      writer.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "1"}}}}).status,
      201);
  Until(reader, "/v1/history?scope=tenant&name=org/b", [](const json& b) { return !b["series"].empty(); });
  EXPECT_EQ(writer.Call("GET", "/v1/history").status, 200);  // aggregates are for every reader
  EXPECT_EQ(writer.Call("GET", "/v1/history?scope=tenant&name=org/b").status, 403);
  auto up =
      Until(writer, "/v1/history?scope=tenant&name=org", [](const json& b) { return !b["series"].empty(); });
  EXPECT_EQ(up["name"], "org/a");  // above its subtree: its subtree root
  EXPECT_EQ(agent.Call("GET", "/v1/history").status, 403);
  EXPECT_EQ(agent.Call("GET", "/v1/analytics/cost").status, 403);
  EXPECT_EQ(server.Kill(SIGTERM), 0);
  ASSERT_TRUE(server.Start());
  Api writer2(server.url(), "writer-secret"), reader2(server.url(), "reader-secret");
  auto cost = writer2.Call("GET", "/v1/analytics/cost");
  ASSERT_EQ(cost.status, 200);
  for (const auto& item : cost.body["items"]) EXPECT_EQ(item["name"], "org/a");
  auto all = reader2.Call("GET", "/v1/analytics/cost");
  EXPECT_EQ(all.body["items"].size(), 2u);
  auto eff = writer2.Call("GET", "/v1/analytics/efficiency?window=1h");
  ASSERT_EQ(eff.status, 200) << eff.body.dump();
  EXPECT_FALSE(eff.body["tenants"].contains("org/b"));
  EXPECT_TRUE(eff.body["tenants"].contains("org/a"));
}

TEST(HistoryConfigTest, KeysDefaultsAndErrorsNamingTheKey) {
  auto d = ParseServerConfig("", "empty.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->history.interval_s, 15);
  ASSERT_EQ(d->history.tiers.size(), 2u);
  EXPECT_EQ(d->history.tiers[1].step_s, 300);
  EXPECT_EQ(d->history.tiers[1].keep_s, 30 * 86400);
  EXPECT_TRUE(d->history.tiers[1].nodes);
  EXPECT_EQ(d->currency, "USD");
  auto c = ParseServerConfig(
      "history: {interval: 10s, tiers: [{step: 10s, keep: 2h}, {step: 1m, keep: 7d, nodes: yes}], "
      "node_resources: [cpu, "
      "nvidia.com/gpu]}\nanalytics: {prices: {cpu: 0.031, mem: 0.004}, currency: EUR}\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->history.interval_s, 10);
  EXPECT_EQ(c->history.tiers[0].keep_s, 7200);
  EXPECT_EQ(c->history.node_resources, (std::vector<std::string>{"cpu", "gpu"}));
  EXPECT_EQ(c->prices.at("memory"), 0.004);
  EXPECT_EQ(c->currency, "EUR");
  auto err = [](const std::string& yaml) {
    auto r = ParseServerConfig(yaml, "bad.yaml");
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(err("history: {interval: 0}\n"), "ok");  // off
  EXPECT_EQ(err("history: {intervall: 5s}\n"), "bad.yaml:1: history.intervall: unknown key");
  EXPECT_EQ(err("history: {interval: 1500ms}\n"), "bad.yaml:1: history.interval: must be whole seconds");
  EXPECT_EQ(err("history:\n  tiers:\n    - {step: 15s, keep: 1h}\n    - {step: 20s, keep: 1d}\n"),
            "bad.yaml:2: history.tiers[1].step: must be a multiple of history.interval (15s)");
  EXPECT_EQ(err("history: {tiers: [{step: 15s}]}\n"), "bad.yaml:1: history.tiers[0]: needs step and keep");
  EXPECT_EQ(err("history: {tiers: [{step: 5m, keep: 1m}]}\n"),
            "bad.yaml:1: history.tiers[0].keep: must be at least the step and at most 3650d");
  EXPECT_EQ(err("history: {node_resources: [\"b a d\"]}\n").find("bad.yaml:1: history.node_resources[0]:"),
            0u);
  EXPECT_EQ(err("analytics: {prices: {cpu: -1}}\n"), "bad.yaml:1: analytics.prices.cpu: is out of range");
  EXPECT_EQ(err("analytics: {currency: \"\"}\n"), "bad.yaml:1: analytics.currency: must be 1-16 characters");
}

TEST(AllocWaitTest, PrintsThePositionAndEstimatedStartWhileItWaits) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(server.Start()) << server.Log();
  Api api(server.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}}}}).status, 201);
  auto a = api.Call("POST", "/v1/allocations",
                    json{{"tenant", "t"}, {"requests", {{"cpu", "4"}}}, {"duration", "2s"}});
  ASSERT_EQ(a.status, 201);
  auto r =
      RunAllot({"alloc", "--server", server.url(), "--tenant", "t", "--cpu", "2", "--wait-placed", "20s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // queued, then its place (first, ETA a's lease end), then placed.
  EXPECT_NE(r.out.find("queued"), std::string::npos) << r.out;
  EXPECT_NE(
      r.out.find("waiting: position 1 (1 in t), estimated start " + a.body["expires"].get<std::string>()),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("placed  n1"), std::string::npos) << r.out;
  // --json: the final document carries the places it saw.
  auto b = api.Call("POST", "/v1/allocations",
                    json{{"tenant", "t"}, {"requests", {{"cpu", "4"}}}, {"duration", "2s"}});
  ASSERT_EQ(b.status, 202);  // behind the 2 cpu one, which holds its core for good
  auto j = RunAllot(
      {"alloc", "--server", server.url(), "--tenant", "t", "--cpu", "1", "--wait-placed", "1s", "--json"});
  EXPECT_EQ(j.exit_code, 1) << j.err;  // still queued after 1 s
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["state"], "queued");
  EXPECT_EQ(doc["position"], 2);
  ASSERT_FALSE(doc["waited"].empty());
  EXPECT_EQ(doc["waited"][0]["position"], 2);
  EXPECT_TRUE(doc["waited"][0].contains("estimated_start"));
  EXPECT_EQ(RunAllot({"alloc", "--server", server.url(), "--cpu", "1", "--wait-placed", "soon"}).exit_code,
            2);
}

}  // namespace
}  // namespace allot::testing
