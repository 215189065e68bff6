#include "allot/throttle/rate.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace allot::throttle {
namespace {

using i128 = __int128;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Ceil of a / b for a >= 0, b > 0.
int64_t CeilDiv(i128 a, int64_t b) { return static_cast<int64_t>((a + b - 1) / b); }

struct Unit {
  std::string_view name;
  int64_t ns;
};
constexpr Unit kUnits[] = {
    {"ms", 1'000'000},      {"s", kNanosPerSecond},         {"sec", kNanosPerSecond},
    {"second", kNanosPerSecond}, {"seconds", kNanosPerSecond}, {"m", 60 * kNanosPerSecond},
    {"min", 60 * kNanosPerSecond}, {"minute", 60 * kNanosPerSecond}, {"minutes", 60 * kNanosPerSecond},
    {"h", 3600 * kNanosPerSecond}, {"hour", 3600 * kNanosPerSecond}, {"hours", 3600 * kNanosPerSecond},
    {"d", 86400 * kNanosPerSecond}, {"day", 86400 * kNanosPerSecond}, {"days", 86400 * kNanosPerSecond},
};

i128 Ticks(int64_t now_ns, int64_t count) { return static_cast<i128>(now_ns) * count; }

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAllowed: return "allowed";
    case Verdict::kDenied: return "denied";
    case Verdict::kNever: return "never";
  }
  return "denied";
}

Status ValidateRate(Rate rate) {
  if (rate.count < 1) return InvalidArgument("rate: count must be at least 1, got " + std::to_string(rate.count));
  if (rate.count > kMaxRateCount) return InvalidArgument("rate: count must be at most 1e12");
  if (rate.period_ns < 1) return InvalidArgument("rate: period must be positive");
  if (rate.period_ns > kMaxPeriodNs) return InvalidArgument("rate: period must be at most 366 days");
  return Status::Ok();
}

Result<Rate> ParseRate(std::string_view text) {
  const std::string quoted = "rate \"" + std::string(text) + "\": ";
  std::string_view s = Trim(text);
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) {
    return InvalidArgument(quoted + "want COUNT/PERIOD such as 5/m or 100/10s");
  }
  std::string_view count_text = Trim(s.substr(0, slash));
  std::string_view period_text = Trim(s.substr(slash + 1));
  Rate rate;
  if (count_text.empty() || count_text.front() == '-' || count_text.front() == '+') {
    return InvalidArgument(quoted + "count must be a positive integer");
  }
  auto [p, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), rate.count);
  if (ec != std::errc() || p != count_text.data() + count_text.size()) {
    return InvalidArgument(quoted + "count must be a positive integer");
  }
  if (rate.count < 1) return InvalidArgument(quoted + "count must be at least 1");
  if (rate.count > kMaxRateCount) return InvalidArgument(quoted + "count must be at most 1e12");
  int64_t multiple = 1;
  size_t digits = 0;
  while (digits < period_text.size() && period_text[digits] >= '0' && period_text[digits] <= '9') ++digits;
  if (digits > 0) {
    auto [q, ec2] = std::from_chars(period_text.data(), period_text.data() + digits, multiple);
    if (ec2 != std::errc() || q != period_text.data() + digits || multiple < 1) {
      return InvalidArgument(quoted + "period multiple must be a positive integer");
    }
  } else if (!period_text.empty() && (period_text[0] == '-' || period_text[0] == '.')) {
    return InvalidArgument(quoted + "period multiple must be a positive integer");
  }
  std::string_view unit = Trim(period_text.substr(digits));
  if (unit.empty()) return InvalidArgument(quoted + "missing unit after '/' (want ms, s, m, h or d)");
  const Unit* found = nullptr;
  for (const Unit& u : kUnits) {
    if (u.name == unit) found = &u;
  }
  if (found == nullptr) {
    return InvalidArgument(quoted + "unknown unit \"" + std::string(unit) + "\" (want ms, s, m, h or d)");
  }
  if (multiple > kMaxPeriodNs / found->ns) return InvalidArgument(quoted + "period must be at most 366 days");
  rate.period_ns = multiple * found->ns;
  return rate;
}

std::string FormatRate(Rate rate) {
  static constexpr struct {
    const char* name;
    int64_t ns;
  } kForms[] = {{"d", 86400 * kNanosPerSecond}, {"h", 3600 * kNanosPerSecond},
                {"m", 60 * kNanosPerSecond},    {"s", kNanosPerSecond},
                {"ms", 1'000'000}};
  std::string out = std::to_string(rate.count) + "/";
  for (const auto& f : kForms) {
    if (rate.period_ns % f.ns == 0) {
      const int64_t k = rate.period_ns / f.ns;
      if (k != 1) out += std::to_string(k);
      return out + f.name;
    }
  }
  return out + std::to_string(rate.period_ns) + "ns";  // not readable back; only for odd periods
}

