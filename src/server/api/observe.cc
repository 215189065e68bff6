// What the server shows about itself: /v1/utilization, /v1/events (the audit log), /metrics, and who the
// caller is (/v1/whoami).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/api/api.h"
#include "server/state.h"

namespace allot::server {

namespace {

void Utilization(State& srv, const Principal& who, const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.mu);
  ResourceMap cap = srv.engine->TotalCapacity(), alloc = srv.engine->TotalAllocated(), free;
  Json util = Json::object();
  for (const auto& [k, v] : cap) {
    int64_t a = alloc.count(k) ? alloc[k] : 0;
    free[k] = std::max<int64_t>(0, v - a);
    util[k] = v > 0 ? static_cast<double>(a) * 100.0 / static_cast<double>(v) : 0.0;
  }
  size_t up = 0, down = 0, draining = 0, total = 0, reporting = 0;
  ResourceMap observed, effective;  // over schedulable nodes; observed only where agents report
  for (const auto& n : srv.engine->Nodes()) {
    total++;
    if (!n.up) down++;
    else if (n.draining) draining++;
    else up++;
    if (!n.up || n.draining) continue;
    auto m = srv.node_meta.find(n.name);
    bool reports = m != srv.node_meta.end() && !m->second.observed.empty();
    reporting += reports ? 1 : 0;
    for (const auto& [k, v] : n.capacity) {
      int64_t o = reports ? Get(m->second.observed, k) : 0;
      if (reports) observed[k] += o;
      effective[k] += std::max(Get(n.allocated, k), o);
    }
  }
  Json observed_pct = Json::object(), effective_pct = Json::object();
  for (const auto& [k, v] : cap) {
    if (v <= 0) continue;
    if (observed.count(k)) observed_pct[k] = static_cast<double>(observed[k]) * 100.0 / static_cast<double>(v);
    effective_pct[k] = static_cast<double>(effective[k]) * 100.0 / static_cast<double>(v);
  }
  Json deg = srv.DegradationJson();
  {
    std::string worst;
    double worst_pct = 0;
    int raw = srv.degradation->RawLevel(&worst, &worst_pct);
    deg["raw_level"] = raw;
    deg["enforced"] = srv.cfg.degradation_enforced;
    deg["worst"] = worst;
    deg["worst_percent"] = worst_pct;
    Json pools_deg = Json::object();
    for (const auto& [name, mon] : srv.pool_degradation) pools_deg[name] = srv.LevelJson(mon.get());
    deg["pools"] = pools_deg;
  }
  Json tenants = Json::array();
  if (who.role != "agent") {
    for (const auto& u : srv.engine->Tenants()) {
      if (!who.CoversTenant(u.path)) continue;
      tenants.push_back({{"tenant", u.path}, {"used", server::ResourcesJson(u.used)},
                         {"running", u.running}, {"queued", u.queued}, {"dominant_share", u.dominant_share}});
    }
  }
  size_t placed = srv.engine->RunningCount(), queued = srv.engine->QueueDepth();
  r.Send(JsonResponse(200, {{"capacity", server::ResourcesJson(cap)},
                            {"allocated", server::ResourcesJson(alloc)},
                            {"free", server::ResourcesJson(free)},
                            {"utilization_percent", util},
                            {"observed", server::ResourcesJson(observed)},
                            {"observed_percent", observed_pct},
                            {"effective_percent", effective_pct},
                            {"reporting_nodes", reporting},
                            {"degradation", deg},
                            {"admission", srv.AdmissionJson()},
                            {"nodes", {{"total", total}, {"up", up}, {"down", down}, {"draining", draining}}},
                            {"allocations", {{"placed", placed}, {"queued", queued}}},
                            {"queue_depth", srv.engine->QueueDepth()},
                            {"tenants", tenants}}));
}

void Events(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role == "agent") return srv.Reject(r, Forbidden("agents cannot read the audit log"), "forbidden");
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
      return srv.Invalid(r, Unprocessable("since", "use a duration (24h), an RFC 3339 time or a sequence number"));
    }
  }
  if (req.HasQuery("after")) {
    if (auto e = server::ParseCount(req.Query("after"), "after", 0, INT64_MAX, &q.after_seq)) return srv.Invalid(r, *e);
  }
  if (req.HasQuery("limit")) {
    int64_t v = 0;
    if (auto e = server::ParseCount(req.Query("limit"), "limit", 0, 100000, &v)) return srv.Invalid(r, *e);
    q.limit = static_cast<size_t>(v);
  }
  q.id = req.Query("id");
  std::string tenant = req.Query("tenant");
  if (!tenant.empty()) {
    if (!who.CoversTenant(tenant)) {
      if (!InScope(who, tenant)) return srv.Reject(r, Forbidden("tenant " + tenant + " is outside this token's subtree"), "forbidden");
      tenant = who.tenant;
    }
    q.tenants.push_back(tenant);
  } else if (who.role == "writer") {
    q.tenants.push_back(who.tenant);
  }
  auto evs = srv.store->Events(q);
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

