// End-to-end tests of the throttling API (/v1/ratelimits, /v1/pools, /v1/breakers) through the real
// `allot serve` and the real `allot ratelimit` client. Sleeps only move the real clock past a refill, a
// lease TTL or a breaker cool-down; nothing asserts on how long anything took.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <thread>

#include "allot/server.h"
#include "server/util.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

void SleepS(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

json Batch(const std::string& key, int count, const std::string& tenant = "") {
  json reqs = json::array();
  for (int i = 0; i < count; i++) {
    json r = {{"key", key}, {"n", 1}};
    if (!tenant.empty()) r["tenant"] = tenant;
    reqs.push_back(r);
  }
  return {{"requests", reqs}};
}

int Allowed(const Reply& r) {
  int n = 0;
  for (const auto& x : r.body["results"]) n += x.value("allowed", false) ? 1 : 0;
  return n;
}

class ThrottleServer : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = dir_.Write("throttle.yaml", R"(
throttling:
  ratelimits:
    api/openai: {rate: 1/s, burst: 5}
    api/tiered:
      levels:
        - {scope: global, rate: 100/m, burst: 100}
        - {scope: subtree, subtree: org/b, rate: 3/m, burst: 3}
        - {scope: tenant, rate: 2/m, burst: 2}
    api/daily:
      levels:
        - {scope: global, quota: 3, per: day, time_zone: Europe/Berlin}
  pools:
    db/main: {capacity: 2, ttl: 1s, max_ttl: 1h, per_tenant: 2}
  breakers:
    defaults: {consecutive_failures: 2, cooldown: 1s, min_requests: 100}
)");
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{"--dev", "--config", cfg_});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  TempDir dir_;
  std::string cfg_;
  std::unique_ptr<ServerProcess> server_;
};

// The Redis peer's oracle (../shared/peers/redis-ratelimit.sh check), through the API: rate 1/s, burst 5.
TEST_F(ThrottleServer, GcraBurstThenRefillMatchesRedisOracle) {
  Api api(server_->url());
  // One batch decides 20 acquires within microseconds: the bucket holds burst = 5 units, and 20 * a few us
  // of refill at 1/s is far below one unit, so exactly 5 are allowed.
  auto first = api.Call("POST", "/v1/ratelimits:acquire", Batch("api/openai", 20));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(Allowed(first), 5) << first.body;
  const json& denied = first.body["results"][5];
  EXPECT_FALSE(denied["allowed"].get<bool>());
  // The sixth unit is due one emission interval (1 s) after the first.
  EXPECT_GT(denied["retry_after"].get<double>(), 0.0);
  EXPECT_LE(denied["retry_after"].get<double>(), 1.0);
  // 2.1 s later 2.1 units have accrued: 2 whole ones.
  SleepS(2.1);
  auto second = api.Call("POST", "/v1/ratelimits/acquire", Batch("api/openai", 10));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Allowed(second), 2) << second.body;
  // The single form answers the contract's keys.
  auto one = api.Call("POST", "/v1/ratelimits/api/openai/acquire", json{{"n", 1}, {"tenant", "org/a/agent1"}});
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_FALSE(one.body["allowed"].get<bool>());
  EXPECT_TRUE(one.body["retry_after"].is_number());
  EXPECT_TRUE(one.body.contains("remaining"));
}

TEST_F(ThrottleServer, RedisPeerAgreesWhenAvailable) {
  const std::string peer = SharedDir() + "/peers/redis-ratelimit.sh";
  if (RunProgram({"sh", "-c", "command -v redis-server && test -x " + peer}).exit_code != 0) {
    GTEST_SKIP() << "redis-server or " << peer << " missing";
  }
  TempDir run;
  const std::string env = "RUN=" + run.path() + " PORT=" + std::to_string(FreePort()) + " ";
  RunProgram({"sh", "-c", env + peer + " start"});
  auto check = RunProgram({"sh", "-c", env + peer + " check"});
  RunProgram({"sh", "-c", env + peer + " stop"});
  std::smatch m;
  const std::regex re("GCRA ([0-9]+) of 20 instant calls allowed.*2\\.1 s later ([0-9]+) of 10");
  ASSERT_TRUE(std::regex_search(check.out, m, re)) << check.out << check.err;
  Api api(server_->url());
  auto first = api.Call("POST", "/v1/ratelimits:acquire", Batch("api/openai", 20));
  SleepS(2.1);
  auto second = api.Call("POST", "/v1/ratelimits:acquire", Batch("api/openai", 10));
  EXPECT_EQ(Allowed(first), std::stoi(m[1].str()));
  EXPECT_EQ(Allowed(second), std::stoi(m[2].str()));
}

