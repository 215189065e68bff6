// The API layer: one file per resource family (nodes, allocations, reservations, quotas, nodepools,
// observe), each adding its routes to the server's one route table. Handlers read and change the shared
// State (src/server/state.h) under its lock and answer through the Responder, now or once the change is
// durable. The throttling routes (/v1/ratelimits, /v1/pools, /v1/breakers) join the same table through
// Server::AddRoute.
#pragma once

#include <functional>

#include "allot/http.h"
#include "server/auth.h"
#include "server/router.h"
#include "server/state.h"

namespace allot::server {

// One authenticated request as a handler sees it.
struct Call {
  net::HttpRequest& req;
  const Principal& who;
  const PathParams& params;
  const net::Responder& r;
};
using Handler = std::function<void(const Call&)>;
using RouteTable = Router<Handler>;

// Each adds its family's routes; `s` outlives the table.
void MountNodes(RouteTable& t, State& s);
void MountAllocations(RouteTable& t, State& s);
void MountReservations(RouteTable& t, State& s);
void MountQuotas(RouteTable& t, State& s);
void MountNodePools(RouteTable& t, State& s);
void MountObserve(RouteTable& t, State& s);
void MountQueue(RouteTable& t, State& s);
void MountHistory(RouteTable& t, State& s);    // GET /v1/history (history.cc)
void MountAnalytics(RouteTable& t, State& s);  // GET /v1/analytics/... (analytics.cc)
void MountCluster(RouteTable& t, State& s);    // GET /v1/cluster/members (cluster.cc)

// Adds position, tenant_position and estimated_start to a queued allocation's JSON (queue.cc).
// REQUIRES: srv.mu held.
void AddQueuePlace(State& srv, Json* allocation);

}  // namespace allot::server
