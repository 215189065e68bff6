// /v1/reservations: advance reservations of capacity for a tenant.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/state.h"
#include "server/api/api.h"

namespace allot::server {

namespace {

std::optional<ApiError> TimeField(const Json& body, const char* key, int64_t now, int64_t* out) {
  const Json& v = body[key];
  if (v.is_number()) {
    double secs = v.get<double>();
    // Unix seconds up to the year 9999; anything else is not a time (and would not fit the cast).
    if (!(secs >= 0 && secs <= 253402300799.0)) return Unprocessable(key, "Unix seconds must be between 0 and 253402300799");
    *out = static_cast<int64_t>(secs * 1000);
    return std::nullopt;
  }
  if (!v.is_string()) return BadRequest(key, "must be an RFC 3339 time, Unix seconds, or a duration from now");
  std::string s = v.get<std::string>();
  if (auto t = server::ParseTime(s)) {
    *out = *t;
    return std::nullopt;
  }
  std::string d = s.size() > 0 && s[0] == '+' ? s.substr(1) : s;
  if (auto ms = server::ParseDurationMs(d)) {
    *out = now + *ms;
    return std::nullopt;
  }
  return Unprocessable(key, "invalid time \"" + s + "\"");
}

void Reserve(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "writer") return srv.Reject(r, Forbidden("reserving needs an admin or writer token"), "forbidden");
  Json body;
  if (auto e = server::ParseBody(req.body, srv.cfg.max_json_depth, &body)) return srv.Invalid(r, *e);
  if (auto e = server::CheckKeys(body, "", {"id", "tenant", "start", "end", "duration", "requests", "nodes", "pool"})) {
    return srv.Invalid(r, *e);
  }
  int64_t now = server::WallNowMs();
  ReservationSpec spec;
  spec.tenant = who.role == "writer" ? who.tenant : "default";
  if (auto e = server::GetString(body, "", "id", &spec.id)) return srv.Invalid(r, *e);
  if (!spec.id.empty() && !ValidName(spec.id)) return srv.Invalid(r, Unprocessable("id", "letters, digits, '-', '_', '.' only"));
  if (auto e = server::GetString(body, "", "tenant", &spec.tenant)) return srv.Invalid(r, *e);
  if (auto e = server::ValidateTenant(spec.tenant, "tenant")) return srv.Invalid(r, *e);
  if (!who.CoversTenant(spec.tenant)) return srv.Reject(r, Forbidden("tenant " + spec.tenant + " is outside this token's subtree"), "forbidden");
  spec.start = now;
  if (body.contains("start")) {
    if (auto e = TimeField(body, "start", now, &spec.start)) return srv.Invalid(r, *e);
  }
  if (body.contains("end")) {
    if (auto e = TimeField(body, "end", spec.start, &spec.end)) return srv.Invalid(r, *e);
  } else if (body.contains("duration")) {
    int64_t d = 0;
    if (auto e = server::JsonDurationMs(body["duration"], "duration", srv.cfg.max_lease_ms, &d)) return srv.Invalid(r, *e);
    spec.end = spec.start + d;
  } else {
    return srv.Invalid(r, BadRequest("end", "is required (or duration)"));
  }
  if (spec.end <= spec.start) return srv.Invalid(r, Unprocessable("end", "must be after start"));
  if (spec.end <= now) return srv.Invalid(r, Unprocessable("end", "is in the past"));
  if (!body.contains("requests")) return srv.Invalid(r, BadRequest("requests", "is required"));
  std::vector<std::string> warnings;
  if (auto e = server::GetResources(body["requests"], "requests", &spec.requests, &warnings, srv.cfg.strict_units)) {
    return srv.Invalid(r, *e);
  }
  if (body.contains("nodes") && !body["nodes"].is_null()) {
    if (!body["nodes"].is_array()) return srv.Invalid(r, BadRequest("nodes", "must be a list of node names"));
    for (const auto& n : body["nodes"]) {
      if (!n.is_string()) return srv.Invalid(r, BadRequest("nodes", "must be a list of node names"));
      spec.nodes.push_back(n.get<std::string>());
    }
  }
  if (auto e = server::GetString(body, "", "pool", &spec.pool)) return srv.Invalid(r, *e);
  std::lock_guard<std::mutex> l(srv.mu);
  if (auto e = srv.UndeclaredTenant(spec.tenant)) return srv.Invalid(r, *e);
  if (spec.id.empty()) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "r-%012llx", static_cast<unsigned long long>(srv.rng() & 0xffffffffffffULL));
    spec.id = buf;
  }
  if (srv.reservations.count(spec.id)) return r.Send(ErrorResponse({409, "already_exists", "reservation " + spec.id + " exists", "id"}));
  if (auto s = srv.engine->Reserve(spec, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  srv.reservations[spec.id] = spec;
  Batch b;
  b.Put(Table::kReservations, spec.id, server::EncodeReservation(spec));
  srv.engine->Schedule(now);
  auto fire = srv.Collect(who.name, &b);
  Json out = {{"id", spec.id}};
  for (const auto& ri : srv.engine->Reservations()) {
    if (ri.spec.id == spec.id) out = srv.ReservationJson(ri);
  }
  srv.CommitThen(std::move(b), r, JsonResponse(201, out, warnings), std::move(fire));
}

void ListReservations(State& srv, const Principal& who, const net::Responder& r) {
  if (who.role == "agent") return srv.Reject(r, Forbidden("agents cannot list reservations"), "forbidden");
  std::lock_guard<std::mutex> l(srv.mu);
  Json arr = Json::array();
  for (const auto& ri : srv.engine->Reservations()) {
    if (who.CoversTenant(ri.spec.tenant)) arr.push_back(srv.ReservationJson(ri));
  }
  r.Send(JsonResponse(200, {{"reservations", arr}}));
}

void GetReservation(State& srv, const std::string& id, const Principal& who, const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.mu);
  for (const auto& ri : srv.engine->Reservations()) {
    if (ri.spec.id != id) continue;
    if (!who.CoversTenant(ri.spec.tenant)) return r.Send(ErrorResponse(Forbidden("reservation " + id + " is outside this token's subtree")));
    return r.Send(JsonResponse(200, srv.ReservationJson(ri)));
  }
  srv.NotFound(r, "reservation " + id + " is unknown");
}

