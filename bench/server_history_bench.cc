// Benchmarks of the amount history (allot/history.h), driven by scripts/bench-history.sh:
//
//   bench_server_history size --nodes 10000 --tenants 1000 --pools 10 --days 30 [--quiet]
//       Bytes in the store and in memory with the default tiers (15 s for 24 h without nodes, 5 min for
//       30 days with nodes; cpu, memory and gpu per node) after `days` of a synthetic cluster. Busy (the
//       default): every node's allocated and used amounts change at every 5-minute point, and so does every
//       tenant's allocated amount; --quiet: 10 % of the nodes change per point and no agent reports usage.
//       The two tiers are filled apart (their rows are independent): the 5 min tier from one sample per
//       5 minutes with every series, the 15 s tier from one sample per 15 s without node series.
//   bench_server_history fill --data DIR [--days 7] [--tenants 100] [--pools 10]
//       Writes DIR/allot.db (the SQLite store) with `days` of history ending now, sampled every 15 s into
//       the tiers 15s/24h, 1m/7d, 5m/30d (the config scripts/bench-history.sh serves it with).
//   bench_server_history read [--days 7] [--step 60]   (--step: seconds, or a duration: 5m)
//       The same history in memory: times Db::Read of the cluster over `days` at `step` (median of 21).
// Each prints one JSON object.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "allot/duration.h"
#include "allot/history.h"
#include "allot/store.h"

namespace {

using allot::history::Db;
using allot::history::Frame;
using allot::history::Options;
using allot::history::Point;
using allot::history::Scope;
using allot::history::Write;
using Clock = std::chrono::steady_clock;

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; i++) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}
bool Flag(int argc, char** argv, const char* name) {
  for (int i = 2; i < argc; i++) {
    if (std::strcmp(argv[i], name) == 0) return true;
  }
  return false;
}

constexpr int64_t kGi = int64_t{1} << 30;

// A synthetic cluster: nodes of 64 cpu / 256 GiB (one in eight with 8 GPUs) in `pools` pools, tenants
// org-K/team-J, amounts that move as a random walk.
class Cluster {
 public:
  Cluster(int nodes, int tenants, int pools, bool busy) : busy_(busy), pools_(pools), rng_(42) {
    nodes_.resize(static_cast<size_t>(nodes));
    for (int i = 0; i < nodes; i++) {
      auto& n = nodes_[static_cast<size_t>(i)];
      n.name = "node-" + std::to_string(100000 + i).substr(1);
      n.pool = i % pools;
      n.gpu = i % 8 == 0 ? 8000 : 0;
      n.alloc_cpu = Uniform(0, 64) * 1000;
      n.alloc_mem = Uniform(0, 256) * kGi;
    }
    for (int t = 0; t < tenants; t++)
      tenants_.push_back({"org-" + std::to_string(t / 10) + "/team-" + std::to_string(t % 10), 0, 0});
  }

  // The sample at one time. `nodes`: whether node series are in it.
  void Sample(Frame* f, bool nodes) {
    int64_t cap_cpu = 0, cap_mem = 0, cap_gpu = 0, a_cpu = 0, a_mem = 0, a_gpu = 0, u_cpu = 0, u_mem = 0;
    std::vector<std::array<int64_t, 6>> pools(static_cast<size_t>(pools_));
    for (auto& n : nodes_) {
      if (busy_ || Uniform(0, 9) == 0) {
        n.alloc_cpu = std::clamp<int64_t>(n.alloc_cpu + Uniform(-8, 8) * 250, 0, 64000);
        n.alloc_mem =
            std::clamp<int64_t>(n.alloc_mem + Uniform(-8, 8) * 512 * (int64_t{1} << 20), 0, 256 * kGi);
        n.alloc_gpu = n.gpu ? Uniform(0, 8) * 1000 : 0;
      }
      if (busy_) {  // agents: usage moves at every point, in odd amounts
        n.used_cpu = std::clamp<int64_t>(n.alloc_cpu - Uniform(0, 4000), 0, 64000);
        n.used_mem = std::clamp<int64_t>(n.alloc_mem - Uniform(0, kGi), 0, 256 * kGi);
      }
      cap_cpu += 64000, cap_mem += 256 * kGi, cap_gpu += n.gpu;
      a_cpu += n.alloc_cpu, a_mem += n.alloc_mem, a_gpu += n.alloc_gpu, u_cpu += n.used_cpu,
          u_mem += n.used_mem;
      auto& p = pools[static_cast<size_t>(n.pool)];
      p[0] += 64000, p[1] += n.alloc_cpu, p[2] += n.used_cpu, p[3] += 256 * kGi, p[4] += n.alloc_mem,
          p[5] += n.used_mem;
      if (!nodes) continue;
      Add(f, Scope::kNode, n.name, "cpu", 64000, n.alloc_cpu, busy_ ? n.used_cpu : -1, -1);
      Add(f, Scope::kNode, n.name, "memory", 256 * kGi, n.alloc_mem, busy_ ? n.used_mem : -1, -1);
      if (n.gpu) Add(f, Scope::kNode, n.name, "gpu", n.gpu, n.alloc_gpu, -1, -1);
    }
    queued_ = std::max<int64_t>(0, queued_ + Uniform(-4, 4) * 1000);
    Add(f, Scope::kCluster, "", "cpu", cap_cpu, a_cpu, busy_ ? u_cpu : -1, queued_);
    Add(f, Scope::kCluster, "", "memory", cap_mem, a_mem, busy_ ? u_mem : -1, queued_ * (int64_t{1} << 22));
    Add(f, Scope::kCluster, "", "gpu", cap_gpu, a_gpu, -1, 0);
    for (int p = 0; p < pools_; p++) {
      const auto& s = pools[static_cast<size_t>(p)];
      std::string name = "pool-" + std::to_string(p);
      Add(f, Scope::kPool, name, "cpu", s[0], s[1], busy_ ? s[2] : -1, 0);
      Add(f, Scope::kPool, name, "memory", s[3], s[4], busy_ ? s[5] : -1, 0);
    }
    for (auto& t : tenants_) {
      if (busy_ || Uniform(0, 9) == 0) {
        t.cpu = std::max<int64_t>(0, t.cpu + Uniform(-4, 4) * 500);
        t.mem = std::max<int64_t>(0, t.mem + Uniform(-4, 4) * kGi);
      }
      Add(f, Scope::kTenant, t.path, "cpu", -1, t.cpu, -1, 0);
      Add(f, Scope::kTenant, t.path, "memory", -1, t.mem, -1, 0);
      Add(f, Scope::kTenant, t.path, "gpu", -1, 0, -1, 0);
    }
  }