TEST_F(ThrottleServer, NeverAllowedAndBadInputNameTheField) {
  Api api(server_->url());
  // n = 6 > burst 5: never, not "retry later".
  auto never = api.Call("POST", "/v1/ratelimits/api/openai/acquire", json{{"n", 6}});
  EXPECT_EQ(never.status, 422) << never.body;
  EXPECT_EQ(never.body["error"]["field"], "n");
  EXPECT_TRUE(never.body["never"].get<bool>());
  EXPECT_NE(never.body["error"]["message"].get<std::string>().find("never"), std::string::npos);
  struct Case {
    std::string method, path, body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"PUT", "/v1/ratelimits/x/zero", R"({"rate": "0/m", "burst": 5})", 422, "rate"},
      {"PUT", "/v1/ratelimits/x/neg", R"({"rate": "5/m", "burst": -1})", 422, "burst"},
      {"PUT", "/v1/ratelimits/x/zb", R"({"rate": "5/m", "burst": 0})", 422, "burst"},
      {"PUT", "/v1/ratelimits/x/win", R"({"rate": "5/fortnight"})", 422, "rate"},
      {"PUT", "/v1/ratelimits/x/win2", R"({"rate": "five/m"})", 422, "rate"},
      {"PUT", "/v1/ratelimits/x/typo", R"({"rate": "5/m", "brust": 5})", 400, "brust"},
      {"PUT", "/v1/ratelimits/x/lv", R"({"levels": [{"scope": "tenant", "rate": "5/m", "burst": 0}]})", 422,
       "levels[0].burst"},
      {"PUT", "/v1/ratelimits/x/q", R"({"quota": -3, "per": "day"})", 422, "quota"},
      {"PUT", "/v1/ratelimits/x/tz", R"({"quota": 3, "per": "day", "time_zone": "Mars/Olympus"})", 422, "time_zone"},
      {"PUT", "/v1/ratelimits/bad%20key", R"({"rate": "5/m"})", 422, "key"},
      {"PUT", "/v1/ratelimits/x/acquire", R"({"rate": "5/m"})", 422, "key"},
      {"PUT", "/v1/ratelimits/x/json", R"({"rate": )", 400, ""},
      {"POST", "/v1/ratelimits/nope/acquire", R"({"n": 1})", 404, "key"},
      {"POST", "/v1/ratelimits/api/openai/acquire", R"({"n": 0})", 422, "n"},
      {"POST", "/v1/ratelimits/api/openai/acquire", R"({"n": -2})", 422, "n"},
      {"POST", "/v1/ratelimits/api/openai/acquire", R"({"n": "many"})", 400, "n"},
      {"POST", "/v1/ratelimits/api/openai/acquire", R"({"n": 1, "tenant": "a//b"})", 422, "tenant"},
      {"POST", "/v1/ratelimits/api/openai/acquire", R"({"n": 1, "color": "red"})", 400, "color"},
      {"POST", "/v1/ratelimits/api/openai/acquire", R"([1, 2])", 400, ""},
      {"POST", "/v1/ratelimits:acquire", R"({"requests": 5})", 400, "requests"},
      {"POST", "/v1/ratelimits:acquire", R"({"requests": []})", 422, "requests"},
      {"PUT", "/v1/pools/p0", R"({"capacity": 0})", 422, "capacity"},
      {"PUT", "/v1/pools/p1", R"({"capacity": 2, "ttl": "soon"})", 422, "ttl"},
      {"POST", "/v1/pools/db/main/acquire", R"({"n": 3})", 422, "n"},
      {"POST", "/v1/pools/nope/acquire", R"({"n": 1})", 404, "key"},
      {"POST", "/v1/pools/db/main/release", R"({"lease": 999})", 404, "lease"},
      {"POST", "/v1/breakers/llm/report", R"({"outcome": "maybe"})", 422, "outcome"},
      {"POST", "/v1/breakers/llm/report", R"({"outcome": "failure", "latency_ms": -1})", 422, "latency_ms"},
      {"PUT", "/v1/breakers/llm", R"({"failure_rate": 2})", 422, "failure_rate"},
      {"GET", "/v1/breakers/never-reported", "", 404, "key"},
      {"GET", "/v1/ratelimits/nope", "", 404, "key"},
      {"DELETE", "/v1/ratelimits/nope", "", 404, "key"},
  };
  for (const auto& c : cases) {
    auto r = api.Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << " " << c.body << " -> " << r.body;
    ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << c.path << " " << r.body;
    EXPECT_EQ(r.body["error"].value("field", ""), c.field) << c.method << " " << c.path << " " << c.body << " -> " << r.body;
  }
  // Batch entries fail one by one, naming their index; the others are still decided.
  auto b = api.Call("POST", "/v1/ratelimits:acquire",
                    json{{"requests", {{{"key", "api/openai"}}, {{"key", "nope"}}, {{"key", "api/openai"}, {"n", 0}}}}});
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_TRUE(b.body["results"][0]["allowed"].get<bool>());
  EXPECT_EQ(b.body["results"][1]["status"], 404);
  EXPECT_EQ(b.body["results"][1]["error"]["field"], "requests[1].key");
  EXPECT_EQ(b.body["results"][2]["error"]["field"], "requests[2].n");
}

