// The amount history's sampler (see state.h): every history.interval, one sample of the cluster, each pool,
// node and tenant, from the node scan the pressure monitors take anyway (State::Scan), the engine's tenant
// usage and the queued requests the server tracks; the Db's rows go to the store in small batches.
#include <time.h>

#include <cstdio>

#include "allot/resources.h"
#include "server/state.h"

namespace allot::server {

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void State::HistoryNode(const NodeRow& n, const NodeMeta* meta, const std::vector<std::string>& resources,
                        history::Frame* f) {
  const bool reports = meta != nullptr && !meta->observed.empty();
  const auto& keep = cfg.history.node_resources;
  for (size_t i = 0; i < resources.size(); i++) {
    const std::string& res = resources[i];
    int64_t c = i < n.capacity.size() ? n.capacity[i] : 0;
    int64_t a = i < n.allocated.size() ? n.allocated[i] : 0;
    if (c == 0 && a == 0) continue;
    if (!keep.empty() && std::find(keep.begin(), keep.end(), res) == keep.end()) continue;
    history::Point p;
    p.set(history::kCapacity, c);
    p.set(history::kAllocated, a);
    if (reports) {
      if (auto it = meta->observed.find(res); it != meta->observed.end()) p.set(history::kUsed, it->second);
    }
    f->Add(history::Scope::kNode, n.name, res, p);
  }
}

namespace {

// "org/a/b" -> "org/a/b", "org/a", "org".
template <typename Fn>
void ForEachAncestor(std::string_view tenant, Fn&& fn) {
  for (;;) {
    fn(tenant);
    size_t slash = tenant.rfind('/');
    if (slash == std::string_view::npos) return;
    tenant = tenant.substr(0, slash);
  }
}

}  // namespace

void State::TakeHistorySample(int64_t now_ms, int64_t cpu0_ns) {
  const int64_t interval_ms = cfg.history.interval_s * 1000;
  const int64_t t_ms = now_ms / interval_ms * interval_ms;  // samples on multiples of the interval
  next_history_ms = t_ms + interval_ms;
  const size_t n_res = scan_resources.size();
  std::map<std::string, size_t, std::less<>> slot;
  for (size_t i = 0; i < n_res; i++) slot.emplace(scan_resources[i], i);
  // Queued demand (requests × count) of the requests waiting now: cluster, tenants (subtree sums), pinned
  // pools.
  std::vector<int64_t> queued(n_res, 0);
  std::map<std::string, std::vector<int64_t>, std::less<>> tenant_queued, pool_queued;
  for (const auto& [id, m] : active) {
    if (!m.spec) continue;  // placed (the spec is kept only while queued)
    const RequestSpec& q = *m.spec;
    auto pin = q.selector.find("allot.dev/pool");
    for (const auto& [res, v] : q.requests) {
      auto it = slot.find(res);
      if (it == slot.end()) continue;
      int64_t amount = SaturatingMul(v, std::max(1, q.count));
      queued[it->second] = SaturatingAdd(queued[it->second], amount);
      ForEachAncestor(m.tenant, [&](std::string_view t) {
        auto& row = tenant_queued[std::string(t)];
        row.resize(n_res);
        row[it->second] = SaturatingAdd(row[it->second], amount);
      });
      if (pin != q.selector.end()) {
        auto& row = pool_queued[pin->second];
        row.resize(n_res);
        row[it->second] = SaturatingAdd(row[it->second], amount);
      }
    }
  }
  history::Frame& f = history_frame;
  // The resources of the cluster: those it has capacity of, or that anything holds or waits for.
  std::vector<bool> kept(n_res);
  for (size_t i = 0; i < n_res && i < cluster_sums.capacity.size(); i++) {
    kept[i] = cluster_sums.capacity[i] > 0 || cluster_sums.allocated[i] > 0 || queued[i] > 0;
  }
  auto sums = [&](history::Scope scope, const std::string& name, const Sums& s,
                  const std::vector<int64_t>* q) {
    for (size_t i = 0; i < n_res && i < s.capacity.size(); i++) {
      if (!kept[i]) continue;
      history::Point p;
      p.set(history::kCapacity, s.capacity[i]);
      p.set(history::kAllocated, s.allocated[i]);
      if (s.reporting[i] > 0) p.set(history::kUsed, s.observed[i]);
      p.set(history::kQueued, q != nullptr && i < q->size() ? (*q)[i] : 0);
      f.Add(scope, name, scan_resources[i], p);
    }
  };
  sums(history::Scope::kCluster, "", cluster_sums, &queued);
  for (const auto& [pool, s] : pool_sums) {
    auto q = pool_queued.find(pool);
    sums(history::Scope::kPool, pool, s, q == pool_queued.end() ? nullptr : &q->second);
  }
  for (const auto& u : engine->Tenants()) {
    auto q = tenant_queued.find(u.path);
    for (size_t i = 0; i < n_res; i++) {
      const std::string& res = scan_resources[i];
      if (!kept[i] && Get(u.used, res) == 0) continue;
      history::Point p;
      if (auto mx = u.max.find(res); mx != u.max.end()) p.set(history::kCapacity, mx->second);
      p.set(history::kAllocated, Get(u.used, res));
      p.set(history::kQueued, q == tenant_queued.end() || i >= q->second.size() ? 0 : q->second[i]);
      f.Add(history::Scope::kTenant, u.path, res, p);
    }
  }
  history_sample_t = t_ms / 1000;
  history_cpu0_ns = cpu0_ns;
}

void State::StoreHistorySample() {
  std::vector<history::Write> writes;
  {
    // Committed under history_mu: the rows of a tier reach the store in the order the Db made them.
    std::lock_guard<std::mutex> l(history_mu);
    if (history_resync.exchange(false)) history->Resync();
    history->Add(history_sample_t, history_frame, &writes);
    CommitHistory(std::move(writes));
  }
  history_frame.Clear();
  history_samples++;
  history_cpu_ns += static_cast<uint64_t>(std::max<int64_t>(0, ThreadCpuNs() - history_cpu0_ns));
}

void State::CommitHistory(std::vector<history::Write> writes) {
  constexpr size_t kMaxOps = 64, kMaxBytes = 512 << 10;
  Batch b;
  size_t bytes = 0;
  auto send = [&] {
    if (b.empty()) return;
    store->Commit(std::move(b), [this](const Status& s) {
      if (s.ok()) return;
      // The rows after a lost one would be deltas of nothing: the next row of each tier is full. (A flag,
      // not the Db: a store may call this inside Commit, under history_mu.)
      if (history_failures++ == 0) {
        std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"history commit failed\",\"error\":%s}\n",
                     server::Dump(Json(s.message())).c_str());
      }
      history_resync = true;
    });
    b = Batch{};
    bytes = 0;
  };
  for (auto& w : writes) {
    if (b.mutations.size() >= kMaxOps || bytes + w.key.size() + w.value.size() > kMaxBytes) send();
    bytes += w.key.size() + w.value.size();
    if (w.del)
      b.Delete(Table::kHistory, std::move(w.key));
    else
      b.Put(Table::kHistory, std::move(w.key), std::move(w.value));
  }
  send();
}

void State::RestoreHistory(const Rows& rows, int64_t now_ms) {
  if (cfg.history.interval_s == 0) return;  // off: the rows stay in the store untouched
  int64_t t0 = SteadyMicros();
  history = std::make_unique<history::Db>(cfg.history);
  std::vector<history::Write> fixes;
  history->Load(rows, now_ms / 1000, &fixes);
  size_t dropped = fixes.size();
  CommitHistory(std::move(fixes));
  history::Stats st = history->stats();
  if (server::Logs(cfg, "info")) {
    std::fprintf(
        stderr,
        "{\"level\":\"info\",\"msg\":\"history loaded\",\"series\":%zu,\"records\":%zu,\"stored_bytes\":%zu,"
        "\"memory_bytes\":%zu,\"dropped_records\":%zu,\"load_ms\":%lld}\n",
        st.series, st.records, st.stored_bytes, st.memory_bytes, dropped,
        static_cast<long long>((SteadyMicros() - t0) / 1000));
  }
}

}  // namespace allot::server
