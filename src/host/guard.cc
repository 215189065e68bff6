// Guard decisions: reports, levels, Evaluate, the SystemProber, Guard and ScopedGuard (see allot/guard.h).
#include "allot/guard.h"

#include <algorithm>
#include <random>
#include <thread>

#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/host/report.h"
#include "allot/host/text.h"

namespace allot::host {
namespace {

int64_t ShareOf(int64_t capacity, int64_t bp) { return static_cast<int64_t>(static_cast<__int128>(capacity) * bp / 10000); }

std::string Amount(GuardResource r, int64_t v) {
  return r == GuardResource::kCpu ? HumanCores(v) + " cores" : HumanBytes(v);
}

std::string LevelText(const ResourceReport& rep) {
  return rep.id + ": at " + FormatPercent(rep.used_bp) + " % (level " + std::to_string(rep.level) + " " +
         LevelName(rep.level) + ", limit " + FormatPercent(rep.threshold.max_bp) + " %)";
}

std::string LevelReason(const ResourceReport& rep, const LevelPolicy& policy, int priority) {
  int need = policy.min_priority[static_cast<size_t>(std::clamp(rep.level, 0, kNumLevels - 1))];
  std::string gate = need > 4 ? "nothing starts at this level"
                              : "only " + PriorityName(need) + " priority work and above starts at this level";
  return LevelText(rep) + ": " + gate + "; " + PriorityName(priority) + " priority work waits";
}

// Checks one resource for `request` more (plus `reserved`); appends a reason when it does not fit.
bool Fits(const ResourceReport& rep, const LevelPolicy& policy, int64_t request, int64_t reserved, int priority,
          std::string* why) {
  if (!LevelAdmits(policy, rep.level, priority)) {
    *why = LevelReason(rep, policy, priority);
    return false;
  }
  int64_t allowed = priority >= 4 ? rep.capacity : ShareOf(rep.capacity, rep.threshold.max_bp);
  int64_t after = rep.used + reserved + request;
  if (after <= allowed) return true;
  std::string what = rep.id + ": " + Amount(rep.resource, rep.used) + " used";
  if (reserved > 0) what += " + " + Amount(rep.resource, reserved) + " reserved";
  if (request > 0) what += " + " + Amount(rep.resource, request) + " requested";
  what += " = " + FormatPercent(BasisPoints(after, rep.capacity)) + " % of " + Amount(rep.resource, rep.capacity);
  *why = what + (priority >= 4 ? ", more than there is" : ", over the " + FormatPercent(rep.threshold.max_bp) + " % limit");
  return false;
}

}  // namespace

const char* LevelName(int level) {
  static const char* names[kNumLevels] = {"normal", "light", "moderate", "heavy", "critical"};
  return level >= 0 && level < kNumLevels ? names[level] : "?";
}

bool LevelAdmits(const LevelPolicy& policy, int level, int priority) {
  return std::clamp(priority, 0, 4) >= policy.min_priority[static_cast<size_t>(std::clamp(level, 0, kNumLevels - 1))];
}

int DegradationLevel(int64_t used_bp, int64_t max_bp) {
  // r = used / max; compare used × 100 with max × {70, 85, 95, 100} to stay in integers.
  int64_t u = used_bp * 100;
  if (u >= max_bp * 100) return 4;
  if (u >= max_bp * 95) return 3;
  if (u >= max_bp * 85) return 2;
  if (u >= max_bp * 70) return 1;
  return 0;
}

int64_t BasisPoints(int64_t used, int64_t capacity) {
  if (capacity <= 0) return used > 0 ? 10000 : 0;
  __int128 n = static_cast<__int128>(used) * 10000;
  return static_cast<int64_t>((n + capacity - 1) / capacity);
}

std::vector<ResourceReport> Report(const HostSnapshot& s, const GuardLimits& limits) {
  std::vector<ResourceReport> out;
  auto finish = [&](ResourceReport& r) {
    r.threshold = limits[r.resource];
    r.headroom = std::max<int64_t>(0, ShareOf(r.capacity, r.threshold.max_bp) - r.used);
    r.level = DegradationLevel(r.used_bp, r.threshold.max_bp);
    out.push_back(r);
  };
  ResourceReport cpu;
  cpu.resource = GuardResource::kCpu;
  cpu.id = "cpu";
  cpu.capacity = s.cpu_capacity_milli;
  cpu.used_bp = s.cpu.used_bp;
  cpu.used = ShareOf(cpu.capacity, cpu.used_bp);
  cpu.note = s.cpu.source == "loadavg" ? "from the 1-minute load average" : "over " + std::to_string(s.cpu.window_ms) + " ms";
  finish(cpu);
  ResourceReport mem;
  mem.resource = GuardResource::kMemory;
  mem.id = "memory";
  mem.capacity = s.memory_capacity;
  mem.used = s.memory_used;
  mem.used_bp = BasisPoints(mem.used, mem.capacity);
  if (s.cgroup.memory_max && *s.cgroup.memory_max < s.memory_total) mem.note = "cgroup memory.max";
  finish(mem);
  for (const auto& d : s.disks) {
    ResourceReport r;
    r.resource = GuardResource::kDisk;
    r.id = "disk:" + d.path;
    r.path = d.path;
    r.capacity = d.capacity;
    r.used = d.used;
    r.used_bp = BasisPoints(d.used, d.capacity);
    finish(r);
  }
  for (const auto& g : s.gpus) {
    ResourceReport r;
    r.resource = GuardResource::kGpu;
    r.id = "gpu:" + std::to_string(g.index);
    r.gpu_index = g.index;
    r.model = g.model;
    r.capacity = g.memory_total;
    r.used = g.memory_used;
    r.used_bp = std::max<int64_t>(BasisPoints(g.memory_used, g.memory_total), int64_t{g.utilization} * 100);
    r.note = "utilization " + std::to_string(g.utilization) + " %";
    finish(r);
  }
  return out;
}

Decision Evaluate(const HostSnapshot& s, const GuardLimits& limits, const GuardRequest& req, const GuardRequest& reserved) {
  Decision d;
  d.priority = std::clamp(req.priority, 0, 4);
  d.resources = Report(s, limits);
  std::string why;
  auto refuse = [&](const std::string& id, std::string reason) {
    d.reasons.push_back(std::move(reason));
    d.waiting_for.push_back(id);
  };
  bool any_gpu_fits = false;
  std::string gpu_why;
  for (const auto& rep : d.resources) {
    switch (rep.resource) {
      case GuardResource::kCpu:
        if (!Fits(rep, limits.levels, req.cpu_milli, reserved.cpu_milli, d.priority, &why)) refuse(rep.id, why);
        else if (s.cgroup.cpu_max_milli && req.cpu_milli + reserved.cpu_milli > *s.cgroup.cpu_max_milli) {
          refuse(rep.id, "cpu: " + FormatMilli(req.cpu_milli) + " requested is more than the cgroup's cpu.max (" +
                             FormatMilli(*s.cgroup.cpu_max_milli) + ")");
        }
        break;
      case GuardResource::kMemory:
        if (!Fits(rep, limits.levels, req.memory, reserved.memory, d.priority, &why)) refuse(rep.id, why);
        break;
      case GuardResource::kDisk: {
        bool asked = std::find(req.paths.begin(), req.paths.end(), rep.path) != req.paths.end();
        if (asked && !Fits(rep, limits.levels, req.disk, reserved.disk, d.priority, &why)) refuse(rep.id, why);
        break;
      }
      case GuardResource::kGpu:
        if (req.gpu_memory > 0) {
          if (Fits(rep, limits.levels, req.gpu_memory, reserved.gpu_memory, d.priority, &why)) any_gpu_fits = true;
          else if (gpu_why.empty()) gpu_why = why;
        }
        break;
    }
  }
  if (req.gpu_memory > 0 && !any_gpu_fits) {
    if (s.gpus.empty()) refuse("gpu", "gpu: " + HumanBytes(req.gpu_memory) + " of GPU memory requested, but no GPU was found (NVML not loadable, no driver or no device)");
    else refuse("gpu", gpu_why + (s.gpus.size() > 1 ? " (and no other GPU fits)" : ""));
  }
  // The level that gates this request: the highest among the resources it touches (all GPUs when it asks
  // for GPU memory, though one fitting device suffices).
  const ResourceReport* worst = nullptr;
  for (const auto& rep : d.resources) {
    bool touched = rep.resource == GuardResource::kCpu || rep.resource == GuardResource::kMemory ||
                   (rep.resource == GuardResource::kGpu && req.gpu_memory > 0) ||
                   (rep.resource == GuardResource::kDisk &&
                    std::find(req.paths.begin(), req.paths.end(), rep.path) != req.paths.end());
    if (touched && (worst == nullptr || rep.level > worst->level)) worst = &rep;
  }
  if (worst != nullptr) d.level = worst->level;
  d.scale_bp = limits.levels.scale_bp[static_cast<size_t>(d.level)];
  d.go = d.reasons.empty();
  if (d.go && worst != nullptr && limits.levels.warn[static_cast<size_t>(d.level)]) {
    d.warnings.push_back(LevelText(*worst) + ": continuing; running work should scale to " +
                         FormatPercent(d.scale_bp) + " % of its normal amount");
  }
  return d;
}

SystemProber::SystemProber(ProbeRoots roots, CpuSampleOptions cpu_options)
    : roots_(std::move(roots)), cpu_options_(std::move(cpu_options)) {}

Result<HostSnapshot> SystemProber::Snapshot(const ProbeRequest& request) {
  HostSnapshot s;
  auto times = ReadCpuTimes(roots_);
  if (!times.ok()) return times.error();
  auto load = ReadLoadAvg(roots_);
  if (!load.ok()) return load.error();
  s.load = *load;
  auto now = std::chrono::steady_clock::now();
  std::optional<int64_t> delta;
  if (last_cpu_ && now - last_cpu_at_ >= std::chrono::milliseconds(20)) delta = CpuBusyBasisPoints(*last_cpu_, *times);
  if (delta) {
    s.cpu = {*delta, "stat-delta",
             std::chrono::duration_cast<std::chrono::milliseconds>(now - last_cpu_at_).count()};
  } else {
    auto cpu = SampleCpu(roots_, *times, cpu_options_);
    if (!cpu.ok()) return cpu.error();
    s.cpu = *cpu;
  }
  if (!last_cpu_ || delta) {
    last_cpu_ = *times;
    last_cpu_at_ = now;
  }
  auto mem = ReadMemInfo(roots_);
  if (!mem.ok()) return mem.error();
  auto cg = ReadCgroupLimits(roots_);
  if (!cg.ok()) return cg.error();
  s.cgroup = *cg;
  s.cpu_capacity_milli = int64_t{times->cores} * 1000;
  s.memory_total = mem->total;
  s.memory_capacity = mem->total;
  s.memory_used = mem->total - mem->available;
  if (cg->memory_max && *cg->memory_max < mem->total) {
    s.memory_capacity = *cg->memory_max;
    if (cg->memory_current) s.memory_used = std::min(*cg->memory_current, s.memory_capacity);
  }
  for (const auto& p : request.paths) {
    auto d = ProbeDisk(p);
    if (!d.ok()) return d.error();
    s.disks.push_back(*d);
  }
  if (request.gpus) {
    auto g = ProbeGpus(roots_);
    if (!g.ok()) return g.error();
    s.gpus = std::move(*g);
  }
  return s;
}

Guard::Guard(std::shared_ptr<Prober> prober, GuardConfig config, GuardOptions options)
    : prober_(std::move(prober)), config_(std::move(config)), options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return std::chrono::steady_clock::now(); };
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (!options_.random) {
    options_.random = [] {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    };
  }
}

