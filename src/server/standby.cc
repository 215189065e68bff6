// Replication on the server's side: a standby's state kept current from the leader's commits, the
// redirects of what a standby does not answer, and the revision every answer carries (see state.h).
//
// A standby's state is what the store holds at the follower's revision, no more: it never schedules, never
// expires a lease and never writes. Allocation records (nearly every commit) are applied one by one: the
// old version of each changed record leaves the engine and the indexes, then the new version enters (a
// placed one with Engine::Restore on its recorded nodes, a queued one re-submitted), so a commit that frees
// a node and fills it again applies whole. A change to anything else (nodes, tenants, reservations) is
// rare and entangled with the engine's state, so the state is rebuilt from the follower's records then,
// and whenever a record does not apply. The leader's own state is only ever loaded from the store
// (ServeLoop creates a fresh leader server at promotion), so a standby's shortcuts never reach a leader.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "allot/utf8.h"
#include "server/metrics.h"
#include "server/state.h"

namespace allot::server {
namespace {

// Routes whose answers come from the replicated state; a standby redirects the rest.
bool ServedByStandby(const std::string& path) {
  static const char* kPrefixes[] = {"/v1/nodes", "/v1/allocations", "/v1/reservations", "/v1/quotas",
                                    "/v1/queue", "/v1/events",      "/v1/cluster/",     "/metrics"};
  for (const char* p : kPrefixes) {
    std::string_view pre(p);
    if (path.compare(0, pre.size(), pre) != 0) continue;
    if (path.size() == pre.size() || path[pre.size()] == '/' || pre.back() == '/') return true;
  }
  return false;
}

void LogLine(const char* level, const std::string& msg, const Json& extra = Json::object()) {
  Json j = {{"level", level}, {"msg", msg}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = *it;
  std::fprintf(stderr, "%s\n", Dump(j).c_str());
}

}  // namespace

int64_t State::Revision() const { return replica.self_url.empty() ? 0 : read_revision.load(); }

double State::LagSeconds() const { return follower != nullptr ? follower->LagSeconds() : 0.0; }

bool State::RedirectIfStandby(const net::HttpRequest& req, const net::Responder& r) {
  if (!replica.standby) return false;
  bool read = req.method == "GET" || req.method == "HEAD";
  std::string consistent = req.Query("consistent");
  bool fresh = consistent == "true" || consistent == "1";
  bool long_poll = req.HasQuery("wait") || req.HasQuery("watch");
  if (read && !fresh && !long_poll && ServedByStandby(req.path)) return false;
  LeaderInfo leader = follower->Leader();
  bool url = leader.url.rfind("http://", 0) == 0 || leader.url.rfind("https://", 0) == 0;
  if (!url || leader.url == replica.self_url) {
    std::string why =
        leader.url.empty()
            ? "no replica leads now (the last leader's lease has not run out yet); retry shortly"
        : !url ? "the leader key names no URL (\"" + SafeUtf8(leader.url, 100) + "\"); retry shortly"
               : "this replica is taking over as the leader; retry shortly";
    net::HttpResponse resp = ErrorResponse({503, "unavailable", "this replica is a standby and " + why, ""});
    resp.headers.push_back({"Retry-After", "1"});
    r.Send(std::move(resp));
    return true;
  }
  std::string target = !req.target.empty() && req.target[0] == '/' ? req.target : req.path;
  std::string reason = !read       ? "writes go to the leader"
                       : fresh     ? "a consistent read is answered by the leader"
                       : long_poll ? "long-polls are answered by the leader"
                                   : "this route's state lives on the leader";
  net::HttpResponse resp =
      JsonResponse(307, {{"redirect", {{"leader", leader.url}, {"term", leader.term}, {"reason", reason}}}});
  resp.headers.push_back({"Location", leader.url + target});
  r.Send(std::move(resp));
  return true;
}

Status State::Rebuild() {
  auto e = Engine::Create(cfg.policy);
  if (!e.ok()) return e.error();
  engine = std::move(e.value());
  active.clear();
  finished.clear();
  finished_order.clear();
  idem_index.clear();
  tenant_active.clear();
  agent_usage.clear();
  node_meta.clear();
  node_meta_erased++;
  heartbeat_queue = {};
  tenant_specs.clear();
  reservations.clear();
  registered_allocated.clear();
  standby_rebuilds++;
  return Restore();
}

void State::ApplyFollowed(const FollowUpdate& up) {
  // The last change of each key wins; anything but allocations means a rebuild.
  std::unordered_map<std::string, const Mutation*> last;
  for (const Mutation& m : up.mutations) {
    if (m.table != Table::kAllocations) {
      if (Status s = Rebuild(); !s.ok())
        LogLine("error", "standby: rebuild failed", {{"error", s.message()}});
      return;
    }
    last[m.key] = &m;
  }
  int64_t now = WallNowMs();
  // The old versions leave first, so that what a commit freed is free for what it placed.
  for (const auto& [id, m] : last) {
    if (auto a = active.find(id); a != active.end()) {
      if (auto info = engine->Get(id); info.ok()) {
        AddAgentUsage(a->second.agent, info->requests, info->count, -1);
        if (IsActive(info->state)) (void)engine->Release(id, now);
      }
      (void)engine->Forget(id);
      if (auto t = tenant_active.find(a->second.tenant); t != tenant_active.end() && --t->second == 0) {
        tenant_active.erase(t);
      }
      if (!a->second.idem.empty()) idem_index.erase(a->second.tenant + "\n" + a->second.idem);
      active.erase(a);
    }
    if (auto f = finished.find(id); f != finished.end()) {
      if (!f->second.idem.empty()) idem_index.erase(f->second.info.tenant + "\n" + f->second.idem);
      finished.erase(f);
    }
  }
  bool failed = false;
  for (const auto& [id, m] : last) {
    if (m->op == Mutation::Op::kDelete) continue;
    auto rec = DecodeAlloc(m->value);
    if (!rec) continue;  // the leader's next restart drops it too
    if (!IsActive(rec->info.state)) {
      int64_t at = rec->info.ended >= 0 ? rec->info.ended : now;
      if (!rec->idem.empty()) idem_index[rec->info.tenant + "\n" + rec->idem] = id;
      finished[id] = {std::move(rec->info), std::move(rec->idem), std::move(rec->actor), at,
                      std::move(rec->agent)};
      finished_order.push_back(id);
      continue;
    }
    Status s;
    if (rec->info.state == AllocState::kPlaced) {
      s = engine->Restore(rec->info, now);
    } else {
      rec->spec.id = id;
      auto st = engine->Submit(rec->spec, now);
      if (!st.ok())
        s = st.error();
      else if (*st != AllocState::kQueued && *st != AllocState::kPlaced)
        s = Internal("not queued again");
    }
    if (!s.ok()) {
      failed = true;
      break;
    }
    Meta& meta = active[id];
    meta.tenant = rec->info.tenant;
    meta.idem = rec->idem;
    meta.actor = rec->actor;
    meta.agent = rec->agent;
    meta.lease_ms = rec->lease_ms;
    AddAgentUsage(meta.agent, rec->info.requests, rec->info.count, +1);
    if (rec->info.state == AllocState::kQueued)
      meta.spec = std::make_unique<RequestSpec>(std::move(rec->spec));
    tenant_active[meta.tenant]++;
    if (!meta.idem.empty()) idem_index[meta.tenant + "\n" + meta.idem] = id;
  }
  (void)engine->TakeEvents();
  if (failed) {
    // The records hold a state the engine cannot take one by one (it never should): start from them afresh.
    if (Status s = Rebuild(); !s.ok()) LogLine("error", "standby: rebuild failed", {{"error", s.message()}});
    return;
  }
  standby_applied += up.mutations.size();
  // Deleted finished records leave their ids in finished_order: compact it now and then.
  if (finished_order.size() > 2 * finished.size() + 1024) {
    std::unordered_set<std::string> seen;
    std::deque<std::string> kept;
    for (auto& id : finished_order) {
      if (finished.count(id) && seen.insert(id).second) kept.push_back(std::move(id));
    }
    finished_order = std::move(kept);
  }
}

std::string State::ReplicaMetrics() {
  MetricsWriter w;
  w.Family("allot_replica_leader", "gauge", "1 on the replica that leads, 0 on a standby.");
  w.SampleInt("allot_replica_leader", {}, replica.standby ? 0 : 1);
  w.Family("allot_replica_revision", "gauge",
           "The store revision this replica's state is as of (X-Allot-Revision).");
  w.SampleInt("allot_replica_revision", {}, Revision());
  w.Family("allot_replica_lag_seconds", "gauge",
           "How stale this replica's state may be: 0 on the leader; on a standby, the time since it last saw "
           "every change committed before then.");
  w.Sample("allot_replica_lag_seconds", {}, LagSeconds());
  if (replica.standby) {
    std::lock_guard<std::mutex> l(mu);
    w.Family("allot_replica_applied_total", "counter",
             "Records a standby applied from the leader's commits.");
    w.SampleInt("allot_replica_applied_total", {}, static_cast<int64_t>(standby_applied));
    w.Family("allot_replica_rebuilds_total", "counter",
             "Times a standby rebuilt its state from its records.");
    w.SampleInt("allot_replica_rebuilds_total", {}, static_cast<int64_t>(standby_rebuilds));
  }
  return std::move(w.text());
}

void State::FollowLoop() {
  int64_t last_error_log = 0;
  while (!stopping.load()) {
    auto up = follower->Follow(250);
    if (!up.ok()) {
      int64_t now = WallNowMs();
      if (now - last_error_log > 5000) {
        last_error_log = now;
        LogLine("warn", "standby: cannot follow the store; retrying",
                {{"error", SafeUtf8(up.error().message, 300)}});
      }
      if (up.error().code == ErrorCode::kFailedPrecondition && follower->Reload().ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (Status s = Rebuild(); !s.ok())
          LogLine("error", "standby: rebuild failed", {{"error", s.message()}});
        read_revision = follower->Revision();
        continue;
      }
      std::unique_lock<std::mutex> l(mu);
      timer_cv.wait_for(l, std::chrono::milliseconds(200), [&] { return stopping.load(); });
      continue;
    }
    std::lock_guard<std::mutex> l(mu);
    if (!up->mutations.empty()) ApplyFollowed(*up);
    read_revision = up->revision;
  }
}

}  // namespace allot::server

namespace allot {

Result<std::string> AdvertisedUrl(const ServerConfig& config) {
  if (!config.advertise.empty()) {
    const std::string& a = config.advertise;
    std::string rest = a.rfind("http://", 0) == 0    ? a.substr(7)
                       : a.rfind("https://", 0) == 0 ? a.substr(8)
                                                     : "";
    std::string host;
    int port = 0;
    if (rest.empty() || rest.find('/') != std::string::npos || !net::SplitHostPort(rest, &host, &port).ok() ||
        port == 0) {
      return InvalidArgument("advertise \"" + a +
                             "\": expected http://HOST:PORT (the URL clients reach this replica at)");
    }
    return a;
  }
  std::string host;
  int port = 0;
  if (auto s = net::SplitHostPort(config.listen, &host, &port); !s.ok())
    return Error{s.code(), "listen: " + s.message()};
  if (host == "0.0.0.0" || host == "::" || host.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
      return InvalidArgument("advertise: listening on every address and no host name: give --advertise URL");
    }
    host = name;
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port);
}

}  // namespace allot
