// The state layer: durable changes, JSON views and answers (see state.h).
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

namespace allot::server {

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

net::HttpResponse JsonResponse(int status, Json body, const std::vector<std::string>& warnings) {
  if (!warnings.empty()) body["warnings"] = warnings;
  net::HttpResponse r = JsonResponse(status, body);
  server::AddWarningHeaders(warnings, &r.headers);
  return r;
}

net::HttpResponse JsonTextResponse(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
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

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

Json NullableTime(int64_t ms) { return ms < 0 ? Json(nullptr) : Json(server::FormatTime(ms)); }

const char* LevelName(int level) {
  static const char* kNames[] = {"normal", "light", "moderate", "heavy", "critical"};
  return level >= 0 && level <= 4 ? kNames[level] : "unknown";
}

int64_t Get(const ResourceMap& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

// Turns the engine's pending events into one store batch (records + audit events), updates the server's
// own indexes, and returns the watches that the change answers.
std::vector<std::pair<net::Responder, Json>> State::Collect(const std::string& actor, Batch* batch) {
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
    if (ev.type == EventType::kRejected) CountRejection(ReasonCodeName(ev.reason_code));
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

std::string State::EncodeRecord(const AllocationInfo& info, const Meta& m) {
  server::AllocRecord r;
  r.info = info;
  if (m.spec) r.spec = *m.spec;
  r.idem = m.idem;
  r.actor = m.actor;
  r.agent = m.agent;
  r.lease_ms = m.lease_ms;
  return server::EncodeAlloc(r);
}

void State::AddAgentUsage(const std::string& agent, const ResourceMap& requests, int count, int sign) {
  if (agent.empty()) return;
  AgentUsage& u = agent_usage[agent];
  u.cpu += sign * Get(requests, "cpu") * count;
  u.memory += sign * Get(requests, "memory") * count;
  if (u.cpu <= 0 && u.memory <= 0) agent_usage.erase(agent);
}

void State::Finish(const std::string& id, const AllocationInfo& info, const Meta& m, Batch* batch) {
  AddAgentUsage(m.agent, info.requests, info.count, -1);
  auto t = tenant_active.find(m.tenant);
  if (t != tenant_active.end() && t->second > 0 && --t->second == 0) tenant_active.erase(t);
  finished[id] = {info, m.idem, m.actor, server::WallNowMs(), m.agent};
  finished_order.push_back(id);
  PruneFinished(server::WallNowMs(), batch);
}

// Drops finished allocations past the retention (age or count), from memory and, through `batch`, from
// the store.
void State::PruneFinished(int64_t now, Batch* batch) {
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
void State::CommitThen(Batch batch, net::Responder responder, net::HttpResponse resp,
                std::vector<std::pair<net::Responder, Json>> fire, std::function<void()> done) {
  if (!replica.self_url.empty()) {
    // Everything durable now is in the state (changes enter it before they are committed).
    if (int64_t rev = store->Revision(); rev > read_revision.load()) read_revision = rev;
  }
  Store* st = replica.self_url.empty() ? nullptr : store.get();
  store->Commit(std::move(batch), [responder = std::move(responder), resp = std::move(resp),
                                   fire = std::move(fire), done = std::move(done),
                                   st](const Status& s) mutable {
    if (done) done();
    if (st != nullptr) resp.headers.emplace_back("X-Allot-Revision", std::to_string(st->Revision()));
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
void State::ScheduleAndCommit(int64_t now, const std::string& actor, Batch batch, net::Responder responder,
                       net::HttpResponse resp) {
  engine->Schedule(now);
  auto fire = Collect(actor, &batch);
  CommitThen(std::move(batch), std::move(responder), std::move(resp), std::move(fire));
}

void State::WriteAllocFields(server::JsonWriter& w, const AllocationInfo& i, const std::string* idem) const {
  // In key order, as a Json object (a std::map) writes them.
  auto time = [&w](const char* key, int64_t ms) {
    w.Key(key);
    if (ms < 0) w.Null();
    else w.String(server::FormatTime(ms));
  };
  if (const std::string& agent = AgentOf(i.id); !agent.empty()) w.Key("agent_id").String(agent);
  w.Key("count").Int(i.count);
  time("ended", i.ended);
  time("expires", i.expires);
  w.Key("id").String(i.id);
  if (idem != nullptr && !idem->empty()) w.Key("idempotency_key").String(*idem);
  w.Key("limits");
  server::WriteResources(w, i.limits);
  w.Key("node");
  if (i.nodes.empty()) w.Null();
  else w.String(i.nodes.front());
  w.Key("nodes").BeginArray();
  for (const auto& n : i.nodes) w.String(n);
  w.EndArray();
  if (!i.preempted_by.empty()) w.Key("preempted_by").String(i.preempted_by);
  w.Key("preemptible").Bool(i.preemptible);
  w.Key("priority").Int(i.priority);
  w.Key("qos").String(QosClassName(i.qos));
  w.Key("reason").String(i.reason);
  w.Key("reason_code").String(ReasonCodeName(i.reason_code));
  w.Key("requests");
  server::WriteResources(w, i.requests);
  if (!i.reservation.empty()) w.Key("reservation").String(i.reservation);
  time("started", i.started);
  w.Key("state").String(AllocStateName(i.state));
  time("submitted", i.submitted);
  w.Key("tenant").String(i.tenant);
  w.Key("workflow").String(i.workflow);
}

Json State::AllocJson(const AllocationInfo& i, const std::string* idem) const {
  server::JsonWriter w;
  w.BeginObject();
  WriteAllocFields(w, i, idem);
  w.EndObject();
  return Json::parse(w.out());
}

const std::string& State::AgentOf(const std::string& id) const {
  static const std::string kNone;
  if (auto a = active.find(id); a != active.end()) return a->second.agent;
  if (auto f = finished.find(id); f != finished.end()) return f->second.agent;
  return kNone;
}

std::string State::AllocTextById(const std::string& id) {
  const AllocationInfo* info = nullptr;
  const std::string* idem = nullptr;
  auto cur = engine->Get(id);
  if (auto a = active.find(id); a != active.end()) idem = &a->second.idem;
  if (cur.ok()) {
    info = &*cur;
  } else if (auto f = finished.find(id); f != finished.end()) {
    info = &f->second.info;
    idem = &f->second.idem;
  }
  if (info == nullptr) return "null";
  server::JsonWriter w;
  w.BeginObject();
  WriteAllocFields(w, *info, idem);
  w.EndObject();
  return std::move(w.out());
}

Json State::AllocJsonById(const std::string& id) {
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
std::optional<AllocationInfo> State::Lookup(const std::string& id) {
  auto info = engine->Get(id);
  if (info.ok()) return *info;
  auto f = finished.find(id);
  if (f != finished.end()) return f->second.info;
  return std::nullopt;
}

void State::WriteNode(server::JsonWriter& w, const NodeInfo& n) const {
  // In key order, as a Json object (a std::map) writes them.
  auto m = node_meta.find(n.name);
  const NodeMeta* meta = m != node_meta.end() ? &m->second : nullptr;
  w.BeginObject();
  if (meta != nullptr) w.Key("agent").Bool(meta->agent);
  w.Key("allocated");
  server::WriteResources(w, n.allocated);
  w.Key("allocations").Int(static_cast<int64_t>(n.allocations));
  w.Key("capacity");
  server::WriteResources(w, n.capacity);
  w.Key("draining").Bool(n.draining);
  w.Key("free");
  server::WriteResources(w, n.free);
  if (meta != nullptr && !meta->gpus.empty()) w.Key("gpus").Value(meta->gpus);
  w.Key("labels").BeginObject();
  for (const auto& [k, v] : n.labels) w.Key(k).String(v);
  w.EndObject();
  if (meta != nullptr && meta->last_heartbeat > 0)
    w.Key("last_heartbeat").String(server::FormatTime(meta->last_heartbeat));
  w.Key("name").String(n.name);
  w.Key("observed");
  server::WriteResources(w, n.observed);
  w.Key("pool").String(n.pool);
  w.Key("state").String(!n.up ? "down" : n.draining ? "draining" : "up");
  w.Key("taints").BeginArray();
  for (const auto& t : n.taints) {
    w.BeginObject().Key("effect").String(t.effect).Key("key").String(t.key);
    w.Key("value").String(t.value).EndObject();
  }
  w.EndArray();
  w.Key("up").Bool(n.up);
  w.EndObject();
}

Json State::NodeJson(const NodeInfo& n) const {
  server::JsonWriter w;
  WriteNode(w, n);
  return Json::parse(w.out());
}

namespace {
// Levenshtein distance (bytes), for "did you mean".
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::optional<ApiError> State::UndeclaredTenant(const std::string& tenant) const {
  if (cfg.dev || cfg.auto_create_tenants || tenant == "default") return std::nullopt;
  std::vector<std::string> declared;
  for (const auto& [p, t] : tenant_specs) declared.push_back(p);
  for (const auto& t : cfg.tokens) {
    if (!t.tenant.empty()) declared.push_back(t.tenant);
  }
  for (const auto& d : declared) {
    if (server::InSubtree(tenant, d) || server::InSubtree(d, tenant)) return std::nullopt;
  }
  std::string msg = "tenant " + tenant + " is not declared";
  const std::string* best = nullptr;
  size_t best_d = 0;
  for (const auto& d : declared) {
    size_t dist = EditDistance(tenant, d);
    if (best == nullptr || dist < best_d) best = &d, best_d = dist;
  }
  msg += best != nullptr ? " (did you mean " + *best + "?)" : " (this server declares no tenants)";
  msg += "; declare it in the config's tenants or with PUT /v1/quotas/" + tenant +
         ", or let the server create tenants on first use with tenants.auto_create: true";
  return ApiError{422, "invalid_value", msg, "tenant"};
}

Json State::TenantJson(const std::string& path) const {
  for (const auto& u : engine->Tenants()) {
    if (u.path == path) return TenantJson(path, &u);
  }
  return TenantJson(path, nullptr);
}

Json State::TenantJson(const std::string& path, const TenantUsage* usage) const {
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
  if (usage != nullptr) {
    const TenantUsage& u = *usage;
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

Json State::ReservationJson(const ReservationInfo& r) const {
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

// Safe with or without mu held.
void State::CountRejection(const std::string& reason) {
  std::lock_guard<std::mutex> l(rejections_mu);
  rejections[reason]++;
}

void State::Reject(const net::Responder& r, const ApiError& e, const std::string& reason) {
  CountRejection(reason);
  r.Send(ErrorResponse(e));
}

void State::NotFound(const net::Responder& r, const std::string& msg) {
  r.Send(ErrorResponse({404, "not_found", msg, ""}));
}

void State::MethodNotAllowed(const net::Responder& r) {
  r.Send(ErrorResponse({405, "method_not_allowed", "method not allowed on this path", ""}));
}

NodeSpec State::SpecOf(const NodeInfo& n) {
  NodeSpec s;
  s.name = n.name;
  s.capacity = n.capacity;
  s.labels = n.labels;
  s.taints = n.taints;
  s.pool = n.pool;
  // Unmanaged use is what the node reports beyond allot's own allocations; kept as registered.
  return s;
}

void State::PersistNode(const std::string& name, Batch* b, const NodeSpec* spec_override) {
  auto n = engine->Node(name);
  if (!n.ok()) return;
  NodeMeta& m = node_meta[name];
  NodeSpec spec = spec_override ? *spec_override : SpecOf(*n);
  // The stored record keeps the registered unmanaged `allocated` amount.
  if (!spec_override) spec.allocated = registered_allocated[name];
  b->Put(Table::kNodes, name, server::EncodeNode({spec, m.draining, m.down, m.agent, m.owner}));
}

void State::WatchHeartbeat(const std::string& name, NodeMeta& m) {
  if (m.heartbeat_due != 0) return;  // its entry, when it comes up, looks at the latest heartbeat
  m.heartbeat_due = m.last_heartbeat + cfg.heartbeat_timeout_ms;
  heartbeat_queue.emplace(m.heartbeat_due, name);
}

void State::CheckHeartbeats(int64_t now, Batch* b) {
  while (!heartbeat_queue.empty() && heartbeat_queue.top().first < now) {
    auto [due, name] = heartbeat_queue.top();
    heartbeat_queue.pop();
    auto it = node_meta.find(name);
    if (it == node_meta.end() || it->second.heartbeat_due != due) continue;  // gone, or queued again since
    NodeMeta& m = it->second;
    m.heartbeat_due = 0;
    if (!m.agent || m.down_by_heartbeat || m.last_heartbeat <= 0) continue;  // the next heartbeat queues it
    if (now - m.last_heartbeat <= cfg.heartbeat_timeout_ms) {
      WatchHeartbeat(name, m);  // heartbeats came since: due a timeout after the last one
      continue;
    }
    if (engine->SetNodeDown(name, now).ok()) {
      m.down_by_heartbeat = true;
      m.down = true;
      PersistNode(name, b);
      std::fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"node down: heartbeats stopped\",\"node\":%s}\n",
                   server::Dump(Json(name)).c_str());
    }
  }
}

void State::TimerLoop() {
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
    bool history_sample = HistoryDue(now);
    if (history_sample) {
      // One scan feeds the pressure monitors and the history's node amounts.
      int64_t cpu0 = server::ThreadCpuNs();
      bool nodes = std::any_of(cfg.history.tiers.begin(), cfg.history.tiers.end(),
                               [](const auto& t) { return t.nodes; });
      RefreshPressure(&l, now, &b, nodes ? &history_frame : nullptr);
      TakeHistorySample(now, cpu0);
    } else if (now - last_pressure_ms >= 200) {
      RefreshPressure(&l, now, &b);
    }
    // After the scan, which lets mu go between slices: from here to the commit the batch's records are
    // made and committed under one hold, so none can land after a newer one of the same node.
    CheckHeartbeats(now, &b);
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
    auth_failures.Drain(now, false, &b.events);
    if (!b.empty() || !fire.empty()) CommitThen(std::move(b), net::Responder(), {}, std::move(fire));
    if (history_sample) {
      l.unlock();  // the Db has its own lock: requests go on while it averages and encodes
      StoreHistorySample();
      l.lock();
    }
    // Audit events are pruned a tenth of their retention apart (between 1 s and an hour), so the
    // store holds at most ~110 % of the retention and each DELETE is small.
    if (now - last_prune_ms >= std::clamp<int64_t>(cfg.events_retention_ms / 10, 1'000, 3'600'000)) {
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

void State::OnResponse(const net::AccessRecord& rec) {
  {
    std::lock_guard<std::mutex> l(stats_mu);
    responses_by_code[rec.status]++;
    request_latency.Observe(static_cast<double>(rec.micros) / 1e6);
  }
  if (!cfg.log_requests || !server::Logs(cfg, cfg.request_log_level)) return;
  // Everything from the request is made valid UTF-8 (and cut between characters) before it is encoded.
  std::string line = "{\"ts\":\"" + server::FormatTime(server::WallNowMs()) + "\",\"level\":\"" +
                     cfg.request_log_level + "\",\"msg\":\"request\",\"method\":" + server::Dump(Json(SafeUtf8(rec.method, 32))) +
                     ",\"path\":" + server::Dump(Json(SafeUtf8(rec.path, 300))) + ",\"status\":" + std::to_string(rec.status) +
                     ",\"us\":" + std::to_string(rec.micros) + ",\"bytes\":" + std::to_string(rec.bytes) +
                     ",\"actor\":" + server::Dump(Json(SafeUtf8(rec.actor, 253))) +
                     ",\"remote\":" + server::Dump(Json(SafeUtf8(rec.remote, 64))) + "}\n";
  fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace allot::server
