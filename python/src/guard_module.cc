// allot._guard: the host resource guard (allot/guard.h) as a CPython extension, for allot.guard.
//
// A thin layer: one native Guard per Python Guard object, over a SystemProber that keeps its last
// /proc/stat sample in the process (and, like `allot guard check`, in the shared state directory, so
// the first call of a fresh process gets a CPU delta when the CLI or another process sampled lately),
// behind a CachingProber that may reuse a snapshot for a few milliseconds (max_snapshot_age).
// Limits, tiers, levels and decisions are the C++ library's; nothing is re-implemented here. Amounts
// cross the boundary in allot's internal units (millicores, bytes); the Python layer converts from GB.
//
// Errors: a failed probe raises allot._guard.GuardError (a RuntimeError) with the library's message;
// bad arguments and a bad config raise ValueError. Blocking calls (wait, acquire with a timeout)
// release the GIL.
// Thread-safety: a Guard may be shared between Python threads (the library's Guard locks itself).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "allot/guard.h"
#include "allot/host.h"
#include "allot/host/report.h"
#include "allot/resources.h"
#include "allot/result.h"

namespace py = pybind11;

namespace allot::python {
namespace {

using host::GuardRequest;

// Raised for a failed probe or config; registered as allot._guard.GuardError.
class GuardFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws the error of a failed result: ValueError for bad input, GuardError otherwise.
[[noreturn]] void Raise(const Error& e) {
  if (e.code == ErrorCode::kInvalidArgument) throw std::invalid_argument(e.message);
  throw GuardFailure(e.message);
}

template <typename T>
T Take(Result<T> r) {
  if (!r.ok()) Raise(r.error());
  return std::move(r).value();
}

// The value of a probing call: any failure (a missing or malformed /proc file too) is a GuardError.
template <typename T>
T Probed(Result<T> r) {
  if (!r.ok()) throw GuardFailure(r.error().message);
  return std::move(r).value();
}

void Check(const Status& s) {
  if (!s.ok()) Raise(s.error());
}

py::dict ThresholdDict(const host::Threshold& t) {
  py::dict d;
  d["max_bp"] = t.max_bp;
  d["warn_bp"] = t.warn_bp;
  return d;
}

py::dict ReportDict(const host::ResourceReport& r) {
  py::dict d;
  d["resource"] = host::GuardResourceName(r.resource);
  d["id"] = r.id;
  d["path"] = r.path;
  d["gpu_index"] = r.gpu_index;
  d["model"] = r.model;
  d["capacity"] = r.capacity;
  d["used"] = r.used;
  d["used_bp"] = r.used_bp;
  d["max_bp"] = r.threshold.max_bp;
  d["warn_bp"] = r.threshold.warn_bp;
  d["headroom"] = r.headroom;
  d["level"] = r.level;
  d["state"] = host::ResourceState(r);
  d["note"] = r.note;
  return d;
}

py::list ReportList(const std::vector<host::ResourceReport>& reports) {
  py::list l;
  for (const auto& r : reports) l.append(ReportDict(r));
  return l;
}

py::dict DecisionDict(const host::Decision& d, bool with_resources) {
  py::dict out;
  out["go"] = d.go;
  out["priority"] = d.priority;
  out["level"] = d.level;
  out["scale"] = static_cast<double>(d.scale_bp) / 10000.0;
  out["reasons"] = d.reasons;
  out["warnings"] = d.warnings;
  out["waiting_for"] = d.waiting_for;
  if (with_resources) out["resources"] = ReportList(d.resources);
  return out;
}

// Limits as the Python layer passes them: {"memory": 75.0, ...} in percent, applied like `--limit`.
void ApplyPercents(const py::dict& percents, bool warn, host::GuardConfig* config) {
  for (const auto& [key, value] : percents) {
    std::string name = py::str(key);
    std::string text = py::str(value);
    Check(host::ApplyLimitFlag(name + "=" + text, warn, config));
  }
}

// The request of one call, in internal units.
GuardRequest MakeRequest(int64_t cpu_milli, int64_t memory, int64_t disk, int64_t gpu_memory,
                         std::vector<std::string> paths, int priority) {
  if (cpu_milli < 0 || memory < 0 || disk < 0 || gpu_memory < 0) {
    throw std::invalid_argument("resource amounts must not be negative");
  }
  if (priority < 0) throw std::invalid_argument("priority must not be negative");
  GuardRequest r;
  r.cpu_milli = cpu_milli;
  r.memory = memory;
  r.disk = disk;
  r.gpu_memory = gpu_memory;
  r.paths = std::move(paths);
  if (r.disk > 0 && r.paths.empty()) r.paths.push_back(".");
  r.priority = priority;
  return r;
}

// Reuses the inner prober's last snapshot for up to `max_age` when it covers the request (its disks and,
// if asked, the GPUs), so that checks in a tight loop do not re-read /proc each time; the answer holds
// only the disks asked for, in the order asked. max_age 0 always probes.
class CachingProber : public host::Prober {
 public:
  CachingProber(std::shared_ptr<host::Prober> inner, std::chrono::nanoseconds max_age)
      : inner_(std::move(inner)), max_age_(max_age) {}

