// Reading throttling settings from YAML (yaml-cpp) nodes; JSON bodies parse the same way
// (YAML::Load reads JSON), so the server can use these for `PUT /v1/ratelimits/{key}` too.
//
// Every error names the field by its path and the line, e.g.
//   ratelimits.api/openai.levels[1].burst (line 7): must be a positive integer, got 0
// Unknown keys are errors (a typo must not silently fall back to a default). No exception escapes.
//
// Format (all sections optional):
//   ratelimits:
//     api/openai: {rate: 500/m, burst: 50}                 # one global level
//     api/anthropic:
//       levels:
//         - {scope: global, rate: 1000/m, burst: 100}
//         - {scope: subtree, subtree: org/team, rate: 100/m}
//         - {scope: tenant, rate: 50/m, burst: 10}         # one bucket per tenant
//         - {scope: agent, rate: 10/m}                     # one bucket per agent
//         - {scope: global, quota: 10000, per: day, time_zone: Europe/Berlin}
//   pools:
//     db/main: {capacity: 20, ttl: 30s, max_ttl: 1h, per_tenant: 5, tenant_limits: {org/team: 10}}
//   breakers:
//     defaults: {window: 60s, buckets: 10, min_requests: 20, failure_rate: 0.5, consecutive_failures: 5,
//                slow_call: 2s, cooldown: 30s, half_open_probes: 1, close_after_successes: 1}
//     keys: {llm/openai: {cooldown: 10s}}                  # per key, over the defaults
//   degradation:
//     margin: 5
//     dwell: 30s
//     scale: [1, 1, 0.5, 0.25, 0]
//     thresholds: {default: [70, 85, 95, 100], ephemeral-storage: {warn: 65, max: 70}}
//   admission: {initial_limit: 100, min_limit: 1, max_limit: 10000, increase: 1, decrease_factor: 0.5,
//               target_latency: 100ms, target_queue_depth: 0, interval: 1s}
// Durations: a number of seconds, or a number with ns, us, ms, s, m, h, d ("1.5s", "100ms").
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "allot/result.h"
#include "allot/throttle/breaker.h"
#include "allot/throttle/degradation.h"
#include "allot/throttle/pool.h"
#include "allot/throttle/ratelimit.h"

namespace allot::throttle {

struct ThrottleConfig {
  std::map<std::string, std::vector<LimitSpec>> ratelimits;
  std::map<std::string, PoolOptions> pools;
  BreakerOptions breaker_defaults;
  std::map<std::string, BreakerOptions> breakers;
  // Reports on keys that are neither declared here nor a rate limit or pool create breakers only while
  // fewer than this many such keys have one (0: never); past it a report answers 429.
  size_t max_dynamic_breakers = 100;
  DegradationOptions degradation = DegradationOptions::Defaults();
  AimdOptions admission;
};

// "30s", "100ms", "1.5h", "1m30s", "45" (seconds) -> nanoseconds, through allot/duration.h. Positive only.
Result<int64_t> ParseDuration(std::string_view text);

// One key's limits: {rate, burst} or {quota, per, time_zone} or {levels: [...]}. `where` prefixes errors.
Result<std::vector<LimitSpec>> ParseRateLimitNode(const YAML::Node& node, std::string_view where);
Result<PoolOptions> ParsePoolNode(const YAML::Node& node, std::string_view where);
// Fields not in the node keep the values of `base`.
Result<BreakerOptions> ParseBreakerNode(const YAML::Node& node, std::string_view where, BreakerOptions base = {});
Result<DegradationOptions> ParseDegradationNode(const YAML::Node& node, std::string_view where);
Result<AimdOptions> ParseAimdNode(const YAML::Node& node, std::string_view where);
// A whole config (the sections above at the top of `root`).
Result<ThrottleConfig> ParseThrottleConfig(const YAML::Node& root);
// Parses YAML/JSON text first; syntax errors name the line.
Result<ThrottleConfig> ParseThrottleConfigText(std::string_view text);

}  // namespace allot::throttle