 private:
  struct Node {
    std::string name;
    int pool = 0;
    int64_t gpu = 0, alloc_cpu = 0, alloc_mem = 0, alloc_gpu = 0, used_cpu = 0, used_mem = 0;
  };
  struct Tenant {
    std::string path;
    int64_t cpu, mem;
  };
  int64_t Uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  static void Add(Frame* f, Scope s, const std::string& name, const char* res, int64_t cap, int64_t alloc,
                  int64_t used, int64_t queued) {
    Point p;
    if (cap >= 0) p.set(allot::history::kCapacity, cap);
    p.set(allot::history::kAllocated, alloc);
    if (used >= 0) p.set(allot::history::kUsed, used);
    if (queued >= 0) p.set(allot::history::kQueued, queued);
    f->Add(s, name, res, p);
  }

  bool busy_;
  int pools_;
  std::mt19937_64 rng_;
  std::vector<Node> nodes_;
  std::vector<Tenant> tenants_;
  int64_t queued_ = 0;
};

struct Filled {
  size_t stored = 0, records = 0, memory = 0, series = 0;
  double seconds = 0, add_ms_max = 0;
};

// Feeds `samples` samples `every` seconds apart (ending near now) into `db`; writes go to `store` if given.
Filled Feed(Db& db, Cluster& c, int64_t samples, int64_t every, bool nodes, allot::Store* store) {
  Filled out;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t t0 = (now - samples * every) / every * every;
  Frame f;
  std::vector<Write> w;
  auto start = Clock::now();
  for (int64_t i = 0; i < samples; i++) {
    f.Clear();
    c.Sample(&f, nodes);
    w.clear();
    auto a = Clock::now();
    db.Add(t0 + i * every, f, &w);
    out.add_ms_max =
        std::max(out.add_ms_max, std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    if (store != nullptr && !w.empty()) {
      allot::Batch b;
      for (auto& x : w) {
        if (x.del)
          b.Delete(allot::Table::kHistory, x.key);
        else
          b.Put(allot::Table::kHistory, x.key, x.value);
      }
      store->Commit(std::move(b), nullptr);
    }
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto st = db.stats();
  out.stored = st.stored_bytes;
  out.records = st.records;
  out.memory = st.memory_bytes;
  out.series = st.series;
  return out;
}

// Peak resident memory of this process (both Dbs, the generator and the frames).
double MaxRssMib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int Size(int argc, char** argv) {
  int nodes = std::stoi(Arg(argc, argv, "--nodes", "10000"));
  int tenants = std::stoi(Arg(argc, argv, "--tenants", "1000"));
  int pools = std::stoi(Arg(argc, argv, "--pools", "10"));
  int days = std::stoi(Arg(argc, argv, "--days", "30"));
  bool busy = !Flag(argc, argv, "--quiet");
  Options coarse;
  coarse.interval_s = 300;
  coarse.tiers = {{300, int64_t{days} * 86400, true}};
  Db db5(coarse);
  Cluster c5(nodes, tenants, pools, busy);
  Filled a = Feed(db5, c5, int64_t{days} * 288, 300, true, nullptr);
  Options fine;
  fine.tiers = {{15, 86400, false}};
  Db db15(fine);
  Cluster c15(nodes, tenants, pools, busy);
  Filled b = Feed(db15, c15, 5760, 15, false, nullptr);
  std::printf(
      "{\"nodes\": %d, \"tenants\": %d, \"pools\": %d, \"days\": %d, \"workload\": \"%s\", "
      "\"tier_5m\": {\"stored_bytes\": %zu, \"records\": %zu, \"memory_bytes\": %zu, \"series\": %zu, "
      "\"fill_s\": %.1f}, "
      "\"tier_15s\": {\"stored_bytes\": %zu, \"records\": %zu, \"memory_bytes\": %zu, \"series\": %zu, "
      "\"fill_s\": %.1f}, "
      "\"stored_mib\": %.1f, \"memory_mib\": %.1f, \"max_rss_mib\": %.1f, \"add_ms_max_5m\": %.2f}\n",
      nodes, tenants, pools, days, busy ? "busy" : "quiet", a.stored, a.records, a.memory, a.series,
      a.seconds, b.stored, b.records, b.memory, b.series, b.seconds,
      static_cast<double>(a.stored + b.stored) / (1 << 20),
      static_cast<double>(a.memory + b.memory) / (1 << 20), MaxRssMib(), a.add_ms_max);
  return 0;
}

Options ThreeTiers() {
  Options o;
  o.tiers = {{15, 86400, false}, {60, 7 * 86400, false}, {300, 30 * 86400, true}};
  return o;
}

int Fill(int argc, char** argv) {
  std::string dir = Arg(argc, argv, "--data", "");
  if (dir.empty()) {
    std::fprintf(stderr, "bench_server_history fill: --data DIR is required\n");
    return 2;
  }
  int days = std::stoi(Arg(argc, argv, "--days", "7"));
  auto store = allot::OpenSqliteStore(dir, {false, 8192});
  if (!store.ok()) {
    std::fprintf(stderr, "bench_server_history fill: %s\n", store.error().message.c_str());
    return 1;
  }
  Db db(ThreeTiers());
  Cluster c(0, std::stoi(Arg(argc, argv, "--tenants", "100")), std::stoi(Arg(argc, argv, "--pools", "10")),
            true);
  Filled f = Feed(db, c, int64_t{days} * 5760, 15, false, store->get());
  (void)(*store)->Flush();
  (*store)->Close();
  std::printf("{\"days\": %d, \"series\": %zu, \"stored_bytes\": %zu, \"records\": %zu, \"fill_s\": %.1f}\n",
              days, f.series, f.stored, f.records, f.seconds);
  return 0;
}

int Read(int argc, char** argv) {
  int days = std::stoi(Arg(argc, argv, "--days", "7"));
  // --step: a duration in whole seconds (60, 5m), through the one parser.
  auto step_ms = allot::ParseDurationFlag("step", Arg(argc, argv, "--step", "60"), 1000, 1000);
  if (!step_ms.ok() || *step_ms % 1000 != 0) {
    std::fprintf(stderr, "bench_server_history read: %s\n",
                 step_ms.ok()
                     ? ("--step \"" + Arg(argc, argv, "--step", "") + "\": must be whole seconds").c_str()
                     : step_ms.error().message.c_str());
    return 2;
  }
  int64_t step = *step_ms / 1000;
  Db db(ThreeTiers());
  Cluster c(0, 100, 10, true);
  Feed(db, c, int64_t{days} * 5760, 15, false, nullptr);
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  allot::history::Query q;
  q.from = now - int64_t{days} * 86400;
  q.to = now;
  q.step = step;
  std::vector<double> ms;
  size_t points = 0;
  for (int i = 0; i < 21; i++) {
    auto a = Clock::now();
    auto r = db.Read(q, now, nullptr);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    if (!r.ok()) {
      std::fprintf(stderr, "bench_server_history read: %s\n", r.error().message.c_str());
      return 1;
    }
    points = 0;
    for (const auto& s : r->series) points += s.t.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "{\"days\": %d, \"step\": %lld, \"points\": %zu, \"read_ms_median\": %.3f, \"read_ms_max\": %.3f}\n",
      days, static_cast<long long>(step), points, ms[ms.size() / 2], ms.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "size") return Size(argc, argv);
  if (mode == "fill") return Fill(argc, argv);
  if (mode == "read") return Read(argc, argv);
  std::fprintf(stderr,
               "usage: bench_server_history size|fill|read [options] (see the header of "
               "bench/server_history_bench.cc)\n");
  return 2;
}
