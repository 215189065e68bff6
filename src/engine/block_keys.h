// The score bound kernel of the placement scan: for one request and one block of kBlock consecutive
// nodes, an upper bound K on most- or least-allocated's exact score of each node (-1 where the request
// does not fit the free columns). K is kube-scheduler's formula with each resource's score floored as
// kube-scheduler floors it (computed in doubles with a small slack upwards), so floor(K) is the exact
// score except where a per-resource score lies within 1e-9 of an integer, and never below it.
//
// Thread-safety: a pure function of its input.
#pragma once

#include <cstdint>

namespace allot::engine {

inline constexpr uint32_t kKernelBlock = 32;  // nodes per call, a multiple of 4

// What the kernel reads: per requested resource (amount > 0) its free column and the amount; per scored
// dimension the node's requested amount (non-zero adjusted where the scorer says so) and 100 / capacity,
// the pod's amount and the weight; and per node a bias: 0 for nodes the formula bounds, a huge value for
// schedulable nodes it does not (a scored resource without capacity: their key is 100, the most any
// node scores), -1e300 for nodes that are not schedulable.
struct KernelInput {
  const int64_t* free[16];
  int64_t need[16];
  uint16_t slot_of[16];
  int n_req = 0;
  const double* used[16];
  const double* inv[16];
  double pod[16], weight[16];
  int n_dims = 0;
  double inv_wsum = 0;
  bool packing = true;  // most-allocated; false: least-allocated
  const double* bias = nullptr;
};

// Nodes whose bias says the formula does not bound them.
inline constexpr double kUnboundedBias = 1e250;
inline constexpr double kExcludedBias = -1e300;

// Writes K for the kKernelBlock nodes from `lo` to out[0..kKernelBlock) and returns their maximum
// (-1 when none fits). AVX2 where the CPU has it (chosen once), with a portable fallback.
using BlockKeysFn = double (*)(const KernelInput& in, uint32_t lo, double* out);
extern const BlockKeysFn kBlockKeys;
inline double BlockKeys(const KernelInput& in, uint32_t lo, double* out) { return kBlockKeys(in, lo, out); }
// The two builds, for tests (BlockKeysAvx2 REQUIRES: the CPU has AVX2).
double BlockKeysAvx2(const KernelInput& in, uint32_t lo, double* out);
double BlockKeysPortable(const KernelInput& in, uint32_t lo, double* out);

}  // namespace allot::engine
