#include "allot/throttle/config.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = kNanosPerSecond;

std::string ErrorOf(std::string_view yaml) {
  auto c = ParseThrottleConfigText(yaml);
  EXPECT_FALSE(c.ok()) << yaml;
  return c.ok() ? "" : c.error().message;
}

TEST(ConfigTest, FullExample) {
  auto c = ParseThrottleConfigText(R"(
ratelimits:
  api/openai: {rate: 500/m, burst: 50}
  api/anthropic:
    levels:
      - {scope: global, rate: 1000/m, burst: 100}
      - {scope: subtree, subtree: org/team, rate: 100/m}
      - {scope: tenant, rate: 50/m, burst: 10}
      - {scope: agent, rate: 100/10s}
      - {scope: global, quota: 10000, per: day, time_zone: Europe/Berlin}
pools:
  db/main: {capacity: 20, ttl: 30s, max_ttl: 1h, per_tenant: 5, tenant_limits: {org/team: 10}}
breakers:
  defaults: {window: 60s, min_requests: 10, failure_rate: 0.25, cooldown: 10s}
  keys: {llm/openai: {cooldown: 5s, half_open_probes: 3}}
degradation:
  margin: 3
  dwell: 1m
  thresholds: {default: [60, 80, 90, 100], ephemeral-storage: {warn: 65, max: 70}}
admission: {initial_limit: 50, target_latency: 250ms, target_queue_depth: 100}
)");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->ratelimits.at("api/openai").size(), 1u);
  EXPECT_EQ(c->ratelimits.at("api/openai")[0].burst, 50);
  const auto& levels = c->ratelimits.at("api/anthropic");
  ASSERT_EQ(levels.size(), 5u);
  EXPECT_EQ(levels[1].scope, Scope::kSubtree);
  EXPECT_EQ(levels[1].subtree, "org/team");
  EXPECT_EQ(levels[1].burst, 0);  // unset: defaults to the count
  EXPECT_EQ(levels[3].rate.period_ns, 10 * kS);
  EXPECT_EQ(levels[4].quota_per_day, 10000);
  EXPECT_EQ(levels[4].time_zone, "Europe/Berlin");
  EXPECT_EQ(c->pools.at("db/main").max_ttl_ns, 3600 * kS);
  EXPECT_EQ(c->pools.at("db/main").tenant_limits.at("org/team"), 10);
  EXPECT_EQ(c->breaker_defaults.failure_rate, 0.25);
  EXPECT_EQ(c->breakers.at("llm/openai").cooldown_ns, 5 * kS);
  EXPECT_EQ(c->breakers.at("llm/openai").min_requests, 10);  // inherited from defaults
  EXPECT_EQ(c->degradation.dwell_ns, 60 * kS);
  EXPECT_EQ(c->degradation.defaults.percent[0], 60);
  EXPECT_EQ(c->degradation.per_resource.at("ephemeral-storage").percent[3], 70);
  EXPECT_EQ(c->admission.target_latency_ns, 250'000'000);
  // The levels are accepted by the table as they are.
  RateLimitTable t;
  EXPECT_TRUE(t.Define("api/anthropic", levels, 0).ok());
}

TEST(ConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf("ratelimits:\n  k: {rate: 5/m, burst: 0}\n"),
            "ratelimits.k.burst (line 2): must be a positive integer, got 0");
  EXPECT_EQ(ErrorOf("ratelimits:\n  k: {rate: 5/m, burst: -2}\n"),
            "ratelimits.k.burst (line 2): must be a positive integer, got -2");
  EXPECT_NE(ErrorOf("ratelimits:\n  k: {rate: 0/m}\n").find("ratelimits.k.rate (line 2): rate \"0/m\": count"),
            std::string::npos);
  EXPECT_NE(ErrorOf("ratelimits:\n  k: {rate: 5/fortnight}\n").find("unknown unit \"fortnight\""), std::string::npos);
  EXPECT_NE(ErrorOf("ratelimits:\n  k: {rate: 5/m, brust: 5}\n").find("ratelimits.k.brust (line 2): unknown key"),
            std::string::npos);
  EXPECT_NE(ErrorOf("ratelimits:\n  k:\n    levels:\n      - {scope: planet, rate: 1/s}\n")
                .find("ratelimits.k.levels[0].scope (line 4)"),
            std::string::npos);
  EXPECT_NE(ErrorOf("ratelimits:\n  k:\n    levels:\n      - {scope: subtree, rate: 1/s}\n")
                .find("levels[0].subtree"),
            std::string::npos);
  EXPECT_NE(ErrorOf("ratelimits:\n  k: {rate: 1/s, quota: 5}\n").find("exactly one of rate or quota"),
            std::string::npos);
  EXPECT_NE(ErrorOf("ratelimits:\n  k: {quota: 5, per: week}\n").find("ratelimits.k.per"), std::string::npos);
  EXPECT_NE(ErrorOf("pools:\n  p: {capacity: 0}\n").find("pools.p.capacity"), std::string::npos);
  EXPECT_NE(ErrorOf("pools:\n  p: {capacity: 3, ttl: soon}\n").find("pools.p.ttl"), std::string::npos);
  EXPECT_NE(ErrorOf("pools:\n  p: {ttl: 3s}\n").find("pools.p.capacity"), std::string::npos);
  EXPECT_NE(ErrorOf("breakers:\n  defaults: {failure_rate: 2}\n").find("breakers.defaults.failure_rate"),
            std::string::npos);
  EXPECT_NE(ErrorOf("degradation:\n  thresholds: {cpu: [90, 80, 95, 100]}\n").find("degradation.thresholds.cpu"),
            std::string::npos);
  EXPECT_NE(ErrorOf("admission: {decrease_factor: 1.5}\n").find("admission.decrease_factor"), std::string::npos);
  EXPECT_NE(ErrorOf("ratelimit: {}\n").find("ratelimit"), std::string::npos);  // a typo'd section
  EXPECT_NE(ErrorOf("ratelimits: [\n").find("line"), std::string::npos);      // YAML syntax
}

TEST(ConfigTest, JsonBodyOfPutRatelimit) {
  // The HTTP body of PUT /v1/ratelimits/{key} is JSON, which YAML reads as it is.
  auto spec = ParseRateLimitNode(YAML::Load(R"({"rate": "5/m", "burst": 5})"), "body");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->at(0).rate.count, 5);
  EXPECT_EQ(spec->at(0).burst, 5);
  auto bad = ParseRateLimitNode(YAML::Load(R"({"rate": "5/m", "burst": "lots"})"), "body");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "body.burst (line 1): must be an integer, got \"lots\"");
  EXPECT_FALSE(ParseRateLimitNode(YAML::Load("[1, 2]"), "body").ok());
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(*ParseDuration("30s"), 30 * kS);
  EXPECT_EQ(*ParseDuration("1.5s"), 1'500'000'000);
  EXPECT_EQ(*ParseDuration("100ms"), 100'000'000);
  EXPECT_EQ(*ParseDuration("2h"), 7200 * kS);
  EXPECT_EQ(*ParseDuration("45"), 45 * kS);
  EXPECT_FALSE(ParseDuration("0s").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("5 parsecs").ok());
}

}  // namespace
}  // namespace allot::throttle
