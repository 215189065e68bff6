// /v1/pools: concurrency pools with leases (acquire, renew, release) and their definitions.
#include "server/throttle_state.h"

namespace allot::server {

std::optional<ApiError> ThrottleService::Impl::DefinePool(const std::string& key, const Json& body, bool save) {
  if (auto e = ValidateKey(key, "pool")) return e;
  YAML::Node node;
  if (auto e = ToYaml(body.dump(), &node)) return e;
  th::PoolOptions po;
  try {
    auto p = th::ParsePoolNode(node, "");
    if (!p.ok()) return FromParser(p.error());
    po = std::move(*p);
  } catch (const YAML::Exception& e) {
    return BadRequest("", e.what());
  }
  auto pool = th::ConcurrencyPool::Create(key, po);
  if (!pool.ok()) return FromLibrary(pool.error());
  {
    std::unique_lock l(pools_mu);
    auto it = pools.find(key);
    if (it != pools.end()) {
      std::lock_guard pl(it->second->mu);
      it->second->pool.Expire(Now());
      if (it->second->pool.lease_count() > 0) {
        return ApiError{409, "conflict",
                        "pool \"" + key + "\" has " + std::to_string(it->second->pool.lease_count()) +
                            " live lease(s); release them or let them expire before redefining it",
                        "key"};
      }
    }
    pools[key] = std::make_shared<PoolEntry>(std::move(*pool), po);
  }
  std::lock_guard l(defs_mu);
  api_pools[key] = body;
  deleted_pools.erase(key);
  if (!save) return std::nullopt;
  if (Status s = SaveDefs(); !s.ok()) return FromError(s.error());
  return std::nullopt;
}

std::shared_ptr<ThrottleService::Impl::PoolEntry> ThrottleService::Impl::FindPool(const std::string& key) {
  std::shared_lock l(pools_mu);
  auto it = pools.find(key);
  return it == pools.end() ? nullptr : it->second;
}

// Expires due leases. REQUIRES: e.mu held.
void ThrottleService::Impl::ExpirePool(PoolEntry& e, int64_t now) {
  for (const auto& l : e.pool.Expire(now)) {
    e.owners.erase(l.id);
    e.expired++;
  }
}

Json ThrottleService::Impl::PoolState(PoolEntry& e, const std::string& key, int64_t now, bool with_leases, const ApiCall& c) {
  ExpirePool(e, now);
  Json out = {{"key", key},
              {"capacity", e.pool.capacity()},
              {"in_use", e.pool.in_use()},
              {"available", e.pool.capacity() - e.pool.in_use()},
              {"leases", e.pool.lease_count()},
              {"ttl", Seconds(e.options.default_ttl_ns)},
              {"max_ttl", Seconds(e.options.max_ttl_ns)},
              {"expired_total", e.expired}};
  if (e.options.default_tenant_limit > 0) out["per_tenant"] = e.options.default_tenant_limit;
  if (!e.options.tenant_limits.empty()) out["tenant_limits"] = e.options.tenant_limits;
  if (c.role == "writer" && !c.tenant_scope.empty()) out["held_by_scope"] = e.pool.HeldBy(c.tenant_scope);
  if (with_leases) {
    std::vector<std::pair<uint64_t, const PoolEntry::LeaseOwner*>> live;
    for (const auto& [id, o] : e.owners) {
      if (c.role != "writer" || c.tenant_scope.empty() || InSubtree(o.tenant, c.tenant_scope)) live.emplace_back(id, &o);
    }
    std::sort(live.begin(), live.end());
    Json held = Json::array();
    for (const auto& [id, o] : live) held.push_back({{"lease", id}, {"tenant", o->tenant}, {"holder", o->holder}});
    out["held"] = held;
  }
  return out;
}

std::optional<ApiError> ThrottleService::Impl::LeaseIdOf(const Json& b, uint64_t* id) {
  auto it = b.find("lease");
  if (it == b.end()) return BadRequest("lease", "required (the id an acquire returned)");
  if (it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() > 0)) {
    *id = it->get<uint64_t>();
    return std::nullopt;
  }
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (!s.empty() && end != nullptr && *end == '\0' && v > 0) {
      *id = v;
      return std::nullopt;
    }
  }
  return Unprocessable("lease", "must be a positive lease id, got " + it->dump());
}

