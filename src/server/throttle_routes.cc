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
#include "server/metrics.h"
#include "server/util.h"

namespace allot::server {
namespace {

namespace th = allot::throttle;

constexpr const char* kDefsFile = "throttle-api.json";

int64_t SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

ApiAnswer Answer(int status, const Json& body) { return {status, Dump(body), {}}; }
ApiAnswer Fail(const ApiError& e) { return {e.status, ErrorBody(e), {}}; }
ApiAnswer Forbidden(const std::string& msg) { return Fail({403, "permission_denied", msg, ""}); }
ApiAnswer NotFoundAnswer(const std::string& field, const std::string& msg) {
  return Fail({404, "not_found", msg, field});
}
ApiAnswer MethodNotAllowed() { return Fail({405, "method_not_allowed", "method not allowed on this path", ""}); }

// A library error as an answer: InvalidArgument -> 422 with the field its message starts with.
ApiError FromLibrary(const Error& e) {
  ApiError a = FromError(e);
  if (e.code == ErrorCode::kInvalidArgument) {
    size_t colon = e.message.find(": ");
    if (colon != std::string::npos && colon < 80 && e.message.find(' ') >= colon) a.field = e.message.substr(0, colon);
  }
  return a;
}

// A config-parser message without its " (line N)" (a JSON body is one line) or leading ": ".
std::string CleanMessage(std::string m) {
  for (size_t p; (p = m.find(" (line ")) != std::string::npos;) {
    size_t e = m.find(')', p);
    if (e == std::string::npos) break;
    m.erase(p, e - p + 1);
  }
  while (m.rfind(": ", 0) == 0) m.erase(0, 2);
  return m;
}
ApiError FromParser(const Error& e) {
  ApiError a{422, "invalid_value", CleanMessage(e.message), ""};
  size_t colon = a.message.find(": ");
  if (colon != std::string::npos && a.message.find(' ') >= colon) a.field = a.message.substr(0, colon);
  if (a.message.find("unknown key") != std::string::npos) a.status = 400, a.code = "invalid_argument";
  return a;
}

// JSON text -> YAML node for the library's parsers (YAML reads JSON). REQUIRES: `body` parsed as JSON.
std::optional<ApiError> ToYaml(const std::string& body, YAML::Node* out) {
  try {
    *out = YAML::Load(body);
  } catch (const YAML::Exception& e) {
    return BadRequest("", std::string("malformed body: ") + e.what());
  }
  return std::nullopt;
}

// Path segments that name actions; a key may not use them as a segment, so paths stay unambiguous.
bool ReservedSegment(std::string_view s) {
  return s == "acquire" || s == "release" || s == "renew" || s == "report" || s == "reservations" || s == "metrics";
}
std::optional<ApiError> ValidateKey(const std::string& key, const char* what) {
  if (Status s = th::ValidateName(what, key); !s.ok()) return ApiError{422, "invalid_value", s.message(), "key"};
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    if (ReservedSegment(std::string_view(key).substr(start, end - start))) {
      return ApiError{422, "invalid_value",
                      std::string(what) + " \"" + key + "\": \"" + key.substr(start, end - start) +
                          "\" is reserved for actions and cannot be a key segment",
                      "key"};
    }
    start = end + 1;
  }
  return std::nullopt;
}

// Optional integer field (>= min). Errors name the field.
std::optional<ApiError> GetInt(const Json& obj, const char* key, int64_t min, int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) {
    if (it->is_number_float()) {
      double d = it->get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
        *out = static_cast<int64_t>(d);
      } else {
        return Unprocessable(key, "must be an integer, got " + it->dump());
      }
    } else {
      return BadRequest(key, "must be an integer, got " + it->dump());
    }
  } else {
    *out = it->get<int64_t>();
  }
  if (*out < min) {
    return Unprocessable(key, (min == 1 ? "must be a positive integer, got " : "must be at least " + std::to_string(min) + ", got ") +
                                  std::to_string(*out));
  }
  return std::nullopt;
}

Json LevelJson(const th::LimitSpec& l) {
  Json j = {{"scope", th::ScopeName(l.scope)}};
  if (!l.subtree.empty()) j["subtree"] = l.subtree;
  if (l.is_quota()) {
    j["quota"] = l.quota_per_day;
    j["per"] = "day";
    j["time_zone"] = l.time_zone;
  } else {
    j["rate"] = th::FormatRate(l.rate);
    j["burst"] = l.burst > 0 ? l.burst : l.rate.count;
  }
  return j;
}

Json LeaseJson(const th::Lease& l) {
  return {{"lease", l.id},
          {"tenant", l.tenant},
          {"holder", l.holder},
          {"n", l.n},
          {"acquired_at", FormatTime(l.acquired_ns / 1'000'000)},
          {"expires_at", FormatTime(l.expires_ns / 1'000'000)}};
}

// "a/b/acquire" with suffix "/acquire" -> "a/b".
bool CutSuffix(const std::string& s, std::string_view suffix, std::string* head) {
  if (s.size() <= suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  *head = s.substr(0, s.size() - suffix.size());
  return true;
}

}  // namespace

struct ThrottleService::Impl {
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

  int64_t Now() const { return opt.now_ns(); }
  th::BreakerSet& breakers() { return *breakers_owner; }

