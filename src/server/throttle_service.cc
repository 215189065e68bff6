// The throttling API's service: config, definitions file, audit of breaker transitions, metrics,
// and the routes it mounts in the server's table (see throttle_state.h).
#include "server/throttle_state.h"

namespace allot::server {

namespace {

constexpr const char* kDefsFile = "throttle-api.json";

}  // namespace

int64_t ThrottleService::Impl::SystemNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiAnswer ThrottleService::Impl::NotFoundAnswer(const std::string& field, const std::string& msg) {
  return Fail({404, "not_found", msg, field});
}

ApiError ThrottleService::Impl::FromLibrary(const Error& e) {
  ApiError a = FromError(e);
  if (e.code == ErrorCode::kInvalidArgument) {
    size_t colon = e.message.find(": ");
    if (colon != std::string::npos && colon < 80 && e.message.find(' ') >= colon) a.field = e.message.substr(0, colon);
  }
  return a;
}

std::string ThrottleService::Impl::CleanMessage(std::string m) {
  for (size_t p; (p = m.find(" (line ")) != std::string::npos;) {
    size_t e = m.find(')', p);
    if (e == std::string::npos) break;
    m.erase(p, e - p + 1);
  }
  while (m.rfind(": ", 0) == 0) m.erase(0, 2);
  return m;
}

ApiError ThrottleService::Impl::FromParser(const Error& e) {
  ApiError a{422, "invalid_value", CleanMessage(e.message), ""};
  size_t colon = a.message.find(": ");
  if (colon != std::string::npos && a.message.find(' ') >= colon) a.field = a.message.substr(0, colon);
  if (a.message.find("unknown key") != std::string::npos) a.status = 400, a.code = "invalid_argument";
  return a;
}

std::optional<ApiError> ThrottleService::Impl::ToYaml(const std::string& body, YAML::Node* out) {
  try {
    *out = YAML::Load(body);
  } catch (const YAML::Exception& e) {
    return BadRequest("", std::string("malformed body: ") + e.what());
  }
  return std::nullopt;
}

bool ThrottleService::Impl::ReservedSegment(std::string_view s) {
  return s == "acquire" || s == "release" || s == "renew" || s == "report" || s == "reservations" || s == "metrics";
}

std::optional<ApiError> ThrottleService::Impl::ValidateKey(const std::string& key, const char* what) {
  if (Status s = th::ValidateName(what, key); !s.ok()) return ApiError{422, "invalid_value", s.message(), "key"};
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string_view segment = std::string_view(key).substr(start, end - start);
    if (segment == "." || segment == "..") {
      return ApiError{422, "invalid_value", std::string(what) + " \"" + key + "\": '.' and '..' cannot be key segments", "key"};
    }
    if (ReservedSegment(segment)) {
      return ApiError{422, "invalid_value",
                      std::string(what) + " \"" + key + "\": \"" + key.substr(start, end - start) +
                          "\" is reserved for actions and cannot be a key segment",
                      "key"};
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<ApiError> ThrottleService::Impl::GetInt(const Json& obj, const char* key, int64_t min, int64_t* out) {
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

Json ThrottleService::Impl::LevelJson(const th::LimitSpec& l) {
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

Json ThrottleService::Impl::LeaseJson(const th::Lease& l) {
  return {{"lease", l.id},
          {"tenant", l.tenant},
          {"holder", l.holder},
          {"n", l.n},
          {"acquired_at", FormatTime(l.acquired_ns / 1'000'000)},
          {"expires_at", FormatTime(l.expires_ns / 1'000'000)}};
}

ThrottleService::ThrottleService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ThrottleService::~ThrottleService() = default;

Result<std::shared_ptr<ThrottleService>> ThrottleService::Create(ThrottleServiceOptions options) {
  auto impl = std::make_unique<Impl>();
  if (!options.now_ns) options.now_ns = Impl::SystemNowNs;
  impl->opt = std::move(options);
  if (Status s = impl->LoadConfig(); !s.ok()) return s.error();
  return std::shared_ptr<ThrottleService>(new ThrottleService(std::move(impl)));
}

ApiAnswer ThrottleService::Call(ApiAnswer (Impl::*route)(const ApiCall&), const ApiCall& call) {
  ApiAnswer a;
  try {
    a = (impl_.get()->*route)(call);
  } catch (const std::exception& e) {
    // Input never crashes the server; a JSON type error that slipped past validation is a bad request.
    a = Impl::Fail(BadRequest("", std::string("bad request: ") + SafeUtf8(e.what(), 200)));
  }
  impl_->AuditTransitions();
  return a;
}

void ThrottleService::Mount(Server& server, std::shared_ptr<ThrottleService> self) {
  using I = Impl;
  // More specific patterns first: "{key+}" takes as many segments as leave the rest a match.
  const std::pair<const char*, const char*> kBatch[] = {{"POST", "/v1/ratelimits:acquire"}, {"POST", "/v1/ratelimits/acquire"}};
  const struct {
    const char* method;
    const char* pattern;
    ApiAnswer (I::*route)(const ApiCall&);
  } kRoutes[] = {
      {"GET", "/v1/ratelimits", &I::ListRateLimits},
      {"GET", "/v1/ratelimits/metrics", &I::RateLimitMetrics},
      {"POST", "/v1/ratelimits/{key+}/acquire", &I::AcquireRateLimit},
      {"GET", "/v1/ratelimits/{key+}/reservations", &I::ListRateLimitReservations},
      {"POST", "/v1/ratelimits/{key+}/reservations", &I::ReserveRateLimit},
      {"DELETE", "/v1/ratelimits/{key+}/reservations/{id}", &I::CancelRateLimitReservation},
      {"GET", "/v1/ratelimits/{key+}", &I::GetRateLimit},
      {"PUT", "/v1/ratelimits/{key+}", &I::PutRateLimit},
      {"DELETE", "/v1/ratelimits/{key+}", &I::DeleteRateLimit},
      {"GET", "/v1/pools", &I::ListPools},
      {"POST", "/v1/pools/{key+}/acquire", &I::AcquirePool},
      {"POST", "/v1/pools/{key+}/release", &I::ReleasePool},
      {"POST", "/v1/pools/{key+}/renew", &I::RenewPool},
      {"GET", "/v1/pools/{key+}", &I::GetPool},
      {"PUT", "/v1/pools/{key+}", &I::PutPool},
      {"DELETE", "/v1/pools/{key+}", &I::DeletePool},
      {"GET", "/v1/breakers", &I::ListBreakers},
      {"POST", "/v1/breakers/{key+}/report", &I::ReportBreaker},
      {"POST", "/v1/breakers/{key+}/acquire", &I::AcquireBreaker},
      {"GET", "/v1/breakers/{key+}", &I::GetBreaker},
      {"PUT", "/v1/breakers/{key+}", &I::PutBreaker},
  };
  for (const auto& [method, pattern] : kBatch) {
    server.AddRoute(method, pattern, [self](const ApiCall& c) { return self->Call(&I::Batch, c); });
  }
  for (const auto& r : kRoutes) {
    server.AddRoute(r.method, r.pattern, [self, route = r.route](const ApiCall& c) { return self->Call(route, c); });
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
  ThrottleService::Mount(server, s);
  server.AddMetrics([s] { return s->MetricsText(); });
  return Status::Ok();
}

// Audits the breaker transitions not audited yet: open -> half_open (the cool-down) as "server"'s,
// any other (only reports make them) as `actor`'s; one log line each. REQUIRES: audit_mu held.
void ThrottleService::Impl::AuditTransitionsLocked(const std::string& actor) {
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
void ThrottleService::Impl::AuditTransitions() {
  if (!any_breaker.load(std::memory_order_acquire) || !breakers().has_pending_transitions()) return;
  std::lock_guard l(audit_mu);
  AuditTransitionsLocked("");
}

std::string ThrottleService::Impl::DefsPath() const {
  if (opt.data_dir.empty() || opt.data_dir == ":memory:") return "";
  return opt.data_dir + "/" + kDefsFile;
}

// Rewrites the definitions file (temp file, fsync, rename). REQUIRES: defs_mu held.
Status ThrottleService::Impl::SaveDefs() {
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

Status ThrottleService::Impl::LoadConfig() {
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
      any_breaker.store(true, std::memory_order_release);
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

// Resolves the tenant a caller acts for; nullopt = allowed, else the refusal.
std::optional<ApiAnswer> ThrottleService::Impl::ActFor(const ApiCall& c, std::string* tenant) {
  if (c.role == "admin") return std::nullopt;
  if (c.role != "writer") return Forbidden("role " + c.role + " cannot acquire, release or report");
  if (tenant->empty()) *tenant = c.tenant_scope;
  if (!c.tenant_scope.empty() && !InSubtree(*tenant, c.tenant_scope)) {
    return Forbidden("tenant " + *tenant + " is outside this token's subtree " + c.tenant_scope);
  }
  return std::nullopt;
}

std::optional<ApiAnswer> ThrottleService::Impl::AdminOnly(const ApiCall& c, const char* what) {
  if (c.role == "admin") return std::nullopt;
  return Forbidden(std::string(what) + " needs an admin token");
}

}  // namespace allot::server
