#include "allot/sim_bench.h"

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

// One benchmark run: the engine, the random source and the bookkeeping of what is placed. The steps run in
// a fixed order over one random stream, so a seed gives the same run.
class EngineBench {
 public:
  EngineBench(const BenchOptions& o, Engine& eng) : o_(o), eng_(eng), rng_(o.seed), drf_(o.policy == "drf") {}

  Status AddNodes() {
    for (int i = 0; i < o_.nodes; i++) {
      const Shape& s = kShapes[rng_() % 4];
      NodeSpec n;
      n.name = "n" + std::to_string(i);
      n.capacity = {{"cpu", s.cpu}, {"memory", s.mem}, {"ephemeral-storage", s.disk}, {"network", s.net},
                    {"db-connections", s.db}};
      if (s.gpu) n.capacity["gpu"] = s.gpu;
      n.labels = {{"zone", std::string(1, static_cast<char>('a' + i % 3))}};
      total_cpu_ += s.cpu;
      if (auto st = eng_.AddNode(n, 0); !st.ok()) return st;
      if (i % 1024 == 1023) (void)eng_.TakeEvents();  // callers drain events as they go
    }
    (void)eng_.TakeEvents();
    return Status::Ok();
  }

  // DRF only: a 3-level tree of 10 orgs × 10 teams × (tenants/100) agents whose guaranteed shares sum to the
  // cluster, and advance reservations on random nodes.
  Status AddTenants() {
    if (!drf_) return Status::Ok();
    int leaves = std::max(1, o_.tenants);
    std::vector<TenantSpec> specs;
    for (int i = 0; i < leaves; i++) {
      std::string path = "org" + std::to_string(i % 10) + "/team" + std::to_string((i / 10) % 10) + "/agent" +
                         std::to_string(i);
      tenant_paths_.push_back(path);
      TenantSpec t;
      t.path = path;
      t.weight = 1 + static_cast<double>(i % 3);
      t.guaranteed = {{"cpu", total_cpu_ / leaves}};  // nominal quotas add up to the cluster
      t.max = {{"cpu", total_cpu_ / 10}};
      specs.push_back(t);
    }
    if (auto st = eng_.SetTenants(specs, 0); !st.ok()) return st;
    for (int i = 0; i < o_.reservations; i++) {
      ReservationSpec r;
      r.id = "res" + std::to_string(i);
      r.tenant = tenant_paths_[rng_() % tenant_paths_.size()];
      r.start = 1000LL * (1000 + static_cast<int64_t>(rng_() % 100000));
      r.end = r.start + 3'600'000;
      r.requests = {{"cpu", 1000}};
      r.nodes = {"n" + std::to_string(rng_() % static_cast<uint64_t>(o_.nodes))};
      (void)eng_.Reserve(r, 0);  // a conflicting booking is simply skipped
    }
    return Status::Ok();
  }

  // A request of the benchmark's mix: half small, a few large, 1 % with a GPU.
  RequestSpec MakeRequest(std::string id) {
    RequestSpec r;
    r.id = std::move(id);
    int p = size_pick_(rng_);
    int64_t cpu = p < 50 ? 500 : p < 80 ? 2000 : p < 95 ? 4000 : 8000;
    r.requests = {{"cpu", cpu}, {"memory", cpu * kGi / 1000 * 2}, {"ephemeral-storage", 10 * kGi},
                  {"network", 100'000'000}, {"db-connections", 2}};
    if (p == 99) r.requests["gpu"] = 1000;
    r.priority = static_cast<int>(rng_() % 3) + 1;
    r.preemptible = true;
    if (drf_) r.tenant = tenant_paths_[rng_() % tenant_paths_.size()];
    return r;
  }

  // Fills the cluster to 75 % (timed as a whole: BenchResult::fill_s). A request that does not fit is
  // dropped, as a server forgets finished allocations.
  void Fill() {
    std::vector<EngineEvent> events;
    for (int guard = 0; static_cast<double>(used_cpu_) < 0.75 * static_cast<double>(total_cpu_) && guard < 50 * o_.nodes;
         guard++) {
      uint64_t n = next_id_++;
      RequestSpec r = MakeRequest(Id(n));
      (void)eng_.Submit(r, ++now_);
      eng_.Schedule(now_);
      events.clear();
      eng_.DrainEvents(&events);
      bool placed = std::any_of(events.begin(), events.end(), [&](const EngineEvent& e) {
        return e.type == EventType::kPlaced && e.id == r.id;
      });
      if (placed) {
        used_cpu_ += r.requests["cpu"];
        active_.push_back(n);
      } else {
        (void)eng_.Release(r.id, now_);
        (void)eng_.Forget(r.id);
      }
    }
  }

  // Times o.requests decisions while arrivals and releases keep the cluster 70-90 % full.
  Status TimeDecisions(BenchResult* res) {
    std::vector<double> lat;
    lat.reserve(static_cast<size_t>(o_.requests));
    std::vector<EngineEvent> events;  // drained after each decision, as a server would
    double util_sum = 0;
    for (int i = 0; i < o_.requests; i++) {
      double util = ReleaseDownTo(0.8);
      uint64_t n = next_id_++;
      RequestSpec r = MakeRequest(Id(n));
      now_ += 1;
      auto t0 = std::chrono::steady_clock::now();
      auto st = eng_.Submit(r, now_);
      eng_.Schedule(now_);
      auto t1 = std::chrono::steady_clock::now();
      lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      eng_.DrainEvents(&events);
      if (!st.ok()) return st.error();
      auto info = eng_.Get(r.id);
      if (info.ok() && info->state == AllocState::kPlaced) {
        res->placed++;
        used_cpu_ += r.requests["cpu"];
        active_.push_back(n);
      } else {
        res->unplaced++;
        (void)eng_.Release(r.id, now_);  // drop it so the queue stays empty
        (void)eng_.Forget(r.id);
      }
      util_sum += util;
      if (o_.progress && i % 1024 == 0) {
        o_.progress(
            {"timing decisions", "decisions", static_cast<uint64_t>(i), static_cast<uint64_t>(o_.requests)});
      }
    }
    double total_us = 0;
    for (double v : lat) total_us += v;
    res->decisions = o_.requests;
    res->decisions_per_s = total_us > 0 ? static_cast<double>(o_.requests) / (total_us / 1e6) : 0;
    res->max_us = *std::max_element(lat.begin(), lat.end());
    res->p50_us = Percentile(lat, 0.50);
    res->p99_us = Percentile(lat, 0.99);
    res->mean_utilization = util_sum / static_cast<double>(o_.requests);
    return Status::Ok();
  }