Result<GuardLimits> Guard::Limits(const HostSnapshot& s) const {
  return ResolveLimits(config_, s.memory_total, !s.gpus.empty());
}

Result<std::pair<HostSnapshot, GuardLimits>> Guard::Take(const ProbeRequest& request) {
  ProbeRequest r = request;
  if (config_.tier == HostTier::kAuto) r.gpus = true;  // the tier depends on whether there is a GPU
  Result<HostSnapshot> s = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return prober_->Snapshot(r);
  }();
  if (!s.ok()) return s.error();
  auto limits = Limits(*s);
  if (!limits.ok()) return limits.error();
  return std::make_pair(std::move(*s), *limits);
}

void Guard::Reserve(const GuardRequest& r, int sign) {
  std::lock_guard<std::mutex> lock(mu_);
  reserved_.cpu_milli += sign * r.cpu_milli;
  reserved_.memory += sign * r.memory;
  reserved_.disk += sign * r.disk;
  reserved_.gpu_memory += sign * r.gpu_memory;
}

Result<Decision> Guard::CanProceed(const GuardRequest& request) {
  GuardRequest req = request;
  if (req.cpu_milli < 0 || req.memory < 0 || req.disk < 0 || req.gpu_memory < 0) {
    return InvalidArgument("requested amounts must not be negative");
  }
  if (req.disk > 0 && req.paths.empty()) req.paths.push_back(".");
  auto taken = Take({req.paths, req.gpu_memory > 0});
  if (!taken.ok()) return taken.error();
  GuardRequest reserved;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reserved = reserved_;
  }
  return Evaluate(taken->first, taken->second, req, reserved);
}

