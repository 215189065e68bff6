// Server::Impl: the HTTP API over one Engine and one Store.
//
// Pressure and elasticity (issues 5, 6, 8):
// - Agents register with {"name", "capacity", "labels", "gpus"} and heartbeat {"usage", "gpus"}; the GPU
//   list is kept per node (and summarised as allot.dev/gpu-* labels), usage goes to
//   Engine::SetObservedUsage and into utilisation. A silent agent node is marked down after
//   heartbeat_timeout (its allocations are preempted and audited); its next heartbeat brings it back.
// - Degradation: a throttle::DegradationMonitor per scope (the cluster, and each node pool) is fed the
//   effective utilisation per resource, sum over schedulable nodes of max(allocated, observed) / capacity,
//   by the timer, and the cluster's also the allocated totals on every submission. With a
//   throttling.degradation section in the config the cluster level gates POST /v1/allocations: a request
//   below the level's minimum priority is REFUSED with 503 `degraded` and Retry-After (not queued: a
//   refused client can shrink its work by the scale factor and retry). Without it nothing is refused.
//   Every decision answer carries {"degradation": {"level", "scale_factor"}}.
// - Adaptive admission: an AIMD limit on submissions in flight (arrival to durable answer), fed with
//   that latency and the HTTP admission queue depth; enforced (429 `overloaded`) only when the config has
//   throttling.admission, measured always.
// - Elastic pools (GET /v1/nodepools[/{name}]; /v1/pools belongs to the throttle module's concurrency
//   pools): every pool_interval each configured pool is sized with autoscale::DesiredPoolSize; the
//   cool-downs hold changes of the desired count (a fall also waits scale_down_cooldown after a rise). Changes are audited (`pool_scale`)
//   and run the pool's command (argv, no shell). Demand per interval feeds Holt's linear trend forecast.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/server.h"
#include "allot/throttle/config.h"
#include "allot/throttle/degradation.h"
#include "allot/utf8.h"
#include <yaml-cpp/yaml.h>
#include "net/http.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/records.h"
#include "server/util.h"

extern "C" char** environ;

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
  r.body = server::Dump(body);
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

const char* LevelName(int level) {
  static const char* kNames[] = {"normal", "light", "moderate", "heavy", "critical"};
  return level >= 0 && level <= 4 ? kNames[level] : "unknown";
}

// A label value from free text (a GPU model): [A-Za-z0-9._-], at most 63 characters.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += ok ? c : '-';
    if (out.size() == 63) break;
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// The agent's GPU list: [{"index", "model", "memory", "memory_used"?, "utilization"?}]. Kept as given
// (after checks), numbers as integers.
std::optional<ApiError> ParseGpus(const Json& v, const std::string& field, Json* out) {
  *out = Json::array();
  if (v.is_null()) return std::nullopt;
  if (!v.is_array()) return BadRequest(field, "must be a list of GPUs");
  if (v.size() > 64) return Unprocessable(field, "lists more than 64 GPUs");
  for (size_t i = 0; i < v.size(); i++) {
    std::string f = field + "[" + std::to_string(i) + "]";
    const Json& g = v[i];
    if (!g.is_object()) return BadRequest(f, "must be an object");
    if (auto e = server::CheckKeys(g, f, {"index", "model", "memory", "memory_used", "utilization", "uuid"})) return e;
    Json o = Json::object();
    for (const char* k : {"index", "memory", "memory_used", "utilization"}) {
      if (!g.contains(k) || g[k].is_null()) continue;
      if (!g[k].is_number_integer() || g[k].get<int64_t>() < 0) return BadRequest(f + "." + k, "must be a non-negative integer");
      o[k] = g[k].get<int64_t>();
    }
    if (o.contains("utilization") && o["utilization"].get<int64_t>() > 100) {
      return Unprocessable(f + ".utilization", "is a percent (0-100)");
    }
    for (const char* k : {"model", "uuid"}) {
      if (!g.contains(k) || g[k].is_null()) continue;
      if (!g[k].is_string() || g[k].get<std::string>().size() > 256) return BadRequest(f + "." + k, "must be a short string");
      o[k] = g[k];
    }
    out->push_back(std::move(o));
  }
  return std::nullopt;
}

