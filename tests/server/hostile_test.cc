// Regression tests for the server-side reproducers of issue 13 ("no request crashes anything, and roles
// hold"), each against a real `allot serve` with its default settings and the access log on: request
// lines that are not UTF-8 (item 1), error texts that quote the bytes they got (item 2), an agent
// shrinking an admin's node (item 3), writers and shared circuit breakers (item 5), and tenant paths,
// priorities, paging limits and repeated Authorization headers (item 7).
#include <gtest/gtest.h>

#include <sstream>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

constexpr const char* kConfig = R"(
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token}
    - {name: viewer, role: reader, token: reader-token}
    - {name: team-a, role: writer, tenant: org/a, token: writer-a-token}
    - {name: team-b, role: writer, tenant: org/b, token: writer-b-token}
    - {name: agent-1, role: agent, token: agent-1-token}
    - {name: agent-2, role: agent, token: agent-2-token}
nodes: [{name: n1, capacity: {cpu: "1", memory: 1Gi}}]
heartbeat_timeout: 1h
throttling:
  breakers:
    keys:
      llm/shared: {consecutive_failures: 3, window: 1h}
)";

// Printable form of bytes for failure messages.
std::string Show(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return s.size() > 200 ? out + "...(" + std::to_string(s.size()) + " bytes)" : out;
}

class HostileServer : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(kConfig); }

  void StartWith(const std::string& config) {
    std::string cfg = dir_.Write("allot.yaml", config);
    server_ = std::make_unique<LoggedServerProcess>(dir_.path() + "/data",
                                                    std::vector<std::string>{"--config", cfg});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }

  Api As(const std::string& token) { return Api(server_->url(), token); }

  // The server is still running and answers /healthz.
  void ExpectServing(const std::string& after) {
    ASSERT_TRUE(server_->Running()) << Show(after) << " ended the server (" << server_->ExitText()
                                    << "); log:\n"
                                    << server_->Log();
    EXPECT_EQ(Api(server_->url()).Call("GET", "/healthz").status, 200) << "after " << Show(after);
  }

  // A refusal: a 4xx with the API's error body, and the server keeps serving.
  void ExpectRefused(const Reply& r, const std::string& what) {
    EXPECT_GE(r.status, 400) << Show(what) << " -> " << r.status << " "
                             << r.body.dump(-1, ' ', false, json::error_handler_t::replace);
    EXPECT_LT(r.status, 500) << Show(what) << " -> " << r.status << " "
                             << r.body.dump(-1, ' ', false, json::error_handler_t::replace);
    EXPECT_TRUE(IsErrorBody(r.body)) << Show(what) << " -> "
                                     << r.body.dump(-1, ' ', false, json::error_handler_t::replace);
    ExpectServing(what);
  }
  void ExpectRefused(const RawReply& r, const std::string& what) {
    EXPECT_GE(r.status, 400) << Show(what) << " -> " << r.status << " " << Show(r.body);
    EXPECT_LT(r.status, 500) << Show(what) << " -> " << r.status << " " << Show(r.body);
    EXPECT_TRUE(IsErrorBody(json::parse(r.body, nullptr, false))) << Show(what) << " -> " << Show(r.body);
    ExpectServing(what);
  }

  // Every structured line the server wrote (the access log among them) is valid JSON, so valid UTF-8.
  void ExpectLogIsJson() {
    std::istringstream lines(server_->Log());
    int n = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] != '{') continue;
      n++;
      EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded())
          << "log line is not JSON: " << Show(line);
    }
    EXPECT_GT(n, 0) << "no log lines at all";
  }

  TempDir dir_;
  std::unique_ptr<LoggedServerProcess> server_;
};

