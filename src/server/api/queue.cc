// The queue family: GET /v1/queue, the queued requests in the order the next scheduling pass looks at
// them, each with its position (overall and in its tenant) and an estimated start (Engine::QueueEstimates:
// from the leases that will end and the requests ahead; null when unknown); and the same three fields on
// a queued allocation's own document.
#include "server/api/api.h"
#include "server/util.h"

namespace allot::server {
namespace {

Json Place(const QueueEstimate& e) {
  return {{"position", e.position},
          {"tenant_position", e.tenant_position},
          {"estimated_start", NullableTime(e.estimated_start)}};
}

void ListQueue(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role == "agent") return srv.Reject(r, Forbidden("agents cannot list the queue"), "forbidden");
  std::string tenant = req.Query("tenant");
  int64_t limit = 100, offset = 0;
  if (req.HasQuery("limit")) {
    if (auto e = server::ParseCount(req.Query("limit"), "limit", 0, 100000, &limit)) return srv.Invalid(r, *e);
  }
  if (req.HasQuery("offset")) {
    if (auto e = server::ParseCount(req.Query("offset"), "offset", 0, INT64_MAX, &offset)) return srv.Invalid(r, *e);
  }
  if (!tenant.empty() && !who.CoversTenant(tenant) && !server::InSubtree(who.tenant, tenant)) {
    return srv.Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree " + who.tenant), "forbidden");
  }
  std::lock_guard<std::mutex> l(srv.mu);
  const int64_t now = server::WallNowMs();
  Json items = Json::array();
  int64_t matched = 0;
  for (const auto& e : srv.engine->QueueEstimates(now)) {
    if (!who.CoversTenant(e.tenant)) continue;
    if (!tenant.empty() && !server::InSubtree(e.tenant, tenant)) continue;
    if (matched++ < offset || static_cast<int64_t>(items.size()) >= limit) continue;
    auto info = srv.engine->Get(e.id);
    if (!info.ok()) continue;
    auto a = srv.active.find(e.id);
    Json j = srv.AllocJson(*info, a == srv.active.end() ? nullptr : &a->second.idem);
    j.update(Place(e));
    items.push_back(std::move(j));
  }
  r.Send(JsonResponse(200, {{"queue", items}, {"count", matched}, {"offset", offset}, {"now", server::FormatTime(now)}}));
}

}  // namespace

void AddQueuePlace(State& srv, Json* allocation) {
  if (!allocation->is_object() || allocation->value("state", "") != "queued") return;
  const std::string id = allocation->value("id", "");
  for (const auto& e : srv.engine->QueueEstimates(server::WallNowMs())) {
    if (e.id == id) return allocation->update(Place(e));
  }
}

void MountQueue(RouteTable& t, State& s) {
  t.Add("GET", "/v1/queue", [&s](const Call& c) { ListQueue(s, c.req, c.who, c.r); });
}

}  // namespace allot::server
