// CPU utilisation for short-lived processes: a delta against the previous /proc/stat sample kept in a
// state file, a short sampling window, or the load average (see SampleCpu in allot/host.h).
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "allot/host.h"
#include "allot/host/text.h"

namespace allot::host {
namespace {

constexpr int64_t kMinWindowNs = 20'000'000;      // below this, tick granularity (10 ms) dominates
constexpr int64_t kMaxWindowNs = 120'000'000'000;  // older samples describe another moment

int64_t BootNanos() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct State {
  int64_t at_ns = 0;
  CpuTimes times;
  int64_t last_bp = -1;
  std::string last_source;
  int64_t last_window_ms = 0;
};

std::string StatePath(const std::string& dir) { return dir + "/cpu-sample"; }

// Line 1: the proc root the sample came from; line 2: at_ns busy total last_bp last_source last_window_ms.
std::optional<State> LoadState(const std::string& dir, const std::string& proc_root) {
  auto text = ReadSmallFile(StatePath(dir));
  if (!text.ok()) return std::nullopt;
  size_t nl = text->find('\n');
  if (nl == std::string::npos || text->substr(0, nl) != proc_root) return std::nullopt;
  State s;
  char source[32] = {0};
  unsigned long long busy = 0, total = 0;
  long long at = 0, bp = 0, window = 0;
  if (std::sscanf(text->c_str() + nl + 1, "%lld %llu %llu %lld %31s %lld", &at, &busy, &total, &bp, source, &window) != 6) {
    return std::nullopt;
  }
  s.at_ns = at;
  s.times.busy = busy;
  s.times.total = total;
  s.last_bp = bp;
  s.last_source = source;
  s.last_window_ms = window;
  return s;
}

void SaveState(const std::string& dir, const std::string& proc_root, const State& s) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return;  // best effort: no state, no delta
  char tmp_name[64];
  std::snprintf(tmp_name, sizeof tmp_name, "/cpu-sample.%d.tmp", static_cast<int>(getpid()));
  std::string tmp = dir + tmp_name;
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  char line[256];
  int n = std::snprintf(line, sizeof line, "%lld %llu %llu %lld %s %lld\n", static_cast<long long>(s.at_ns),
                        static_cast<unsigned long long>(s.times.busy), static_cast<unsigned long long>(s.times.total),
                        static_cast<long long>(s.last_bp), s.last_source.c_str(), static_cast<long long>(s.last_window_ms));
  std::string body = proc_root + "\n" + std::string(line, static_cast<size_t>(n));
  bool ok = write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size());
  close(fd);
  if (!ok || rename(tmp.c_str(), StatePath(dir).c_str()) != 0) unlink(tmp.c_str());
}

}  // namespace

std::string DefaultStateDir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/allot";
  return "/tmp/allot-" + std::to_string(getuid());
}

Result<CpuSample> SampleCpu(const ProbeRoots& roots, const CpuTimes& now, const CpuSampleOptions& options) {
  int64_t at = BootNanos();
  CpuSample out;
  std::optional<State> prev;
  if (!options.state_dir.empty()) prev = LoadState(options.state_dir, roots.proc);
  bool have = false;
  bool save = true;
  if (prev) {
    int64_t age = at - prev->at_ns;
    if (age >= kMinWindowNs && age <= kMaxWindowNs) {
      if (auto bp = CpuBusyBasisPoints(prev->times, now)) {
        out = {*bp, "stat-delta", age / 1'000'000};
        have = true;
      }
    } else if (age >= 0 && age < kMinWindowNs && prev->last_bp >= 0) {
      // Too soon for a new delta: repeat the last answer and keep the older sample as the base.
      out = {prev->last_bp, prev->last_source, prev->last_window_ms};
      have = true;
      save = false;
    }
  }
  CpuTimes latest = now;
  if (!have && options.sample_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(options.sample_ms));
    auto again = ReadCpuTimes(roots);
    if (!again.ok()) return again.error();
    if (auto bp = CpuBusyBasisPoints(now, *again)) {
      out = {*bp, "stat-delta", options.sample_ms};
      have = true;
      latest = *again;
      at = BootNanos();
    }
  }
  if (!have) {
    auto load = ReadLoadAvg(roots);
    if (!load.ok()) return load.error();
    double per_core = now.cores > 0 ? load->one / now.cores : 1.0;
    if (per_core > 1.0) per_core = 1.0;
    out = {static_cast<int64_t>(per_core * 10000 + 0.5), "loadavg", 60000};
  }
  if (save && !options.state_dir.empty()) {
    State s;
    s.at_ns = at;
    s.times = latest;
    s.last_bp = out.used_bp;
    s.last_source = out.source;
    s.last_window_ms = out.window_ms;
    SaveState(options.state_dir, roots.proc, s);
  }
  return out;
}

}  // namespace allot::host
