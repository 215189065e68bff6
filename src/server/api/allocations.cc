// /v1/allocations: submission (admission, degradation gate, limits, idempotency), watch, list, release,
// renew.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "allot/autoscale.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/state.h"
#include "server/api/api.h"

namespace allot::server {

namespace {

// The allocation if `who` may see it; answers 404/403 itself otherwise. REQUIRES: mu held.
std::optional<AllocationInfo> Visible(State& srv, const std::string& id, const Principal& who, const net::Responder& r) {
  auto info = srv.Lookup(id);
  if (!info) {
    srv.NotFound(r, "allocation " + id + " is unknown (or finished long ago)");
    return std::nullopt;
  }
  if (!who.CoversTenant(info->tenant) || who.role == "agent") {
    r.Send(ErrorResponse(Forbidden("allocation " + id + " belongs to a tenant outside this token's subtree")));
    return std::nullopt;
  }
  return info;
}

// Seed 001's spelling of a field beside allot's (`workflow_id` for `workflow`, `resources` for
// `requests`): the name the body uses, or an error when it gives both.
std::optional<ApiError> Alias(const Json& body, const char* name, const char* alias, const char** used) {
  bool has_alias = body.contains(alias) && !body[alias].is_null();
  if (body.contains(name) && !body[name].is_null() && has_alias) {
    return BadRequest(alias, std::string("give ") + name + " or " + alias + ", not both");
  }
  *used = has_alias ? alias : name;
  return std::nullopt;
}

// The request of a POST /v1/allocations body as `who` may make it (its tenant in `who`'s subtree), its
// idempotency key, lease, agent_id and unit warnings; the first problem as an error that names the field
// (403 for the tenant). Seed 001's fields are accepted: agent_id, agent_type, workflow_id, resources.
std::optional<ApiError> ParseSubmission(const State& srv, const std::string& text, const Principal& who, RequestSpec* spec,
                                        std::string* idem, int64_t* lease_ms, std::string* agent,
                                        std::vector<std::string>* warnings) {
  Json body;
  if (auto e = server::ParseBody(text, srv.cfg.max_json_depth, &body)) return *e;
  if (auto e = server::CheckKeys(body, "", {"tenant", "workflow", "priority", "requests", "limits", "duration",
                                            "ttl", "wait", "selector", "tolerations", "preemptible", "count",
                                            "spread", "reservation", "idempotency_key", "agent_id", "agent_type",
                                            "workflow_id", "resources"})) {
    return *e;
  }
  std::string agent_type;
  if (auto e = server::GetString(body, "", "agent_id", agent, 253)) return *e;
  if (auto e = server::GetString(body, "", "agent_type", &agent_type, 253)) return *e;
  const char* type_field = agent_type.empty() ? "agent_id" : "agent_type";
  if (agent_type.empty() && !agent->empty()) agent_type = AgentType(*agent);
  spec->tenant = who.role == "writer" ? who.tenant : "default";
  if (!agent_type.empty()) {
    // The agent type's tenant: the type itself, inside a writer's subtree.
    if (auto e = server::ValidateTenant(agent_type, type_field)) return *e;
    spec->tenant = who.role == "writer" && !who.CoversTenant(agent_type) ? who.tenant + "/" + agent_type : agent_type;
  }
  if (auto e = server::GetString(body, "", "tenant", &spec->tenant)) return *e;
  if (auto e = server::ValidateTenant(spec->tenant, "tenant")) return *e;
  if (!who.CoversTenant(spec->tenant)) {
    return Forbidden("tenant " + spec->tenant + " is outside this token's subtree " + who.tenant);
  }
  const char* workflow = nullptr;
  if (auto e = Alias(body, "workflow", "workflow_id", &workflow)) return *e;
  if (auto e = server::GetString(body, "", workflow, &spec->workflow)) return *e;
  if (body.contains("priority")) {
    if (auto e = server::GetPriority(body["priority"], "priority", &spec->priority)) return *e;
  }
  const char* requests = nullptr;
  if (auto e = Alias(body, "requests", "resources", &requests)) return *e;
  if (!body.contains(requests)) return BadRequest("requests", "is required (or seed 001's resources)");
  if (auto e = server::GetResources(body[requests], requests, &spec->requests, warnings, srv.cfg.strict_units)) {
    return *e;
  }
  bool any = false;
  for (const auto& [k, v] : spec->requests) any |= v > 0;
  if (!any) return Unprocessable(requests, "must ask for a positive amount of some resource");
  if (body.contains("limits")) {
    if (auto e = server::GetResources(body["limits"], "limits", &spec->limits, warnings, srv.cfg.strict_units)) {
      return *e;
    }
    for (const auto& [k, v] : spec->limits) {
      auto q = spec->requests.find(k);
      if (q != spec->requests.end() && v < q->second) {
        return Unprocessable("limits." + k, "is below the request");
      }
    }
  }
    if (body.contains("duration") && !body["duration"].is_null()) {
    if (auto e = server::JsonDurationMs(body["duration"], "duration", srv.cfg.max_lease_ms, lease_ms)) return *e;
    if (*lease_ms <= 0) return Unprocessable("duration", "must be positive");
    spec->duration = *lease_ms;
    spec->ttl = true;
  }
  if (body.contains("ttl") && !body["ttl"].is_null()) {
    bool ttl = true;
    if (auto e = server::GetBool(body, "", "ttl", &ttl)) return *e;
    spec->ttl = ttl && spec->duration.has_value();
  }
  if (body.contains("wait") && !body["wait"].is_null()) {
    int64_t w = 0;
    if (auto e = server::JsonDurationMs(body["wait"], "wait", srv.cfg.max_lease_ms, &w)) return *e;
    spec->wait = w;
  }
  if (body.contains("selector")) {
    if (auto e = server::GetLabels(body["selector"], "selector", &spec->selector)) return *e;
  }
  if (body.contains("tolerations") && !body["tolerations"].is_null()) {
    const Json& ts = body["tolerations"];
    if (!ts.is_array()) return BadRequest("tolerations", "must be a list");
    for (size_t i = 0; i < ts.size(); i++) {
      std::string f = "tolerations[" + std::to_string(i) + "]";
      if (!ts[i].is_object()) return BadRequest(f, "must be an object");
      if (auto e = server::CheckKeys(ts[i], f, {"key", "value", "operator", "effect"})) return *e;
      Toleration t;
      if (auto e = server::GetString(ts[i], f, "key", &t.key)) return *e;
      if (auto e = server::GetString(ts[i], f, "value", &t.value)) return *e;
      if (auto e = server::GetString(ts[i], f, "operator", &t.op)) return *e;
      if (auto e = server::GetString(ts[i], f, "effect", &t.effect)) return *e;
      if (!t.effect.empty() && t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
        return Unprocessable(f + ".effect", "must be NoSchedule, PreferNoSchedule or NoExecute (or empty: all)");
      }
      if (t.op != "Equal" && t.op != "Exists") return Unprocessable(f + ".operator", "must be Equal or Exists");
      spec->tolerations.push_back(t);
    }
  }
  if (auto e = server::GetBool(body, "", "preemptible", &spec->preemptible)) return *e;
  if (auto e = server::GetBool(body, "", "spread", &spec->spread)) return *e;
  if (body.contains("count") && !body["count"].is_null()) {
    if (!body["count"].is_number_integer()) return BadRequest("count", "must be an integer");
    int64_t c = body["count"].get<int64_t>();
    if (c < 1 || c > 10000) return Unprocessable("count", "must be between 1 and 10000");
    spec->count = static_cast<int>(c);
  }
  if (auto e = server::GetString(body, "", "reservation", &spec->reservation)) return *e;
  if (auto e = server::GetString(body, "", "idempotency_key", idem, 256)) return *e;
  return std::nullopt;
}

// Seed 001's per-agent caps (limits.global.max_cpu_per_agent, max_memory_per_agent) over the agent's
// active allocations with `spec` added: the 429 when it would go over one. REQUIRES: mu held.
std::optional<ApiError> AgentCapError(const State& srv, const std::string& agent, const RequestSpec& spec) {
  if (agent.empty() || (srv.cfg.max_cpu_per_agent <= 0 && srv.cfg.max_memory_per_agent <= 0)) return std::nullopt;
  State::AgentUsage held;
  if (auto u = srv.agent_usage.find(agent); u != srv.agent_usage.end()) held = u->second;
  int64_t cpu = held.cpu + Get(spec.requests, "cpu") * spec.count;
  int64_t memory = held.memory + Get(spec.requests, "memory") * spec.count;
  if (srv.cfg.max_cpu_per_agent > 0 && cpu > srv.cfg.max_cpu_per_agent) {
    return ApiError{429, "resource_exhausted",
                    "agent " + agent + " would hold " + FormatMilli(cpu) + " cpu, over its cap of " +
                        FormatMilli(srv.cfg.max_cpu_per_agent),
                    "limits.global.max_cpu_per_agent"};
  }
  if (srv.cfg.max_memory_per_agent > 0 && memory > srv.cfg.max_memory_per_agent) {
    return ApiError{429, "resource_exhausted",
                    "agent " + agent + " would hold " + FormatBytes(memory) + " memory, over its cap of " +
                        FormatBytes(srv.cfg.max_memory_per_agent),
                    "limits.global.max_memory_per_agent"};
  }
  return std::nullopt;
}

// The answer to a submission the engine decided: 201 placed, 202 queued, 409 rejected (its error code the
// engine's reason code, never derived from its text), with the degradation level and unit warnings.
// REQUIRES: mu held.
net::HttpResponse SubmitAnswer(State& srv, const AllocationInfo& info, const std::string& idem,
                               const std::vector<std::string>& warnings) {
  JsonWriter w;
  w.BeginObject();
  srv.WriteAllocFields(w, info, &idem);
  w.Key("degradation").Value(srv.DegradationJson());
  int status = info.state == AllocState::kPlaced ? 201 : info.state == AllocState::kQueued ? 202 : 409;
  if (status == 409) {
    w.Key("error").BeginObject();
    w.Key("code").String(info.reason_code != ReasonCode::kNone ? ReasonCodeName(info.reason_code)
                                                               : AllocStateName(info.state));
    w.Key("message").String("allocation " + info.id + " was " + AllocStateName(info.state) +
                            (info.reason.empty() ? "" : ": " + info.reason));
    w.EndObject();
  }
  if (!warnings.empty()) w.Key("warnings").Value(warnings);
  w.EndObject();
  net::HttpResponse resp = JsonTextResponse(status, std::move(w.out()));
  server::AddWarningHeaders(warnings, &resp.headers);
  return resp;
}

void Submit(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "writer") {
    return srv.Reject(r, Forbidden("allocating needs an admin or writer token"), "forbidden");
  }
  RequestSpec spec;
  std::string idem;
  int64_t lease_ms = 0;
  std::string agent;
  std::vector<std::string> warnings;
  if (auto e = ParseSubmission(srv, req.body, who, &spec, &idem, &lease_ms, &agent, &warnings)) {
    return srv.Reject(r, *e, e->status == 403 ? "forbidden" : "invalid");
  }

