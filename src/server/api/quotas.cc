// /v1/quotas: hierarchical tenant quotas (guaranteed, max, lending limit, burst, grace) and their usage.
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

void ListQuotas(State& srv, const Principal& who, const net::Responder& r) {
  if (who.role == "agent") return srv.Reject(r, Forbidden("agents cannot read quotas"), "forbidden");
  std::lock_guard<std::mutex> l(srv.mu);
  // Every tenant with a quota or usage, by path; the engine's usage list is built once (not per tenant).
  std::vector<TenantUsage> usage = srv.engine->Tenants();
  std::map<std::string, const TenantUsage*> paths;
  for (const auto& [p, t] : srv.tenant_specs) paths.emplace(p, nullptr);
  for (const auto& u : usage) paths[u.path] = &u;
  Json arr = Json::array();
  for (const auto& [p, u] : paths) {
    if (who.CoversTenant(p)) arr.push_back(srv.TenantJson(p, u));
  }
  r.Send(JsonResponse(200, {{"quotas", arr}}));
}

void GetQuota(State& srv, const std::string& tenant, const Principal& who, const net::Responder& r) {
  if (auto e = server::ValidateTenant(tenant, "tenant")) return srv.Invalid(r, *e);
  if (!who.CoversTenant(tenant) || who.role == "agent") return srv.Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree"), "forbidden");
  std::lock_guard<std::mutex> l(srv.mu);
  Json j = srv.TenantJson(tenant);
  if (j.size() == 1) return srv.NotFound(r, "tenant " + tenant + " has no quota and no usage");
  r.Send(JsonResponse(200, j));
}

void SetQuota(State& srv, const std::string& tenant, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (!who.admin()) return srv.Reject(r, Forbidden("setting quotas needs an admin token"), "forbidden");
  if (auto e = server::ValidateTenant(tenant, "tenant")) return srv.Invalid(r, *e);
  Json body;
  if (auto e = server::ParseBody(req.body, srv.cfg.max_json_depth, &body)) return srv.Invalid(r, *e);
  if (auto e = server::CheckKeys(body, "", {"weight", "guaranteed", "max", "lending_limit", "burst", "grace"})) {
    return srv.Invalid(r, *e);
  }
  TenantSpec t;
  t.path = tenant;
  if (body.contains("weight")) {
    if (!body["weight"].is_number()) return srv.Invalid(r, BadRequest("weight", "must be a number"));
    t.weight = body["weight"].get<double>();
    if (!(t.weight > 0 && t.weight <= 1e6)) return srv.Invalid(r, Unprocessable("weight", "must be in (0, 1e6]"));
  }
  std::vector<std::string> warnings;
  for (const char* k : {"guaranteed", "max", "lending_limit"}) {
    if (!body.contains(k)) continue;
    ResourceMap* dst = std::string(k) == "guaranteed" ? &t.guaranteed : std::string(k) == "max" ? &t.max : &t.lending_limit;
    if (auto e = server::GetResources(body[k], k, dst, &warnings, srv.cfg.strict_units)) return srv.Invalid(r, *e);
  }
  for (const auto& [res, g] : t.guaranteed) {
    auto m = t.max.find(res);
    if (m != t.max.end() && m->second < g) return srv.Invalid(r, Unprocessable("max." + res, "is below guaranteed"));
  }
  if (body.contains("burst")) {
    if (!body["burst"].is_number()) return srv.Invalid(r, BadRequest("burst", "must be a number"));
    t.burst = body["burst"].get<double>();
    if (!(t.burst >= 1.0 && t.burst <= 100.0)) return srv.Invalid(r, Unprocessable("burst", "must be between 1 and 100"));
  }
  if (body.contains("grace")) {
    if (auto e = server::JsonDurationMs(body["grace"], "grace", srv.cfg.max_lease_ms, &t.grace)) return srv.Invalid(r, *e);
  }
  std::lock_guard<std::mutex> l(srv.mu);
  int64_t now = server::WallNowMs();
  if (auto s = srv.engine->SetTenant(t, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  srv.tenant_specs[tenant] = t;
  Batch b;
  b.Put(Table::kTenants, tenant, server::EncodeTenant(t));
  srv.engine->Schedule(now);
  auto fire = srv.Collect(who.name, &b);
  srv.CommitThen(std::move(b), r, JsonResponse(200, srv.TenantJson(tenant), warnings), std::move(fire));
}

}  // namespace

void MountQuotas(RouteTable& t, State& s) {
  t.Add("GET", "/v1/quotas", [&s](const Call& c) { ListQuotas(s, c.who, c.r); });
  t.Add("GET", "/v1/quotas/{tenant+}", [&s](const Call& c) { GetQuota(s, c.params["tenant"], c.who, c.r); });
  t.Add("PUT", "/v1/quotas/{tenant+}", [&s](const Call& c) { SetQuota(s, c.params["tenant"], c.req, c.who, c.r); });
}

}  // namespace allot::server
