// Server::Impl: the HTTP API over one Engine and one Store.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "allot/resources.h"
#include "allot/server.h"
#include "net/http.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/records.h"
#include "server/util.h"

namespace allot {

using server::ApiError;
using server::BadRequest;
using server::Json;
using server::Principal;
using server::Unprocessable;

namespace {

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IsActive(AllocState s) { return s == AllocState::kQueued || s == AllocState::kPlaced; }

net::HttpResponse JsonResponse(int status, const Json& body) {
  net::HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}
net::HttpResponse ErrorResponse(const ApiError& e) {
  net::HttpResponse r;
  r.status = e.status;
  r.body = server::ErrorBody(e);
  if (e.status == 401) r.headers.push_back({"WWW-Authenticate", "Bearer"});
  if (e.status == 429) r.headers.push_back({"Retry-After", "1"});
  return r;
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string RejectReasonLabel(const std::string& reason) {
  std::string r = reason;
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (r.find("quota") != std::string::npos) return "quota";
  if (r.find("wait") != std::string::npos || r.find("timed out") != std::string::npos) return "wait_expired";
  if (r.find("fit") != std::string::npos || r.find("capacity") != std::string::npos ||
      r.find("no node") != std::string::npos || r.find("infeasible") != std::string::npos) {
    return "unschedulable";
  }
  if (r.find("reservation") != std::string::npos) return "reservation";
  return "other";
}

Json NullableTime(int64_t ms) { return ms < 0 ? Json(nullptr) : Json(server::FormatTime(ms)); }

}  // namespace

struct Server::Impl {
  ServerConfig cfg;
  std::unique_ptr<Store> store;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<server::Authenticator> auth;
  std::unique_ptr<net::HttpServer> http;
  std::vector<std::pair<std::string, std::function<ApiAnswer(const ApiCall&)>>> routes;

  // Everything below is guarded by mu.
  std::mutex mu;
  struct Meta {
    std::string tenant, idem, actor;
    int64_t lease_ms = 0;
    std::unique_ptr<RequestSpec> spec;  // kept while queued: a restart re-submits it
  };
  std::unordered_map<std::string, Meta> active;
  struct Finished {
    AllocationInfo info;
    std::string idem, actor;
    int64_t at = 0;
  };
  std::unordered_map<std::string, Finished> finished;
  std::deque<std::string> finished_order;
  std::unordered_map<std::string, std::string> idem_index;  // tenant '\n' key -> id
  std::unordered_map<std::string, size_t> tenant_active;
  struct NodeMeta {
    bool agent = false, down_by_heartbeat = false, draining = false, down = false;
    int64_t last_heartbeat = 0;
  };
  std::unordered_map<std::string, NodeMeta> node_meta;
  std::map<std::string, TenantSpec> tenant_specs;
  std::map<std::string, ReservationSpec> reservations;
  struct Watch {
    net::Responder responder;
    AllocState from;
    int64_t deadline;
  };
  std::unordered_multimap<std::string, Watch> watches;
  std::mt19937_64 rng{std::random_device{}()};

  // Counters (guarded by mu).
  uint64_t lease_expiries = 0, preemptions = 0, placements = 0, submissions = 0;
  std::map<std::string, uint64_t> rejections;
  server::Histogram decision_latency{{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1, 0.25, 1}};
  // HTTP counters (guarded by stats_mu; updated from any thread).
  std::mutex stats_mu;
  std::map<int, uint64_t> responses_by_code;
  server::Histogram request_latency{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}};

  int64_t metrics_nodes_us = 0;  // time of the last Engine::Nodes() call for /metrics (guarded by mu)
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  std::thread timer;
  std::condition_variable timer_cv;
  int64_t last_prune_ms = 0;

  // ---------------------------------------------------------------------------------------------------
  // Persistence of engine changes.

  // Turns the engine's pending events into one store batch (records + audit events), updates the server's
  // own indexes, and returns the watches that the change answers.
  std::vector<std::pair<net::Responder, Json>> Collect(const std::string& actor, Batch* batch) {
    std::vector<std::pair<net::Responder, Json>> fire;
    auto events = engine->TakeEvents();
    std::vector<std::string> dirty;
    for (const auto& ev : events) {
      AuditEvent a;
      a.at = ev.at;
      a.type = EventTypeName(ev.type);
      a.id = ev.id;
      a.node = ev.node;
      a.tenant = ev.tenant;
      a.reason = ev.reason;
      a.by = ev.by;
      a.actor = actor;
      batch->events.push_back(std::move(a));
      switch (ev.type) {
        case EventType::kSubmitted: submissions++; [[fallthrough]];
        case EventType::kPlaced:
        case EventType::kCompleted:
        case EventType::kReleased:
        case EventType::kExpired:
        case EventType::kPreempted:
        case EventType::kRejected:
        case EventType::kRenewed:
          dirty.push_back(ev.id);
          break;
        case EventType::kUnreserved:
          if (reservations.erase(ev.id)) batch->Delete(Table::kReservations, ev.id);
          break;
        default:
          break;
      }
      if (ev.type == EventType::kPlaced) placements++;
      if (ev.type == EventType::kExpired) lease_expiries++;
      if (ev.type == EventType::kPreempted) preemptions++;
      if (ev.type == EventType::kRejected) rejections[RejectReasonLabel(ev.reason)]++;
    }
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    for (const auto& id : dirty) {
      auto info = engine->Get(id);
      if (!info.ok()) continue;
      auto it = active.find(id);
      if (it == active.end()) continue;  // not ours (or already finished)
      Meta& m = it->second;
      if (IsActive(info->state)) {
        if (info->state == AllocState::kPlaced) m.spec.reset();
        batch->Put(Table::kAllocations, id, EncodeRecord(*info, m));
      } else {
        batch->Delete(Table::kAllocations, id);
        Finish(id, *info, m);
        active.erase(it);
        (void)engine->Forget(id);  // the server keeps the finished copy; the engine's memory stays bounded
      }
      auto range = watches.equal_range(id);
      for (auto w = range.first; w != range.second;) {
        if (w->second.from != info->state) {
          fire.emplace_back(w->second.responder, AllocJson(*info, nullptr));
          w = watches.erase(w);
        } else {
          ++w;
        }
      }
    }
    return fire;
  }

  std::string EncodeRecord(const AllocationInfo& info, const Meta& m) {
    server::AllocRecord r;
    r.info = info;
    if (m.spec) r.spec = *m.spec;
    r.idem = m.idem;
    r.actor = m.actor;
    r.lease_ms = m.lease_ms;
    return server::EncodeAlloc(r);
  }

  void Finish(const std::string& id, const AllocationInfo& info, const Meta& m) {
    auto t = tenant_active.find(m.tenant);
    if (t != tenant_active.end() && t->second > 0 && --t->second == 0) tenant_active.erase(t);
    finished[id] = {info, m.idem, m.actor, server::WallNowMs()};
    finished_order.push_back(id);
    PruneFinished(server::WallNowMs());
  }

  void PruneFinished(int64_t now) {
    while (!finished_order.empty()) {
      auto it = finished.find(finished_order.front());
      bool too_many = finished_order.size() > cfg.finished_retention_count;
      if (it != finished.end() && !too_many && now - it->second.at < cfg.finished_retention_ms) break;
      if (it != finished.end()) {
        if (!it->second.idem.empty()) idem_index.erase(it->second.info.tenant + "\n" + it->second.idem);
        finished.erase(it);
      }
      finished_order.pop_front();
    }
  }

  // Queues `batch`; answers `resp` to `responder` (and fires `watches`) once it is durable.
  // REQUIRES: mu held (so batches reach the store in engine order).
  void CommitThen(Batch batch, net::Responder responder, net::HttpResponse resp,
                  std::vector<std::pair<net::Responder, Json>> fire = {}) {
    store->Commit(std::move(batch), [responder = std::move(responder), resp = std::move(resp),
                                     fire = std::move(fire)](const Status& s) mutable {
      if (!s.ok()) {
        std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"store commit failed\",\"error\":%s}\n",
                     Json(s.message()).dump().c_str());
        if (responder.valid()) {
          responder.Send(ErrorResponse({503, "unavailable", "the change could not be made durable: " + s.message(), ""}));
        }
        return;
      }
      if (responder.valid()) responder.Send(std::move(resp));
      for (auto& [r, j] : fire) r.Send(JsonResponse(200, j));
    });
  }

  // Schedules, then persists what changed. REQUIRES: mu held.
  void ScheduleAndCommit(int64_t now, const std::string& actor, Batch batch, net::Responder responder,
                         net::HttpResponse resp) {
    engine->Schedule(now);
    auto fire = Collect(actor, &batch);
    CommitThen(std::move(batch), std::move(responder), std::move(resp), std::move(fire));
  }

  // ---------------------------------------------------------------------------------------------------
  // JSON views.

