// GET /v1/nodepools[/{name}]: the elastic pools (config `pools:`) as sized by the timer.
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

void ListPools(State& srv, const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.mu);
  Json arr = Json::array();
  for (const auto& p : srv.pools) arr.push_back(srv.PoolJson(p));
  r.Send(JsonResponse(200, {{"pools", arr},
                            {"interval_seconds", static_cast<double>(srv.cfg.pool_interval_ms) / 1000.0},
                            {"degradation", srv.DegradationJson()}}));
}

void GetPool(State& srv, const std::string& name, const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.mu);
  for (const auto& p : srv.pools) {
    if (p.cfg.name == name) return r.Send(JsonResponse(200, srv.PoolJson(p)));
  }
  srv.NotFound(r, "pool " + name + " is not configured (config `pools:`)");
}

}  // namespace

void MountNodePools(RouteTable& t, State& s) {
  // /v1/nodepools, not /v1/pools: that prefix belongs to the concurrency pools of the throttling API.
  t.Add("GET", "/v1/nodepools", [&s](const Call& c) { ListPools(s, c.r); });
  t.Add("GET", "/v1/nodepools/{name}", [&s](const Call& c) { GetPool(s, c.params["name"], c.r); });
}

}  // namespace allot::server
