// The throttling API of `allot serve`: rate limits, concurrency pools and circuit breakers over HTTP,
// served through Server::AddRoute on top of the in-process throttle library (include/allot/throttle.h).
//
//   PUT|GET|DELETE /v1/ratelimits/{key}             define {"rate": "5/m", "burst": 5} or {"levels": [...]},
//                                                   state, remove (keys may contain '/': "api/openai")
//   POST /v1/ratelimits/{key}/acquire               {"n": 1, "tenant", "agent", "reservation", "breaker"}
//                                                   -> 200 {"allowed", "retry_after", "remaining", ...}
//   POST /v1/ratelimits:acquire, /v1/ratelimits/acquire   batch: {"requests": [{"key", "n", ...}, ...]}
//   POST|GET /v1/ratelimits/{key}/reservations, DELETE /v1/ratelimits/{key}/reservations/{id}
//   GET /v1/ratelimits (keys), GET /v1/ratelimits/metrics (the throttling families of GET /metrics alone)
//   PUT|GET|DELETE /v1/pools/{key}; POST /v1/pools/{key}/acquire|release|renew; GET /v1/pools
//   PUT|GET /v1/breakers/{key}; POST /v1/breakers/{key}/report|acquire; GET /v1/breakers
//
// Metrics (also part of the server's GET /metrics, through Server::AddMetrics), per key:
//   allot_ratelimit_decisions_total{key,decision=allowed|denied|never},
//   allot_ratelimit_units_allowed_total{key}, allot_ratelimit_breaker_denied_total{key};
//   allot_concurrency_pool_{capacity,in_use,leases}{key},
//   allot_concurrency_pool_decisions_total{key,decision}, ..._lease_expiries_total{key},
//   ..._releases_total{key}; allot_breaker_state{key,state=closed|open|half_open} (1 for the current state, 0
//   for the others), allot_breaker_transitions_total{key,from,to}, allot_breaker_rejected_total{key},
//   allot_breaker_window_requests{key}, allot_breaker_window_failures{key}.
// Audit: every circuit-breaker transition is appended to the server's event log exactly once, as
//   {"type": "breaker", "id": KEY, "reason": "FROM -> TO: WHY", "actor": WHO}: WHO is the token whose
//   report caused it, or "server" for open -> half_open (the cool-down, noticed by the first call or read
//   after it ends).
//
// Definitions come from the config's `throttling:` section at start, then from the definitions file
// `<data dir>/throttle-api.json`, which every successful PUT/DELETE rewrites atomically (so API-made
// definitions survive a restart; with data dir ":memory:" they live in memory only). Bucket, lease and
// breaker STATE is in memory: a restart starts every limiter full and every breaker closed.
//
// Auth (ApiCall role / tenant_scope): admin may do everything; reader may GET; writer may acquire,
// release, renew and report only for tenants in its subtree (a missing tenant means its own subtree);
// agents get 403. Definitions and reservations need admin.
// Thread-safety: its routes may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "allot/result.h"
#include "allot/server.h"

namespace allot::server {

struct ThrottleServiceOptions {
  std::string throttling_yaml;  // the config's `throttling:` section ("" = none)
  std::string data_dir;         // where the definitions file lives; "" or ":memory:" = nowhere
  int max_json_depth = 16;
  size_t max_batch = 1000;      // requests in one batch acquire
  std::function<int64_t()> now_ns;  // Unix ns; default the system clock
  // Where breaker transitions go (durably, in order); empty: to the log (stderr) only.
  std::function<Status(std::vector<AuditEvent>)> audit;
};

class ThrottleService {
 public:
  // Parses the throttling section and the definitions file; errors name the field (and file).
  static Result<std::shared_ptr<ThrottleService>> Create(ThrottleServiceOptions options);
  ~ThrottleService();
  ThrottleService(const ThrottleService&) = delete;
  ThrottleService& operator=(const ThrottleService&) = delete;

  // Adds every route of /v1/ratelimits, /v1/pools and /v1/breakers to `server`'s route table; `self`
  // (this service) is kept alive by the routes.
  static void Mount(Server& server, std::shared_ptr<ThrottleService> self);
  // The Prometheus text of every key's counters and states (audits transitions the reads made).
  std::string MetricsText();

  struct Impl;

 private:
  explicit ThrottleService(std::unique_ptr<Impl> impl);
  // Runs one route of Impl (a throw is answered 400), then audits the breaker transitions it made.
  ApiAnswer Call(ApiAnswer (Impl::*route)(const ApiCall&), const ApiCall& call);
  std::unique_ptr<Impl> impl_;
};

// Builds the service from `config`, mounts its routes and metrics on `server` and audits breaker
// transitions through it. Call before Server::Run().
Status MountThrottleRoutes(Server& server, const ServerConfig& config);

}  // namespace allot::server