// The degradation levels and the elastic pools' sizing. REQUIRES: srv.mu held.
void WritePressureMetrics(const State& srv, server::MetricsWriter& w) {
  w.Family("allot_degradation_level", "gauge", "Cluster degradation level: 0 normal, 1 light, 2 moderate, 3 heavy, 4 critical.");
  w.SampleInt("allot_degradation_level", {}, srv.degradation->level());
  w.Family("allot_scale_factor", "gauge", "Recommended scale factor for batch work at the cluster's degradation level.");
  w.Sample("allot_scale_factor", {}, srv.degradation->scale());
  w.Family("allot_degradation_enforced", "gauge", "1 if the degradation level gates submissions by priority.");
  w.SampleInt("allot_degradation_enforced", {}, srv.cfg.degradation_enforced ? 1 : 0);
  w.Family("allot_degradation_refusals_total", "counter", "Submissions refused by the degradation priority gate.");
  w.SampleInt("allot_degradation_refusals_total", {}, static_cast<int64_t>(srv.degradation_refusals));
  w.Family("allot_pool_degradation_level", "gauge", "Degradation level per node pool.");
  for (const auto& [name, mon] : srv.pool_degradation) w.SampleInt("allot_pool_degradation_level", {{"pool", name}}, mon->level());
  w.Family("allot_pool_scale_factor", "gauge", "Recommended scale factor per node pool.");
  for (const auto& [name, mon] : srv.pool_degradation) w.Sample("allot_pool_scale_factor", {{"pool", name}}, mon->scale());
  w.Family("allot_pool_nodes", "gauge", "Schedulable nodes per elastic pool.");
  for (const auto& p : srv.pools) w.SampleInt("allot_pool_nodes", {{"pool", p.cfg.name}}, p.nodes);
  w.Family("allot_pool_desired_nodes", "gauge", "Desired node count per elastic pool.");
  for (const auto& p : srv.pools) w.SampleInt("allot_pool_desired_nodes", {{"pool", p.cfg.name}}, p.desired);
  w.Family("allot_pool_utilization", "gauge", "Utilisation (0-1) of each elastic pool's sizing resource.");
  for (const auto& p : srv.pools) w.Sample("allot_pool_utilization", {{"pool", p.cfg.name}}, p.utilization);
  w.Family("allot_pool_queued_demand", "gauge", "Queued demand that fits no node, per pool (its resource's units).");
  for (const auto& p : srv.pools) w.SampleInt("allot_pool_queued_demand", {{"pool", p.cfg.name}}, p.queued_demand);
  w.Family("allot_pool_forecast_demand", "gauge", "Holt linear-trend forecast of pool demand at the forecast horizon.");
  for (const auto& p : srv.pools) {
    if (p.has_forecast && !p.forecast.forecast.empty()) {
      w.Sample("allot_pool_forecast_demand", {{"pool", p.cfg.name}}, std::max(0.0, p.forecast.forecast.back()));
    }
  }
}

