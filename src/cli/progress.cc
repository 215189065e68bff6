#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

#include "allot/duration.h"

namespace allot::cli {
namespace {

constexpr auto kRedraw = std::chrono::milliseconds(100);
constexpr double kRateAfterSeconds = 0.5;  // a rate over less than this is noise

// "12.3 MiB" for byte counts, the plain number otherwise.
std::string Amount(uint64_t v, bool bytes) {
  if (!bytes) return std::to_string(v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(v) / (1024.0 * 1024.0));
  return buf;
}

size_t TerminalWidth(int fd) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) return ws.ws_col;
  return 80;
}

}  // namespace

ProgressLine::ProgressLine(bool quiet, int fd) : fd_(fd) { enabled_ = !quiet && isatty(fd) != 0; }

ProgressFn ProgressLine::Fn() {
  if (!enabled_) return {};
  return [this](const ProgressStep& step) { Update(step); };
}

std::string ProgressLine::Text(const ProgressStep& s, double secs, size_t width) {
  const bool bytes = s.unit == "bytes";
  std::string t = std::string(s.phase) + ":";
  if (s.total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.1f%%",
                  100.0 * static_cast<double>(s.done) / static_cast<double>(s.total));
    if (s.unit.empty()) {
      t += std::string(" ") + pct;
    } else {
      t += " " + Amount(s.done, bytes) + "/" + Amount(s.total, bytes) +
           (bytes ? "" : " " + std::string(s.unit)) + " (" + pct + ")";
    }
  } else if (!s.unit.empty()) {
    t += " " + Amount(s.done, bytes) + (bytes ? "" : " " + std::string(s.unit));
  }
  if (secs >= kRateAfterSeconds && s.done > 0) {
    double rate = static_cast<double>(s.done) / secs;
    if (!s.unit.empty()) {
      char r[48];
      if (bytes) {
        std::snprintf(r, sizeof r, ", %.1f MiB/s", rate / (1024.0 * 1024.0));
      } else {
        std::snprintf(r, sizeof r, ", %.0f %s/s", rate, std::string(s.unit).c_str());
      }
      t += r;
    }
    if (s.total > s.done) {
      auto eta_ms = static_cast<int64_t>(static_cast<double>(s.total - s.done) / rate * 1000.0);
      t += ", ETA " + FormatDurationMs(eta_ms < 1000 ? eta_ms : eta_ms / 1000 * 1000);
    }
  }
  if (t.size() >= width) t.resize(width - 1);
  return t;
}

void ProgressLine::Update(const ProgressStep& step) {
  auto now = std::chrono::steady_clock::now();
  bool new_phase = step.phase != phase_;
  if (new_phase) {
    phase_ = std::string(step.phase);
    phase_start_ = now;
  } else if (drawn_ && now - last_draw_ < kRedraw) {
    return;
  }
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - phase_start_).count();
  Write("\r" + Text(step, secs, TerminalWidth(fd_)) + "\033[K");
  drawn_ = true;
}

void ProgressLine::Finish() {
  if (!drawn_) return;
  Write("\r\033[K");
  drawn_ = false;
}

void ProgressLine::Write(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
    if (n <= 0) return;  // a closed terminal: nothing to show it on
    off += static_cast<size_t>(n);
  }
}

}  // namespace allot::cli
