// Real workload traces: streaming readers, replay through the engine, and a device-level GPU-sharing model
// with fragmentation-aware packing (inflation mode, as in Weng et al., USENIX ATC '23).
//
// Readers stream line by line (gzip through zlib, so a .gz shard is never held in memory) and hand each
// parsed row to a callback. A bad row is an error naming file and line, or, with skip_bad, is counted and
// skipped. Formats ("FORMAT:PATH[,PATH]"):
//   alibaba-gpu2023:NODES.csv,PODS.csv   the openb node list and pod list (absolute units).
//   google2011:TASK_EVENTS[.gz]          clusterdata-2011-2 task_events. Only capacity marginals exist for
//                                        machines; see GoogleNodeModel for the node model and scaling.
//   swf:LOG.swf[.gz]                     Standard Workload Format; ';' lines are header/comments.
//
// GPU model (GpuCluster): a node has N devices of one model, each 1000 milli. A pod asks for nothing, for a
// share of one device (num_gpu == 1, gpu_milli < 1000), or for k whole devices (k = num_gpu). Invariants:
// the shares on a device never exceed 1000 milli; whole-device requests take only wholly free devices; a
// pod with gpu_spec runs only on nodes of one of the listed models; cpu and memory must fit too.
//
// Fragmentation measure (the `gpu-fragmentation` policy, our own implementation of the FGD idea). For a
// node n and a pod class m with per-device demand d_m (share milli, or 1000 for whole-device classes):
//   F_n(m) = sum of free milli over n's devices            if m cannot be placed on n at all (cpu, memory,
//                                                            GPU model, or not enough suitable devices);
//          = sum of free_g over devices g with free_g < d_m otherwise (whole-device classes: every device
//                                                            that is not wholly free).
//   Classes that ask for no GPU have F_n(m) = 0 when they fit (they need no GPU, so no GPU is stranded for
//   them) and all free milli when they do not. Nodes without GPUs have F_n = 0.
//   The expected fragmentation of a node is F_n = sum_m p_m * F_n(m), p_m being class m's share of the
//   workload's GPU demand (classes are distinct (cpu, memory, num_gpu, gpu_milli, gpu_spec) tuples; a
//   class's demand is its pod count times its GPUs, pods asking for less than one GPU or none counting as
//   one). The paper weighs classes by pod count; on the Alibaba trace that strands 8-GPU pods early (the
//   first failure comes at 89.9 % of GPU capacity arrived, mean of 10 seeds, against 92.6 % for best-fit),
//   while weighing by demand keeps whole nodes for them (first failure at 95.3 %, and 36 % fewer GPUs
//   unallocated than best-fit both there and when arrivals reach the capacity).
//   The policy places a pod on the node (and device) that minimises F_n(after) - F_n(before); ties go to
//   the node listed first. The cluster's fragmented GPU capacity is sum_n F_n. F_n is computed by
//   allot::GpuFragmentation (allot/engine.h), which the engine's gpu-fragmentation scorer shares.
//
// Thread-safety: every function works on its own data; a GpuCluster is not synchronised.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "allot/engine.h"
#include "allot/progress.h"
#include "allot/result.h"