  Json AllocJson(const AllocationInfo& i, const std::string* idem) const {
    Json j = {{"id", i.id},
              {"tenant", i.tenant},
              {"workflow", i.workflow},
              {"priority", i.priority},
              {"state", AllocStateName(i.state)},
              {"node", i.nodes.empty() ? Json(nullptr) : Json(i.nodes.front())},
              {"nodes", i.nodes},
              {"requests", server::ResourcesJson(i.requests)},
              {"limits", server::ResourcesJson(i.limits)},
              {"count", i.count},
              {"preemptible", i.preemptible},
              {"qos", QosClassName(i.qos)},
              {"submitted", NullableTime(i.submitted)},
              {"started", NullableTime(i.started)},
              {"ended", NullableTime(i.ended)},
              {"expires", NullableTime(i.expires)},
              {"reason", i.reason}};
    if (!i.preempted_by.empty()) j["preempted_by"] = i.preempted_by;
    if (!i.reservation.empty()) j["reservation"] = i.reservation;
    if (idem != nullptr && !idem->empty()) j["idempotency_key"] = *idem;
    return j;
  }

  Json AllocJsonById(const std::string& id) {
    auto info = engine->Get(id);
    const std::string* idem = nullptr;
    auto a = active.find(id);
    if (a != active.end()) idem = &a->second.idem;
    if (info.ok()) return AllocJson(*info, idem);
    auto f = finished.find(id);
    if (f != finished.end()) return AllocJson(f->second.info, &f->second.idem);
    return nullptr;
  }

  // The allocation's current info: the engine's, or the finished copy. REQUIRES: mu held.
  std::optional<AllocationInfo> Lookup(const std::string& id) {
    auto info = engine->Get(id);
    if (info.ok()) return *info;
    auto f = finished.find(id);
    if (f != finished.end()) return f->second.info;
    return std::nullopt;
  }

  Json NodeJson(const NodeInfo& n) const {
    Json taints = Json::array();
    for (const auto& t : n.taints) taints.push_back({{"key", t.key}, {"value", t.value}, {"effect", t.effect}});
    Json j = {{"name", n.name},
              {"state", !n.up ? "down" : n.draining ? "draining" : "up"},
              {"up", n.up},
              {"draining", n.draining},
              {"capacity", server::ResourcesJson(n.capacity)},
              {"allocated", server::ResourcesJson(n.allocated)},
              {"free", server::ResourcesJson(n.free)},
              {"observed", server::ResourcesJson(n.observed)},
              {"labels", n.labels},
              {"taints", taints},
              {"pool", n.pool},
              {"allocations", n.allocations}};
    auto m = node_meta.find(n.name);
    if (m != node_meta.end() && m->second.last_heartbeat > 0) {
      j["last_heartbeat"] = server::FormatTime(m->second.last_heartbeat);
    }
    return j;
  }

  Json TenantJson(const std::string& path) const {
    Json j = {{"tenant", path}};
    auto s = tenant_specs.find(path);
    if (s != tenant_specs.end()) {
      j["weight"] = s->second.weight;
      j["guaranteed"] = server::ResourcesJson(s->second.guaranteed);
      j["max"] = server::ResourcesJson(s->second.max);
      j["lending_limit"] = server::ResourcesJson(s->second.lending_limit);
      j["burst"] = s->second.burst;
      j["grace_seconds"] = static_cast<double>(s->second.grace) / 1000.0;
    }
    for (const auto& u : engine->Tenants()) {
      if (u.path != path) continue;
      j["used"] = server::ResourcesJson(u.used);
      j["borrowed"] = server::ResourcesJson(u.borrowed);
      j["dominant_share"] = u.dominant_share;
      j["running"] = u.running;
      j["queued"] = u.queued;
      if (!j.contains("guaranteed")) j["guaranteed"] = server::ResourcesJson(u.guaranteed);
      if (!j.contains("max")) j["max"] = server::ResourcesJson(u.max);
    }
    return j;
  }

  Json ReservationJson(const ReservationInfo& r) const {
    return {{"id", r.spec.id},
            {"tenant", r.spec.tenant},
            {"start", server::FormatTime(r.spec.start)},
            {"end", server::FormatTime(r.spec.end)},
            {"requests", server::ResourcesJson(r.spec.requests)},
            {"nodes", r.spec.nodes},
            {"pool", r.spec.pool},
            {"node", r.node},
            {"used", server::ResourcesJson(r.used)},
            {"active", r.active}};
  }

  // ---------------------------------------------------------------------------------------------------
  // Startup.

