// Rate-limit decisions per second, in process, one thread. The figures to compare with the Redis
// peer (scripts/bench-ratelimit.sh) are items_per_second: each item is one decision. Keys and rates
// mirror the peer's run: 10,000 limiters, 1000/s with a burst of 100.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "allot/throttle.h"

namespace allot::throttle {
namespace {

constexpr int64_t kT0 = 1'700'000'000LL * kNanosPerSecond;
constexpr int kKeys = 10'000;

// A cheap deterministic key sequence (like redis-benchmark's __rand_int__ over 10,000 keys).
inline uint32_t NextKey(uint32_t& x) {
  x = x * 1664525u + 1013904223u;
  return (x >> 8) % kKeys;
}

void BM_GcraOneLimiter(benchmark::State& state) {
  GcraLimiter g(Rate{1000, kNanosPerSecond}, 100);
  int64_t now = kT0;
  int64_t allowed = 0;
  for (auto _ : state) {
    now += 700;  // ~1.4M calls per simulated second: mostly denied once the burst is gone
    Decision d = g.Acquire(now, 1);
    allowed += d.allowed();
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["allowed_share"] = static_cast<double>(allowed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_GcraOneLimiter);

void BM_Gcra10kLimiters(benchmark::State& state) {
  std::vector<GcraLimiter> limiters(kKeys, GcraLimiter(Rate{1000, kNanosPerSecond}, 100));
  int64_t now = kT0;
  uint32_t x = 1;
  for (auto _ : state) {
    now += 100;
    Decision d = limiters[NextKey(x)].Acquire(now, 1);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Gcra10kLimiters);

// The keyed path with one hot key (fixed cost of lock, lookup, all-or-nothing commit; no cache misses).
void BM_TableOneKey(benchmark::State& state) {
  RateLimitTable t;
  LimitSpec l;
  l.rate = Rate{1000, kNanosPerSecond};
  l.burst = 100;
  if (!t.Define("api/openai", {l}, kT0).ok()) state.SkipWithError("define failed");
  int64_t now = kT0;
  AcquireRequest r;
  r.key = "api/openai";
  r.tenant = "org/team/a";
  for (auto _ : state) {
    now += 100;
    auto d = t.Acquire(now, r);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TableOneKey);

// The full keyed path a server request takes: lock, key lookup, levels, all-or-nothing commit.
void BM_TableOneLevel10kKeys(benchmark::State& state) {
  RateLimitTable t;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back("rl:" + std::to_string(i));
    LimitSpec l;
    l.rate = Rate{1000, kNanosPerSecond};
    l.burst = 100;
    if (!t.Define(keys.back(), {l}, kT0).ok()) state.SkipWithError("define failed");
  }
  int64_t now = kT0;
  uint32_t x = 1;
  AcquireRequest r;
  r.tenant = "org/team/a";
  for (auto _ : state) {
    now += 100;
    r.key = keys[NextKey(x)];
    auto d = t.Acquire(now, r);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TableOneLevel10kKeys);

void BM_TableThreeLevels(benchmark::State& state) {
  RateLimitTable t;
  LimitSpec global, team, tenant;
  global.rate = Rate{100000, kNanosPerSecond};
  global.burst = 1000;
  team = global;
  team.scope = Scope::kSubtree;
  team.subtree = "org/team";
  tenant = global;
  tenant.scope = Scope::kPerTenant;
  tenant.rate = Rate{1000, kNanosPerSecond};
  if (!t.Define("api/openai", {global, team, tenant}, kT0).ok()) state.SkipWithError("define failed");
  std::vector<std::string> tenants;
  for (int i = 0; i < 100; ++i) tenants.push_back("org/team/agent-" + std::to_string(i));
  int64_t now = kT0;
  uint32_t x = 1;
  AcquireRequest r;
  r.key = "api/openai";
  for (auto _ : state) {
    now += 100;
    r.tenant = tenants[NextKey(x) % 100];
    auto d = t.Acquire(now, r);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TableThreeLevels);

}  // namespace
}  // namespace allot::throttle

BENCHMARK_MAIN();
