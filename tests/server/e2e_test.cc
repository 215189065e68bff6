// End-to-end: the real `allot serve` driven over HTTP and by the real client commands.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "allot/server.h"
#include "server/util.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

json Node(const std::string& name, const std::string& cpu) {
  return {{"name", name}, {"capacity", {{"cpu", cpu}, {"memory", "16Gi"}}}};
}

class DevServer : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{"--dev"});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(DevServer, PlacesQueuesAndPlacesTheQueuedOneAfterARelease) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "3"}}}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["state"], "placed");
  EXPECT_EQ(a.body["node"], "n1");
  EXPECT_EQ(a.body["requests"]["cpu"], 3000);  // cpu in millicores
  // 3 of 4 cores are taken: a 2-core request waits.
  auto b = api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "2"}}}});
  ASSERT_EQ(b.status, 202) << b.body.dump();
  EXPECT_EQ(b.body["state"], "queued");
  EXPECT_TRUE(b.body["node"].is_null());
  std::string bid = b.body["id"];
  auto rel = api.Call("DELETE", "/v1/allocations/" + a.body["id"].get<std::string>());
  ASSERT_EQ(rel.status, 200);
  EXPECT_EQ(rel.body["state"], "released");
  auto got = api.Call("GET", "/v1/allocations/" + bid);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["state"], "placed");
  auto list = api.Call("GET", "/v1/allocations?tenant=org&state=placed");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["allocations"].size(), 1u);
  EXPECT_EQ(list.body["allocations"][0]["id"], bid);
  EXPECT_EQ(api.Call("GET", "/v1/allocations/nope").status, 404);
}

TEST_F(DevServer, LeaseExpiresWithoutRenewalAndRenewExtendsIt) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}, {"duration", "1s"}});
  ASSERT_EQ(a.status, 201);
  std::string id = a.body["id"];
  // Long-poll until it leaves `placed`: the lease ends after 1 s.
  auto w = api.Call("GET", "/v1/allocations/" + id + "?wait=30s&state=placed");
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(w.body["state"], "expired");
  auto ev = api.Call("GET", "/v1/events?id=" + id);
  bool expired_event = false;
  for (const auto& e : ev.body["events"]) expired_event |= e["type"] == "expired";
  EXPECT_TRUE(expired_event);

  auto b = api.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}, {"duration", 60}});
  ASSERT_EQ(b.status, 201);
  std::string bid = b.body["id"];
  auto before = server::ParseTime(b.body["expires"].get<std::string>());
  auto r = api.Call("POST", "/v1/allocations/" + bid + "/renew", json{{"duration", "1h"}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  auto after = server::ParseTime(r.body["expires"].get<std::string>());
  ASSERT_TRUE(before && after);
  // The new end is now + 1 h, beyond the first end (submit + 60 s).
  EXPECT_GT(*after, *before + 3000 * 1000);
  auto none = api.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}});
  EXPECT_EQ(api.Call("POST", "/v1/allocations/" + none.body["id"].get<std::string>() + "/renew").status, 409);
}

TEST_F(DevServer, IdempotentRetryNeverAllocatesTwice) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "8")).status, 201);
  json req = {{"tenant", "org/a"}, {"requests", {{"cpu", "1"}}}, {"idempotency_key", "job-42"}};
  auto first = api.Call("POST", "/v1/allocations", req);
  auto second = api.Call("POST", "/v1/allocations", req);
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(second.status, 201);
  EXPECT_EQ(first.body["id"], second.body["id"]);
  EXPECT_EQ(second.headers["idempotent-replay"], "true");
  auto list = api.Call("GET", "/v1/allocations?tenant=org/a");
  EXPECT_EQ(list.body["count"], 1);
  auto node = api.Call("GET", "/v1/nodes/n1");
  EXPECT_EQ(node.body["allocated"]["cpu"], 1000);  // one core, not two
}