ApiAnswer ThrottleService::Impl::ListPools(const ApiCall& c) {
  std::vector<std::pair<std::string, std::shared_ptr<PoolEntry>>> all;
  {
    std::shared_lock l(pools_mu);
    for (const auto& [k, p] : pools) all.emplace_back(k, p);
  }
  Json out = Json::array();
  const int64_t now = Now();
  for (auto& [k, p] : all) {
    std::lock_guard l(p->mu);
    out.push_back(PoolState(*p, k, now, false, c));
  }
  return Answer(200, {{"pools", out}});
}

ApiAnswer ThrottleService::Impl::PutPool(const ApiCall& c) {
  if (auto f = AdminOnly(c, "defining pools")) return *f;
  const std::string& key = c.Param("key");
  Json b;
  if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
  const bool existed = FindPool(key) != nullptr;
  if (auto e = DefinePool(key, b, true)) return Fail(*e);
  auto p = FindPool(key);
  std::lock_guard l(p->mu);
  return Answer(existed ? 200 : 201, PoolState(*p, key, Now(), false, c));
}

ApiAnswer ThrottleService::Impl::GetPool(const ApiCall& c) {
  const std::string& key = c.Param("key");
  auto p = FindPool(key);
  if (!p) return NotFoundAnswer("key", "pool \"" + key + "\": unknown");
  std::lock_guard l(p->mu);
  return Answer(200, PoolState(*p, key, Now(), true, c));
}

ApiAnswer ThrottleService::Impl::DeletePool(const ApiCall& c) {
  if (auto f = AdminOnly(c, "removing pools")) return *f;
  const std::string& key = c.Param("key");
  {
    std::unique_lock l(pools_mu);
    if (pools.erase(key) == 0) return NotFoundAnswer("key", "pool \"" + key + "\": unknown");
  }
  std::lock_guard l(defs_mu);
  api_pools.erase(key);
  deleted_pools.insert(key);
  if (Status st = SaveDefs(); !st.ok()) return Fail(FromError(st.error()));
  return Answer(200, {{"key", key}, {"deleted", true}});
}