TEST_F(ThrottleServer, HierarchicalLevelsDenyAtTheTightestLevel) {
  Api api(server_->url());
  auto take = [&](const std::string& tenant) {
    return api.Call("POST", "/v1/ratelimits/api/tiered/acquire", json{{"tenant", tenant}});
  };
  // org/a/x: per-tenant burst 2 -> 2 allowed, the third denied by the tenant level.
  EXPECT_TRUE(take("org/a/x").body["allowed"].get<bool>());
  EXPECT_TRUE(take("org/a/x").body["allowed"].get<bool>());
  auto third = take("org/a/x");
  EXPECT_FALSE(third.body["allowed"].get<bool>()) << third.body;
  EXPECT_EQ(third.body["limited_by"], "tenant") << third.body;
  // Another tenant has its own bucket.
  EXPECT_TRUE(take("org/a/y").body["allowed"].get<bool>());
  // org/b shares a subtree bucket of 3: b/1 takes 2 (its tenant burst), b/2 takes 1, then the subtree is dry.
  EXPECT_TRUE(take("org/b/1").body["allowed"].get<bool>());
  EXPECT_TRUE(take("org/b/1").body["allowed"].get<bool>());
  EXPECT_TRUE(take("org/b/2").body["allowed"].get<bool>());
  auto dry = take("org/b/2");
  EXPECT_FALSE(dry.body["allowed"].get<bool>()) << dry.body;
  EXPECT_EQ(dry.body["limited_by"], "subtree org/b") << dry.body;
  // n = 3 exceeds the tenant burst 2: never.
  auto never = api.Call("POST", "/v1/ratelimits/api/tiered/acquire", json{{"tenant", "org/c"}, {"n", 3}});
  EXPECT_EQ(never.status, 422) << never.body;
  // State by tenant: org/a/x has 0 left at its own level.
  auto st = api.Call("GET", "/v1/ratelimits/api/tiered?tenant=org/a/x");
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.body["levels"].size(), 3u);
  EXPECT_EQ(st.body["remaining"], 0) << st.body;
  // Daily quota: 3 per Berlin day, then denied until the next local midnight (at most 25 h away).
  for (int i = 0; i < 3; i++) EXPECT_TRUE(api.Call("POST", "/v1/ratelimits/api/daily/acquire", json::object()).body["allowed"].get<bool>());
  auto q = api.Call("POST", "/v1/ratelimits/api/daily/acquire", json::object());
  EXPECT_FALSE(q.body["allowed"].get<bool>()) << q.body;
  EXPECT_GT(q.body["retry_after"].get<double>(), 0.0);
  EXPECT_LE(q.body["retry_after"].get<double>(), 25 * 3600.0);
}