std::string Metrics(State& srv) {
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
    std::lock_guard<std::mutex> l(srv.mu);
    // A flat copy of the node table (Engine::ForEachNodeRow builds no maps), written out after the lock.
    resources = srv.engine->ResourceNames();
    nodes.reserve(srv.node_meta.size());
    srv.engine->ForEachNodeRow([&](const NodeRow& n) {
      nodes.push_back({std::string(n.name), n.up, n.draining, n.capacity, n.allocated});
    });
    srv.metrics_nodes_us = SteadyMicros() - t0;
    w.Reserve(4096 + nodes.size() * 900);
    tenants = srv.engine->Tenants();
    size_t placed = srv.engine->RunningCount(), queued = srv.engine->QueueDepth();
    std::map<std::string, size_t> by_state;
    for (const auto& [id, f] : srv.finished) by_state[AllocStateName(f.info.state)]++;
    w.Family("allot_allocations", "gauge", "Allocations by state (finished ones while retained).");
    for (int s = 0; s <= static_cast<int>(AllocState::kRejected); s++) {
      std::string name = AllocStateName(static_cast<AllocState>(s));
      int64_t v = name == "placed" ? placed : name == "queued" ? queued : static_cast<int64_t>(by_state[name]);
      w.SampleInt("allot_allocations", {{"state", name}}, v);
    }
    w.Family("allot_metrics_snapshot_seconds", "gauge", "Time the last /metrics took to copy the node table.");
    w.Sample("allot_metrics_snapshot_seconds", {}, static_cast<double>(srv.metrics_nodes_us) / 1e6);
    w.Family("allot_queue_depth", "gauge", "Requests waiting in the engine's queue.");
    w.SampleInt("allot_queue_depth", {}, static_cast<int64_t>(srv.engine->QueueDepth()));
    w.Family("allot_queue_oldest_age_seconds", "gauge", "How long the longest-waiting queued request has waited; 0 when none waits.");
    TimeMs oldest = srv.engine->OldestQueuedSubmitted();
    w.Sample("allot_queue_oldest_age_seconds", {},
             oldest < 0 ? 0.0 : static_cast<double>(std::max<int64_t>(0, server::WallNowMs() - oldest)) / 1000.0);
    srv.decision_latency.Write(w, "allot_decision_latency_seconds", "Time to submit and schedule one request.");
    w.Family("allot_rejections_total", "counter", "Requests refused, by reason.");
    {
      std::lock_guard<std::mutex> rl(srv.rejections_mu);
      for (const auto& [k, v] : srv.rejections) w.SampleInt("allot_rejections_total", {{"reason", k}}, static_cast<int64_t>(v));
    }
    w.Family("allot_preemptions_total", "counter", "Allocations preempted.");
    w.SampleInt("allot_preemptions_total", {}, static_cast<int64_t>(srv.preemptions));
    w.Family("allot_lease_expiries_total", "counter", "Allocations whose lease ran out.");
    w.SampleInt("allot_lease_expiries_total", {}, static_cast<int64_t>(srv.lease_expiries));
    w.Family("allot_placements_total", "counter", "Allocations placed.");
    w.SampleInt("allot_placements_total", {}, static_cast<int64_t>(srv.placements));
    w.Family("allot_submissions_total", "counter", "Allocation requests accepted.");
    w.SampleInt("allot_submissions_total", {}, static_cast<int64_t>(srv.submissions));
    WritePressureMetrics(srv, w);
    w.Family("allot_node_observed", "gauge", "Usage reported by node agents; cpu and gpu in cores/devices, others in base units.");
    for (const auto& [name, m] : srv.node_meta) {
      for (const auto& [res, v] : m.observed) {
        w.Sample("allot_node_observed", {{"node", name}, {"resource", res}},
                 IsMilliResource(res) ? static_cast<double>(v) / 1000.0 : static_cast<double>(v));
      }
    }
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
  {
    std::lock_guard<std::mutex> al(srv.admission_mu);
    const auto& st = srv.admission->state();
    w.Family("allot_admission_limit", "gauge", "Adaptive (AIMD) limit on submissions in flight.");
    w.SampleInt("allot_admission_limit", {}, srv.admission->limit());
    w.Family("allot_admission_enforced", "gauge", "1 if the adaptive limit refuses work (throttling.admission is configured).");
    w.SampleInt("allot_admission_enforced", {}, srv.cfg.admission_enforced ? 1 : 0);
    w.Family("allot_admission_in_flight", "gauge", "Submissions between arrival and durable answer.");
    w.SampleInt("allot_admission_in_flight", {}, st.in_flight);
    w.Family("allot_admission_adjustments_total", "counter", "Adaptive limit changes by direction.");
    w.SampleInt("allot_admission_adjustments_total", {{"direction", "increase"}}, static_cast<int64_t>(st.increases));
    w.SampleInt("allot_admission_adjustments_total", {{"direction", "decrease"}}, static_cast<int64_t>(st.decreases));
    w.Family("allot_admission_refused_total", "counter", "Submissions refused (429 overloaded) by the adaptive limit.");
    w.SampleInt("allot_admission_refused_total", {}, static_cast<int64_t>(srv.admission_refusals));
    w.Family("allot_admission_latency_seconds", "gauge", "The last submission's latency as the controller saw it.");
    w.Sample("allot_admission_latency_seconds", {}, static_cast<double>(st.last_latency_ns) / 1e9);
  }
  StoreStats ss = srv.store->Stats();
  w.Family("allot_store_transactions_total", "counter", "Durable store transactions (group commits).");
  w.SampleInt("allot_store_transactions_total", {}, static_cast<int64_t>(ss.transactions));
  w.Family("allot_store_batches_total", "counter", "Request batches made durable.");
  w.SampleInt("allot_store_batches_total", {}, static_cast<int64_t>(ss.batches));
  w.Family("allot_store_lingers_total", "counter",
           "Group commits that waited for the clients the last one answered (SQLite with fsync).");
  w.SampleInt("allot_store_lingers_total", {}, static_cast<int64_t>(ss.lingers));
  w.Family("allot_store_pending", "gauge", "Batches waiting for the committer.");
  w.SampleInt("allot_store_pending", {}, static_cast<int64_t>(ss.pending));
  w.Family("allot_store_memory_bytes", "gauge",
           "Heap the store holds (SQLite: page caches, at most 64 MiB for the committer, and statements).");
  w.SampleInt("allot_store_memory_bytes", {}, ss.memory_bytes);
  w.Family("allot_http_admission_queue", "gauge", "Requests waiting for a worker.");
  w.SampleInt("allot_http_admission_queue", {}, srv.http ? static_cast<int64_t>(srv.http->QueueDepth()) : 0);
  w.Family("allot_http_admission_rejected_total", "counter", "Requests answered 429 because the admission queue was full.");
  w.SampleInt("allot_http_admission_rejected_total", {}, srv.http ? static_cast<int64_t>(srv.http->Rejected429()) : 0);
  {
    std::lock_guard<std::mutex> l(srv.stats_mu);
    w.Family("allot_http_responses_total", "counter", "HTTP responses by status code.");
    for (const auto& [code, n] : srv.responses_by_code) {
      w.SampleInt("allot_http_responses_total", {{"code", std::to_string(code)}}, static_cast<int64_t>(n));
    }
    srv.request_latency.Write(w, "allot_http_request_duration_seconds", "From a request's arrival to its answer.");
  }
  for (const auto& source : srv.metric_sources) w.text() += source();  // no lock held: a source may audit
  return std::move(w.text());
}

}  // namespace

void MountObserve(RouteTable& t, State& s) {
  // Who the token is (the dashboard's login, and which of its buttons to show): any authenticated role.
  t.Add("GET", "/v1/whoami", [&s](const Call& c) {
    Json tenant = c.who.tenant.empty() ? Json(nullptr) : Json(c.who.tenant);
    c.r.Send(JsonResponse(
        200, {{"name", c.who.name}, {"role", c.who.role}, {"tenant", tenant}, {"auth", !s.Auth()->dev()}}));
  });
  t.Add("GET", "/v1/utilization", [&s](const Call& c) { Utilization(s, c.who, c.r); });
  t.Add("GET", "/v1/events", [&s](const Call& c) { Events(s, c.req, c.who, c.r); });
  t.Add("GET", "/metrics", [&s](const Call& c) {
    if (c.who.role != "admin" && c.who.role != "reader") {
      return s.Reject(c.r, Forbidden("metrics need an admin or reader token"), "forbidden");
    }
    net::HttpResponse resp;
    resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp.body = Metrics(s);
    c.r.Send(std::move(resp));
  });
}

}  // namespace allot::server
