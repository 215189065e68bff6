// Kubernetes quantity parsing and formatting; see include/allot/quantity.h for the contract.
//
// The scanner mirrors apimachinery's parseQuantityString, and Canonical() mirrors
// Quantity.CanonicalizeBytes: read them side by side when changing anything here.
#include "allot/quantity.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "allot/utf8.h"

namespace allot {
namespace {

using i128 = __int128;

constexpr i128 kNano = 1'000'000'000;
// The largest magnitude allot accepts: its milli-value must fit an int64.
constexpr i128 kMaxNanos = static_cast<i128>(std::numeric_limits<int64_t>::max()) * 1'000'000;
// The largest magnitude of QuantityRange::kValue: its (rounded-up) value must fit an int64.
constexpr i128 kMaxValueNanos = static_cast<i128>(std::numeric_limits<int64_t>::max()) * kNano;

// Narrows to int64, saturating at its bounds.
int64_t Saturate(i128 v) {
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

std::string I128ToString(i128 v) {
  if (v == 0) return "0";
  bool neg = v < 0;
  unsigned __int128 u = neg ? static_cast<unsigned __int128>(-v) : static_cast<unsigned __int128>(v);
  char buf[48];
  int pos = 47;
  buf[pos] = 0;
  while (u > 0) {
    buf[--pos] = static_cast<char>('0' + static_cast<int>(u % 10));
    u /= 10;
  }
  if (neg) buf[--pos] = '-';
  return std::string(buf + pos);
}

// Division rounding away from zero. REQUIRES: d > 0.
i128 DivAway(i128 n, i128 d) {
  i128 q = n / d;
  if (n % d != 0) q += (n > 0 ? 1 : -1);
  return q;
}

struct Scanned {
  bool positive = true;
  std::string_view num;    // digits of the integer part, leading zeros stripped ("0" if none)
  std::string_view denom;  // digits after '.', possibly empty
  std::string_view suffix;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// apimachinery's parseQuantityString. Returns false for ErrFormatWrong.
bool Scan(std::string_view s, Scanned* out) {
  size_t pos = 0, end = s.size();
  if (pos < end) {
    if (s[0] == '-') {
      out->positive = false;
      pos++;
    } else if (s[0] == '+') {
      pos++;
    }
  }
  while (true) {  // strip leading zeros
    if (pos >= end) {
      out->num = "0";
      return true;
    }
    if (s[pos] != '0') break;
    pos++;
  }
  size_t start = pos;
  while (pos < end && IsDigit(s[pos])) pos++;
  out->num = s.substr(start, pos - start);
  if (out->num.empty()) out->num = "0";
  if (pos >= end) return true;
  if (s[pos] == '.') {
    pos++;
    size_t ds = pos;
    while (pos < end && IsDigit(s[pos])) pos++;
    out->denom = s.substr(ds, pos - ds);
    if (pos >= end) return true;
  }
  size_t suffix_start = pos;
  while (pos < end && std::strchr("eEinumkKMGTP", s[pos]) != nullptr) pos++;
  if (pos >= end) {
    out->suffix = s.substr(suffix_start);
    return true;
  }
  if (s[pos] == '-' || s[pos] == '+') pos++;
  while (pos < end && IsDigit(s[pos])) pos++;
  if (pos < end) return false;
  out->suffix = s.substr(suffix_start);
  return true;
}

struct Suffix {
  int base = 10;
  int64_t exponent = 0;
  QuantityFormat format = QuantityFormat::kDecimalSI;
};

enum class SuffixVerdict { kOk, kUnknown, kExponentRange };

// The largest exponent magnitude accepted after e/E. Kubernetes parses the exponent with
// strconv.ParseInt (so anything past int64 is an error) and keeps it in an int32 scale that it negates,
// so it accepts [-MaxInt32, MaxInt32] and rejects the rest (its TestInterpretExponentInt32Bounds).
constexpr int64_t kMaxExponent = std::numeric_limits<int32_t>::max();

SuffixVerdict Interpret(std::string_view s, Suffix* out) {
  static constexpr struct {
    const char* text;
    int base;
    int exp;
  } kTable[] = {{"", 10, 0},   {"n", 10, -9}, {"u", 10, -6}, {"m", 10, -3}, {"k", 10, 3},  {"M", 10, 6},
                {"G", 10, 9},  {"T", 10, 12}, {"P", 10, 15}, {"E", 10, 18}, {"Ki", 2, 10}, {"Mi", 2, 20},
                {"Gi", 2, 30}, {"Ti", 2, 40}, {"Pi", 2, 50}, {"Ei", 2, 60}};
  for (const auto& e : kTable) {
    if (s == e.text) {
      out->base = e.base;
      out->exponent = e.exp;
      out->format = e.base == 2 ? QuantityFormat::kBinarySI : QuantityFormat::kDecimalSI;
      return SuffixVerdict::kOk;
    }
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    // strconv.ParseInt(s[1:], 10, 64): optional sign, then at least one digit.
    std::string_view d = s.substr(1);
    bool neg = false;
    if (!d.empty() && (d[0] == '+' || d[0] == '-')) {
      neg = d[0] == '-';
      d.remove_prefix(1);
    }
    if (d.empty()) return SuffixVerdict::kUnknown;
    for (char c : d) {
      if (!IsDigit(c)) return SuffixVerdict::kUnknown;
    }
    // Checked digit by digit, stopping as soon as the bound is passed: never a loop or a string as
    // long as the exponent's value.
    int64_t v = 0;
    for (char c : d) {
      v = v * 10 + (c - '0');
      if (v > kMaxExponent) return SuffixVerdict::kExponentRange;
    }
    out->base = 10;
    out->exponent = neg ? -v : v;
    out->format = QuantityFormat::kDecimalExponent;
    return SuffixVerdict::kOk;
  }
  return SuffixVerdict::kUnknown;
}

// Parses a run of decimal digits into an i128; false when it has more than 36 significant digits.
bool DigitsToI128(std::string_view d, i128* out) {
  while (d.size() > 1 && d[0] == '0') d.remove_prefix(1);
  if (d.size() > 36) return false;
  i128 v = 0;
  for (char c : d) v = v * 10 + (c - '0');
  *out = v;
  return true;
}


// Is the Kubernetes fast path taken, and does it keep the input string as the canonical form?
bool KeepsInputString(const Scanned& sc, const Suffix& suf) {
  int64_t precision;
  int64_t scale = 0;
  if (suf.format == QuantityFormat::kBinarySI) {
    if (suf.exponent < 0 || !sc.denom.empty()) return false;
    precision = 15 - static_cast<int64_t>(sc.num.size()) -
                static_cast<int64_t>(static_cast<float>(suf.exponent) * 3 / 10) - 1;
  } else {
    scale = suf.exponent;
    precision = 18 - static_cast<int64_t>(sc.num.size() + sc.denom.size());
  }
  if (precision < 0) return false;
  scale -= static_cast<int64_t>(sc.denom.size());
  if (scale < -9) return false;
  std::string shifted = std::string(sc.num) + std::string(sc.denom);
  i128 value = 0;
  for (char c : shifted) value = value * 10 + (c - '0');
  if (suf.format == QuantityFormat::kBinarySI) {
    i128 result = value << suf.exponent;
    if (result > std::numeric_limits<int64_t>::max()) return false;  // int64Multiply overflow
    return suf.exponent % 10 == 0 && (static_cast<int64_t>(value) & 0x07) != 0;
  }
  return scale % 3 == 0 && !(shifted.size() >= 3 && shifted.compare(shifted.size() - 3, 3, "000") == 0) &&
         shifted[0] != '0';
}

std::string Canonical(i128 nanos, QuantityFormat format) {
  if (nanos == 0) return "0";
  if (format == QuantityFormat::kBinarySI) {
    i128 whole = 1024 * kNano;
    if ((nanos > -whole && nanos < whole) || nanos % kNano != 0) format = QuantityFormat::kDecimalSI;
  }
  if (format == QuantityFormat::kBinarySI) {
    i128 v = nanos / kNano;
    bool neg = v < 0;
    if (neg) v = -v;
    int times = 0;
    while (v >= 1024 && v % 1024 == 0) {
      v /= 1024;
      times++;
    }
    static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    return I128ToString(neg ? -v : v) + (times < 7 ? kBin[times] : "");
  }
  i128 m = nanos;
  int exp = -9;
  while ((m >= 10 || m <= -10) && m % 10 == 0) {
    m /= 10;
    exp++;
  }
  switch (((exp % 3) + 3) % 3) {
    case 1:
      m *= 10;
      exp -= 1;
      break;
    case 2:
      m *= 100;
      exp -= 2;
      break;
    default:
      break;
  }
  std::string number = I128ToString(m);
  if (format == QuantityFormat::kDecimalExponent) {
    return exp == 0 ? number : number + "e" + std::to_string(exp);
  }
  static const char* kDec[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  int idx = exp / 3 + 3;
  return number + (idx >= 0 && idx < 10 ? kDec[idx] : "");
}

Error QuantityError(std::string_view text, std::string_view why) {
  return InvalidArgument("invalid quantity \"" + QuoteForError(text) + "\": " + std::string(why));
}

}  // namespace

int64_t Quantity::Milli() const { return Saturate(DivAway(nanos, 1'000'000)); }
int64_t Quantity::Value() const { return Saturate(DivAway(nanos, kNano)); }

namespace {

// ---- a little decimal-string arithmetic for magnitudes beyond 128 bits ----
std::string StripZeros(std::string d) {
  size_t i = 0;
  while (i + 1 < d.size() && d[i] == '0') i++;
  return d.substr(i);
}
std::string MulSmall(const std::string& d, int m) {
  std::string out(d.size(), '0');
  int carry = 0;
  for (size_t i = d.size(); i-- > 0;) {
    int v = (d[i] - '0') * m + carry;
    out[i] = static_cast<char>('0' + v % 10);
    carry = v / 10;
  }
  while (carry > 0) {
    out.insert(out.begin(), static_cast<char>('0' + carry % 10));
    carry /= 10;
  }
  return StripZeros(out);
}
std::string AddOne(std::string d) {
  for (size_t i = d.size(); i-- > 0;) {
    if (d[i] == '9') {
      d[i] = '0';
    } else {
      d[i]++;
      return d;
    }
  }
  return "1" + d;
}
// Compares two digit strings without leading zeros.
int CmpDigits(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
}
// value × 10^exp rounded up (away from zero) to an integer number of 10^-keep units: returns digits at
// exponent -keep.
std::string RoundUpTo(const std::string& digits, int64_t exp, int64_t keep) {
  int64_t shift = exp + keep;  // digits × 10^shift units
  if (shift >= 0) return digits == "0" ? "0" : digits + std::string(static_cast<size_t>(shift), '0');
  size_t cut = static_cast<size_t>(-shift);
  std::string q = cut >= digits.size() ? "0" : digits.substr(0, digits.size() - cut);
  std::string r = cut >= digits.size() ? digits : digits.substr(digits.size() - cut);
  bool nonzero = r.find_first_not_of('0') != std::string::npos;
  return nonzero ? AddOne(StripZeros(q)) : StripZeros(q);
}

constexpr const char* kMaxInt64 = "9223372036854775807";

// Is digits × 10^exp greater than 2^63-1? REQUIRES: digits has no leading zeros, and no trailing zeros
// when exp < 0 (so a negative exp means a non-zero fraction).
bool ExceedsMaxInt64(const std::string& digits, int64_t exp) {
  int64_t int_len = static_cast<int64_t>(digits.size()) + exp;  // digits before the decimal point
  if (int_len != 19) return int_len > 19;
  std::string whole = exp >= 0 ? digits + std::string(static_cast<size_t>(exp), '0') : digits.substr(0, 19);
  int c = CmpDigits(whole, kMaxInt64);
  return c > 0 || (c == 0 && exp < 0);
}

// At most this many zeros are written out after a milli-value's digits; past it MilliText uses an
// exponent, so that an input like 1e2147483647 is not answered with two billion digits.
constexpr int64_t kMaxPlainZeros = 1024;

}  // namespace

std::string ExactQuantity::MilliText() const {
  if (digits != "0" && exp10 + 3 > kMaxPlainZeros) {
    // Still an exact JSON number: digits × 10^(exp10+3), an integer because exp10+3 > 0.
    return (negative ? "-" : "") + digits + "e" + std::to_string(exp10 + 3);
  }
  std::string m = RoundUpTo(digits, exp10, 3);
  return (negative && m != "0" ? "-" : "") + m;
}

Result<ExactQuantity> ParseQuantityExact(std::string_view text) {
  if (text.empty()) return QuantityError(text, "empty string");
  ExactQuantity q;
  if (text == "0") {
    q.canonical = "0";
    return q;
  }
  Scanned sc;
  if (!Scan(text, &sc)) {
    return QuantityError(text, "must be a number with an optional suffix (e.g. 500m, 2Gi, 1e3)");
  }
  Suffix suf;
  switch (Interpret(sc.suffix, &suf)) {
    case SuffixVerdict::kOk:
      break;
    case SuffixVerdict::kExponentRange:
      return QuantityError(text, "exponent out of range (at most e2147483647 and e-2147483647)");
    case SuffixVerdict::kUnknown:
      return QuantityError(text, "unknown suffix \"" + QuoteForError(sc.suffix) +
                                     "\" (use n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<exponent>)");
  }
  if (sc.num.size() + sc.denom.size() > 4096) return QuantityError(text, "too many digits");
  std::string d = StripZeros(std::string(sc.num) + std::string(sc.denom));
  int64_t e = -static_cast<int64_t>(sc.denom.size());
  if (suf.base == 2) {
    for (int64_t i = 0; i < suf.exponent / 10; i++) d = MulSmall(d, 1024);
  } else {
    e += suf.exponent;
  }
  // Round a non-zero value up to a whole number of nanos, as Kubernetes does.
  if (d != "0" && e < -9) {
    d = RoundUpTo(d, e, 9);
    e = -9;
  }
  // Trailing zeros into the exponent.
  while (d.size() > 1 && d.back() == '0') {
    d.pop_back();
    e++;
  }
  if (d == "0") e = 0;
  q.negative = !sc.positive && d != "0";
  q.format = suf.format;
  if (q.format == QuantityFormat::kBinarySI && d != "0") {
    // Kubernetes caps BinarySI values at 2^63-1, and prints values below 1 as DecimalSI.
    // The cap applies to fractional values too ("8.1Ei" is 9338664187315460505.6 bytes: capped).
    if (ExceedsMaxInt64(d, e)) {
      d = kMaxInt64;
      e = 0;
    }
    if (static_cast<int64_t>(d.size()) + e <= 0) q.format = QuantityFormat::kDecimalSI;
  }
  q.digits = d;
  q.exp10 = e;
  if (KeepsInputString(sc, suf)) {
    q.canonical = std::string(text);
    return q;
  }
  if (d == "0") {
    q.canonical = "0";
    return q;
  }
  std::string sign = q.negative ? "-" : "";
  QuantityFormat f = q.format;
  if (f == QuantityFormat::kBinarySI) {
    // An integer that fits int64 (capped above): base-1024 form when |v| >= 1024, else DecimalSI.
    if (e < 0) {
      f = QuantityFormat::kDecimalSI;
    } else {
      i128 v = 0;
      for (char c : d) v = v * 10 + (c - '0');
      for (int64_t i = 0; i < e; i++) v *= 10;
      if (v < 1024) {
        f = QuantityFormat::kDecimalSI;
      } else {
        int times = 0;
        while (v >= 1024 && v % 1024 == 0) {
          v /= 1024;
          times++;
        }
        static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        q.canonical = sign + I128ToString(v) + (times < 7 ? kBin[times] : "");
        return q;
      }
    }
  }
  std::string m = d;
  int64_t x = e;
  while (((x % 3) + 3) % 3 != 0) {
    m += '0';
    x--;
  }
  // An exponent past what the parser reads (e2147483647) keeps the excess as zeros of the mantissa, so
  // that the canonical form reads back: 1e13 × 1e2147483647 is "100000000000000e2147483646".
  if (x > kMaxExponent) {
    int64_t top = kMaxExponent - kMaxExponent % 3;
    m.append(static_cast<size_t>(x - top), '0');
    x = top;
  }
  if (f == QuantityFormat::kDecimalExponent) {
    q.canonical = sign + m + (x == 0 ? "" : "e" + std::to_string(x));
    return q;
  }
  static const char* kDec[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  int64_t idx = x / 3 + 3;
  // Beyond E Kubernetes finds no suffix and prints the bare mantissa (1000E as "1"); allot writes the
  // exponent instead so that no magnitude is lost.
  q.canonical = sign + m + (idx >= 0 && idx < 10 ? std::string(kDec[idx]) : "e" + std::to_string(x));
  return q;
}

Result<Quantity> ParseQuantity(std::string_view text, QuantityRange range) {
  auto ex = ParseQuantityExact(text);
  if (!ex.ok()) return ex.error();
  Quantity q;
  q.format = ex->format;
  q.canonical = ex->canonical;
  const bool milli = range == QuantityRange::kMilli;
  const i128 limit = milli ? kMaxNanos : kMaxValueNanos;
  auto too_large = [&] {
    return QuantityError(text, milli ? "too large: the milli-value must fit in 64 bits (at most 9223372036854775807m)"
                                     : "too large: the value must fit in 64 bits (at most 9223372036854775807)");
  };
  // nanos = digits × 10^(exp10 + 9); exp10 >= -9 after rounding. 30 digits always fit an i128, and
  // the limit has 28, so anything longer is too large without computing it.
  int64_t shift = ex->exp10 + 9;
  if (static_cast<int64_t>(ex->digits.size()) + shift > 30) return too_large();
  i128 v = 0;
  for (char c : ex->digits) v = v * 10 + (c - '0');
  for (int64_t i = 0; i < shift; i++) v *= 10;
  if (v > limit) return too_large();
  q.nanos = ex->negative ? -v : v;
  return q;
}

std::string FormatMilli(int64_t milli) { return Canonical(static_cast<i128>(milli) * 1'000'000, QuantityFormat::kDecimalSI); }
std::string FormatBytes(int64_t bytes) { return Canonical(static_cast<i128>(bytes) * kNano, QuantityFormat::kBinarySI); }

std::string FormatBytesExact(int64_t bytes) {
  if (bytes < 0) {
    // -2^63 has no positive counterpart; it is a multiple of 1Ei (2^60), so its binary form is exact.
    if (bytes == INT64_MIN) return "-8Ei";
    return "-" + FormatBytesExact(-bytes);
  }
  if (bytes == 0) return "0";
  static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  static const char* kDec[] = {"", "k", "M", "G", "T", "P", "E"};
  int64_t b = bytes, d = bytes;
  int bi = 0, di = 0;
  while (b % 1024 == 0 && bi < 6) {
    b /= 1024;
    bi++;
  }
  while (d % 1000 == 0 && di < 6) {
    d /= 1000;
    di++;
  }
  std::string bs = std::to_string(b) + kBin[bi], ds = std::to_string(d) + kDec[di];
  return std::to_string(d).size() < std::to_string(b).size() ? ds : bs;
}

std::string FormatBytesTable(int64_t bytes) {
  std::string exact = FormatBytesExact(bytes);
  size_t digits = 0;
  for (char c : exact) digits += c >= '0' && c <= '9';
  if (digits <= 4) return exact;
  // The largest binary unit the amount reaches; at most 4 integer digits there (1023.x), so 4 significant
  // digits need 0-3 decimals.
  static const char* kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  bool negative = bytes < 0;
  double v = negative ? -static_cast<double>(bytes) : static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 6) {
    v /= 1024;
    unit++;
  }
  int int_digits = v >= 1000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", 4 - int_digits, v);
  if (std::string_view(buf) == "1024" && unit < 6) {  // 1023.5 and up round to the next unit
    unit++;
    std::snprintf(buf, sizeof buf, "1");
  }
  std::string num = buf;
  if (num.find('.') != std::string::npos) {
    while (num.back() == '0') num.pop_back();
    if (num.back() == '.') num.pop_back();
  }
  return std::string("~") + (negative ? "-" : "") + num + kBin[unit];
}

namespace {
// Parses "digits[.digits]" into value × 10^9 (exact, rounded up at the 10^-9 digit).
bool ParseDecimalNanos(std::string_view s, i128* nanos) {
  if (s.empty()) return false;
  size_t dot = s.find('.');
  std::string_view ip = s.substr(0, dot);
  std::string_view fp = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (ip.empty() && fp.empty()) return false;
  for (char c : ip)
    if (!IsDigit(c)) return false;
  for (char c : fp)
    if (!IsDigit(c)) return false;
  i128 whole = 0;
  if (!DigitsToI128(ip.empty() ? "0" : ip, &whole) || whole > kMaxNanos / kNano) return false;
  i128 frac = 0;
  bool sticky = false;
  for (size_t i = 0; i < fp.size(); i++) {
    if (i < 9) {
      frac = frac * 10 + (fp[i] - '0');
    } else if (fp[i] != '0') {
      sticky = true;
    }
  }
  for (size_t i = fp.size(); i < 9; i++) frac *= 10;
  *nanos = whole * kNano + frac + (sticky ? 1 : 0);
  return true;
}
}  // namespace

Result<int64_t> ParseDockerMemory(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid memory size \"" + QuoteForError(text) + "\": " + std::string(why));
  };
  size_t i = 0;
  while (i < text.size() && (IsDigit(text[i]) || text[i] == '.')) i++;
  i128 nanos = 0;
  if (!ParseDecimalNanos(text.substr(0, i), &nanos)) return bad("expected a number such as 512m or 2g");
  std::string_view unit = text.substr(i);
  if (!unit.empty() && unit[0] == ' ') unit.remove_prefix(1);
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int shift = 0;
  if (!u.empty() && std::strchr("kmgtp", u[0]) != nullptr) {
    shift = 10 * (1 + static_cast<int>(std::strchr("kmgtp", u[0]) - "kmgtp"));
    u.erase(0, 1);
    if (!u.empty() && u[0] == 'i') u.erase(0, 1);
  }
  if (u == "b") u.clear();
  if (!u.empty()) return bad("unknown unit (use b, k, m, g, t, p; 1024 multiples)");
  // nanos < 2^84 (ParseDecimalNanos): shifted by up to 50 (p) it would overflow i128, so compare first.
  if (nanos > (kMaxValueNanos >> shift)) return bad("too large");
  i128 bytes = DivAway(nanos << shift, kNano);
  if (bytes > std::numeric_limits<int64_t>::max()) return bad("too large");
  return static_cast<int64_t>(bytes);
}

Result<int64_t> ParseDockerCpus(std::string_view text) {
  i128 nanos = 0;
  if (!ParseDecimalNanos(text, &nanos)) {
    return InvalidArgument("invalid cpus \"" + QuoteForError(text) + "\": expected a number of cores such as 0.5");
  }
  i128 milli = DivAway(nanos, 1'000'000);
  if (milli > std::numeric_limits<int64_t>::max()) {
    return InvalidArgument("invalid cpus \"" + QuoteForError(text) + "\": too large");
  }
  return static_cast<int64_t>(milli);
}

}  // namespace allot
