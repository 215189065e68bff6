// The cluster family: GET /v1/cluster/members, the replicas of a replicated server (store etcd) as they
// registered themselves, the leader and its term, and what the answering replica knows of itself.
#include "server/api/api.h"
#include "server/util.h"

namespace allot::server {
namespace {

void Members(State& srv, const net::Responder& r) {
  Json self = {{"url", srv.replica.self_url},
               {"role", srv.replica.standby ? "standby" : "leader"},
               {"revision", srv.Revision()},
               {"lag_seconds", srv.LagSeconds()}};
  if (srv.replica.self_url.empty()) {
    return r.Send(
        JsonResponse(200, {{"replicated", false}, {"leader", nullptr}, {"members", Json::array()}}));
  }
  LeaderInfo leader =
      srv.follower != nullptr ? srv.follower->Leader() : LeaderInfo{srv.replica.self_url, srv.replica.term};
  Json members = Json::array();
  if (srv.replica.members != nullptr) {
    auto list = srv.replica.members->List();
    if (!list.ok()) {
      return r.Send(ErrorResponse(
          {503, "unavailable", "cannot read the members from the store: " + list.error().message, ""}));
    }
    for (const auto& m : *list) {
      members.push_back({{"url", m.url},
                         {"role", m.role},
                         {"revision", m.revision},
                         {"lag_seconds", m.lag_seconds},
                         {"updated", m.updated_ms > 0 ? Json(FormatTime(m.updated_ms)) : Json(nullptr)}});
    }
  }
  Json leader_json = leader.url.empty() ? Json(nullptr) : Json{{"url", leader.url}, {"term", leader.term}};
  r.Send(JsonResponse(200,
                      {{"replicated", true}, {"self", self}, {"leader", leader_json}, {"members", members}}));
}

}  // namespace

void MountCluster(RouteTable& t, State& s) {
  t.Add("GET", "/v1/cluster/members", [&s](const Call& c) { Members(s, c.r); });
}

}  // namespace allot::server