  Result<host::HostSnapshot> Snapshot(const host::ProbeRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (cached_ && now - at_ <= max_age_ && (!request.gpus || cached_gpus_)) {
      host::HostSnapshot s = *cached_;
      s.disks.clear();
      bool covered = true;
      for (const auto& p : request.paths) {
        auto it = std::find_if(cached_->disks.begin(), cached_->disks.end(),
                               [&](const host::DiskUsage& d) { return d.path == p; });
        if (it == cached_->disks.end()) {
          covered = false;
          break;
        }
        s.disks.push_back(*it);
      }
      if (!request.gpus) s.gpus.clear();
      if (covered) return s;
    }
    auto s = inner_->Snapshot(request);
    if (s.ok() && max_age_.count() > 0) {
      cached_ = *s;
      cached_gpus_ = request.gpus;
      at_ = now;
    }
    return s;
  }

 private:
  std::shared_ptr<host::Prober> inner_;
  std::chrono::nanoseconds max_age_;
  std::mutex mu_;
  std::optional<host::HostSnapshot> cached_;
  bool cached_gpus_ = false;
  std::chrono::steady_clock::time_point at_;
};

// A held ScopedGuard: its amounts count in the Guard's later decisions until release().
class Hold {
 public:
  explicit Hold(host::ScopedGuard g) : guard_(std::move(g)) {}
  py::dict decision() const {
    if (!guard_) throw std::invalid_argument("released");
    return DecisionDict(guard_->decision(), true);
  }
  void Release() { guard_.reset(); }
  bool held() const { return guard_.has_value(); }

 private:
  std::optional<host::ScopedGuard> guard_;
};

// One Python-visible guard: a prober, a config and the library's Guard over them.
class PyGuard {
 public:
  PyGuard(const std::string& config_path, const std::string& tier, const py::dict& limits,
          const py::dict& warn, const std::vector<std::string>& paths, std::optional<std::string> state_dir,
          const std::string& proc_root, const std::string& sys_root, const std::string& gpu_file,
          double initial_backoff_s, double max_backoff_s, double max_snapshot_age_s) {
    if (!config_path.empty()) config_ = Take(host::LoadGuardConfig(config_path));
    if (!tier.empty()) config_.tier = Take(host::ParseHostTier(tier));
    ApplyPercents(limits, false, &config_);
    ApplyPercents(warn, true, &config_);
    for (const auto& p : paths) config_.paths.push_back(p);
    host::ProbeRoots roots;
    if (!proc_root.empty()) roots.proc = proc_root;
    if (!sys_root.empty()) roots.sys = sys_root;
    roots.gpu_file = gpu_file;
    host::CpuSampleOptions cpu;
    cpu.state_dir = state_dir ? *state_dir : host::DefaultStateDir();
    cpu.sample_ms = 0;
    if (!(max_snapshot_age_s >= 0) || max_snapshot_age_s > 10) {
      throw std::invalid_argument("max_snapshot_age: need 0-10 seconds");
    }
    prober_ = std::make_shared<CachingProber>(
        std::make_shared<host::SystemProber>(roots, cpu),
        std::chrono::nanoseconds(static_cast<int64_t>(max_snapshot_age_s * 1e9)));
    host::GuardOptions opts;
    if (!(initial_backoff_s > 0) || !(max_backoff_s >= initial_backoff_s) || max_backoff_s > 3600) {
      throw std::invalid_argument("backoff: need 0 < initial <= max <= 3600 seconds");
    }
    opts.initial_backoff = std::chrono::milliseconds(static_cast<int64_t>(initial_backoff_s * 1000));
    opts.max_backoff = std::chrono::milliseconds(static_cast<int64_t>(max_backoff_s * 1000));
    if (opts.initial_backoff.count() < 1) opts.initial_backoff = std::chrono::milliseconds(1);
    guard_ = std::make_unique<host::Guard>(prober_, config_, opts);
  }

