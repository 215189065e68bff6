#include "allot/throttle/timezone.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

namespace allot::throttle {
namespace {

namespace chr = std::chrono;

int64_t DaysFromCivil(int32_t y, uint32_t m, uint32_t d) {
  return chr::sys_days(chr::year(y) / chr::month(m) / chr::day(d)).time_since_epoch().count();
}

chr::year_month_day CivilFromDays(int64_t days) {
  return chr::year_month_day(chr::sys_days(chr::days(days)));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeap(int32_t y) { return chr::year(y).is_leap(); }

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool Has(size_t n) const { return b_.size() - pos_ >= n; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return v;
  }
  int64_t I64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return static_cast<int64_t>(v);
  }
  uint8_t U8() { return static_cast<uint8_t>(b_[pos_++]); }
  void Skip(size_t n) { pos_ += n; }
  size_t pos() const { return pos_; }
  std::string_view Rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

struct Counts {
  uint32_t isut, isstd, leap, time, type, chars;
};

// POSIX TZ parsing -----------------------------------------------------------------------------

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  Result<TimeZone::Posix> Parse() {
    TimeZone::Posix p;
    if (!Name()) return Bad("standard time name");
    int32_t off = 0;
    if (!Offset(&off)) return Bad("standard offset");
    p.std_offset = -off;  // POSIX offsets count west of UTC
    if (AtEnd()) return p;
    if (!Name()) return Bad("daylight time name");
    p.has_dst = true;
    p.dst_offset = p.std_offset + 3600;
    if (!AtEnd() && Peek() != ',') {
      if (!Offset(&off)) return Bad("daylight offset");
      p.dst_offset = -off;
    }
    if (AtEnd()) {  // POSIX default rule (US, since 2007)
      p.start = {TimeZone::Rule::kMonthWeekDay, 0, 3, 2, 0, 7200};
      p.end = {TimeZone::Rule::kMonthWeekDay, 0, 11, 1, 0, 7200};
      return p;
    }
    if (Peek() != ',' || !(++i_, RuleSpec(&p.start))) return Bad("start rule");
    if (AtEnd() || Peek() != ',' || !(++i_, RuleSpec(&p.end))) return Bad("end rule");
    if (!AtEnd()) return Bad("trailing text");
    return p;
  }