  // Fills the cluster with priority-0 work, then times high-priority requests that must preempt.
  void TimePreemption(BenchResult* res) {
    for (int i = 0; i < 2000; i++) {
      RequestSpec r = MakeRequest("fill" + std::to_string(i));
      r.priority = 0;
      (void)eng_.Submit(r, ++now_);
      eng_.Schedule(now_);
      (void)eng_.TakeEvents();
      auto info = eng_.Get(r.id);
      if (!info.ok() || info->state != AllocState::kPlaced) (void)eng_.Release(r.id, now_);
    }
    std::vector<double> lat;
    for (int i = 0; i < 1000; i++) {
      RequestSpec r = MakeRequest("pre" + std::to_string(i));
      r.priority = 4;
      r.requests["cpu"] = 16000;
      r.requests["memory"] = 32 * kGi;
      auto t0 = std::chrono::steady_clock::now();
      (void)eng_.Submit(r, ++now_);
      eng_.Schedule(now_);
      auto t1 = std::chrono::steady_clock::now();
      lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      (void)eng_.TakeEvents();
      (void)eng_.Release(r.id, now_);
    }
    res->preemption_searches = static_cast<int64_t>(lat.size());
    res->preemption_p99_us = Percentile(lat, 0.99);
  }

  // Heap bytes per queued request: an engine with no nodes queues everything.
  double BytesPerQueuedRequest() {
    auto empty = Engine::Create(EngineOptions{});
    const int kQueued = 100000;
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < kQueued; i++) {
      RequestSpec r = MakeRequest("q" + std::to_string(i));
      r.tenant = "default";
      (void)empty.value()->Submit(r, 0);
      if (i % 1024 == 0) (void)empty.value()->TakeEvents();  // callers drain events as they go
    }
    (void)empty.value()->TakeEvents();
    struct mallinfo2 after = mallinfo2();
    // In-use heap bytes, counting blocks malloc took straight from mmap (large chunks) too.
    auto in_use = [](const struct mallinfo2& m) {
      return static_cast<double>(m.uordblks) + static_cast<double>(m.hblkhd);
    };
    return (in_use(after) - in_use(before)) / kQueued;
  }

 private:
  double Utilization() const { return static_cast<double>(used_cpu_) / static_cast<double>(total_cpu_); }

  // Releases random placed work (they leave the engine, as the server forgets finished allocations) while
  // the cluster is fuller than `target`; returns the utilisation then.
  double ReleaseDownTo(double target) {
    double util = Utilization();
    while (util > target && !active_.empty()) {
      size_t k = rng_() % active_.size();
      std::string id = Id(active_[k]);
      auto info = eng_.Get(id);
      if (info.ok() && info->state == AllocState::kPlaced) used_cpu_ -= info->requests.at("cpu");
      (void)eng_.Release(id, now_);
      (void)eng_.Forget(id);
      active_[k] = active_.back();
      active_.pop_back();
      util = Utilization();
    }
    return util;
  }

  static std::string Id(uint64_t n) { return "r" + std::to_string(n); }

  const BenchOptions& o_;
  Engine& eng_;
  std::mt19937_64 rng_;
  bool drf_;
  std::uniform_int_distribution<int> size_pick_{0, 99};
  std::vector<std::string> tenant_paths_;
  std::vector<uint64_t> active_;  // placed requests, by number (Id gives the id): 8 bytes each
  int64_t total_cpu_ = 0;
  int64_t used_cpu_ = 0;
  TimeMs now_ = 0;
  uint64_t next_id_ = 0;
};

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
  EngineBench bench(o, *created.value());
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  if (auto st = bench.AddNodes(); !st.ok()) return st.error();
  if (auto st = bench.AddTenants(); !st.ok()) return st.error();
  auto t1 = Clock::now();
  bench.Fill();
  auto t2 = Clock::now();
  BenchResult res;
  res.setup_s = std::chrono::duration<double>(t1 - t0).count();
  res.fill_s = std::chrono::duration<double>(t2 - t1).count();
  if (auto st = bench.TimeDecisions(&res); !st.ok()) return st.error();
  if (o.preemption) bench.TimePreemption(&res);
  created.value().reset();  // the per-request figure uses an engine of its own; the big one is done
  res.bytes_per_request = bench.BytesPerQueuedRequest();
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
  j["setup_s"] = std::round(r.setup_s * 100) / 100;
  j["fill_s"] = std::round(r.fill_s * 100) / 100;
  if (o.preemption) {
    j["preemption_searches"] = r.preemption_searches;
    j["preemption_p99_us"] = std::round(r.preemption_p99_us * 100) / 100;
  }
  return j.dump(2, ' ', false, decltype(j)::error_handler_t::replace) + "\n";
}

}  // namespace allot::sim