  // (go, reasons, waiting_for, gpus, warnings): the fast path of can_proceed; gpus counts the GPUs probed.
  py::tuple Decide(int64_t cpu_milli, int64_t memory, int64_t disk, int64_t gpu_memory,
                   std::vector<std::string> paths, int priority) {
    GuardRequest r = MakeRequest(cpu_milli, memory, disk, gpu_memory, std::move(paths), priority);
    host::Decision d = Probed(guard_->CanProceed(r));
    int gpus = 0;
    for (const auto& rep : d.resources) gpus += rep.resource == host::GuardResource::kGpu ? 1 : 0;
    return py::make_tuple(d.go, d.reasons, d.waiting_for, gpus, d.warnings);
  }

  py::dict Evaluate(int64_t cpu_milli, int64_t memory, int64_t disk, int64_t gpu_memory,
                    std::vector<std::string> paths, int priority) {
    GuardRequest r = MakeRequest(cpu_milli, memory, disk, gpu_memory, std::move(paths), priority);
    return DecisionDict(Probed(guard_->CanProceed(r)), true);
  }

  // Backs off (GIL released) until go or timeout; the last decision.
  py::dict Wait(int64_t cpu_milli, int64_t memory, int64_t disk, int64_t gpu_memory,
                std::vector<std::string> paths, int priority, double timeout_s) {
    GuardRequest r = MakeRequest(cpu_milli, memory, disk, gpu_memory, std::move(paths), priority);
    auto timeout = TimeoutMs(timeout_s);
    std::optional<Result<host::Decision>> d;
    {
      py::gil_scoped_release unlocked;
      d.emplace(guard_->WaitFor(r, timeout));
    }
    return DecisionDict(Probed(std::move(*d)), true);
  }

  // A Hold when the request may proceed within timeout_s (GIL released while waiting), else the refusing
  // decision's reasons as a list. A failed probe raises.
  py::object Acquire(int64_t cpu_milli, int64_t memory, int64_t disk, int64_t gpu_memory,
                     std::vector<std::string> paths, int priority, double timeout_s) {
    GuardRequest r = MakeRequest(cpu_milli, memory, disk, gpu_memory, std::move(paths), priority);
    auto timeout = TimeoutMs(timeout_s);
    std::optional<Result<host::ScopedGuard>> g;
    {
      py::gil_scoped_release unlocked;
      g.emplace(host::ScopedGuard::Acquire(*guard_, r, timeout));
    }
    if (!g->ok()) {
      if (g->error().code == ErrorCode::kResourceExhausted) return py::str(g->error().message);
      throw GuardFailure(g->error().message);
    }
    return py::cast(Hold(std::move(*g).value()));
  }

  int Level() { return Probed(guard_->CurrentLevel()); }
  double ScaleFactor() { return static_cast<double>(Probed(guard_->ScaleFactorBp())) / 10000.0; }
  bool ShouldProceed(int priority) {
    if (priority < 0) throw std::invalid_argument("priority must not be negative");
    return Probed(guard_->ShouldProceed(priority));
  }