Result<std::pair<int, LevelPolicy>> Guard::HostLevelNow() {
  auto taken = Take({config_.paths.empty() ? std::vector<std::string>{"/"} : config_.paths, true});
  if (!taken.ok()) return taken.error();
  return std::make_pair(HostLevel(Report(taken->first, taken->second)), taken->second.levels);
}

Result<int> Guard::CurrentLevel() {
  auto level = HostLevelNow();
  if (!level.ok()) return level.error();
  return level->first;
}

Result<int64_t> Guard::ScaleFactorBp() {
  auto level = HostLevelNow();
  if (!level.ok()) return level.error();
  return level->second.scale_bp[static_cast<size_t>(level->first)];
}

Result<bool> Guard::ShouldProceed(int priority) {
  auto level = HostLevelNow();
  if (!level.ok()) return level.error();
  return LevelAdmits(level->second, level->first, priority);
}

Result<std::vector<ResourceReport>> Guard::Status(const ProbeRequest& request) {
  auto taken = Take(request);
  if (!taken.ok()) return taken.error();
  return Report(taken->first, taken->second);
}

Result<Decision> Guard::WaitFor(const GuardRequest& request, std::chrono::milliseconds timeout,
                                const std::function<void(const Decision&, std::chrono::milliseconds)>& on_wait) {
  auto deadline = options_.now() + timeout;
  for (int attempt = 0;; attempt++) {
    auto d = CanProceed(request);
    if (!d.ok() || d->go) return d;
    auto now = options_.now();
    if (now >= deadline) return d;
    int shift = std::min(attempt, 30);
    int64_t base = std::min<int64_t>(options_.max_backoff.count(), options_.initial_backoff.count() << shift);
    auto delay = std::chrono::milliseconds(static_cast<int64_t>(base * (0.5 + options_.random() / 2)));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (delay > left) delay = left;
    if (delay < std::chrono::milliseconds(1)) delay = std::chrono::milliseconds(1);
    if (on_wait) on_wait(*d, delay);
    options_.sleep(delay);
  }
}

