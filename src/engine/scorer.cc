// The Scorer defaults.
#include "engine/scorer.h"

namespace allot::engine {

int Scorer::ShareDevice(const NodeView& nodes, const Alloc& a, uint32_t ni) {
  int64_t g = a.req.Get(kGpu);
  const std::vector<int16_t>& f = nodes.gpu_free(ni);
  int best = -1;
  for (size_t d = 0; d < f.size(); d++)
    if (f[d] >= g && (best < 0 || f[d] < f[best])) best = static_cast<int>(d);
  return best;
}

}  // namespace allot::engine