 private:
  Error Bad(const char* what) {
    return InvalidArgument("time zone rule \"" + std::string(s_) + "\": bad " + what);
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return s_[i_]; }
  bool Name() {
    if (AtEnd()) return false;
    if (Peek() == '<') {
      const size_t close = s_.find('>', i_);
      if (close == std::string_view::npos || close - i_ < 4) return false;
      i_ = close + 1;
      return true;
    }
    size_t start = i_;
    while (!AtEnd() && ((Peek() >= 'A' && Peek() <= 'Z') || (Peek() >= 'a' && Peek() <= 'z'))) ++i_;
    return i_ - start >= 3;
  }
  bool Number(int32_t* v, int max_digits) {
    size_t start = i_;
    int32_t x = 0;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9' && static_cast<int>(i_ - start) < max_digits) {
      x = x * 10 + (Peek() - '0');
      ++i_;
    }
    *v = x;
    return i_ > start;
  }
  // [+-]hh[:mm[:ss]] with hours up to 167 (RFC 8536 extension).
  bool Offset(int32_t* out) {
    int sign = 1;
    if (!AtEnd() && (Peek() == '+' || Peek() == '-')) sign = (s_[i_++] == '-') ? -1 : 1;
    int32_t h = 0, m = 0, sec = 0;
    if (!Number(&h, 3) || h > 167) return false;
    if (!AtEnd() && Peek() == ':') {
      ++i_;
      if (!Number(&m, 2) || m > 59) return false;
      if (!AtEnd() && Peek() == ':') {
        ++i_;
        if (!Number(&sec, 2) || sec > 59) return false;
      }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool RuleSpec(TimeZone::Rule* r) {
    if (AtEnd()) return false;
    if (Peek() == 'M') {
      ++i_;
      r->kind = TimeZone::Rule::kMonthWeekDay;
      if (!Number(&r->month, 2) || r->month < 1 || r->month > 12) return false;
      if (AtEnd() || Peek() != '.') return false;
      ++i_;
      if (!Number(&r->week, 1) || r->week < 1 || r->week > 5) return false;
      if (AtEnd() || Peek() != '.') return false;
      ++i_;
      if (!Number(&r->weekday, 1) || r->weekday > 6) return false;
    } else if (Peek() == 'J') {
      ++i_;
      r->kind = TimeZone::Rule::kJulian1;
      if (!Number(&r->day, 3) || r->day < 1 || r->day > 365) return false;
    } else {
      r->kind = TimeZone::Rule::kJulian0;
      if (!Number(&r->day, 3) || r->day > 365) return false;
    }
    r->time_s = 7200;
    if (!AtEnd() && Peek() == '/') {
      ++i_;
      if (!Offset(&r->time_s)) return false;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Local wall-clock second (in the year `y`) at which a rule fires.
int64_t RuleLocalSeconds(const TimeZone::Rule& r, int32_t y) {
  int64_t days = 0;
  switch (r.kind) {
    case TimeZone::Rule::kJulian1:
      days = DaysFromCivil(y, 1, 1) + r.day - 1 + ((IsLeap(y) && r.day >= 60) ? 1 : 0);
      break;
    case TimeZone::Rule::kJulian0:
      days = DaysFromCivil(y, 1, 1) + r.day;
      break;
    case TimeZone::Rule::kMonthWeekDay: {
      const int64_t first = DaysFromCivil(y, static_cast<uint32_t>(r.month), 1);
      const unsigned first_wd = chr::weekday(chr::sys_days(chr::days(first))).c_encoding();
      int64_t d = first + (r.weekday - static_cast<int>(first_wd) + 7) % 7 + int64_t{7} * (r.week - 1);
      const auto last = chr::year_month_day_last(chr::year(y) / chr::month(static_cast<unsigned>(r.month)) /
                                                 chr::last);
      const int64_t last_day = chr::sys_days(last).time_since_epoch().count();
      while (d > last_day) d -= 7;
      days = d;
      break;
    }
  }
  return days * 86400 + r.time_s;
}

}  // namespace

TimeZone TimeZone::Utc() {
  TimeZone z;
  z.name_ = "UTC";
  return z;
}

Result<TimeZone> TimeZone::FromPosix(std::string_view spec) {
  auto p = PosixParser(spec).Parse();
  if (!p.ok()) return p.error();
  TimeZone z;
  z.name_ = std::string(spec);
  z.initial_offset_ = p->std_offset;
  z.has_posix_ = true;
  z.posix_ = *p;
  return z;
}

Result<TimeZone> TimeZone::Load(std::string_view name, std::string_view root) {
  const std::string what = "time zone \"" + std::string(name) + "\": ";
  if (name.empty()) return InvalidArgument(what + "empty name");
  if (name.front() == '/' || name.find("..") != std::string_view::npos) {
    return InvalidArgument(what + "want an IANA name such as Europe/Berlin");
  }
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
                    c == '_' || c == '-' || c == '+' || c == '.';
    if (!ok) return InvalidArgument(what + "want an IANA name such as Europe/Berlin");
  }
  const std::string path = std::string(root) + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(what + "unknown zone (no " + path + ")");
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string bytes = buf.str();
  if (bytes.size() > (1u << 20)) return InvalidArgument(what + "zone file too large");
  return FromTzif(name, bytes);
}

Result<TimeZone> TimeZone::FromTzif(std::string_view name, std::string_view bytes) {
  const std::string what = "time zone \"" + std::string(name) + "\": ";
  auto bad = [&](const char* why) { return InvalidArgument(what + "not a TZif file (" + why + ")"); };
  Reader r(bytes);
  auto header = [&](Counts* c, char* version) -> bool {
    if (!r.Has(44) || r.Rest().substr(0, 4) != "TZif") return false;
    r.Skip(4);
    *version = static_cast<char>(r.U8());
    r.Skip(15);
    c->isut = r.U32();
    c->isstd = r.U32();
    c->leap = r.U32();
    c->time = r.U32();
    c->type = r.U32();
    c->chars = r.U32();
    return c->type >= 1 && c->type <= 256 && c->time <= 100000 && c->leap <= 100000 && c->chars <= 100000 &&
           c->isut <= 256 && c->isstd <= 256;
  };
  Counts c{};
  char version = 0;
  if (!header(&c, &version)) return bad("bad header");
  const bool v2 = version >= '2';
  size_t time_size = 4;
  if (v2) {
    const size_t v1_len = size_t{c.time} * 5 + size_t{c.type} * 6 + c.chars + size_t{c.leap} * 8 + c.isstd + c.isut;
    if (!r.Has(v1_len)) return bad("truncated");
    r.Skip(v1_len);
    if (!header(&c, &version)) return bad("bad second header");
    time_size = 8;
  }
  const size_t len = size_t{c.time} * (time_size + 1) + size_t{c.type} * 6 + c.chars +
                     size_t{c.leap} * (time_size + 4) + c.isstd + c.isut;
  if (!r.Has(len)) return bad("truncated");
  TimeZone z;
  z.name_ = std::string(name);
  z.transitions_.resize(c.time);
  for (uint32_t i = 0; i < c.time; ++i) {
    z.transitions_[i] = time_size == 8 ? r.I64() : static_cast<int32_t>(r.U32());
    if (i > 0 && z.transitions_[i] <= z.transitions_[i - 1]) return bad("transitions out of order");
  }
  std::vector<uint8_t> idx(c.time);
  for (uint32_t i = 0; i < c.time; ++i) {
    idx[i] = r.U8();
    if (idx[i] >= c.type) return bad("bad type index");
  }
  std::vector<int32_t> type_off(c.type);
  for (uint32_t i = 0; i < c.type; ++i) {
    type_off[i] = static_cast<int32_t>(r.U32());
    r.Skip(2);  // isdst, abbreviation index
    if (type_off[i] < -89999 || type_off[i] > 93599) return bad("offset out of range");
  }
  r.Skip(c.chars + size_t{c.leap} * (time_size + 4) + c.isstd + c.isut);
  z.offsets_.resize(c.time);
  for (uint32_t i = 0; i < c.time; ++i) z.offsets_[i] = type_off[idx[i]];
  z.initial_offset_ = type_off[0];
  if (v2) {
    std::string_view rest = r.Rest();
    if (rest.size() >= 2 && rest[0] == '\n') {
      const size_t nl = rest.find('\n', 1);
      if (nl != std::string_view::npos && nl > 1) {
        auto p = PosixParser(rest.substr(1, nl - 1)).Parse();
        if (!p.ok()) return InvalidArgument(what + p.error().message);
        z.has_posix_ = true;
        z.posix_ = *p;
      }
    }
  }
  return z;
}

int32_t TimeZone::PosixOffsetAt(int64_t utc_s) const {
  if (!posix_.has_dst) return posix_.std_offset;
  // The year as seen in standard time; rules are evaluated for it and its neighbours so a change
  // near New Year (or a rule time beyond 24 h) is still found.
  const int32_t y = static_cast<int32_t>(CivilFromDays(FloorDiv(utc_s + posix_.std_offset, 86400)).year());
  for (int32_t yy = y + 1; yy >= y - 1; --yy) {
    // Start fires in standard time; end fires in daylight time.
    const int64_t start = RuleLocalSeconds(posix_.start, yy) - posix_.std_offset;
    const int64_t end = RuleLocalSeconds(posix_.end, yy) - posix_.dst_offset;
    // Latest change at or before utc_s decides.
    const bool start_passed = utc_s >= start, end_passed = utc_s >= end;
    if (start_passed && end_passed) return start > end ? posix_.dst_offset : posix_.std_offset;
    if (start_passed) return posix_.dst_offset;
    if (end_passed) return posix_.std_offset;
  }
  return posix_.std_offset;
}

int32_t TimeZone::OffsetAt(int64_t utc_s) const {
  if (transitions_.empty()) return has_posix_ ? PosixOffsetAt(utc_s) : initial_offset_;
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc_s);
  if (it == transitions_.begin()) return initial_offset_;
  if (it == transitions_.end() && has_posix_) return PosixOffsetAt(utc_s);
  return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

int64_t TimeZone::UtcOfLocal(int64_t local_s) const {
  // Offsets a day either side cover every real transition (none is closer than that to another).
  const int32_t before = OffsetAt(local_s - 86400 - 93600);
  const int32_t after = OffsetAt(local_s + 86400 + 93600);
  const int64_t ua = local_s - before, ub = local_s - after;
  const bool va = ua + OffsetAt(ua) == local_s, vb = ub + OffsetAt(ub) == local_s;
  if (va && vb) return std::min(ua, ub);
  if (va) return ua;
  if (vb) return ub;
  // In a gap: the first second whose wall time is past local_s. Wall time is monotone apart from
  // folds, so bisect between the two candidates.
  int64_t lo = std::min(ua, ub) - 1, hi = std::max(ua, ub) + 1;
  while (lo + 1 < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (mid + OffsetAt(mid) >= local_s) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

TimeZone::Day TimeZone::DayOf(int64_t utc_ns) const {
  const int64_t utc_s = FloorDiv(utc_ns, 1'000'000'000);
  const int64_t local_days = FloorDiv(utc_s + OffsetAt(utc_s), 86400);
  const chr::year_month_day ymd = CivilFromDays(local_days);
  Day d;
  d.year = static_cast<int32_t>(ymd.year());
  d.month = static_cast<unsigned>(ymd.month());
  d.day = static_cast<unsigned>(ymd.day());
  d.start_ns = UtcOfLocal(local_days * 86400) * 1'000'000'000;
  d.end_ns = UtcOfLocal((local_days + 1) * 86400) * 1'000'000'000;
  // A fold across midnight can put the second pass over the old day after the new day's first
  // midnight; keep the invariant start <= t < end by closing the day one second later.
  if (d.start_ns > utc_ns) d.start_ns = utc_s * 1'000'000'000;
  if (d.end_ns <= utc_ns) d.end_ns = (utc_s + 1) * 1'000'000'000;
  return d;
}

}  // namespace allot::throttle
