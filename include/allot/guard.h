// The host resource guard: may a job start on this machine now, and how hard should running work back off?
//
// A Guard takes HostSnapshots from a Prober (the real /proc, statvfs and NVML, or a fake in tests) and
// compares them with GuardLimits: for each of cpu, memory, disk (per path) and gpu (per device) a maximum
// and a warn threshold, in basis points (1/100 of a percent) of that resource's capacity. Defaults follow
// the seed: cpu 80 % (warn 70), memory 80 % (70), gpu 80 % (70), disk 70 % (65). A host tier replaces the
// cpu/memory/gpu maxima by its target utilisation (warn = target - 10 points); a config file and flags
// override both.
//
// Degradation level of one resource, from r = used / max (both percent of capacity):
//   0: r < 70 %   1: 70 % <= r < 85 %   2: 85 % <= r < 95 %   3: 95 % <= r < 100 %   4: r >= 100 %
// (e.g. with max 80 %: level 1 from 56 % used, 2 from 68 %, 3 from 76 %, 4 from 80 %).
// The host's level is the highest level among cpu, memory, the watched disks and the GPUs.
//
// What a level lets start, and the scale factor it asks running work to apply (seed 004's table; the
// `levels` key of the guard config changes either):
//   level      0 normal   1 light          2 moderate   3 heavy                      4 critical
//   starts     all        all, with a      all          normal priority and above    nothing
//                         warning                       (low and background wait)
//   scale      1          1                0.5          0.25                         0
// Priorities are allot/resources.h's (background 0 ... critical 4; larger integers count as 4, smaller as
// 0). A request is gated by the highest level among the resources it touches. Besides, it must fit:
// used + request <= max for every touched resource, or <= capacity for critical work. cpu and memory are
// always touched; disk only with a disk request or a path; gpu only with a gpu-memory request (the request
// needs one device where it fits). A probe that fails is an error, never a "go".
//
// Thread-safety: a Guard may be shared between threads (an internal mutex guards the reservations held
// by ScopedGuards and the prober); the free functions are pure.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/host.h"
#include "allot/result.h"

