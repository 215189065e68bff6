// What the server does around authentication: every failure goes to the audit log, aggregated so that a
// flood cannot fill it (AuthFailureLog), and each principal's requests pass its rate limit
// (PrincipalRateLimits: a GCRA bucket per principal name, the throttle library's limiter; the anchor is
// Slurm's RPC rate limiting, which refills a per-user bucket and answers the excess "try again later").
// Thread-safety: both lock an internal mutex; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "allot/server.h"
#include "allot/store.h"
#include "allot/throttle/rate.h"

namespace allot::server {

// Auth failures counted per (client address, reason, token name) and written as one audit event
// (type `auth_failed`) per key and window of `window_ms`: reason "wrong_token", "expired_token: ci",
// ..., with the count, and `by` the client address. Never the secret. At most `max_keys` keys per window
// are kept apart; failures beyond them are summed into one event with `by` "other addresses".
class AuthFailureLog {
 public:
  explicit AuthFailureLog(int64_t window_ms = 1000, size_t max_keys = 100)
      : window_ms_(window_ms), max_keys_(max_keys) {}
  void Record(const std::string& address, const std::string& reason, int64_t now_ms);
  // Appends the events of windows that ended by `now_ms` (all of them with `flush`) to *out.
  void Drain(int64_t now_ms, bool flush, std::vector<AuditEvent>* out);
  uint64_t total() const;  // failures recorded so far

 private:
  const int64_t window_ms_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  int64_t window_start_ = 0;                                        // 0: no window open
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;  // (address, reason) -> failures
  uint64_t overflow_ = 0;                                           // failures beyond max_keys_
  uint64_t total_ = 0;
};

// One GCRA bucket per principal name that has a limit.
class PrincipalRateLimits {
 public:
  // Sets the limits by principal name; buckets of names that keep a limit keep their state (their rate
  // and burst are updated), the others are dropped.
  void Configure(const std::map<std::string, RequestRateLimit>& limits, int64_t now_ns);
  // The decision for one request of `name` at `now_ns`; nullopt when the name has no limit.
  std::optional<throttle::Decision> Acquire(const std::string& name, int64_t now_ns);
  // The limit of `name` in the form the config takes ("100/s, burst 200"); "" without one.
  std::string Describe(const std::string& name) const;
  uint64_t throttled() const;  // requests refused so far

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, throttle::GcraLimiter> buckets_;
  uint64_t throttled_ = 0;
};

}  // namespace allot::server