TEST_F(DevServer, BadInputIsAnsweredWithTheField) {
  Api api(server_->url());
  auto check = [&](const std::string& body, int status, const std::string& field) {
    auto r = api.Call("POST", "/v1/allocations", body);
    EXPECT_EQ(r.status, status) << body << " -> " << r.body.dump();
    ASSERT_TRUE(r.body.is_object()) << body;
    ASSERT_TRUE(r.body.contains("error")) << body;
    EXPECT_TRUE(r.body["error"].contains("code"));
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(field), std::string::npos) << r.body.dump();
  };
  check(R"({"requests":{"cpu":"1"},"colour":"red"})", 400, "colour");
  check(R"({"requests":{"cpu":true}})", 400, "requests.cpu");
  check(R"({"requests":{"cpu":"1"},"priority":[1]})", 400, "priority");
  // Bytes go up to 2^63-1 (9Ei is capped there, as Kubernetes caps BinarySI); a DecimalSI 10E is past it.
  check(R"({"requests":{"memory":"10E"}})", 422, "requests.memory");
  check(R"({"requests":{"cpu":"2Pi"}})", 422, "requests.cpu");  // cpu milli-units are held to 2^50
  check(R"({"requests":{"cpu":"-2"}})", 422, "requests.cpu");
  check(R"({"requests":{"cpu":"1"},"duration":"forever"})", 422, "duration");
  check(R"({"tenant":"a//b","requests":{"cpu":"1"}})", 422, "tenant");
  check(R"({})", 400, "requests");
  check(R"({"requests":)", 400, "malformed");
  check(std::string(100, '[') + std::string(100, ']'), 400, "deeper");
  auto big = api.Call("POST", "/v1/allocations", std::string(2 << 20, ' '));
  EXPECT_EQ(big.status, 413);
  Api fresh(server_->url());
  EXPECT_EQ(fresh.Call("POST", "/v1/nodes", json{{"name", "n/1"}, {"capacity", {{"cpu", "1"}}}}).status, 422);
  EXPECT_EQ(fresh.Call("PATCH", "/v1/nodes").status, 405);
  EXPECT_EQ(fresh.Call("GET", "/v2/nothing").status, 404);
}