// Item 1: `printf 'GET /%FF HTTP/1.1\r\n\r\n' | nc` ended the server (the access log threw on the path).
TEST_F(HostileServer, Item1RequestLinesThatAreNotUtf8AreRefusedAndTheServerKeepsServing) {
  for (const std::string& wire : {
           std::string("GET /%FF HTTP/1.1\r\n\r\n"),
           std::string("GET /%FF HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string("GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string("GET /v1/nodes?x=%FF HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string("GET /v1/nodes?%FF=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
           std::string("GET /v1/nodes/%C3 HTTP/1.1\r\nAuthorization: Bearer admin-token\r\n\r\n"),
           std::string("G\xffT / HTTP/1.1\r\n\r\n"),
           std::string("G\xffT /v1/nodes HTTP/1.1\r\nAuthorization: Bearer admin-token\r\n\r\n"),
           std::string("G") + '\0' + "T /healthz HTTP/1.1\r\n\r\n",
           std::string("get /healthz HTTP/1.1\r\n\r\n"),
       }) {
    ExpectRefused(RawExchange(server_->port(), wire), wire);
  }
  ExpectLogIsJson();
}

// Item 1: a valid path whose 300-byte log cut fell inside a multi-byte character.
TEST_F(HostileServer, Item1AccessLogCutsBetweenCharacters) {
  for (int pad : {294, 295, 296, 297}) {
    std::string path = "/v1/" + std::string(pad, 'a') + "\xc3\xa4";
    // Unauthenticated (401), with a token (404), and percent-encoded.
    ExpectRefused(RawExchange(server_->port(), "GET " + path + " HTTP/1.1\r\n\r\n"), path);
    ExpectRefused(As("admin-token").Call("GET", path), path);
    ExpectRefused(As("admin-token").Call("GET", "/v1/" + std::string(pad, 'a') + "%C3%A4"), path);
    ExpectRefused(As("admin-token").Call("GET", "/v1/" + std::string(pad, 'a') + "%E2%82%AC"), path);
  }
  ExpectLogIsJson();
  std::string log = server_->Log();
  EXPECT_NE(log.find("\"/v1/" + std::string(294, 'a')), std::string::npos)
      << "the requests are not in the access log";
}

// Item 2: error messages that echoed what they got, through every role.
TEST_F(HostileServer, Item2ErrorTextsThatQuoteTheInputDoNotEndTheServer) {
  Api admin = As("admin-token"), reader = As("reader-token"), writer = As("writer-a-token"),
      agent = As("agent-1-token");
  auto placed = writer.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "100m"}}}});
  ASSERT_EQ(placed.status, 201) << placed.body.dump();
  std::string id = placed.body["id"];
  const size_t before = admin.Call("GET", "/v1/allocations").body["count"].get<size_t>();

  ExpectRefused(reader.Call("GET", "/v1/nodes/%FF"), "GET /v1/nodes/%FF");
  auto q = reader.Call("GET", "/v1/quotas/org/%C3%A4");  // valid UTF-8, no such tenant path
  ExpectRefused(q, "GET /v1/quotas/org/%C3%A4");
  EXPECT_TRUE(q.status == 404 || q.status == 422) << q.status;
  auto t = writer.Call("POST", "/v1/allocations",
                       std::string(R"({"tenant":"org/a/ä","requests":{"cpu":"100m"}})"));
  ExpectRefused(t, "tenant org/a/ä");
  EXPECT_EQ(t.status, 422);
  ExpectRefused(writer.Call("DELETE", "/v1/reservations?id=%FF"), "DELETE /v1/reservations?id=%FF");
  ExpectRefused(writer.Call("GET", "/v1/allocations/" + id + "?wait=%FF"), "?wait=%FF");
  ExpectRefused(writer.Call("GET", "/v1/allocations/" + id + "?wait=%C3%A4"), "?wait=%C3%A4");
  ExpectRefused(writer.Call("GET", "/v1/allocations/" + id + "?wait=1s&state=%C3%A4"), "?state=%C3%A4");
  ExpectRefused(agent.Call("POST", "/v1/nodes/%FF/heartbeat", json::object()),
                "POST /v1/nodes/%FF/heartbeat");
  ExpectRefused(agent.Call("POST", "/v1/nodes/%C3%A4/heartbeat", json::object()),
                "POST /v1/nodes/%C3%A4/heartbeat");
  ExpectRefused(admin.Call("GET", "/v1/nodes/%C3%A4"), "GET /v1/nodes/%C3%A4");
  ExpectRefused(admin.Call("DELETE", "/v1/allocations/%FF"), "DELETE /v1/allocations/%FF");
  ExpectRefused(admin.Call("GET", "/v1/reservations/%C3%A4"), "GET /v1/reservations/%C3%A4");
  ExpectRefused(writer.Call("POST", "/v1/ratelimits/%FF/acquire", json::object()),
                "POST /v1/ratelimits/%FF/acquire");
  ExpectRefused(writer.Call("POST", "/v1/ratelimits/%C3%A4/acquire", json::object()),
                "POST /v1/ratelimits/%C3%A4/acquire");
  ExpectRefused(writer.Call("POST", "/v1/allocations", std::string(R"({"requests":{"cpu":"1"},"ä":1})")),
                "field ä");
  ExpectRefused(writer.Call("POST", "/v1/allocations", std::string(R"({"requests":{"ä":"1"}})")),
                "resource ä");
  ExpectRefused(writer.Call("POST", "/v1/allocations", std::string(R"({"requests":{"cpu":"1ä"}})")),
                "quantity 1ä");
  ExpectRefused(
      writer.Call("POST", "/v1/allocations", std::string(R"({"requests":{"cpu":"1"},"duration":"ä"})")),
      "duration ä");
  ExpectRefused(
      writer.Call("POST", "/v1/allocations", std::string(R"({"requests":{"cpu":"1"},"priority":"ä"})")),
      "priority ä");
  ExpectRefused(admin.Call("POST", "/v1/nodes", std::string(R"({"name":"nä","capacity":{"cpu":"1"}})")),
                "node nä");
  ExpectRefused(admin.Call("PUT", "/v1/quotas/org/%C3%A4", json{{"max", {{"cpu", "1"}}}}),
                "PUT /v1/quotas/org/ä");
  // Nothing of it made an allocation.
  EXPECT_EQ(admin.Call("GET", "/v1/allocations").body["count"].get<size_t>(), before);
  ExpectLogIsJson();
}

