// Planner throughput: 10,000 generated workloads (Deployments, StatefulSets, a few GPU services, HPAs on
// every fifth) loaded from YAML text and planned with node sizing over two shapes (CPU and GPU nodes).
// Run: build-plan/bench/bench_plan --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "allot/plan.h"

namespace {

using allot::plan::Manifests;

// Deterministic manifests: `n` workloads over 10 namespaces.
std::string Generate(int n) {
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  auto next = [&]() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::string out;
  out.reserve(static_cast<size_t>(n) * 600);
  for (int i = 0; i < n; i++) {
    std::string ns = "team-" + std::to_string(i % 10);
    std::string name = "svc-" + std::to_string(i);
    int64_t cpu = 50 + static_cast<int64_t>(next() % 1950);
    int64_t mem = 64 + static_cast<int64_t>(next() % 4032);
    int replicas = 1 + static_cast<int>(next() % 5);
    bool gpu = i % 50 == 0;
    out += "---\napiVersion: apps/v1\nkind: " + std::string(i % 7 == 0 ? "StatefulSet" : "Deployment") +
           "\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n  replicas: " + std::to_string(replicas) +
           "\n  template:\n    spec:\n      containers:\n        - name: app\n          resources:\n"
           "            requests: {cpu: " + std::to_string(cpu) + "m, memory: " + std::to_string(mem) + "Mi" +
           (gpu ? ", nvidia.com/gpu: 1" : "") + "}\n            limits: {cpu: " + std::to_string(cpu * 2) +
           "m, memory: " + std::to_string(mem * 3 / 2) + "Mi" + (gpu ? ", nvidia.com/gpu: 1" : "") + "}\n";
    if (i % 5 == 0) {
      out += "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: " + name +
             ", namespace: " + ns + "}\nspec:\n  scaleTargetRef: {kind: " +
             std::string(i % 7 == 0 ? "StatefulSet" : "Deployment") + ", name: " + name + "}\n  minReplicas: " +
             std::to_string(replicas) + "\n  maxReplicas: " + std::to_string(replicas * 3) + "\n";
    }
  }
  return out;
}

allot::plan::PlanOptions Options() {
  allot::plan::PlanOptions o;
  o.sizing.shapes = {*allot::plan::ParseNodeShape("cpu=16,memory=64Gi,name=cpu"),
                     *allot::plan::ParseNodeShape("cpu=32,memory=128Gi,gpu=4,name=gpu,cost=8")};
  return o;
}

void BM_PlanFromYaml(benchmark::State& state) {
  std::string text = Generate(static_cast<int>(state.range(0)));
  auto options = Options();
  int64_t nodes = 0;
  for (auto _ : state) {
    Manifests m;
    if (!allot::plan::LoadText(text, "generated.yaml", {}, &m).ok()) state.SkipWithError("load failed");
    auto plan = allot::plan::MakePlan(m, options);
    if (!plan.ok()) state.SkipWithError("plan failed");
    nodes = plan->sizing.at_max.nodes;
    benchmark::DoNotOptimize(plan);
  }
  state.counters["nodes_at_max"] = static_cast<double>(nodes);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PlanFromYaml)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_PlanOnly(benchmark::State& state) {
  Manifests m;
  if (!allot::plan::LoadText(Generate(static_cast<int>(state.range(0))), "generated.yaml", {}, &m).ok()) {
    state.SkipWithError("load failed");
    return;
  }
  auto options = Options();
  for (auto _ : state) {
    auto plan = allot::plan::MakePlan(m, options);
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PlanOnly)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_RenderJson(benchmark::State& state) {
  Manifests m;
  (void)allot::plan::LoadText(Generate(static_cast<int>(state.range(0))), "generated.yaml", {}, &m);
  auto plan = allot::plan::MakePlan(m, Options());
  for (auto _ : state) benchmark::DoNotOptimize(allot::plan::RenderJson(*plan));
}
BENCHMARK(BM_RenderJson)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
