// Engine: events, explanations and read-only queries.
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {

std::vector<EngineEvent> Engine::TakeEvents() {
  std::vector<EngineEvent> out;
  out.swap(impl_->events);
  return out;
}
void Engine::DrainEvents(std::vector<EngineEvent>* out) {
  out->clear();
  out->swap(impl_->events);
}
void Engine::SetExplain(bool on) { impl_->explain = on; }
std::vector<Explanation> Engine::TakeExplanations() {
  std::vector<Explanation> out;
  out.swap(impl_->explanations);
  return out;
}

Result<AllocationInfo> Engine::Get(const std::string& id) const {
  uint32_t ai = impl_->alloc_index.Find(id);
  if (ai == kNone) return NotFound("unknown allocation \"" + id + "\"");
  return impl_->Info(impl_->allocs[ai]);
}

void Engine::ForEachAllocation(const std::function<void(const AllocationInfo&)>& fn) const {
  for (size_t i = 0; i < impl_->allocs.size(); i++)
    if (impl_->allocs[i].live) fn(impl_->Info(impl_->allocs[i]));
}

std::vector<NodeInfo> Engine::Nodes() const {
  std::vector<NodeInfo> out;
  out.reserve(impl_->node_index.size());
  for (const auto& meta : impl_->nodes)
    if (!meta.removed) out.push_back(*Node(meta.name));
  return out;
}

std::vector<std::string> Engine::ResourceNames() const {
  std::vector<std::string> out;
  for (size_t s = 0; s < impl_->registry.size(); s++) out.push_back(impl_->registry.Name(static_cast<uint16_t>(s)));
  return out;
}

void Engine::ForEachNodeRow(const std::function<void(const NodeRow&)>& fn) const {
  ForEachNodeRow(0, impl_->nodes.size(), fn);
}

size_t Engine::ForEachNodeRow(size_t from, size_t slots,
                              const std::function<void(const NodeRow&)>& fn) const {
  auto& m = *impl_;
  NodeRow row;
  size_t r = m.registry.size();
  row.capacity.assign(r, 0);
  row.allocated.assign(r, 0);
  size_t end = from + std::min(slots, m.nodes.size() - std::min(from, m.nodes.size()));
  for (size_t ni = from; ni < end; ni++) {
    const auto& meta = m.nodes[ni];
    if (meta.removed) continue;
    row.name = meta.name;
    row.slot = static_cast<uint32_t>(ni);
    row.up = meta.up;
    row.draining = meta.draining;
    row.allocations = meta.allocs.size();
    for (size_t s = 0; s < r; s++) {
      row.capacity[s] = m.cap[s][ni];
      row.allocated[s] = m.used[s][ni];
    }
    fn(row);
  }
  return end < m.nodes.size() ? end : 0;
}

Result<NodeInfo> Engine::Node(const std::string& name) const {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end()) return NotFound("node \"" + name + "\" not found");
  uint32_t ni = it->second;
  const auto& meta = m.nodes[ni];
  NodeInfo n;
  n.name = meta.name;
  n.pool = meta.pool;
  n.labels = meta.labels;
  n.taints = meta.taints;
  n.up = meta.up;
  n.draining = meta.draining;
  n.observed = meta.observed;
  n.allocations = meta.allocs.size();
  for (size_t s = 0; s < m.registry.size(); s++) {
    if (m.cap[s][ni] == 0 && m.used[s][ni] == 0) continue;
    const auto& rn = m.registry.Name(static_cast<uint16_t>(s));
    n.capacity[rn] = m.cap[s][ni];
    n.allocated[rn] = m.used[s][ni];
    n.free[rn] = std::max<int64_t>(0, m.cap[s][ni] - m.used[s][ni]);
  }
  return n;
}

std::vector<TenantUsage> Engine::Tenants() const {
  auto& m = *impl_;
  std::vector<TenantUsage> out;
  for (uint32_t t = 1; t < m.tenants.size(); t++) {
    const auto& tn = m.tenants[t];
    TenantUsage u;
    u.path = tn.path;
    for (size_t s = 0; s < m.registry.size(); s++) {
      const auto& rn = m.registry.Name(static_cast<uint16_t>(s));
      if (tn.used[s] != 0) u.used[rn] = tn.used[s];
      if (tn.guaranteed[s] >= 0) {
        u.guaranteed[rn] = tn.guaranteed[s];
        if (tn.used[s] > tn.guaranteed[s]) u.borrowed[rn] = tn.used[s] - tn.guaranteed[s];
      }
      if (tn.max[s] >= 0) u.max[rn] = tn.max[s];
    }
    u.dominant_share = m.DominantShare(t);
    u.running = tn.running;
    u.queued = tn.queued;
    out.push_back(std::move(u));
  }
  std::sort(out.begin(), out.end(), [](const TenantUsage& a, const TenantUsage& b) { return a.path < b.path; });
  return out;
}

std::vector<ReservationInfo> Engine::Reservations() const {
  auto& m = *impl_;
  std::vector<ReservationInfo> out;
  for (const auto& r : m.reservations) {
    if (!r.live) continue;
    ReservationInfo i;
    i.spec = r.spec;
    i.node = r.node == kNone ? "" : m.nodes[r.node].name;
    for (size_t s = 0; s < r.used.size(); s++)
      if (r.used[s]) i.used[m.registry.Name(static_cast<uint16_t>(s))] = r.used[s];
    out.push_back(std::move(i));
  }
  return out;
}

void Engine::ForEachDominantShare(const std::function<void(size_t, std::string_view, double)>& fn) const {
  auto& m = *impl_;
  for (uint32_t t = 1; t < m.tenants.size(); t++) fn(t - 1, m.tenants[t].path, m.DominantShare(t));
}

ResourceMap Engine::TotalCapacity() const {
  // Kept by node changes (CountNode): O(resources), not O(nodes). A sum over up nodes never passes the sum
  // over present ones, which AddNode and UpdateNode keep within int64.
  auto& m = *impl_;
  ResourceMap out;
  for (size_t s = 0; s < m.registry.size() && s < m.cluster_cap.size(); s++)
    if (m.cluster_cap[s]) out[m.registry.Name(static_cast<uint16_t>(s))] = m.cluster_cap[s];
  return out;
}

namespace {
// Unmanaged usage may exceed capacity, so a cluster's allocated sum is clamped rather than wrapped.
int64_t Saturated(__int128 sum) {
  if (sum > INT64_MAX) return INT64_MAX;
  if (sum < INT64_MIN) return INT64_MIN;
  return static_cast<int64_t>(sum);
}
}  // namespace

ResourceMap Engine::TotalAllocated() const {
  auto& m = *impl_;
  ResourceMap out;
  for (size_t s = 0; s < m.registry.size() && s < m.cluster_used.size(); s++)
    if (int64_t sum = Saturated(m.cluster_used[s])) out[m.registry.Name(static_cast<uint16_t>(s))] = sum;
  return out;
}

void Engine::ForEachResourceTotal(const std::function<void(std::string_view, int64_t, int64_t)>& fn) const {
  auto& m = *impl_;
  for (size_t s = 0; s < m.registry.size(); s++)
    fn(m.registry.Name(static_cast<uint16_t>(s)), s < m.cluster_cap.size() ? m.cluster_cap[s] : 0,
       s < m.cluster_used.size() ? Saturated(m.cluster_used[s]) : 0);
}

size_t Engine::QueueDepth() const { return impl_->queue.size(); }
size_t Engine::RunningCount() const { return impl_->running; }
const EngineOptions& Engine::options() const { return impl_->opts; }

}  // namespace allot