  // Audits the breaker transitions not audited yet: open -> half_open (the cool-down) as "server"'s,
  // any other (only reports make them) as `actor`'s; one log line each. REQUIRES: audit_mu held.
  void AuditTransitionsLocked(const std::string& actor) {
    auto taken = breakers().TakeTransitions();
    if (taken.empty()) return;
    std::vector<AuditEvent> events;
    for (auto& [key, t] : taken) {
      AuditEvent a;
      a.at = t.at_ns / 1'000'000;
      a.type = "breaker";
      a.id = key;
      a.reason =
          std::string(th::BreakerStateName(t.from)) + " -> " + th::BreakerStateName(t.to) + ": " + t.reason;
      a.actor = t.to == th::BreakerState::kHalfOpen || actor.empty() ? "server" : actor;
      std::fprintf(
          stderr,
          "{\"level\":\"%s\",\"msg\":\"breaker transition\",\"key\":%s,\"from\":\"%s\",\"to\":\"%s\","
          "\"reason\":%s,\"actor\":%s}\n",
          t.to == th::BreakerState::kOpen ? "warn" : "info", Json(key).dump().c_str(),
          th::BreakerStateName(t.from), th::BreakerStateName(t.to), Json(t.reason).dump().c_str(),
          Json(a.actor).dump().c_str());
      events.push_back(std::move(a));
    }
    if (opt.audit) (void)opt.audit(std::move(events));  // a failure is logged by the sink
  }
  // After any call that may have read a breaker (a read notices a finished cool-down).
  void AuditTransitions() {
    if (!any_breaker.load(std::memory_order_acquire) || !breakers().has_pending_transitions()) return;
    std::lock_guard l(audit_mu);
    AuditTransitionsLocked("");
  }

  // --- definitions ---------------------------------------------------------------------------------

  std::string DefsPath() const {
    if (opt.data_dir.empty() || opt.data_dir == ":memory:") return "";
    return opt.data_dir + "/" + kDefsFile;
  }