ScopedGuard::ScopedGuard(Guard* guard, GuardRequest request, Decision decision)
    : guard_(guard), request_(std::move(request)), decision_(std::move(decision)) {
  guard_->Reserve(request_, +1);
}

ScopedGuard::ScopedGuard(ScopedGuard&& o) noexcept
    : guard_(std::exchange(o.guard_, nullptr)), request_(std::move(o.request_)), decision_(std::move(o.decision_)) {}

ScopedGuard& ScopedGuard::operator=(ScopedGuard&& o) noexcept {
  if (this != &o) {
    if (guard_ != nullptr) guard_->Reserve(request_, -1);
    guard_ = std::exchange(o.guard_, nullptr);
    request_ = std::move(o.request_);
    decision_ = std::move(o.decision_);
  }
  return *this;
}

ScopedGuard::~ScopedGuard() {
  if (guard_ != nullptr) guard_->Reserve(request_, -1);
}

Result<ScopedGuard> ScopedGuard::Acquire(Guard& guard, const GuardRequest& request, std::chrono::milliseconds timeout) {
  auto d = guard.WaitFor(request, timeout);
  if (!d.ok()) return d.error();
  if (!d->go) {
    std::string msg;
    for (const auto& r : d->reasons) msg += (msg.empty() ? "" : "; ") + r;
    return ResourceExhausted(msg);
  }
  return ScopedGuard(&guard, request, std::move(*d));
}

}  // namespace allot::host
