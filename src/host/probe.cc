// /proc, /sys and statvfs probes (see allot/host.h).
#include <errno.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "allot/host.h"
#include "allot/host/text.h"

namespace allot::host {
namespace {

// Parses the next unsigned integer in `s` starting at *pos (skipping spaces); false when none.
bool NextU64(std::string_view s, size_t* pos, uint64_t* out) {
  size_t i = *pos;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
  auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), *out);
  if (ec != std::errc()) return false;
  *pos = static_cast<size_t>(p - s.data());
  return true;
}

// "MemTotal:       16310280 kB" -> bytes; the key without its colon.
std::optional<int64_t> MemInfoField(std::string_view text, std::string_view key) {
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(at, eol - at);
    at = eol + 1;
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      size_t pos = key.size() + 1;
      uint64_t v = 0;
      if (!NextU64(line, &pos, &v)) return std::nullopt;
      std::string_view rest = line.substr(pos);
      bool kb = rest.find("kB") != std::string_view::npos;
      return static_cast<int64_t>(kb ? v * 1024 : v);
    }
  }
  return std::nullopt;
}

// Reads a cgroup "max" or integer file: nullopt for "max", error text for garbage.
Result<std::optional<int64_t>> ReadMaxOrInt(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.error();
  std::string_view t = Trim(*text);
  if (t == "max") return std::optional<int64_t>();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || v < 0) {
    return InvalidArgument(path + ": expected an integer or \"max\", got \"" + std::string(t.substr(0, 40)) + "\"");
  }
  return std::optional<int64_t>(v);
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

