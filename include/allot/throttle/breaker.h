// Circuit breakers per downstream key.
//
// Clients report each call's outcome (success/failure and latency; a call slower than
// slow_call_ns counts as a failure when that is set). States:
//   closed    -> open       when, over the rolling window, at least min_requests calls were seen and the
//                           failure ratio >= failure_rate, or after consecutive_failures failures in a row;
//   open      -> half-open  once cooldown_ns has passed (checked lazily on every call);
//   half-open               admits at most half_open_probes calls in flight;
//   half-open -> closed     after close_after_successes successes; -> open again on any failure.
// Every transition is appended to a bounded log and counted per edge (from, to) for metrics; a BreakerSet
// also queues each one exactly once for TakeTransitions (the server's audit log), including the lazy
// open -> half-open that a read notices. Time is injected; a clock that goes backwards restarts the
// cool-down from the earlier time rather than shortening it.
// Thread-safety: CircuitBreaker is not synchronised; BreakerSet locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "allot/result.h"
#include "allot/throttle/rate.h"

namespace allot::throttle {

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
const char* BreakerStateName(BreakerState s);  // "closed", "open", "half_open"

struct BreakerOptions {
  int64_t window_ns = 60 * kNanosPerSecond;  // rolling window for the failure rate
  int32_t window_buckets = 10;               // its resolution
  int64_t min_requests = 20;                 // no rate trip below this many calls in the window
  double failure_rate = 0.5;                 // (0, 1]
  int64_t consecutive_failures = 5;          // 0 = off
  int64_t slow_call_ns = 0;                  // 0 = latency never counts as failure
  int64_t cooldown_ns = 30 * kNanosPerSecond;
  int64_t half_open_probes = 1;              // concurrent probes while half-open
  int64_t close_after_successes = 1;         // successes in half-open that close the breaker
  size_t max_transitions = 256;              // kept in the log
};
// Checks ranges; errors name the field.
Status ValidateBreakerOptions(const BreakerOptions& o);

struct BreakerTransition {
  int64_t at_ns = 0;
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  // Why: "failure rate 0.60 over 20 calls >= 0.50", "5 consecutive failures", "cool-down 30s elapsed",
  // "3 probe successes", "probe failed".
  std::string reason;
};

struct BreakerDecision {
  bool allowed = false;
  BreakerState state = BreakerState::kClosed;
  int64_t retry_after_ns = 0;  // open: until half-open; half-open and full: 0 (depends on probes)
  std::string reason;          // why denied
};

struct BreakerSnapshot {
  BreakerState state = BreakerState::kClosed;
  int64_t window_requests = 0, window_failures = 0;
  int64_t consecutive_failures = 0;
  int64_t probes_in_flight = 0, half_open_successes = 0;
  uint64_t transitions_total = 0;
  uint64_t transitions[3][3] = {};  // by [from][to], indexed by BreakerState
  uint64_t rejected_total = 0;
};

class CircuitBreaker {
 public:
  // REQUIRES: ValidateBreakerOptions(o).ok().
  explicit CircuitBreaker(BreakerOptions o);

  // May a call go out now? In half-open an allowed call takes a probe slot that its Record returns.
  BreakerDecision Allow(int64_t now_ns);
  // Reports a finished call. latency_ns < 0 means unknown.
  void Record(int64_t now_ns, bool success, int64_t latency_ns = -1);

  BreakerState State(int64_t now_ns);  // applies a due open -> half-open first
  BreakerSnapshot Snapshot(int64_t now_ns);
  const std::deque<BreakerTransition>& transitions() const { return transitions_; }
  uint64_t transitions_total() const { return transitions_total_; }
  const BreakerOptions& options() const { return o_; }

 private:
  struct Bucket {
    int64_t start_ns = INT64_MIN;
    int64_t requests = 0, failures = 0;
  };
  void Tick(int64_t now_ns);
  void To(int64_t now_ns, BreakerState s, std::string reason);
  void Window(int64_t now_ns, int64_t* requests, int64_t* failures) const;

  BreakerOptions o_;
  BreakerState state_ = BreakerState::kClosed;
  std::vector<Bucket> buckets_;
  int64_t last_ns_ = INT64_MIN;
  int64_t consecutive_ = 0;
  int64_t opened_ns_ = 0;
  int64_t probes_ = 0, probe_successes_ = 0;
  uint64_t transitions_total_ = 0, rejected_total_ = 0;
  uint64_t edges_[3][3] = {};
  std::deque<BreakerTransition> transitions_;
};

// Breakers by downstream key, all sharing one set of options unless a key has its own. Locked.
class BreakerSet {
 public:
  explicit BreakerSet(BreakerOptions defaults) : defaults_(std::move(defaults)) {}
  Status Configure(std::string_view key, BreakerOptions o);
  BreakerDecision Allow(int64_t now_ns, std::string_view key);
  void Record(int64_t now_ns, std::string_view key, bool success, int64_t latency_ns = -1);
  BreakerSnapshot Snapshot(int64_t now_ns, std::string_view key);
  // Transitions of every key at or after since_ns, ordered by time: (key, transition).
  std::vector<std::pair<std::string, BreakerTransition>> TransitionsSince(int64_t since_ns) const;
  std::vector<std::string> Keys() const;
  // Every transition since the previous call (of any key, in the order they happened), each returned
  // exactly once. At most kMaxPending are kept between calls; older ones are dropped and counted.
  std::vector<std::pair<std::string, BreakerTransition>> TakeTransitions();
  uint64_t dropped_transitions() const;
  bool has_pending_transitions() const { return has_pending_.load(std::memory_order_acquire); }  // lock-free
  static constexpr size_t kMaxPending = 4096;

 private:
  using Map = std::map<std::string, CircuitBreaker, std::less<>>;
  Map::iterator Get(std::string_view key);
  // Queues the transitions `it` made since its count was `before`. REQUIRES: mu_ held.
  void Queue(Map::iterator it, uint64_t before);
  mutable std::mutex mu_;
  BreakerOptions defaults_;
  Map breakers_;
  std::deque<std::pair<std::string, BreakerTransition>> pending_;
  std::atomic<bool> has_pending_{false};
  uint64_t dropped_ = 0;
};

}  // namespace allot::throttle
