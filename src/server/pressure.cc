// Pressure: degradation levels per scope and adaptive admission (see state.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/state.h"

namespace allot::server {

Json State::LevelJson(const throttle::DegradationMonitor* m) {
  int level = m ? m->level() : 0;
  return {{"level", level}, {"name", LevelName(level)}, {"scale_factor", m ? m->scale() : 1.0}};
}

// Walks the node table once: sums over schedulable nodes, cluster-wide and per pool. REQUIRES: mu held
// (through *lock when given: then it is let go between slices of a large cluster, state.h says why).
void State::Scan(std::unique_lock<std::mutex>* lock, history::Frame* history_nodes) {
  std::vector<std::string> resources = engine->ResourceNames();
  const size_t n_res = resources.size();
  Sums cluster;
  cluster.Resize(n_res);
  std::map<std::string, Sums> by_pool;
  for (const auto& [name, ps] : pool_sums)
    by_pool[name].Resize(n_res);  // a pool left with no nodes sums to 0
  std::string key;
  auto row = [&](const NodeRow& n) {
    auto& cache = scan_meta;
    if (cache.size != node_meta.size() || cache.erased != node_meta_erased) {
      cache.known.assign(cache.known.size(), 0);
      cache.size = node_meta.size();
      cache.erased = node_meta_erased;
    }
    if (n.slot >= cache.known.size()) {
      cache.known.resize(n.slot + 1, 0);
      cache.meta.resize(n.slot + 1, nullptr);
    }
    if (!cache.known[n.slot]) {
      key.assign(n.name);
      auto m = node_meta.find(key);
      cache.meta[n.slot] = m == node_meta.end() ? nullptr : &m->second;
      cache.known[n.slot] = 1;
    }
    const NodeMeta* meta = cache.meta[n.slot];
    if (history_nodes != nullptr) HistoryNode(n, meta, resources, history_nodes);
    if (!n.up || n.draining) return;
    Sums* ps = nullptr;
    if (meta != nullptr && !meta->pool.empty()) {
      ps = &by_pool[meta->pool];
      if (ps->capacity.size() != n_res) ps->Resize(n_res);
    }
    cluster.nodes++;
    if (ps != nullptr) ps->nodes++;
    for (size_t i = 0; i < n_res; i++) {
      int64_t c = i < n.capacity.size() ? n.capacity[i] : 0;
      int64_t a = i < n.allocated.size() ? n.allocated[i] : 0;
      int64_t o = 0;
      bool reported = false;
      if (meta != nullptr && !meta->observed.empty()) {
        auto it = meta->observed.find(resources[i]);
        reported = it != meta->observed.end();
        o = reported ? it->second : 0;
      }
      int64_t e = std::max(a, o);
      for (Sums* t : {&cluster, ps}) {
        if (t == nullptr) continue;
        t->reporting[i] += reported ? 1 : 0;
        t->capacity[i] += c;
        t->allocated[i] += a;
        t->observed[i] += o;
        t->effective[i] += e;
      }
    }
  };
  for (size_t next = 0;;) {
    next = engine->ForEachNodeRow(next, kScanSlice, row);
    if (next == 0) break;
    if (lock != nullptr) {
      lock->unlock();
      // Long enough for a request that waits for mu to take it: a thread woken as the lock is let go
      // would mostly find it taken again if this one went straight on.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      lock->lock();
    }
  }
  scan_resources = std::move(resources);
  cluster_sums = std::move(cluster);
  pool_sums = std::move(by_pool);
}

// An audit event (and a log line) when a monitor's level moved. REQUIRES: mu held.
void State::AuditLevel(const std::string& scope, const throttle::DegradationMonitor& m, int before, int64_t now_ms,
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
  const char* level = m.level() > before ? "warn" : "info";
  if (server::Logs(cfg, level))
    std::fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"degradation level changed\",\"scope\":%s,\"reason\":%s}\n", level, server::Dump(Json(scope)).c_str(), server::Dump(Json(a.reason)).c_str());
  if (b != nullptr) b->events.push_back(std::move(a));
}

// Feeds every monitor from a fresh scan. REQUIRES: mu held.
void State::RefreshPressure(std::unique_lock<std::mutex>* lock, int64_t now_ms, Batch* b,
                            history::Frame* history_nodes) {
  Scan(lock, history_nodes);
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
void State::ObserveAllocated(int64_t now_ms, Batch* b) {
  int before = degradation->level();
  engine->ForEachResourceTotal([&](std::string_view name, int64_t cap, int64_t alloc) {
    degradation->Record("allocated", name, alloc, cap);
  });
  degradation->Evaluate(Ns(now_ms));
  AuditLevel("cluster", *degradation, before, now_ms, b);
}

void State::AdmissionDone(bool acquired, int64_t t0_us) {
  int64_t now_us = SteadyMicros();
  int64_t depth = http ? static_cast<int64_t>(http->QueueDepth()) : 0;
  std::lock_guard<std::mutex> l(admission_mu);
  if (acquired) {
    admission->Release(now_us * 1000, (now_us - t0_us) * 1000, depth);
  } else {
    admission->Observe(now_us * 1000, (now_us - t0_us) * 1000, depth);
  }
}

Json State::AdmissionJson() {
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

}  // namespace allot::server
