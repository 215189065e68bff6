// The score bound kernel (block_keys.h): four nodes at a time, every dimension and requested resource
// applied while the sums stay in registers. Two builds of it: AVX2 intrinsics (floor in one instruction)
// and a portable one in GCC vector extensions; the CPU picks once.
#include "engine/block_keys.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace allot::engine {

namespace {
// A per-resource score is floored as kube-scheduler's integer division floors it; the slack keeps the
// floor of a value computed a few ulps below an integer at that integer (so K never drops below).
constexpr double kSlack = 1e-9;

using V4d = double __attribute__((vector_size(32)));
using V4l = int64_t __attribute__((vector_size(32)));
using V4i = int32_t __attribute__((vector_size(16)));

BlockKeysFn Pick();
}  // namespace

__attribute__((target("avx2"))) double BlockKeysAvx2(const KernelInput& in, uint32_t lo, double* out) {
  const __m256d no = _mm256_set1_pd(-1e300), hundred = _mm256_set1_pd(100.0), zero = _mm256_setzero_pd();
  const __m256d minus_one = _mm256_set1_pd(-1.0), slack = _mm256_set1_pd(kSlack);
  const __m256d inv_wsum = _mm256_set1_pd(in.inv_wsum);
  __m256d best = minus_one;
  for (uint32_t j = lo; j < lo + kKernelBlock; j += 4) {
    __m256d acc = _mm256_loadu_pd(in.bias + j);
    for (int k = 0; k < in.n_dims; k++) {
      __m256d used = _mm256_add_pd(_mm256_loadu_pd(in.used[k] + j), _mm256_set1_pd(in.pod[k]));
      __m256d x = _mm256_mul_pd(used, _mm256_loadu_pd(in.inv[k] + j));
      x = in.packing ? _mm256_min_pd(x, hundred) : _mm256_max_pd(_mm256_sub_pd(hundred, x), zero);
      acc = _mm256_add_pd(
          acc, _mm256_mul_pd(_mm256_set1_pd(in.weight[k]), _mm256_floor_pd(_mm256_add_pd(x, slack))));
    }
    __m256i fits = _mm256_set1_epi64x(-1);
    for (int r = 0; r < in.n_req; r++) {
      __m256i free = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in.free[r] + j));
      fits = _mm256_andnot_si256(_mm256_cmpgt_epi64(_mm256_set1_epi64x(in.need[r]), free), fits);
    }
    __m256d v = _mm256_mul_pd(_mm256_blendv_pd(no, acc, _mm256_castsi256_pd(fits)), inv_wsum);
    v = _mm256_blendv_pd(v, minus_one, _mm256_cmp_pd(v, zero, _CMP_LT_OQ));
    v = _mm256_min_pd(v, hundred);  // unbounded nodes: the most any node scores
    _mm256_storeu_pd(out + (j - lo), v);
    best = _mm256_max_pd(best, v);
  }
  double b[4];
  _mm256_storeu_pd(b, best);
  return std::max(std::max(b[0], b[1]), std::max(b[2], b[3]));
}

double BlockKeysPortable(const KernelInput& in, uint32_t lo, double* out) {
  const V4d no = {-1e300, -1e300, -1e300, -1e300};
  const V4d hundred = {100.0, 100.0, 100.0, 100.0};
  const V4d zero = {0.0, 0.0, 0.0, 0.0};
  const V4d minus_one = {-1.0, -1.0, -1.0, -1.0};
  V4d best = minus_one;
  for (uint32_t j = lo; j < lo + kKernelBlock; j += 4) {
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
      acc += in.weight[k] * __builtin_convertvector(__builtin_convertvector(x + kSlack, V4i), V4d);
    }
    for (int r = 0; r < in.n_req; r++) {
      std::memcpy(&f, in.free[r] + j, sizeof f);
      acc = f >= in.need[r] ? acc : no;
    }
    V4d v = acc * in.inv_wsum;
    v = v < zero ? minus_one : v;
    v = v < hundred ? v : hundred;
    std::memcpy(out + (j - lo), &v, sizeof v);
    best = v > best ? v : best;
  }
  return std::max(std::max(best[0], best[1]), std::max(best[2], best[3]));
}

namespace {
BlockKeysFn Pick() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? BlockKeysAvx2 : BlockKeysPortable;
}
}  // namespace

const BlockKeysFn kBlockKeys = Pick();

}  // namespace allot::engine
