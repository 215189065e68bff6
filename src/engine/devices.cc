// Engine: GPU devices. A node's gpu capacity is devices of 1000m (a remainder makes one partial device); a
// share (below 1000m) takes part of one device, whole GPUs take devices that are entirely free.
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {

void Engine::Impl::InitDevices(uint32_t ni) {
  NodeMeta& n = nodes[ni];
  int64_t c = cap[kGpu][ni];
  n.gpu_cap.assign(static_cast<size_t>(c / 1000), 1000);
  if (c % 1000) n.gpu_cap.push_back(static_cast<int16_t>(c % 1000));
  n.gpu_free = n.gpu_cap;
  // Unmanaged GPU use takes whole devices from the end.
  int64_t u = 0;
  auto it = n.unmanaged.find("gpu");
  if (it != n.unmanaged.end()) u = it->second;
  for (size_t d = n.gpu_free.size(); d-- > 0 && u > 0;) {
    int64_t take = std::min<int64_t>(u, n.gpu_free[d]);
    n.gpu_free[d] = static_cast<int16_t>(n.gpu_free[d] - take);
    u -= take;
  }
}

bool Engine::Impl::GpuFits(uint32_t ni, int64_t g, bool ever) const {
  if (g <= 0) return true;
  const auto& v = ever ? nodes[ni].gpu_cap : nodes[ni].gpu_free;
  if (g < 1000) {
    for (int16_t f : v)
      if (f >= g) return true;
    return false;
  }
  int64_t whole = 0;
  for (int16_t f : v) whole += f == 1000;
  return whole * 1000 >= g;
}

void Engine::Impl::GpuTake(uint32_t ai, uint32_t ni) {
  Alloc& a = allocs[ai];
  int64_t g = a.req.Get(kGpu);
  if (g <= 0) return;
  auto& f = nodes[ni].gpu_free;
  auto& held = a.X().gpu_devices;
  if (g < 1000) {
    // The scorer's choice: best fit by default, the least fragmenting device under gpu-fragmentation.
    int best = scorer->ShareDevice(node_view, a, ni);
    if (best < 0) return;  // only when restoring onto a changed node
    f[best] = static_cast<int16_t>(f[best] - g);
    held.emplace_back(ni, static_cast<uint8_t>(best));
    return;
  }
  int64_t need = g / 1000;
  for (size_t d = 0; d < f.size() && need > 0; d++) {
    if (f[d] == 1000) {
      f[d] = 0;
      held.emplace_back(ni, static_cast<uint8_t>(d));
      need--;
    }
  }
}

void Engine::Impl::GpuRelease(Alloc& a) {
  if (!a.extra || a.extra->gpu_devices.empty() || a.extra->gpu_released) return;
  int64_t g = a.req.Get(kGpu);
  int16_t each = static_cast<int16_t>(g < 1000 ? g : 1000);
  for (const auto& [ni, d] : a.extra->gpu_devices) {
    auto& f = nodes[ni].gpu_free;
    if (d < f.size()) f[d] = static_cast<int16_t>(std::min<int>(f[d] + each, nodes[ni].gpu_cap[d]));
  }
  a.extra->gpu_released = true;
}

}  // namespace allot