namespace allot::trace {

// ---------------------------------------------------------------- readers

struct ReadOptions {
  bool skip_bad = false;  // count and skip bad rows instead of stopping at the first
  size_t limit = 0;       // stop after this many good rows (0: no limit)
  ProgressFn progress;    // "reading FILE", in bytes of the file (compressed bytes for .gz)
};
struct ReadStats {
  size_t rows = 0;     // good rows handed to the callback
  size_t skipped = 0;  // bad rows skipped (skip_bad only)
  std::string first_skip;  // the first skipped row's error, for the report
};

struct AlibabaNode {
  std::string name;
  int64_t cpu_milli = 0, memory_mib = 0;
  int gpus = 0;
  std::string model;  // empty when gpus == 0
};
struct AlibabaPod {
  std::string name;
  int64_t cpu_milli = 0, memory_mib = 0;
  int num_gpu = 0;       // 0, 1, 2, 4, 8
  int gpu_milli = 0;     // share of one device when num_gpu == 1 (1-1000)
  std::vector<std::string> gpu_spec;  // allowed models; empty: any
  std::string qos, phase;
  int64_t creation = 0, deletion = 0;  // seconds
  std::optional<int64_t> scheduled;    // absent for never-scheduled (Pending) pods
  // Total GPU demand in milli: gpu_milli for one device, else num_gpu * 1000.
  int64_t GpuDemand() const { return num_gpu == 1 ? gpu_milli : int64_t{num_gpu} * 1000; }
};

struct GoogleTaskEvent {
  int64_t time_us = 0;
  int64_t job_id = 0;
  int64_t task_index = 0;
  std::optional<int64_t> machine_id;
  int type = 0;  // 0 SUBMIT, 1 SCHEDULE, 2 EVICT, 3 FAIL, 4 FINISH, 5 KILL, 6 LOST, 7/8 UPDATE
  int scheduling_class = 0, priority = 0;
  std::optional<double> cpu, memory, disk;  // normalised (largest machine = 1.0)
  bool different_machine = false;
};

struct SwfJob {
  int64_t id = 0;
  int64_t submit_s = 0, wait_s = -1, run_s = -1;
  int64_t allocated_procs = -1, requested_procs = -1, requested_time_s = -1;
  int status = -1;
  int user = -1;
};
struct SwfHeader {
  int64_t max_procs = 0, max_nodes = 0;  // 0 when the header does not say
};

Result<ReadStats> ReadAlibabaNodes(const std::string& path, const std::function<void(const AlibabaNode&)>& fn,
                                   const ReadOptions& options = {});
Result<ReadStats> ReadAlibabaPods(const std::string& path, const std::function<void(const AlibabaPod&)>& fn,
                                  const ReadOptions& options = {});
Result<ReadStats> ReadGoogleTaskEvents(const std::string& path,
                                       const std::function<void(const GoogleTaskEvent&)>& fn,
                                       const ReadOptions& options = {});
// `header` (optional) receives MaxProcs/MaxNodes from the ';' lines.
Result<ReadStats> ReadSwf(const std::string& path, const std::function<void(const SwfJob&)>& fn,
                          const ReadOptions& options = {}, SwfHeader* header = nullptr);

// The Google 2011 node model. Only the marginal distributions of machine CPU and memory capacity are
// published, so machines are built by pairing the two marginals comonotonically: both capacity lists are
// sorted in descending order and zipped (the i-th largest CPU with the i-th largest memory). This keeps
// both marginals exact and assumes bigger machines have more memory. Machines with capacity 0 (unknown) are
// dropped. Scaling: normalised 1.0 CPU = cpu_scale_milli (default 64 cores) and 1.0 memory = memory_scale
// bytes (default 256 GiB); every reported utilisation is a ratio, so only rounding depends on the scale.
struct GoogleScale {
  int64_t cpu_milli = 64000;
  int64_t memory_bytes = int64_t{256} << 30;
};
// The default marginal files in /work/shared/data/traces/google-2011 are machine-capacity-marginal-cpu.csv
// and ...-memory.csv; `dir` is searched for them.
Result<std::vector<NodeSpec>> GoogleNodeModel(const std::string& cpu_marginal_csv,
                                              const std::string& memory_marginal_csv, const GoogleScale& scale);

// ---------------------------------------------------------------- trace specs and jobs

enum class Format { kAlibabaGpu2023, kGoogle2011, kSwf };
struct TraceSpec {
  Format format = Format::kSwf;
  std::vector<std::string> paths;
};
// Parses "FORMAT:PATH[,PATH]". alibaba-gpu2023 needs two paths (nodes, pods); the others one.
// google2011 may add the two marginal CSVs: google2011:EVENTS,CPU_MARGINAL,MEMORY_MARGINAL (default: the
// files beside EVENTS).
Result<TraceSpec> ParseTraceSpec(const std::string& text);
const char* FormatName(Format f);

// One job of a replay: a request submitted at `submit`, running `run` once placed; the engine holds it for
// `estimate` (its lease, the backfill estimate) unless the replay releases it earlier at start + run.
struct TraceJob {
  std::string id;
  TimeMs submit = 0, run = 0, estimate = 0;
  ResourceMap requests;
  int count = 1;
  Labels selector;
  std::optional<TimeMs> wait;
};
struct TraceWorkload {
  std::string description;       // how the trace was modelled (machine model, scaling), for reports
  std::vector<NodeSpec> nodes;
  std::vector<TraceJob> jobs;    // sorted by submit time
  ReadStats stats;               // rows read / skipped
  size_t dropped = 0;            // rows that do not make a job (see description)
  std::string dropped_reason;
};
struct LoadOptions {
  ReadOptions read;
  size_t limit_jobs = 0;  // keep only the first N jobs by submit time (0: all)
  GoogleScale google;
  // Rounds submit times and run times up to multiples of this (0: exact). Batching arrivals and ends onto
  // ticks bounds the number of scheduling passes; google2011 (microsecond stamps) defaults to 1 s in the CLI.
  TimeMs tick_ms = 0;
};
// Loads a whole trace as nodes and jobs. alibaba-gpu2023: one node per node row (gpu as count in milli,
// label gpu-model, and one label per distinct gpu_spec of the pod file that the model satisfies, so
// "V100M16|V100M32" is an exact selector); a pod runs deletion - scheduled seconds (never-scheduled pods:
// deletion - creation, and give up after that long). google2011: one job per (task, SUBMIT ... end event)
// episode that was scheduled; tasks still running at the end of the shard run until the shard's last time.
// swf: one node of MaxProcs cpus (1 processor = 1 cpu); see the SWF note in replay below.
Result<TraceWorkload> LoadWorkload(const TraceSpec& spec, const LoadOptions& options = {});

// Writes `workload` as an `allot sim` scenario (DESIGN.md format, YAML). `policy` fills the policy block.
Status WriteScenario(const TraceWorkload& workload, const EngineOptions& policy, std::ostream& out);

// ---------------------------------------------------------------- replay through the engine

// SWF machines are modelled as one node whose cpu is the machine's processor count: a job takes its
// processors as `cpu` on that node. The iPSC/860 space-shares interchangeable processors, so one node is
// exact for accounting, keeps every job whole (no gang of 128 one-processor units), and keeps the engine's
// scan at one node. Replay always releases a job at start + run; its lease (the backfill estimate) is the
// requested time when the log has one (>= run), else the run time (the NASA log has none: perfect estimates).
struct ReplayOptions {
  EngineOptions policy;
  size_t timeline_points = 48;  // samples of utilisation over time
  ProgressFn progress;          // "replaying", in jobs submitted
};
struct TimelinePoint {
  double t_s = 0;
  std::map<std::string, double> utilization;  // resource -> allocated / capacity, averaged over the bucket
  size_t queued = 0, running = 0;
};
struct ReplayReport {
  std::string trace, description, scoring;
  bool backfill = false;
  size_t jobs = 0, started = 0, rejected = 0, never_started = 0;
  double mean_wait_s = 0, p50_wait_s = 0, p99_wait_s = 0, max_wait_s = 0;
  double mean_bounded_slowdown = 0;  // mean of max(1, (wait + run) / max(run, 10 s)) over started jobs
  double makespan_s = 0;
  std::map<std::string, double> utilization;  // time-weighted mean allocated / capacity
  std::vector<TimelinePoint> timeline;
  size_t peak_nodes_used = 0, nodes_lower_bound = 0;  // at the sample with most nodes in use
  double elapsed_s = 0;  // wall time of the replay itself
};
Result<ReplayReport> Replay(const TraceWorkload& workload, const ReplayOptions& options);
std::string ReplayToJson(const std::vector<ReplayReport>& reports);
std::string ReplayToText(const std::vector<ReplayReport>& reports);

// ---------------------------------------------------------------- GPU sharing model

struct GpuNode {
  std::string name, model;
  int64_t cpu_milli = 0, memory_mib = 0;
  int gpus = 0;
};
struct GpuPodShape {
  int64_t cpu_milli = 0, memory_mib = 0;
  int num_gpu = 0, gpu_milli = 0;     // as in AlibabaPod
  std::vector<std::string> gpu_spec;  // allowed models; empty: any
};
GpuPodShape ShapeOf(const AlibabaPod& pod);

// The workload's distribution of pod classes, for the fragmentation measure.
struct WorkloadClass {
  GpuPodShape shape;
  double weight = 0;  // p_m (share of the GPU demand, see above); the weights sum to 1
};
std::vector<WorkloadClass> BuildWorkload(const std::vector<GpuPodShape>& pods);

struct GpuPlacement {
  int node = -1;              // index into the cluster's nodes
  std::vector<int> devices;   // device indices on that node
  int64_t milli_each = 0;     // milli taken on each listed device
};

class GpuCluster {
 public:
  // `workload` is used by the gpu-fragmentation policy and by Fragmentation().
  GpuCluster(std::vector<GpuNode> nodes, std::vector<WorkloadClass> workload);

