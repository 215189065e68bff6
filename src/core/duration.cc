#include "allot/duration.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "allot/utf8.h"

namespace allot {
namespace {

constexpr double kMaxNanos = 9e18;  // int64 nanoseconds: about 292 years
constexpr double kMaxMillis = static_cast<double>(kMaxDurationMs);

const char* kAccepted = "use a number with a unit: 90s, 1m30s, 500ms, 2h, 1d";

// Nanoseconds in one `unit`, or 0 for an unknown unit.
double UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  if (unit == "d") return 86400e9;
  return 0;
}

// Parses a non-negative decimal number (digits, an optional fraction, an optional exponent) at the start of
// `t`; returns how many characters it took, 0 for none.
size_t Number(std::string_view t, double* v) {
  if (t.empty() || t[0] == '-' || t[0] == '+') return 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
  if (ec != std::errc() || !std::isfinite(*v)) return 0;
  return static_cast<size_t>(p - t.data());
}

Error Bad(std::string_view text, const std::string& why) {
  return InvalidArgument("\"" + QuoteForError(text) + "\": " + why);
}

// The duration as a double of nanoseconds (no upper limit checked here), or the error.
Result<double> TotalNanos(std::string_view text, int64_t bare_unit_ns) {
  if (text.empty()) return Bad(text, std::string("empty duration (") + kAccepted + ")");
  double v = 0;
  if (size_t n = Number(text, &v); n == text.size()) return v * static_cast<double>(bare_unit_ns);
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t n = Number(text.substr(i), &v);
    if (n == 0) {
      return Bad(text,
                 text[i] == '-' ? "must not be negative" : std::string("not a duration (") + kAccepted + ")");
    }
    i += n;
    size_t j = i;
    while (j < text.size() && text[j] >= 'a' && text[j] <= 'z') j++;
    std::string_view unit = text.substr(i, j - i);
    double scale = UnitNanos(unit);
    if (scale == 0) {
      return Bad(text, unit.empty()
                           ? std::string("a number inside a duration needs a unit (") + kAccepted + ")"
                           : "unknown unit \"" + std::string(unit) + "\" (use ns, us, ms, s, m, h or d)");
    }
    total += v * scale;
    i = j;
  }
  return total;
}

}  // namespace

Result<int64_t> ParseDurationNs(std::string_view text, int64_t bare_unit_ns) {
  auto ns = TotalNanos(text, bare_unit_ns);
  if (!ns.ok()) return ns.error();
  if (*ns > kMaxNanos) return Bad(text, "too long (at most about 292 years)");
  return static_cast<int64_t>(std::llround(*ns));
}

std::optional<int64_t> ParseDurationMs(std::string_view text) {
  auto ns = TotalNanos(text, kNanosPerSecond);
  if (!ns.ok() || *ns / 1e6 > kMaxMillis) return std::nullopt;
  return static_cast<int64_t>(std::llround(*ns / 1e6));
}

Result<int64_t> ParseDurationFlag(std::string_view flag, std::string_view text, int64_t bare_unit_ms,
                                  int64_t min_ms, int64_t max_ms) {
  const std::string where = "--" + std::string(flag) + " ";
  auto ns = TotalNanos(text, bare_unit_ms * kNanosPerMs);
  if (!ns.ok()) return InvalidArgument(where + ns.error().message);
  if (*ns / 1e6 > kMaxMillis) return InvalidArgument(where + "\"" + QuoteForError(text) + "\": too long");
  int64_t ms = static_cast<int64_t>(std::llround(*ns / 1e6));
  if (ms < min_ms || ms > max_ms) {
    std::string range = max_ms >= kMaxDurationMs
                            ? "at least " + FormatDurationMs(min_ms)
                            : "between " + FormatDurationMs(min_ms) + " and " + FormatDurationMs(max_ms);
    return InvalidArgument(where + "\"" + QuoteForError(text) + "\": must be " + range);
  }
  return ms;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms < 0) return "-" + FormatDurationMs(-ms);
  if (ms == 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  const int64_t day = 86'400'000, hour = 3'600'000, minute = 60'000;
  for (auto [size, unit] : {std::pair{day, "d"}, std::pair{hour, "h"}, std::pair{minute, "m"}}) {
    if (ms >= size) {
      out += std::to_string(ms / size) + unit;
      ms %= size;
    }
  }
  if (ms > 0) {
    out += std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
      char frac[8];
      std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms % 1000));
      std::string f = frac;
      while (f.back() == '0') f.pop_back();
      out += f;
    }
    out += "s";
  }
  return out;
}

}  // namespace allot