TEST_F(ThrottleServer, DefineGetDeleteReservationsAndPersistence) {
  Api api(server_->url());
  auto put = api.Call("PUT", "/v1/ratelimits/api/anthropic", json{{"rate", "5/m"}, {"burst", 5}});
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.body["rate"], "5/m");
  EXPECT_EQ(put.body["burst"], 5);
  EXPECT_EQ(put.body["remaining"], 5);
  EXPECT_TRUE(api.Call("POST", "/v1/ratelimits/api/anthropic/acquire", json{{"n", 2}}).body["allowed"].get<bool>());
  auto got = api.Call("GET", "/v1/ratelimits/api/anthropic");
  EXPECT_EQ(got.body["remaining"], 3) << got.body;  // 5 - 2
  EXPECT_EQ(got.body["stats"]["allowed"], 1);
  // A reservation books 60/m of a 120/m key for one workflow; requests naming it draw from it first.
  ASSERT_EQ(api.Call("PUT", "/v1/ratelimits/api/shared", json{{"rate", "120/m"}, {"burst", 10}}).status, 201);
  auto res = api.Call("POST", "/v1/ratelimits/api/shared/reservations",
                      json{{"id", "wf1"}, {"rate", "60/m"}, {"burst", 4}, {"duration", "1h"}});
  ASSERT_EQ(res.status, 201) << res.body;
  EXPECT_TRUE(res.body["active"].get<bool>());
  auto via = api.Call("POST", "/v1/ratelimits/api/shared/acquire", json{{"reservation", "wf1"}});
  EXPECT_TRUE(via.body["allowed"].get<bool>()) << via.body;
  EXPECT_TRUE(via.body.value("from_reservation", false)) << via.body;
  auto bad = api.Call("POST", "/v1/ratelimits/api/shared/acquire", json{{"reservation", "nope"}});
  EXPECT_EQ(bad.status, 422) << bad.body;
  // Over-booking: a second 61/m reservation would leave the 120/m level nothing shared.
  auto over = api.Call("POST", "/v1/ratelimits/api/shared/reservations", json{{"id", "wf2"}, {"rate", "61/m"}});
  EXPECT_EQ(over.status, 409) << over.body;
  EXPECT_EQ(api.Call("DELETE", "/v1/ratelimits/api/shared/reservations/wf1").status, 200);
  // Delete a config key and define another; both survive a restart (the definitions file).
  EXPECT_EQ(api.Call("DELETE", "/v1/ratelimits/api/daily").status, 200);
  EXPECT_EQ(api.Call("GET", "/v1/ratelimits/api/daily").status, 404);
  ASSERT_EQ(server_->Kill(SIGTERM), 0);
  ServerProcess again(dir_.path() + "/data", {"--dev", "--config", cfg_});
  ASSERT_TRUE(again.Start()) << again.Log();
  Api api2(again.url());
  auto after = api2.Call("GET", "/v1/ratelimits/api/anthropic");
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(after.body["rate"], "5/m");
  EXPECT_EQ(after.body["source"], "api");
  EXPECT_EQ(api2.Call("GET", "/v1/ratelimits/api/daily").status, 404);
  EXPECT_EQ(api2.Call("GET", "/v1/ratelimits/api/openai").status, 200);
  auto keys = api2.Call("GET", "/v1/ratelimits");
  EXPECT_NE(keys.body["keys"].dump().find("api/anthropic"), std::string::npos) << keys.body;
}

TEST_F(ThrottleServer, PoolLeasesReleaseRenewAndExpireWhenTheHolderDies) {
  Api api(server_->url());
  auto a = api.Call("POST", "/v1/pools/db/main/acquire", json{{"n", 1}, {"tenant", "org/a"}, {"holder", "w1"}});
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_TRUE(a.body["allowed"].get<bool>()) << a.body;
  auto b = api.Call("POST", "/v1/pools/db/main/acquire", json{{"n", 1}, {"tenant", "org/b"}, {"holder", "w2"}, {"ttl", 60}});
  ASSERT_TRUE(b.body["allowed"].get<bool>()) << b.body;
  // Capacity 2 is held: the next one is denied, with the time until w1's lease (ttl 1 s) runs out.
  auto full = api.Call("POST", "/v1/pools/db/main/acquire", json{{"n", 1}, {"tenant", "org/c"}});
  EXPECT_FALSE(full.body["allowed"].get<bool>()) << full.body;
  EXPECT_GT(full.body["retry_after"].get<double>(), 0.0);
  EXPECT_LE(full.body["retry_after"].get<double>(), 1.0);
  // w1 dies (never renews): after its TTL its unit comes back by itself.
  SleepS(1.2);
  auto state = api.Call("GET", "/v1/pools/db/main");
  EXPECT_EQ(state.body["in_use"], 1) << state.body;
  EXPECT_EQ(state.body["expired_total"], 1) << state.body;
  auto c = api.Call("POST", "/v1/pools/db/main/acquire", json{{"n", 1}, {"tenant", "org/c"}, {"holder", "w3"}, {"ttl", "30s"}});
  EXPECT_TRUE(c.body["allowed"].get<bool>()) << c.body;
  // The live leases: w2's and w3's (w1's expired).
  auto held = api.Call("GET", "/v1/pools/db/main").body["held"];
  ASSERT_EQ(held.size(), 2u) << held;
  EXPECT_EQ(held[0]["holder"], "w2");
  EXPECT_EQ(held[1]["holder"], "w3");
  // Renew and release by lease id; release by holder.
  auto renew = api.Call("POST", "/v1/pools/db/main/renew", json{{"lease", b.body["lease"]}, {"ttl", 120}});
  EXPECT_EQ(renew.status, 200) << renew.body;
  EXPECT_EQ(renew.body["ttl"].get<double>(), 120.0);
  auto rel = api.Call("POST", "/v1/pools/db/main/release", json{{"lease", b.body["lease"]}});
  EXPECT_EQ(rel.status, 200) << rel.body;
  EXPECT_EQ(api.Call("POST", "/v1/pools/db/main/release", json{{"lease", b.body["lease"]}}).status, 404);
  auto gone = api.Call("POST", "/v1/pools/db/main/release", json{{"holder", "w3"}});
  EXPECT_EQ(gone.body["released"], 1) << gone.body;
  EXPECT_EQ(gone.body["available"], 2) << gone.body;
  // A renewal of an expired lease is refused.
  auto old = api.Call("POST", "/v1/pools/db/main/renew", json{{"lease", a.body["lease"]}});
  EXPECT_EQ(old.status, 404) << old.body;
}

