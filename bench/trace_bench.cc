// Trace read throughput (rows/s) on the Google gzip shard and inflation speed on the Alibaba trace.
// Run from the repository root: build-trace/bench/bench_trace (reads ../shared/data/traces, or $ALLOT_TRACES).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "allot/trace.h"

namespace {

std::string Traces() {
  const char* dir = std::getenv("ALLOT_TRACES");
  return dir != nullptr ? dir : "../shared/data/traces";
}

void BM_ReadGoogleGzipShard(benchmark::State& state) {
  size_t rows = 0;
  for (auto _ : state) {
    auto st = allot::trace::ReadGoogleTaskEvents(Traces() + "/google-2011/task_events-part-00000-of-00500.csv.gz",
                                                 [](const allot::trace::GoogleTaskEvent& e) { benchmark::DoNotOptimize(e.job_id); });
    if (!st.ok()) state.SkipWithError(st.error().message.c_str());
    else rows += st->rows;
  }
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadGoogleGzipShard)->Unit(benchmark::kMillisecond);

void BM_Inflate(benchmark::State& state, const char* policy) {
  auto spec = allot::trace::ParseTraceSpec("alibaba-gpu2023:" + Traces() + "/alibaba-gpu-v2023/openb_node_list_all_node.csv," +
                                           Traces() + "/alibaba-gpu-v2023/openb_pod_list_default.csv");
  allot::trace::InflationOptions o;
  o.policies = {policy};
  size_t pods = 0;
  for (auto _ : state) {
    auto r = allot::trace::InflateTrace(*spec, o);
    if (!r.ok()) state.SkipWithError(r.error().message.c_str());
    else pods += r->runs[0].end.pods_arrived;
  }
  state.counters["pods_per_s"] = benchmark::Counter(static_cast<double>(pods), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Inflate, gpu_fragmentation, "gpu-fragmentation")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Inflate, best_fit, "best-fit")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