  // Rewrites the definitions file (temp file, fsync, rename). REQUIRES: defs_mu held.
  Status SaveDefs() {
    const std::string path = DefsPath();
    if (path.empty()) return Status::Ok();
    Json j = {{"ratelimits", api_ratelimits}, {"pools", api_pools}, {"breakers", api_breakers},
              {"deleted_ratelimits", deleted_ratelimits}, {"deleted_pools", deleted_pools}};
    const std::string text = j.dump(1) + "\n";
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) return Internal("cannot write " + tmp);
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fflush(f) == 0 && ok;
    ok = ::fsync(fileno(f)) == 0 && ok;
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot write " + path);
    return Status::Ok();
  }

  Status LoadConfig() {
    if (!opt.throttling_yaml.empty()) {
      auto c = th::ParseThrottleConfigText(opt.throttling_yaml);
      if (!c.ok()) return Error{c.error().code, "throttling." + CleanMessage(c.error().message)};
      breaker_defaults = c->breaker_defaults;
      max_dynamic_breakers = c->max_dynamic_breakers;
      breakers_owner = std::make_unique<th::BreakerSet>(c->breaker_defaults);
      const int64_t now = Now();
      for (auto& [key, levels] : c->ratelimits) {
        if (auto e = ValidateKey(key, "key")) return InvalidArgument("throttling.ratelimits." + key + ": " + e->message);
        if (Status s = table.Define(key, levels, now); !s.ok()) {
          return Error{s.code(), "throttling.ratelimits." + key + "." + s.message()};
        }
      }
      for (auto& [key, po] : c->pools) {
        if (auto e = ValidateKey(key, "pool")) return InvalidArgument("throttling.pools." + key + ": " + e->message);
        auto p = th::ConcurrencyPool::Create(key, po);
        if (!p.ok()) return Error{p.error().code, "throttling.pools." + key + "." + p.error().message};
        pools[key] = std::make_shared<PoolEntry>(std::move(*p), po);
      }
      for (auto& [key, bo] : c->breakers) {
        if (auto e = ValidateKey(key, "breaker")) return InvalidArgument("throttling.breakers.keys." + key + ": " + e->message);
        if (Status s = breakers().Configure(key, bo); !s.ok()) return Error{s.code(), "throttling.breakers.keys." + key + ": " + s.message()};
        breaker_keys.insert(key);
      }
    }
    const std::string path = DefsPath();
    if (path.empty()) return Status::Ok();
    std::ifstream in(path);
    if (!in) return Status::Ok();  // none yet
    std::stringstream ss;
    ss << in.rdbuf();
    Json j = Json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return InvalidArgument(path + ": not a JSON object (remove or fix it)");
    auto section = [&](const char* name) { return j.contains(name) && j[name].is_object() ? j[name] : Json::object(); };
    for (const auto& k : j.value("deleted_ratelimits", Json::array())) {
      if (!k.is_string()) continue;
      (void)table.Remove(k.get<std::string>());
      deleted_ratelimits.insert(k.get<std::string>());
    }
    for (const auto& k : j.value("deleted_pools", Json::array())) {
      if (!k.is_string()) continue;
      pools.erase(k.get<std::string>());
      deleted_pools.insert(k.get<std::string>());
    }
    const Json rl = section("ratelimits"), pl = section("pools"), bk = section("breakers");
    for (const auto& [key, body] : rl.items()) {
      if (auto e = DefineRateLimit(key, body, false)) return InvalidArgument(path + ": ratelimits." + key + ": " + e->message);
    }
    for (const auto& [key, body] : pl.items()) {
      if (auto e = DefinePool(key, body, false)) return InvalidArgument(path + ": pools." + key + ": " + e->message);
    }
    for (const auto& [key, body] : bk.items()) {
      if (auto e = DefineBreaker(key, body, false)) return InvalidArgument(path + ": breakers." + key + ": " + e->message);
    }
    return Status::Ok();
  }

  // Each Define* validates and applies `body`; `save` records it in the definitions file.
  std::optional<ApiError> DefineRateLimit(const std::string& key, const Json& body, bool save) {
    if (auto e = ValidateKey(key, "key")) return e;
    YAML::Node node;
    if (auto e = ToYaml(body.dump(), &node)) return e;
    auto levels = th::ParseRateLimitNode(node, "");
    if (!levels.ok()) return FromParser(levels.error());
    if (Status s = table.Define(key, std::move(*levels), Now()); !s.ok()) {
      // An unknown time zone is bad input here, not a missing resource.
      ApiError e = FromLibrary(Error{ErrorCode::kInvalidArgument, s.message()});
      if (!body.contains("levels") && e.field.rfind("levels[0].", 0) == 0) {
        e.field.erase(0, 10);
        e.message.erase(0, 10);
      }
      return e;
    }
    std::lock_guard l(defs_mu);
    api_ratelimits[key] = body;
    deleted_ratelimits.erase(key);
    if (!save) return std::nullopt;
    if (Status s = SaveDefs(); !s.ok()) return FromError(s.error());
    return std::nullopt;
  }

  std::optional<ApiError> DefinePool(const std::string& key, const Json& body, bool save) {
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

  std::optional<ApiError> DefineBreaker(const std::string& key, const Json& body, bool save) {
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

  void MarkBreaker(const std::string& key) {
    std::unique_lock l(breaker_keys_mu);
    breaker_keys.insert(key);
    any_breaker.store(true, std::memory_order_release);
  }
  // A report may create the breaker of a key only when the key is declared (throttling.breakers.keys),
  // names a rate limit or a pool (whose acquires the breaker guards), or while fewer than
  // throttling.breakers.max_dynamic other keys have one; nullopt = admitted (and marked).
  std::optional<ApiAnswer> AdmitBreaker(const std::string& key) {
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
  bool HasBreaker(std::string_view key) {
    if (!any_breaker.load(std::memory_order_acquire)) return false;
    std::shared_lock l(breaker_keys_mu);
    return breaker_keys.count(std::string(key)) > 0;
  }

  // --- auth ------------------------------------------------------------------------------------------

  // Resolves the tenant a caller acts for; nullopt = allowed, else the refusal.
  std::optional<ApiAnswer> ActFor(const ApiCall& c, std::string* tenant) {
    if (c.role == "admin") return std::nullopt;
    if (c.role != "writer") return Forbidden("role " + c.role + " cannot acquire, release or report");
    if (tenant->empty()) *tenant = c.tenant_scope;
    if (!c.tenant_scope.empty() && !InSubtree(*tenant, c.tenant_scope)) {
      return Forbidden("tenant " + *tenant + " is outside this token's subtree " + c.tenant_scope);
    }
    return std::nullopt;
  }
  static std::optional<ApiAnswer> AdminOnly(const ApiCall& c, const char* what) {
    if (c.role == "admin") return std::nullopt;
    return Forbidden(std::string(what) + " needs an admin token");
  }

  // --- rate limits -----------------------------------------------------------------------------------

  struct AcquireOutcome {
    int status = 200;
    Json body;
  };

  // One acquire; `item` is the request object (from a single call or one batch entry).
  AcquireOutcome AcquireOne(const ApiCall& c, const std::string& key, const Json& item, bool batch) {
    auto fail = [&](const ApiError& e) { return AcquireOutcome{e.status, Json::parse(ErrorBody(e))}; };
    if (auto e = CheckKeys(item, "", batch ? std::initializer_list<const char*>{"key", "n", "tenant", "agent", "reservation", "breaker"}
                                           : std::initializer_list<const char*>{"n", "tenant", "agent", "reservation", "breaker"})) {
      return fail(*e);
    }
    int64_t n = 1;
    if (auto e = GetInt(item, "n", 1, &n)) return fail(*e);
    std::string tenant, agent, reservation, breaker;
    for (auto [name, out] : {std::pair<const char*, std::string*>{"tenant", &tenant}, {"agent", &agent},
                             {"reservation", &reservation}, {"breaker", &breaker}}) {
      if (auto e = GetString(item, "", name, out)) return fail(*e);
    }
    if (!tenant.empty()) {
      if (auto e = ValidateTenant(tenant, "tenant")) return fail(*e);
    }
    if (auto refusal = ActFor(c, &tenant)) return {refusal->status, Json::parse(refusal->body)};
    th::AcquireRequest req{key, n, tenant, agent, reservation};
    const int64_t now = Now();
    const std::string& bkey = breaker.empty() ? key : breaker;
    if (!breaker.empty() && !HasBreaker(bkey)) {
      return fail({404, "not_found", "breaker \"" + breaker + "\": unknown (define it or report to it first)", "breaker"});
    }
    Result<th::RateDecision> d = Error{};
    Json breaker_json;
    if (HasBreaker(bkey)) {
      std::lock_guard l(breaker_acquire_mu);
      th::BreakerSnapshot snap = breakers().Snapshot(now, bkey);
      breaker_json = th::BreakerStateName(snap.state);
      bool ask_breaker = snap.state != th::BreakerState::kClosed;
      if (ask_breaker) {
        // Half-open: take a probe only for a request the rate limit would let through. Open: an unknown
        // key is still an unknown key.
        if (snap.state == th::BreakerState::kHalfOpen || !table.Has(key)) {
          d = table.Peek(now, req);
          ask_breaker = d.ok() && (snap.state == th::BreakerState::kOpen || d->allowed());
        }
      }
      if (ask_breaker) {
        th::BreakerDecision bd = breakers().Allow(now, bkey);
        if (!bd.allowed) {
          {
            std::lock_guard dl(breaker_denied_mu);
            breaker_denied[key]++;
          }
          Json out = {{"key", key},
                      {"allowed", false},
                      {"retry_after", Seconds(std::max<int64_t>(bd.retry_after_ns, 0))},
                      {"remaining", 0},
                      {"reason", "breaker " + bkey + ": " + bd.reason},
                      {"limited_by", "breaker"},
                      {"breaker", th::BreakerStateName(bd.state)}};
          return {200, out};
        }
      }
      if (!ask_breaker && snap.state != th::BreakerState::kClosed) {
        // d holds the Peek answer: an error or a rate denial; nothing consumed.
      } else {
        d = table.Acquire(now, req);
      }
    } else {
      d = table.Acquire(now, req);
    }
    if (!d.ok()) {
      ApiError e = FromLibrary(d.error());
      if (d.error().code == ErrorCode::kNotFound) e.field = "key";
      return fail(e);
    }
    if (d->verdict == th::Verdict::kNever) {
      ApiError e = Unprocessable("n", std::to_string(n) + " units can never be granted: more than the " +
                                          d->limited_by + " level allows at once (its burst or quota); do not retry");
      Json body = Json::parse(ErrorBody(e));
      body["allowed"] = false;
      body["never"] = true;
      body["limited_by"] = d->limited_by;
      return {422, body};
    }
    Json out = {{"key", key},
                {"allowed", d->allowed()},
                {"retry_after", Seconds(d->retry_after_ns)},
                {"remaining", d->remaining},
                {"reset_after", Seconds(d->reset_after_ns)}};
    if (!d->allowed()) {
      out["limited_by"] = d->limited_by;
      out["reason"] = "rate limit: level " + d->limited_by;
    }
    if (d->from_reservation) out["from_reservation"] = true;
    if (!breaker_json.is_null()) out["breaker"] = breaker_json;
    return {200, out};
  }

  ApiAnswer RateLimitState(const std::string& key, const ApiCall& c) {
    auto levels = table.Levels(key);
    if (!levels.ok()) return NotFoundAnswer("key", levels.error().message);
    std::string tenant, agent;
    for (const auto& [k, v] : c.query) {
      if (k == "tenant") tenant = v;
      if (k == "agent") agent = v;
    }
    if (c.role == "writer" && tenant.empty()) tenant = c.tenant_scope;
    Json lv = Json::array();
    for (const auto& l : *levels) lv.push_back(LevelJson(l));
    Json out = {{"key", key}, {"levels", lv}};
    if (levels->size() == 1) {
      out.update(lv[0]);
      out.erase("scope");
    }
    const int64_t now = Now();
    auto peek = table.Peek(now, th::AcquireRequest{key, 1, tenant, agent, ""});
    if (peek.ok()) {
      out["remaining"] = peek->verdict == th::Verdict::kAllowed ? peek->remaining + 1 : 0;
      out["retry_after"] = Seconds(peek->retry_after_ns);
      out["reset_after"] = Seconds(peek->reset_after_ns);
      if (!tenant.empty()) out["tenant"] = tenant;
    }
    if (auto s = table.Stats(key); s.ok()) {
      out["stats"] = {{"allowed", s->allowed}, {"denied", s->denied}, {"never", s->never}, {"units_allowed", s->units_allowed}};
    }
    Json rs = Json::array();
    for (const auto& r : table.Reservations()) {
      if (r.key == key) rs.push_back(ReservationJson(r, now));
    }
    if (!rs.empty()) out["reservations"] = rs;
    if (HasBreaker(key)) out["breaker"] = th::BreakerStateName(breakers().Snapshot(now, key).state);
    std::lock_guard l(defs_mu);
    out["source"] = api_ratelimits.count(key) ? "api" : "config";
    return Answer(200, out);
  }

  Json ReservationJson(const th::Reservation& r, int64_t now) {
    Json j = {{"id", r.id}, {"key", r.key}, {"level", r.level}, {"rate", th::FormatRate(r.rate)},
              {"burst", r.burst > 0 ? r.burst : r.rate.count}, {"start", FormatTime(r.start_ns / 1'000'000)},
              {"active", r.start_ns <= now && now < r.end_ns}};
    if (r.end_ns != INT64_MAX) j["end"] = FormatTime(r.end_ns / 1'000'000);
    return j;
  }

  ApiAnswer Reserve(const std::string& key, const ApiCall& c) {
    if (auto f = AdminOnly(c, "reserving rate")) return *f;
    Json b;
    if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
    if (auto e = CheckKeys(b, "", {"id", "level", "rate", "burst", "start", "end", "duration"})) return Fail(*e);
    th::Reservation r;
    r.key = key;
    if (auto e = GetString(b, "", "id", &r.id)) return Fail(*e);
    if (r.id.empty()) return Fail(BadRequest("id", "required"));
    if (Status s = th::ValidateName("reservation", r.id); !s.ok() || r.id.find('/') != std::string::npos) {
      return Fail(Unprocessable("id", "use letters, digits and . _ - : (no '/')"));
    }
    int64_t level = 0;
    if (auto e = GetInt(b, "level", 0, &level)) return Fail(*e);
    r.level = static_cast<size_t>(level);
    std::string rate;
    if (auto e = GetString(b, "", "rate", &rate)) return Fail(*e);
    if (rate.empty()) return Fail(BadRequest("rate", "required, e.g. \"1000/h\""));
    auto pr = th::ParseRate(rate);
    if (!pr.ok()) return Fail(Unprocessable("rate", pr.error().message));
    r.rate = *pr;
    if (auto e = GetInt(b, "burst", 1, &r.burst)) return Fail(*e);
    const int64_t now = Now();
    r.start_ns = now;
    for (auto [name, out] : {std::pair<const char*, int64_t*>{"start", &r.start_ns}, {"end", &r.end_ns}}) {
      if (!b.contains(name)) continue;
      if (!b[name].is_string()) return Fail(BadRequest(name, "must be an RFC 3339 time"));
      auto t = ParseTime(b[name].get<std::string>());
      if (!t) return Fail(Unprocessable(name, "must be an RFC 3339 time such as 2025-01-01T12:00:00Z"));
      *out = *t * 1'000'000;
    }
    if (b.contains("duration")) {
      if (b.contains("end")) return Fail(BadRequest("duration", "give end or duration, not both"));
      int64_t ms = 0;
      if (auto e = JsonDurationMs(b["duration"], "duration", 366LL * 86400 * 1000, &ms)) return Fail(*e);
      if (ms <= 0) return Fail(Unprocessable("duration", "must be positive"));
      r.end_ns = r.start_ns + ms * 1'000'000;
    }
    th::Reservation copy = r;
    if (Status s = table.Reserve(now, std::move(r)); !s.ok()) {
      ApiError e = FromLibrary(s.error());
      if (s.code() == ErrorCode::kNotFound) e.field = "key";
      if (s.code() == ErrorCode::kResourceExhausted) e.status = 409;
      return Fail(e);
    }
    return Answer(201, ReservationJson(copy, now));
  }

  ApiAnswer RateLimits(const ApiCall& c, const std::string& rest) {
    const std::string& m = c.method;
    if (rest.empty() || rest == "/") {
      if (m != "GET") return MethodNotAllowed();
      Json keys = Json::array();
      for (const auto& k : table.Keys()) keys.push_back(k);
      return Answer(200, {{"keys", keys}});
    }
    if (rest == ":acquire" || rest == "/acquire") {
      if (m != "POST") return MethodNotAllowed();
      return Batch(c);
    }
    if (rest == "/metrics") {
      if (m != "GET") return MethodNotAllowed();
      if (c.role != "admin" && c.role != "reader") return Forbidden("metrics need an admin or reader token");
      return {200, Metrics(), {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}};
    }
    if (rest[0] != '/') return NotFoundAnswer("", "no such endpoint: /v1/ratelimits" + rest);
    const std::string path = rest.substr(1);
    std::string key;
    if (m == "POST" && CutSuffix(path, "/acquire", &key)) {
      Json b = Json::object();  // an empty body means {"n": 1}
      if (c.body.find_first_not_of(" \t\r\n") != std::string::npos) {
        if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
      }
      AcquireOutcome o = AcquireOne(c, key, b, false);
      return Answer(o.status, o.body);
    }
    if (CutSuffix(path, "/reservations", &key)) {
      if (m == "POST") return Reserve(key, c);
      if (m == "GET") {
        if (!table.Has(key)) return NotFoundAnswer("key", "ratelimit \"" + key + "\": unknown key");
        Json rs = Json::array();
        const int64_t now = Now();
        for (const auto& r : table.Reservations()) {
          if (r.key == key) rs.push_back(ReservationJson(r, now));
        }
        return Answer(200, {{"reservations", rs}});
      }
      return MethodNotAllowed();
    }
    if (size_t p = path.rfind("/reservations/"); p != std::string::npos && m == "DELETE") {
      if (auto f = AdminOnly(c, "cancelling a reservation")) return *f;
      const std::string id = path.substr(p + 14);
      if (Status s = table.CancelReservation(Now(), id); !s.ok()) return NotFoundAnswer("id", s.message());
      return Answer(200, {{"id", id}, {"cancelled", true}});
    }
    key = path;
    if (m == "GET") return RateLimitState(key, c);
    if (m == "PUT") {
      if (auto f = AdminOnly(c, "defining rate limits")) return *f;
      Json b;
      if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
      const bool existed = table.Has(key);
      if (auto e = DefineRateLimit(key, b, true)) return Fail(*e);
      ApiAnswer a = RateLimitState(key, c);
      a.status = existed ? 200 : 201;
      return a;
    }
    if (m == "DELETE") {
      if (auto f = AdminOnly(c, "removing rate limits")) return *f;
      if (Status s = table.Remove(key); !s.ok()) return NotFoundAnswer("key", s.message());
      std::lock_guard l(defs_mu);
      api_ratelimits.erase(key);
      deleted_ratelimits.insert(key);
      if (Status s = SaveDefs(); !s.ok()) return Fail(FromError(s.error()));
      return Answer(200, {{"key", key}, {"deleted", true}});
    }
    return MethodNotAllowed();
  }

  ApiAnswer Batch(const ApiCall& c) {
    Json b = Json::parse(c.body, nullptr, false);
    if (c.body.empty() || b.is_discarded()) return Fail(BadRequest("", "malformed JSON: want {\"requests\": [...]}"));
    if (JsonDepth(c.body) > opt.max_json_depth) return Fail(BadRequest("", "JSON nesting too deep"));
    Json list;
    if (b.is_array()) {
      list = std::move(b);
    } else if (b.is_object()) {
      if (auto e = CheckKeys(b, "", {"requests"})) return Fail(*e);
      if (!b.contains("requests") || !b["requests"].is_array()) return Fail(BadRequest("requests", "must be a list"));
      list = std::move(b["requests"]);
    } else {
      return Fail(BadRequest("", "want {\"requests\": [...]} or a list"));
    }
    if (list.empty()) return Fail(Unprocessable("requests", "must not be empty"));
    if (list.size() > opt.max_batch) {
      return Fail(Unprocessable("requests", "at most " + std::to_string(opt.max_batch) + " per batch"));
    }
    Json results = Json::array();
    size_t allowed = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& item = list[i];
      const std::string where = "requests[" + std::to_string(i) + "]";
      if (!item.is_object() || !item.contains("key") || !item["key"].is_string()) {
        results.push_back({{"error", {{"code", "invalid_argument"}, {"message", where + ".key: required string"}, {"field", where + ".key"}}}});
        continue;
      }
      AcquireOutcome o = AcquireOne(c, item["key"].get<std::string>(), item, true);
      if (o.status != 200) {
        o.body["status"] = o.status;
        o.body["key"] = item["key"];
        if (o.body.contains("error") && o.body["error"].contains("field")) {
          o.body["error"]["field"] = where + "." + o.body["error"]["field"].get<std::string>();
        }
      }
      if (o.body.value("allowed", false)) allowed++;
      results.push_back(std::move(o.body));
    }
    return Answer(200, {{"results", results}, {"allowed", allowed}, {"count", list.size()}});
  }

  // --- pools -----------------------------------------------------------------------------------------

  std::shared_ptr<PoolEntry> FindPool(const std::string& key) {
    std::shared_lock l(pools_mu);
    auto it = pools.find(key);
    return it == pools.end() ? nullptr : it->second;
  }

  // Expires due leases. REQUIRES: e.mu held.
  static void ExpirePool(PoolEntry& e, int64_t now) {
    for (const auto& l : e.pool.Expire(now)) {
      e.owners.erase(l.id);
      e.expired++;
    }
  }

  Json PoolState(PoolEntry& e, const std::string& key, int64_t now, bool with_leases, const ApiCall& c) {
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

  std::optional<ApiError> LeaseIdOf(const Json& b, uint64_t* id) {
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

  ApiAnswer Pools(const ApiCall& c, const std::string& rest) {
    const std::string& m = c.method;
    if (rest.empty() || rest == "/") {
      if (m != "GET") return MethodNotAllowed();
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
    if (rest[0] != '/') return NotFoundAnswer("", "no such endpoint: /v1/pools" + rest);
    const std::string path = rest.substr(1);
    std::string key;
    for (const char* action : {"acquire", "release", "renew"}) {
      if (m == "POST" && CutSuffix(path, std::string("/") + action, &key)) return PoolAction(c, key, action);
    }
    key = path;
    if (m == "PUT") {
      if (auto f = AdminOnly(c, "defining pools")) return *f;
      Json b;
      if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
      const bool existed = FindPool(key) != nullptr;
      if (auto e = DefinePool(key, b, true)) return Fail(*e);
      auto p = FindPool(key);
      std::lock_guard l(p->mu);
      return Answer(existed ? 200 : 201, PoolState(*p, key, Now(), false, c));
    }
    if (m == "GET") {
      auto p = FindPool(key);
      if (!p) return NotFoundAnswer("key", "pool \"" + key + "\": unknown");
      std::lock_guard l(p->mu);
      Json out = PoolState(*p, key, Now(), true, c);
      return Answer(200, out);
    }
    if (m == "DELETE") {
      if (auto f = AdminOnly(c, "removing pools")) return *f;
      {
        std::unique_lock l(pools_mu);
        if (pools.erase(key) == 0) return NotFoundAnswer("key", "pool \"" + key + "\": unknown");
      }
      std::lock_guard l(defs_mu);
      api_pools.erase(key);
      deleted_pools.insert(key);
      if (Status s = SaveDefs(); !s.ok()) return Fail(FromError(s.error()));
      return Answer(200, {{"key", key}, {"deleted", true}});
    }
    return MethodNotAllowed();
  }

  ApiAnswer PoolAction(const ApiCall& c, const std::string& key, const std::string& action) {
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

  // --- breakers --------------------------------------------------------------------------------------

  Json BreakerJson(const std::string& key, int64_t now) {
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

  std::string Metrics();

  ApiAnswer Breakers(const ApiCall& c, const std::string& rest) {
    const std::string& m = c.method;
    if (rest.empty() || rest == "/") {
      if (m != "GET") return MethodNotAllowed();
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
    if (rest[0] != '/') return NotFoundAnswer("", "no such endpoint: /v1/breakers" + rest);
    const std::string path = rest.substr(1);
    std::string key;
    const int64_t now = Now();
    if (m == "POST" && CutSuffix(path, "/report", &key)) {
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
      if (auto f = ActFor(c, &tenant)) return *f;
      if (auto f = AdmitBreaker(key)) return *f;
      {
        std::lock_guard l(audit_mu);
        breakers().Record(now, key, outcome == "success", latency_ns);
        AuditTransitionsLocked(c.actor);  // answered once its transitions are in the event log
      }
      return Answer(200, BreakerJson(key, now));
    }
    if (m == "POST" && CutSuffix(path, "/acquire", &key)) {
      if (!HasBreaker(key)) return NotFoundAnswer("key", "breaker \"" + key + "\": unknown");
      if (c.role != "admin" && c.role != "writer") return Forbidden("role " + c.role + " cannot acquire");
      th::BreakerDecision d = breakers().Allow(now, key);
      Json out = {{"key", key}, {"allowed", d.allowed}, {"state", th::BreakerStateName(d.state)},
                  {"retry_after", Seconds(std::max<int64_t>(d.retry_after_ns, 0))}};
      if (!d.allowed) out["reason"] = d.reason;
      return Answer(200, out);
    }
    key = path;
    if (m == "GET") {
      if (!HasBreaker(key)) return NotFoundAnswer("key", "breaker \"" + key + "\": unknown");
      return Answer(200, BreakerJson(key, now));
    }
    if (m == "PUT") {
      if (auto f = AdminOnly(c, "defining breakers")) return *f;
      Json b;
      if (c.body.find_first_not_of(" \t\r\n") == std::string::npos) {
        b = Json::object();
      } else if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) {
        return Fail(*e);
      }
      if (auto e = DefineBreaker(key, b, true)) return Fail(*e);
      return Answer(200, BreakerJson(key, now));
    }
    return MethodNotAllowed();
  }
};

ThrottleService::ThrottleService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ThrottleService::~ThrottleService() = default;

Result<std::shared_ptr<ThrottleService>> ThrottleService::Create(ThrottleServiceOptions options) {
  auto impl = std::make_unique<Impl>();
  if (!options.now_ns) options.now_ns = SystemNowNs;
  impl->opt = std::move(options);
  if (Status s = impl->LoadConfig(); !s.ok()) return s.error();
  return std::shared_ptr<ThrottleService>(new ThrottleService(std::move(impl)));
}

ApiAnswer ThrottleService::Handle(const ApiCall& call) {
  ApiAnswer a = HandleCall(call);
  impl_->AuditTransitions();
  return a;
}

ApiAnswer ThrottleService::HandleCall(const ApiCall& call) {
  try {
    static constexpr std::string_view kRl = "/v1/ratelimits", kPools = "/v1/pools", kBreakers = "/v1/breakers";
    const std::string& p = call.path;
    if (p.compare(0, kRl.size(), kRl) == 0) return impl_->RateLimits(call, p.substr(kRl.size()));
    if (p.compare(0, kPools.size(), kPools) == 0) {
      std::string rest = p.substr(kPools.size());
      if (!rest.empty() && rest[0] != '/') return NotFoundAnswer("", "no such endpoint: " + p);
      return impl_->Pools(call, rest);
    }
    if (p.compare(0, kBreakers.size(), kBreakers) == 0) {
      std::string rest = p.substr(kBreakers.size());
      if (!rest.empty() && rest[0] != '/') return NotFoundAnswer("", "no such endpoint: " + p);
      return impl_->Breakers(call, rest);
    }
    return NotFoundAnswer("", "no such endpoint: " + p);
  } catch (const std::exception& e) {
    // Input never crashes the server; a JSON type error that slipped past validation is a bad request.
    return Fail(BadRequest("", std::string("bad request: ") + e.what()));
  }
}

std::string ThrottleService::MetricsText() {
  std::string text = impl_->Metrics();
  impl_->AuditTransitions();
  return text;
}

std::string ThrottleService::Impl::Metrics() {
  Impl& s = *this;
  MetricsWriter w;
  const int64_t now = s.Now();
  std::vector<std::string> keys = s.table.Keys();
  std::sort(keys.begin(), keys.end());
  std::vector<std::pair<std::string, th::KeyStats>> stats;
  for (const auto& k : keys) {
    if (auto st = s.table.Stats(k); st.ok()) stats.emplace_back(k, *st);
  }
  w.Family("allot_ratelimit_decisions_total", "counter", "Rate-limit decisions by key and result (never: n above the burst or quota).");
  for (const auto& [k, st] : stats) {
    w.SampleInt("allot_ratelimit_decisions_total", {{"key", k}, {"decision", "allowed"}}, static_cast<int64_t>(st.allowed));
    w.SampleInt("allot_ratelimit_decisions_total", {{"key", k}, {"decision", "denied"}}, static_cast<int64_t>(st.denied));
    w.SampleInt("allot_ratelimit_decisions_total", {{"key", k}, {"decision", "never"}}, static_cast<int64_t>(st.never));
  }
  w.Family("allot_ratelimit_units_allowed_total", "counter", "Units granted by rate-limit key.");
  for (const auto& [k, st] : stats) w.SampleInt("allot_ratelimit_units_allowed_total", {{"key", k}}, static_cast<int64_t>(st.units_allowed));
  {
    std::lock_guard l(s.breaker_denied_mu);
    w.Family("allot_ratelimit_breaker_denied_total", "counter", "Rate-limit acquires refused because a circuit breaker was open.");
    for (const auto& [k, v] : s.breaker_denied) w.SampleInt("allot_ratelimit_breaker_denied_total", {{"key", k}}, static_cast<int64_t>(v));
  }
  std::vector<std::pair<std::string, std::shared_ptr<Impl::PoolEntry>>> pool_list;
  {
    std::shared_lock l(s.pools_mu);
    for (const auto& [k, p] : s.pools) pool_list.emplace_back(k, p);
  }
  struct PoolRow {
    std::string key;
    int64_t capacity, in_use, leases;
    uint64_t allowed, denied, never, expired, released;
  };
  std::vector<PoolRow> rows;
  for (auto& [k, p] : pool_list) {
    std::lock_guard l(p->mu);
    Impl::ExpirePool(*p, now);
    rows.push_back({k, p->pool.capacity(), p->pool.in_use(), static_cast<int64_t>(p->pool.lease_count()), p->allowed,
                    p->denied, p->never, p->expired, p->released});
  }
  w.Family("allot_concurrency_pool_capacity", "gauge", "Units a concurrency pool holds (its limit).");
  for (const auto& r : rows) w.SampleInt("allot_concurrency_pool_capacity", {{"key", r.key}}, r.capacity);
  w.Family("allot_concurrency_pool_in_use", "gauge", "Units held under live leases.");
  for (const auto& r : rows) w.SampleInt("allot_concurrency_pool_in_use", {{"key", r.key}}, r.in_use);
  w.Family("allot_concurrency_pool_leases", "gauge", "Live leases per concurrency pool.");
  for (const auto& r : rows) w.SampleInt("allot_concurrency_pool_leases", {{"key", r.key}}, r.leases);
  w.Family("allot_concurrency_pool_decisions_total", "counter", "Concurrency-pool acquires by result.");
  for (const auto& r : rows) {
    w.SampleInt("allot_concurrency_pool_decisions_total", {{"key", r.key}, {"decision", "allowed"}},
                static_cast<int64_t>(r.allowed));
    w.SampleInt("allot_concurrency_pool_decisions_total", {{"key", r.key}, {"decision", "denied"}},
                static_cast<int64_t>(r.denied));
    w.SampleInt("allot_concurrency_pool_decisions_total", {{"key", r.key}, {"decision", "never"}},
                static_cast<int64_t>(r.never));
  }
  w.Family("allot_concurrency_pool_lease_expiries_total", "counter",
           "Leases that expired (holder gone or silent).");
  for (const auto& r : rows)
    w.SampleInt("allot_concurrency_pool_lease_expiries_total", {{"key", r.key}},
                static_cast<int64_t>(r.expired));
  w.Family("allot_concurrency_pool_releases_total", "counter", "Leases released.");
  for (const auto& r : rows)
    w.SampleInt("allot_concurrency_pool_releases_total", {{"key", r.key}}, static_cast<int64_t>(r.released));

  std::vector<std::string> bkeys;
  {
    std::shared_lock l(s.breaker_keys_mu);
    bkeys.assign(s.breaker_keys.begin(), s.breaker_keys.end());
  }
  std::sort(bkeys.begin(), bkeys.end());
  std::vector<std::pair<std::string, th::BreakerSnapshot>> snaps;
  for (const auto& k : bkeys) snaps.emplace_back(k, s.breakers().Snapshot(now, k));
  w.Family("allot_breaker_state", "gauge",
           "Circuit breaker state: 1 for the state each breaker is in, 0 for the other two.");
  for (const auto& [k, sn] : snaps) {
    for (auto st : {th::BreakerState::kClosed, th::BreakerState::kOpen, th::BreakerState::kHalfOpen}) {
      w.SampleInt("allot_breaker_state", {{"key", k}, {"state", th::BreakerStateName(st)}}, sn.state == st ? 1 : 0);
    }
  }
  // The four edges a breaker can take, each always present (0 until taken).
  constexpr std::pair<th::BreakerState, th::BreakerState> kEdges[] = {
      {th::BreakerState::kClosed, th::BreakerState::kOpen},
      {th::BreakerState::kOpen, th::BreakerState::kHalfOpen},
      {th::BreakerState::kHalfOpen, th::BreakerState::kClosed},
      {th::BreakerState::kHalfOpen, th::BreakerState::kOpen}};
  w.Family("allot_breaker_transitions_total", "counter", "Circuit breaker state changes by edge.");
  for (const auto& [k, sn] : snaps) {
    for (const auto& [from, to] : kEdges) {
      w.SampleInt("allot_breaker_transitions_total",
                  {{"key", k}, {"from", th::BreakerStateName(from)}, {"to", th::BreakerStateName(to)}},
                  static_cast<int64_t>(sn.transitions[static_cast<int>(from)][static_cast<int>(to)]));
    }
  }
  w.Family("allot_breaker_rejected_total", "counter",
           "Calls a circuit breaker refused (open, or half-open with every probe out).");
  for (const auto& [k, sn] : snaps) w.SampleInt("allot_breaker_rejected_total", {{"key", k}}, static_cast<int64_t>(sn.rejected_total));
  w.Family("allot_breaker_window_requests", "gauge", "Calls in the breaker's rolling window.");
  for (const auto& [k, sn] : snaps)
    w.SampleInt("allot_breaker_window_requests", {{"key", k}}, sn.window_requests);
  w.Family("allot_breaker_window_failures", "gauge", "Failures in the breaker's rolling window.");
  for (const auto& [k, sn] : snaps) w.SampleInt("allot_breaker_window_failures", {{"key", k}}, sn.window_failures);
  return std::move(w.text());
}

Status MountThrottleRoutes(Server& server, const ServerConfig& config) {
  ThrottleServiceOptions o;
  o.throttling_yaml = config.throttling_yaml;
  o.data_dir = config.data_dir;
  o.max_json_depth = config.max_json_depth;
  Server* srv = &server;  // outlives the service: both end with the server
  o.audit = [srv](std::vector<AuditEvent> events) { return srv->Audit(std::move(events)); };
  auto svc = ThrottleService::Create(std::move(o));
  if (!svc.ok()) return svc.error();
  std::shared_ptr<ThrottleService> s = *svc;
  for (const char* prefix : {"/v1/ratelimits", "/v1/pools", "/v1/breakers"}) {
    server.AddRoute(prefix, [s](const ApiCall& c) { return s->Handle(c); });
  }
  server.AddMetrics([s] { return s->MetricsText(); });
  return Status::Ok();
}

}  // namespace allot::server
