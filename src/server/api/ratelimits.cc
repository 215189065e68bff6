// /v1/ratelimits: GCRA rate limits and daily quotas per key, their acquires (single and batch),
// reservations and definitions.
#include "server/throttle_state.h"

namespace allot::server {

// Each Define* validates and applies `body`; `save` records it in the definitions file.
std::optional<ApiError> ThrottleService::Impl::DefineRateLimit(const std::string& key, const Json& body, bool save) {
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

// One acquire; `item` is the request object (from a single call or one batch entry).
ThrottleService::Impl::AcquireOutcome ThrottleService::Impl::AcquireOne(const ApiCall& c, const std::string& key, const Json& item, bool batch) {
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
  return Outcome(key, n, d, breaker_json);
}

ThrottleService::Impl::AcquireOutcome ThrottleService::Impl::Outcome(const std::string& key, int64_t n,
                                                                     const Result<th::RateDecision>& d,
                                                                     const Json& breaker_json) {
  auto fail = [&](const ApiError& e) { return AcquireOutcome{e.status, Json::parse(ErrorBody(e))}; };
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

ApiAnswer ThrottleService::Impl::RateLimitState(const std::string& key, const ApiCall& c) {
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

Json ThrottleService::Impl::ReservationJson(const th::Reservation& r, int64_t now) {
  Json j = {{"id", r.id}, {"key", r.key}, {"level", r.level}, {"rate", th::FormatRate(r.rate)},
            {"burst", r.burst > 0 ? r.burst : r.rate.count}, {"start", FormatTime(r.start_ns / 1'000'000)},
            {"active", r.start_ns <= now && now < r.end_ns}};
  if (r.end_ns != INT64_MAX) j["end"] = FormatTime(r.end_ns / 1'000'000);
  return j;
}

ApiAnswer ThrottleService::Impl::Reserve(const std::string& key, const ApiCall& c) {
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

ApiAnswer ThrottleService::Impl::ListRateLimits(const ApiCall&) {
  Json keys = Json::array();
  for (const auto& k : table.Keys()) keys.push_back(k);
  return Answer(200, {{"keys", keys}});
}

ApiAnswer ThrottleService::Impl::RateLimitMetrics(const ApiCall& c) {
  if (c.role != "admin" && c.role != "reader") return Forbidden("metrics need an admin or reader token");
  return {200, Metrics(), {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}};
}

namespace {

// An empty body, or {"n": N} with N a plain positive integer of at most 9 digits (blanks allowed between
// the tokens): nearly every single acquire. *n is N (1 for an empty body). Anything else is false and
// goes the general way, which validates it.
bool SimpleAcquireBody(std::string_view body, int64_t* n) {
  size_t i = 0;
  auto blanks = [&] {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
  };
  auto take = [&](std::string_view token) {
    blanks();
    if (body.substr(i, token.size()) != token) return false;
    i += token.size();
    return true;
  };
  blanks();
  if (i == body.size()) {
    *n = 1;
    return true;
  }
  if (!take("{") || !take("\"n\"") || !take(":")) return false;
  blanks();
  const size_t start = i;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') i++;
  if (i == start || i - start > 9 || body[start] == '0') return false;
  const size_t end = i;
  if (!take("}")) return false;
  blanks();
  if (i != body.size()) return false;
  *n = 0;
  for (size_t k = start; k < end; k++) *n = *n * 10 + (body[k] - '0');
  return true;
}

}  // namespace

std::string ThrottleService::Impl::DecisionText(const std::string& key, const th::RateDecision& d) {
  JsonWriter w;
  w.BeginObject().Key("allowed").Bool(d.allowed());
  if (d.from_reservation) w.Key("from_reservation").Bool(true);
  w.Key("key").String(key);
  if (!d.allowed())
    w.Key("limited_by").String(d.limited_by).Key("reason").String("rate limit: level " + d.limited_by);
  w.Key("remaining").Int(d.remaining);
  w.Key("reset_after").Value(Json(Seconds(d.reset_after_ns)));
  w.Key("retry_after").Value(Json(Seconds(d.retry_after_ns)));
  w.EndObject();
  return std::move(w.out());
}

ApiAnswer ThrottleService::Impl::AcquireRateLimit(const ApiCall& c) {
  const std::string& key = c.Param("key");
  int64_t n = 1;
  if (SimpleAcquireBody(c.body, &n) && !HasBreaker(key)) {
    // The common call (no tenant, agent, reservation or breaker named, and no breaker on the key), decided
    // as the general way below decides it and answered without building JSON values.
    std::string tenant;
    if (auto refusal = ActFor(c, &tenant)) return *refusal;
    Result<th::RateDecision> d = table.Acquire(Now(), th::AcquireRequest{key, n, tenant, "", ""});
    if (d.ok() && d->verdict != th::Verdict::kNever) return {200, DecisionText(key, *d), {}};
    AcquireOutcome o = Outcome(key, n, d, Json());
    return Answer(o.status, o.body);
  }
  Json b = Json::object();  // an empty body means {"n": 1}
  if (c.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
  }
  AcquireOutcome o = AcquireOne(c, key, b, false);
  return Answer(o.status, o.body);
}

ApiAnswer ThrottleService::Impl::ListRateLimitReservations(const ApiCall& c) {
  const std::string& key = c.Param("key");
  if (!table.Has(key)) return NotFoundAnswer("key", "ratelimit \"" + key + "\": unknown key");
  Json rs = Json::array();
  const int64_t now = Now();
  for (const auto& r : table.Reservations()) {
    if (r.key == key) rs.push_back(ReservationJson(r, now));
  }
  return Answer(200, {{"reservations", rs}});
}

ApiAnswer ThrottleService::Impl::CancelRateLimitReservation(const ApiCall& c) {
  if (auto f = AdminOnly(c, "cancelling a reservation")) return *f;
  const std::string& id = c.Param("id");
  if (Status st = table.CancelReservation(Now(), id); !st.ok()) return NotFoundAnswer("id", st.message());
  return Answer(200, {{"id", id}, {"cancelled", true}});
}

ApiAnswer ThrottleService::Impl::PutRateLimit(const ApiCall& c) {
  if (auto f = AdminOnly(c, "defining rate limits")) return *f;
  const std::string& key = c.Param("key");
  Json b;
  if (auto e = ParseBody(c.body, opt.max_json_depth, &b)) return Fail(*e);
  const bool existed = table.Has(key);
  if (auto e = DefineRateLimit(key, b, true)) return Fail(*e);
  ApiAnswer a = RateLimitState(key, c);
  a.status = existed ? 200 : 201;
  return a;
}

ApiAnswer ThrottleService::Impl::DeleteRateLimit(const ApiCall& c) {
  if (auto f = AdminOnly(c, "removing rate limits")) return *f;
  const std::string& key = c.Param("key");
  if (Status st = table.Remove(key); !st.ok()) return NotFoundAnswer("key", st.message());
  std::lock_guard l(defs_mu);
  api_ratelimits.erase(key);
  deleted_ratelimits.insert(key);
  if (Status st = SaveDefs(); !st.ok()) return Fail(FromError(st.error()));
  return Answer(200, {{"key", key}, {"deleted", true}});
}

ApiAnswer ThrottleService::Impl::Batch(const ApiCall& c) {
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

}  // namespace allot::server
