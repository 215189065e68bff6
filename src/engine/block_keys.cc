// The score bound kernel (block_keys.h): four nodes at a time, every dimension and requested resource
// applied while the sums stay in registers.
#include "engine/block_keys.h"

#include <cstring>

namespace allot::engine {

namespace {
using V4d = double __attribute__((vector_size(32)));
using V4l = int64_t __attribute__((vector_size(32)));
using V4i = int32_t __attribute__((vector_size(16)));
}  // namespace

__attribute__((target_clones("avx2", "default"))) double BlockKeys(const KernelInput& in, uint32_t lo,
                                                                   double* out) {
  constexpr uint32_t B = kKernelBlock;
  const V4d no = {-1e300, -1e300, -1e300, -1e300};
  const V4d hundred = {100.0, 100.0, 100.0, 100.0};
  const V4d zero = {0.0, 0.0, 0.0, 0.0};
  const V4d minus_one = {-1.0, -1.0, -1.0, -1.0};
  // A per-resource score is floored as kube-scheduler's integer division floors it; the slack keeps the
  // floor of a value computed a few ulps below an integer at that integer (so K never drops below).
  const V4d slack = {1e-9, 1e-9, 1e-9, 1e-9};
  V4d best = minus_one;
  for (uint32_t j = lo; j < lo + B; j += 4) {
    V4d acc, u, iv;
    V4l f;
    std::memcpy(&acc, in.bias + j, sizeof acc);
    for (int k = 0; k < in.n_dims; k++) {
      std::memcpy(&u, in.used[k] + j, sizeof u);
      std::memcpy(&iv, in.inv[k] + j, sizeof iv);
      V4d x = (u + in.pod[k]) * iv;
      if (in.packing) {
        x = x < hundred ? x : hundred;
      } else {
        x = hundred - x;
        x = x > zero ? x : zero;
      }
      // 0 <= x <= 100: truncation is the floor.
      V4d fl = __builtin_convertvector(__builtin_convertvector(x + slack, V4i), V4d);
      acc += in.weight[k] * fl;
    }
    for (int r = 0; r < in.n_req; r++) {
      std::memcpy(&f, in.free[r] + j, sizeof f);
      acc = f >= in.need[r] ? acc : no;
    }
    V4d v = acc * in.inv_wsum;
    v = v < zero ? minus_one : v;
    v = v < hundred ? v : hundred;  // unbounded nodes: the most any node scores
    std::memcpy(out + (j - lo), &v, sizeof v);
    best = v > best ? v : best;
  }
  double b = best[0];
  for (int i = 1; i < 4; i++) b = best[i] > b ? best[i] : b;
  return b;
}

}  // namespace allot::engine
