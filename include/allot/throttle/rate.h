// Rates and the GCRA (generic cell rate algorithm) limiter: the exact core of every rate limit.
//
// A Rate is `count` units per `period_ns`. A GcraLimiter with rate r and burst b behaves like a token
// bucket of capacity b refilled at r, stored as one "theoretical arrival time" (TAT). Arithmetic is
// exact: time is kept in ticks of 1/count nanosecond (int128), so one unit costs exactly period_ns
// ticks and no rounding happens until a duration is reported, which is rounded UP to whole
// nanoseconds (retrying after retry_after_ns is therefore always allowed, one nanosecond earlier never).
// Semantics match the Redis GCRA peer (rate 1/s, burst 5: 5 of 20 instant calls pass, 2 more 2.1 s later).
//
// Time is injected: every call takes `now_ns` (any epoch, normally Unix ns). A clock that jumps
// backwards never grants tokens: the limiter shifts its state by the jump, so it holds exactly what it
// held at the latest time it saw, and accrues from there.
// Thread-safety: GcraLimiter is a plain value, not synchronised; RateLimitTable (ratelimit.h) locks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "allot/result.h"

namespace allot::throttle {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
// Bounds that keep the int128 arithmetic far from overflow (a rate of 1e12/period is absurd anyway).
inline constexpr int64_t kMaxRateCount = 1'000'000'000'000;
inline constexpr int64_t kMaxPeriodNs = 366LL * 86400 * kNanosPerSecond;
inline constexpr int64_t kMaxBurst = 1'000'000'000'000'000;

struct Rate {
  int64_t count = 0;      // units per period, >= 1
  int64_t period_ns = 0;  // >= 1
};

// Parses "5/m", "100/10s", "1000/h", "20/d", "3/500ms". Units: ms, s, m, h, d (also sec, min, hour,
// day and their plurals). The count is a positive integer; the period an optional positive integer
// followed by a unit. Errors name the text and what is wrong with it.
Result<Rate> ParseRate(std::string_view text);
// The rate in the shortest form ParseRate reads back ("5/m", "100/10s").
std::string FormatRate(Rate rate);
// Checks count and period are within bounds.
Status ValidateRate(Rate rate);
// Sign of a - b comparing units per time exactly (cross-multiplied in int128).
int CompareRates(Rate a, Rate b);
// Units per second as a double (for display and metrics).
double UnitsPerSecond(Rate rate);

enum class Verdict : uint8_t {
  kAllowed,  // admitted and consumed
  kDenied,   // not now; allowed after retry_after_ns if nothing else consumes meanwhile
  kNever,    // can never be admitted (n exceeds the burst or the quota): do not retry
};
const char* VerdictName(Verdict v);  // "allowed", "denied", "never"

struct Decision {
  Verdict verdict = Verdict::kDenied;
  // Whole units that could be taken right now (after this decision's own consumption when allowed).
  int64_t remaining = 0;
  // kDenied: exact wait (rounded up to the ns) until the same request would be allowed. Else 0.
  int64_t retry_after_ns = 0;
  // Time until the limiter would be completely full again (0 when full).
  int64_t reset_after_ns = 0;

  bool allowed() const { return verdict == Verdict::kAllowed; }
  double retry_after_s() const { return static_cast<double>(retry_after_ns) / kNanosPerSecond; }
  double reset_after_s() const { return static_cast<double>(reset_after_ns) / kNanosPerSecond; }
};

class GcraLimiter {
 public:
  // A full limiter (burst units available at once). REQUIRES: ValidateRate(rate).ok(), 1 <= burst <= kMaxBurst.
  GcraLimiter(Rate rate, int64_t burst);
  static Result<GcraLimiter> Create(Rate rate, int64_t burst);

  // Decides for n units at now_ns and consumes them when allowed. REQUIRES: n >= 1.
  Decision Acquire(int64_t now_ns, int64_t n = 1);
  // Phase one of an all-or-nothing decision across several limiters: what Acquire would answer,
  // consuming nothing (it may absorb a backwards clock jump, which changes no capacity).
  Decision Check(int64_t now_ns, int64_t n);
  // Phase two: consumes n at now_ns. REQUIRES: Check(now_ns, n) answered allowed, nothing in between.
  void Commit(int64_t now_ns, int64_t n);

  // Changes rate and burst keeping the units already used (rounded towards more used, so a change
  // never grants extra units beyond the new burst).
  void Reconfigure(int64_t now_ns, Rate rate, int64_t burst);

  // Whole units available at now_ns without consuming anything.
  int64_t Available(int64_t now_ns) const;
  // True when the limiter is full at now_ns (its state equals a fresh limiter's and may be dropped).
  bool IsFull(int64_t now_ns) const;

  Rate rate() const { return rate_; }
  int64_t burst() const { return burst_; }

 private:
  void AbsorbBackwardJump(int64_t now_ns);

  Rate rate_;
  int64_t burst_;
  __int128 tat_ = 0;      // theoretical arrival time, in ticks of 1/rate_.count ns
  int64_t last_ns_ = INT64_MIN;  // latest time seen
};

}  // namespace allot::throttle
