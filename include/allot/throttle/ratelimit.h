// Hierarchical rate limits and calendar quotas by key, with reservations of future rate.
//
// A key ("api/openai") carries one or more levels, each a GCRA rate or a daily calendar quota, and each
// with a scope: one global bucket; one bucket shared by a tenant subtree ("org/team" covers
// "org/team" and "org/team/..."); one bucket per tenant; or one bucket per agent. A request is allowed
// only if every level that applies to it allows; then all of them are consumed at once, and on a
// denial none is (all-or-nothing). A denial's retry_after is the largest of the denying levels' exact
// waits (each level's allowance only grows with time, so at that instant all of them allow, barring
// other traffic). n larger than some level's burst or quota answers Verdict::kNever.
//
// A reservation books part of a shared level's rate for one holder (a workflow) over [start, end):
// while it is active the shared bucket runs at the level's rate minus all active reservations, and
// requests that name the reservation draw from their own bucket first, then from the shared one.
//
// Time is injected (every call takes now_ns). Thread-safety: all methods lock one internal mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "allot/throttle/quota.h"
#include "allot/throttle/rate.h"

namespace allot::throttle {

enum class Scope : uint8_t {
  kGlobal,     // one bucket for the key
  kSubtree,    // one bucket shared by the tenants under `subtree`
  kPerTenant,  // one bucket per tenant (under `subtree` when set)
  kPerAgent,   // one bucket per agent (whose tenant is under `subtree` when set)
};
const char* ScopeName(Scope s);  // "global", "subtree", "tenant", "agent"
Result<Scope> ParseScope(std::string_view text);

struct LimitSpec {
  Scope scope = Scope::kGlobal;
  std::string subtree;  // kSubtree: required; others: optional restriction ("" = every tenant)
  // A GCRA rate, or (quota_per_day > 0) a calendar quota per local day.
  Rate rate;
  int64_t burst = 0;          // rate only; 0 = rate.count
  int64_t quota_per_day = 0;  // > 0 makes this level a calendar quota
  std::string time_zone = "UTC";

  bool is_quota() const { return quota_per_day > 0; }
  // "global", "subtree org/team", "tenant", "agent", with " quota" for calendar quotas.
  std::string Label() const;
};

struct AcquireRequest {
  std::string_view key;
  int64_t n = 1;
  std::string_view tenant;       // "org/team/x"; "" = anonymous (one shared per-tenant bucket)
  std::string_view agent;        // "" = anonymous (one shared per-agent bucket)
  std::string_view reservation;  // optional reservation id on this key
};

struct RateDecision {
  Verdict verdict = Verdict::kDenied;
  int64_t remaining = 0;       // smallest remaining over the levels that applied
  int64_t retry_after_ns = 0;  // kDenied only
  int64_t reset_after_ns = 0;  // largest over the levels
  std::string limited_by;      // label of the level that denied (the one with the longest wait)
  bool from_reservation = false;  // the reserved bucket paid for it

  bool allowed() const { return verdict == Verdict::kAllowed; }
  double retry_after_s() const { return static_cast<double>(retry_after_ns) / kNanosPerSecond; }
};

struct Reservation {
  std::string id;
  std::string key;
  size_t level = 0;  // index into the key's levels; must be a shared (global or subtree) rate level
  Rate rate;
  int64_t burst = 0;  // 0 = rate.count
  int64_t start_ns = 0;
  int64_t end_ns = INT64_MAX;
};

struct KeyStats {
  uint64_t allowed = 0, denied = 0, never = 0;
  uint64_t units_allowed = 0;
};

class RateLimitTable {
 public:
  explicit RateLimitTable(std::string zoneinfo_root = "/usr/share/zoneinfo");
  ~RateLimitTable();
  RateLimitTable(const RateLimitTable&) = delete;
  RateLimitTable& operator=(const RateLimitTable&) = delete;

  // Defines or replaces the levels of `key`. Replacing keeps what was used at levels whose scope,
  // subtree and kind are unchanged. Errors name the level and field ("levels[1].burst: ...").
  Status Define(std::string_view key, std::vector<LimitSpec> levels, int64_t now_ns);
  // Removes a key and its reservations. NotFound if unknown.
  Status Remove(std::string_view key);
  bool Has(std::string_view key) const;
  std::vector<std::string> Keys() const;
  Result<std::vector<LimitSpec>> Levels(std::string_view key) const;

  // Decides and, when allowed, consumes at every level (all or nothing). Errors (not decisions):
  // unknown key (NotFound), n < 1 or an unknown reservation (InvalidArgument).
  Result<RateDecision> Acquire(int64_t now_ns, const AcquireRequest& req);
  // What Acquire would answer, consuming nothing.
  Result<RateDecision> Peek(int64_t now_ns, const AcquireRequest& req);
  // Independent decisions, in order, under one lock.
  std::vector<Result<RateDecision>> AcquireBatch(int64_t now_ns, std::span<const AcquireRequest> reqs);

  // Books a reservation. Errors: unknown key/level, a level that is not a shared rate, an id in use,
  // end <= start, or reservations that would leave the level no shared rate during their overlap
  // (ResourceExhausted).
  Status Reserve(int64_t now_ns, Reservation r);
  Status CancelReservation(int64_t now_ns, std::string_view id);
  std::vector<Reservation> Reservations() const;
  // The shared rate of a level at now_ns (its rate minus the active reservations).
  Result<Rate> EffectiveRate(int64_t now_ns, std::string_view key, size_t level);

  Result<KeyStats> Stats(std::string_view key) const;
  // Drops per-tenant and per-agent buckets that are full (indistinguishable from fresh ones) and
  // reservations that ended; returns how many buckets went.
  size_t Sweep(int64_t now_ns);

  struct Entry;        // internal
  struct Reserved;     // internal

 private:
  Result<RateDecision> Decide(int64_t now_ns, const AcquireRequest& req, bool consume);
  void RefreshReservations(int64_t now_ns, Entry& e, size_t level);
  // Open-addressing index over entries_ for the hot path (one probe, no node chasing).
  Entry* FindFast(std::string_view key) const;
  void IndexPut(Entry* e);
  void IndexRebuild();

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::mutex mu_;
  std::string zoneinfo_root_;
  std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> zones_;
  std::unordered_map<std::string, std::unique_ptr<Entry>, Hash, std::equal_to<>> entries_;
  std::map<std::string, std::unique_ptr<Reserved>, std::less<>> reservations_;
  struct Slot {
    size_t hash = 0;
    Entry* entry = nullptr;  // nullptr: empty
  };
  std::vector<Slot> index_;  // size a power of two, at most half full
  size_t index_used_ = 0;
};

// Whether tenant path `tenant` lies in `subtree` ("org/team" holds "org/team" and "org/team/a").
bool InSubtree(std::string_view tenant, std::string_view subtree);
// Checks a key or tenant path: 1-253 characters of [A-Za-z0-9._:-] and non-empty '/'-separated parts.
Status ValidateName(std::string_view what, std::string_view name);

}  // namespace allot::throttle