// Item 3: an agent re-registering the admin-defined n1 with 50m while 200m are allocated on it.
TEST_F(HostileServer, Item3AnAgentCannotShrinkANodeItDidNotRegister) {
  Api admin = As("admin-token"), writer = As("writer-a-token"), agent = As("agent-1-token");
  auto a = writer.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "200m"}}}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  ASSERT_EQ(a.body["node"], "n1");
  auto shrink = agent.Call("POST", "/v1/nodes",
                           json{{"name", "n1"}, {"capacity", {{"cpu", "50m"}, {"memory", "1Mi"}}}});
  EXPECT_TRUE(shrink.status == 403 || shrink.status == 409) << shrink.status << " " << shrink.body.dump();
  EXPECT_TRUE(IsErrorBody(shrink.body)) << shrink.body.dump();
  auto forced =
      agent.Call("POST", "/v1/nodes",
                 json{{"name", "n1"}, {"capacity", {{"cpu", "50m"}, {"memory", "1Mi"}}}, {"force", true}});
  EXPECT_TRUE(forced.status == 403 || forced.status == 409) << forced.status << " " << forced.body.dump();
  // Not its node: even the same capacity is refused.
  auto same =
      agent.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "1"}, {"memory", "1Gi"}}}});
  EXPECT_EQ(same.status, 403) << same.body.dump();
  auto n1 = admin.Call("GET", "/v1/nodes/n1");
  ASSERT_EQ(n1.status, 200);
  EXPECT_EQ(n1.body["capacity"]["cpu"], 1000) << n1.body.dump();
  EXPECT_EQ(n1.body["capacity"]["memory"], 1024LL * 1024 * 1024) << n1.body.dump();
  EXPECT_EQ(n1.body["allocated"]["cpu"], 200) << n1.body.dump();
  EXPECT_EQ(n1.body.value("agent", false), false) << n1.body.dump();
  // Nor does it take the node over by heartbeating it first.
  auto hb = agent.Call("POST", "/v1/nodes/n1/heartbeat", json{{"usage", {{"cpu", "10m"}}}});
  EXPECT_TRUE(hb.status == 200 || hb.status == 403) << hb.body.dump();
  auto after_hb = agent.Call("POST", "/v1/nodes",
                             json{{"name", "n1"}, {"capacity", {{"cpu", "200m"}, {"memory", "1Gi"}}}});
  EXPECT_EQ(after_hb.status, 403) << "an agent that heartbeats an admin's node may re-register it: "
                                  << after_hb.body.dump();
  EXPECT_EQ(admin.Call("GET", "/v1/nodes/n1").body["capacity"]["cpu"], 1000);
  EXPECT_EQ(As("agent-2-token")
                .Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "2"}}}})
                .status,
            403);
  EXPECT_EQ(admin.Call("GET", "/v1/nodes/n1").body["capacity"]["cpu"], 1000);
  ExpectServing("agent re-registrations");
}