  // True when the pod fits node `n` (cpu, memory, model, devices).
  bool Fits(int n, const GpuPodShape& pod) const;
  // Chooses a node and devices by `policy` (gpu-fragmentation | best-fit | most-allocated |
  // least-allocated | random), or nullopt when no node fits. `rng_state` feeds random (and is advanced).
  std::optional<GpuPlacement> Choose(const GpuPodShape& pod, const std::string& policy, uint64_t* rng_state);
  // Takes the placement's resources. REQUIRES: the placement came from Choose/Fits for this pod.
  void Apply(const GpuPodShape& pod, const GpuPlacement& p);
  // Gives them back.
  void Remove(const GpuPodShape& pod, const GpuPlacement& p);

  // Expected fragmentation F_n of node n in milli (see the header comment), and of the cluster.
  double NodeFragmentation(int n) const;
  double Fragmentation() const;
  // F_n(m) for one class, on node n in its current state.
  int64_t NodeFragmentationFor(int n, const GpuPodShape& m) const;

  const std::vector<GpuNode>& nodes() const { return nodes_; }
  const std::vector<int32_t>& DeviceUsed(int n) const { return used_gpu_[n]; }  // milli per device
  int64_t CpuUsed(int n) const { return used_cpu_[n]; }
  int64_t MemoryUsed(int n) const { return used_mem_[n]; }
  int64_t GpuCapacityMilli() const { return gpu_capacity_; }
  int64_t GpuAllocatedMilli() const { return gpu_allocated_; }