namespace allot::host {

enum class GuardResource { kCpu = 0, kMemory = 1, kGpu = 2, kDisk = 3 };
inline constexpr int kNumGuardResources = 4;
const char* GuardResourceName(GuardResource r);
// cpu, memory (mem), gpu (nvidia.com/gpu), disk (ephemeral-storage); anything else is an error.
Result<GuardResource> ParseGuardResource(std::string_view name);

struct Threshold {
  int64_t max_bp = 8000;   // a job may not push usage above this (basis points of capacity)
  int64_t warn_bp = 7000;  // `recommend` and `status` flag usage from here
};

inline constexpr int kNumLevels = 5;
// normal, light, moderate, heavy, critical; "?" outside 0-4.
const char* LevelName(int level);

// The gates and scale factors of the degradation levels (see the header comment for the defaults).
struct LevelPolicy {
  // The lowest priority that may start at each level; 5 (above critical) lets nothing start.
  std::array<int, kNumLevels> min_priority{0, 0, 0, 2, 5};
  // The share of its normal amount of work a job should do at each level, in basis points (5000 = half).
  std::array<int64_t, kNumLevels> scale_bp{10000, 10000, 5000, 2500, 0};
  // Whether a decision that goes at this level carries a warning.
  std::array<bool, kNumLevels> warn{false, true, true, true, true};
};
// True when work of `priority` (clamped to 0-4) may start at `level` (clamped to 0-4).
bool LevelAdmits(const LevelPolicy& policy, int level, int priority);

struct GuardLimits {
  LevelPolicy levels;
  std::array<Threshold, kNumGuardResources> by_resource{
      Threshold{8000, 7000}, Threshold{8000, 7000}, Threshold{8000, 7000}, Threshold{7000, 6500}};
  Threshold& operator[](GuardResource r) { return by_resource[static_cast<int>(r)]; }
  const Threshold& operator[](GuardResource r) const { return by_resource[static_cast<int>(r)]; }
};

// Host tiers and their target utilisation: large (>= 96 GB RAM) 65 %, medium (32-96 GB) 60 %,
// small (16-32 GB) 55 %, cpu-only (no GPU, or < 16 GB) 50 %. kNone keeps the seed's limits.
enum class HostTier { kNone, kAuto, kLarge, kMedium, kSmall, kCpuOnly };
Result<HostTier> ParseHostTier(std::string_view name);  // none|auto|large|medium|small|cpu-only
const char* HostTierName(HostTier tier);
// kAuto becomes a concrete tier from the machine: no GPU -> cpu-only, else by MemTotal (GB = 10^9 bytes).
HostTier ResolveTier(HostTier tier, int64_t memory_total, bool has_gpu);
// Target utilisation in basis points; 0 for kNone / kAuto.
int64_t TierTargetBp(HostTier resolved);

// Limits as configured, before the tier is resolved against a machine.
struct GuardConfig {
  HostTier tier = HostTier::kNone;
  std::array<std::optional<int64_t>, kNumGuardResources> max_bp;   // overrides
  std::array<std::optional<int64_t>, kNumGuardResources> warn_bp;  // overrides
  std::vector<std::string> paths;  // disk paths always watched (status, recommend, metrics, the host level)
  LevelPolicy levels;
};

// Reads a YAML config:
//   tier: auto
//   limits: {cpu: {max: 80, warn: 70}, memory: {max: "75%"}, disk: {max: 70, warn: 65}}
//   paths: [/data]
//   levels: {3: {min_priority: high, scale: 0.25}, 4: {min_priority: critical, scale: 0, warn: true}}
// Errors name the file, line and key.
Result<GuardConfig> LoadGuardConfig(const std::string& path);
// Applies a flag "memory=75" (or "75%", "72.5") to config as a max (warn == false) or warn threshold.
Status ApplyLimitFlag(std::string_view text, bool warn, GuardConfig* config);
// Parses a percentage "75", "75%", "72.5" (0 < p <= 100) to basis points.
Result<int64_t> ParsePercent(std::string_view text);
// Defaults, then the tier, then the overrides. Errors when a warn threshold ends up above its max.
Result<GuardLimits> ResolveLimits(const GuardConfig& config, int64_t memory_total, bool has_gpu);

// Everything a guard decision needs about the machine, at one moment.
struct HostSnapshot {
  int64_t cpu_capacity_milli = 0;  // cores × 1000, or the cgroup's cpu.max when lower
  CpuSample cpu;                   // utilisation of the host's CPUs
  LoadAvg load;
  int64_t memory_capacity = 0;  // MemTotal, or the cgroup's memory.max when lower
  int64_t memory_used = 0;      // MemTotal - MemAvailable, or the cgroup's usage when it is limited
  int64_t memory_total = 0;     // MemTotal (for the tier)
  CgroupLimits cgroup;
  std::vector<DiskUsage> disks;
  std::vector<GpuInfo> gpus;
};

struct ProbeRequest {
  std::vector<std::string> paths;  // statvfs these
  bool gpus = false;               // ask NVML (costs milliseconds when a driver is present)
};

// Where snapshots come from. Implementations may keep state between calls (the previous CPU sample).
class Prober {
 public:
  virtual ~Prober() = default;
  virtual Result<HostSnapshot> Snapshot(const ProbeRequest& request) = 0;
};

// The real machine (or recorded roots). Keeps its last /proc/stat sample so that repeated snapshots in
// one process get a CPU delta without the state file.
class SystemProber : public Prober {
 public:
  SystemProber(ProbeRoots roots, CpuSampleOptions cpu_options);
  Result<HostSnapshot> Snapshot(const ProbeRequest& request) override;