  Status Restore() {
    int64_t t_start = SteadyMicros();
    auto snap = store->Load();
    if (!snap.ok()) return snap.error();
    int64_t t_loaded = SteadyMicros();
    int64_t now = server::WallNowMs();
    Batch fix;  // records that could not be restored, and config nodes new to the store
    for (const auto& t : cfg.tenants) tenant_specs[t.path] = t;
    for (const auto& [k, v] : snap->rows(Table::kTenants)) {
      if (auto t = server::DecodeTenant(v)) tenant_specs[t->path] = *t;
    }
    std::vector<TenantSpec> tenants;
    for (const auto& [p, t] : tenant_specs) tenants.push_back(t);
    if (auto s = engine->SetTenants(tenants, now); !s.ok()) return Error{s.code(), "tenants: " + s.message()};

    std::set<std::string> known_nodes;
    for (const auto& [k, v] : snap->rows(Table::kNodes)) {
      auto n = server::DecodeNode(v);
      if (!n) continue;
      if (auto s = engine->AddNode(n->spec, now); !s.ok()) {
        std::fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"node not restored\",\"node\":%s,\"error\":%s}\n",
                     Json(k).dump().c_str(), Json(s.message()).dump().c_str());
        continue;
      }
      known_nodes.insert(n->spec.name);
      registered_allocated[n->spec.name] = n->spec.allocated;
      NodeMeta& m = node_meta[n->spec.name];
      m.agent = n->agent;
      m.draining = n->draining;
      m.down = n->down;
      if (n->agent) m.last_heartbeat = now;  // a grace of one timeout after the restart
      if (n->draining) (void)engine->DrainNode(n->spec.name, now);
      if (n->down) {
        (void)engine->SetNodeDown(n->spec.name, now);
        m.down_by_heartbeat = n->agent;
      }
    }
    (void)engine->TakeEvents();  // restored nodes are old news
    for (const auto& spec : cfg.nodes) {
      if (known_nodes.count(spec.name)) continue;
      if (auto s = engine->AddNode(spec, now); !s.ok()) return Error{s.code(), "nodes: " + spec.name + ": " + s.message()};
      node_meta[spec.name];
      registered_allocated[spec.name] = spec.allocated;
      fix.Put(Table::kNodes, spec.name, server::EncodeNode({spec, false, false, false}));
    }
    Collect("config", &fix);  // config nodes new to the store are audited
    for (const auto& [k, v] : snap->rows(Table::kReservations)) {
      auto r = server::DecodeReservation(v);
      if (!r || r->end <= now || !engine->Reserve(*r, now).ok()) {
        fix.Delete(Table::kReservations, k);
        continue;
      }
      reservations[r->id] = *r;
    }
    // Allocations: placed ones first, in start order, then queued ones in submission order.
    std::vector<server::AllocRecord> recs;
    recs.reserve(snap->rows(Table::kAllocations).size());
    for (const auto& [k, v] : snap->rows(Table::kAllocations)) {
      auto r = server::DecodeAlloc(v);
      if (!r || !IsActive(r->info.state)) {
        fix.Delete(Table::kAllocations, k);
        continue;
      }
      recs.push_back(std::move(*r));
    }
    int64_t t_decoded = SteadyMicros();
    // Placed ones go back onto their recorded nodes (order does not matter); queued ones after them, in
    // their original submission order. Sorting indices keeps the heavy records in place.
    std::vector<uint32_t> order;
    order.reserve(recs.size());
    for (uint32_t i = 0; i < recs.size(); i++) {
      if (recs[i].info.state == AllocState::kPlaced) order.push_back(i);
    }
    size_t first_queued = order.size();
    for (uint32_t i = 0; i < recs.size(); i++) {
      if (recs[i].info.state != AllocState::kPlaced) order.push_back(i);
    }
    std::sort(order.begin() + static_cast<std::ptrdiff_t>(first_queued), order.end(), [&](uint32_t a, uint32_t b) {
      const auto& x = recs[a].info;
      const auto& y = recs[b].info;
      return x.submitted != y.submitted ? x.submitted < y.submitted : x.id < y.id;
    });
    active.reserve(recs.size());
    idem_index.reserve(recs.size());
    size_t lost = 0;
    for (uint32_t idx : order) {
      auto& r = recs[idx];
      Status s;
      if (r.info.state == AllocState::kPlaced) {
        s = engine->Restore(r.info, now);
      } else {
        RequestSpec spec = r.spec;
        if (spec.wait) {
          int64_t left = *spec.wait - (now - r.info.submitted);
          if (left <= 0) s = Error{ErrorCode::kFailedPrecondition, "its wait ran out while the server was down"};
          spec.wait = std::max<int64_t>(left, 0);
        }
        if (s.ok()) {
          auto st = engine->Submit(spec, now);
          if (!st.ok()) s = st.error();
        }
      }
      if (!s.ok()) {
        lost++;
        fix.Delete(Table::kAllocations, r.info.id);
        AuditEvent a;
        a.at = now;
        a.type = "lost";
        a.id = r.info.id;
        a.tenant = r.info.tenant;
        a.reason = "not restored: " + s.message();
        a.actor = "server";
        fix.events.push_back(std::move(a));
        continue;
      }
      Meta& m = active[r.info.id];
      m.tenant = r.info.tenant;
      m.idem = r.idem;
      m.actor = r.actor;
      m.lease_ms = r.lease_ms;
      if (r.info.state == AllocState::kQueued) m.spec = std::make_unique<RequestSpec>(std::move(r.spec));
      tenant_active[m.tenant]++;
      if (!m.idem.empty()) idem_index[m.tenant + "\n" + m.idem] = r.info.id;
    }
    // What Restore and re-submission reported is the old state, not news.
    (void)engine->TakeEvents();
    int64_t t_done = SteadyMicros();
    std::fprintf(stderr,
                 "{\"level\":\"info\",\"msg\":\"state restored\",\"nodes\":%zu,\"allocations\":%zu,"
                 "\"reservations\":%zu,\"lost\":%zu,\"load_ms\":%lld,\"decode_ms\":%lld,\"restore_ms\":%lld}\n",
                 known_nodes.size(), active.size(), reservations.size(), lost,
                 static_cast<long long>((t_loaded - t_start) / 1000), static_cast<long long>((t_decoded - t_loaded) / 1000),
                 static_cast<long long>((t_done - t_decoded) / 1000));
    std::lock_guard<std::mutex> l(mu);
    engine->Schedule(now);
    Collect("server", &fix);
    if (!fix.empty()) store->Commit(std::move(fix), nullptr);
    return store->Flush();
  }

  // ---------------------------------------------------------------------------------------------------
  // Request handling.

  void Handle(net::HttpRequest&& req, const net::Responder& r) {
    const std::string& p = req.path;
    if (p == "/healthz") {
      r.Send(JsonResponse(200, {{"status", "ok"}}));
      return;
    }
    if (p == "/readyz") {
      bool ok = ready.load() && !stopping.load();
      r.Send(JsonResponse(ok ? 200 : 503, {{"status", ok ? "ready" : "not ready"}}));
      return;
    }
    auto principal = auth->Authenticate(req.Header("authorization"));
    if (!principal) {
      Reject(r, {401, "unauthenticated", "a valid bearer token is required (Authorization: Bearer TOKEN)", ""},
             "unauthenticated");
      return;
    }
    r.SetActor(principal->name);
    if (p == "/metrics") {
      if (req.method != "GET") return MethodNotAllowed(r);
      if (principal->role != "admin" && principal->role != "reader") {
        return Reject(r, Forbidden("metrics need an admin or reader token"), "forbidden");
      }
      net::HttpResponse resp;
      resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
      resp.body = Metrics();
      r.Send(std::move(resp));
      return;
    }
    auto seg = Split(p);
    if (seg.size() < 2 || seg[0] != "v1") return NotFound(r, "no such endpoint: " + p);
    for (const auto& [prefix, fn] : routes) {
      if (p.compare(0, prefix.size(), prefix) == 0) {
        ApiCall call{req.method, p, req.body, {}, principal->name, principal->role, principal->tenant};
        for (const auto& [k, v] : req.query) call.query.emplace_back(k, v);
        ApiAnswer a = fn(call);
        net::HttpResponse resp;
        resp.status = a.status;
        resp.body = std::move(a.body);
        resp.headers = std::move(a.headers);
        r.Send(std::move(resp));
        return;
      }
    }
    const std::string& res = seg[1];
    const std::string& m = req.method;
    if (res == "nodes") {
      if (seg.size() == 2 && m == "GET") return ListNodes(r);
      if (seg.size() == 2 && m == "POST") return AddNode(req, *principal, r);
      if (seg.size() == 3 && m == "GET") return GetNode(seg[2], r);
      if (seg.size() == 3 && m == "DELETE") return RemoveNode(seg[2], *principal, r);
      if (seg.size() == 4 && seg[3] == "drain" && m == "POST") return DrainNode(seg[2], *principal, r);
      if (seg.size() == 4 && seg[3] == "heartbeat" && m == "POST") return Heartbeat(seg[2], req, *principal, r);
    } else if (res == "allocations") {
      if (seg.size() == 2 && m == "GET") return ListAllocations(req, *principal, r);
      if (seg.size() == 2 && m == "POST") return Submit(req, *principal, r);
      if (seg.size() == 3 && m == "GET") return GetAllocation(seg[2], req, *principal, r);
      if (seg.size() == 3 && m == "DELETE") return Release(seg[2], *principal, r);
      if (seg.size() == 4 && seg[3] == "renew" && m == "POST") return Renew(seg[2], req, *principal, r);
    } else if (res == "reservations") {
      if (seg.size() == 2 && m == "GET") return ListReservations(*principal, r);
      if (seg.size() == 2 && m == "POST") return Reserve(req, *principal, r);
      if (seg.size() == 2 && m == "DELETE") return Unreserve(req.Query("id"), *principal, r);
      if (seg.size() == 3 && m == "GET") return GetReservation(seg[2], *principal, r);
      if (seg.size() == 3 && m == "DELETE") return Unreserve(seg[2], *principal, r);
    } else if (res == "quotas") {
      std::string tenant;
      for (size_t i = 2; i < seg.size(); i++) tenant += (i > 2 ? "/" : "") + seg[i];
      if (seg.size() == 2 && m == "GET") return ListQuotas(*principal, r);
      if (seg.size() > 2 && m == "GET") return GetQuota(tenant, *principal, r);
      if (seg.size() > 2 && m == "PUT") return SetQuota(tenant, req, *principal, r);
    } else if (res == "utilization" && seg.size() == 2) {
      if (m == "GET") return Utilization(*principal, r);
    } else if (res == "events" && seg.size() == 2) {
      if (m == "GET") return Events(req, *principal, r);
    } else {
      return NotFound(r, "no such endpoint: " + p);
    }
    return MethodNotAllowed(r);
  }

  static ApiError Forbidden(std::string msg) { return {403, "permission_denied", std::move(msg), ""}; }

  void Reject(const net::Responder& r, const ApiError& e, const std::string& reason) {
    {
      std::lock_guard<std::mutex> l(mu);
      rejections[reason]++;
    }
    r.Send(ErrorResponse(e));
  }
  void NotFound(const net::Responder& r, const std::string& msg) {
    r.Send(ErrorResponse({404, "not_found", msg, ""}));
  }
  void MethodNotAllowed(const net::Responder& r) {
    r.Send(ErrorResponse({405, "method_not_allowed", "method not allowed on this path", ""}));
  }
  void Invalid(const net::Responder& r, const ApiError& e) { Reject(r, e, "invalid"); }

  // --- nodes ---

  void ListNodes(const net::Responder& r) {
    Json out = Json::array();
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& n : engine->Nodes()) out.push_back(NodeJson(n));
    }
    r.Send(JsonResponse(200, {{"nodes", out}}));
  }

  void GetNode(const std::string& name, const net::Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    auto n = engine->Node(name);
    if (!n.ok()) return NotFound(r, "node " + name + " is not registered");
    r.Send(JsonResponse(200, NodeJson(*n)));
  }

  void AddNode(const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "agent") return Reject(r, Forbidden("registering nodes needs an admin or agent token"), "forbidden");
    Json body;
    if (auto e = server::ParseBody(req.body, cfg.max_json_depth, &body)) return Invalid(r, *e);
    if (auto e = server::CheckKeys(body, "", {"name", "capacity", "allocated", "labels", "taints", "pool"})) return Invalid(r, *e);
    NodeSpec spec;
    if (auto e = server::GetString(body, "", "name", &spec.name)) return Invalid(r, *e);
    if (!ValidName(spec.name)) return Invalid(r, Unprocessable("name", "a node name of letters, digits, '-', '_', '.' is required"));
    if (!body.contains("capacity")) return Invalid(r, BadRequest("capacity", "is required"));
    if (auto e = server::GetResources(body["capacity"], "capacity", &spec.capacity)) return Invalid(r, *e);
    if (spec.capacity.empty()) return Invalid(r, Unprocessable("capacity", "names no resource"));
    if (body.contains("allocated")) {
      if (auto e = server::GetResources(body["allocated"], "allocated", &spec.allocated)) return Invalid(r, *e);
    }
    if (body.contains("labels")) {
      if (auto e = server::GetLabels(body["labels"], "labels", &spec.labels)) return Invalid(r, *e);
    }
    if (auto e = server::GetString(body, "", "pool", &spec.pool)) return Invalid(r, *e);
    if (body.contains("taints") && !body["taints"].is_null()) {
      const Json& ts = body["taints"];
      if (!ts.is_array()) return Invalid(r, BadRequest("taints", "must be a list"));
      for (size_t i = 0; i < ts.size(); i++) {
        std::string f = "taints[" + std::to_string(i) + "]";
        if (!ts[i].is_object()) return Invalid(r, BadRequest(f, "must be an object"));
        if (auto e = server::CheckKeys(ts[i], f, {"key", "value", "effect"})) return Invalid(r, *e);
        Taint t;
        if (auto e = server::GetString(ts[i], f, "key", &t.key)) return Invalid(r, *e);
        if (auto e = server::GetString(ts[i], f, "value", &t.value)) return Invalid(r, *e);
        if (auto e = server::GetString(ts[i], f, "effect", &t.effect)) return Invalid(r, *e);
        if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
          return Invalid(r, Unprocessable(f + ".effect", "must be NoSchedule, PreferNoSchedule or NoExecute"));
        }
        spec.taints.push_back(t);
      }
    }
    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    bool exists = engine->Node(spec.name).ok();
    Status s = exists ? engine->UpdateNode(spec, now) : engine->AddNode(spec, now);
    if (!s.ok()) return Invalid(r, server::FromError(s.error()));
    NodeMeta& m = node_meta[spec.name];
    registered_allocated[spec.name] = spec.allocated;
    if (who.role == "agent") {
      m.agent = true;
      m.last_heartbeat = now;
    }
    Batch b;
    b.Put(Table::kNodes, spec.name, server::EncodeNode({spec, m.draining, m.down, m.agent}));
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    auto n = engine->Node(spec.name);
    CommitThen(std::move(b), r, JsonResponse(exists ? 200 : 201, NodeJson(*n)), std::move(fire));
  }

  NodeSpec SpecOf(const NodeInfo& n) {
    NodeSpec s;
    s.name = n.name;
    s.capacity = n.capacity;
    s.labels = n.labels;
    s.taints = n.taints;
    s.pool = n.pool;
    // Unmanaged use is what the node reports beyond allot's own allocations; kept as registered.
    return s;
  }

  void PersistNode(const std::string& name, Batch* b, const NodeSpec* spec_override = nullptr) {
    auto n = engine->Node(name);
    if (!n.ok()) return;
    NodeMeta& m = node_meta[name];
    NodeSpec spec = spec_override ? *spec_override : SpecOf(*n);
    // The stored record keeps the registered unmanaged `allocated` amount.
    if (!spec_override) spec.allocated = registered_allocated[name];
    b->Put(Table::kNodes, name, server::EncodeNode({spec, m.draining, m.down, m.agent}));
  }
  std::unordered_map<std::string, ResourceMap> registered_allocated;

  void RemoveNode(const std::string& name, const Principal& who, const net::Responder& r) {
    if (!who.admin()) return Reject(r, Forbidden("removing nodes needs an admin token"), "forbidden");
    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    auto n = engine->Node(name);
    if (!n.ok()) return NotFound(r, "node " + name + " is not registered");
    if (auto s = engine->RemoveNode(name, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    node_meta.erase(name);
    registered_allocated.erase(name);
    Batch b;
    b.Delete(Table::kNodes, name);
    ScheduleAndCommit(now, who.name, std::move(b), r, JsonResponse(200, {{"name", name}, {"removed", true}}));
  }

  void DrainNode(const std::string& name, const Principal& who, const net::Responder& r) {
    if (!who.admin()) return Reject(r, Forbidden("draining nodes needs an admin token"), "forbidden");
    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    if (!engine->Node(name).ok()) return NotFound(r, "node " + name + " is not registered");
    if (auto s = engine->DrainNode(name, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    node_meta[name].draining = true;
    Batch b;
    PersistNode(name, &b);
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    CommitThen(std::move(b), r, JsonResponse(200, NodeJson(*engine->Node(name))), std::move(fire));
  }

  void Heartbeat(const std::string& name, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "agent") return Reject(r, Forbidden("heartbeats need an agent or admin token"), "forbidden");
    Json body = Json::object();
    if (!req.body.empty()) {
      if (auto e = server::ParseBody(req.body, cfg.max_json_depth, &body)) return Invalid(r, *e);
    }
    if (auto e = server::CheckKeys(body, "", {"usage"})) return Invalid(r, *e);
    ResourceMap usage;
    if (body.contains("usage")) {
      if (auto e = server::GetResources(body["usage"], "usage", &usage)) return Invalid(r, *e);
    }
    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    if (!engine->Node(name).ok()) return NotFound(r, "node " + name + " is not registered");
    if (auto s = engine->SetObservedUsage(name, usage, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    NodeMeta& m = node_meta[name];
    bool changed = !m.agent || m.down_by_heartbeat;
    m.agent = true;
    m.last_heartbeat = now;
    Json resp = {{"node", name}, {"heartbeat_timeout_seconds", static_cast<double>(cfg.heartbeat_timeout_ms) / 1000.0}};
    if (m.down_by_heartbeat) {
      (void)engine->SetNodeUp(name, now);
      m.down_by_heartbeat = false;
      m.down = false;
    }
    (void)engine->TakeEvents().size();  // observed usage is not audited; node up is below
    if (!changed) {
      r.Send(JsonResponse(200, resp));
      return;
    }
    Batch b;
    PersistNode(name, &b);
    AuditEvent a;
    a.at = now;
    a.type = "node_up";
    a.id = name;
    a.node = name;
    a.reason = "heartbeat";
    a.actor = who.name;
    b.events.push_back(std::move(a));
    ScheduleAndCommit(now, who.name, std::move(b), r, JsonResponse(200, resp));
  }

  // --- allocations ---

  void Submit(const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "writer") {
      return Reject(r, Forbidden("allocating needs an admin or writer token"), "forbidden");
    }
    Json body;
    if (auto e = server::ParseBody(req.body, cfg.max_json_depth, &body)) return Invalid(r, *e);
    if (auto e = server::CheckKeys(body, "", {"tenant", "workflow", "priority", "requests", "limits", "duration",
                                              "ttl", "wait", "selector", "tolerations", "preemptible", "count",
                                              "spread", "reservation", "idempotency_key"})) {
      return Invalid(r, *e);
    }
    RequestSpec spec;
    spec.tenant = who.role == "writer" ? who.tenant : "default";
    if (auto e = server::GetString(body, "", "tenant", &spec.tenant)) return Invalid(r, *e);
    if (auto e = server::ValidateTenant(spec.tenant, "tenant")) return Invalid(r, *e);
    if (!who.CoversTenant(spec.tenant)) {
      return Reject(r, Forbidden("tenant " + spec.tenant + " is outside this token's subtree " + who.tenant), "forbidden");
    }
    if (auto e = server::GetString(body, "", "workflow", &spec.workflow)) return Invalid(r, *e);
    if (body.contains("priority")) {
      if (auto e = server::GetPriority(body["priority"], "priority", &spec.priority)) return Invalid(r, *e);
    }
    if (!body.contains("requests")) return Invalid(r, BadRequest("requests", "is required"));
    if (auto e = server::GetResources(body["requests"], "requests", &spec.requests)) return Invalid(r, *e);
    bool any = false;
    for (const auto& [k, v] : spec.requests) any |= v > 0;
    if (!any) return Invalid(r, Unprocessable("requests", "must ask for a positive amount of some resource"));
    if (body.contains("limits")) {
      if (auto e = server::GetResources(body["limits"], "limits", &spec.limits)) return Invalid(r, *e);
      for (const auto& [k, v] : spec.limits) {
        auto q = spec.requests.find(k);
        if (q != spec.requests.end() && v < q->second) {
          return Invalid(r, Unprocessable("limits." + k, "is below the request"));
        }
      }
    }
    int64_t lease_ms = 0;
    if (body.contains("duration") && !body["duration"].is_null()) {
      if (auto e = server::JsonDurationMs(body["duration"], "duration", cfg.max_lease_ms, &lease_ms)) return Invalid(r, *e);
      if (lease_ms <= 0) return Invalid(r, Unprocessable("duration", "must be positive"));
      spec.duration = lease_ms;
      spec.ttl = true;
    }
    if (body.contains("ttl") && !body["ttl"].is_null()) {
      bool ttl = true;
      if (auto e = server::GetBool(body, "", "ttl", &ttl)) return Invalid(r, *e);
      spec.ttl = ttl && spec.duration.has_value();
    }
    if (body.contains("wait") && !body["wait"].is_null()) {
      int64_t w = 0;
      if (auto e = server::JsonDurationMs(body["wait"], "wait", cfg.max_lease_ms, &w)) return Invalid(r, *e);
      spec.wait = w;
    }
    if (body.contains("selector")) {
      if (auto e = server::GetLabels(body["selector"], "selector", &spec.selector)) return Invalid(r, *e);
    }
    if (body.contains("tolerations") && !body["tolerations"].is_null()) {
      const Json& ts = body["tolerations"];
      if (!ts.is_array()) return Invalid(r, BadRequest("tolerations", "must be a list"));
      for (size_t i = 0; i < ts.size(); i++) {
        std::string f = "tolerations[" + std::to_string(i) + "]";
        if (!ts[i].is_object()) return Invalid(r, BadRequest(f, "must be an object"));
        if (auto e = server::CheckKeys(ts[i], f, {"key", "value", "operator", "effect"})) return Invalid(r, *e);
        Toleration t;
        if (auto e = server::GetString(ts[i], f, "key", &t.key)) return Invalid(r, *e);
        if (auto e = server::GetString(ts[i], f, "value", &t.value)) return Invalid(r, *e);
        if (auto e = server::GetString(ts[i], f, "operator", &t.op)) return Invalid(r, *e);
        if (auto e = server::GetString(ts[i], f, "effect", &t.effect)) return Invalid(r, *e);
        if (t.op != "Equal" && t.op != "Exists") return Invalid(r, Unprocessable(f + ".operator", "must be Equal or Exists"));
        spec.tolerations.push_back(t);
      }
    }
    if (auto e = server::GetBool(body, "", "preemptible", &spec.preemptible)) return Invalid(r, *e);
    if (auto e = server::GetBool(body, "", "spread", &spec.spread)) return Invalid(r, *e);
    if (body.contains("count") && !body["count"].is_null()) {
      if (!body["count"].is_number_integer()) return Invalid(r, BadRequest("count", "must be an integer"));
      int64_t c = body["count"].get<int64_t>();
      if (c < 1 || c > 10000) return Invalid(r, Unprocessable("count", "must be between 1 and 10000"));
      spec.count = static_cast<int>(c);
    }
    if (auto e = server::GetString(body, "", "reservation", &spec.reservation)) return Invalid(r, *e);
    std::string idem;
    if (auto e = server::GetString(body, "", "idempotency_key", &idem, 256)) return Invalid(r, *e);

    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    if (!idem.empty()) {
      auto it = idem_index.find(spec.tenant + "\n" + idem);
      if (it != idem_index.end()) {
        // A retry: answer with the allocation the first request made, once that is durable.
        auto info = Lookup(it->second);
        if (info) {
          net::HttpResponse resp = JsonResponse(info->state == AllocState::kQueued ? 202 : 201, AllocJson(*info, &idem));
          resp.headers.push_back({"Idempotent-Replay", "true"});
          CommitThen(Batch{}, r, std::move(resp));
          return;
        }
      }
    }
    if (cfg.max_concurrent_allocations > 0 && active.size() >= cfg.max_concurrent_allocations) {
      rejections["limit"]++;
      return r.Send(ErrorResponse({429, "resource_exhausted",
                                   "the server holds its limit of " + std::to_string(cfg.max_concurrent_allocations) +
                                       " concurrent allocations", "limits.max_concurrent_allocations"}));
    }
    if (cfg.max_allocations_per_tenant > 0) {
      auto t = tenant_active.find(spec.tenant);
      if (t != tenant_active.end() && t->second >= cfg.max_allocations_per_tenant) {
        rejections["limit"]++;
        return r.Send(ErrorResponse({429, "resource_exhausted",
                                     "tenant " + spec.tenant + " holds its limit of " +
                                         std::to_string(cfg.max_allocations_per_tenant) + " allocations",
                                     "limits.max_allocations_per_tenant"}));
      }
    }
    do {
      char buf[24];
      std::snprintf(buf, sizeof buf, "a-%016llx", static_cast<unsigned long long>(rng()));
      spec.id = buf;
    } while (active.count(spec.id) || finished.count(spec.id));
    int64_t t0 = SteadyMicros();
    auto st = engine->Submit(spec, now);
    if (!st.ok()) {
      (void)engine->TakeEvents();
      return Invalid(r, server::FromError(st.error()));
    }
    std::string id = engine->LastId();
    Meta& m = active[id];
    m.tenant = spec.tenant;
    m.idem = idem;
    m.actor = who.name;
    m.lease_ms = lease_ms;
    m.spec = std::make_unique<RequestSpec>(spec);
    m.spec->id = id;
    tenant_active[spec.tenant]++;
    if (!idem.empty()) idem_index[spec.tenant + "\n" + idem] = id;
    engine->Schedule(now);
    decision_latency.Observe(static_cast<double>(SteadyMicros() - t0) / 1e6);
    Batch b;
    auto fire = Collect(who.name, &b);
    auto info = Lookup(id);
    if (!info) return r.Send(ErrorResponse({500, "internal", "the allocation vanished", ""}));
    // A request the engine placed is persisted by Collect; one it merely queued is too.
    net::HttpResponse resp;
    if (info->state == AllocState::kPlaced) {
      resp = JsonResponse(201, AllocJson(*info, &idem));
    } else if (info->state == AllocState::kQueued) {
      resp = JsonResponse(202, AllocJson(*info, &idem));
    } else {
      Json j = AllocJson(*info, &idem);
      j["error"] = {{"code", info->state == AllocState::kRejected ? "rejected" : AllocStateName(info->state)},
                    {"message", "allocation " + id + " was " + AllocStateName(info->state) +
                                    (info->reason.empty() ? "" : ": " + info->reason)}};
      resp = JsonResponse(409, j);
    }
    CommitThen(std::move(b), r, std::move(resp), std::move(fire));
  }

  // The allocation if `who` may see it; answers 404/403 itself otherwise. REQUIRES: mu held.
  std::optional<AllocationInfo> Visible(const std::string& id, const Principal& who, const net::Responder& r) {
    auto info = Lookup(id);
    if (!info) {
      NotFound(r, "allocation " + id + " is unknown (or finished long ago)");
      return std::nullopt;
    }
    if (!who.CoversTenant(info->tenant) || who.role == "agent") {
      r.Send(ErrorResponse(Forbidden("allocation " + id + " belongs to a tenant outside this token's subtree")));
      return std::nullopt;
    }
    return info;
  }

  void GetAllocation(const std::string& id, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    auto info = Visible(id, who, r);
    if (!info) return;
    std::string wait_text = req.Query("wait", req.Query("watch"));
    if (!wait_text.empty()) {
      // Long-poll: answer once the state differs from `state` (default: the current one), or at the timeout.
      auto ms = server::ParseDurationMs(wait_text);
      if (!ms) return Invalid(r, Unprocessable("wait", "invalid duration \"" + wait_text + "\""));
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
        if (!found) return Invalid(r, Unprocessable("state", "unknown state \"" + st + "\""));
      }
      if (info->state == from && IsActive(info->state) && *ms > 0) {
        watches.insert({id, {r, from, server::WallNowMs() + std::min(*ms, cfg.max_watch_ms)}});
        timer_cv.notify_one();
        return;
      }
    }
    const std::string* idem = nullptr;
    auto a = active.find(id);
    if (a != active.end()) idem = &a->second.idem;
    auto f = finished.find(id);
    if (!idem && f != finished.end()) idem = &f->second.idem;
    r.Send(JsonResponse(200, AllocJson(*info, idem)));
  }

  void ListAllocations(const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role == "agent") return Reject(r, Forbidden("agents cannot list allocations"), "forbidden");
    std::string tenant = req.Query("tenant");
    std::string state = req.Query("state");
    std::string node = req.Query("node");
    size_t limit = 1000;
    if (req.HasQuery("limit")) {
      try {
        limit = static_cast<size_t>(std::stoull(req.Query("limit")));
      } catch (...) {
        return Invalid(r, BadRequest("limit", "must be a number"));
      }
    }
    if (!tenant.empty() && !who.CoversTenant(tenant) && !InScope(who, tenant)) {
      return Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree " + who.tenant), "forbidden");
    }
    std::lock_guard<std::mutex> l(mu);
    std::vector<AllocationInfo> out;
    std::set<std::string> seen;
    size_t total = 0;
    auto consider = [&](const AllocationInfo& i) {
      if (!seen.insert(i.id).second) return;
      if (!who.CoversTenant(i.tenant)) return;
      if (!tenant.empty() && !server::InSubtree(i.tenant, tenant)) return;
      if (!state.empty() && state != AllocStateName(i.state)) return;
      if (!node.empty() && std::find(i.nodes.begin(), i.nodes.end(), node) == i.nodes.end()) return;
      total++;
      if (out.size() < limit) out.push_back(i);
    };
    // The server's own indexes, not the engine's whole history: active ones, then retained finished ones.
    if (state.empty() || state == "queued" || state == "placed") {
      for (const auto& [id, m] : active) {
        if (!tenant.empty() && !server::InSubtree(m.tenant, tenant)) continue;
        if (!who.CoversTenant(m.tenant)) continue;
        auto info = engine->Get(id);
        if (info.ok()) consider(*info);
      }
    }
    if (state.empty() || (state != "queued" && state != "placed")) {
      for (auto it = finished_order.rbegin(); it != finished_order.rend(); ++it) {
        auto f = finished.find(*it);
        if (f != finished.end()) consider(f->second.info);
      }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.submitted != b.submitted ? a.submitted < b.submitted : a.id < b.id;
    });
    Json arr = Json::array();
    for (const auto& i : out) {
      auto a = active.find(i.id);
      arr.push_back(AllocJson(i, a == active.end() ? nullptr : &a->second.idem));
    }
    r.Send(JsonResponse(200, {{"allocations", arr}, {"count", total}}));
  }

  // A writer asking for a tenant *above* its subtree still sees only its subtree.
  static bool InScope(const Principal& who, const std::string& tenant) {
    return who.role == "writer" && server::InSubtree(who.tenant, tenant);
  }

  void Release(const std::string& id, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "writer") return Reject(r, Forbidden("releasing needs an admin or writer token"), "forbidden");
    std::lock_guard<std::mutex> l(mu);
    auto info = Visible(id, who, r);
    if (!info) return;
    if (!IsActive(info->state)) {
      // Already over: releasing again changes nothing.
      return CommitThen(Batch{}, r, JsonResponse(200, AllocJsonById(id)));
    }
    int64_t now = server::WallNowMs();
    if (auto s = engine->Release(id, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    Batch b;
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    CommitThen(std::move(b), r, JsonResponse(200, AllocJsonById(id)), std::move(fire));
  }

  void Renew(const std::string& id, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "writer") return Reject(r, Forbidden("renewing needs an admin or writer token"), "forbidden");
    Json body = Json::object();
    if (!req.body.empty()) {
      if (auto e = server::ParseBody(req.body, cfg.max_json_depth, &body)) return Invalid(r, *e);
    }
    if (auto e = server::CheckKeys(body, "", {"duration"})) return Invalid(r, *e);
    int64_t ttl = 0;
    if (body.contains("duration") && !body["duration"].is_null()) {
      if (auto e = server::JsonDurationMs(body["duration"], "duration", cfg.max_lease_ms, &ttl)) return Invalid(r, *e);
      if (ttl <= 0) return Invalid(r, Unprocessable("duration", "must be positive"));
    }
    std::lock_guard<std::mutex> l(mu);
    auto info = Visible(id, who, r);
    if (!info) return;
    auto a = active.find(id);
    if (a == active.end() || !IsActive(info->state)) {
      return r.Send(ErrorResponse({409, "failed_precondition",
                                   "allocation " + id + " is " + AllocStateName(info->state) + "; it cannot be renewed", ""}));
    }
    if (ttl == 0) ttl = a->second.lease_ms;
    if (ttl == 0) {
      return r.Send(ErrorResponse({409, "failed_precondition",
                                   "allocation " + id + " has no lease; give a duration to start one", "duration"}));
    }
    int64_t now = server::WallNowMs();
    if (auto s = engine->Renew(id, now + ttl, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    a->second.lease_ms = ttl;
    if (a->second.spec) {
      a->second.spec->duration = ttl;
      a->second.spec->ttl = true;
    }
    Batch b;
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    // Collect rewrote the record if the engine reported the renewal; write it regardless (new TTL).
    auto cur = engine->Get(id);
    auto again = active.find(id);
    if (cur.ok() && again != active.end()) b.Put(Table::kAllocations, id, EncodeRecord(*cur, again->second));
    CommitThen(std::move(b), r, JsonResponse(200, AllocJsonById(id)), std::move(fire));
  }

  // --- reservations ---

  std::optional<ApiError> TimeField(const Json& body, const char* key, int64_t now, int64_t* out) {
    const Json& v = body[key];
    if (v.is_number()) {
      *out = static_cast<int64_t>(v.get<double>() * 1000);
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

  void Reserve(const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "writer") return Reject(r, Forbidden("reserving needs an admin or writer token"), "forbidden");
    Json body;
    if (auto e = server::ParseBody(req.body, cfg.max_json_depth, &body)) return Invalid(r, *e);
    if (auto e = server::CheckKeys(body, "", {"id", "tenant", "start", "end", "duration", "requests", "nodes", "pool"})) {
      return Invalid(r, *e);
    }
    int64_t now = server::WallNowMs();
    ReservationSpec spec;
    spec.tenant = who.role == "writer" ? who.tenant : "default";
    if (auto e = server::GetString(body, "", "id", &spec.id)) return Invalid(r, *e);
    if (!spec.id.empty() && !ValidName(spec.id)) return Invalid(r, Unprocessable("id", "letters, digits, '-', '_', '.' only"));
    if (auto e = server::GetString(body, "", "tenant", &spec.tenant)) return Invalid(r, *e);
    if (auto e = server::ValidateTenant(spec.tenant, "tenant")) return Invalid(r, *e);
    if (!who.CoversTenant(spec.tenant)) return Reject(r, Forbidden("tenant " + spec.tenant + " is outside this token's subtree"), "forbidden");
    spec.start = now;
    if (body.contains("start")) {
      if (auto e = TimeField(body, "start", now, &spec.start)) return Invalid(r, *e);
    }
    if (body.contains("end")) {
      if (auto e = TimeField(body, "end", spec.start, &spec.end)) return Invalid(r, *e);
    } else if (body.contains("duration")) {
      int64_t d = 0;
      if (auto e = server::JsonDurationMs(body["duration"], "duration", cfg.max_lease_ms, &d)) return Invalid(r, *e);
      spec.end = spec.start + d;
    } else {
      return Invalid(r, BadRequest("end", "is required (or duration)"));
    }
    if (spec.end <= spec.start) return Invalid(r, Unprocessable("end", "must be after start"));
    if (spec.end <= now) return Invalid(r, Unprocessable("end", "is in the past"));
    if (!body.contains("requests")) return Invalid(r, BadRequest("requests", "is required"));
    if (auto e = server::GetResources(body["requests"], "requests", &spec.requests)) return Invalid(r, *e);
    if (body.contains("nodes") && !body["nodes"].is_null()) {
      if (!body["nodes"].is_array()) return Invalid(r, BadRequest("nodes", "must be a list of node names"));
      for (const auto& n : body["nodes"]) {
        if (!n.is_string()) return Invalid(r, BadRequest("nodes", "must be a list of node names"));
        spec.nodes.push_back(n.get<std::string>());
      }
    }
    if (auto e = server::GetString(body, "", "pool", &spec.pool)) return Invalid(r, *e);
    std::lock_guard<std::mutex> l(mu);
    if (spec.id.empty()) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "r-%012llx", static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
      spec.id = buf;
    }
    if (reservations.count(spec.id)) return r.Send(ErrorResponse({409, "already_exists", "reservation " + spec.id + " exists", "id"}));
    if (auto s = engine->Reserve(spec, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    reservations[spec.id] = spec;
    Batch b;
    b.Put(Table::kReservations, spec.id, server::EncodeReservation(spec));
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    Json out = {{"id", spec.id}};
    for (const auto& ri : engine->Reservations()) {
      if (ri.spec.id == spec.id) out = ReservationJson(ri);
    }
    CommitThen(std::move(b), r, JsonResponse(201, out), std::move(fire));
  }

  void ListReservations(const Principal& who, const net::Responder& r) {
    if (who.role == "agent") return Reject(r, Forbidden("agents cannot list reservations"), "forbidden");
    std::lock_guard<std::mutex> l(mu);
    Json arr = Json::array();
    for (const auto& ri : engine->Reservations()) {
      if (who.CoversTenant(ri.spec.tenant)) arr.push_back(ReservationJson(ri));
    }
    r.Send(JsonResponse(200, {{"reservations", arr}}));
  }

  void GetReservation(const std::string& id, const Principal& who, const net::Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& ri : engine->Reservations()) {
      if (ri.spec.id != id) continue;
      if (!who.CoversTenant(ri.spec.tenant)) return r.Send(ErrorResponse(Forbidden("reservation " + id + " is outside this token's subtree")));
      return r.Send(JsonResponse(200, ReservationJson(ri)));
    }
    NotFound(r, "reservation " + id + " is unknown");
  }

  void Unreserve(const std::string& id, const Principal& who, const net::Responder& r) {
    if (who.role != "admin" && who.role != "writer") return Reject(r, Forbidden("needs an admin or writer token"), "forbidden");
    if (id.empty()) return Invalid(r, BadRequest("id", "name the reservation: DELETE /v1/reservations/{id}"));
    std::lock_guard<std::mutex> l(mu);
    auto it = reservations.find(id);
    if (it == reservations.end()) return NotFound(r, "reservation " + id + " is unknown");
    if (!who.CoversTenant(it->second.tenant)) return r.Send(ErrorResponse(Forbidden("reservation " + id + " is outside this token's subtree")));
    int64_t now = server::WallNowMs();
    if (auto s = engine->Unreserve(id, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    reservations.erase(id);
    Batch b;
    b.Delete(Table::kReservations, id);
    ScheduleAndCommit(now, who.name, std::move(b), r, JsonResponse(200, {{"id", id}, {"removed", true}}));
  }

  // --- quotas ---

  void ListQuotas(const Principal& who, const net::Responder& r) {
    if (who.role == "agent") return Reject(r, Forbidden("agents cannot read quotas"), "forbidden");
    std::lock_guard<std::mutex> l(mu);
    std::set<std::string> paths;
    for (const auto& [p, t] : tenant_specs) paths.insert(p);
    for (const auto& u : engine->Tenants()) paths.insert(u.path);
    Json arr = Json::array();
    for (const auto& p : paths) {
      if (who.CoversTenant(p)) arr.push_back(TenantJson(p));
    }
    r.Send(JsonResponse(200, {{"quotas", arr}}));
  }

  void GetQuota(const std::string& tenant, const Principal& who, const net::Responder& r) {
    if (auto e = server::ValidateTenant(tenant, "tenant")) return Invalid(r, *e);
    if (!who.CoversTenant(tenant) || who.role == "agent") return Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree"), "forbidden");
    std::lock_guard<std::mutex> l(mu);
    Json j = TenantJson(tenant);
    if (j.size() == 1) return NotFound(r, "tenant " + tenant + " has no quota and no usage");
    r.Send(JsonResponse(200, j));
  }

  void SetQuota(const std::string& tenant, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (!who.admin()) return Reject(r, Forbidden("setting quotas needs an admin token"), "forbidden");
    if (auto e = server::ValidateTenant(tenant, "tenant")) return Invalid(r, *e);
    Json body;
    if (auto e = server::ParseBody(req.body, cfg.max_json_depth, &body)) return Invalid(r, *e);
    if (auto e = server::CheckKeys(body, "", {"weight", "guaranteed", "max", "lending_limit", "burst", "grace"})) {
      return Invalid(r, *e);
    }
    TenantSpec t;
    t.path = tenant;
    if (body.contains("weight")) {
      if (!body["weight"].is_number()) return Invalid(r, BadRequest("weight", "must be a number"));
      t.weight = body["weight"].get<double>();
      if (!(t.weight > 0 && t.weight <= 1e6)) return Invalid(r, Unprocessable("weight", "must be in (0, 1e6]"));
    }
    for (const char* k : {"guaranteed", "max", "lending_limit"}) {
      if (!body.contains(k)) continue;
      ResourceMap* dst = std::string(k) == "guaranteed" ? &t.guaranteed : std::string(k) == "max" ? &t.max : &t.lending_limit;
      if (auto e = server::GetResources(body[k], k, dst)) return Invalid(r, *e);
    }
    for (const auto& [res, g] : t.guaranteed) {
      auto m = t.max.find(res);
      if (m != t.max.end() && m->second < g) return Invalid(r, Unprocessable("max." + res, "is below guaranteed"));
    }
    if (body.contains("burst")) {
      if (!body["burst"].is_number()) return Invalid(r, BadRequest("burst", "must be a number"));
      t.burst = body["burst"].get<double>();
      if (!(t.burst >= 1.0 && t.burst <= 100.0)) return Invalid(r, Unprocessable("burst", "must be between 1 and 100"));
    }
    if (body.contains("grace")) {
      if (auto e = server::JsonDurationMs(body["grace"], "grace", cfg.max_lease_ms, &t.grace)) return Invalid(r, *e);
    }
    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    if (auto s = engine->SetTenant(t, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    tenant_specs[tenant] = t;
    Batch b;
    b.Put(Table::kTenants, tenant, server::EncodeTenant(t));
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    CommitThen(std::move(b), r, JsonResponse(200, TenantJson(tenant)), std::move(fire));
  }

  // --- views ---

  void Utilization(const Principal& who, const net::Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    ResourceMap cap = engine->TotalCapacity(), alloc = engine->TotalAllocated(), free;
    Json util = Json::object();
    for (const auto& [k, v] : cap) {
      int64_t a = alloc.count(k) ? alloc[k] : 0;
      free[k] = std::max<int64_t>(0, v - a);
      util[k] = v > 0 ? static_cast<double>(a) * 100.0 / static_cast<double>(v) : 0.0;
    }
    size_t up = 0, down = 0, draining = 0, total = 0;
    for (const auto& n : engine->Nodes()) {
      total++;
      if (!n.up) down++;
      else if (n.draining) draining++;
      else up++;
    }
    Json tenants = Json::array();
    if (who.role != "agent") {
      for (const auto& u : engine->Tenants()) {
        if (!who.CoversTenant(u.path)) continue;
        tenants.push_back({{"tenant", u.path}, {"used", server::ResourcesJson(u.used)},
                           {"running", u.running}, {"queued", u.queued}, {"dominant_share", u.dominant_share}});
      }
    }
    size_t placed = engine->RunningCount(), queued = engine->QueueDepth();
    r.Send(JsonResponse(200, {{"capacity", server::ResourcesJson(cap)},
                              {"allocated", server::ResourcesJson(alloc)},
                              {"free", server::ResourcesJson(free)},
                              {"utilization_percent", util},
                              {"nodes", {{"total", total}, {"up", up}, {"down", down}, {"draining", draining}}},
                              {"allocations", {{"placed", placed}, {"queued", queued}}},
                              {"queue_depth", engine->QueueDepth()},
                              {"tenants", tenants}}));
  }

  void Events(const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
    if (who.role == "agent") return Reject(r, Forbidden("agents cannot read the audit log"), "forbidden");
    EventQuery q;
    int64_t now = server::WallNowMs();
    std::string since = req.Query("since");
    if (!since.empty()) {
      bool digits = std::all_of(since.begin(), since.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
      if (digits && since.size() <= 18) {
        int64_t v = std::stoll(since);
        // Small numbers are sequence numbers (a cursor); large ones Unix milliseconds.
        if (v < 100'000'000'000LL) q.after_seq = v;
        else q.since_ms = v;
      } else if (auto t = server::ParseTime(since)) {
        q.since_ms = *t;
      } else if (auto d = server::ParseDurationMs(since)) {
        q.since_ms = now - *d;
      } else {
        return Invalid(r, Unprocessable("since", "use a duration (24h), an RFC 3339 time or a sequence number"));
      }
    }
    if (req.HasQuery("after")) {
      try {
        q.after_seq = std::stoll(req.Query("after"));
      } catch (...) {
        return Invalid(r, BadRequest("after", "must be a sequence number"));
      }
    }
    if (req.HasQuery("limit")) {
      try {
        q.limit = std::min<size_t>(static_cast<size_t>(std::stoull(req.Query("limit"))), 100000);
      } catch (...) {
        return Invalid(r, BadRequest("limit", "must be a number"));
      }
    }
    q.id = req.Query("id");
    std::string tenant = req.Query("tenant");
    if (!tenant.empty()) {
      if (!who.CoversTenant(tenant)) {
        if (!InScope(who, tenant)) return Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree"), "forbidden");
        tenant = who.tenant;
      }
      q.tenants.push_back(tenant);
    } else if (who.role == "writer") {
      q.tenants.push_back(who.tenant);
    }
    auto evs = store->Events(q);
    if (!evs.ok()) return r.Send(ErrorResponse(server::FromError(evs.error())));
    Json arr = Json::array();
    int64_t next = q.after_seq;
    for (const auto& e : *evs) {
      Json j = {{"seq", e.seq}, {"at", server::FormatTime(e.at)}, {"type", e.type}, {"id", e.id},
                {"tenant", e.tenant}, {"node", e.node}, {"reason", e.reason}, {"actor", e.actor}};
      if (!e.by.empty()) j["by"] = e.by;
      arr.push_back(std::move(j));
      next = e.seq;
    }
    r.Send(JsonResponse(200, {{"events", arr}, {"next", next}}));
  }

  std::string Metrics() {
    struct Row {
      std::string name;
      bool up, draining;
      std::vector<int64_t> capacity, allocated;
    };
    std::vector<Row> nodes;
    std::vector<std::string> resources;
    std::vector<TenantUsage> tenants;
    server::MetricsWriter w;
    int64_t t0 = SteadyMicros();
    {
      std::lock_guard<std::mutex> l(mu);
      // A flat copy of the node table (Engine::ForEachNodeRow builds no maps), written out after the lock.
      resources = engine->ResourceNames();
      nodes.reserve(node_meta.size());
      engine->ForEachNodeRow([&](const NodeRow& n) {
        nodes.push_back({std::string(n.name), n.up, n.draining, n.capacity, n.allocated});
      });
      metrics_nodes_us = SteadyMicros() - t0;
      w.Reserve(4096 + nodes.size() * 900);
      tenants = engine->Tenants();
      size_t placed = engine->RunningCount(), queued = engine->QueueDepth();
      std::map<std::string, size_t> by_state;
      for (const auto& [id, f] : finished) by_state[AllocStateName(f.info.state)]++;
      w.Family("allot_allocations", "gauge", "Allocations by state (finished ones while retained).");
      for (int s = 0; s <= static_cast<int>(AllocState::kRejected); s++) {
        std::string name = AllocStateName(static_cast<AllocState>(s));
        int64_t v = name == "placed" ? placed : name == "queued" ? queued : static_cast<int64_t>(by_state[name]);
        w.SampleInt("allot_allocations", {{"state", name}}, v);
      }
      w.Family("allot_metrics_snapshot_seconds", "gauge", "Time the last /metrics took to copy the node table.");
      w.Sample("allot_metrics_snapshot_seconds", {}, static_cast<double>(metrics_nodes_us) / 1e6);
      w.Family("allot_queue_depth", "gauge", "Requests waiting in the engine's queue.");
      w.SampleInt("allot_queue_depth", {}, static_cast<int64_t>(engine->QueueDepth()));
      decision_latency.Write(w, "allot_decision_latency_seconds", "Time to submit and schedule one request.");
      w.Family("allot_rejections_total", "counter", "Requests refused, by reason.");
      for (const auto& [k, v] : rejections) w.SampleInt("allot_rejections_total", {{"reason", k}}, static_cast<int64_t>(v));
      w.Family("allot_preemptions_total", "counter", "Allocations preempted.");
      w.SampleInt("allot_preemptions_total", {}, static_cast<int64_t>(preemptions));
      w.Family("allot_lease_expiries_total", "counter", "Allocations whose lease ran out.");
      w.SampleInt("allot_lease_expiries_total", {}, static_cast<int64_t>(lease_expiries));
      w.Family("allot_placements_total", "counter", "Allocations placed.");
      w.SampleInt("allot_placements_total", {}, static_cast<int64_t>(placements));
      w.Family("allot_submissions_total", "counter", "Allocation requests accepted.");
      w.SampleInt("allot_submissions_total", {}, static_cast<int64_t>(submissions));
    }
    auto amount = [](const std::string& res, int64_t v) -> double {
      return IsMilliResource(res) ? static_cast<double>(v) / 1000.0 : static_cast<double>(v);
    };
    const char* kUnits = "cpu and gpu in cores/devices, others in base units (bytes).";
    struct Fam {
      const char* name;
      const char* help;
      int which;
    };
    for (const Fam& f : {Fam{"allot_node_capacity", "Schedulable capacity per node and resource;", 0},
                         Fam{"allot_node_allocated", "Allocated amount per node and resource;", 1},
                         Fam{"allot_node_free", "Free amount per node and resource;", 2}}) {
      w.Family(f.name, "gauge", std::string(f.help) + " " + kUnits);
      for (const auto& n : nodes) {
        for (size_t s = 0; s < resources.size(); s++) {
          int64_t c = n.capacity[s], a = n.allocated[s];
          if (c == 0 && a == 0) continue;
          int64_t v = f.which == 0 ? c : f.which == 1 ? a : std::max<int64_t>(0, c - a);
          w.Sample(f.name, {{"node", n.name}, {"resource", resources[s]}}, amount(resources[s], v));
        }
      }
    }
    w.Family("allot_node_up", "gauge", "1 if the node is up.");
    for (const auto& n : nodes) w.SampleInt("allot_node_up", {{"node", n.name}}, n.up ? 1 : 0);
    w.Family("allot_node_draining", "gauge", "1 if the node is draining.");
    for (const auto& n : nodes) w.SampleInt("allot_node_draining", {{"node", n.name}}, n.draining ? 1 : 0);
    w.Family("allot_tenant_quota_used", "gauge", std::string("Resources in use per tenant; ") + kUnits);
    for (const auto& t : tenants) {
      for (const auto& [res, v] : t.used) w.Sample("allot_tenant_quota_used", {{"tenant", t.path}, {"resource", res}}, amount(res, v));
    }
    w.Family("allot_tenant_quota_max", "gauge", std::string("Quota maximum per tenant; ") + kUnits);
    for (const auto& t : tenants) {
      for (const auto& [res, v] : t.max) w.Sample("allot_tenant_quota_max", {{"tenant", t.path}, {"resource", res}}, amount(res, v));
    }
    w.Family("allot_tenant_quota_guaranteed", "gauge", std::string("Guaranteed quota per tenant; ") + kUnits);
    for (const auto& t : tenants) {
      for (const auto& [res, v] : t.guaranteed) {
        w.Sample("allot_tenant_quota_guaranteed", {{"tenant", t.path}, {"resource", res}}, amount(res, v));
      }
    }
    w.Family("allot_tenant_dominant_share", "gauge", "Dominant resource share per tenant (0-1).");
    for (const auto& t : tenants) w.Sample("allot_tenant_dominant_share", {{"tenant", t.path}}, t.dominant_share);
    StoreStats ss = store->Stats();
    w.Family("allot_store_transactions_total", "counter", "Durable store transactions (group commits).");
    w.SampleInt("allot_store_transactions_total", {}, static_cast<int64_t>(ss.transactions));
    w.Family("allot_store_batches_total", "counter", "Request batches made durable.");
    w.SampleInt("allot_store_batches_total", {}, static_cast<int64_t>(ss.batches));
    w.Family("allot_store_pending", "gauge", "Batches waiting for the committer.");
    w.SampleInt("allot_store_pending", {}, static_cast<int64_t>(ss.pending));
    w.Family("allot_http_admission_queue", "gauge", "Requests waiting for a worker.");
    w.SampleInt("allot_http_admission_queue", {}, http ? static_cast<int64_t>(http->QueueDepth()) : 0);
    w.Family("allot_http_admission_rejected_total", "counter", "Requests answered 429 because the admission queue was full.");
    w.SampleInt("allot_http_admission_rejected_total", {}, http ? static_cast<int64_t>(http->Rejected429()) : 0);
    {
      std::lock_guard<std::mutex> l(stats_mu);
      w.Family("allot_http_responses_total", "counter", "HTTP responses by status code.");
      for (const auto& [code, n] : responses_by_code) {
        w.SampleInt("allot_http_responses_total", {{"code", std::to_string(code)}}, static_cast<int64_t>(n));
      }
      request_latency.Write(w, "allot_http_request_duration_seconds", "From a request's arrival to its answer.");
    }
    return std::move(w.text());
  }

  // ---------------------------------------------------------------------------------------------------
  // The timer: leases, waits, heartbeats, long-poll timeouts, retention.

  void TimerLoop() {
    std::unique_lock<std::mutex> l(mu);
    int64_t last_schedule = 0;
    while (!stopping.load()) {
      int64_t now = server::WallNowMs();
      auto due = engine->NextWakeup();
      Batch b;
      if ((due && *due <= now) || now - last_schedule >= 1000) {
        last_schedule = now;
        engine->Schedule(now);
      }
      for (auto& [name, m] : node_meta) {
        if (m.agent && !m.down_by_heartbeat && m.last_heartbeat > 0 && now - m.last_heartbeat > cfg.heartbeat_timeout_ms) {
          if (engine->SetNodeDown(name, now).ok()) {
            m.down_by_heartbeat = true;
            m.down = true;
            PersistNode(name, &b);
            std::fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"node down: heartbeats stopped\",\"node\":%s}\n",
                         Json(name).dump().c_str());
          }
        }
      }
      auto fire = Collect("server", &b);
      // Watches whose time is up (or all, when shutting down) answer with the unchanged state.
      bool closing = http && http->ShutdownRequested();
      for (auto it = watches.begin(); it != watches.end();) {
        if (it->second.deadline <= now || closing) {
          fire.emplace_back(it->second.responder, AllocJsonById(it->first));
          it = watches.erase(it);
        } else {
          ++it;
        }
      }
      if (!b.empty() || !fire.empty()) CommitThen(std::move(b), net::Responder(), {}, std::move(fire));
      PruneFinished(now);
      if (now - last_prune_ms > 3'600'000) {
        last_prune_ms = now;
        l.unlock();
        (void)store->PruneEvents(now - cfg.events_retention_ms);
        l.lock();
      }
      int64_t wait = 250;
      if (auto d = engine->NextWakeup()) wait = std::clamp<int64_t>(*d - server::WallNowMs(), 1, 250);
      timer_cv.wait_for(l, std::chrono::milliseconds(wait));
    }
  }

  void OnResponse(const net::AccessRecord& rec) {
    {
      std::lock_guard<std::mutex> l(stats_mu);
      responses_by_code[rec.status]++;
      request_latency.Observe(static_cast<double>(rec.micros) / 1e6);
    }
    if (!cfg.log_requests) return;
    char line[1024];
    int n = std::snprintf(line, sizeof line,
                          "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"method\":%s,\"path\":%s,"
                          "\"status\":%d,\"us\":%lld,\"bytes\":%zu,\"actor\":%s,\"remote\":%s}\n",
                          server::FormatTime(server::WallNowMs()).c_str(), Json(std::string(rec.method)).dump().c_str(),
                          Json(std::string(rec.path.substr(0, 300))).dump().c_str(), rec.status,
                          static_cast<long long>(rec.micros), rec.bytes, Json(std::string(rec.actor)).dump().c_str(),
                          Json(std::string(rec.remote)).dump().c_str());
    if (n > 0) fwrite(line, 1, std::min<size_t>(static_cast<size_t>(n), sizeof line - 1), stderr);
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  if (impl_->timer.joinable()) {
    impl_->stopping = true;
    impl_->timer_cv.notify_all();
    impl_->timer.join();
  }
  if (impl_->store) impl_->store->Close();
}

Result<std::unique_ptr<Server>> Server::Create(const ServerConfig& config, std::unique_ptr<Store> store) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  std::string host;
  int port = 0;
  if (auto s = net::SplitHostPort(config.listen, &host, &port); !s.ok()) return Error{s.code(), "listen: " + s.message()};
  if (config.dev && host != "127.0.0.1" && host != "::1" && host != "localhost") {
    return InvalidArgument("listen: --dev serves without authentication and only on loopback (127.0.0.1 or ::1), not " + host);
  }
  if (!config.dev && config.tokens.empty()) {
    return InvalidArgument("auth.tokens: the config names no token; add tokens or run with --dev (loopback only)");
  }
  auto engine = Engine::Create(config.policy);
  if (!engine.ok()) return Error{engine.error().code, "policy: " + engine.error().message};
  impl->engine = std::move(engine.value());
  if (store) {
    impl->store = std::move(store);
  } else if (config.data_dir == ":memory:") {
    impl->store = NewMemoryStore();
  } else {
    SqliteStoreOptions so;
    so.synchronous_full = config.sync_full;
    auto s = OpenSqliteStore(config.data_dir, so);
    if (!s.ok()) return s.error();
    impl->store = std::move(s.value());
  }
  impl->auth = std::make_unique<server::Authenticator>(config.tokens, config.dev);
  if (auto s = impl->Restore(); !s.ok()) return s.error();
  net::HttpServerOptions ho;
  ho.host = host;
  ho.port = port;
  ho.max_body_bytes = config.max_body_bytes;
  ho.max_queue = config.max_queue;
  ho.max_connections = config.max_connections;
  ho.workers = config.workers;
  ho.request_timeout_ms = config.request_timeout_ms;
  ho.idle_timeout_ms = config.idle_timeout_ms;
  Impl* p = impl.get();
  ho.on_response = [p](const net::AccessRecord& rec) { p->OnResponse(rec); };
  auto http = net::HttpServer::Create(ho, [p](net::HttpRequest&& req, const net::Responder& r) {
    p->Handle(std::move(req), r);
  });
  if (!http.ok()) return http.error();
  impl->http = std::move(http.value());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::AddRoute(const std::string& prefix, std::function<ApiAnswer(const ApiCall&)> fn) {
  impl_->routes.emplace_back(prefix, std::move(fn));
}

int Server::port() const { return impl_->http->port(); }

Status Server::Run() {
  impl_->timer = std::thread([p = impl_.get()] { p->TimerLoop(); });
  impl_->ready = true;
  impl_->http->Run();  // returns after the drain
  impl_->stopping = true;
  impl_->timer_cv.notify_all();
  impl_->timer.join();
  {
    // Long-polls still open get their current answer.
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->watches.clear();
  }
  Status s = impl_->store->Flush();
  impl_->store->Close();
  return s;
}

void Server::Shutdown() {
  impl_->stopping = true;
  impl_->http->Shutdown();
}
void Server::RequestShutdown() { impl_->http->RequestShutdown(); }

}  // namespace allot
