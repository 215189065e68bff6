// Startup: the state rebuilt from the store (nodes, tenants, reservations, then allocations).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/state.h"

namespace allot::server {

// Nodes from the store (with their drain, down and agent state), then the config's nodes the store does
// not know yet (written to `fix`). REQUIRES: called from Restore.
Status State::RestoreNodes(const Rows& rows, int64_t now, std::set<std::string>* known, Batch* fixes) {
  std::set<std::string>& known_nodes = *known;
  Batch& fix = *fixes;
  for (const auto& [k, v] : rows) {
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
    if (n->agent) {
      m.last_heartbeat = now;  // a grace of one timeout after the restart
      WatchHeartbeat(n->spec.name, m);
    }
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
    if (auto s = engine->AddNode(spec, now); !s.ok())
      return Error{s.code(), "nodes: " + spec.name + ": " + s.message()};
    node_meta[spec.name].pool = spec.pool;
    registered_allocated[spec.name] = spec.allocated;
    fix.Put(Table::kNodes, spec.name, server::EncodeNode({spec, false, false, false, ""}));
  }
  return Status::Ok();
}

// Tenants, nodes and reservations (their rows by Table), before any allocation. REQUIRES: called from
// Restore.
Status State::RestoreHead(const Rows* tables, int64_t now, Batch* fixes) {
  Batch& fix = *fixes;
  for (const auto& t : cfg.tenants) tenant_specs[t.path] = t;
  for (const auto& [k, v] : tables[static_cast<int>(Table::kTenants)]) {
    if (auto t = server::DecodeTenant(v)) tenant_specs[t->path] = *t;
  }
  std::vector<TenantSpec> tenants;
  for (const auto& [p, t] : tenant_specs) tenants.push_back(t);
  if (auto s = engine->SetTenants(tenants, now); !s.ok()) return Error{s.code(), "tenants: " + s.message()};
  std::set<std::string> known_nodes;
  if (auto st = RestoreNodes(tables[static_cast<int>(Table::kNodes)], now, &known_nodes, &fix); !st.ok())
    return st;
  Collect("config", &fix);  // config nodes new to the store are audited
  for (const auto& [k, v] : tables[static_cast<int>(Table::kReservations)]) {
    auto r = server::DecodeReservation(v);
    if (!r || r->end <= now || !engine->Reserve(*r, now).ok()) {
      fix.Delete(Table::kReservations, k);
      continue;
    }
    reservations[r->id] = *r;
  }
  return Status::Ok();
}

bool State::RestoreAlloc(server::AllocRecord& r, int64_t now, Batch* fixes) {
  Status s;
  if (r.info.state == AllocState::kPlaced) {
    s = engine->Restore(r.info, now);
  } else {
    RequestSpec spec = server::SubmittedSpec(r);
    if (spec.wait) {
      int64_t left = *spec.wait - (now - r.info.submitted);
      if (left <= 0) s = Error{ErrorCode::kFailedPrecondition, "its wait ran out while the server was down"};
      spec.wait = std::max<int64_t>(left, 0);
    }
    if (s.ok()) {
      auto st = engine->Submit(spec, now);
      if (!st.ok()) s = st.error();
    }
    r.spec = std::move(spec);
  }
  if (!s.ok()) {
    fixes->Delete(Table::kAllocations, r.info.id);
    AuditEvent a;
    a.at = now;
    a.type = "lost";
    a.id = r.info.id;
    a.tenant = r.info.tenant;
    a.reason = "not restored: " + s.message();
    a.actor = "server";
    fixes->events.push_back(std::move(a));
    return false;
  }
  AddAgentUsage(r.agent, r.info.requests, r.info.count, +1);
  tenant_active[r.info.tenant]++;
  if (!r.idem.empty()) idem_index[r.info.tenant + "\n" + r.idem] = r.info.id;
  Meta& m = active[r.info.id];
  m.tenant = r.info.tenant;
  m.idem = std::move(r.idem);
  m.actor = std::move(r.actor);
  m.agent = std::move(r.agent);
  m.lease_ms = r.lease_ms;
  if (r.info.state == AllocState::kQueued) m.spec = std::make_unique<RequestSpec>(std::move(r.spec));
  return true;
}

// The store's rows for Restore, read and decoded on a thread of their own (the reader) and handed to
// `apply` on the calling thread in the store's order, in batches through a short queue. Only nodes,
// tenants, reservations, history and allocations are handed on; an allocation that does not decode
// comes with `alloc` empty. An error from `apply` stops the reader; an error of the store's is returned.
// Applied batches go back to the reader, which decodes the next rows into the same records: a restart
// of a million allocations then allocates (and frees, across threads) a few thousand records, not a
// million. (The reader once made half the entries of `active` too; with the heap on huge pages the
// calling thread makes them all sooner than the two threads did, whose heaps grew against each other.)
// `expected`: how many allocations the store holds, set before the first row is applied.
Status State::ReadRowsAside(const std::function<Status(RestoreRow&)>& apply, size_t* expected,
                            int64_t* reader_cpu_ns) {
  constexpr size_t kBatch = 256, kQueued = 16;
  struct RowBatch {
    std::vector<RestoreRow> rows;  // rows[0, n) are this batch's; those after, storage to reuse
    size_t n = 0;
  };
  std::mutex q_mu;
  std::condition_variable cv;
  std::deque<RowBatch> full;
  std::vector<RowBatch> spare;  // applied batches, back for reuse
  bool read_all = false;
  bool stop = false;  // apply failed: the reader ends at its next row
  Status read_status;
  std::thread reader([&] {
    // How many allocations follow (a scan of the store, but cheaper than growing the tables as they
    // come), for `expected` before the first batch goes.
    size_t hint = store->RowsHint(Table::kAllocations);
    {
      std::lock_guard<std::mutex> l(q_mu);
      *expected = hint;
    }
    RowBatch batch;
    batch.rows.reserve(kBatch);
    auto next_batch = [&] {
      std::lock_guard<std::mutex> l(q_mu);
      if (!spare.empty()) {
        batch = std::move(spare.back());
        spare.pop_back();
      }
      batch.n = 0;
      batch.rows.reserve(kBatch);
    };
    auto hand_on = [&]() -> bool {
      {
        std::unique_lock<std::mutex> l(q_mu);
        cv.wait(l, [&] { return full.size() < kQueued || stop; });
        if (stop) return false;
        full.push_back(std::move(batch));
        cv.notify_all();
      }
      batch = {};
      next_batch();
      return true;
    };
    Status st = store->LoadEach([&](Table t, std::string_view k, std::string_view v) -> Status {
      int ti = static_cast<int>(t);
      if (t != Table::kAllocations && ti >= 3 && t != Table::kHistory) return Status::Ok();
      if (batch.n == batch.rows.size()) batch.rows.emplace_back();
      RestoreRow& row = batch.rows[batch.n++];
      row.table = t;
      if (t == Table::kAllocations) {
        if (!row.alloc) row.alloc.emplace();
        if (!server::DecodeAllocInto(v, &*row.alloc)) {
          row.alloc.reset();
          row.key.assign(k);
        }
      } else {
        row.key.assign(k);
        row.value.assign(v);
      }
      if (batch.n == kBatch && !hand_on()) return FailedPrecondition("restore stopped");
      return Status::Ok();
    });
    if (st.ok() && batch.n > 0) hand_on();
    *reader_cpu_ns = ThreadCpuNs();
    std::lock_guard<std::mutex> l(q_mu);
    if (!stop) read_status = st;
    read_all = true;
    cv.notify_all();
  });
  Status out;
  RowBatch batch;
  while (true) {
    {
      std::unique_lock<std::mutex> l(q_mu);
      if (!batch.rows.empty()) spare.push_back(std::move(batch));
      cv.wait(l, [&] { return !full.empty() || read_all; });
      if (full.empty()) break;
      batch = std::move(full.front());
      full.pop_front();
      cv.notify_all();
    }
    for (size_t k = 0; k < batch.n; k++) {
      out = apply(batch.rows[k]);
      if (!out.ok()) break;
    }
    if (!out.ok()) {
      std::lock_guard<std::mutex> l(q_mu);
      stop = true;
      cv.notify_all();
      break;
    }
  }
  reader.join();
  if (!out.ok()) return out;
  return read_status;
}

Status State::Restore() {
  int64_t t_start = SteadyMicros();
  int64_t now = server::WallNowMs();
  Batch fix;  // records that could not be restored, and config nodes new to the store
  // The rows stream through once, table by table. Placed allocations go back onto their recorded nodes
  // as they come (order does not matter); queued ones wait for the end and are submitted again in their
  // original submission order; finished ones (in the retention window) are kept in end order.
  Rows head[3];  // nodes, tenants, reservations: held until the first allocation (or the end)
  bool head_done = false;
  std::vector<server::AllocRecord> queued, done;
  Rows history_rows;  // loaded into the history tiers once the state is back (none are kept if it is off)
  size_t restored = 0, lost = 0;
  int64_t t_head = 0;
  auto finish_head = [&]() -> Status {
    if (head_done) return Status::Ok();
    head_done = true;
    t_head = SteadyMicros();
    Status st = RestoreHead(head, now, &fix);
    if (st.ok()) engine->BeginRestore();  // placed allocations follow: the index is brought up to date once
    return st;
  };

  // The rows are read and the allocations decoded on a second thread (the reader) while this one puts
  // them back, a batch at a time: decoding is about as much work as restoring, so a restart takes about
  // half as long when a second core is free. The order is the store's, as before.
  size_t expected = 0;
  int64_t reader_cpu_ns = 0, cpu_start_ns = ThreadCpuNs();
  Status scanned = ReadRowsAside(
      [&](RestoreRow& row) -> Status {
        int ti = static_cast<int>(row.table);
        if (ti < 3) {
          head[ti].emplace_back(std::move(row.key), std::move(row.value));
          return Status::Ok();
        }
        if (row.table == Table::kHistory) {
          if (cfg.history.interval_s != 0)
            history_rows.emplace_back(std::move(row.key), std::move(row.value));
          return Status::Ok();
        }
        if (Status st = finish_head(); !st.ok()) return st;
        if (!row.alloc) {
          fix.Delete(Table::kAllocations, std::move(row.key));
          return Status::Ok();
        }
        server::AllocRecord& r = *row.alloc;
        if (!IsActive(r.info.state)) {
          done.push_back(std::move(r));
        } else if (r.info.state != AllocState::kPlaced) {
          queued.push_back(std::move(r));
        } else {
          if (active.empty() && expected > 0) active.reserve(expected);
          (RestoreAlloc(r, now, &fix) ? restored : lost)++;
        }
        return Status::Ok();
      },
      &expected, &reader_cpu_ns);
  int64_t apply_cpu_ns = ThreadCpuNs() - cpu_start_ns;
  if (!scanned.ok()) {
    engine->EndRestore();
    return scanned;
  }
  if (Status st = finish_head(); !st.ok()) return st;
  engine->EndRestore();
  int64_t t_placed = SteadyMicros();
  std::sort(queued.begin(), queued.end(), [](const server::AllocRecord& a, const server::AllocRecord& b) {
    return a.info.submitted != b.info.submitted ? a.info.submitted < b.info.submitted : a.info.id < b.info.id;
  });
  for (auto& r : queued) (RestoreAlloc(r, now, &fix) ? restored : lost)++;
  queued = {};
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
    done = {};
    PruneFinished(now, &fix);
  }
  RestoreHistory(history_rows, now);
  history_rows = {};
  // What Restore and re-submission reported is the old state, not news.
  (void)engine->TakeEvents();
  int64_t t_done = SteadyMicros();
  if (server::Logs(cfg, "info"))
    std::fprintf(
        stderr,
        "{\"level\":\"info\",\"msg\":\"state restored\",\"nodes\":%zu,\"allocations\":%zu,"
        "\"reservations\":%zu,\"lost\":%zu,\"head_ms\":%lld,\"placed_ms\":%lld,\"rest_ms\":%lld,"
        "\"read_cpu_ms\":%lld,\"apply_cpu_ms\":%lld}\n",
        node_meta.size(), restored, reservations.size(), lost,
        static_cast<long long>((t_head - t_start) / 1000), static_cast<long long>((t_placed - t_head) / 1000),
        static_cast<long long>((t_done - t_placed) / 1000), static_cast<long long>(reader_cpu_ns / 1'000'000),
        static_cast<long long>(apply_cpu_ns / 1'000'000));
  // A standby neither schedules nor writes: the leader's next commits say what changed.
  if (replica.standby) return Status::Ok();
  std::lock_guard<std::mutex> l(mu);
  engine->Schedule(now);
  Collect("server", &fix);
  if (!fix.empty()) store->Commit(std::move(fix), nullptr);
  return store->Flush();
}

}  // namespace allot::server