Result<CpuTimes> ReadCpuTimes(const ProbeRoots& roots) {
  std::string path = roots.proc + "/stat";
  auto text = ReadSmallFile(path, 1 << 20);
  if (!text.ok()) return text.error();
  std::string_view s = *text;
  if (s.substr(0, 4) != "cpu ") return InvalidArgument(path + ": line 1 does not start with \"cpu \"");
  size_t pos = 4;
  uint64_t f[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int n = 0;
  while (n < 8 && NextU64(s, &pos, &f[n])) n++;
  if (n < 4) return InvalidArgument(path + ": line 1 has " + std::to_string(n) + " counters, expected at least 4");
  CpuTimes t;
  // user nice system idle iowait irq softirq steal; guest time is already counted in user.
  uint64_t idle = f[3] + f[4];
  t.busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
  t.total = t.busy + idle;
  size_t at = s.find('\n');
  while (at != std::string_view::npos && at + 4 < s.size()) {
    if (s.compare(at + 1, 3, "cpu") == 0 && s[at + 4] >= '0' && s[at + 4] <= '9') t.cores++;
    at = s.find('\n', at + 1);
  }
  if (t.cores == 0) return InvalidArgument(path + ": no per-CPU \"cpuN\" lines");
  return t;
}

Result<LoadAvg> ReadLoadAvg(const ProbeRoots& roots) {
  std::string path = roots.proc + "/loadavg";
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.error();
  LoadAvg l;
  if (std::sscanf(text->c_str(), "%lf %lf %lf", &l.one, &l.five, &l.fifteen) != 3 || l.one < 0 || l.five < 0 ||
      l.fifteen < 0) {
    return InvalidArgument(path + ": expected three load averages, got \"" + std::string(Trim(*text).substr(0, 40)) +
                           "\"");
  }
  return l;
}

Result<MemInfo> ReadMemInfo(const ProbeRoots& roots) {
  std::string path = roots.proc + "/meminfo";
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.error();
  MemInfo m;
  auto total = MemInfoField(*text, "MemTotal");
  if (!total || *total <= 0) return InvalidArgument(path + ": no usable MemTotal line");
  m.total = *total;
  if (auto avail = MemInfoField(*text, "MemAvailable")) {
    m.available = *avail;
  } else {
    // Kernels before 3.14: the classic estimate.
    auto free_b = MemInfoField(*text, "MemFree");
    if (!free_b) return InvalidArgument(path + ": neither MemAvailable nor MemFree present");
    m.available = *free_b + MemInfoField(*text, "Buffers").value_or(0) + MemInfoField(*text, "Cached").value_or(0);
  }
  if (m.available > m.total) m.available = m.total;
  return m;
}

Result<DiskUsage> ProbeDisk(const std::string& path) {
  if (path.empty()) return InvalidArgument("disk path is empty");
  struct statvfs st {};
  if (statvfs(path.c_str(), &st) != 0) {
    return InvalidArgument("disk path " + path + ": " + std::strerror(errno));
  }
  DiskUsage d;
  d.path = path;
  int64_t frag = static_cast<int64_t>(st.f_frsize ? st.f_frsize : st.f_bsize);
  d.used = static_cast<int64_t>(st.f_blocks - st.f_bfree) * frag;
  d.available = static_cast<int64_t>(st.f_bavail) * frag;
  d.capacity = d.used + d.available;
  return d;
}

Result<CgroupLimits> ReadCgroupLimits(const ProbeRoots& roots) {
  CgroupLimits c;
  std::string mount = roots.sys + "/fs/cgroup";
  if (!Exists(mount + "/cgroup.controllers")) return c;  // no unified (v2) hierarchy mounted there
  auto self = ReadSmallFile(roots.proc + "/self/cgroup");
  if (!self.ok()) return c;
  // The v2 entry is "0::/path".
  std::string_view s = *self;
  size_t at = s.find("0::");
  while (at != std::string_view::npos && at != 0 && s[at - 1] != '\n') at = s.find("0::", at + 1);
  if (at == std::string_view::npos) return c;
  size_t eol = s.find('\n', at);
  std::string rel(s.substr(at + 3, (eol == std::string_view::npos ? s.size() : eol) - at - 3));
  if (rel.empty() || rel[0] != '/') rel = "/" + rel;
  c.v2 = true;
  c.path = rel;
  // Walk from the cgroup up to the mount, keeping the tightest limits; a path that does not exist below
  // the mount (another namespace) is skipped.
  std::string dir = rel == "/" ? "" : rel;
  bool first = true;
  while (true) {
    std::string base = mount + dir;
    if (Exists(base + "/memory.max")) {
      auto mm = ReadMaxOrInt(base + "/memory.max");
      if (!mm.ok()) return mm.error();
      if (*mm && (!c.memory_max || **mm < *c.memory_max)) c.memory_max = **mm;
    }
    if (first && Exists(base + "/memory.current")) {
      auto cur = ReadMaxOrInt(base + "/memory.current");
      if (!cur.ok()) return cur.error();
      if (*cur) {
        int64_t v = **cur;
        if (auto stat = ReadSmallFile(base + "/memory.stat"); stat.ok()) {
          // memory.stat is "key value" lines; MemInfoField wants "key:", so look the key up by hand.
          std::string_view st = *stat;
          size_t k = st.find("inactive_file ");
          if (k != std::string_view::npos && (k == 0 || st[k - 1] == '\n')) {
            size_t pos = k + 14;
            uint64_t inactive = 0;
            if (NextU64(st, &pos, &inactive) && static_cast<int64_t>(inactive) <= v) v -= static_cast<int64_t>(inactive);
          }
        }
        c.memory_current = v;
      }
    }
    if (Exists(base + "/cpu.max")) {
      auto text = ReadSmallFile(base + "/cpu.max");
      if (!text.ok()) return text.error();
      char quota[32] = {0};
      long long period = 0;
      if (std::sscanf(text->c_str(), "%31s %lld", quota, &period) != 2 || period <= 0) {
        return InvalidArgument(base + "/cpu.max: expected \"QUOTA PERIOD\", got \"" + std::string(Trim(*text)) + "\"");
      }
      if (std::strcmp(quota, "max") != 0) {
        long long q = std::atoll(quota);
        if (q <= 0) return InvalidArgument(base + "/cpu.max: bad quota \"" + std::string(quota) + "\"");
        int64_t milli = (static_cast<int64_t>(q) * 1000 + period - 1) / period;
        if (!c.cpu_max_milli || milli < *c.cpu_max_milli) c.cpu_max_milli = milli;
      }
    }
    if (Exists(base)) first = false;
    if (dir.empty()) break;
    size_t slash = dir.rfind('/');
    dir = dir.substr(0, slash);
  }
  return c;
}

std::string Hostname(const ProbeRoots& roots) {
  auto text = ReadSmallFile(roots.proc + "/sys/kernel/hostname");
  if (text.ok() && !Trim(*text).empty()) return std::string(Trim(*text));
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "localhost";
}

std::optional<int64_t> CpuBusyBasisPoints(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total || after.busy < before.busy) return std::nullopt;
  uint64_t dt = after.total - before.total;
  uint64_t db = after.busy - before.busy;
  if (db > dt) db = dt;
  return static_cast<int64_t>((db * 10000 + dt / 2) / dt);
}

}  // namespace allot::host