TEST_F(DevServer, MetricsPassPromtool) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "1"}}}}).status, 201);
  // Throttling state, so that its families have samples: a rate limit (1 allowed, 1 denied), a
  // concurrency pool with one unit held, a breaker opened by 5 failures (the default consecutive limit).
  ASSERT_EQ(api.Call("PUT", "/v1/ratelimits/api/x", json{{"rate", "1/m"}, {"burst", 1}}).status, 201);
  EXPECT_TRUE(api.Call("POST", "/v1/ratelimits/api/x/acquire", json::object()).body["allowed"].get<bool>());
  EXPECT_FALSE(api.Call("POST", "/v1/ratelimits/api/x/acquire", json::object()).body["allowed"].get<bool>());
  ASSERT_EQ(api.Call("PUT", "/v1/pools/db/x", json{{"capacity", 2}}).status, 201);
  EXPECT_TRUE(api.Call("POST", "/v1/pools/db/x/acquire", json{{"ttl", "1h"}}).body["allowed"].get<bool>());
  for (int i = 0; i < 5; i++)
    ASSERT_EQ(api.Call("POST", "/v1/breakers/llm/x/report", json{{"outcome", "failure"}}).status, 200);
  auto m = api.Call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  std::string text = m.body.get<std::string>();
  EXPECT_NE(text.find("allot_node_capacity{node=\"n1\",resource=\"cpu\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("allot_node_free{node=\"n1\",resource=\"cpu\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("allot_allocations{state=\"placed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("allot_decision_latency_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(text.find("allot_tenant_quota_used{tenant=\"org/a\",resource=\"cpu\"} 1\n"), std::string::npos);
  // The SQLite store's heap: its page cache holds at least the pages just written, at most its 64 MiB.
  {
    size_t at = text.find("\nallot_store_memory_bytes ");
    ASSERT_NE(at, std::string::npos);
    int64_t bytes = std::stoll(text.substr(at + 26));
    EXPECT_GT(bytes, 16 * 1024);
    EXPECT_LT(bytes, 72 * 1024 * 1024);
  }
  // The throttling families are part of /metrics, per key.
  for (const char* sample : {
           "allot_ratelimit_decisions_total{key=\"api/x\",decision=\"allowed\"} 1\n",
           "allot_ratelimit_decisions_total{key=\"api/x\",decision=\"denied\"} 1\n",
           "allot_concurrency_pool_capacity{key=\"db/x\"} 2\n",
           "allot_concurrency_pool_in_use{key=\"db/x\"} 1\n",
           "allot_breaker_state{key=\"llm/x\",state=\"open\"} 1\n",
           "allot_breaker_state{key=\"llm/x\",state=\"closed\"} 0\n",
           "allot_breaker_transitions_total{key=\"llm/x\",from=\"closed\",to=\"open\"} 1\n",
           "allot_breaker_transitions_total{key=\"llm/x\",from=\"half_open\",to=\"closed\"} 0\n",
           "allot_breaker_window_failures{key=\"llm/x\"} 5\n",
           "allot_degradation_level ",
           "allot_admission_limit ",
       }) {
    EXPECT_NE(text.find(sample), std::string::npos) << sample << "\n" << text;
  }
  // The throttle families alone stay at their old path.
  auto sub = api.Call("GET", "/v1/ratelimits/metrics");
  ASSERT_EQ(sub.status, 200);
  EXPECT_NE(sub.body.get<std::string>().find("allot_breaker_state{key=\"llm/x\",state=\"open\"} 1\n"),
            std::string::npos);
  // Every family is announced once: one HELP and one TYPE line per name.
  std::map<std::string, int> help, type;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# HELP ", 0) == 0) help[line.substr(7, line.find(' ', 7) - 7)]++;
    if (line.rfind("# TYPE ", 0) == 0) type[line.substr(7, line.find(' ', 7) - 7)]++;
  }
  EXPECT_EQ(help.size(), type.size());
  for (const auto& [name, n] : type) EXPECT_EQ(n, 1) << name;
  for (const auto& [name, n] : help) EXPECT_EQ(n, 1) << name;
  if (RunProgram({"sh", "-c", "command -v promtool"}).exit_code != 0) GTEST_SKIP() << "promtool is not installed";
  auto r = RunProgram({"promtool", "check", "metrics"}, text);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(DevServer, ClientCommands) {
  std::string s = server_->url();
  auto r = RunAllot({"node", "add", "n1", "--cpu", "8", "--memory", "16Gi", "--label", "zone=a", "--server", s});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunAllot({"node", "list", "--server", s});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("n1"), std::string::npos);
  r = RunAllot({"alloc", "--tenant", "org/a", "--cpu", "2", "--duration", "10m", "--json", "--server", s});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json a = json::parse(r.out);
  EXPECT_EQ(a["state"], "placed");
  std::string id = a["id"];
  r = RunAllot({"renew", id, "--server", s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunAllot({"status", "--json", "--server", s});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(json::parse(r.out)["allocated"]["cpu"], 2000);
  r = RunAllot({"quota", "set", "org/a", "--max", "cpu=4", "--server", s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunAllot({"quota", "get", "org/a", "--json", "--server", s});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["max"]["cpu"], 4000);
  r = RunAllot({"top", "--once", "--server", s});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(id), std::string::npos);
  r = RunAllot({"release", id, "--server", s});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunAllot({"history", "--tenant", "org/a", "--since", "24h", "--json", "--server", s});
  ASSERT_EQ(r.exit_code, 0);
  std::set<std::string> types;
  json history = json::parse(r.out);  // named: a range-for over a temporary's member would dangle
  for (const auto& e : history["events"]) types.insert(e["type"].get<std::string>());
  EXPECT_TRUE(types.count("placed") && types.count("renewed") && types.count("released")) << r.out;
  r = RunAllot({"release", "no-such-id", "--server", s});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("allot: release"), std::string::npos);
  r = RunAllot({"alloc", "--cpu", "1", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);  // nobody listens there
}

TEST_F(DevServer, SigtermStopsGracefullyAndStateSurvives) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}, {"idempotency_key", "k"}});
  ASSERT_EQ(a.status, 201);
  EXPECT_EQ(server_->Kill(SIGTERM), 0);
  ASSERT_TRUE(server_->Start()) << server_->Log();
  Api again(server_->url());
  auto got = again.Call("GET", "/v1/allocations/" + a.body["id"].get<std::string>());
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["state"], "placed");
  // The idempotency key survives the restart too.
  auto retry = again.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}, {"idempotency_key", "k"}});
  EXPECT_EQ(retry.body["id"], a.body["id"]);
}

