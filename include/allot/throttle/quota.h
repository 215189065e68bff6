// Calendar quotas: at most `limit` units per local calendar day, reset at midnight in a time zone.
//
// Unlike a GCRA rate, a quota does not refill gradually: the whole allowance returns at the first
// instant of the next local day (TimeZone::DayOf, so DST days of 23 or 25 hours are handled). A clock
// that jumps backwards never resets the counter (only reaching the end of the current day does), so it
// cannot grant extra units; a denial's retry_after is exactly the time to the next local midnight.
// Thread-safety: a plain value, not synchronised.
#pragma once

#include <cstdint>
#include <memory>

#include "allot/throttle/rate.h"
#include "allot/throttle/timezone.h"

namespace allot::throttle {

class CalendarQuota {
 public:
  // REQUIRES: limit >= 1, zone non-null.
  CalendarQuota(int64_t limit, std::shared_ptr<const TimeZone> zone);

  // As GcraLimiter: Acquire = Check + Commit when allowed. REQUIRES: n >= 1.
  Decision Acquire(int64_t now_ns, int64_t n = 1);
  Decision Check(int64_t now_ns, int64_t n);
  void Commit(int64_t now_ns, int64_t n);

  int64_t limit() const { return limit_; }
  int64_t used() const { return used_; }
  void set_limit(int64_t limit) { limit_ = limit; }
  const TimeZone& zone() const { return *zone_; }
  // The current local day's bounds (after the latest Check).
  int64_t day_start_ns() const { return day_start_ns_; }
  int64_t day_end_ns() const { return day_end_ns_; }

 private:
  void Roll(int64_t now_ns);

  int64_t limit_;
  std::shared_ptr<const TimeZone> zone_;
  int64_t used_ = 0;
  int64_t day_start_ns_ = 0;
  int64_t day_end_ns_ = INT64_MIN;  // forces a roll on first use
};

}  // namespace allot::throttle