int CompareRates(Rate a, Rate b) {
  const i128 lhs = static_cast<i128>(a.count) * b.period_ns;
  const i128 rhs = static_cast<i128>(b.count) * a.period_ns;
  return lhs < rhs ? -1 : (lhs > rhs ? 1 : 0);
}

double UnitsPerSecond(Rate rate) {
  return static_cast<double>(rate.count) * kNanosPerSecond / static_cast<double>(rate.period_ns);
}

GcraLimiter::GcraLimiter(Rate rate, int64_t burst)
    : rate_(rate), burst_(burst), tat_(-(static_cast<i128>(1) << 120)) {}

Result<GcraLimiter> GcraLimiter::Create(Rate rate, int64_t burst) {
  if (Status s = ValidateRate(rate); !s.ok()) return s.error();
  if (burst < 1) return InvalidArgument("burst: must be at least 1, got " + std::to_string(burst));
  if (burst > kMaxBurst) return InvalidArgument("burst: must be at most 1e15");
  return GcraLimiter(rate, burst);
}

void GcraLimiter::AbsorbBackwardJump(int64_t now_ns) {
  if (now_ns >= last_ns_) {
    last_ns_ = now_ns;
    return;
  }
  // The clock went back by d: move the TAT back by d so the state relative to "now" is what it was
  // at last_ns_. The time between last_ns_ and the jump is simply lost (no refill for it).
  tat_ -= Ticks(last_ns_ - now_ns, rate_.count);
  last_ns_ = now_ns;
}

Decision GcraLimiter::Check(int64_t now_ns, int64_t n) {
  AbsorbBackwardJump(now_ns);
  const i128 now = Ticks(now_ns, rate_.count);
  const i128 t = rate_.period_ns;  // emission interval in ticks
  const i128 tat = std::max(tat_, now);
  Decision d;
  if (n > burst_) {
    d.verdict = Verdict::kNever;
    d.remaining = static_cast<int64_t>((now - (tat - t * burst_)) / t);
    d.reset_after_ns = CeilDiv(tat - now, rate_.count);
    return d;
  }
  const i128 new_tat = tat + t * n;
  const i128 allow_at = new_tat - t * burst_;
  if (now < allow_at) {
    d.verdict = Verdict::kDenied;
    d.retry_after_ns = CeilDiv(allow_at - now, rate_.count);
    d.remaining = static_cast<int64_t>((now - (tat - t * burst_)) / t);
    d.reset_after_ns = CeilDiv(tat - now, rate_.count);
    return d;
  }
  d.verdict = Verdict::kAllowed;
  d.remaining = static_cast<int64_t>((now - allow_at) / t);
  d.reset_after_ns = CeilDiv(new_tat - now, rate_.count);
  return d;
}

void GcraLimiter::Commit(int64_t now_ns, int64_t n) {
  const i128 now = Ticks(now_ns, rate_.count);
  tat_ = std::max(tat_, now) + static_cast<i128>(rate_.period_ns) * n;
}

Decision GcraLimiter::Acquire(int64_t now_ns, int64_t n) {
  Decision d = Check(now_ns, n);
  if (d.allowed()) Commit(now_ns, n);
  return d;
}

int64_t GcraLimiter::Available(int64_t now_ns) const {
  // A backwards jump is judged against the latest time seen, as Check would after absorbing it.
  const i128 now = Ticks(now_ns, rate_.count);
  i128 tat = tat_;
  if (now_ns < last_ns_) tat -= Ticks(last_ns_ - now_ns, rate_.count);
  tat = std::max(tat, now);
  const i128 t = rate_.period_ns;
  return static_cast<int64_t>((now - (tat - t * burst_)) / t);
}

bool GcraLimiter::IsFull(int64_t now_ns) const {
  i128 tat = tat_;
  if (now_ns < last_ns_) tat -= Ticks(last_ns_ - now_ns, rate_.count);
  return tat <= Ticks(now_ns, rate_.count);
}

void GcraLimiter::Reconfigure(int64_t now_ns, Rate rate, int64_t burst) {
  AbsorbBackwardJump(now_ns);
  const i128 now_old = Ticks(now_ns, rate_.count);
  const i128 used_ticks = std::max<i128>(tat_ - now_old, 0);
  // Used units = used_ticks / period_old (one unit costs period_old ticks); in the new scale they cost
  // used_ticks * period_new / period_old ticks, rounded up. Falls back to whole units (still rounded
  // up) where the exact product could overflow.
  i128 new_used;
  if (used_ticks <= ((static_cast<i128>(1) << 126) / rate.period_ns)) {
    new_used = (used_ticks * rate.period_ns + rate_.period_ns - 1) / rate_.period_ns;
  } else {
    new_used = (used_ticks + rate_.period_ns - 1) / rate_.period_ns * rate.period_ns;
  }
  const i128 cap = static_cast<i128>(rate.period_ns) * burst;  // never more used than a full bucket
  if (new_used > cap) new_used = cap;
  rate_ = rate;
  burst_ = burst;
  tat_ = Ticks(now_ns, rate_.count) + new_used;
}

}  // namespace allot::throttle
