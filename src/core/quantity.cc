// Kubernetes quantity parsing and formatting; see include/allot/quantity.h for the contract.
//
// The scanner mirrors apimachinery's parseQuantityString, and Canonical() mirrors
// Quantity.CanonicalizeBytes: read them side by side when changing anything here.
#include "allot/quantity.h"

#include <cstring>
#include <limits>

namespace allot {
namespace {

using i128 = __int128;

constexpr i128 kNano = 1'000'000'000;
// The largest magnitude allot accepts: its milli-value must fit an int64.
constexpr i128 kMaxNanos = static_cast<i128>(std::numeric_limits<int64_t>::max()) * 1'000'000;

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

bool Interpret(std::string_view s, Suffix* out) {
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
      return true;
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
    if (d.empty()) return false;
    int64_t v = 0;
    for (char c : d) {
      if (!IsDigit(c)) return false;
      if (v > 100000) v = 100000;  // saturate: anything this large overflows or rounds to 1n anyway
      v = v * 10 + (c - '0');
    }
    out->base = 10;
    out->exponent = neg ? -v : v;
    out->format = QuantityFormat::kDecimalExponent;
    return true;
  }
  return false;
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

i128 Pow10(int n) {
  i128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
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
  return InvalidArgument("invalid quantity \"" + std::string(text) + "\": " + std::string(why));
}

}  // namespace

int64_t Quantity::Milli() const { return static_cast<int64_t>(DivAway(nanos, 1'000'000)); }
int64_t Quantity::Value() const {
  i128 v = DivAway(nanos, kNano);
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

Result<Quantity> ParseQuantity(std::string_view text) {
  if (text.empty()) return QuantityError(text, "empty string");
  Quantity q;
  if (text == "0") {
    q.canonical = "0";
    return q;
  }
  Scanned sc;
  if (!Scan(text, &sc)) {
    return QuantityError(text, "must be a number with an optional suffix (e.g. 500m, 2Gi, 1e3)");
  }
  Suffix suf;
  if (!Interpret(sc.suffix, &suf)) {
    return QuantityError(text, "unknown suffix \"" + std::string(sc.suffix) +
                                   "\" (use n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<exponent>)");
  }
  i128 digits = 0;
  std::string all = std::string(sc.num) + std::string(sc.denom);
  if (!DigitsToI128(all, &digits)) return QuantityError(text, "too many digits");
  // value = digits × 10^-len(denom) × base^exponent; nanos = ceil_away(value × 10^9).
  int64_t dec_exp = 9 - static_cast<int64_t>(sc.denom.size());
  i128 nanos = 0;
  if (digits != 0) {
    if (suf.base == 2) {
      int bits = static_cast<int>(suf.exponent);
      if (digits > (static_cast<i128>(1) << (120 - bits))) return QuantityError(text, "too large");
      digits <<= bits;
    } else {
      dec_exp += suf.exponent;
    }
    if (dec_exp >= 0) {
      if (dec_exp > 30) return QuantityError(text, "too large: the milli-value must fit in 64 bits");
      i128 p = Pow10(static_cast<int>(dec_exp));
      if (digits > kMaxNanos / p) return QuantityError(text, "too large: the milli-value must fit in 64 bits");
      nanos = digits * p;
    } else {
      nanos = dec_exp < -37 ? 1 : DivAway(digits, Pow10(static_cast<int>(-dec_exp)));
    }
    if (nanos > kMaxNanos) return QuantityError(text, "too large: the milli-value must fit in 64 bits");
    if (!sc.positive) nanos = -nanos;
  }
  q.nanos = nanos;
  q.format = suf.format;
  if (q.format == QuantityFormat::kBinarySI && nanos > 0 && nanos < kNano) q.format = QuantityFormat::kDecimalSI;
  q.canonical = KeepsInputString(sc, suf) ? std::string(text) : Canonical(nanos, q.format);
  return q;
}

std::string FormatMilli(int64_t milli) { return Canonical(static_cast<i128>(milli) * 1'000'000, QuantityFormat::kDecimalSI); }
std::string FormatBytes(int64_t bytes) { return Canonical(static_cast<i128>(bytes) * kNano, QuantityFormat::kBinarySI); }

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
    return InvalidArgument("invalid memory size \"" + std::string(text) + "\": " + std::string(why));
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
  i128 bytes_nanos = nanos << shift;
  i128 bytes = DivAway(bytes_nanos, kNano);
  if (bytes > std::numeric_limits<int64_t>::max()) return bad("too large");
  return static_cast<int64_t>(bytes);
}

Result<int64_t> ParseDockerCpus(std::string_view text) {
  i128 nanos = 0;
  if (!ParseDecimalNanos(text, &nanos)) {
    return InvalidArgument("invalid cpus \"" + std::string(text) + "\": expected a number of cores such as 0.5");
  }
  return static_cast<int64_t>(DivAway(nanos, 1'000'000));
}

}  // namespace allot
