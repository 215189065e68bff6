// In-process cost of the host probes and of one guard decision (no CPU sampling window, no NVML).
// Run: build-host/bench/bench_host
#include <benchmark/benchmark.h>

#include "allot/guard.h"
#include "allot/host.h"

namespace allot::host {
namespace {

void BM_ReadMemInfo(benchmark::State& st) {
  ProbeRoots r;
  for (auto _ : st) benchmark::DoNotOptimize(ReadMemInfo(r));
}
BENCHMARK(BM_ReadMemInfo);

void BM_ReadCpuTimes(benchmark::State& st) {
  ProbeRoots r;
  for (auto _ : st) benchmark::DoNotOptimize(ReadCpuTimes(r));
}
BENCHMARK(BM_ReadCpuTimes);

void BM_ReadLoadAvg(benchmark::State& st) {
  ProbeRoots r;
  for (auto _ : st) benchmark::DoNotOptimize(ReadLoadAvg(r));
}
BENCHMARK(BM_ReadLoadAvg);

void BM_ProbeDisk(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(ProbeDisk("/"));
}
BENCHMARK(BM_ProbeDisk);

void BM_ReadCgroupLimits(benchmark::State& st) {
  ProbeRoots r;
  for (auto _ : st) benchmark::DoNotOptimize(ReadCgroupLimits(r));
}
BENCHMARK(BM_ReadCgroupLimits);

// Everything `guard check --memory 1Gi` reads: /proc/stat, loadavg, meminfo, cgroup, plus the decision.
void BM_SnapshotAndDecide(benchmark::State& st) {
  auto prober = std::make_shared<SystemProber>(ProbeRoots{}, CpuSampleOptions{});
  Guard g(prober, {});
  GuardRequest req;
  req.memory = 1LL << 30;
  for (auto _ : st) benchmark::DoNotOptimize(g.CanProceed(req));
}
BENCHMARK(BM_SnapshotAndDecide);

}  // namespace
}  // namespace allot::host

BENCHMARK_MAIN();