// Item 3: an agent updates only its own node and never below what is allocated on it; an admin shrinks
// below the allocations only with "force": true.
TEST_F(HostileServer, Item3NodesShrinkBelowTheirAllocationsOnlyByAnAdminWithForce) {
  Api admin = As("admin-token"), writer = As("writer-a-token"), agent = As("agent-1-token"),
      other = As("agent-2-token");
  auto node = [](const std::string& cpu) {
    return json{
        {"name", "n2"}, {"capacity", {{"cpu", cpu}, {"memory", "2Gi"}}}, {"labels", {{"host", "n2"}}}};
  };
  ASSERT_EQ(agent.Call("POST", "/v1/nodes", node("2")).status, 201);
  auto a = writer.Call("POST", "/v1/allocations",
                       json{{"requests", {{"cpu", "1"}}}, {"selector", {{"host", "n2"}}}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  ASSERT_EQ(a.body["node"], "n2");
  auto cpu_of_n2 = [&] { return admin.Call("GET", "/v1/nodes/n2").body["capacity"]["cpu"]; };

  EXPECT_EQ(agent.Call("POST", "/v1/nodes", node("4")).status, 200);  // its own node, growing
  EXPECT_EQ(cpu_of_n2(), 4000);
  auto below = agent.Call("POST", "/v1/nodes", node("500m"));
  EXPECT_EQ(below.status, 409) << below.body.dump();
  EXPECT_TRUE(IsErrorBody(below.body));
  EXPECT_EQ(cpu_of_n2(), 4000);
  json forced = node("500m");
  forced["force"] = true;  // an admin's escape hatch, not an agent's
  auto agent_force = agent.Call("POST", "/v1/nodes", forced);
  EXPECT_TRUE(agent_force.status == 403 || agent_force.status == 409) << agent_force.body.dump();
  EXPECT_EQ(cpu_of_n2(), 4000);
  EXPECT_EQ(agent.Call("POST", "/v1/nodes", node("1")).status, 200);  // exactly what is allocated still fits
  EXPECT_EQ(cpu_of_n2(), 1000);

  // Another agent neither updates nor heartbeats it.
  EXPECT_EQ(other.Call("POST", "/v1/nodes", node("8")).status, 403);
  EXPECT_EQ(other.Call("POST", "/v1/nodes/n2/heartbeat", json{{"usage", {{"cpu", "1"}}}}).status, 403);
  EXPECT_EQ(cpu_of_n2(), 1000);

  // The admin: 409 without force, 200 with it; the allocation keeps running.
  auto admin_below = admin.Call("POST", "/v1/nodes", node("500m"));
  EXPECT_EQ(admin_below.status, 409) << admin_below.body.dump();
  EXPECT_EQ(cpu_of_n2(), 1000);
  auto admin_force = admin.Call("POST", "/v1/nodes", forced);
  EXPECT_EQ(admin_force.status, 200) << admin_force.body.dump();
  EXPECT_EQ(cpu_of_n2(), 500);
  EXPECT_EQ(admin.Call("GET", "/v1/allocations/" + a.body["id"].get<std::string>()).body["state"], "placed");
  // The same for the config-defined n1 with 200m on it.
  ASSERT_EQ(writer.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "200m"}}}}).body["node"], "n1");
  EXPECT_EQ(
      admin
          .Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "100m"}, {"memory", "1Gi"}}}})
          .status,
      409);
  EXPECT_EQ(admin.Call("GET", "/v1/nodes/n1").body["capacity"]["cpu"], 1000);
  ExpectServing("node updates");
}

