// /v1/breakers: circuit breakers fed by reported outcomes, their acquires and definitions.
#include "server/throttle_state.h"

namespace allot::server {

std::optional<ApiError> ThrottleService::Impl::DefineBreaker(const std::string& key, const Json& body, bool save) {
  if (auto e = ValidateKey(key, "breaker")) return e;
  YAML::Node node;
  if (auto e = ToYaml(body.dump(), &node)) return e;
  th::BreakerOptions bo;
  try {
    auto b = th::ParseBreakerNode(node, "", breaker_defaults);
    if (!b.ok()) return FromParser(b.error());
    bo = *b;
  } catch (const YAML::Exception& e) {
    return BadRequest("", e.what());
  }
  if (Status s = breakers().Configure(key, bo); !s.ok()) return FromLibrary(s.error());
  MarkBreaker(key);
  std::lock_guard l(defs_mu);
  api_breakers[key] = body;
  if (!save) return std::nullopt;
  if (Status s = SaveDefs(); !s.ok()) return FromError(s.error());
  return std::nullopt;
}

void ThrottleService::Impl::MarkBreaker(const std::string& key) {
  std::unique_lock l(breaker_keys_mu);
  breaker_keys.insert(key);
  any_breaker.store(true, std::memory_order_release);
}

// A report may create the breaker of a key only when the key is declared (throttling.breakers.keys),
// names a rate limit or a pool (whose acquires the breaker guards), or while fewer than
// throttling.breakers.max_dynamic other keys have one; nullopt = admitted (and marked).
std::optional<ApiAnswer> ThrottleService::Impl::AdmitBreaker(const std::string& key) {
  if (HasBreaker(key)) return std::nullopt;
  bool guards = table.Has(key);
  if (!guards) {
    std::shared_lock l(pools_mu);
    guards = pools.count(key) > 0;
  }
  std::unique_lock l(breaker_keys_mu);
  if (!guards && !breaker_keys.count(key)) {
    if (dynamic_breakers >= max_dynamic_breakers) {
      if (max_dynamic_breakers == 0) {
        return NotFoundAnswer("key", "breaker \"" + key + "\": not declared (throttling.breakers.keys), and no rate limit or pool has this key");
      }
      return Fail(ApiError{429, "resource_exhausted",
                           "breaker \"" + key + "\": " + std::to_string(max_dynamic_breakers) +
                               " undeclared keys already have breakers (throttling.breakers.max_dynamic); declare this one",
                           "key"});
    }
    dynamic_breakers++;
  }
  breaker_keys.insert(key);
  any_breaker.store(true, std::memory_order_release);
  return std::nullopt;
}

bool ThrottleService::Impl::HasBreaker(std::string_view key) {
  if (!any_breaker.load(std::memory_order_acquire)) return false;
  std::shared_lock l(breaker_keys_mu);
  return breaker_keys.count(std::string(key)) > 0;
}

Json ThrottleService::Impl::BreakerJson(const std::string& key, int64_t now) {
  th::BreakerSnapshot s = breakers().Snapshot(now, key);
  Json out = {{"key", key},
              {"state", th::BreakerStateName(s.state)},
              {"window_requests", s.window_requests},
              {"window_failures", s.window_failures},
              {"consecutive_failures", s.consecutive_failures},
              {"probes_in_flight", s.probes_in_flight},
              {"half_open_successes", s.half_open_successes},
              {"transitions_total", s.transitions_total},
              {"rejected_total", s.rejected_total}};
  Json tr = Json::array();
  for (const auto& [k, t] : breakers().TransitionsSince(INT64_MIN)) {
    if (k != key) continue;
    tr.push_back({{"at", FormatTime(t.at_ns / 1'000'000)}, {"from", th::BreakerStateName(t.from)},
                  {"to", th::BreakerStateName(t.to)}, {"reason", t.reason}});
  }
  while (tr.size() > 50) tr.erase(tr.begin());
  out["transitions"] = tr;
  return out;
}

ApiAnswer ThrottleService::Impl::ListBreakers(const ApiCall&) {
  std::vector<std::string> keys;
  {
    std::shared_lock l(breaker_keys_mu);
    keys.assign(breaker_keys.begin(), breaker_keys.end());
  }
  std::sort(keys.begin(), keys.end());
  Json out = Json::array();
  const int64_t now = Now();
  for (const auto& k : keys) out.push_back({{"key", k}, {"state", th::BreakerStateName(breakers().Snapshot(now, k).state)}});
  return Answer(200, {{"breakers", out}});
}

ApiAnswer ThrottleService::Impl::ReportBreaker(const ApiCall& c) {
  const std::string& key = c.Param("key");
  const int64_t now = Now();
  if (auto e = ValidateKey(key, "breaker")) return Fail(*e);
  if (c.role != "admin" && c.role != "writer") return Forbidden("role " + c.role + " cannot report outcomes");
  Json b;
  if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
  if (auto e = CheckKeys(b, "", {"outcome", "latency_ms", "tenant"})) return Fail(*e);
  std::string outcome, tenant;
  if (auto e = GetString(b, "", "outcome", &outcome)) return Fail(*e);
  if (auto e = GetString(b, "", "tenant", &tenant)) return Fail(*e);
  if (outcome != "success" && outcome != "failure") {
    return Fail(Unprocessable("outcome", "must be \"success\" or \"failure\", got \"" + outcome + "\""));
  }
  int64_t latency_ns = -1;
  if (b.contains("latency_ms")) {
    if (!b["latency_ms"].is_number()) return Fail(BadRequest("latency_ms", "must be a number"));
    double ms = b["latency_ms"].get<double>();
    if (!std::isfinite(ms) || ms < 0 || ms > 1e12) return Fail(Unprocessable("latency_ms", "must be a non-negative number"));
    latency_ns = static_cast<int64_t>(ms * 1e6);
  }
  // A writer reports for its own subtree only (the tenant is the token's unless it names one inside it).
  if (!tenant.empty()) {
    if (auto e = ValidateTenant(tenant, "tenant")) return Fail(*e);
  }
  if (auto f = ActFor(c, &tenant)) return *f;
  if (auto f = AdmitBreaker(key)) return *f;
  {
    std::lock_guard l(audit_mu);
    breakers().Record(now, key, outcome == "success", latency_ns);
    AuditTransitionsLocked(c.actor);  // answered once its transitions are in the event log
  }
  return Answer(200, BreakerJson(key, now));
}

ApiAnswer ThrottleService::Impl::AcquireBreaker(const ApiCall& c) {
  const std::string& key = c.Param("key");
  if (!HasBreaker(key)) return NotFoundAnswer("key", "breaker \"" + key + "\": unknown");
  if (c.role != "admin" && c.role != "writer") return Forbidden("role " + c.role + " cannot acquire");
  th::BreakerDecision d = breakers().Allow(Now(), key);
  Json out = {{"key", key}, {"allowed", d.allowed}, {"state", th::BreakerStateName(d.state)},
              {"retry_after", Seconds(std::max<int64_t>(d.retry_after_ns, 0))}};
  if (!d.allowed) out["reason"] = d.reason;
  return Answer(200, out);
}

ApiAnswer ThrottleService::Impl::GetBreaker(const ApiCall& c) {
  const std::string& key = c.Param("key");
  if (!HasBreaker(key)) return NotFoundAnswer("key", "breaker \"" + key + "\": unknown");
  return Answer(200, BreakerJson(key, Now()));
}

ApiAnswer ThrottleService::Impl::PutBreaker(const ApiCall& c) {
  if (auto f = AdminOnly(c, "defining breakers")) return *f;
  const std::string& key = c.Param("key");
  Json b;
  if (c.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    b = Json::object();
  } else if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) {
    return Fail(*e);
  }
  if (auto e = DefineBreaker(key, b, true)) return Fail(*e);
  return Answer(200, BreakerJson(key, Now()));
}

}  // namespace allot::server