ApiAnswer ThrottleService::Impl::PoolAction(const ApiCall& c, const std::string& key, const std::string& action) {
  Json b = Json::object();
  if (c.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
  }
  auto p = FindPool(key);
  if (!p) return NotFoundAnswer("key", "pool \"" + key + "\": unknown");
  if (c.role != "admin" && c.role != "writer") return Forbidden("role " + c.role + " cannot use pools");
  const int64_t now = Now();
  int64_t ttl_ms = 0;
  if (b.contains("ttl")) {
    if (auto e = JsonDurationMs(b["ttl"], "ttl", 366LL * 86400 * 1000, &ttl_ms)) return Fail(*e);
    if (ttl_ms <= 0) return Fail(Unprocessable("ttl", "must be positive"));
  }
  if (action == "acquire") {
    if (auto e = CheckKeys(b, "", {"n", "tenant", "holder", "ttl"})) return Fail(*e);
    int64_t n = 1;
    if (auto e = GetInt(b, "n", 1, &n)) return Fail(*e);
    std::string tenant, holder;
    if (auto e = GetString(b, "", "tenant", &tenant)) return Fail(*e);
    if (auto e = GetString(b, "", "holder", &holder)) return Fail(*e);
    if (!tenant.empty()) {
      if (auto e = ValidateTenant(tenant, "tenant")) return Fail(*e);
    }
    if (auto refusal = ActFor(c, &tenant)) return *refusal;
    if (holder.empty()) holder = c.actor;
    std::lock_guard l(p->mu);
    ExpirePool(*p, now);
    auto d = p->pool.Acquire(now, tenant, holder, n, ttl_ms * 1'000'000);
    if (!d.ok()) return Fail(FromLibrary(d.error()));
    if (d->verdict == th::Verdict::kNever) {
      p->never++;
      ApiError e = Unprocessable("n", std::to_string(n) + " units can never be held: " + d->reason + "; do not retry");
      Json body = Json::parse(ErrorBody(e));
      body["allowed"] = false;
      body["never"] = true;
      return Answer(422, body);
    }
    Json out = {{"key", key}, {"allowed", d->allowed()}, {"available", d->available},
                {"retry_after", Seconds(d->retry_after_ns)}};
    if (d->allowed()) {
      p->allowed++;
      p->owners[d->lease.id] = {d->lease.tenant, d->lease.holder};
      out.update(LeaseJson(d->lease));
      out["ttl"] = Seconds(d->lease.expires_ns - d->lease.acquired_ns);
    } else {
      p->denied++;
      out["reason"] = d->reason;
    }
    return Answer(200, out);
  }
  if (action == "release") {
    if (auto e = CheckKeys(b, "", {"lease", "holder"})) return Fail(*e);
    std::lock_guard l(p->mu);
    ExpirePool(*p, now);
    if (!b.contains("lease") && b.contains("holder")) {
      std::string holder;
      if (auto e = GetString(b, "", "holder", &holder)) return Fail(*e);
      if (holder.empty()) return Fail(Unprocessable("holder", "must not be empty"));
      // Holder death: everything it holds comes back. A writer only for leases inside its subtree.
      std::vector<uint64_t> ids;
      for (const auto& [id, o] : p->owners) {
        if (o.holder != holder) continue;
        if (c.role == "writer" && !c.tenant_scope.empty() && !InSubtree(o.tenant, c.tenant_scope)) {
          return Forbidden("holder " + holder + " holds a lease of tenant " + o.tenant + ", outside this token's subtree");
        }
        ids.push_back(id);
      }
      size_t released = 0;
      for (uint64_t id : ids) {
        if (p->pool.Release(now, id).ok()) released++;
        p->owners.erase(id);
      }
      p->released += released;
      return Answer(200, {{"key", key}, {"holder", holder}, {"released", released},
                          {"available", p->pool.capacity() - p->pool.in_use()}});
    }
    uint64_t id = 0;
    if (auto e = LeaseIdOf(b, &id)) return Fail(*e);
    auto t = p->owners.find(id);
    if (t == p->owners.end()) return NotFoundAnswer("lease", "lease " + std::to_string(id) + ": unknown or expired");
    if (c.role == "writer" && !c.tenant_scope.empty() && !InSubtree(t->second.tenant, c.tenant_scope)) {
      return Forbidden("lease " + std::to_string(id) + " belongs to tenant " + t->second.tenant + ", outside this token's subtree");
    }
    if (Status s = p->pool.Release(now, id); !s.ok()) return NotFoundAnswer("lease", s.message());
    p->owners.erase(t);
    p->released++;
    return Answer(200, {{"key", key}, {"lease", id}, {"released", true},
                        {"available", p->pool.capacity() - p->pool.in_use()}});
  }
  // renew
  if (auto e = CheckKeys(b, "", {"lease", "ttl"})) return Fail(*e);
  uint64_t id = 0;
  if (auto e = LeaseIdOf(b, &id)) return Fail(*e);
  std::lock_guard l(p->mu);
  ExpirePool(*p, now);
  auto t = p->owners.find(id);
  if (t == p->owners.end()) return NotFoundAnswer("lease", "lease " + std::to_string(id) + ": unknown or expired");
  if (c.role == "writer" && !c.tenant_scope.empty() && !InSubtree(t->second.tenant, c.tenant_scope)) {
    return Forbidden("lease " + std::to_string(id) + " belongs to tenant " + t->second.tenant + ", outside this token's subtree");
  }
  auto r = p->pool.Renew(now, id, ttl_ms * 1'000'000);
  if (!r.ok()) return Fail(FromLibrary(r.error()));
  Json out = LeaseJson(*r);
  out["key"] = key;
  out["ttl"] = Seconds(r->expires_ns - now);
  return Answer(200, out);
}

}  // namespace allot::server
