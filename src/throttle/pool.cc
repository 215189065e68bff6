#include "allot/throttle/pool.h"

#include "allot/throttle/ratelimit.h"  // InSubtree, ValidateName

namespace allot::throttle {

Result<ConcurrencyPool> ConcurrencyPool::Create(std::string name, PoolOptions options) {
  if (Status s = ValidateName("pool", name); !s.ok()) return s.error();
  if (options.capacity < 1) {
    return InvalidArgument("capacity: must be at least 1, got " + std::to_string(options.capacity));
  }
  if (options.default_ttl_ns < 1) return InvalidArgument("ttl: must be positive");
  if (options.max_ttl_ns < options.default_ttl_ns) return InvalidArgument("max_ttl: must be at least ttl");
  if (options.default_tenant_limit < 0) return InvalidArgument("per_tenant: must be positive");
  for (const auto& [path, limit] : options.tenant_limits) {
    if (Status s = ValidateName("tenant_limits", path); !s.ok()) return s.error();
    if (limit < 1) return InvalidArgument("tenant_limits." + path + ": must be at least 1, got " + std::to_string(limit));
  }
  return ConcurrencyPool(std::move(name), std::move(options));
}

Result<int64_t> ConcurrencyPool::Ttl(int64_t ttl_ns) const {
  if (ttl_ns < 0) return InvalidArgument("ttl: must be positive");
  if (ttl_ns == 0) return options_.default_ttl_ns;
  if (ttl_ns > options_.max_ttl_ns) return InvalidArgument("ttl: above the pool's max_ttl");
  return ttl_ns;
}

std::vector<Lease> ConcurrencyPool::Expire(int64_t now_ns) {
  std::vector<Lease> out;
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now_ns) {
    auto it = leases_.find(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
    in_use_ -= it->second.n;
    out.push_back(std::move(it->second));
    leases_.erase(it);
    ++expired_total_;
  }
  return out;
}

int64_t ConcurrencyPool::HeldBy(std::string_view tenant_subtree) const {
  int64_t held = 0;
  for (const auto& [_, l] : leases_) {
    if (InSubtree(l.tenant, tenant_subtree)) held += l.n;
  }
  return held;
}

Result<PoolDecision> ConcurrencyPool::Acquire(int64_t now_ns, std::string_view tenant, std::string_view holder,
                                              int64_t n, int64_t ttl_ns) {
  if (n < 1) return InvalidArgument("n: must be a positive integer, got " + std::to_string(n));
  auto ttl = Ttl(ttl_ns);
  if (!ttl.ok()) return ttl.error();
  Expire(now_ns);
  PoolDecision d;
  // The constraints this request must satisfy: (limit, units already held under it, label, subtree).
  struct Cap {
    int64_t limit;
    int64_t held;
    std::string label;
    std::string subtree;  // "" = whole pool
  };
  std::vector<Cap> caps{{options_.capacity, in_use_, "capacity", ""}};
  for (const auto& [path, limit] : options_.tenant_limits) {
    if (InSubtree(tenant, path)) caps.push_back({limit, HeldBy(path), "tenant " + path + " limit", path});
  }
  if (options_.default_tenant_limit > 0) {
    int64_t held = 0;
    for (const auto& [_, l] : leases_) held += (l.tenant == tenant) ? l.n : 0;
    caps.push_back({options_.default_tenant_limit, held, "per-tenant limit", std::string(tenant)});
  }
  d.available = options_.capacity - in_use_;
  for (const Cap& c : caps) {
    if (n > c.limit) {
      d.verdict = Verdict::kNever;
      d.reason = c.label + " " + std::to_string(c.limit) + " is below n=" + std::to_string(n);
      return d;
    }
  }
  bool fits = true;
  int64_t wait = 0;
  for (const Cap& c : caps) {
    if (c.held + n <= c.limit) continue;
    fits = false;
    if (d.reason.empty()) d.reason = c.label + " " + std::to_string(c.limit) + " reached";
    // Walk the expiries in order until enough units under this constraint come back. For the tenant's
    // own cap (exact tenant match) compare leaf paths, for subtree caps the subtree.
    int64_t need = c.held + n - c.limit, freed = 0, at = -1;
    for (const auto& [exp, id] : by_expiry_) {
      const Lease& l = leases_.at(id);
      const bool counts = c.label == "per-tenant limit" ? l.tenant == c.subtree : InSubtree(l.tenant, c.subtree);
      if (!counts) continue;
      freed += l.n;
      if (freed >= need) {
        at = exp;
        break;
      }
    }
    wait = (at < 0 || wait < 0) ? -1 : std::max(wait, at - now_ns);
  }
  if (!fits) {
    d.verdict = Verdict::kDenied;
    d.retry_after_ns = wait < 0 ? 0 : wait;
    return d;
  }
  Lease l;
  l.id = next_id_++;
  l.tenant = std::string(tenant);
  l.holder = std::string(holder);
  l.n = n;
  l.acquired_ns = now_ns;
  l.expires_ns = now_ns + *ttl;
  in_use_ += n;
  by_expiry_.emplace(l.expires_ns, l.id);
  d.verdict = Verdict::kAllowed;
  d.lease = l;
  d.available = options_.capacity - in_use_;
  leases_.emplace(l.id, std::move(l));
  return d;
}

Status ConcurrencyPool::Release(int64_t now_ns, uint64_t lease_id) {
  Expire(now_ns);
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return NotFound("lease " + std::to_string(lease_id) + ": unknown or expired");
  by_expiry_.erase({it->second.expires_ns, lease_id});
  in_use_ -= it->second.n;
  leases_.erase(it);
  return Status::Ok();
}

size_t ConcurrencyPool::ReleaseHolder(int64_t now_ns, std::string_view holder) {
  Expire(now_ns);
  std::vector<uint64_t> ids;
  for (const auto& [id, l] : leases_) {
    if (l.holder == holder) ids.push_back(id);
  }
  for (uint64_t id : ids) (void)Release(now_ns, id);
  return ids.size();
}

Result<Lease> ConcurrencyPool::Renew(int64_t now_ns, uint64_t lease_id, int64_t ttl_ns) {
  auto ttl = Ttl(ttl_ns);
  if (!ttl.ok()) return ttl.error();
  Expire(now_ns);
  auto it = leases_.find(lease_id);
  if (it == leases_.end()) return NotFound("lease " + std::to_string(lease_id) + ": unknown or expired");
  Lease& l = it->second;
  // A clock that went backwards must not shorten a lease below what was granted.
  const int64_t expires = std::max(l.expires_ns, now_ns + *ttl);
  by_expiry_.erase({l.expires_ns, lease_id});
  l.expires_ns = expires;
  by_expiry_.emplace(expires, lease_id);
  return l;
}

}  // namespace allot::throttle
