// ThrottleService::Impl: the state behind the throttling API (rate-limit table, concurrency pools,
// circuit breakers, the definitions made through the API) and its routes, one file per family under
// src/server/api/ (ratelimits.cc, pools.cc, breakers.cc); throttle_service.cc loads the config, keeps
// the definitions file, audits breaker transitions and writes the metrics.
// Thread-safety: every route may run on any number of threads at once; each part has its own lock.
#pragma once

#include "server/throttle_routes.h"
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <yaml-cpp/yaml.h>
#include "allot/throttle.h"
#include "allot/utf8.h"
#include "server/metrics.h"
#include "server/util.h"
#include "server/throttle_routes.h"

namespace allot::server {

namespace th = allot::throttle;

struct ThrottleService::Impl {
  // Helpers of every route (throttle_service.cc).
  static int64_t SystemNowNs();
  static double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }
  static ApiAnswer Answer(int status, const Json& body) { return {status, Dump(body), {}}; }
  static ApiAnswer Fail(const ApiError& e) { return {e.status, ErrorBody(e), {}}; }
  static ApiAnswer Forbidden(const std::string& msg) { return Fail({403, "permission_denied", msg, ""}); }
  static ApiAnswer NotFoundAnswer(const std::string& field, const std::string& msg);
  // A library error as an answer: InvalidArgument -> 422 with the field its message starts with.
  static ApiError FromLibrary(const Error& e);
  // A config-parser message without its " (line N)" (a JSON body is one line) or leading ": ".
  static std::string CleanMessage(std::string m);
  static ApiError FromParser(const Error& e);
  // JSON text -> YAML node for the library's parsers (YAML reads JSON). REQUIRES: `body` parsed as JSON.
  static std::optional<ApiError> ToYaml(const std::string& body, YAML::Node* out);
  // Path segments that name actions; a key may not use them as a segment, so paths stay unambiguous.
  static bool ReservedSegment(std::string_view s);
  static std::optional<ApiError> ValidateKey(const std::string& key, const char* what);
  // Optional integer field (>= min). Errors name the field.
  static std::optional<ApiError> GetInt(const Json& obj, const char* key, int64_t min, int64_t* out);
  static Json LevelJson(const th::LimitSpec& l);
  static Json LeaseJson(const th::Lease& l);
  ThrottleServiceOptions opt;
  th::RateLimitTable table;

  // Definitions as given (JSON), for GET and the definitions file. Guarded by defs_mu.
  std::mutex defs_mu;
  std::map<std::string, Json> api_ratelimits, api_pools, api_breakers;  // PUT through the API
  std::set<std::string> deleted_ratelimits, deleted_pools;              // config keys the API removed

  struct PoolEntry {
    std::mutex mu;
    th::ConcurrencyPool pool;
    th::PoolOptions options;
    struct LeaseOwner {
      std::string tenant, holder;
    };
    std::unordered_map<uint64_t, LeaseOwner> owners;  // live leases (auth checks, release by holder)
    uint64_t allowed = 0, denied = 0, never = 0, expired = 0, released = 0;
    explicit PoolEntry(th::ConcurrencyPool p, th::PoolOptions o) : pool(std::move(p)), options(std::move(o)) {}
  };
  std::shared_mutex pools_mu;
  std::map<std::string, std::shared_ptr<PoolEntry>, std::less<>> pools;

  std::unique_ptr<th::BreakerSet> breakers_owner = std::make_unique<th::BreakerSet>(th::BreakerOptions{});
  th::BreakerOptions breaker_defaults;
  std::shared_mutex breaker_keys_mu;
  std::unordered_set<std::string> breaker_keys;  // keys that have a breaker
  size_t dynamic_breakers = 0;                    // of them, created by reports on undeclared keys
  size_t max_dynamic_breakers = 100;              // throttling.breakers.max_dynamic
  std::atomic<bool> any_breaker{false};
  std::mutex breaker_acquire_mu;  // serialises peek-probe-acquire on keys with a breaker
  std::mutex breaker_denied_mu;
  std::map<std::string, uint64_t> breaker_denied;  // ratelimit acquires refused by a breaker, per key
  // Held from a report's Record to the audit of what it changed, so its transitions carry its actor and
  // the audit log keeps the order in which transitions happened.
  std::mutex audit_mu;

  struct AcquireOutcome {
    int status = 200;
    Json body;
  };

  std::string Metrics();

  int64_t Now() const { return opt.now_ns(); }

  th::BreakerSet& breakers() { return *breakers_owner; }

