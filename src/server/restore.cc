// Startup: the state rebuilt from the store (nodes, tenants, reservations, then allocations).
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

// Nodes from the store (with their drain, down and agent state), then the config's nodes the store does
// not know yet (written to `fix`). REQUIRES: called from Restore.
Status State::RestoreNodes(const Snapshot& snap, int64_t now, std::set<std::string>* known, Batch* fixes) {
  std::set<std::string>& known_nodes = *known;
  Batch& fix = *fixes;
  for (const auto& [k, v] : snap.rows(Table::kNodes)) {
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
  if (replica.standby) return Status::Ok();  // a standby holds what the store holds, nothing more
  for (const auto& spec : cfg.nodes) {
    if (known_nodes.count(spec.name)) continue;
    if (auto s = engine->AddNode(spec, now); !s.ok()) return Error{s.code(), "nodes: " + spec.name + ": " + s.message()};
    node_meta[spec.name].pool = spec.pool;
    registered_allocated[spec.name] = spec.allocated;
    fix.Put(Table::kNodes, spec.name, server::EncodeNode({spec, false, false, false, ""}));
  }
  return Status::Ok();
}

Status State::Restore() {
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
  if (auto st = RestoreNodes(*snap, now, &known_nodes, &fix); !st.ok()) return st;
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
    m.agent = r.agent;
    AddAgentUsage(m.agent, r.info.requests, r.info.count, +1);
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
      finished[id] = {std::move(r.info), std::move(r.idem), std::move(r.actor), at, std::move(r.agent)};
      finished_order.push_back(id);
    }
    PruneFinished(now, &fix);
  }
  // What Restore and re-submission reported is the old state, not news.
  (void)engine->TakeEvents();
  int64_t t_done = SteadyMicros();
  if (server::Logs(cfg, "info")) std::fprintf(stderr,
               "{\"level\":\"info\",\"msg\":\"state restored\",\"nodes\":%zu,\"allocations\":%zu,"
               "\"reservations\":%zu,\"lost\":%zu,\"load_ms\":%lld,\"decode_ms\":%lld,\"restore_ms\":%lld}\n",
               known_nodes.size(), active.size(), reservations.size(), lost,
               static_cast<long long>((t_loaded - t_start) / 1000), static_cast<long long>((t_decoded - t_loaded) / 1000),
               static_cast<long long>((t_done - t_decoded) / 1000));
  // A standby neither schedules nor writes: the leader's next commits say what changed.
  if (replica.standby) return Status::Ok();
  std::lock_guard<std::mutex> l(mu);
  engine->Schedule(now);
  Collect("server", &fix);
  if (!fix.empty()) store->Commit(std::move(fix), nullptr);
  return store->Flush();
}

}  // namespace allot::server
