#include "sim/bench.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/engine.h"

namespace allot::sim {
namespace {

constexpr int64_t kGi = 1LL << 30;

struct Shape {
  int64_t cpu, mem, gpu, disk, net, db;
};
// Heterogeneous node shapes (6 dimensions): cpu milli, memory, gpu milli, disk, network bits/s, db conns.
const Shape kShapes[] = {
    {8000, 32 * kGi, 0, 200 * kGi, 10'000'000'000, 100},
    {16000, 64 * kGi, 0, 400 * kGi, 10'000'000'000, 200},
    {32000, 128 * kGi, 0, 800 * kGi, 25'000'000'000, 400},
    {64000, 256 * kGi, 8000, 1600 * kGi, 100'000'000'000, 800},
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(idx), v.end());
  return v[idx];
}

}  // namespace

Result<BenchResult> RunEngineBench(const BenchOptions& o) {
  if (o.nodes < 1 || o.requests < 1) return InvalidArgument("--nodes and --requests must be positive");
  EngineOptions eo;
  bool drf = o.policy == "drf";
  eo.scoring = drf ? "most-allocated" : o.policy;
  eo.fair_share = drf ? "drf" : "none";
  eo.preemption = o.preemption;
  auto created = Engine::Create(eo);
  if (!created.ok()) return created.error();
  Engine& eng = *created.value();
  std::mt19937_64 rng(o.seed);
  int64_t total_cpu = 0;
  for (int i = 0; i < o.nodes; i++) {
    const Shape& s = kShapes[rng() % 4];
    NodeSpec n;
    n.name = "n" + std::to_string(i);
    n.capacity = {{"cpu", s.cpu}, {"memory", s.mem}, {"ephemeral-storage", s.disk}, {"network", s.net},
                  {"db-connections", s.db}};
    if (s.gpu) n.capacity["gpu"] = s.gpu;
    n.labels = {{"zone", std::string(1, static_cast<char>('a' + i % 3))}};
    total_cpu += s.cpu;
    if (auto st = eng.AddNode(n, 0); !st.ok()) return st.error();
  }
  std::vector<std::string> tenant_paths;
  if (drf) {
    // 3-level tree: 10 orgs × 10 teams × (tenants/100) agents; guaranteed shares sum to the cluster.
    int leaves = std::max(1, o.tenants);
    std::vector<TenantSpec> specs;
    for (int i = 0; i < leaves; i++) {
      std::string path = "org" + std::to_string(i % 10) + "/team" + std::to_string((i / 10) % 10) + "/agent" +
                         std::to_string(i);
      tenant_paths.push_back(path);
      TenantSpec t;
      t.path = path;
      t.weight = 1 + static_cast<double>(i % 3);
      t.guaranteed = {{"cpu", total_cpu / leaves}};  // nominal quotas add up to the cluster
      t.max = {{"cpu", total_cpu / 10}};
      specs.push_back(t);
    }
    if (auto st = eng.SetTenants(specs, 0); !st.ok()) return st.error();
    for (int i = 0; i < o.reservations; i++) {
      ReservationSpec r;
      r.id = "res" + std::to_string(i);
      r.tenant = tenant_paths[rng() % tenant_paths.size()];
      r.start = 1000LL * (1000 + static_cast<int64_t>(rng() % 100000));
      r.end = r.start + 3'600'000;
      r.requests = {{"cpu", 1000}};
      r.nodes = {"n" + std::to_string(rng() % static_cast<uint64_t>(o.nodes))};
      (void)eng.Reserve(r, 0);  // a conflicting booking is simply skipped
    }
  }
  BenchResult res;
  std::vector<std::string> active;
  std::vector<double> lat, pre_lat;
  lat.reserve(static_cast<size_t>(o.requests));
  int64_t used_cpu = 0;
  double util_sum = 0;
  std::uniform_int_distribution<int> size_pick(0, 99);
  TimeMs now = 0;
  uint64_t next_id = 0;
  std::vector<EngineEvent> events;  // drained after each decision, as a server would
  auto make_request = [&](std::string id) {
    RequestSpec r;
    r.id = std::move(id);
    int p = size_pick(rng);
    int64_t cpu = p < 50 ? 500 : p < 80 ? 2000 : p < 95 ? 4000 : 8000;
    r.requests = {{"cpu", cpu}, {"memory", cpu * kGi / 1000 * 2}, {"ephemeral-storage", 10 * kGi},
                  {"network", 100'000'000}, {"db-connections", 2}};
    if (p == 99) r.requests["gpu"] = 1000;
    r.priority = static_cast<int>(rng() % 3) + 1;
    r.preemptible = true;
    if (drf) r.tenant = tenant_paths[rng() % tenant_paths.size()];
    return r;
  };
  // Fill the cluster to 75 % untimed, then time decisions while arrivals and releases keep it 70-90 % full.
  for (int guard = 0; static_cast<double>(used_cpu) < 0.75 * static_cast<double>(total_cpu) && guard < 50 * o.nodes; guard++) {
    RequestSpec r = make_request("r" + std::to_string(next_id++));
    (void)eng.Submit(r, ++now);
    eng.Schedule(now);
    (void)eng.TakeEvents();
    auto info = eng.Get(r.id);
    if (info.ok() && info->state == AllocState::kPlaced) {
      used_cpu += r.requests["cpu"];
      active.push_back(r.id);
    } else {
      (void)eng.Release(r.id, now);
    }
  }
  for (int i = 0; i < o.requests; i++) {
    double util = static_cast<double>(used_cpu) / static_cast<double>(total_cpu);
    // Keep the cluster between 70 % and 90 % full: release when above 80 %, mostly submit below.
    while (util > 0.8 && !active.empty()) {
      size_t k = rng() % active.size();
      auto info = eng.Get(active[k]);
      if (info.ok() && info->state == AllocState::kPlaced) used_cpu -= info->requests.at("cpu");
      (void)eng.Release(active[k], now);
      (void)eng.Forget(active[k]);  // as the server does: finished allocations leave the engine
      active[k] = active.back();
      active.pop_back();
      util = static_cast<double>(used_cpu) / static_cast<double>(total_cpu);
    }
    RequestSpec r = make_request("r" + std::to_string(next_id++));
    now += 1;
    auto t0 = std::chrono::steady_clock::now();
    auto st = eng.Submit(r, now);
    eng.Schedule(now);
    auto t1 = std::chrono::steady_clock::now();
    lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    eng.DrainEvents(&events);
    if (!st.ok()) return st.error();
    auto info = eng.Get(r.id);
    if (info.ok() && info->state == AllocState::kPlaced) {
      res.placed++;
      used_cpu += r.requests["cpu"];
      active.push_back(r.id);
    } else {
      res.unplaced++;
      (void)eng.Release(r.id, now);  // drop it so the queue stays empty
      (void)eng.Forget(r.id);
    }
    util_sum += util;
  }
  double total_us = 0;
  for (double v : lat) total_us += v;
  res.decisions = o.requests;
  res.decisions_per_s = total_us > 0 ? static_cast<double>(o.requests) / (total_us / 1e6) : 0;
  res.max_us = *std::max_element(lat.begin(), lat.end());
  res.p50_us = Percentile(lat, 0.50);
  res.p99_us = Percentile(lat, 0.99);
  res.mean_utilization = util_sum / static_cast<double>(o.requests);
  if (o.preemption) {
    // Fill the cluster, then time high-priority requests that must preempt.
    for (int i = 0; i < 2000; i++) {
      RequestSpec r = make_request("fill" + std::to_string(i));
      r.priority = 0;
      (void)eng.Submit(r, ++now);
      eng.Schedule(now);
      (void)eng.TakeEvents();
      auto info = eng.Get(r.id);
      if (!info.ok() || info->state != AllocState::kPlaced) (void)eng.Release(r.id, now);
    }
    for (int i = 0; i < 1000; i++) {
      RequestSpec r = make_request("pre" + std::to_string(i));
      r.priority = 4;
      r.requests["cpu"] = 16000;
      r.requests["memory"] = 32 * kGi;
      auto t0 = std::chrono::steady_clock::now();
      (void)eng.Submit(r, ++now);
      eng.Schedule(now);
      auto t1 = std::chrono::steady_clock::now();
      pre_lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      (void)eng.TakeEvents();
      (void)eng.Release(r.id, now);
    }
    res.preemption_searches = static_cast<int64_t>(pre_lat.size());
    res.preemption_p99_us = Percentile(pre_lat, 0.99);
  }
  // Memory per queued request: an engine with no nodes queues everything.
  {
    auto empty = Engine::Create(EngineOptions{});
    const int kQueued = 100000;
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < kQueued; i++) {
      RequestSpec r = make_request("q" + std::to_string(i));
      r.tenant = "default";
      (void)empty.value()->Submit(r, 0);
      if (i % 1024 == 0) (void)empty.value()->TakeEvents();  // callers drain events as they go
    }
    (void)empty.value()->TakeEvents();
    struct mallinfo2 after = mallinfo2();
    // In-use heap bytes, counting blocks malloc took straight from mmap (large chunks) too.
    auto in_use = [](const struct mallinfo2& m) { return static_cast<double>(m.uordblks) + static_cast<double>(m.hblkhd); };
    res.bytes_per_request = (in_use(after) - in_use(before)) / kQueued;
  }
  return res;
}

std::string BenchToJson(const BenchOptions& o, const BenchResult& r) {
  nlohmann::ordered_json j;
  j["bench"] = "engine";
  j["nodes"] = o.nodes;
  j["requests"] = o.requests;
  j["policy"] = o.policy;
  j["seed"] = o.seed;
  if (o.policy == "drf") {
    j["tenants"] = o.tenants;
    j["reservations"] = o.reservations;
  }
  j["decisions_per_s"] = static_cast<int64_t>(r.decisions_per_s);
  j["p50_us"] = std::round(r.p50_us * 100) / 100;
  j["p99_us"] = std::round(r.p99_us * 100) / 100;
  j["max_us"] = std::round(r.max_us * 100) / 100;
  j["placed"] = r.placed;
  j["unplaced"] = r.unplaced;
  j["mean_cpu_utilization"] = std::round(r.mean_utilization * 1000) / 1000;
  j["bytes_per_queued_request"] = static_cast<int64_t>(r.bytes_per_request);
  if (o.preemption) {
    j["preemption_searches"] = r.preemption_searches;
    j["preemption_p99_us"] = std::round(r.preemption_p99_us * 100) / 100;
  }
  return j.dump(2, ' ', false, decltype(j)::error_handler_t::replace) + "\n";
}

}  // namespace allot::sim
