// Inflation mode: pods sampled from the trace arrive one by one until the first cannot be placed.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "allot/trace.h"

namespace allot::trace {
namespace {

uint64_t Mix(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

InflationSnapshot Snap(const GpuCluster& c, size_t arrived, size_t placed, int64_t arrived_milli) {
  InflationSnapshot s;
  s.pods_arrived = arrived;
  s.pods_placed = placed;
  double cap = static_cast<double>(c.GpuCapacityMilli());
  s.arrived_share = static_cast<double>(arrived_milli) / cap;
  s.allocated_share = static_cast<double>(c.GpuAllocatedMilli()) / cap;
  s.unallocated_gpus = static_cast<double>(c.GpuCapacityMilli() - c.GpuAllocatedMilli()) / 1000.0;
  s.fragmented_gpus = c.Fragmentation() / 1000.0;
  return s;
}

}  // namespace

Result<InflationReport> Inflate(const std::vector<GpuNode>& nodes, const std::vector<AlibabaPod>& pods,
                                const InflationOptions& options) {
  if (nodes.empty()) return InvalidArgument("inflate: no nodes");
  if (pods.empty()) return InvalidArgument("inflate: no pods");
  if (options.seeds < 1) return InvalidArgument("inflate: --seeds must be at least 1");
  if (!(options.arrive_until > 0) || options.arrive_until > 10)
    return InvalidArgument("inflate: arrive_until must be in (0, 10]");
  for (const auto& p : options.policies) {
    const auto& known = GpuCluster::Policies();
    if (std::find(known.begin(), known.end(), p) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return InvalidArgument("inflate: unknown policy '" + p + "' (" + list + ")");
    }
  }
  std::vector<GpuPodShape> shapes;
  int64_t trace_gpu = 0;
  for (const auto& p : pods) {
    shapes.push_back(ShapeOf(p));
    trace_gpu += p.GpuDemand();
  }
  if (trace_gpu == 0) return InvalidArgument("inflate: no pod asks for a GPU");
  // A pod whose model constraint matches no node can never be placed: that is bad input, not a result.
  for (const auto& p : pods) {
    if (p.num_gpu == 0 || p.gpu_spec.empty()) continue;
    bool any = false;
    for (const auto& n : nodes)
      for (const auto& m : p.gpu_spec) any = any || (n.gpus > 0 && n.model == m);
    if (!any) return InvalidArgument("inflate: pod " + p.name + ": no node has a GPU of model " + p.gpu_spec[0]);
  }
  std::vector<WorkloadClass> workload = BuildWorkload(shapes);

  InflationReport report;
  report.nodes = nodes.size();
  for (const auto& n : nodes) report.gpus += static_cast<size_t>(n.gpus);
  report.pods = pods.size();
  const uint64_t runs = options.policies.size() * static_cast<uint64_t>(options.seeds);
  uint64_t run_index = 0;
  for (const auto& policy : options.policies) {
    for (int s = 0; s < options.seeds; s++, run_index++) {
      auto t0 = std::chrono::steady_clock::now();
      InflationRun run;
      run.policy = policy;
      run.seed = options.seed + static_cast<uint64_t>(s);
      GpuCluster cluster(nodes, workload);
      // Separate streams for sampling and for the random policy, so every policy sees the same arrivals.
      uint64_t sample_state = run.seed * 0x2545F4914F6CDD1DULL + 1;
      uint64_t policy_state = run.seed ^ 0xda3e39cb94b95bdbULL;
      const double cap = static_cast<double>(cluster.GpuCapacityMilli());
      const int64_t stop_milli = static_cast<int64_t>(std::ceil(options.arrive_until * cap));
      size_t arrived = 0, placed = 0;
      int64_t arrived_milli = 0;
      bool failed = false;
      size_t next_point = 1;
      const size_t max_arrivals = 100 * pods.size() + 1000000;  // a guard; GPU demand always grows
      while (arrived_milli < stop_milli && arrived < max_arrivals) {
        const size_t i = static_cast<size_t>(
            (static_cast<unsigned __int128>(Mix(&sample_state)) * pods.size()) >> 64);
        const GpuPodShape& pod = shapes[i];
        arrived++;
        arrived_milli += pods[i].GpuDemand();
        if (options.progress && arrived % 512 == 1) {
          // Each run as 1000 parts of its arrivals, so the share is the same whatever stop_milli is.
          uint64_t part = static_cast<uint64_t>(
              std::min<int64_t>(1000, arrived_milli * 1000 / std::max<int64_t>(1, stop_milli)));
          options.progress({"inflating", "", run_index * 1000 + part, runs * 1000});
        }
        auto p = cluster.Choose(pod, policy, &policy_state);
        if (p) {
          cluster.Apply(pod, *p);
          placed++;
        } else if (!failed) {
          failed = true;
          run.first_failure = Snap(cluster, arrived, placed, arrived_milli);
        }
        while (next_point <= options.curve_points &&
               static_cast<double>(arrived_milli) >=
                   static_cast<double>(next_point) / static_cast<double>(options.curve_points) * options.arrive_until * cap) {
          run.curve.emplace_back(static_cast<double>(arrived_milli) / cap,
                                 static_cast<double>(cluster.GpuAllocatedMilli()) / cap);
          next_point++;
        }
      }
      run.end = Snap(cluster, arrived, placed, arrived_milli);
      if (!failed) run.first_failure = run.end;
      run.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      report.runs.push_back(std::move(run));
    }
  }
  return report;
}

Result<InflationReport> InflateTrace(const TraceSpec& spec, const InflationOptions& options, const ReadOptions& read) {
  if (spec.format != Format::kAlibabaGpu2023 || spec.paths.size() != 2)
    return InvalidArgument("inflate: needs alibaba-gpu2023:NODES,PODS");
  std::vector<GpuNode> nodes;
  std::vector<AlibabaPod> pods;
  auto ns = ReadAlibabaNodes(spec.paths[0], [&](const AlibabaNode& n) {
    nodes.push_back(GpuNode{n.name, n.model, n.cpu_milli, n.memory_mib, n.gpus});
  }, read);
  if (!ns.ok()) return ns.error();
  auto ps = ReadAlibabaPods(spec.paths[1], [&](const AlibabaPod& p) { pods.push_back(p); }, read);
  if (!ps.ok()) return ps.error();
  auto r = Inflate(nodes, pods, options);
  if (r.ok()) r->trace = spec.paths[0] + "," + spec.paths[1];
  return r;
}

}  // namespace allot::trace
