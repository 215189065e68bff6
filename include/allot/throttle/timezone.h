// IANA time zones for calendar quotas: local calendar days as UTC instants.
//
// g++ 12's libstdc++ has no std::chrono::locate_zone, and localtime_r needs the process-wide TZ
// variable, so TimeZone reads TZif files (RFC 8536, versions 1-4) from the system database
// (/usr/share/zoneinfo) itself: the 64-bit transition table, and the footer's POSIX TZ rule for instants
// after the last transition (so "slim" zone files and years past 2037 work too). Leap-second records
// are skipped: allot's clock is POSIX time.
// Thread-safety: an immutable value once built; share freely (const methods only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "allot/result.h"

namespace allot::throttle {

class TimeZone {
 public:
  // UTC, always available.
  static TimeZone Utc();
  // Loads zone `name` ("Europe/Berlin", "UTC") from `root`. Errors: a malformed name (absolute, "..",
  // odd characters), a missing zone, a file that is not TZif.
  static Result<TimeZone> Load(std::string_view name, std::string_view root = "/usr/share/zoneinfo");
  // Builds a zone from the bytes of a TZif file.
  static Result<TimeZone> FromTzif(std::string_view name, std::string_view bytes);
  // Builds a zone from a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" or "EST5".
  static Result<TimeZone> FromPosix(std::string_view spec);

  const std::string& name() const { return name_; }

  // Offset of local time from UTC (seconds east) at the UTC instant `utc_s`.
  int32_t OffsetAt(int64_t utc_s) const;

  struct Day {
    int64_t start_ns = 0;  // UTC instant of the first moment of the local day (local midnight, or the
                           // end of a DST gap that swallowed midnight)
    int64_t end_ns = 0;    // start of the next local day; start_ns <= t < end_ns
    int32_t year = 0;
    uint32_t month = 0;    // 1-12
    uint32_t day = 0;      // 1-31
  };
  // The local calendar day that contains the UTC instant `utc_ns`.
  Day DayOf(int64_t utc_ns) const;

  // The first UTC second whose local wall time is >= `local_s` (wall-clock seconds since 1970-01-01
  // 00:00 local). Ambiguous times (a fold) give the earlier instant; times in a gap give the gap's end.
  int64_t UtcOfLocal(int64_t local_s) const;

  // POSIX rule (internal representation, exposed for tests and diagnostics).
  struct Rule {
    enum Kind : uint8_t { kJulian1 /* Jn */, kJulian0 /* n */, kMonthWeekDay /* Mm.w.d */ };
    Kind kind = kMonthWeekDay;
    int32_t day = 0;   // Jn / n
    int32_t month = 0, week = 0, weekday = 0;
    int32_t time_s = 7200;  // local wall time of the change, may be negative or > 24 h
  };
  struct Posix {
    int32_t std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int32_t dst_offset = 0;
    Rule start, end;
  };

 private:
  int32_t PosixOffsetAt(int64_t utc_s) const;

  std::string name_;
  std::vector<int64_t> transitions_;  // UTC seconds, ascending
  std::vector<int32_t> offsets_;      // offset in force from transitions_[i]
  int32_t initial_offset_ = 0;        // before the first transition
  bool has_posix_ = false;
  Posix posix_;
};

}  // namespace allot::throttle
