// Resource names, amounts and priorities shared by every module.
//
// Internal units (what every int64 amount in allot means): cpu and gpu in milli-units (so `gpu: 500m`
// is half a device), every other resource in base units (bytes, bits/s, connections, devices).
// JSON outputs convert with ToOutputUnits: cpu stays millicores, gpu becomes whole devices rounded up
// (shares are reported separately as `gpu_milli`), the rest stay base units.
// Thread-safety: ResourceRegistry is not synchronised; the rest are pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "allot/result.h"

namespace allot {

// Well-known resource slots; custom counted resources get the slots after these.
enum WellKnownResource : uint16_t { kCpu = 0, kMemory = 1, kGpu = 2, kDisk = 3, kNetwork = 4, kNumWellKnown = 5 };

// "nvidia.com/gpu" -> "gpu", "disk" -> "ephemeral-storage", "storage" stays; others unchanged.
std::string CanonicalResourceName(std::string_view name);
// Checks a resource name: [a-z0-9A-Z] with '-', '_', '.', '/' inside, at most 253 characters.
Status ValidateResourceName(std::string_view name);
// True for resources kept in milli-units internally (cpu, gpu).
bool IsMilliResource(std::string_view canonical_name);

// Parses a non-negative amount of `canonical_name` from Kubernetes quantity text into internal units:
// cpu and gpu up to 9223372036854775807m, every other resource up to 2^63-1 base units (`100000Ti`,
// `20Pi`; BinarySI values past that are capped at 2^63-1 as Kubernetes caps them).
Result<int64_t> ParseResourceAmount(std::string_view canonical_name, std::string_view text);
// An internal amount as JSON outputs report it (see header comment).
int64_t ToOutputUnits(std::string_view canonical_name, int64_t amount);
// An internal amount in Kubernetes quantity form, exact: "1500m", "3"; bytes as FormatBytesExact ("2Gi",
// "2G").
std::string FormatResourceAmount(std::string_view canonical_name, int64_t amount);

// a + b and a × b clamped to the int64 range: sums of amounts (cluster totals, quota checks) saturate
// instead of wrapping around (undefined behaviour in C++). Up to 2^63-1 bytes fit one amount.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
inline int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return (a > 0) == (b > 0) ? INT64_MAX : INT64_MIN;
  return r;
}
// A double (an amount times a ratio) as an amount, truncated toward zero, clamped to the int64 range: the
// plain cast of a value past it is undefined behaviour. NaN is 0.
inline int64_t SaturatingCast(double v) {
  if (!(v == v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;  // 2^63: the first double past the range
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return static_cast<int64_t>(v);
}

// Interns resource names to dense slots. Slots 0..4 are the well-known resources.
class ResourceRegistry {
 public:
  ResourceRegistry();
  // The slot of `name` (canonicalised), adding it if new. Errors on an invalid name.
  Result<uint16_t> Intern(std::string_view name);
  // The slot of `name`, or -1 if unknown.
  int Find(std::string_view name) const;
  const std::string& Name(uint16_t slot) const { return names_[slot]; }
  size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
};

// Priority classes: critical=4, high=3, normal=2 (alias medium), low=1, background=0, or an integer.
Result<int> ParsePriority(std::string_view text);
// The class name of a priority if it has one ("high"), else the number.
std::string PriorityName(int priority);

}  // namespace allot