void Unreserve(State& srv, const std::string& id, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "writer") return srv.Reject(r, Forbidden("needs an admin or writer token"), "forbidden");
  if (id.empty()) return srv.Invalid(r, BadRequest("id", "name the reservation: DELETE /v1/reservations/{id}"));
  std::lock_guard<std::mutex> l(srv.mu);
  auto it = srv.reservations.find(id);
  if (it == srv.reservations.end()) return srv.NotFound(r, "reservation " + id + " is unknown");
  if (!who.CoversTenant(it->second.tenant)) return r.Send(ErrorResponse(Forbidden("reservation " + id + " is outside this token's subtree")));
  int64_t now = server::WallNowMs();
  if (auto s = srv.engine->Unreserve(id, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  srv.reservations.erase(id);
  Batch b;
  b.Delete(Table::kReservations, id);
  srv.ScheduleAndCommit(now, who.name, std::move(b), r, JsonResponse(200, {{"id", id}, {"removed", true}}));
}

}  // namespace

void MountReservations(RouteTable& t, State& s) {
  t.Add("GET", "/v1/reservations", [&s](const Call& c) { ListReservations(s, c.who, c.r); });
  t.Add("POST", "/v1/reservations", [&s](const Call& c) { Reserve(s, c.req, c.who, c.r); });
  t.Add("DELETE", "/v1/reservations", [&s](const Call& c) { Unreserve(s, c.req.Query("id"), c.who, c.r); });
  t.Add("GET", "/v1/reservations/{id}", [&s](const Call& c) { GetReservation(s, c.params["id"], c.who, c.r); });
  t.Add("DELETE", "/v1/reservations/{id}", [&s](const Call& c) { Unreserve(s, c.params["id"], c.who, c.r); });
}

}  // namespace allot::server