  // Adaptive admission: the ticket is returned when the answer is durable (or on any early answer).
  State::AdmissionTicket ticket;
  ticket.impl = &srv;
  ticket.t0_us = SteadyMicros();
  int64_t admission_limit = 0;
  {
    std::lock_guard<std::mutex> al(srv.admission_mu);
    ticket.acquired = srv.admission->TryAcquire();
    admission_limit = srv.admission->limit();
    if (!ticket.acquired && srv.cfg.admission_enforced) srv.admission_refusals++;
  }
  if (!ticket.acquired && srv.cfg.admission_enforced) {
    ticket.live = false;  // refused before any work: no latency sample
    srv.CountRejection("overloaded");
    Json j = {{"error", {{"code", "overloaded"},
                         {"message", "the server is shedding load: " + std::to_string(admission_limit) +
                                         " submissions in flight is its adaptive limit now; retry shortly"},
                         {"field", "throttling.admission"}}}};
    {
      std::lock_guard<std::mutex> l(srv.mu);
      j["degradation"] = srv.DegradationJson();
    }
    net::HttpResponse resp = JsonResponse(429, j);
    resp.headers.push_back({"Retry-After", "1"});
    return r.Send(std::move(resp));
  }

  std::lock_guard<std::mutex> l(srv.mu);
  if (auto e = srv.UndeclaredTenant(spec.tenant)) return srv.Invalid(r, *e);
  int64_t now = server::WallNowMs();
  if (!idem.empty()) {
    auto it = srv.idem_index.find(spec.tenant + "\n" + idem);
    if (it != srv.idem_index.end()) {
      // A retry: answer with the allocation the first request made, once that is durable.
      auto info = srv.Lookup(it->second);
      if (info) {
        JsonWriter w;
        w.BeginObject();
        srv.WriteAllocFields(w, *info, &idem);
        w.Key("degradation").Value(srv.DegradationJson());
        w.EndObject();
        net::HttpResponse resp = JsonTextResponse(info->state == AllocState::kQueued ? 202 : 201, std::move(w.out()));
        resp.headers.push_back({"Idempotent-Replay", "true"});
        srv.CommitThen(Batch{}, r, std::move(resp), {}, ticket.Handoff());
        return;
      }
    }
  }
  // Degradation: the priority gate of the cluster's level (fresh allocated totals, plus the timer's
  // effective utilisation that includes observed usage).
  Batch b;
  srv.ObserveAllocated(now, &b);
  throttle::GateDecision gate = srv.degradation->Gate(srv.Ns(now), spec.priority);
  if (!gate.allowed && srv.cfg.degradation_enforced) {
    srv.degradation_refusals++;
    srv.CountRejection("degraded");
    std::string worst;
    double worst_pct = 0;
    srv.degradation->RawLevel(&worst, &worst_pct);
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", worst_pct);
    Json j = {{"error", {{"code", "degraded"},
                         {"message", "the cluster is at degradation level " + std::to_string(gate.level) + " (" +
                                         LevelName(gate.level) + "): " + gate.reason + "; this request has priority " +
                                         std::to_string(spec.priority) +
                                         (worst.empty() ? "" : "; worst: " + worst + " at " + pct + " %") +
                                         "; retry later, or shrink work by the scale factor"},
                         {"field", "priority"}}},
              {"degradation", srv.DegradationJson()}};
    net::HttpResponse resp = JsonResponse(503, j);
    resp.headers.push_back({"Retry-After", std::to_string(std::max<int64_t>(1, srv.degradation_options.dwell_ns / 1'000'000'000))});
    return srv.CommitThen(std::move(b), r, std::move(resp), {}, ticket.Handoff());
  }
  auto limited = [&](const ApiError& e) {
    srv.CountRejection("limit");
    Json j = Json::parse(server::ErrorBody(e));
    j["degradation"] = srv.DegradationJson();
    net::HttpResponse resp = JsonResponse(e.status, j);
    resp.headers.push_back({"Retry-After", "1"});
    srv.CommitThen(std::move(b), r, std::move(resp), {}, ticket.Handoff());
  };
  if (srv.cfg.max_concurrent_allocations > 0 && srv.active.size() >= srv.cfg.max_concurrent_allocations) {
    return limited({429, "resource_exhausted",
                    "the server holds its limit of " + std::to_string(srv.cfg.max_concurrent_allocations) +
                        " concurrent allocations", "limits.max_concurrent_allocations"});
  }
  if (srv.cfg.max_allocations_per_tenant > 0) {
    auto t = srv.tenant_active.find(spec.tenant);
    if (t != srv.tenant_active.end() && t->second >= srv.cfg.max_allocations_per_tenant) {
      return limited({429, "resource_exhausted",
                      "tenant " + spec.tenant + " holds its limit of " + std::to_string(srv.cfg.max_allocations_per_tenant) +
                          " allocations", "limits.max_allocations_per_tenant"});
    }
  }
  if (auto e = AgentCapError(srv, agent, spec)) return limited(*e);
  // Ids grow with time (the wall clock's milliseconds above 20 random bits), so the store's tables take
  // new allocations at their end: a group commit writes a few pages, not one per allocation at random.
  do {
    char buf[24];
    uint64_t v = (static_cast<uint64_t>(std::max<int64_t>(now, 0)) << 20) | (srv.rng() & 0xFFFFF);
    std::snprintf(buf, sizeof buf, "a-%016llx", static_cast<unsigned long long>(v));
    spec.id = buf;
  } while (srv.active.count(spec.id) || srv.finished.count(spec.id));
  int64_t t0 = SteadyMicros();
  auto st = srv.engine->Submit(spec, now);
  if (!st.ok()) {
    (void)srv.engine->TakeEvents();
    if (!b.empty()) srv.CommitThen(std::move(b), net::Responder(), {});
    return srv.Invalid(r, server::FromError(st.error()));
  }
  std::string id = srv.engine->LastId();
  State::Meta& m = srv.active[id];
  m.tenant = spec.tenant;
  m.idem = idem;
  m.actor = who.name;
  m.agent = agent;
  srv.AddAgentUsage(agent, spec.requests, spec.count, +1);
  m.lease_ms = lease_ms;
  m.spec = std::make_unique<RequestSpec>(spec);
  m.spec->id = id;
  srv.tenant_active[spec.tenant]++;
  if (!idem.empty()) srv.idem_index[spec.tenant + "\n" + idem] = id;
  srv.engine->Schedule(now);
  srv.decision_latency.Observe(static_cast<double>(SteadyMicros() - t0) / 1e6);
  srv.ObserveAllocated(now, &b);  // the level this decision leaves behind
  auto fire = srv.Collect(who.name, &b);
  auto info = srv.Lookup(id);
  if (!info) return r.Send(ErrorResponse({500, "internal", "the allocation vanished", ""}));
  // A request the engine placed is persisted by Collect; one it merely queued is too.
  srv.CommitThen(std::move(b), r, SubmitAnswer(srv, *info, idem, warnings), std::move(fire), ticket.Handoff());
}

void GetAllocation(State& srv, const std::string& id, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.mu);
  auto info = Visible(srv, id, who, r);
  if (!info) return;
  std::string wait_text = req.Query("wait", req.Query("watch"));
  if (!wait_text.empty()) {
    // Long-poll: answer once the state differs from `state` (default: the current one), or at the timeout.
    auto ms = server::ParseDurationMs(wait_text);
    if (!ms) return srv.Invalid(r, Unprocessable("wait", "invalid duration \"" + wait_text + "\""));
    AllocState from = info->state;
    std::string st = req.Query("state");
    if (!st.empty()) {
      bool found = false;
      for (int s = 0; s <= static_cast<int>(AllocState::kRejected); s++) {
        if (st == AllocStateName(static_cast<AllocState>(s))) {
          from = static_cast<AllocState>(s);
          found = true;
        }
      }
      if (!found) return srv.Invalid(r, Unprocessable("state", "unknown state \"" + st + "\""));
    }
    if (info->state == from && IsActive(info->state) && *ms > 0) {
      srv.watches.insert({id, {r, from, server::WallNowMs() + std::min(*ms, srv.cfg.max_watch_ms)}});
      srv.timer_cv.notify_one();
      return;
    }
  }
  const std::string* idem = nullptr;
  auto a = srv.active.find(id);
  if (a != srv.active.end()) idem = &a->second.idem;
  auto f = srv.finished.find(id);
  if (!idem && f != srv.finished.end()) idem = &f->second.idem;
  if (info->state == AllocState::kQueued) {
    Json body = srv.AllocJson(*info, idem);
    AddQueuePlace(srv, &body);
    return r.Send(JsonResponse(200, body));
  }
  JsonWriter w;
  w.BeginObject();
  srv.WriteAllocFields(w, *info, idem);
  w.EndObject();
  r.Send(JsonTextResponse(200, std::move(w.out())));
}

void ListAllocations(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role == "agent") return srv.Reject(r, Forbidden("agents cannot list allocations"), "forbidden");
  std::string tenant = req.Query("tenant");
  std::string state = req.Query("state");
  std::string node = req.Query("node");
  std::string agent = req.Query("agent_id");
  size_t limit = 1000;
  if (req.HasQuery("limit")) {
    int64_t v = 0;
    if (auto e = server::ParseCount(req.Query("limit"), "limit", 0, 100000, &v)) return srv.Invalid(r, *e);
    limit = static_cast<size_t>(v);
  }
  if (!tenant.empty() && !who.CoversTenant(tenant) && !InScope(who, tenant)) {
    return srv.Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree " + who.tenant), "forbidden");
  }
  std::lock_guard<std::mutex> l(srv.mu);
  std::vector<AllocationInfo> out;
  std::set<std::string> seen;
  size_t total = 0;
  auto consider = [&](const AllocationInfo& i) {
    if (!seen.insert(i.id).second) return;
    if (!who.CoversTenant(i.tenant)) return;
    if (!tenant.empty() && !server::InSubtree(i.tenant, tenant)) return;
    if (!state.empty() && state != AllocStateName(i.state)) return;
    if (!node.empty() && std::find(i.nodes.begin(), i.nodes.end(), node) == i.nodes.end()) return;
    if (!agent.empty() && srv.AgentOf(i.id) != agent) return;
    total++;
    if (out.size() < limit) out.push_back(i);
  };
  // The server's own indexes, not the engine's whole history: active ones, then retained finished ones.
  if (state.empty() || state == "queued" || state == "placed") {
    for (const auto& [id, m] : srv.active) {
      if (!tenant.empty() && !server::InSubtree(m.tenant, tenant)) continue;
      if (!who.CoversTenant(m.tenant)) continue;
      auto info = srv.engine->Get(id);
      if (info.ok()) consider(*info);
    }
  }
  if (state.empty() || (state != "queued" && state != "placed")) {
    for (auto it = srv.finished_order.rbegin(); it != srv.finished_order.rend(); ++it) {
      auto f = srv.finished.find(*it);
      if (f != srv.finished.end()) consider(f->second.info);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.submitted != b.submitted ? a.submitted < b.submitted : a.id < b.id;
  });
  JsonWriter w;
  w.BeginObject().Key("allocations").BeginArray();
  for (const auto& i : out) {
    auto a = srv.active.find(i.id);
    w.BeginObject();
    srv.WriteAllocFields(w, i, a == srv.active.end() ? nullptr : &a->second.idem);
    w.EndObject();
  }
  w.EndArray().Key("count").Int(static_cast<int64_t>(total)).EndObject();
  r.Send(JsonTextResponse(200, std::move(w.out())));
}

void Release(State& srv, const std::string& id, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "writer") return srv.Reject(r, Forbidden("releasing needs an admin or writer token"), "forbidden");
  std::lock_guard<std::mutex> l(srv.mu);
  auto info = Visible(srv, id, who, r);
  if (!info) return;
  if (!IsActive(info->state)) {
    // Already over: releasing again changes nothing.
    return srv.CommitThen(Batch{}, r, JsonTextResponse(200, srv.AllocTextById(id)));
  }
  int64_t now = server::WallNowMs();
  if (auto s = srv.engine->Release(id, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  Batch b;
  srv.engine->Schedule(now);
  auto fire = srv.Collect(who.name, &b);
  srv.CommitThen(std::move(b), r, JsonTextResponse(200, srv.AllocTextById(id)), std::move(fire));
}

void Renew(State& srv, const std::string& id, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "writer") return srv.Reject(r, Forbidden("renewing needs an admin or writer token"), "forbidden");
  Json body = Json::object();
  if (!req.body.empty()) {
    if (auto e = server::ParseBody(req.body, srv.cfg.max_json_depth, &body)) return srv.Invalid(r, *e);
  }
  if (auto e = server::CheckKeys(body, "", {"duration"})) return srv.Invalid(r, *e);
  int64_t ttl = 0;
  if (body.contains("duration") && !body["duration"].is_null()) {
    if (auto e = server::JsonDurationMs(body["duration"], "duration", srv.cfg.max_lease_ms, &ttl)) return srv.Invalid(r, *e);
    if (ttl <= 0) return srv.Invalid(r, Unprocessable("duration", "must be positive"));
  }
  std::lock_guard<std::mutex> l(srv.mu);
  auto info = Visible(srv, id, who, r);
  if (!info) return;
  auto a = srv.active.find(id);
  if (a == srv.active.end() || !IsActive(info->state)) {
    return r.Send(ErrorResponse({409, "failed_precondition",
                                 "allocation " + id + " is " + AllocStateName(info->state) + "; it cannot be renewed", ""}));
  }
  if (ttl == 0) ttl = a->second.lease_ms;
  if (ttl == 0) {
    return r.Send(ErrorResponse({409, "failed_precondition",
                                 "allocation " + id + " has no lease; give a duration to start one", "duration"}));
  }
  int64_t now = server::WallNowMs();
  if (auto s = srv.engine->Renew(id, now + ttl, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  a->second.lease_ms = ttl;
  if (a->second.spec) {
    a->second.spec->duration = ttl;
    a->second.spec->ttl = true;
  }
  Batch b;
  srv.engine->Schedule(now);
  auto fire = srv.Collect(who.name, &b);
  // Collect rewrote the record if the engine reported the renewal; write it regardless (new TTL).
  auto cur = srv.engine->Get(id);
  auto again = srv.active.find(id);
  if (cur.ok() && again != srv.active.end()) b.Put(Table::kAllocations, id, srv.EncodeRecord(*cur, again->second));
  srv.CommitThen(std::move(b), r, JsonTextResponse(200, srv.AllocTextById(id)), std::move(fire));
}

}  // namespace

void MountAllocations(RouteTable& t, State& s) {
  t.Add("GET", "/v1/allocations", [&s](const Call& c) { ListAllocations(s, c.req, c.who, c.r); });
  t.Add("POST", "/v1/allocations", [&s](const Call& c) { Submit(s, c.req, c.who, c.r); });
  t.Add("GET", "/v1/allocations/{id}", [&s](const Call& c) { GetAllocation(s, c.params["id"], c.req, c.who, c.r); });
  t.Add("DELETE", "/v1/allocations/{id}", [&s](const Call& c) { Release(s, c.params["id"], c.who, c.r); });
  t.Add("POST", "/v1/allocations/{id}/renew", [&s](const Call& c) { Renew(s, c.params["id"], c.req, c.who, c.r); });
}

}  // namespace allot::server