TEST_F(DevServer, FinishedAllocationsAndTheirKeysSurviveARestart) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}, {"idempotency_key", "done"}});
  ASSERT_EQ(a.status, 201);
  std::string id = a.body["id"];
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + id).status, 200);
  EXPECT_EQ(server_->Kill(SIGKILL), 128 + SIGKILL);  // a crash, not a clean stop
  ASSERT_TRUE(server_->Start()) << server_->Log();
  Api again(server_->url());
  auto got = again.Call("GET", "/v1/allocations/" + id);
  ASSERT_EQ(got.status, 200) << got.body.dump();
  EXPECT_EQ(got.body["state"], "released");
  EXPECT_FALSE(got.body["ended"].is_null()) << got.body.dump();
  // A retry of the finished request answers with it and allocates nothing.
  auto retry = again.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}, {"idempotency_key", "done"}});
  EXPECT_EQ(retry.body["id"], id) << retry.body.dump();
  EXPECT_EQ(retry.body["state"], "released");
  auto nodes = again.Call("GET", "/v1/nodes/n1");
  ASSERT_EQ(nodes.status, 200);
  EXPECT_EQ(again.Call("GET", "/v1/allocations?state=placed").body.dump().find(id), std::string::npos);
}

class AuthServer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string cfg = dir_.Write("auth.yaml", R"(
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token-1}
    - {name: viewer, role: reader, sha256: )" + HashToken("reader-token-1") + R"(}
    - {name: team-a, role: writer, tenant: org/a, token: writer-a-token}
    - {name: team-b, role: writer, tenant: org/b, token: writer-b-token}
    - {name: agent, role: agent, token: agent-token-1}
nodes: [{name: n1, capacity: {cpu: "8", memory: 16Gi}}]
)");
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{"--config", cfg});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(AuthServer, TokensRolesAndTenantIsolation) {
  Api none(server_->url());
  Api bad(server_->url(), "guess");
  Api admin(server_->url(), "admin-token-1");
  Api reader(server_->url(), "reader-token-1");
  Api a(server_->url(), "writer-a-token");
  Api b(server_->url(), "writer-b-token");
  Api agent(server_->url(), "agent-token-1");
  EXPECT_EQ(none.Call("GET", "/v1/nodes").status, 401);
  EXPECT_EQ(bad.Call("GET", "/v1/nodes").status, 401);
  EXPECT_EQ(none.Call("GET", "/healthz").status, 200);
  EXPECT_EQ(reader.Call("GET", "/v1/nodes").status, 200);
  json req = {{"tenant", "org/a/job"}, {"requests", {{"cpu", "1"}}}};
  EXPECT_EQ(reader.Call("POST", "/v1/allocations", req).status, 403);
  EXPECT_EQ(b.Call("POST", "/v1/allocations", req).status, 403);  // org/a/job is outside org/b
  auto mine = a.Call("POST", "/v1/allocations", req);
  ASSERT_EQ(mine.status, 201) << mine.body.dump();
  std::string id = mine.body["id"];
  EXPECT_EQ(b.Call("GET", "/v1/allocations/" + id).status, 403);
  EXPECT_EQ(b.Call("DELETE", "/v1/allocations/" + id).status, 403);
  EXPECT_EQ(b.Call("POST", "/v1/allocations/" + id + "/renew").status, 403);
  EXPECT_EQ(b.Call("GET", "/v1/allocations").body["count"], 0);
  EXPECT_EQ(b.Call("GET", "/v1/allocations?tenant=org/a").status, 403);
  EXPECT_EQ(b.Call("GET", "/v1/events").body["events"].size(), 0u);
  EXPECT_EQ(a.Call("GET", "/v1/allocations").body["count"], 1);
  EXPECT_EQ(reader.Call("GET", "/v1/allocations/" + id).status, 200);
  EXPECT_EQ(reader.Call("DELETE", "/v1/allocations/" + id).status, 403);
  EXPECT_EQ(a.Call("GET", "/metrics").status, 403);
  EXPECT_EQ(reader.Call("GET", "/metrics").status, 200);
  EXPECT_EQ(a.Call("PUT", "/v1/quotas/org/a", json{{"max", {{"cpu", "100"}}}}).status, 403);
  EXPECT_EQ(admin.Call("PUT", "/v1/quotas/org/a", json{{"max", {{"cpu", "4"}}}}).status, 200);
  EXPECT_EQ(a.Call("POST", "/v1/nodes", Node("n2", "4")).status, 403);
  EXPECT_EQ(agent.Call("POST", "/v1/nodes", Node("n2", "4")).status, 201);
  auto hb = agent.Call("POST", "/v1/nodes/n2/heartbeat", json{{"usage", {{"cpu", "500m"}}}});
  EXPECT_EQ(hb.status, 200) << hb.body.dump();
  EXPECT_EQ(agent.Call("POST", "/v1/nodes/n2/heartbeat", json{{"usage", {{"cpu", 5}}}, {"x", 1}}).status, 400);
  EXPECT_EQ(agent.Call("GET", "/v1/allocations/" + id).status, 403);
  auto del = a.Call("DELETE", "/v1/allocations/" + id);
  EXPECT_EQ(del.status, 200);
  auto ev = admin.Call("GET", "/v1/events?id=" + id);
  ASSERT_GE(ev.body["events"].size(), 1u);
  EXPECT_EQ(ev.body["events"][0]["actor"], "team-a");
}