// Item 5: a writer's report names another tenant; it must not move the shared breaker.
TEST_F(HostileServer, Item5AWriterReportsOnlyForItsOwnSubtree) {
  Api admin = As("admin-token"), writer = As("writer-a-token"), reader = As("reader-token"),
      agent = As("agent-1-token");
  for (const char* tenant : {"org/b", "org/b", "org/b", "org", "org/ab", "default"}) {
    auto r = writer.Call("POST", "/v1/breakers/llm/shared/report",
                         json{{"outcome", "failure"}, {"tenant", tenant}});
    EXPECT_EQ(r.status, 403) << tenant << " " << r.body.dump();
    EXPECT_TRUE(IsErrorBody(r.body)) << r.body.dump();
  }
  EXPECT_EQ(reader.Call("POST", "/v1/breakers/llm/shared/report", json{{"outcome", "failure"}}).status, 403);
  EXPECT_EQ(agent.Call("POST", "/v1/breakers/llm/shared/report", json{{"outcome", "failure"}}).status, 403);
  // Three failures would have opened it (consecutive_failures: 3); none counted.
  std::string metrics = admin.Call("GET", "/metrics").body.get<std::string>();
  EXPECT_NE(metrics.find("allot_breaker_state{key=\"llm/shared\",state=\"closed\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("allot_breaker_window_requests{key=\"llm/shared\"} 0\n"), std::string::npos)
      << metrics;
  // Inside its subtree it reports (a tenant path with a dot segment is no tenant inside it).
  EXPECT_EQ(writer
                .Call("POST", "/v1/breakers/llm/shared/report",
                      json{{"outcome", "failure"}, {"tenant", "org/a/.."}})
                .status,
            422);
  EXPECT_EQ(
      writer
          .Call("POST", "/v1/breakers/llm/shared/report", json{{"outcome", "success"}, {"tenant", "org/a/x"}})
          .status,
      200);
  EXPECT_EQ(writer.Call("POST", "/v1/breakers/llm/shared/report", json{{"outcome", "success"}}).status, 200);
  auto b = admin.Call("GET", "/v1/breakers/llm/shared");
  EXPECT_EQ(b.body["state"], "closed") << b.body.dump();
  EXPECT_EQ(b.body["window_requests"], 2) << b.body.dump();
  EXPECT_EQ(b.body["window_failures"], 0) << b.body.dump();
  ExpectServing("breaker reports");
}

// Item 5: a breaker declared in the config (throttling.breakers.keys) is there before any report: it is
// read, acquired and listed like one a report made.
TEST_F(HostileServer, Item5DeclaredBreakersAreThereBeforeTheirFirstReport) {
  Api admin = As("admin-token"), writer = As("writer-a-token");
  auto b = admin.Call("GET", "/v1/breakers/llm/shared");
  EXPECT_EQ(b.status, 200) << b.body.dump();
  EXPECT_EQ(b.body.value("state", ""), "closed") << b.body.dump();
  auto a = writer.Call("POST", "/v1/breakers/llm/shared/acquire", json::object());
  EXPECT_EQ(a.status, 200) << a.body.dump();
  auto list = admin.Call("GET", "/v1/breakers");
  EXPECT_NE(list.body.dump().find("llm/shared"), std::string::npos) << list.body.dump();
}

// Item 5: 5,000 reports on undeclared keys made 5,000 breakers (/metrics 12 KB -> 3.1 MB).
TEST_F(HostileServer, Item5ReportsOnUndeclaredKeysCreateBoundedBreakers) {
  Api writer = As("writer-a-token"), admin = As("admin-token");
  auto metrics_size = [&] { return admin.Call("GET", "/metrics").body.get<std::string>().size(); };
  const size_t start = metrics_size();
  const int kKeys = 1000;
  int accepted = 0, first_refusal = -1;
  size_t at_half = 0;
  for (int i = 0; i < kKeys; i++) {
    auto r = writer.Call("POST", "/v1/breakers/dyn/k" + std::to_string(i) + "/report",
                         json{{"outcome", "failure"}});
    if (r.status == 200) {
      accepted++;
      EXPECT_EQ(first_refusal, -1) << "key " << i << " accepted after key " << first_refusal
                                   << " was refused";
    } else {
      EXPECT_TRUE(r.status == 404 || r.status == 422 || r.status == 429) << r.status << " " << r.body.dump();
      EXPECT_TRUE(IsErrorBody(r.body)) << r.body.dump();
      if (first_refusal < 0) first_refusal = i;
    }
    if (i == kKeys / 2) at_half = metrics_size();
  }
  EXPECT_LT(accepted, kKeys / 2) << "reports on undeclared keys are not bounded";
  const size_t end = metrics_size();
  EXPECT_LT(end, start + 1024 * 1024) << "/metrics grew from " << start << " to " << end << " bytes";
  EXPECT_LT(end, at_half + 4096) << "/metrics kept growing past the bound: " << at_half << " -> " << end;
  // A declared key still takes reports once the bound is reached.
  EXPECT_EQ(writer.Call("POST", "/v1/breakers/llm/shared/report", json{{"outcome", "success"}}).status, 200);
  ExpectServing("reports on undeclared keys");
}

TEST_F(HostileServer, Item5WithoutDynamicBreakersAnUndeclaredKeyIsNotFound) {
  server_.reset();
  StartWith(std::string(kConfig) + "    max_dynamic: 0\n");  // under throttling.breakers, beside keys
  Api writer = As("writer-a-token");
  auto r = writer.Call("POST", "/v1/breakers/undeclared/x/report", json{{"outcome", "failure"}});
  EXPECT_EQ(r.status, 404) << r.body.dump();
  EXPECT_TRUE(IsErrorBody(r.body));
  EXPECT_EQ(As("admin-token").Call("GET", "/v1/breakers/undeclared/x").status, 404);
  EXPECT_EQ(writer.Call("POST", "/v1/breakers/llm/shared/report", json{{"outcome", "failure"}}).status, 200);
  ExpectServing("report on an undeclared key");
}

// Item 7: tenant paths with '.' or '..' segments.
TEST_F(HostileServer, Item7TenantPathsWithDotSegmentsAreRefused) {
  Api admin = As("admin-token"), writer = As("writer-a-token");
  for (const char* tenant :
       {"../..", "a/../b", "..", ".", "org/./a", "org/a/..", "org/a/.", "/org/a", "org/a/"}) {
    Api& who = std::string(tenant).rfind("org/a", 0) == 0 ? writer : admin;
    auto r = who.Call("POST", "/v1/allocations", json{{"tenant", tenant}, {"requests", {{"cpu", "10m"}}}});
    EXPECT_EQ(r.status, 422) << tenant << " " << r.body.dump();
    EXPECT_TRUE(IsErrorBody(r.body)) << r.body.dump();
    auto rs = who.Call("POST", "/v1/reservations",
                       json{{"tenant", tenant}, {"duration", "1h"}, {"requests", {{"cpu", "10m"}}}});
    EXPECT_EQ(rs.status, 422) << tenant << " " << rs.body.dump();
    auto rl = who.Call("POST", "/v1/ratelimits/api/none/acquire", json{{"tenant", tenant}});
    EXPECT_EQ(rl.status, 422) << tenant << " " << rl.body.dump();
  }
  for (const char* path :
       {"/v1/quotas/../..", "/v1/quotas/a/../b", "/v1/quotas/org/a/..", "/v1/quotas/./a"}) {
    auto r = admin.Call("PUT", path, json{{"max", {{"cpu", "1"}}}});
    EXPECT_EQ(r.status, 422) << path << " " << r.body.dump();
    EXPECT_EQ(admin.Call("GET", path).status, 422) << path;
  }
  EXPECT_EQ(admin.Call("GET", "/v1/allocations").body["count"], 0);
  EXPECT_EQ(admin.Call("GET", "/v1/reservations").body["reservations"].size(), 0u);
  auto quotas = admin.Call("GET", "/v1/quotas");  // not in the loop header: the answer must outlive it
  for (const auto& q : quotas.body["quotas"]) {
    EXPECT_EQ(q["tenant"].get<std::string>().find('.'), std::string::npos) << q.dump();
  }
  ExpectServing("dot-segment tenants");
}

// Item 7: priority -5 was accepted. DESIGN.md: background=0 ... critical=4, or an integer; the server
// takes integers from 0 to server::kMaxPriority (1,000,000).
TEST_F(HostileServer, Item7PrioritiesOutsideTheDocumentedRangeAreRefused) {
  Api writer = As("writer-a-token");
  for (const char* p :
       {"-5", "-1", "1000001", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1e308",
        "\"-5\"", "\"1000001\"", "\"urgent\"", "2.5", "true", "[]", "{}"}) {
    auto r = writer.Call("POST", "/v1/allocations",
                         R"({"requests":{"cpu":"10m"},"priority":)" + std::string(p) + "}");
    EXPECT_TRUE(r.status == 400 || r.status == 422)
        << "priority " << p << " -> " << r.status << " " << r.body.dump();
    EXPECT_TRUE(IsErrorBody(r.body)) << r.body.dump();
    if (r.body.is_object() && r.body.contains("error")) {
      EXPECT_EQ(r.body["error"].value("field", ""), "priority") << p;
    }
  }
  EXPECT_EQ(writer.Call("GET", "/v1/allocations").body["count"], 0);
  for (const char* p : {"0", "1000000", "\"background\"", "\"critical\""}) {
    auto r = writer.Call("POST", "/v1/allocations",
                         R"({"requests":{"cpu":"10m"},"priority":)" + std::string(p) + "}");
    EXPECT_EQ(r.status, 201) << "priority " << p << " " << r.body.dump();
  }
  ExpectServing("priorities");
}

// Item 7: limit=-1 was accepted.
TEST_F(HostileServer, Item7PagingParametersMustBeIntegersInRange) {
  Api admin = As("admin-token"), writer = As("writer-a-token");
  for (const char* path : {"/v1/allocations", "/v1/events"}) {
    for (const char* v :
         {"-1", "abc", "", "1e3", "1.5", "+5", "0x10", "99999999999999999999", "100001", "%FF", "%00"}) {
      std::string target = std::string(path) + "?limit=" + v;
      auto r = writer.Call("GET", target);
      EXPECT_EQ(r.status, 400) << target << " " << r.body.dump();
      EXPECT_TRUE(IsErrorBody(r.body)) << target;
    }
    EXPECT_EQ(writer.Call("GET", std::string(path) + "?limit=0").status, 200);
    EXPECT_EQ(writer.Call("GET", std::string(path) + "?limit=5").status, 200);
  }
  for (const char* v : {"-1", "abc", "", "9223372036854775808"}) {
    auto r = admin.Call("GET", std::string("/v1/events?after=") + v);
    EXPECT_EQ(r.status, 400) << "after=" << v << " " << r.body.dump();
  }
  EXPECT_EQ(admin.Call("GET", "/v1/events?after=0").status, 200);
  ExpectServing("paging parameters");
}

// Item 7: with two Authorization headers the last one won.
TEST_F(HostileServer, Item7TwoAuthorizationHeadersAreRefused) {
  const std::string node = R"({"name":"sneaky","capacity":{"cpu":"1"}})";
  auto post = [&](const std::string& headers) {
    return "POST /v1/nodes HTTP/1.1\r\nHost: x\r\n" + headers +
           "Content-Type: application/json\r\nContent-Length: " + std::to_string(node.size()) + "\r\n\r\n" +
           node;
  };
  for (const std::string& wire : {
           post("Authorization: Bearer reader-token\r\nAuthorization: Bearer admin-token\r\n"),
           post("Authorization: Bearer admin-token\r\nAuthorization: Bearer reader-token\r\n"),
           post("Authorization: Bearer admin-token\r\nauthorization: Bearer admin-token\r\n"),
           post("authorization: Bearer nonsense\r\nAUTHORIZATION: Bearer admin-token\r\n"),
           std::string(
               "GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer reader-token\r\nAuthorization: Bearer "
               "admin-token\r\n\r\n"),
       }) {
    auto r = RawExchange(server_->port(), wire);
    EXPECT_EQ(r.status, 400) << Show(wire) << " -> " << r.status << " " << Show(r.body);
    EXPECT_TRUE(IsErrorBody(json::parse(r.body, nullptr, false))) << Show(r.body);
    ExpectServing(wire);
  }
  Api admin = As("admin-token");
  EXPECT_EQ(admin.Call("GET", "/v1/nodes/sneaky").status, 404);
  // One header is fine.
  auto one = RawExchange(server_->port(), post("Authorization: Bearer admin-token\r\n"));
  EXPECT_EQ(one.status, 201) << Show(one.body);
}

}  // namespace
}  // namespace allot::testing