  // Reports for status: cpu, memory, the disks of `paths` (the configured paths, else "/") and the GPUs.
  py::dict Status(std::vector<std::string> paths, bool gpus) {
    auto snap = Snapshot(std::move(paths), gpus);
    host::GuardLimits limits = Probed(guard_->Limits(snap));
    auto reports = host::Report(snap, limits);
    py::dict out;
    int level = host::HostLevel(reports);
    out["level"] = level;
    out["scale"] = static_cast<double>(limits.levels.scale_bp[static_cast<size_t>(level)]) / 10000.0;
    out["tier"] = TierName(snap);
    out["resources"] = ReportList(reports);
    py::dict load;
    load["one"] = snap.load.one;
    load["five"] = snap.load.five;
    load["fifteen"] = snap.load.fifteen;
    out["load"] = load;
    out["cpu_source"] = snap.cpu.source;
    out["gpus"] = static_cast<int>(snap.gpus.size());
    return out;
  }

  // `allot guard status --json`'s document, as JSON text.
  std::string StatusJson(std::vector<std::string> paths) {
    auto snap = Snapshot(std::move(paths), true);
    host::GuardLimits limits = Probed(guard_->Limits(snap));
    return host::StatusJson(host::Report(snap, limits), &snap, TierName(snap), limits.levels)
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  // `allot guard status`'s table plus its level line.
  std::string StatusTable(std::vector<std::string> paths) {
    auto snap = Snapshot(std::move(paths), true);
    host::GuardLimits limits = Probed(guard_->Limits(snap));
    auto reports = host::Report(snap, limits);
    std::string out = host::StatusTable(reports);
    char load[96];
    std::snprintf(load, sizeof load, "%g %g %g", snap.load.one, snap.load.five, snap.load.fifteen);
    out += "level " + std::to_string(host::HostLevel(reports)) + " (tier " + TierName(snap) + ", load " +
           load + (snap.gpus.empty() ? ", no GPU" : "") + ")\n";
    return out;
  }

  std::vector<std::string> Recommendations(std::vector<std::string> paths) {
    auto snap = Snapshot(std::move(paths), true);
    host::GuardLimits limits = Probed(guard_->Limits(snap));
    return host::Recommendations(host::Report(snap, limits), snap.load);
  }

  // The resolved limits per resource, in basis points, and the tier.
  py::dict Limits() {
    auto snap = Snapshot({}, false);
    host::GuardLimits limits = Probed(guard_->Limits(snap));
    py::dict out;
    for (int i = 0; i < host::kNumGuardResources; i++) {
      auto r = static_cast<host::GuardResource>(i);
      out[host::GuardResourceName(r)] = ThresholdDict(limits[r]);
    }
    out["tier"] = TierName(snap);
    return out;
  }

 private:
  static std::chrono::milliseconds TimeoutMs(double s) {
    if (!(s >= 0) || s > 1e7) throw std::invalid_argument("timeout must be between 0 and 1e7 seconds");
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
  }

  host::HostSnapshot Snapshot(std::vector<std::string> paths, bool gpus) {
    if (paths.empty()) paths = config_.paths;
    if (paths.empty()) paths.push_back("/");
    return Probed(prober_->Snapshot({std::move(paths), gpus}));
  }

  std::string TierName(const host::HostSnapshot& snap) const {
    std::string t = host::HostTierName(config_.tier);
    if (config_.tier == host::HostTier::kAuto) {
      t += ":" + std::string(host::HostTierName(
                     host::ResolveTier(config_.tier, snap.memory_total, !snap.gpus.empty())));
    }
    return t;
  }

  host::GuardConfig config_;
  std::shared_ptr<CachingProber> prober_;
  std::unique_ptr<host::Guard> guard_;
};

}  // namespace
}  // namespace allot::python

PYBIND11_MODULE(_guard, m) {
  using allot::python::GuardFailure;
  using allot::python::Hold;
  using allot::python::PyGuard;
  namespace host = allot::host;
  m.doc() = "allot's host resource guard (native); use allot.guard";
  py::register_exception<GuardFailure>(m, "GuardError", PyExc_RuntimeError);

  py::class_<Hold>(m, "Hold")
      .def_property_readonly("decision", &Hold::decision)
      .def_property_readonly("held", &Hold::held)
      .def("release", &Hold::Release);

  py::class_<PyGuard>(m, "Guard")
      .def(py::init<const std::string&, const std::string&, const py::dict&, const py::dict&,
                    const std::vector<std::string>&, std::optional<std::string>, const std::string&,
                    const std::string&, const std::string&, double, double, double>(),
           py::arg("config") = "", py::arg("tier") = "", py::arg("limits") = py::dict(),
           py::arg("warn") = py::dict(), py::arg("paths") = std::vector<std::string>{},
           py::arg("state_dir") = py::none(), py::arg("proc_root") = "", py::arg("sys_root") = "",
           py::arg("gpu_file") = "", py::arg("initial_backoff") = 0.5, py::arg("max_backoff") = 30.0,
           py::arg("max_snapshot_age") = 0.0)
      .def("decide", &PyGuard::Decide, py::arg("cpu_milli"), py::arg("memory"), py::arg("disk"),
           py::arg("gpu_memory"), py::arg("paths"), py::arg("priority"))
      .def("evaluate", &PyGuard::Evaluate, py::arg("cpu_milli"), py::arg("memory"), py::arg("disk"),
           py::arg("gpu_memory"), py::arg("paths"), py::arg("priority"))
      .def("wait", &PyGuard::Wait, py::arg("cpu_milli"), py::arg("memory"), py::arg("disk"),
           py::arg("gpu_memory"), py::arg("paths"), py::arg("priority"), py::arg("timeout"))
      .def("acquire", &PyGuard::Acquire, py::arg("cpu_milli"), py::arg("memory"), py::arg("disk"),
           py::arg("gpu_memory"), py::arg("paths"), py::arg("priority"), py::arg("timeout"))
      .def("level", &PyGuard::Level)
      .def("scale_factor", &PyGuard::ScaleFactor)
      .def("should_proceed", &PyGuard::ShouldProceed, py::arg("priority"))
      .def("status", &PyGuard::Status, py::arg("paths") = std::vector<std::string>{}, py::arg("gpus") = true)
      .def("status_json", &PyGuard::StatusJson, py::arg("paths") = std::vector<std::string>{})
      .def("status_table", &PyGuard::StatusTable, py::arg("paths") = std::vector<std::string>{})
      .def("recommendations", &PyGuard::Recommendations, py::arg("paths") = std::vector<std::string>{})
      .def("limits", &PyGuard::Limits);

  m.def("degradation_level", &host::DegradationLevel, py::arg("used_bp"), py::arg("max_bp"),
        "The level 0-4 of usage used_bp against max_bp (basis points).");
  m.def(
      "tier_target_bp",
      [](const std::string& name) {
        auto t = allot::python::Take(host::ParseHostTier(name));
        return host::TierTargetBp(t);
      },
      py::arg("tier"), "Target utilisation of a concrete tier in basis points (0 for none/auto).");
  m.def(
      "resolve_tier",
      [](const std::string& name, int64_t memory_total, bool has_gpu) {
        auto t = allot::python::Take(host::ParseHostTier(name));
        return std::string(host::HostTierName(host::ResolveTier(t, memory_total, has_gpu)));
      },
      py::arg("tier"), py::arg("memory_total"), py::arg("has_gpu"),
      "The concrete tier of `tier` (auto: from the machine's memory in bytes and GPU presence).");
  m.def(
      "parse_amount",
      [](const std::string& resource, const std::string& text) {
        return allot::python::Take(allot::ParseResourceAmount(allot::CanonicalResourceName(resource), text));
      },
      py::arg("resource"), py::arg("text"),
      "A Kubernetes quantity in allot's internal units (millicores, bytes).");
  m.def(
      "parse_priority",
      [](const std::string& text) { return allot::python::Take(allot::ParsePriority(text)); },
      py::arg("text"));
  m.def("default_state_dir", &host::DefaultStateDir);
}