int64_t Get(const ResourceMap& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

struct Server::Impl {
  ServerConfig cfg;
  std::unique_ptr<Store> store;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<server::Authenticator> auth;
  std::unique_ptr<net::HttpServer> http;
  std::vector<std::pair<std::string, std::function<ApiAnswer(const ApiCall&)>>> routes;
  std::vector<std::function<std::string()>> metric_sources;  // more families for /metrics (AddMetrics)

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
    std::string owner;  // the agent token that registered the node ("": an admin or the config)
    int64_t last_heartbeat = 0;
    std::string pool;
    ResourceMap observed;       // the last heartbeat's usage (empty: never reported)
    Json gpus = Json::array();  // the agent's GPU list (registration, then heartbeats)
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
  std::mutex rejections_mu;  // a leaf lock: taken with or without mu
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

  // Pressure (guarded by mu): the cluster's monitor gates submissions; pools have their own.
  throttle::DegradationOptions degradation_options = throttle::DegradationOptions::Defaults();
  std::unique_ptr<throttle::DegradationMonitor> degradation;
  std::map<std::string, std::unique_ptr<throttle::DegradationMonitor>> pool_degradation;
  uint64_t degradation_refusals = 0;
  int64_t last_pressure_ms = 0;
  // One pass over the schedulable nodes: per resource (indexed like `scan_resources`) capacity,
  // allocated, observed (reports only) and effective (max of allocated and observed per node).
  struct Sums {
    std::vector<int64_t> capacity, allocated, observed, effective;
    int32_t nodes = 0;  // schedulable (up, not draining)
    void Resize(size_t n) {
      capacity.resize(n);
      allocated.resize(n);
      observed.resize(n);
      effective.resize(n);
    }
  };
  std::vector<std::string> scan_resources;
  Sums cluster_sums;
  std::map<std::string, Sums> pool_sums;

  // Adaptive admission (guarded by admission_mu; the commit callback runs on the store's thread).
  std::mutex admission_mu;
  std::unique_ptr<throttle::AimdLimiter> admission;
  uint64_t admission_refusals = 0;

  // Elastic pools (guarded by mu).
  struct PoolRuntime {
    PoolConfig cfg;
    bool evaluated = false;
    int32_t nodes = 0, desired = 0;
    std::string reason;
    double utilization = 0, node_capacity = 0;
    int64_t allocated = 0, observed = 0, effective = 0, queued_demand = 0;
    std::optional<double> last_up, last_down;  // seconds: when the desired count last rose / fell
    int64_t evaluated_at = 0, changed_at = 0;
    std::deque<double> demand;                 // one point per evaluation
    autoscale::HoltForecast forecast;
    bool has_forecast = false;
    // The scaling command.
    pid_t pid = -1;
    int64_t command_started = 0;
    bool command_pending = false;              // the desired count changed while it ran
    int32_t command_desired = 0;
    Json last_command = nullptr;
  };
  std::vector<PoolRuntime> pools;
  int64_t last_pool_eval_ms = 0;

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
      if (ev.type == EventType::kRejected) CountRejection(RejectReasonLabel(ev.reason));
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
        // With an idempotency key the row stays, in its final state, through the retention window (across
        // restarts too), so a retry never allocates twice; PruneFinished deletes it. Without one, only
        // memory keeps the finished copy (a durable copy of every release costs a third of the throughput).
        if (m.idem.empty()) batch->Delete(Table::kAllocations, id);
        else batch->Put(Table::kAllocations, id, EncodeRecord(*info, m));
        Finish(id, *info, m, batch);
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

  void Finish(const std::string& id, const AllocationInfo& info, const Meta& m, Batch* batch) {
    auto t = tenant_active.find(m.tenant);
    if (t != tenant_active.end() && t->second > 0 && --t->second == 0) tenant_active.erase(t);
    finished[id] = {info, m.idem, m.actor, server::WallNowMs()};
    finished_order.push_back(id);
    PruneFinished(server::WallNowMs(), batch);
  }

  // Drops finished allocations past the retention (age or count), from memory and, through `batch`, from
  // the store.
  void PruneFinished(int64_t now, Batch* batch) {
    while (!finished_order.empty()) {
      auto it = finished.find(finished_order.front());
      bool too_many = finished_order.size() > cfg.finished_retention_count;
      if (it != finished.end() && !too_many && now - it->second.at < cfg.finished_retention_ms) break;
      if (it != finished.end()) {
        if (!it->second.idem.empty()) {
          idem_index.erase(it->second.info.tenant + "\n" + it->second.idem);
          batch->Delete(Table::kAllocations, it->first);
        }
        finished.erase(it);
      }
      finished_order.pop_front();
    }
  }

  // Queues `batch`; answers `resp` to `responder` (and fires `watches`) once it is durable.
  // REQUIRES: mu held (so batches reach the store in engine order).
  void CommitThen(Batch batch, net::Responder responder, net::HttpResponse resp,
                  std::vector<std::pair<net::Responder, Json>> fire = {}, std::function<void()> done = nullptr) {
    store->Commit(std::move(batch), [responder = std::move(responder), resp = std::move(resp),
                                     fire = std::move(fire), done = std::move(done)](const Status& s) mutable {
      if (done) done();
      if (!s.ok()) {
        std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"store commit failed\",\"error\":%s}\n",
                     server::Dump(Json(s.message())).c_str());
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
    if (m != node_meta.end()) {
      j["agent"] = m->second.agent;
      if (!m->second.gpus.empty()) j["gpus"] = m->second.gpus;
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
  // Pressure: degradation levels, adaptive admission, elastic pools.

  static int64_t Ns(int64_t ms) { return ms * 1'000'000; }

  static Json LevelJson(const throttle::DegradationMonitor* m) {
    int level = m ? m->level() : 0;
    return {{"level", level}, {"name", LevelName(level)}, {"scale_factor", m ? m->scale() : 1.0}};
  }
  Json DegradationJson() const { return LevelJson(degradation.get()); }

  // Walks the node table once: sums over schedulable nodes, cluster-wide and per pool. REQUIRES: mu held.
  void Scan() {
    scan_resources = engine->ResourceNames();
    const size_t n_res = scan_resources.size();
    cluster_sums = Sums{};
    cluster_sums.Resize(n_res);
    for (auto& [name, ps] : pool_sums) {
      ps = Sums{};
      ps.Resize(n_res);
    }
    std::string key;
    engine->ForEachNodeRow([&](const NodeRow& n) {
      if (!n.up || n.draining) return;
      key.assign(n.name);
      auto m = node_meta.find(key);
      const NodeMeta* meta = m == node_meta.end() ? nullptr : &m->second;
      Sums* ps = nullptr;
      if (meta != nullptr && !meta->pool.empty()) {
        ps = &pool_sums[meta->pool];
        if (ps->capacity.size() != n_res) ps->Resize(n_res);
      }
      cluster_sums.nodes++;
      if (ps != nullptr) ps->nodes++;
      for (size_t i = 0; i < n_res; i++) {
        int64_t c = i < n.capacity.size() ? n.capacity[i] : 0;
        int64_t a = i < n.allocated.size() ? n.allocated[i] : 0;
        int64_t o = meta != nullptr && !meta->observed.empty() ? Get(meta->observed, scan_resources[i]) : 0;
        int64_t e = std::max(a, o);
        for (Sums* t : {&cluster_sums, ps}) {
          if (t == nullptr) continue;
          t->capacity[i] += c;
          t->allocated[i] += a;
          t->observed[i] += o;
          t->effective[i] += e;
        }
      }
    });
  }

  // An audit event (and a log line) when a monitor's level moved. REQUIRES: mu held.
  void AuditLevel(const std::string& scope, const throttle::DegradationMonitor& m, int before, int64_t now_ms,
                  Batch* b) {
    if (m.level() == before) return;
    std::string why = m.changes().empty() ? "" : m.changes().back().reason;
    AuditEvent a;
    a.at = now_ms;
    a.type = "degradation";
    a.id = scope;
    a.reason = "level " + std::to_string(before) + " -> " + std::to_string(m.level()) + " (" + LevelName(m.level()) +
               ")" + (why.empty() ? "" : ": " + why);
    a.actor = "server";
    std::fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"degradation level changed\",\"scope\":%s,\"reason\":%s}\n",
                 m.level() > before ? "warn" : "info", server::Dump(Json(scope)).c_str(), server::Dump(Json(a.reason)).c_str());
    if (b != nullptr) b->events.push_back(std::move(a));
  }

  // Feeds every monitor from a fresh scan. REQUIRES: mu held.
  void RefreshPressure(int64_t now_ms, Batch* b) {
    Scan();
    last_pressure_ms = now_ms;
    int before = degradation->level();
    for (size_t i = 0; i < scan_resources.size(); i++) {
      degradation->Observe(Ns(now_ms), "effective", scan_resources[i], cluster_sums.effective[i],
                           cluster_sums.capacity[i]);
    }
    ResourceMap cap = engine->TotalCapacity(), alloc = engine->TotalAllocated();
    for (const auto& name : scan_resources) {
      degradation->Observe(Ns(now_ms), "allocated", name, Get(alloc, name), Get(cap, name));
    }
    degradation->Evaluate(Ns(now_ms));
    AuditLevel("cluster", *degradation, before, now_ms, b);
    for (auto& [pool, ps] : pool_sums) {
      auto& mon = pool_degradation[pool];
      if (!mon) mon = std::make_unique<throttle::DegradationMonitor>(degradation_options);
      int pool_before = mon->level();
      for (size_t i = 0; i < scan_resources.size() && i < ps.capacity.size(); i++) {
        mon->Observe(Ns(now_ms), "effective", scan_resources[i], ps.effective[i], ps.capacity[i]);
      }
      mon->Evaluate(Ns(now_ms));
      AuditLevel("pool/" + pool, *mon, pool_before, now_ms, b);
    }
  }

  // The allocated totals (kept incrementally by the engine): fresh at every submission. REQUIRES: mu held.
  void ObserveAllocated(int64_t now_ms, Batch* b) {
    int before = degradation->level();
    ResourceMap cap = engine->TotalCapacity(), alloc = engine->TotalAllocated();
    for (const auto& name : engine->ResourceNames()) {
      degradation->Observe(Ns(now_ms), "allocated", name, Get(alloc, name), Get(cap, name));
    }
    AuditLevel("cluster", *degradation, before, now_ms, b);
  }

  // Adaptive admission: one ticket per submission, from arrival to the durable answer.
  struct AdmissionTicket {
    Impl* impl = nullptr;
    int64_t t0_us = 0;
    bool acquired = false;
    bool live = true;
    ~AdmissionTicket() {
      if (live && impl != nullptr) impl->AdmissionDone(acquired, t0_us);
    }
    // Hands the release over to the commit callback.
    std::function<void()> Handoff() {
      live = false;
      return [p = impl, a = acquired, t0 = t0_us] { p->AdmissionDone(a, t0); };
    }
  };
  void AdmissionDone(bool acquired, int64_t t0_us) {
    int64_t now_us = SteadyMicros();
    int64_t depth = http ? static_cast<int64_t>(http->QueueDepth()) : 0;
    std::lock_guard<std::mutex> l(admission_mu);
    if (acquired) {
      admission->Release(now_us * 1000, (now_us - t0_us) * 1000, depth);
    } else {
      admission->Observe(now_us * 1000, (now_us - t0_us) * 1000, depth);
    }
  }

  // Queued demand per pool, in each pool's resource. A queued request belongs to the pool its selector
  // pins (allot.dev/pool=NAME), else to the first pool (config order) with a node matching its selector;
  // one without a selector to the first pool below max_nodes (else the first pool). Requests held by
  // quota ask for no nodes. REQUIRES: mu held.
  std::vector<int64_t> QueuedDemand() {
    std::vector<int64_t> out(pools.size(), 0);
    std::vector<const RequestSpec*> waiting;
    bool need_nodes = false;
    for (const auto& [id, m] : active) {
      if (!m.spec) continue;
      auto info = engine->Get(id);
      if (!info.ok() || info->state != AllocState::kQueued) continue;
      std::string why = info->reason;
      for (char& c : why) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (why.find("quota") != std::string::npos) continue;
      waiting.push_back(m.spec.get());
      need_nodes |= !m.spec->selector.empty();
    }
    std::vector<NodeInfo> nodes;
    if (need_nodes) nodes = engine->Nodes();
    for (const RequestSpec* q : waiting) {
      int target = -1;
      auto pin = q->selector.find("allot.dev/pool");
      for (size_t i = 0; i < pools.size() && target < 0; i++) {
        const PoolConfig& pc = pools[i].cfg;
        bool ok = false;
        if (pin != q->selector.end()) {
          ok = pin->second == pc.name;
        } else if (q->selector.empty()) {
          ok = pools[i].nodes < pc.max_nodes;
        } else {
          for (const auto& n : nodes) {
            if (n.pool != pc.name) continue;
            bool match = true;
            for (const auto& [k, v] : q->selector) {
              auto l = n.labels.find(k);
              match &= l != n.labels.end() && l->second == v;
            }
            if (match) {
              ok = true;
              break;
            }
          }
        }
        if (ok) target = static_cast<int>(i);
      }
      if (target < 0 && q->selector.empty() && !pools.empty()) target = 0;
      if (target < 0) continue;
      out[static_cast<size_t>(target)] += Get(q->requests, pools[static_cast<size_t>(target)].cfg.resource) * std::max(1, q->count);
    }
    return out;
  }

  // Sizes every pool from the latest scan. REQUIRES: mu held.
  void EvaluatePools(int64_t now_ms, Batch* b) {
    last_pool_eval_ms = now_ms;
    if (pools.empty()) return;
    std::vector<int64_t> queued = QueuedDemand();
    const double now_s = static_cast<double>(now_ms) / 1000.0;
    for (size_t i = 0; i < pools.size(); i++) {
      PoolRuntime& p = pools[i];
      const PoolConfig& pc = p.cfg;
      int64_t cap = 0, alloc = 0, obs = 0, eff = 0;
      int32_t n = 0;
      auto sums = pool_sums.find(pc.name);
      if (sums != pool_sums.end()) {
        n = sums->second.nodes;
        for (size_t r = 0; r < scan_resources.size() && r < sums->second.capacity.size(); r++) {
          if (scan_resources[r] != pc.resource) continue;
          cap = sums->second.capacity[r];
          alloc = sums->second.allocated[r];
          obs = sums->second.observed[r];
          eff = sums->second.effective[r];
        }
      }
      if (n > 0 && cap > 0) p.node_capacity = static_cast<double>(cap) / n;  // remembered for scale-from-zero
      int32_t prev = p.evaluated ? p.desired : n;
      int32_t desired = prev;
      std::string reason;
      if (!(p.node_capacity > 0) && (n > 0 || eff > 0 || queued[i] > 0)) {
        desired = std::clamp<int32_t>(queued[i] > 0 || eff > 0 ? std::max(1, pc.min_nodes) : pc.min_nodes, pc.min_nodes,
                                      pc.max_nodes);
        reason = "no node of the pool has shown its " + pc.resource + " capacity yet";
        p.utilization = 0;
      } else {
        autoscale::PoolSpec spec;
        spec.min_nodes = pc.min_nodes;
        spec.max_nodes = pc.max_nodes;
        spec.target_utilization = pc.target_utilization;
        spec.tolerance = pc.tolerance;
        spec.scale_up_cooldown_seconds = static_cast<double>(pc.scale_up_cooldown_ms) / 1000.0;
        spec.scale_down_cooldown_seconds = static_cast<double>(pc.scale_down_cooldown_ms) / 1000.0;
        spec.max_scale_down_step = pc.max_scale_down_step;
        autoscale::PoolState st;
        st.current_nodes = n;
        st.node_capacity = p.node_capacity;
        st.allocated = static_cast<double>(alloc);
        st.observed = static_cast<double>(eff);  // per node max(allocated, observed), summed
        st.queued_demand = static_cast<double>(queued[i]);
        st.now = now_s;
        // The cool-downs apply to changes of the desired count (below), not to the nodes present: nodes
        // join later than the decision, and a pending scale-up must not read as a new one.
        auto d = autoscale::DesiredPoolSize(spec, st);
        if (!d.ok()) {
          reason = d.error().message;
        } else {
          p.utilization = d->utilization;
          reason = d->reason;
          desired = d->desired_nodes;
          auto left = [](double cooldown, double since) {
            char buf[48];
            std::snprintf(buf, sizeof buf, "%.0fs left", std::ceil(cooldown - since));
            return std::string(buf);
          };
          const double up_cd = spec.scale_up_cooldown_seconds, down_cd = spec.scale_down_cooldown_seconds;
          if (desired > prev && p.last_up && now_s - *p.last_up < up_cd) {
            reason += "; scale-up to " + std::to_string(desired) + " held by cool-down (" + left(up_cd, now_s - *p.last_up) + ")";
            desired = prev;
          } else if (desired < prev) {
            double since = 1e300;
            if (p.last_down) since = std::min(since, now_s - *p.last_down);
            if (p.last_up) since = std::min(since, now_s - *p.last_up);
            if (since < down_cd) {
              reason += "; scale-down to " + std::to_string(desired) + " held by cool-down (" + left(down_cd, since) + ")";
              desired = prev;
            }
          }
        }
      }
      p.evaluated = true;
      p.nodes = n;
      p.allocated = alloc;
      p.observed = obs;
      p.effective = eff;
      p.queued_demand = queued[i];
      p.reason = reason;
      p.evaluated_at = now_ms;
      p.desired = desired;
      if (desired != prev) {
        if (desired > prev) p.last_up = now_s;
        else p.last_down = now_s;
        p.changed_at = now_ms;
        AuditEvent a;
        a.at = now_ms;
        a.type = "pool_scale";
        a.id = pc.name;
        a.reason = "desired nodes " + std::to_string(prev) + " -> " + std::to_string(desired) + " (" +
                   std::to_string(n) + " present): " + reason;
        a.actor = "server";
        std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"pool desired nodes changed\",\"pool\":%s,\"reason\":%s}\n",
                     server::Dump(Json(pc.name)).c_str(), server::Dump(Json(a.reason)).c_str());
        b->events.push_back(std::move(a));
        if (!pc.command.empty()) StartCommand(p, now_ms, b);
      }
      // Demand for the forecast: what is in use (allocated or observed) plus what waits for room.
      p.demand.push_back(static_cast<double>(eff + queued[i]));
      while (p.demand.size() > 240) p.demand.pop_front();
      auto f = autoscale::HoltLinear(std::vector<double>(p.demand.begin(), p.demand.end()), cfg.forecast_alpha,
                                     cfg.forecast_beta, cfg.forecast_horizon);
      if (f.ok()) {
        p.forecast = std::move(*f);
        p.has_forecast = true;
      }
    }
  }

  // Runs the pool's command: argv from the config plus the pool name and the desired count, no shell.
  // REQUIRES: mu held.
  void StartCommand(PoolRuntime& p, int64_t now_ms, Batch* b) {
    if (p.pid > 0) {
      p.command_pending = true;  // once the running one ends
      return;
    }
    std::vector<std::string> args = p.cfg.command;
    args.push_back(p.cfg.name);
    args.push_back(std::to_string(p.desired));
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; e++) {
      std::string_view v(*e);
      if (v.rfind("ALLOT_POOL=", 0) == 0 || v.rfind("ALLOT_DESIRED_NODES=", 0) == 0 ||
          v.rfind("ALLOT_CURRENT_NODES=", 0) == 0) {
        continue;
      }
      env.emplace_back(v);
    }
    env.push_back("ALLOT_POOL=" + p.cfg.name);
    env.push_back("ALLOT_DESIRED_NODES=" + std::to_string(p.desired));
    env.push_back("ALLOT_CURRENT_NODES=" + std::to_string(p.nodes));
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);  // its output goes to the server's log
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    sigaddset(&dflt, SIGTERM);
    sigaddset(&dflt, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    p.command_pending = false;
    p.command_desired = p.desired;
    if (rc != 0) {
      p.last_command = {{"desired", p.desired}, {"started", server::FormatTime(now_ms)},
                        {"error", std::string("cannot start ") + args[0] + ": " + std::strerror(rc)}};
      AuditCommand(p, now_ms, "cannot start " + args[0] + ": " + std::strerror(rc), b);
      return;
    }
    p.pid = pid;
    p.command_started = now_ms;
  }

  void AuditCommand(const PoolRuntime& p, int64_t now_ms, const std::string& what, Batch* b) {
    AuditEvent a;
    a.at = now_ms;
    a.type = "pool_command";
    a.id = p.cfg.name;
    a.reason = "desired " + std::to_string(p.command_desired) + ": " + what;
    a.actor = "server";
    std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"pool command\",\"pool\":%s,\"result\":%s}\n",
                 server::Dump(Json(p.cfg.name)).c_str(), server::Dump(Json(a.reason)).c_str());
    b->events.push_back(std::move(a));
  }

  // Collects finished commands, kills those past their timeout. REQUIRES: mu held.
  void ReapCommands(int64_t now_ms, Batch* b) {
    for (auto& p : pools) {
      if (p.pid <= 0) continue;
      int status = 0;
      pid_t r = waitpid(p.pid, &status, WNOHANG);
      bool timed_out = false;
      if (r == 0) {
        if (now_ms - p.command_started <= p.cfg.command_timeout_ms) continue;
        kill(p.pid, SIGKILL);
        r = waitpid(p.pid, &status, 0);
        timed_out = true;
      }
      int code = -1;
      if (r == p.pid) code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      p.last_command = {{"desired", p.command_desired},
                        {"started", server::FormatTime(p.command_started)},
                        {"seconds", static_cast<double>(now_ms - p.command_started) / 1000.0},
                        {"exit_code", code},
                        {"timed_out", timed_out}};
      AuditCommand(p, now_ms, timed_out ? "killed after its timeout" : "exit " + std::to_string(code), b);
      p.pid = -1;
      if (p.command_pending && p.desired != p.command_desired) StartCommand(p, now_ms, b);
      p.command_pending = false;
    }
  }

  Json PoolJson(const PoolRuntime& p) const {
    const PoolConfig& pc = p.cfg;
    auto amount = [](double v) { return static_cast<int64_t>(std::llround(v)); };
    Json j = {{"name", pc.name},
              {"resource", pc.resource},
              {"nodes", p.nodes},
              {"desired", p.desired},
              {"min_nodes", pc.min_nodes},
              {"max_nodes", pc.max_nodes},
              {"target_utilization", pc.target_utilization},
              {"utilization", p.utilization},
              {"allocated", p.allocated},
              {"observed", p.observed},
              {"effective", p.effective},
              {"queued_demand", p.queued_demand},
              {"node_capacity", amount(p.node_capacity)},
              {"reason", p.reason},
              {"evaluated", p.evaluated_at > 0 ? Json(server::FormatTime(p.evaluated_at)) : Json(nullptr)},
              {"last_change", p.changed_at > 0 ? Json(server::FormatTime(p.changed_at)) : Json(nullptr)},
              {"scale_up_cooldown_seconds", static_cast<double>(pc.scale_up_cooldown_ms) / 1000.0},
              {"scale_down_cooldown_seconds", static_cast<double>(pc.scale_down_cooldown_ms) / 1000.0}};
    auto mon = pool_degradation.find(pc.name);
    j["degradation"] = LevelJson(mon == pool_degradation.end() ? nullptr : mon->second.get());
    if (!pc.command.empty()) {
      j["command"] = {{"running", p.pid > 0}, {"last", p.last_command}};
    }
    if (p.has_forecast) {
      Json demand = Json::array(), nodes = Json::array();
      double per_node = p.node_capacity * pc.target_utilization;
      for (double f : p.forecast.forecast) {
        double v = std::max(0.0, f);
        demand.push_back(amount(v));
        nodes.push_back(per_node > 0 ? Json(static_cast<int64_t>(std::ceil(v / per_node - 1e-9))) : Json(nullptr));
      }
      j["forecast"] = {{"method", "holt-linear"},
                       {"alpha", cfg.forecast_alpha},
                       {"beta", cfg.forecast_beta},
                       {"step_seconds", static_cast<double>(cfg.pool_interval_ms) / 1000.0},
                       {"samples", p.demand.size()},
                       {"level", amount(p.forecast.level)},
                       {"trend", p.forecast.trend},
                       {"demand", demand},
                       {"nodes_needed", nodes}};
    } else {
      j["forecast"] = nullptr;
    }
    return j;
  }

  void ListPools(const net::Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    Json arr = Json::array();
    for (const auto& p : pools) arr.push_back(PoolJson(p));
    r.Send(JsonResponse(200, {{"pools", arr},
                              {"interval_seconds", static_cast<double>(cfg.pool_interval_ms) / 1000.0},
                              {"degradation", DegradationJson()}}));
  }

  void GetPool(const std::string& name, const net::Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& p : pools) {
      if (p.cfg.name == name) return r.Send(JsonResponse(200, PoolJson(p)));
    }
    NotFound(r, "pool " + name + " is not configured (config `pools:`)");
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
                     server::Dump(Json(k)).c_str(), server::Dump(Json(s.message())).c_str());
        continue;
      }
      known_nodes.insert(n->spec.name);
      registered_allocated[n->spec.name] = n->spec.allocated;
      NodeMeta& m = node_meta[n->spec.name];
      m.pool = n->spec.pool;
      m.agent = n->agent;
      m.owner = n->owner;
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
      node_meta[spec.name].pool = spec.pool;
      registered_allocated[spec.name] = spec.allocated;
      fix.Put(Table::kNodes, spec.name, server::EncodeNode({spec, false, false, false, ""}));
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
    std::vector<server::AllocRecord> done;  // finished, still in the retention window
    for (const auto& [k, v] : snap->rows(Table::kAllocations)) {
      auto r = server::DecodeAlloc(v);
      if (!r) {
        fix.Delete(Table::kAllocations, k);
        continue;
      }
      (IsActive(r->info.state) ? recs : done).push_back(std::move(*r));
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
    // Finished allocations still in their retention window, oldest first.
    {
      auto ended = [&](const server::AllocRecord& r) { return r.info.ended >= 0 ? r.info.ended : now; };
      std::sort(done.begin(), done.end(), [&](const auto& a, const auto& b) {
        return ended(a) != ended(b) ? ended(a) < ended(b) : a.info.id < b.info.id;
      });
      for (auto& r : done) {
        std::string id = r.info.id;
        if (!r.idem.empty()) idem_index[r.info.tenant + "\n" + r.idem] = id;
        int64_t at = ended(r);
        finished[id] = {std::move(r.info), std::move(r.idem), std::move(r.actor), at};
        finished_order.push_back(id);
      }
      PruneFinished(now, &fix);
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

  // Text the request line carries: the method a token, the path and every query key and value valid UTF-8
  // without control characters (so no handler, log line or error text sees bytes it cannot encode).
  static std::optional<ApiError> CheckRequestLine(const net::HttpRequest& req) {
    if (req.method.empty() || req.method.size() > 16 ||
        !std::all_of(req.method.begin(), req.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      return ApiError{400, "invalid_argument", "the method must be an HTTP method name such as GET", "method"};
    }
    if (auto e = server::CheckText(req.path, "path")) return e;
    for (const auto& [k, v] : req.query) {
      if (auto e = server::CheckText(k, "query")) return e;
      if (auto e = server::CheckText(v, "query." + k)) return e;
    }
    return std::nullopt;
  }

  void Handle(net::HttpRequest&& req, const net::Responder& r) {
    const std::string& p = req.path;
    if (auto e = CheckRequestLine(req)) return Invalid(r, *e);
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
    } else if (res == "nodepools") {  // elastic node pools (/v1/pools is the concurrency pools' prefix)
      if (seg.size() == 2 && m == "GET") return ListPools(r);
      if (seg.size() == 3 && m == "GET") return GetPool(seg[2], r);
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

  // Safe with or without mu held.
  void CountRejection(const std::string& reason) {
    std::lock_guard<std::mutex> l(rejections_mu);
    rejections[reason]++;
  }
  void Reject(const net::Responder& r, const ApiError& e, const std::string& reason) {
    CountRejection(reason);
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
    if (auto e = server::CheckKeys(body, "", {"name", "capacity", "allocated", "labels", "taints", "pool", "gpus", "force"})) {
      return Invalid(r, *e);
    }
    bool force = false;
    if (auto e = server::GetBool(body, "", "force", &force)) return Invalid(r, *e);
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
    Json gpus = Json::array();
    if (body.contains("gpus")) {
      if (auto e = ParseGpus(body["gpus"], "gpus", &gpus)) return Invalid(r, *e);
    }
    if (!gpus.empty()) {
      // The agent's GPU list, summarised as labels that selectors can use (explicit labels win).
      std::string model;
      int64_t memory = -1;
      for (const auto& g : gpus) {
        if (model.empty() && g.contains("model")) model = LabelValue(g["model"].get<std::string>());
        if (g.contains("memory")) memory = memory < 0 ? g["memory"].get<int64_t>() : std::min(memory, g["memory"].get<int64_t>());
      }
      spec.labels.emplace("allot.dev/gpu-count", std::to_string(gpus.size()));
      if (!model.empty()) spec.labels.emplace("allot.dev/gpu-model", model);
      if (memory >= 0) spec.labels.emplace("allot.dev/gpu-memory", std::to_string(memory));
      if (!spec.capacity.count("gpu")) {
        auto n = ParseResourceAmount("gpu", std::to_string(gpus.size()));
        if (n.ok()) spec.capacity["gpu"] = *n;
      }
    }
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
    auto current = engine->Node(spec.name);
    bool exists = current.ok();
    if (exists) {
      if (auto e = MayUpdateNode(*current, spec, who, force)) return Reject(r, *e, e->status == 403 ? "forbidden" : "invalid");
    }
    Status s = exists ? engine->UpdateNode(spec, now) : engine->AddNode(spec, now);
    if (!s.ok()) return Invalid(r, server::FromError(s.error()));
    NodeMeta& m = node_meta[spec.name];
    m.pool = spec.pool;
    if (!gpus.empty() || !body.contains("gpus")) m.gpus = gpus;
    registered_allocated[spec.name] = spec.allocated;
    if (who.role == "agent") {
      m.agent = true;
      m.owner = who.name;
      m.last_heartbeat = now;
    }
    Batch b;
    b.Put(Table::kNodes, spec.name, server::EncodeNode({spec, m.draining, m.down, m.agent, m.owner}));
    engine->Schedule(now);
    auto fire = Collect(who.name, &b);
    auto n = engine->Node(spec.name);
    CommitThen(std::move(b), r, JsonResponse(exists ? 200 : 201, NodeJson(*n)), std::move(fire));
  }

  // Whether `who` may replace node `current` by `spec`. An agent may update only a node it registered
  // itself; nobody shrinks a node below what allot has placed on it, except an admin with force (the
  // allocations then keep running and the node has no free capacity until enough of them end).
  // REQUIRES: mu held.
  std::optional<ApiError> MayUpdateNode(const NodeInfo& current, const NodeSpec& spec, const Principal& who, bool force) {
    const NodeMeta& m = node_meta[current.name];
    if (who.role == "agent" && !(m.agent && (m.owner.empty() || m.owner == who.name))) {
      return Forbidden("node " + current.name + " is managed by " + (m.agent ? "agent " + m.owner : std::string("an admin")) +
                       "; an agent token may register or update only its own node");
    }
    if (force && who.admin()) return std::nullopt;
    const ResourceMap& unmanaged = registered_allocated[current.name];
    for (const auto& [k, used] : current.allocated) {
      int64_t placed = used - Get(unmanaged, k);  // what allot's own allocations hold
      if (placed <= 0) continue;
      int64_t room = Get(spec.capacity, k) - Get(spec.allocated, k);
      if (room < placed) {
        return ApiError{409, "failed_precondition",
                        "capacity." + k + ": node " + current.name + " has " + FormatResourceAmount(k, placed) +
                            " allocated; the new capacity leaves room for " + FormatResourceAmount(k, std::max<int64_t>(room, 0)) +
                            (who.admin() ? " (drain it first, or send \"force\": true to keep the allocations running on a node that has no free capacity until they end)"
                                         : " (an agent never shrinks a node below its allocations)"),
                        "capacity." + k};
      }
    }
    return std::nullopt;
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
    b->Put(Table::kNodes, name, server::EncodeNode({spec, m.draining, m.down, m.agent, m.owner}));
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
    if (auto e = server::CheckKeys(body, "", {"usage", "gpus"})) return Invalid(r, *e);
    ResourceMap usage;
    if (body.contains("usage")) {
      if (auto e = server::GetResources(body["usage"], "usage", &usage)) return Invalid(r, *e);
    }
    Json gpus;
    bool has_gpus = body.contains("gpus") && !body["gpus"].is_null();
    if (has_gpus) {
      if (auto e = ParseGpus(body["gpus"], "gpus", &gpus)) return Invalid(r, *e);
    }
    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    if (!engine->Node(name).ok()) return NotFound(r, "node " + name + " is not registered");
    if (who.role == "agent") {
      const NodeMeta& cur = node_meta[name];
      if (!cur.owner.empty() && cur.owner != who.name) {
        return Reject(r, Forbidden("node " + name + " is managed by agent " + cur.owner + "; heartbeats come from its own agent"), "forbidden");
      }
    }
    if (auto s = engine->SetObservedUsage(name, usage, now); !s.ok()) return Invalid(r, server::FromError(s.error()));
    NodeMeta& m = node_meta[name];
    bool changed = !m.agent || m.down_by_heartbeat;
    m.agent = true;
    m.last_heartbeat = now;
    m.observed = usage;
    if (has_gpus) m.gpus = std::move(gpus);
    Json resp = {{"node", name},
                 {"heartbeat_timeout_seconds", static_cast<double>(cfg.heartbeat_timeout_ms) / 1000.0},
                 {"degradation", DegradationJson()}};
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

    // Adaptive admission: the ticket is returned when the answer is durable (or on any early answer).
    AdmissionTicket ticket;
    ticket.impl = this;
    ticket.t0_us = SteadyMicros();
    int64_t admission_limit = 0;
    {
      std::lock_guard<std::mutex> al(admission_mu);
      ticket.acquired = admission->TryAcquire();
      admission_limit = admission->limit();
      if (!ticket.acquired && cfg.admission_enforced) admission_refusals++;
    }
    if (!ticket.acquired && cfg.admission_enforced) {
      ticket.live = false;  // refused before any work: no latency sample
      CountRejection("overloaded");
      Json j = {{"error", {{"code", "overloaded"},
                           {"message", "the server is shedding load: " + std::to_string(admission_limit) +
                                           " submissions in flight is its adaptive limit now; retry shortly"},
                           {"field", "throttling.admission"}}}};
      {
        std::lock_guard<std::mutex> l(mu);
        j["degradation"] = DegradationJson();
      }
      net::HttpResponse resp = JsonResponse(429, j);
      resp.headers.push_back({"Retry-After", "1"});
      return r.Send(std::move(resp));
    }

    std::lock_guard<std::mutex> l(mu);
    int64_t now = server::WallNowMs();
    if (!idem.empty()) {
      auto it = idem_index.find(spec.tenant + "\n" + idem);
      if (it != idem_index.end()) {
        // A retry: answer with the allocation the first request made, once that is durable.
        auto info = Lookup(it->second);
        if (info) {
          Json j = AllocJson(*info, &idem);
          j["degradation"] = DegradationJson();
          net::HttpResponse resp = JsonResponse(info->state == AllocState::kQueued ? 202 : 201, j);
          resp.headers.push_back({"Idempotent-Replay", "true"});
          CommitThen(Batch{}, r, std::move(resp), {}, ticket.Handoff());
          return;
        }
      }
    }
    // Degradation: the priority gate of the cluster's level (fresh allocated totals, plus the timer's
    // effective utilisation that includes observed usage).
    Batch b;
    ObserveAllocated(now, &b);
    throttle::GateDecision gate = degradation->Gate(Ns(now), spec.priority);
    if (!gate.allowed && cfg.degradation_enforced) {
      degradation_refusals++;
      CountRejection("degraded");
      std::string worst;
      double worst_pct = 0;
      degradation->RawLevel(&worst, &worst_pct);
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f", worst_pct);
      Json j = {{"error", {{"code", "degraded"},
                           {"message", "the cluster is at degradation level " + std::to_string(gate.level) + " (" +
                                           LevelName(gate.level) + "): " + gate.reason + "; this request has priority " +
                                           std::to_string(spec.priority) +
                                           (worst.empty() ? "" : "; worst: " + worst + " at " + pct + " %") +
                                           "; retry later, or shrink work by the scale factor"},
                           {"field", "priority"}}},
                {"degradation", DegradationJson()}};
      net::HttpResponse resp = JsonResponse(503, j);
      resp.headers.push_back({"Retry-After", std::to_string(std::max<int64_t>(1, degradation_options.dwell_ns / 1'000'000'000))});
      return CommitThen(std::move(b), r, std::move(resp), {}, ticket.Handoff());
    }
    auto limited = [&](const ApiError& e) {
      CountRejection("limit");
      Json j = Json::parse(server::ErrorBody(e));
      j["degradation"] = DegradationJson();
      net::HttpResponse resp = JsonResponse(e.status, j);
      resp.headers.push_back({"Retry-After", "1"});
      CommitThen(std::move(b), r, std::move(resp), {}, ticket.Handoff());
    };
    if (cfg.max_concurrent_allocations > 0 && active.size() >= cfg.max_concurrent_allocations) {
      return limited({429, "resource_exhausted",
                      "the server holds its limit of " + std::to_string(cfg.max_concurrent_allocations) +
                          " concurrent allocations", "limits.max_concurrent_allocations"});
    }
    if (cfg.max_allocations_per_tenant > 0) {
      auto t = tenant_active.find(spec.tenant);
      if (t != tenant_active.end() && t->second >= cfg.max_allocations_per_tenant) {
        return limited({429, "resource_exhausted",
                        "tenant " + spec.tenant + " holds its limit of " + std::to_string(cfg.max_allocations_per_tenant) +
                            " allocations", "limits.max_allocations_per_tenant"});
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
      if (!b.empty()) CommitThen(std::move(b), net::Responder(), {});
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
    ObserveAllocated(now, &b);  // the level this decision leaves behind
    auto fire = Collect(who.name, &b);
    auto info = Lookup(id);
    if (!info) return r.Send(ErrorResponse({500, "internal", "the allocation vanished", ""}));
    // A request the engine placed is persisted by Collect; one it merely queued is too.
    net::HttpResponse resp;
    Json j = AllocJson(*info, &idem);
    j["degradation"] = DegradationJson();
    if (info->state == AllocState::kPlaced) {
      resp = JsonResponse(201, j);
    } else if (info->state == AllocState::kQueued) {
      resp = JsonResponse(202, j);
    } else {
      j["error"] = {{"code", info->state == AllocState::kRejected ? "rejected" : AllocStateName(info->state)},
                    {"message", "allocation " + id + " was " + AllocStateName(info->state) +
                                    (info->reason.empty() ? "" : ": " + info->reason)}};
      resp = JsonResponse(409, j);
    }
    CommitThen(std::move(b), r, std::move(resp), std::move(fire), ticket.Handoff());
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
      int64_t v = 0;
      if (auto e = server::ParseCount(req.Query("limit"), "limit", 0, 100000, &v)) return Invalid(r, *e);
      limit = static_cast<size_t>(v);
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
    size_t up = 0, down = 0, draining = 0, total = 0, reporting = 0;
    ResourceMap observed, effective;  // over schedulable nodes; observed only where agents report
    for (const auto& n : engine->Nodes()) {
      total++;
      if (!n.up) down++;
      else if (n.draining) draining++;
      else up++;
      if (!n.up || n.draining) continue;
      auto m = node_meta.find(n.name);
      bool reports = m != node_meta.end() && !m->second.observed.empty();
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
    Json deg = DegradationJson();
    {
      std::string worst;
      double worst_pct = 0;
      int raw = degradation->RawLevel(&worst, &worst_pct);
      deg["raw_level"] = raw;
      deg["enforced"] = cfg.degradation_enforced;
      deg["worst"] = worst;
      deg["worst_percent"] = worst_pct;
      Json pools_deg = Json::object();
      for (const auto& [name, mon] : pool_degradation) pools_deg[name] = LevelJson(mon.get());
      deg["pools"] = pools_deg;
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
                              {"observed", server::ResourcesJson(observed)},
                              {"observed_percent", observed_pct},
                              {"effective_percent", effective_pct},
                              {"reporting_nodes", reporting},
                              {"degradation", deg},
                              {"admission", AdmissionJson()},
                              {"nodes", {{"total", total}, {"up", up}, {"down", down}, {"draining", draining}}},
                              {"allocations", {{"placed", placed}, {"queued", queued}}},
                              {"queue_depth", engine->QueueDepth()},
                              {"tenants", tenants}}));
  }

  Json AdmissionJson() {
    std::lock_guard<std::mutex> l(admission_mu);
    const auto& st = admission->state();
    return {{"enforced", cfg.admission_enforced},
            {"limit", admission->limit()},
            {"in_flight", st.in_flight},
            {"increases", st.increases},
            {"decreases", st.decreases},
            {"refused", admission_refusals},
            {"last_latency_seconds", static_cast<double>(st.last_latency_ns) / 1e9}};
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
      if (auto e = server::ParseCount(req.Query("after"), "after", 0, INT64_MAX, &q.after_seq)) return Invalid(r, *e);
    }
    if (req.HasQuery("limit")) {
      int64_t v = 0;
      if (auto e = server::ParseCount(req.Query("limit"), "limit", 0, 100000, &v)) return Invalid(r, *e);
      q.limit = static_cast<size_t>(v);
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
      {
        std::lock_guard<std::mutex> rl(rejections_mu);
        for (const auto& [k, v] : rejections) w.SampleInt("allot_rejections_total", {{"reason", k}}, static_cast<int64_t>(v));
      }
      w.Family("allot_preemptions_total", "counter", "Allocations preempted.");
      w.SampleInt("allot_preemptions_total", {}, static_cast<int64_t>(preemptions));
      w.Family("allot_lease_expiries_total", "counter", "Allocations whose lease ran out.");
      w.SampleInt("allot_lease_expiries_total", {}, static_cast<int64_t>(lease_expiries));
      w.Family("allot_placements_total", "counter", "Allocations placed.");
      w.SampleInt("allot_placements_total", {}, static_cast<int64_t>(placements));
      w.Family("allot_submissions_total", "counter", "Allocation requests accepted.");
      w.SampleInt("allot_submissions_total", {}, static_cast<int64_t>(submissions));
      w.Family("allot_degradation_level", "gauge", "Cluster degradation level: 0 normal, 1 light, 2 moderate, 3 heavy, 4 critical.");
      w.SampleInt("allot_degradation_level", {}, degradation->level());
      w.Family("allot_scale_factor", "gauge", "Recommended scale factor for batch work at the cluster's degradation level.");
      w.Sample("allot_scale_factor", {}, degradation->scale());
      w.Family("allot_degradation_enforced", "gauge", "1 if the degradation level gates submissions by priority.");
      w.SampleInt("allot_degradation_enforced", {}, cfg.degradation_enforced ? 1 : 0);
      w.Family("allot_degradation_refusals_total", "counter", "Submissions refused by the degradation priority gate.");
      w.SampleInt("allot_degradation_refusals_total", {}, static_cast<int64_t>(degradation_refusals));
      w.Family("allot_pool_degradation_level", "gauge", "Degradation level per node pool.");
      for (const auto& [name, mon] : pool_degradation) w.SampleInt("allot_pool_degradation_level", {{"pool", name}}, mon->level());
      w.Family("allot_pool_scale_factor", "gauge", "Recommended scale factor per node pool.");
      for (const auto& [name, mon] : pool_degradation) w.Sample("allot_pool_scale_factor", {{"pool", name}}, mon->scale());
      w.Family("allot_pool_nodes", "gauge", "Schedulable nodes per elastic pool.");
      for (const auto& p : pools) w.SampleInt("allot_pool_nodes", {{"pool", p.cfg.name}}, p.nodes);
      w.Family("allot_pool_desired_nodes", "gauge", "Desired node count per elastic pool.");
      for (const auto& p : pools) w.SampleInt("allot_pool_desired_nodes", {{"pool", p.cfg.name}}, p.desired);
      w.Family("allot_pool_utilization", "gauge", "Utilisation (0-1) of each elastic pool's sizing resource.");
      for (const auto& p : pools) w.Sample("allot_pool_utilization", {{"pool", p.cfg.name}}, p.utilization);
      w.Family("allot_pool_queued_demand", "gauge", "Queued demand that fits no node, per pool (its resource's units).");
      for (const auto& p : pools) w.SampleInt("allot_pool_queued_demand", {{"pool", p.cfg.name}}, p.queued_demand);
      w.Family("allot_pool_forecast_demand", "gauge", "Holt linear-trend forecast of pool demand at the forecast horizon.");
      for (const auto& p : pools) {
        if (p.has_forecast && !p.forecast.forecast.empty()) {
          w.Sample("allot_pool_forecast_demand", {{"pool", p.cfg.name}}, std::max(0.0, p.forecast.forecast.back()));
        }
      }
      w.Family("allot_node_observed", "gauge", "Usage reported by node agents; cpu and gpu in cores/devices, others in base units.");
      for (const auto& [name, m] : node_meta) {
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
      std::lock_guard<std::mutex> al(admission_mu);
      const auto& st = admission->state();
      w.Family("allot_admission_limit", "gauge", "Adaptive (AIMD) limit on submissions in flight.");
      w.SampleInt("allot_admission_limit", {}, admission->limit());
      w.Family("allot_admission_enforced", "gauge", "1 if the adaptive limit refuses work (throttling.admission is configured).");
      w.SampleInt("allot_admission_enforced", {}, cfg.admission_enforced ? 1 : 0);
      w.Family("allot_admission_in_flight", "gauge", "Submissions between arrival and durable answer.");
      w.SampleInt("allot_admission_in_flight", {}, st.in_flight);
      w.Family("allot_admission_adjustments_total", "counter", "Adaptive limit changes by direction.");
      w.SampleInt("allot_admission_adjustments_total", {{"direction", "increase"}}, static_cast<int64_t>(st.increases));
      w.SampleInt("allot_admission_adjustments_total", {{"direction", "decrease"}}, static_cast<int64_t>(st.decreases));
      w.Family("allot_admission_refused_total", "counter", "Submissions refused (429 overloaded) by the adaptive limit.");
      w.SampleInt("allot_admission_refused_total", {}, static_cast<int64_t>(admission_refusals));
      w.Family("allot_admission_latency_seconds", "gauge", "The last submission's latency as the controller saw it.");
      w.Sample("allot_admission_latency_seconds", {}, static_cast<double>(st.last_latency_ns) / 1e9);
    }
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
    for (const auto& source : metric_sources) w.text() += source();  // no lock held: a source may audit
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
                         server::Dump(Json(name)).c_str());
          }
        }
      }
      if (now - last_pressure_ms >= 200) RefreshPressure(now, &b);
      if (!pools.empty() && now - last_pool_eval_ms >= cfg.pool_interval_ms) EvaluatePools(now, &b);
      ReapCommands(now, &b);
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
      PruneFinished(now, &b);
      if (!b.empty() || !fire.empty()) CommitThen(std::move(b), net::Responder(), {}, std::move(fire));
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
    // Everything from the request is made valid UTF-8 (and cut between characters) before it is encoded.
    std::string line = "{\"ts\":\"" + server::FormatTime(server::WallNowMs()) +
                       "\",\"level\":\"info\",\"msg\":\"request\",\"method\":" + server::Dump(Json(SafeUtf8(rec.method, 32))) +
                       ",\"path\":" + server::Dump(Json(SafeUtf8(rec.path, 300))) + ",\"status\":" + std::to_string(rec.status) +
                       ",\"us\":" + std::to_string(rec.micros) + ",\"bytes\":" + std::to_string(rec.bytes) +
                       ",\"actor\":" + server::Dump(Json(SafeUtf8(rec.actor, 253))) +
                       ",\"remote\":" + server::Dump(Json(SafeUtf8(rec.remote, 64))) + "}\n";
    fwrite(line.data(), 1, line.size(), stderr);
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
  throttle::AimdOptions admission;
  if (!config.throttling_yaml.empty()) {
    // Only the sections the server applies; the rest belongs to the rate-limit routes.
    try {
      YAML::Node t = YAML::Load(config.throttling_yaml);
      if (t.IsMap() && t["degradation"]) {
        auto d = throttle::ParseDegradationNode(t["degradation"], "throttling.degradation");
        if (!d.ok()) return d.error();
        impl->degradation_options = std::move(*d);
      }
      if (t.IsMap() && t["admission"]) {
        auto a = throttle::ParseAimdNode(t["admission"], "throttling.admission");
        if (!a.ok()) return a.error();
        admission = *a;
      }
    } catch (const YAML::Exception& e) {
      return InvalidArgument("throttling: " + std::string(e.what()));
    }
  }
  if (auto s = throttle::ValidateDegradationOptions(impl->degradation_options); !s.ok()) {
    return InvalidArgument("throttling.degradation: " + s.message());
  }
  if (auto s = throttle::ValidateAimdOptions(admission); !s.ok()) return InvalidArgument("throttling.admission: " + s.message());
  impl->degradation = std::make_unique<throttle::DegradationMonitor>(impl->degradation_options);
  impl->admission = std::make_unique<throttle::AimdLimiter>(admission);
  for (const auto& pc : config.pools) {
    if (pc.max_nodes < pc.min_nodes || !(pc.target_utilization > 0 && pc.target_utilization <= 1)) {
      return InvalidArgument("pools: " + pc.name + ": need min_nodes <= max_nodes and target_utilization in (0, 1]");
    }
    Impl::PoolRuntime p;
    p.cfg = pc;
    impl->pools.push_back(std::move(p));
  }
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
  // A single rate-limit acquire is one in-memory decision: it skips the worker hand-off. (The batch form
  // stays with the workers, which share its JSON work between cores.)
  ho.run_inline = [](const net::HttpRequest& req) {
    const std::string& path = req.path;
    constexpr std::string_view kPrefix = "/v1/ratelimits/", kSuffix = "/acquire";
    return req.method == "POST" && path.size() > kPrefix.size() + kSuffix.size() &&
           path.compare(0, kPrefix.size(), kPrefix) == 0 &&
           path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
  };
  auto http = net::HttpServer::Create(ho, [p](net::HttpRequest&& req, const net::Responder& r) {
    // The last resort: a handler that throws answers 500 and is logged; the server keeps serving. (Input is
    // validated before use, so reaching this is a bug; the first Send wins, so an answer already sent stays.)
    try {
      p->Handle(std::move(req), r);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"request handler failed\",\"error\":%s}\n",
                   server::Dump(Json(SafeUtf8(e.what(), 300))).c_str());
      r.Send(ErrorResponse({500, "internal", "the server failed on this request; it was logged", ""}));
    }
  });
  if (!http.ok()) return http.error();
  impl->http = std::move(http.value());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::AddRoute(const std::string& prefix, std::function<ApiAnswer(const ApiCall&)> fn) {
  impl_->routes.emplace_back(prefix, std::move(fn));
}

void Server::AddMetrics(std::function<std::string()> fn) { impl_->metric_sources.push_back(std::move(fn)); }

Status Server::Audit(std::vector<AuditEvent> events) {
  if (events.empty()) return Status::Ok();
  Batch b;
  b.events = std::move(events);
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> durable = done->get_future();
  impl_->store->Commit(std::move(b), [done](const Status& s) { done->set_value(s); });
  Status s = durable.get();
  if (!s.ok()) {
    std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"audit commit failed\",\"error\":%s}\n",
                 server::Dump(Json(s.message())).c_str());
  }
  return s;
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
