// HPA evaluation throughput: EvaluateHpa on a parsed input (the arithmetic alone) and ParseHpaInput +
// EvaluateHpa (what `allot autoscale eval` does per input), for 10 and 1000 pods.
// Run: build-autoscale/bench/bench_autoscale
#include <benchmark/benchmark.h>

#include <sstream>

#include "allot/autoscale.h"

namespace {

std::string Input(int pods, bool behavior) {
  std::ostringstream o;
  o << "hpa: {spec: {minReplicas: 1, maxReplicas: 5000, metrics: [{type: Resource, resource: {name: cpu, target: "
       "{type: Utilization, averageUtilization: 50}}}, {type: Pods, pods: {metric: {name: qps}, target: {type: "
       "AverageValue, averageValue: '100'}}}]"
    << (behavior ? ", behavior: {}" : "") << "}}\ncurrent_replicas: " << pods << "\n";
  o << "recommendations: [{age_seconds: 30, replicas: " << pods << "}, {age_seconds: 200, replicas: " << pods + 2 << "}]\n";
  o << "scale_events: [{age_seconds: 10, change: 1}]\npods:\n";
  for (int i = 0; i < pods; i++)
    o << "  - {name: p" << i << ", ready: " << (i % 17 ? "true" : "false") << ", requests: {cpu: 500m}, usage: {cpu: "
      << 200 + (i * 37) % 400 << "m}, metrics: {qps: '" << 50 + i % 90 << "'}}\n";
  return o.str();
}

void BM_Evaluate(benchmark::State& state) {
  auto in = allot::autoscale::ParseHpaInput(Input(static_cast<int>(state.range(0)), state.range(1) != 0), "bench");
  if (!in.ok()) {
    state.SkipWithError(in.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto d = allot::autoscale::EvaluateHpa(*in);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate)->Args({10, 0})->Args({10, 1})->Args({1000, 0})->Args({1000, 1});

void BM_ParseAndEvaluate(benchmark::State& state) {
  std::string text = Input(static_cast<int>(state.range(0)), true);
  for (auto _ : state) {
    auto in = allot::autoscale::ParseHpaInput(text, "bench");
    auto d = allot::autoscale::EvaluateHpa(*in);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseAndEvaluate)->Arg(10)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
