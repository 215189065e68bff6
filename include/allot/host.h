// Host probes: what this machine has and uses, read without external tools.
//
// CPU from /proc/stat (counters; utilisation is the delta of two samples) and /proc/loadavg, memory from
// /proc/meminfo (MemAvailable), disks from statvfs(2), cgroup v2 limits from /proc/self/cgroup and
// <sys>/fs/cgroup/<path>/{memory.max,memory.current,memory.stat,cpu.max}, GPUs from NVML loaded at run time
// with dlopen("libnvidia-ml.so.1"): no library, no driver, no device or any NVML error all mean "no GPU".
// ProbeRoots redirects /proc and /sys so tests feed recorded files; a recorded GPU list (JSON) can replace
// NVML the same way.
// Units: bytes for memory and disk, millicores for CPU, percent 0-100 for GPU utilisation.
// Thread-safety: every function is reentrant; nothing is cached between calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "allot/result.h"

namespace allot::host {

struct ProbeRoots {
  std::string proc = "/proc";  // where stat, loadavg, meminfo, self/cgroup, sys/kernel/hostname live
  std::string sys = "/sys";    // where fs/cgroup lives
  std::string gpu_file;        // non-empty: read GPUs from this JSON file instead of NVML
};

// Cumulative CPU time of the whole host, in USER_HZ ticks, from the "cpu" line of /proc/stat.
struct CpuTimes {
  uint64_t busy = 0;   // user + nice + system + irq + softirq + steal
  uint64_t total = 0;  // busy + idle + iowait
  int cores = 0;       // number of "cpuN" lines
};

struct LoadAvg {
  double one = 0, five = 0, fifteen = 0;
};

struct MemInfo {
  int64_t total = 0;      // MemTotal, bytes
  int64_t available = 0;  // MemAvailable, bytes (MemFree + Buffers + Cached on kernels without it)
};

struct DiskUsage {
  std::string path;
  int64_t capacity = 0;   // used + available to unprivileged users (as df computes Use%), bytes
  int64_t used = 0;       // (blocks - free) × fragment size, bytes
  int64_t available = 0;  // bavail × fragment size, bytes
};

// cgroup v2 limits of this process' cgroup (the tightest along its path). Absent fields: no limit or no
// cgroup v2 at all.
struct CgroupLimits {
  bool v2 = false;
  std::optional<int64_t> memory_max;      // bytes
  std::optional<int64_t> memory_current;  // bytes, minus inactive_file from memory.stat (as kubelet does)
  std::optional<int64_t> cpu_max_milli;   // quota / period × 1000
  std::string path;                       // the cgroup's path below the cgroup2 mount ("/" at the root)
};

struct GpuInfo {
  int index = 0;
  std::string model;
  int64_t memory_total = 0;  // bytes
  int64_t memory_used = 0;   // bytes
  int utilization = 0;       // percent of time a kernel ran, 0-100
};

// Probe functions. Each returns an error naming the file and the problem when a file is missing or
// malformed; a guard must treat such an error as "do not proceed".
Result<CpuTimes> ReadCpuTimes(const ProbeRoots& roots);
Result<LoadAvg> ReadLoadAvg(const ProbeRoots& roots);
Result<MemInfo> ReadMemInfo(const ProbeRoots& roots);
Result<DiskUsage> ProbeDisk(const std::string& path);
// Never fails for lack of cgroup v2 (that gives v2 == false); fails on malformed files only.
Result<CgroupLimits> ReadCgroupLimits(const ProbeRoots& roots);
// NVML devices, or the recorded list when roots.gpu_file is set (an error only for a bad recorded file).
Result<std::vector<GpuInfo>> ProbeGpus(const ProbeRoots& roots);
// Node name: <proc>/sys/kernel/hostname, else gethostname(2).
std::string Hostname(const ProbeRoots& roots);

// Utilisation between two samples in basis points (0-10000), or nullopt when no time passed between them.
std::optional<int64_t> CpuBusyBasisPoints(const CpuTimes& before, const CpuTimes& after);

// CPU utilisation with its source, for commands that cannot wait between two samples.
struct CpuSample {
  int64_t used_bp = 0;  // 0-10000 of the host's capacity
  std::string source;   // "stat-delta" (two /proc/stat samples) or "loadavg" (1-min load / cores, capped)
  int64_t window_ms = 0;
};

// Options for SampleCpu.
struct CpuSampleOptions {
  // Directory for the last /proc/stat sample, shared between processes so that a short-lived `allot guard
  // check` gets a real delta from the previous call. Empty: no state file.
  std::string state_dir;
  // With no usable previous sample (none, younger than 20 ms, older than 120 s): sleep this long and take
  // a second sample; 0 falls back to the load average instead.
  int sample_ms = 0;
};

// CPU utilisation now: delta against the state file's sample when fresh, else a short sampling window,
// else load average / cores. Writes the new sample to the state file (atomically, by rename).
Result<CpuSample> SampleCpu(const ProbeRoots& roots, const CpuTimes& now, const CpuSampleOptions& options);

// Default state directory: $XDG_RUNTIME_DIR/allot, else /tmp/allot-<uid>.
std::string DefaultStateDir();

}  // namespace allot::host
