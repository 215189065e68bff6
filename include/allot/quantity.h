// Kubernetes resource quantities ("500m", "2Gi", "1e3") and docker's units ("512m", "2g", cpus "0.5").
//
// ParseQuantity follows k8s.io/apimachinery's ParseQuantity exactly: the same accepted syntax, the same
// rounding (non-zero values are rounded up, away from zero, to a multiple of 1n) and the same canonical
// form as Quantity.String(), including reuse of an input that is already canonical ("+1" stays "+1").
// Values are exact: ParseQuantityExact keeps any magnitude Kubernetes accepts (an arbitrary-precision
// decimal, BinarySI capped at 2^63-1 as Kubernetes caps it); ParseQuantity, for amounts the rest of
// allot computes with, additionally requires the amount to fit an int64 in the units asked for
// (milli-units for cpu and gpu, base units for the rest) and rejects larger values.
//
// Ranges, as Kubernetes has them:
//  - An exponent after e/E must lie in [-2147483647, 2147483647] (Kubernetes parses it as an int64 and
//    keeps it as a negated int32 scale, rejecting the rest); `1e9223372036854775808`, `0e2147483648`
//    and `1e-9223372036854775809` are errors. Values are kept as digits and an exponent, never expanded.
//  - BinarySI values (Ki … Ei) larger than 2^63-1 in magnitude, whole or fractional, are capped at
//    2^63-1 after rounding up to 1n: `9Ei`, `8.1Ei` and `9223372036854775807Ki` all parse as
//    9223372036854775807 (Kubernetes' Value() of them). DecimalSI and exponent values are not capped.
//  - Where Kubernetes' MilliValue()/Value() overflow int64 silently (MilliValue of the cap wraps to
//    -1000), allot rejects (ParseQuantity) or saturates (Quantity::Milli/Value) instead.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "allot/result.h"

namespace allot {

enum class QuantityFormat { kDecimalSI, kBinarySI, kDecimalExponent };

struct Quantity {
  __int128 nanos = 0;  // exact value × 10^9 (already rounded up as Kubernetes does); |nanos| < 2^63 × 10^9
  QuantityFormat format = QuantityFormat::kDecimalSI;
  std::string canonical;  // the form Kubernetes prints

  // ceil(value × 1000), rounding away from zero (Kubernetes' MilliValue); saturates at the int64
  // bounds (only reachable from QuantityRange::kValue, whose milli-value may not fit).
  int64_t Milli() const;
  // ceil(value), rounding away from zero (Kubernetes' Value); saturates at the int64 bounds.
  int64_t Value() const;
};

// A quantity of any magnitude: value = (negative ? -1 : 1) × digits × 10^exp10, rounded up to 1n.
struct ExactQuantity {
  bool negative = false;
  std::string digits = "0";  // no leading zeros
  int64_t exp10 = 0;
  QuantityFormat format = QuantityFormat::kDecimalSI;
  std::string canonical;
  // ceil(value × 1000) away from zero, exactly, as a JSON number (the JSON `milli`): plain digits
  // while at most 1024 zeros follow them, else digits "e" exponent (`1e2147483650`), so the text stays
  // as short as the input.
  std::string MilliText() const;
};

// Parses a Kubernetes quantity exactly as apimachinery's ParseQuantity does. Errors name the input.
Result<ExactQuantity> ParseQuantityExact(std::string_view text);
// Which int64 a parsed amount must fit: its milli-value (cpu, gpu) or its value (bytes and counts).
enum class QuantityRange { kMilli, kValue };
// As above, for amounts allot computes with: also rejects values whose milli-value (kMilli) or value
// (kValue, so up to 2^63-1 bytes: `100000Ti`, `20Pi`, `7Ei`) overflows int64.
Result<Quantity> ParseQuantity(std::string_view text, QuantityRange range = QuantityRange::kMilli);

// The canonical Kubernetes form of an integer amount: milli-units as DecimalSI ("1500m", "2"),
// or bytes as BinarySI when exact ("2Gi"), else DecimalSI.
std::string FormatMilli(int64_t milli);
std::string FormatBytes(int64_t bytes);

// Bytes for people, exact: the amount in the largest unit, binary (Ki ... Ei) or decimal (k ... E), that
// holds it as a whole number, whichever has fewer digits (binary on a tie), so an amount shows in the unit
// it was most likely given in: 4Gi, 1000Mi, 1G, 1536. Always a valid quantity. (FormatBytes, Kubernetes'
// canonical form, writes 2G as 1953125Ki.)
std::string FormatBytesExact(int64_t bytes);
// Bytes in a table meant for people: FormatBytesExact while its number has at most 4 digits, else rounded
// to 4 significant digits in the largest binary unit it reaches and marked with '~' as not exact:
// 14536037Ki -> "~13.86Gi", 130072Mi -> "~127Gi". Never in JSON, YAML or anything a program reads.
std::string FormatBytesTable(int64_t bytes);

// docker / compose memory: a plain number of bytes or a number with b, k, m, g (1024 multiples; "kb",
// "mb", "gb" too, any case). Returns bytes, rounded up.
Result<int64_t> ParseDockerMemory(std::string_view text);
// docker / compose `cpus: '0.5'`: cores as a decimal number. Returns millicores, rounded up.
Result<int64_t> ParseDockerCpus(std::string_view text);

}  // namespace allot
