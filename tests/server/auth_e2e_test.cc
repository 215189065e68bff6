// End to end: tokens with a life against a real `allot serve`: expiry (a time and a duration), rotation
// without a restart (SIGHUP and POST /v1/admin/reload), every auth failure in the audit log (aggregated,
// never the secret), and the per-token request rate limit (429 with Retry-After).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// Polls until `done` holds, for at most ~30 s (a bound for a loaded machine, not a timing assertion).
template <typename Done>
bool Eventually(Done done) {
  for (int i = 0; i < 300; i++) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void Rewrite(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

int Status(const std::string& url, const std::string& token, const std::string& method = "GET",
           const std::string& path = "/v1/nodes") {
  return Api(url, token).Call(method, path).status;
}

TEST(AuthE2eTest, ExpiredTokensAreRefusedWithTheirExpiry) {
  TempDir dir;
  std::string cfg =
      dir.Write("c.yaml",
                "auth:\n"
                "  tokens:\n"
                "    - {name: ops, role: admin, token: ops-secret}\n"
                "    - {name: old, role: admin, token: old-secret, expires: 2001-01-01T00:00:00Z}\n"
                "    - {name: brief, role: reader, token: brief-secret, expires: 2s}\n");
  ServerProcess s(dir.path() + "/data", {"--config", cfg, "--no-fsync"});
  ASSERT_TRUE(s.Start()) << s.Log();
  EXPECT_EQ(Status(s.url(), "ops-secret"), 200);
  Reply old = Api(s.url(), "old-secret").Call("GET", "/v1/nodes");
  EXPECT_EQ(old.status, 401);
  EXPECT_EQ(old.body["error"]["message"],
            "the bearer token \"old\" expired at 2001-01-01T00:00:00.000Z; ask for a new one");
  // A duration counts from the load: good now, refused once it has passed.
  EXPECT_TRUE(Eventually([&] { return Status(s.url(), "brief-secret") == 401; }));
  Reply brief = Api(s.url(), "brief-secret").Call("GET", "/v1/nodes");
  EXPECT_NE(brief.body["error"]["message"].get<std::string>().find("\"brief\" expired at"), std::string::npos)
      << brief.body;
}

TEST(AuthE2eTest, TokensRotateWithSighupAndTheAdminEndpointWithoutARestart) {
  TempDir dir;
  std::string cfg = dir.Write("c.yaml",
                              "auth:\n"
                              "  tokens:\n"
                              "    - {name: ops, role: admin, token: ops-secret}\n"
                              "    - {name: bot, role: reader, token: bot-secret-v1}\n");
  ServerProcess s(dir.path() + "/data", {"--config", cfg, "--no-fsync"});
  ASSERT_TRUE(s.Start()) << s.Log();
  pid_t pid = s.pid();
  EXPECT_EQ(Status(s.url(), "bot-secret-v1"), 200);

  // SIGHUP: v1 out, v2 in.
  Rewrite(cfg,
          "auth:\n"
          "  tokens:\n"
          "    - {name: ops, role: admin, token: ops-secret}\n"
          "    - {name: bot, role: reader, token: bot-secret-v2}\n");
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  EXPECT_TRUE(Eventually([&] { return Status(s.url(), "bot-secret-v2") == 200; })) << s.Log();
  EXPECT_EQ(Status(s.url(), "bot-secret-v1"), 401);

  // The admin endpoint: v3 in; a reader may not reload; a broken file changes nothing.
  Rewrite(cfg,
          "auth:\n"
          "  tokens:\n"
          "    - {name: ops, role: admin, token: ops-secret}\n"
          "    - {name: bot, role: reader, token: bot-secret-v3}\n");
  EXPECT_EQ(Status(s.url(), "bot-secret-v2", "POST", "/v1/admin/reload"), 403);
  Reply reloaded = Api(s.url(), "ops-secret").Call("POST", "/v1/admin/reload");
  EXPECT_EQ(reloaded.status, 200) << reloaded.body;
  EXPECT_EQ(reloaded.body["tokens"], 2);
  EXPECT_EQ(Status(s.url(), "bot-secret-v3"), 200);
  EXPECT_EQ(Status(s.url(), "bot-secret-v2"), 401);
  Rewrite(cfg, "auth:\n  tokens:\n    - {name: ops, role: wizard, token: ops-secret}\n");
  Reply broken = Api(s.url(), "ops-secret").Call("POST", "/v1/admin/reload");
  EXPECT_EQ(broken.status, 422) << broken.body;
  EXPECT_NE(broken.body["error"]["message"].get<std::string>().find("unknown role \"wizard\""),
            std::string::npos)
      << broken.body;
  EXPECT_EQ(Status(s.url(), "bot-secret-v3"), 200);  // the old tokens stay in force
  EXPECT_EQ(s.pid(), pid);                           // no restart
  Reply events = Api(s.url(), "ops-secret").Call("GET", "/v1/events?since=0");
  EXPECT_NE(events.body.dump().find("\"auth_reloaded\""), std::string::npos);
}

TEST(AuthE2eTest, AuthFailuresAreAuditedAggregatedAndWithoutTheSecret) {
  TempDir dir;
  std::string cfg =
      dir.Write("c.yaml", "auth:\n  tokens:\n    - {name: ops, role: admin, token: ops-secret}\n");
  ServerProcess s(dir.path() + "/data", {"--config", cfg, "--no-fsync"});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api wrong(s.url(), "guessed-secret-123");
  for (int i = 0; i < 50; i++) ASSERT_EQ(wrong.Call("GET", "/v1/nodes").status, 401);
  ASSERT_EQ(Status(s.url(), ""), 401);
  // The failures reach the audit log within a window (about a second); count them all.
  Api ops(s.url(), "ops-secret");
  uint64_t wrong_count = 0, missing_count = 0;
  size_t events = 0;
  json last;
  Eventually([&] {
    last = ops.Call("GET", "/v1/events?since=0").body;
    wrong_count = missing_count = 0;
    events = 0;
    for (const auto& e : last["events"]) {
      if (e["type"] != "auth_failed") continue;
      events++;
      EXPECT_EQ(e["by"], "127.0.0.1");
      std::smatch m;
      std::string reason = e["reason"];
      uint64_t n = std::regex_search(reason, m, std::regex(R"(\((\d+) times\))")) ? std::stoull(m[1]) : 1;
      if (reason.rfind("wrong_token", 0) == 0) wrong_count += n;
      if (reason.rfind("missing_token", 0) == 0) missing_count += n;
    }
    return wrong_count == 50 && missing_count == 1;
  });
  EXPECT_EQ(wrong_count, 50u) << last.dump();
  EXPECT_EQ(missing_count, 1u) << last.dump();
  EXPECT_LT(events, 20u) << last.dump();  // aggregated: one per address, reason and second
  EXPECT_EQ(last.dump().find("guessed-secret"), std::string::npos);
  Api scrape(s.url(), "ops-secret");
  auto m = scrape.Call("GET", "/metrics");
  EXPECT_NE(m.body.get<std::string>().find("allot_auth_failures_total 51"), std::string::npos);
}

TEST(AuthE2eTest, APerTokenRateLimitAnswers429WithRetryAfterAndSparesOtherTokens) {
  TempDir dir;
  std::string cfg = dir.Write("c.yaml",
                              "auth:\n"
                              "  rate_limit: {rate: 1/m, burst: 3}\n"
                              "  tokens:\n"
                              "    - {name: ops, role: admin, token: ops-secret, rate_limit: none}\n"
                              "    - {name: bot, role: reader, token: bot-secret}\n");
  ServerProcess s(dir.path() + "/data", {"--config", cfg, "--no-fsync"});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api bot(s.url(), "bot-secret");
  for (int i = 0; i < 3; i++) EXPECT_EQ(bot.Call("GET", "/v1/nodes").status, 200) << i;
  Reply over = bot.Call("GET", "/v1/nodes");
  EXPECT_EQ(over.status, 429);
  EXPECT_EQ(over.body["error"]["field"], "auth.rate_limit");
  EXPECT_NE(over.body["error"]["message"].get<std::string>().find(
                "\"bot\" is over its request rate (1/m, burst 3)"),
            std::string::npos)
      << over.body;
  ASSERT_TRUE(over.headers.count("retry-after"));
  EXPECT_GE(std::stoi(over.headers["retry-after"]), 1);
  EXPECT_LE(std::stoi(over.headers["retry-after"]), 60);
  Api ops(s.url(), "ops-secret");
  for (int i = 0; i < 10; i++) EXPECT_EQ(ops.Call("GET", "/v1/nodes").status, 200);
  auto m = ops.Call("GET", "/metrics");
  EXPECT_NE(m.body.get<std::string>().find("allot_auth_throttled_total 1"), std::string::npos);
  EXPECT_NE(m.body.get<std::string>().find("allot_rejections_total{reason=\"rate_limited\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace allot::testing
