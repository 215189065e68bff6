// Kubernetes resource quantities ("500m", "2Gi", "1e3") and docker's units ("512m", "2g", cpus "0.5").
//
// ParseQuantity follows k8s.io/apimachinery's ParseQuantity exactly: the same accepted syntax, the same
// rounding (non-zero values are rounded up, away from zero, to a multiple of 1n) and the same canonical
// form as Quantity.String(), including reuse of an input that is already canonical ("+1" stays "+1").
// Values are exact: ParseQuantityExact keeps any magnitude Kubernetes accepts (an arbitrary-precision
// decimal, BinarySI capped at 2^63-1 as Kubernetes caps it); ParseQuantity, for amounts the rest of
// allot computes with, additionally requires the milli-value to fit an int64 and rejects larger values.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "allot/result.h"

namespace allot {

enum class QuantityFormat { kDecimalSI, kBinarySI, kDecimalExponent };

struct Quantity {
  __int128 nanos = 0;  // exact value × 10^9 (already rounded up as Kubernetes does)
  QuantityFormat format = QuantityFormat::kDecimalSI;
  std::string canonical;  // the form Kubernetes prints

  // ceil(value × 1000), rounding away from zero (Kubernetes' MilliValue).
  int64_t Milli() const;
  // ceil(value), rounding away from zero (Kubernetes' Value).
  int64_t Value() const;
};

// A quantity of any magnitude: value = (negative ? -1 : 1) × digits × 10^exp10, rounded up to 1n.
struct ExactQuantity {
  bool negative = false;
  std::string digits = "0";  // no leading zeros
  int64_t exp10 = 0;
  QuantityFormat format = QuantityFormat::kDecimalSI;
  std::string canonical;
  // ceil(value × 1000) away from zero, as a decimal integer of any length (the JSON `milli`).
  std::string MilliText() const;
};

// Parses a Kubernetes quantity exactly as apimachinery's ParseQuantity does. Errors name the input.
Result<ExactQuantity> ParseQuantityExact(std::string_view text);
// As above, for amounts allot computes with: also rejects values whose milli-value overflows int64.
Result<Quantity> ParseQuantity(std::string_view text);

// The canonical Kubernetes form of an integer amount: milli-units as DecimalSI ("1500m", "2"),
// or bytes as BinarySI when exact ("2Gi"), else DecimalSI.
std::string FormatMilli(int64_t milli);
std::string FormatBytes(int64_t bytes);

// docker / compose memory: a plain number of bytes or a number with b, k, m, g (1024 multiples; "kb",
// "mb", "gb" too, any case). Returns bytes, rounded up.
Result<int64_t> ParseDockerMemory(std::string_view text);
// docker / compose `cpus: '0.5'`: cores as a decimal number. Returns millicores, rounded up.
Result<int64_t> ParseDockerCpus(std::string_view text);

}  // namespace allot