 private:
  ProbeRoots roots_;
  CpuSampleOptions cpu_options_;
  std::optional<CpuTimes> last_cpu_;
  std::chrono::steady_clock::time_point last_cpu_at_;
};

// What a job asks for. Amounts in allot's internal units (allot/resources.h).
struct GuardRequest {
  int64_t cpu_milli = 0;
  int64_t memory = 0;      // bytes
  int64_t disk = 0;        // bytes, on each of `paths` (the current directory when empty)
  int64_t gpu_memory = 0;  // bytes on one device
  std::vector<std::string> paths;
  int priority = 2;  // normal
};

// One resource's state. `id` is "cpu", "memory", "disk:<path>" or "gpu:<index>".
struct ResourceReport {
  GuardResource resource = GuardResource::kCpu;
  std::string id;
  std::string path;  // disks
  int gpu_index = -1;
  std::string model;    // gpus
  int64_t capacity = 0;  // millicores for cpu, bytes otherwise
  int64_t used = 0;
  int64_t used_bp = 0;   // used / capacity (for a GPU: the higher of memory and utilisation)
  Threshold threshold;
  int64_t headroom = 0;  // how much more fits below max (0 when over)
  int level = 0;
  std::string note;      // e.g. "cpu from load average"
};

// The level of usage `used_bp` against a maximum `max_bp` (see the header comment).
int DegradationLevel(int64_t used_bp, int64_t max_bp);
// used × 10000 / capacity, rounded up; 10000 when capacity is 0 and used > 0.
int64_t BasisPoints(int64_t used, int64_t capacity);
// Per-resource reports: cpu, memory, then the snapshot's disks and GPUs in order.
std::vector<ResourceReport> Report(const HostSnapshot& snapshot, const GuardLimits& limits);

struct Decision {
  bool go = false;
  int priority = 2;
  int level = 0;               // the highest level among the resources the request touches
  int64_t scale_bp = 10000;    // that level's scale factor (LevelPolicy::scale_bp)
  std::vector<std::string> reasons;   // why not (empty when go)
  std::vector<std::string> warnings;  // a go at a level that warns says so here
  std::vector<ResourceReport> resources;
  std::vector<std::string> waiting_for;  // resource ids that blocked
};

// The decision for `request` given `snapshot` and `reserved` (amounts already promised by this process'
// ScopedGuards but possibly not yet used). Pure.
Decision Evaluate(const HostSnapshot& snapshot, const GuardLimits& limits, const GuardRequest& request,
                  const GuardRequest& reserved = {});

struct GuardOptions {
  // Injected for tests; defaults are the steady clock, std::this_thread::sleep_for and a seeded PRNG.
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<double()> random;  // uniform in [0, 1)
  // Backoff of WaitFor: delay k (from 0) is min(max, initial × 2^k) × (0.5 + random / 2), never past
  // the deadline.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
};

class Guard {
 public:
  Guard(std::shared_ptr<Prober> prober, GuardConfig config, GuardOptions options = {});

  // One decision now.
  Result<Decision> CanProceed(const GuardRequest& request);
  // True when work of `priority` may start at the host's current degradation level (LevelAdmits).
  Result<bool> ShouldProceed(int priority);
  // The host's degradation level 0-4 now: cpu, memory, the GPUs and the configured paths' disks (/ when
  // none are configured).
  Result<int> CurrentLevel();
  // The scale factor of the host's current level, in basis points (LevelPolicy::scale_bp).
  Result<int64_t> ScaleFactorBp();
  // Re-checks with exponential backoff and jitter until the request may proceed (go == true) or `timeout`
  // passes (the last decision, go == false). `on_wait` hears each refusal and the delay before the retry.
  Result<Decision> WaitFor(const GuardRequest& request, std::chrono::milliseconds timeout,
                           const std::function<void(const Decision&, std::chrono::milliseconds)>& on_wait = {});
  // Reports for status / metrics / recommend.
  Result<std::vector<ResourceReport>> Status(const ProbeRequest& request);
  // The limits resolved against the last snapshot (tier auto needs the machine).
  Result<GuardLimits> Limits(const HostSnapshot& snapshot) const;

 private:
  friend class ScopedGuard;
  Result<std::pair<HostSnapshot, GuardLimits>> Take(const ProbeRequest& request);
  Result<std::pair<int, LevelPolicy>> HostLevelNow();
  void Reserve(const GuardRequest& r, int sign);

  std::shared_ptr<Prober> prober_;
  GuardConfig config_;
  GuardOptions options_;
  std::mutex mu_;
  GuardRequest reserved_;  // sums of held ScopedGuards' requests
};

// Holds a request's amounts as reserved in its Guard from a successful Acquire until destruction, so
// that later decisions of the same Guard count them even before the job has allocated them.
class ScopedGuard {
 public:
  // Waits up to `timeout` (0: checks once). An error when a probe fails or the request never fit (the
  // message carries the reasons, code kResourceExhausted).
  static Result<ScopedGuard> Acquire(Guard& guard, const GuardRequest& request, std::chrono::milliseconds timeout);
  ScopedGuard(ScopedGuard&& other) noexcept;
  ScopedGuard& operator=(ScopedGuard&& other) noexcept;
  ScopedGuard(const ScopedGuard&) = delete;
  ScopedGuard& operator=(const ScopedGuard&) = delete;
  ~ScopedGuard();
  const Decision& decision() const { return decision_; }

 private:
  ScopedGuard(Guard* guard, GuardRequest request, Decision decision);
  Guard* guard_ = nullptr;
  GuardRequest request_;
  Decision decision_;
};

}  // namespace allot::host