TEST(ServeTest, RefusesDevOffLoopbackAndConfigWithoutTokens) {
  TempDir dir;
  auto r = RunAllot({"serve", "--dev", "--listen", "0.0.0.0:0", "--data", dir.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loopback"), std::string::npos) << r.err;
  r = RunAllot({"serve", "--listen", "127.0.0.1:0", "--data", dir.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("auth.tokens"), std::string::npos) << r.err;
  std::string bad = dir.Write("bad.yaml", "listen: 127.0.0.1:0\npolicy: {preemption: maybe}\n");
  r = RunAllot({"serve", "--config", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("policy.preemption"), std::string::npos) << r.err;
  for (const char* ex : {"/examples/server/demo.yaml", "/examples/server/production.yaml"}) {
    EXPECT_TRUE(LoadServerConfig(SourceDir() + ex).ok()) << ex;
  }
}

TEST(NodeLossTest, SilentAgentNodeIsMarkedDownAndItsAllocationsEnd) {
  TempDir dir;
  std::string cfg = dir.Write("c.yaml", "heartbeat_timeout: 1s\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", cfg});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("edge", "4")).status, 201);
  ASSERT_EQ(api.Call("POST", "/v1/nodes/edge/heartbeat", json{{"usage", {{"cpu", "1"}}}}).status, 200);
  auto a = api.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}});
  ASSERT_EQ(a.status, 201);
  // No more heartbeats: after the 1 s timeout the node is down and the allocation preempted.
  auto w = api.Call("GET", "/v1/allocations/" + a.body["id"].get<std::string>() + "?wait=30s&state=placed");
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(w.body["state"], "preempted");
  EXPECT_EQ(api.Call("GET", "/v1/nodes/edge").body["state"], "down");
  ASSERT_EQ(api.Call("POST", "/v1/nodes/edge/heartbeat").status, 200);
  EXPECT_EQ(api.Call("GET", "/v1/nodes/edge").body["state"], "up");
}