  static const std::vector<std::string>& Policies();

 private:
  // F of node n if it had these used amounts (memoised by node shape and state).
  double FragmentationOf(int n, int64_t cpu_used, int64_t mem_used, std::vector<int32_t> used);
  double ComputeFragmentation(int n, int64_t cpu_used, int64_t mem_used, const std::vector<int32_t>& used) const;
  bool ModelAllowed(int n, const GpuPodShape& pod) const;

  std::vector<GpuNode> nodes_;
  std::vector<WorkloadClass> workload_;
  std::vector<GpuWorkloadClass> classes_;      // workload_ for allot::GpuFragmentation (the shared measure)
  std::vector<std::vector<uint8_t>> allowed_;  // per node shape: which classes may run there (GPU model)
  std::vector<int> shape_;  // node -> index of its (model, cpu, memory, gpus) shape, for the memo
  std::vector<int64_t> used_cpu_, used_mem_;
  std::vector<std::vector<int32_t>> used_gpu_;
  std::vector<double> frag_;  // cached F_n
  std::unordered_map<std::string, double> frag_memo_;
  int64_t gpu_capacity_ = 0, gpu_allocated_ = 0;
};

// ---------------------------------------------------------------- inflation

struct InflationOptions {
  std::vector<std::string> policies = {"gpu-fragmentation", "best-fit", "most-allocated", "random"};
  uint64_t seed = 1;
  int seeds = 1;                // average over seeds seed .. seed + seeds - 1
  double arrive_until = 1.0;    // keep arriving (failed pods are dropped) until arrived GPU demand reaches
                                // this fraction of capacity, for the curve; the headline is the first failure
  size_t curve_points = 100;
  ProgressFn progress;  // "inflating", as a share of all runs' arrivals (no unit)
};
struct InflationSnapshot {
  size_t pods_arrived = 0, pods_placed = 0;
  double arrived_share = 0;      // arrived GPU demand / GPU capacity
  double allocated_share = 0;    // allocated GPU milli / capacity
  double unallocated_gpus = 0;   // (capacity - allocated) / 1000
  double fragmented_gpus = 0;    // sum_n F_n / 1000
};
struct InflationRun {
  std::string policy;
  uint64_t seed = 0;
  InflationSnapshot first_failure;  // when the first pod could not be placed
  InflationSnapshot end;            // when arrivals reached arrive_until
  std::vector<std::pair<double, double>> curve;  // (arrived share, allocated share)
  double elapsed_s = 0;
};
struct InflationReport {
  std::string trace;
  size_t nodes = 0, gpus = 0, pods = 0;
  std::vector<InflationRun> runs;  // policy-major, then seed
};
// Samples pods (with replacement, seeded) from `pods` and places them one by one on `nodes`.
Result<InflationReport> Inflate(const std::vector<GpuNode>& nodes, const std::vector<AlibabaPod>& pods,
                                const InflationOptions& options);
// Loads nodes and pods of an alibaba-gpu2023 spec.
Result<InflationReport> InflateTrace(const TraceSpec& spec, const InflationOptions& options,
                                     const ReadOptions& read = {});
std::string InflationToJson(const InflationReport& r);
std::string InflationToText(const InflationReport& r);
std::string InflationToSvg(const InflationReport& r);

}  // namespace allot::trace