  // Audits the breaker transitions not audited yet: open -> half_open (the cool-down) as "server"'s,
  // any other (only reports make them) as `actor`'s; one log line each. REQUIRES: audit_mu held.
  void AuditTransitionsLocked(const std::string& actor);

  // After any call that may have read a breaker (a read notices a finished cool-down).
  void AuditTransitions();

  std::string DefsPath() const;

  // Rewrites the definitions file (temp file, fsync, rename). REQUIRES: defs_mu held.
  Status SaveDefs();

  Status LoadConfig();

  // Each Define* validates and applies `body`; `save` records it in the definitions file.
  std::optional<ApiError> DefineRateLimit(const std::string& key, const Json& body, bool save);

  std::optional<ApiError> DefinePool(const std::string& key, const Json& body, bool save);

  std::optional<ApiError> DefineBreaker(const std::string& key, const Json& body, bool save);

  void MarkBreaker(const std::string& key);

  // A report may create the breaker of a key only when the key is declared (throttling.breakers.keys),
  // names a rate limit or a pool (whose acquires the breaker guards), or while fewer than
  // throttling.breakers.max_dynamic other keys have one; nullopt = admitted (and marked).
  std::optional<ApiAnswer> AdmitBreaker(const std::string& key);

  bool HasBreaker(std::string_view key);

  // Resolves the tenant a caller acts for; nullopt = allowed, else the refusal.
  std::optional<ApiAnswer> ActFor(const ApiCall& c, std::string* tenant);

  static std::optional<ApiAnswer> AdminOnly(const ApiCall& c, const char* what);

  // One acquire; `item` is the request object (from a single call or one batch entry).
  AcquireOutcome AcquireOne(const ApiCall& c, const std::string& key, const Json& item, bool batch);
  // The answer to a decision (or its error) on `key` for n units; breaker_json: the key's breaker state.
  static AcquireOutcome Outcome(const std::string& key, int64_t n, const Result<th::RateDecision>& d,
                                const Json& breaker_json);
  // An allowed or denied decision's answer as text: the same text as Dump of Outcome's body for it (keys
  // in order, numbers as Dump writes them), written without building that object (the single acquire).
  static std::string DecisionText(const std::string& key, const th::RateDecision& d);

  ApiAnswer GetRateLimit(const ApiCall& c) { return RateLimitState(c.Param("key"), c); }

  ApiAnswer ReserveRateLimit(const ApiCall& c) { return Reserve(c.Param("key"), c); }

  ApiAnswer RateLimitState(const std::string& key, const ApiCall& c);

  Json ReservationJson(const th::Reservation& r, int64_t now);

  ApiAnswer Reserve(const std::string& key, const ApiCall& c);

  ApiAnswer ListRateLimits(const ApiCall&);

  ApiAnswer RateLimitMetrics(const ApiCall& c);

  ApiAnswer AcquireRateLimit(const ApiCall& c);

  ApiAnswer ListRateLimitReservations(const ApiCall& c);

  ApiAnswer CancelRateLimitReservation(const ApiCall& c);

  ApiAnswer PutRateLimit(const ApiCall& c);

  ApiAnswer DeleteRateLimit(const ApiCall& c);

  ApiAnswer Batch(const ApiCall& c);

  std::shared_ptr<PoolEntry> FindPool(const std::string& key);

  // Expires due leases. REQUIRES: e.mu held.
  static void ExpirePool(PoolEntry& e, int64_t now);

  Json PoolState(PoolEntry& e, const std::string& key, int64_t now, bool with_leases, const ApiCall& c);

  std::optional<ApiError> LeaseIdOf(const Json& b, uint64_t* id);

  ApiAnswer ListPools(const ApiCall& c);

  ApiAnswer PutPool(const ApiCall& c);

  ApiAnswer GetPool(const ApiCall& c);

  ApiAnswer DeletePool(const ApiCall& c);

  ApiAnswer AcquirePool(const ApiCall& c) { return PoolAction(c, c.Param("key"), "acquire"); }

  ApiAnswer ReleasePool(const ApiCall& c) { return PoolAction(c, c.Param("key"), "release"); }

  ApiAnswer RenewPool(const ApiCall& c) { return PoolAction(c, c.Param("key"), "renew"); }

  ApiAnswer PoolAction(const ApiCall& c, const std::string& key, const std::string& action);

  Json BreakerJson(const std::string& key, int64_t now);

  ApiAnswer ListBreakers(const ApiCall&);

  ApiAnswer ReportBreaker(const ApiCall& c);

  ApiAnswer AcquireBreaker(const ApiCall& c);

  ApiAnswer GetBreaker(const ApiCall& c);

  ApiAnswer PutBreaker(const ApiCall& c);
};

}  // namespace allot::server