// kill -9 under concurrent load, repeatedly: every acknowledged allocation survives, none is duplicated,
// and no node is ever over capacity.
TEST(CrashTest, Kill9UnderLoadLosesNothingAcknowledged) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(s.Start()) << s.Log();
  {
    Api api(s.url());
    for (int i = 0; i < 3; i++) ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n" + std::to_string(i), "16")).status, 201);
  }
  std::mutex mu;
  std::map<std::string, std::string> acked;  // idempotency key -> id, for acknowledged allocations
  std::set<std::string> released;            // ids whose release was acknowledged
  std::set<std::string> release_tried;       // ids whose release was sent
  std::atomic<int> acks{0};
  std::atomic<bool> stop{false};
  std::string url;
  std::mutex url_mu;
  auto worker = [&](int w) {
    int n = 0;
    while (!stop.load()) {
      std::string u;
      {
        std::lock_guard<std::mutex> l(url_mu);
        u = url;
      }
      auto c = net::HttpClient::Create(u, 2000);
      if (!c.ok()) continue;
      while (!stop.load()) {
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(n);
        json body = {{"tenant", "org/t" + std::to_string(w)}, {"requests", {{"cpu", "500m"}}}, {"idempotency_key", key}};
        auto r = c->Request("POST", "/v1/allocations", body.dump());
        if (!r.ok()) break;  // the server died: reconnect to the new one
        if (r->status == 201 || r->status == 202) {
          std::string id = json::parse(r->body)["id"];
          std::lock_guard<std::mutex> l(mu);
          acked[key] = id;
          acks++;
        }
        n++;
        if (n % 3 == 0) {  // release every third one
          std::string id;
          {
            std::lock_guard<std::mutex> l(mu);
            auto it = acked.find(key);
            if (it != acked.end()) id = it->second;
          }
          if (id.empty()) continue;
          {
            std::lock_guard<std::mutex> l(mu);
            release_tried.insert(id);  // it may be released without the answer arriving
          }
          auto d = c->Request("DELETE", "/v1/allocations/" + id);
          if (!d.ok()) break;
          if (d->status == 200) {
            std::lock_guard<std::mutex> l(mu);
            released.insert(id);
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  {
    std::lock_guard<std::mutex> l(url_mu);
    url = s.url();
  }
  std::vector<std::thread> ts;
  for (int w = 0; w < 4; w++) ts.emplace_back(worker, w);
  for (int round = 0; round < 4; round++) {
    int target = acks.load() + 40;
    while (acks.load() < target) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    s.Kill(SIGKILL);
    ASSERT_TRUE(s.Start()) << s.Log();
    std::lock_guard<std::mutex> l(url_mu);
    url = s.url();
  }
  int target = acks.load() + 20;
  while (acks.load() < target) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  stop = true;
  for (auto& t : ts) t.join();
  s.Kill(SIGKILL);  // once more, with everything quiet
  ASSERT_TRUE(s.Start()) << s.Log();

  Api api(s.url());
  std::lock_guard<std::mutex> l(mu);
  ASSERT_GT(acked.size(), 100u);
  std::map<std::string, int64_t> cpu_on_node;
  std::set<std::string> ids;
  for (const auto& [key, id] : acked) {
    EXPECT_TRUE(ids.insert(id).second) << "two keys got one id";
    if (released.count(id)) continue;
    auto g = api.Call("GET", "/v1/allocations/" + id);
    // Released, the answer cut off by the kill: gone, or kept as released within the retention window.
    if (release_tried.count(id) && (g.status == 404 || (g.status == 200 && g.body["state"] == "released"))) continue;
    ASSERT_EQ(g.status, 200) << "acknowledged allocation " << id << " (" << key << ") is lost";
    std::string st = g.body["state"];
    EXPECT_TRUE(st == "placed" || st == "queued") << id << " " << st;
    if (st == "placed") cpu_on_node[g.body["node"]] += g.body["requests"]["cpu"].get<int64_t>();
  }
  // Nothing acknowledged twice: every placed allocation the server knows is one of ours, once.
  auto list = api.Call("GET", "/v1/allocations?state=placed&limit=100000");
  std::map<std::string, int64_t> listed_cpu;
  for (const auto& a : list.body["allocations"]) listed_cpu[a["node"]] += a["requests"]["cpu"].get<int64_t>();
  auto node_list = api.Call("GET", "/v1/nodes");
  for (const auto& n : node_list.body["nodes"]) {
    std::string name = n["name"];
    // Each node has 16 cores = 16000 millicores.
    EXPECT_LE(listed_cpu[name], 16000) << name << " is over capacity";
    EXPECT_LE(cpu_on_node[name], listed_cpu[name]);
    EXPECT_EQ(n["allocated"]["cpu"].get<int64_t>(), listed_cpu[name]);
  }
}

// Audit events leave the store once older than retention.events, checked a tenth of it apart (at
// least every second): not only at the hourly pass, which let the store grow through a soak.
TEST(RetentionE2eTest, AuditEventsArePrunedOnceOlderThanTheirRetention) {
  TempDir dir;
  std::string cfg = dir.Write("c.yaml", "retention: {events: 2s}\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--no-fsync", "--config", cfg});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", Node("n1", "4")).status, 201);
  auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "1"}}}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  std::string id = a.body["id"];
  ASSERT_GE(api.Call("GET", "/v1/events?id=" + id).body["events"].size(), 1u);
  // 2 s of retention plus the 1 s between passes: by 5 s the event is gone, and a newer one stays.
  size_t left = 1;
  for (int i = 0; i < 50 && left > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (i >= 25) left = api.Call("GET", "/v1/events?id=" + id).body["events"].size();
  }
  EXPECT_EQ(left, 0u);
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + id).status, 200);
  auto kept = api.Call("GET", "/v1/events?id=" + id).body["events"];
  ASSERT_EQ(kept.size(), 1u) << kept.dump();
  EXPECT_EQ(kept[0]["type"], "released");
}

}  // namespace
}  // namespace allot::testing
