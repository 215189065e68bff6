// Tokens with a life, in-process: expiry against an injected time, failure reasons, per-principal rate
// limits (GCRA), the aggregated audit of auth failures, and the config keys that carry them.
#include "server/auth.h"

#include <gtest/gtest.h>

#include "allot/server.h"
#include "server/auth_guard.h"

namespace allot::server {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(AuthLifeTest, ATokenIsRefusedFromItsExpiryOnAndToldApartFromAWrongOne) {
  TokenConfig ci{"ci", "admin", "", HashToken("ci-secret-1")};
  ci.expires_ms = 10'000;
  Authenticator a({ci}, false);
  AuthResult before = a.Check("Bearer ci-secret-1", 9'999);
  ASSERT_TRUE(before.principal.has_value());
  EXPECT_EQ(before.principal->name, "ci");
  AuthResult at = a.Check("Bearer ci-secret-1", 10'000);
  EXPECT_FALSE(at.principal.has_value());
  EXPECT_EQ(at.failure, AuthFailure::kExpired);
  EXPECT_EQ(at.token_name, "ci");
  EXPECT_EQ(at.expired_at_ms, 10'000);
  EXPECT_EQ(a.Check("Bearer other-secret", 0).failure, AuthFailure::kWrong);
  EXPECT_EQ(a.Check("", 0).failure, AuthFailure::kMissing);
  EXPECT_EQ(a.Check("Basic abc", 0).failure, AuthFailure::kMalformed);
  EXPECT_STREQ(AuthFailureName(AuthFailure::kExpired), "expired_token");
}

TEST(AuthLifeTest, ClientCertificatesMapBySubjectOrCommonName) {
  ClientCertConfig by_cn{"cert:agent-1", "", "agent-1", "agent", ""};
  ClientCertConfig by_subject{"dashboard", "CN=viewer,O=example", "", "reader", ""};
  Authenticator a({}, false, {by_cn, by_subject});
  EXPECT_EQ(a.AuthenticateCert("CN=agent-1,O=anything", "agent-1")->role, "agent");
  EXPECT_EQ(a.AuthenticateCert("CN=viewer,O=example", "viewer")->name, "dashboard");
  EXPECT_FALSE(
      a.AuthenticateCert("CN=viewer,O=other", "viewer").has_value());  // the subject must match whole
  EXPECT_FALSE(a.AuthenticateCert("", "").has_value());
}

TEST(AuthLifeTest, EachPrincipalGetsTheDefaultRateLimitUnlessItSetsItsOwn) {
  TokenConfig plain{"plain", "reader", "", HashToken("plain-secret")};
  TokenConfig bulk{"bulk", "admin", "", HashToken("bulk-secret")};
  bulk.rate_limit = RequestRateLimit{1000, kSecond, 1000};
  TokenConfig unlimited{"unlimited", "admin", "", HashToken("unlimited-secret")};
  unlimited.rate_limit = RequestRateLimit{};  // rate_limit: none
  Authenticator a({plain, bulk, unlimited}, false, {}, RequestRateLimit{10, kSecond, 20});
  ASSERT_EQ(a.Limits().size(), 2u);
  EXPECT_EQ(a.Limits().at("plain").count, 10);
  EXPECT_EQ(a.Limits().at("plain").burst, 20);
  EXPECT_EQ(a.Limits().at("bulk").count, 1000);
  EXPECT_EQ(a.Limits().count("unlimited"), 0u);
}

TEST(AuthLifeTest, ARateLimitAdmitsItsBurstThenSaysHowLongToWait) {
  PrincipalRateLimits limits;
  limits.Configure({{"bot", RequestRateLimit{1, kSecond, 3}}}, 0);
  // Burst 3 at once; the 4th waits exactly one refill (1/s: 1 s).
  for (int i = 0; i < 3; i++) EXPECT_TRUE(limits.Acquire("bot", 0)->allowed()) << i;
  auto denied = limits.Acquire("bot", 0);
  ASSERT_TRUE(denied.has_value());
  EXPECT_FALSE(denied->allowed());
  EXPECT_EQ(denied->retry_after_ns, kSecond);
  EXPECT_TRUE(limits.Acquire("bot", kSecond)->allowed());
  EXPECT_FALSE(limits.Acquire("nobody", 0).has_value());  // no limit: not counted
  EXPECT_EQ(limits.throttled(), 1u);
  EXPECT_EQ(limits.Describe("bot"), "1/s, burst 3");
  // A reload that keeps the limit keeps the bucket's state (no fresh burst); one that drops it drops it.
  limits.Configure({{"bot", RequestRateLimit{1, kSecond, 3}}}, kSecond);
  EXPECT_FALSE(limits.Acquire("bot", kSecond)->allowed());
  limits.Configure({}, kSecond);
  EXPECT_FALSE(limits.Acquire("bot", kSecond).has_value());
}

TEST(AuthLifeTest, FailuresAreAuditedOncePerAddressReasonAndWindowAndBounded) {
  AuthFailureLog log(1000, 2);
  for (int i = 0; i < 50; i++) log.Record("10.0.0.1", "wrong_token", 100);
  log.Record("10.0.0.2", "expired_token: ci", 200);
  log.Record("10.0.0.3", "wrong_token", 300);  // a third key: beyond max_keys, summed apart
  std::vector<AuditEvent> out;
  log.Drain(900, false, &out);  // the window (from 100) has not ended
  EXPECT_TRUE(out.empty());
  log.Drain(1100, false, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].type, "auth_failed");
  EXPECT_EQ(out[0].by, "10.0.0.1");
  EXPECT_EQ(out[0].reason, "wrong_token (50 times)");
  EXPECT_EQ(out[1].by, "10.0.0.2");
  EXPECT_EQ(out[1].reason, "expired_token: ci");
  EXPECT_EQ(out[2].by, "other addresses");
  EXPECT_EQ(out[2].reason, "auth failures");
  EXPECT_EQ(log.total(), 52u);
  out.clear();
  log.Drain(5000, true, &out);
  EXPECT_TRUE(out.empty());  // nothing since
}

TEST(AuthConfigTest, ExpiryRateLimitsClientCertsAndTlsKeys) {
  auto c = ParseServerConfig(
      "auth:\n"
      "  rate_limit: 50/s\n"
      "  tokens:\n"
      "    - {name: a, role: admin, token: a-secret-1, expires: 2030-01-31T00:00:00Z, rate_limit: {rate: "
      "5/m, burst: 2}}\n"
      "    - {name: b, role: reader, token: b-secret-1, expires: 1h, rate_limit: none}\n"
      "  client_certs:\n"
      "    - {cn: agent-1, role: agent}\n"
      "    - {subject: \"CN=w,O=x\", role: writer, tenant: org/w, name: w}\n"
      "tls: {cert: s.crt, key: s.key, client_ca: ca.crt}\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->rate_limit.count, 50);
  EXPECT_EQ(c->rate_limit.burst, 50);
  EXPECT_EQ(c->tokens[0].expires_ms, 1896048000000);  // 2030-01-31T00:00:00Z
  EXPECT_EQ(c->tokens[0].rate_limit->count, 5);
  EXPECT_EQ(c->tokens[0].rate_limit->period_ns, 60 * kSecond);
  EXPECT_EQ(c->tokens[0].rate_limit->burst, 2);
  EXPECT_GT(c->tokens[1].expires_ms, 0);  // an hour from the load
  EXPECT_EQ(c->tokens[1].rate_limit->count, 0);
  ASSERT_EQ(c->client_certs.size(), 2u);
  EXPECT_EQ(c->client_certs[0].name, "cert:agent-1");
  EXPECT_EQ(c->client_certs[1].tenant, "org/w");
  EXPECT_EQ(c->tls.client_ca_file, "ca.crt");

  struct Bad {
    const char* yaml;
    const char* says;
  } bad[] = {
      {"auth: {tokens: [{name: a, role: admin, token: a-secret-1, expires: someday}]}\n",
       "c.yaml:1: auth.tokens[0].expires: expected an RFC 3339 time"},
      {"auth: {rate_limit: 5/fortnight}\n", "c.yaml:1: auth.rate_limit:"},
      {"auth: {client_certs: [{role: agent}]}\n", "auth.client_certs[0]: give either subject"},
      {"auth: {client_certs: [{cn: w, role: writer}]}\n", "a writer certificate needs the tenant subtree"},
      {"tls: {cert: s.crt}\n", "c.yaml:1: tls: give both cert and key"},
      {"tls: {client_ca: ca.crt}\n", "tls.client_ca: client certificates need TLS"},
      {"tls: {cert: a, key: b, ciphers: x}\n", "tls.ciphers: unknown key"},
  };
  for (const auto& b : bad) {
    auto r = ParseServerConfig(b.yaml, "c.yaml");
    ASSERT_FALSE(r.ok()) << b.yaml;
    EXPECT_NE(r.error().message.find(b.says), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace allot::server