TEST_F(ThrottleServer, BreakerOpensDeniesAcquireThenHalfOpensAndCloses) {
  Api api(server_->url());
  ASSERT_EQ(api.Call("PUT", "/v1/ratelimits/llm/openai", json{{"rate", "100/s"}}).status, 201);
  auto r1 = api.Call("POST", "/v1/breakers/llm/openai/report", json{{"outcome", "failure"}, {"latency_ms", 900}});
  ASSERT_EQ(r1.status, 200) << r1.body;
  EXPECT_EQ(r1.body["state"], "closed");
  // consecutive_failures: 2 -> the second failure opens it.
  auto r2 = api.Call("POST", "/v1/breakers/llm/openai/report", json{{"outcome", "failure"}});
  EXPECT_EQ(r2.body["state"], "open") << r2.body;
  auto denied = api.Call("POST", "/v1/ratelimits/llm/openai/acquire", json{{"n", 1}});
  ASSERT_EQ(denied.status, 200) << denied.body;
  EXPECT_FALSE(denied.body["allowed"].get<bool>());
  EXPECT_NE(denied.body["reason"].get<std::string>().find("open"), std::string::npos) << denied.body;
  EXPECT_GT(denied.body["retry_after"].get<double>(), 0.0);
  // After the 1 s cool-down: half-open, one probe goes through, a second waits for it.
  SleepS(1.1);
  EXPECT_EQ(api.Call("GET", "/v1/breakers/llm/openai").body["state"], "half_open");
  auto probe = api.Call("POST", "/v1/ratelimits/llm/openai/acquire", json::object());
  EXPECT_TRUE(probe.body["allowed"].get<bool>()) << probe.body;
  auto second = api.Call("POST", "/v1/ratelimits/llm/openai/acquire", json::object());
  EXPECT_FALSE(second.body["allowed"].get<bool>()) << second.body;
  EXPECT_NE(second.body["reason"].get<std::string>().find("half-open"), std::string::npos) << second.body;
  // The probe succeeds: closed again.
  auto ok = api.Call("POST", "/v1/breakers/llm/openai/report", json{{"outcome", "success"}, {"latency_ms", 20}});
  EXPECT_EQ(ok.body["state"], "closed") << ok.body;
  EXPECT_TRUE(api.Call("POST", "/v1/ratelimits/llm/openai/acquire", json::object()).body["allowed"].get<bool>());
  auto st = api.Call("GET", "/v1/breakers/llm/openai");
  // closed -> open -> half_open -> closed
  EXPECT_EQ(st.body["transitions_total"], 3) << st.body;
  ASSERT_EQ(st.body["transitions"].size(), 3u);
  EXPECT_EQ(st.body["transitions"][0]["to"], "open");
  EXPECT_EQ(st.body["transitions"][2]["to"], "closed");
  // Metrics per key: decisions and breaker state/transitions.
  Api raw(server_->url());
  auto m = raw.Call("GET", "/v1/ratelimits/metrics");
  ASSERT_EQ(m.status, 200);
  const std::string text = m.body.is_string() ? m.body.get<std::string>() : m.body.dump();
  EXPECT_NE(text.find("allot_ratelimit_decisions_total{key=\"llm/openai\",decision=\"allowed\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("allot_ratelimit_breaker_denied_total{key=\"llm/openai\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("allot_breaker_state{key=\"llm/openai\",state=\"closed\"} 1"), std::string::npos) << text;
  for (const char* edge : {"from=\"closed\",to=\"open\"} 1", "from=\"open\",to=\"half_open\"} 1",
                           "from=\"half_open\",to=\"closed\"} 1", "from=\"half_open\",to=\"open\"} 0"}) {
    EXPECT_NE(text.find(std::string("allot_breaker_transitions_total{key=\"llm/openai\",") + edge),
              std::string::npos)
        << edge << "\n"
        << text;
  }
}

// Circuit-breaker transitions in the audit log and in /metrics: who (the reporting token, or "server" for
// the cool-down), what (key, from -> to), why and when; each transition exactly once, even the lazy
// open -> half_open that the first read after the cool-down notices.
class BreakerAudit : public ::testing::Test {
 protected:
  void SetUp() override {
    // Rate trip only (no consecutive limit): 4 calls at least, half of them failed. 2 s cool-down, two
    // probes at once, two successes close it.
    std::string cfg = dir_.Write("auth.yaml", R"(
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token-1}
    - {name: svc-a, role: writer, tenant: org/a, token: writer-a-token}
throttling:
  breakers:
    keys:
      llm/e2e: {min_requests: 4, failure_rate: 0.5, consecutive_failures: 0, cooldown: 2s, half_open_probes: 2,
                close_after_successes: 2}
)");
    server_ =
        std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{"--config", cfg});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  // The breaker events in the audit log, oldest first.
  std::vector<json> Events(Api& admin) {
    auto r = admin.Call("GET", "/v1/events?id=llm/e2e");
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json> out;
    for (const auto& e : r.body["events"]) {
      if (e["type"] == "breaker") out.push_back(e);
    }
    return out;
  }
  std::string Metrics(Api& admin) {
    auto m = admin.Call("GET", "/metrics");
    EXPECT_EQ(m.status, 200);
    return m.body.is_string() ? m.body.get<std::string>() : m.body.dump();
  }
  static std::string Edge(const std::string& from, const std::string& to, int n) {
    return "allot_breaker_transitions_total{key=\"llm/e2e\",from=\"" + from + "\",to=\"" + to + "\"} " +
           std::to_string(n) + "\n";
  }
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(BreakerAudit, EveryTransitionIsInTheEventLogAndMetricsOnce) {
  Api admin(server_->url(), "admin-token-1");
  Api writer(server_->url(), "writer-a-token");
  auto report = [&](const char* outcome) {
    auto r = writer.Call("POST", "/v1/breakers/llm/e2e/report", json{{"outcome", outcome}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body.value("state", "");
  };
  const int64_t t0 = server::WallNowMs();
  // success, failure, success: 1 of 3 failed and 3 < min_requests 4 -> closed; the 4th call, a failure,
  // makes 2 of 4 = 0.50 >= 0.50 -> open.
  EXPECT_EQ(report("success"), "closed");
  EXPECT_EQ(report("failure"), "closed");
  EXPECT_EQ(report("success"), "closed");
  EXPECT_EQ(report("failure"), "open");
  auto ev = Events(admin);
  ASSERT_EQ(ev.size(), 1u) << admin.Call("GET", "/v1/events").body;
  EXPECT_EQ(ev[0]["id"], "llm/e2e");
  EXPECT_EQ(ev[0]["actor"], "svc-a");
  EXPECT_EQ(ev[0]["reason"], "closed -> open: failure rate 0.50 over 4 calls >= 0.50");
  auto at = server::ParseTime(ev[0]["at"].get<std::string>());
  ASSERT_TRUE(at.has_value()) << ev[0];
  EXPECT_GE(*at, t0);  // when: RFC 3339 with milliseconds, between the first report and now
  EXPECT_LE(*at, server::WallNowMs());
  std::string m = Metrics(admin);
  EXPECT_NE(m.find("allot_breaker_state{key=\"llm/e2e\",state=\"open\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("closed", "open", 1)), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("open", "half_open", 0)), std::string::npos) << m;

  // After the cool-down the first read makes the breaker half-open; later reads (a GET, scrapes, the
  // list) do not make or record it again.
  SleepS(2.1);
  EXPECT_EQ(admin.Call("GET", "/v1/breakers/llm/e2e").body["state"], "half_open");
  EXPECT_EQ(admin.Call("GET", "/v1/breakers/llm/e2e").body["state"], "half_open");
  m = Metrics(admin);
  m = Metrics(admin);
  EXPECT_NE(m.find("allot_breaker_state{key=\"llm/e2e\",state=\"half_open\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("open", "half_open", 1)), std::string::npos) << m;
  ev = Events(admin);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1]["actor"], "server");
  EXPECT_EQ(ev[1]["reason"], "open -> half_open: cool-down 2s elapsed");

  // Two probes succeed: closed again, by the writer's second report.
  for (int i = 0; i < 2; i++) {
    auto probe = writer.Call("POST", "/v1/breakers/llm/e2e/acquire", json::object());
    EXPECT_TRUE(probe.body["allowed"].get<bool>()) << probe.body;
  }
  EXPECT_EQ(report("success"), "half_open");  // 1 of 2
  EXPECT_EQ(report("success"), "closed");
  ev = Events(admin);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2]["actor"], "svc-a");
  EXPECT_EQ(ev[2]["reason"], "half_open -> closed: 2 probe successes");

  // Trip it again (a fresh window: 4 failures of 4), let it half-open, and fail the probe: open again.
  for (int i = 0; i < 3; i++) EXPECT_EQ(report("failure"), "closed");
  EXPECT_EQ(report("failure"), "open");
  SleepS(2.1);
  auto probe = writer.Call("POST", "/v1/breakers/llm/e2e/acquire", json::object());
  EXPECT_TRUE(probe.body["allowed"].get<bool>()) << probe.body;
  EXPECT_EQ(probe.body["state"], "half_open");
  EXPECT_EQ(report("failure"), "open");

  ev = Events(admin);
  std::vector<std::string> reasons;
  for (const auto& e : ev) reasons.push_back(e["reason"]);
  const std::vector<std::string> want = {"closed -> open: failure rate 0.50 over 4 calls >= 0.50",
                                         "open -> half_open: cool-down 2s elapsed",
                                         "half_open -> closed: 2 probe successes",
                                         "closed -> open: failure rate 1.00 over 4 calls >= 0.50",
                                         "open -> half_open: cool-down 2s elapsed",
                                         "half_open -> open: probe failed"};
  EXPECT_EQ(reasons, want) << admin.Call("GET", "/v1/events").body;
  // Sequence numbers increase and times do not go back.
  for (size_t i = 1; i < ev.size(); i++) {
    EXPECT_GT(ev[i]["seq"].get<int64_t>(), ev[i - 1]["seq"].get<int64_t>());
    EXPECT_GE(*server::ParseTime(ev[i]["at"].get<std::string>()),
              *server::ParseTime(ev[i - 1]["at"].get<std::string>()));
  }
  m = Metrics(admin);
  EXPECT_NE(m.find("allot_breaker_state{key=\"llm/e2e\",state=\"open\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("closed", "open", 2)), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("open", "half_open", 2)), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("half_open", "closed", 1)), std::string::npos) << m;
  EXPECT_NE(m.find(Edge("half_open", "open", 1)), std::string::npos) << m;
  // The same history through the client: `allot history`.
  auto h = RunAllot(
      {"history", "--since", "1h", "--json", "--server", server_->url(), "--token", "admin-token-1"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  int breaker_events = 0;
  json history = json::parse(h.out);
  for (const auto& e : history["events"]) breaker_events += e["type"] == "breaker";
  EXPECT_EQ(breaker_events, 6) << h.out;
}

TEST_F(ThrottleServer, ClientCommands) {
  const std::string url = server_->url();
  auto def = RunAllot({"ratelimit", "define", "api/cli", "--rate", "1/m", "--burst", "2", "--server", url});
  EXPECT_EQ(def.exit_code, 0) << def.err;
  EXPECT_EQ(RunAllot({"ratelimit", "acquire", "api/cli", "--server", url}).exit_code, 0);
  EXPECT_EQ(RunAllot({"ratelimit", "acquire", "api/cli", "--server", url, "--tenant", "org/a"}).exit_code, 0);
  auto no = RunAllot({"ratelimit", "acquire", "api/cli", "--server", url});
  EXPECT_EQ(no.exit_code, 1) << no.out << no.err;
  EXPECT_NE(no.out.find("retry after"), std::string::npos) << no.out;
  auto never = RunAllot({"ratelimit", "acquire", "api/cli", "--n", "3", "--server", url});
  EXPECT_EQ(never.exit_code, 2) << never.err;
  EXPECT_NE(never.err.find("allot: ratelimit acquire:"), std::string::npos) << never.err;
  auto get = RunAllot({"ratelimit", "get", "api/cli", "--json", "--server", url});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(json::parse(get.out)["rate"], "1/m");
  auto bad = RunAllot({"ratelimit", "define", "api/cli2", "--rate", "0/m", "--server", url});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("rate"), std::string::npos) << bad.err;
  EXPECT_EQ(RunAllot({"ratelimit", "delete", "api/cli", "--server", url}).exit_code, 0);
  EXPECT_EQ(RunAllot({"ratelimit", "get", "api/cli", "--server", url}).exit_code, 2);
  EXPECT_EQ(RunAllot({"ratelimit", "--help"}).exit_code, 0);
  EXPECT_EQ(RunAllot({"ratelimit", "frobnicate", "x"}).exit_code, 2);
}

TEST(ThrottleConfigTest, BadThrottlingSectionStopsTheServerNamingTheField) {
  TempDir dir;
  std::string cfg = dir.Write("bad.yaml", "throttling:\n  ratelimits:\n    api/x: {rate: 5/m, burst: 0}\n");
  auto r = RunAllot({"serve", "--dev", "--config", cfg, "--listen", "127.0.0.1:" + std::to_string(FreePort()), "--data",
                     dir.path() + "/data"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("burst"), std::string::npos) << r.err;
}

class ThrottleAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string cfg = dir_.Write("auth.yaml", R"(
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token-1}
    - {name: viewer, role: reader, token: reader-token-1}
    - {name: team-a, role: writer, tenant: org/a, token: writer-a-token}
    - {name: agent, role: agent, token: agent-token-1}
throttling:
  ratelimits:
    api/openai: {rate: 10/s, burst: 10}
  pools:
    gpu/slots: {capacity: 4}
)");
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{"--config", cfg});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ThrottleAuth, RolesAndTenantSubtrees) {
  Api none(server_->url());
  Api admin(server_->url(), "admin-token-1");
  Api reader(server_->url(), "reader-token-1");
  Api writer(server_->url(), "writer-a-token");
  Api agent(server_->url(), "agent-token-1");
  const std::string acq = "/v1/ratelimits/api/openai/acquire";
  EXPECT_EQ(none.Call("POST", acq, json::object()).status, 401);
  // Writers acquire inside their subtree (no tenant = their own), never outside it.
  EXPECT_EQ(writer.Call("POST", acq, json{{"tenant", "org/a/agent7"}}).status, 200);
  auto own = writer.Call("POST", acq, json::object());
  EXPECT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(writer.Call("POST", acq, json{{"tenant", "org/b"}}).status, 403);
  EXPECT_EQ(writer.Call("POST", acq, json{{"tenant", "org/ab"}}).status, 403);
  auto batch = writer.Call("POST", "/v1/ratelimits:acquire",
                           json{{"requests", {{{"key", "api/openai"}, {"tenant", "org/a"}}, {{"key", "api/openai"}, {"tenant", "org/b"}}}}});
  EXPECT_TRUE(batch.body["results"][0]["allowed"].get<bool>()) << batch.body;
  EXPECT_EQ(batch.body["results"][1]["status"], 403) << batch.body;
  // Only admins define; readers read; agents do neither acquire nor define.
  EXPECT_EQ(writer.Call("PUT", "/v1/ratelimits/api/mine", json{{"rate", "5/m"}}).status, 403);
  EXPECT_EQ(reader.Call("PUT", "/v1/ratelimits/api/mine", json{{"rate", "5/m"}}).status, 403);
  EXPECT_EQ(admin.Call("PUT", "/v1/ratelimits/api/mine", json{{"rate", "5/m"}}).status, 201);
  EXPECT_EQ(writer.Call("DELETE", "/v1/ratelimits/api/mine").status, 403);
  EXPECT_EQ(reader.Call("GET", "/v1/ratelimits/api/mine").status, 200);
  EXPECT_EQ(reader.Call("POST", acq, json::object()).status, 403);
  EXPECT_EQ(agent.Call("POST", acq, json::object()).status, 403);
  EXPECT_EQ(writer.Call("GET", "/v1/ratelimits/metrics").status, 403);
  EXPECT_EQ(reader.Call("GET", "/v1/ratelimits/metrics").status, 200);
  // Pools: a writer's lease can be renewed/released by it, not by a writer of another subtree.
  auto lease = writer.Call("POST", "/v1/pools/gpu/slots/acquire", json{{"n", 1}});
  ASSERT_TRUE(lease.body["allowed"].get<bool>()) << lease.body;
  EXPECT_EQ(lease.body["tenant"], "org/a");
  EXPECT_EQ(writer.Call("POST", "/v1/pools/gpu/slots/acquire", json{{"tenant", "org/b"}}).status, 403);
  auto other = admin.Call("POST", "/v1/pools/gpu/slots/acquire", json{{"tenant", "org/b"}});
  ASSERT_TRUE(other.body["allowed"].get<bool>());
  EXPECT_EQ(writer.Call("POST", "/v1/pools/gpu/slots/release", json{{"lease", other.body["lease"]}}).status, 403);
  EXPECT_EQ(writer.Call("POST", "/v1/pools/gpu/slots/release", json{{"lease", lease.body["lease"]}}).status, 200);
  EXPECT_EQ(writer.Call("PUT", "/v1/pools/gpu/more", json{{"capacity", 2}}).status, 403);
  // Breaker reports need a writer or admin.
  EXPECT_EQ(reader.Call("POST", "/v1/breakers/llm/report", json{{"outcome", "success"}}).status, 403);
  EXPECT_EQ(writer.Call("POST", "/v1/breakers/llm/report", json{{"outcome", "success"}}).status, 200);
}

}  // namespace
}  // namespace allot::testing
