// Concurrency pools: counted resources that are held, not consumed (database connections, GPU slots,
// licences).
//
// Acquire takes n units under a lease with a TTL; the holder renews it, releases it, or, if it dies,
// the lease simply expires: every call first expires leases whose deadline is <= now, so a dead holder's
// units come back by themselves. A per-tenant limit caps what one tenant may hold at once (a tenant
// path limit covers its subtree). Requests that can never fit (n over the capacity or the tenant's
// limit) answer kNever; others answer kDenied with retry_after = time until the next lease expiry that
// would free enough units (0 when only a release could help).
// Time is injected. Thread-safety: not synchronised; callers lock (the server holds one lock per pool).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "allot/result.h"
#include "allot/throttle/rate.h"

namespace allot::throttle {

struct PoolOptions {
  int64_t capacity = 0;  // units, >= 1
  int64_t default_ttl_ns = 30 * kNanosPerSecond;
  int64_t max_ttl_ns = 24 * 3600 * kNanosPerSecond;
  // Per tenant subtree: at most this many units held at once by tenants under the path.
  std::map<std::string, int64_t> tenant_limits;
  int64_t default_tenant_limit = 0;  // each tenant (leaf) at most this; 0 = no per-tenant cap
};

struct Lease {
  uint64_t id = 0;
  std::string tenant;
  std::string holder;
  int64_t n = 0;
  int64_t acquired_ns = 0;
  int64_t expires_ns = 0;
};

struct PoolDecision {
  Verdict verdict = Verdict::kDenied;
  Lease lease;                 // kAllowed
  int64_t available = 0;       // free units after the decision
  int64_t retry_after_ns = 0;  // kDenied: until the next expiry frees enough; 0 if none would
  std::string reason;          // denied/never: "capacity", "tenant org/team limit 4"
  bool allowed() const { return verdict == Verdict::kAllowed; }
};

class ConcurrencyPool {
 public:
  // Validates options (capacity >= 1, TTLs > 0, limits >= 1). Errors name the field.
  static Result<ConcurrencyPool> Create(std::string name, PoolOptions options);

  // Takes n units for `tenant`/`holder` with ttl_ns (0 = default). REQUIRES nothing: bad n or ttl are
  // InvalidArgument errors.
  Result<PoolDecision> Acquire(int64_t now_ns, std::string_view tenant, std::string_view holder, int64_t n,
                               int64_t ttl_ns = 0);
  // Returns a lease's units. NotFound if unknown or already expired.
  Status Release(int64_t now_ns, uint64_t lease_id);
  // Releases every lease of a holder (a holder known dead); returns how many.
  size_t ReleaseHolder(int64_t now_ns, std::string_view holder);
  // Extends a live lease to now + ttl (0 = default). NotFound if it already expired.
  Result<Lease> Renew(int64_t now_ns, uint64_t lease_id, int64_t ttl_ns = 0);
  // Drops leases whose deadline is <= now and returns them (for the event log).
  std::vector<Lease> Expire(int64_t now_ns);

  const std::string& name() const { return name_; }
  int64_t capacity() const { return options_.capacity; }
  int64_t in_use() const { return in_use_; }
  int64_t HeldBy(std::string_view tenant_subtree) const;  // units held under a tenant subtree
  size_t lease_count() const { return leases_.size(); }
  uint64_t expired_total() const { return expired_total_; }

 private:
  ConcurrencyPool(std::string name, PoolOptions options) : name_(std::move(name)), options_(std::move(options)) {}
  Result<int64_t> Ttl(int64_t ttl_ns) const;

  std::string name_;
  PoolOptions options_;
  uint64_t next_id_ = 1;
  int64_t in_use_ = 0;
  uint64_t expired_total_ = 0;
  std::unordered_map<uint64_t, Lease> leases_;
  std::set<std::pair<int64_t, uint64_t>> by_expiry_;  // (expires_ns, id)
};

}  // namespace allot::throttle
