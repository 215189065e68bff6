#include "allot/throttle/quota.h"

#include <cassert>

namespace allot::throttle {

CalendarQuota::CalendarQuota(int64_t limit, std::shared_ptr<const TimeZone> zone)
    : limit_(limit), zone_(std::move(zone)) {
  assert(limit_ >= 1 && zone_ != nullptr);
}

void CalendarQuota::Roll(int64_t now_ns) {
  // Only moving past the end of the current day resets; an earlier `now` (clock jumped back) keeps
  // counting against the day already in progress.
  if (now_ns < day_end_ns_) return;
  const TimeZone::Day day = zone_->DayOf(now_ns);
  day_start_ns_ = day.start_ns;
  day_end_ns_ = day.end_ns;
  used_ = 0;
}

Decision CalendarQuota::Check(int64_t now_ns, int64_t n) {
  Roll(now_ns);
  Decision d;
  const int64_t left = used_ >= limit_ ? 0 : limit_ - used_;
  // Full again at the next midnight when anything is used; a clock behind day_start still waits for
  // the real end of the day.
  const int64_t to_reset = day_end_ns_ - now_ns;
  d.reset_after_ns = used_ > 0 ? to_reset : 0;
  if (n > limit_) {
    d.verdict = Verdict::kNever;
    d.remaining = left;
    return d;
  }
  if (n > left) {
    d.verdict = Verdict::kDenied;
    d.remaining = left;
    d.retry_after_ns = to_reset;
    return d;
  }
  d.verdict = Verdict::kAllowed;
  d.remaining = left - n;
  d.reset_after_ns = to_reset;
  return d;
}

void CalendarQuota::Commit(int64_t now_ns, int64_t n) {
  Roll(now_ns);
  used_ += n;
}

Decision CalendarQuota::Acquire(int64_t now_ns, int64_t n) {
  Decision d = Check(now_ns, n);
  if (d.allowed()) Commit(now_ns, n);
  return d;
}

}  // namespace allot::throttle
