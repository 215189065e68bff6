// Engine: nodes (add, update, remove, down, up, drain, observed usage) and the node columns the placement
// scan reads (free amounts, score inputs, block summaries).
#include <algorithm>
#include <cctype>
#include <numeric>

#include "allot/resources.h"
#include "engine/engine_impl.h"

namespace allot {

namespace {
Status ValidateNodeName(const std::string& n) {
  if (n.empty()) return InvalidArgument("node name is empty");
  if (n.size() > 253) return InvalidArgument("node name is longer than 253 characters");
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidArgument("node name \"" + n + "\" has an invalid character '" + std::string(1, c) + "'");
    }
  }
  return Status::Ok();
}

// Would these amounts on node `skip` take the sum of `cols` over every node not removed (`totals`, kept
// by the engine) past 2^63-1? Refusing such a node keeps every cluster-wide total (capacity, usage,
// quotas, metrics) within int64.
Status CheckClusterTotal(const std::vector<__int128>& totals, const std::vector<std::vector<int64_t>>& cols,
                         uint32_t skip, const std::vector<std::pair<int, int64_t>>& amounts,
                         const ResourceRegistry& registry, const std::string& node, const char* what) {
  for (auto [slot, v] : amounts) {
    if (slot < 0 || static_cast<size_t>(slot) >= cols.size()) continue;  // a new resource: v alone fits
    __int128 sum = static_cast<size_t>(slot) < totals.size() ? totals[static_cast<size_t>(slot)] : 0;
    if (skip != kNone) sum -= cols[static_cast<size_t>(slot)][skip];
    sum += v;
    if (sum > INT64_MAX) {
      return InvalidArgument("node " + node + ": " + what + "." + registry.Name(static_cast<uint16_t>(slot)) +
                             " would take the cluster's total past 2^63-1 (9223372036854775807)");
    }
  }
  return Status::Ok();
}

// A node's GPUs are kept device by device (devices.cc), so their number is bounded: a capacity of 1e13
// GPUs (which a POST /v1/nodes can ask for) would otherwise be a 20 TB device table.
constexpr int64_t kMaxNodeGpus = 4096;

Status CheckGpuCount(const NodeSpec& spec) {
  auto it = spec.capacity.find("gpu");
  if (it == spec.capacity.end() || it->second <= kMaxNodeGpus * 1000) return Status::Ok();
  std::string gpus = std::to_string(it->second / 1000);
  if (int64_t milli = it->second % 1000) {
    std::string frac = std::to_string(1000 + milli).substr(1);
    gpus += "." + frac.substr(0, frac.find_last_not_of('0') + 1);
  }
  return InvalidArgument("node " + spec.name + ": capacity.gpu is " + gpus + " GPUs; a node has at most " +
                         std::to_string(kMaxNodeGpus));
}

// (slot or -1, amount) for each entry of `r`, without adding resources to the registry.
std::vector<std::pair<int, int64_t>> KnownSlots(const ResourceRegistry& registry, const ResourceMap& r) {
  std::vector<std::pair<int, int64_t>> out;
  for (const auto& [k, v] : r) out.emplace_back(registry.Find(k), v);
  return out;
}
}  // namespace

Status Engine::AddNode(const NodeSpec& spec, TimeMs now) {
  auto& m = *impl_;
  if (auto s = ValidateNodeName(spec.name); !s.ok()) return s;
  if (m.node_index.count(spec.name)) return AlreadyExists("node \"" + spec.name + "\" already exists");
  std::vector<std::pair<uint16_t, int64_t>> caps, unmanaged;
  for (const auto& [k, v] : spec.capacity) {
    if (v < 0) return InvalidArgument("node " + spec.name + ": capacity." + k + " is negative");
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    caps.emplace_back(*slot, v);
  }
  if (auto s = CheckGpuCount(spec); !s.ok()) return s;
  for (const auto& [k, v] : spec.allocated) {
    if (v < 0) return InvalidArgument("node " + spec.name + ": allocated." + k + " is negative");
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    unmanaged.emplace_back(*slot, v);
  }
  for (const auto& t : spec.taints) {
    if (t.key.empty()) return InvalidArgument("node " + spec.name + ": a taint has no key");
    if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
      return InvalidArgument("node " + spec.name + ": taint effect \"" + t.effect +
                             "\" (use NoSchedule, PreferNoSchedule or NoExecute)");
    }
  }
  if (auto s = CheckClusterTotal(m.present_cap, m.cap, kNone, KnownSlots(m.registry, spec.capacity),
                                 m.registry, spec.name, "capacity");
      !s.ok()) {
    return s;
  }
  if (auto s = CheckClusterTotal(m.present_used, m.used, kNone, KnownSlots(m.registry, spec.allocated),
                                 m.registry, spec.name, "allocated");
      !s.ok()) {
    return s;
  }
  NodeMeta meta;
  meta.name = spec.name;
  meta.pool = spec.pool;
  meta.labels = spec.labels;
  meta.taints = spec.taints;
  for (const auto& t : spec.taints) meta.hard_taint |= t.effect != "PreferNoSchedule";
  meta.unmanaged = spec.allocated;
  uint32_t ni;
  if (auto old = m.removed_slots.find(spec.name); old != m.removed_slots.end()) {
    ni = old->second;  // back under its old name: its slot, emptied when it was removed
    m.removed_slots.erase(old);
    m.nodes[ni] = std::move(meta);
    for (auto& col : m.cap) col[ni] = 0;
    for (auto& col : m.used) col[ni] = 0;
    m.nz_cpu[ni] = m.nz_mem[ni] = 0;
    m.schedulable[ni] = 1;
  } else {
    ni = static_cast<uint32_t>(m.nodes.size());
    m.nodes.push_back(std::move(meta));
    for (auto& col : m.cap) col.push_back(0);
    for (auto& col : m.used) col.push_back(0);
    m.nz_cpu.push_back(0);
    m.nz_mem.push_back(0);
    m.schedulable.push_back(1);
  }
  for (auto [slot, v] : caps) m.cap[slot][ni] = v;
  for (auto [slot, v] : unmanaged) m.used[slot][ni] += v;
  m.nz_cpu[ni] = m.used[kCpu][ni];
  m.nz_mem[ni] = m.used[kMemory][ni];
  m.node_index.emplace(spec.name, ni);
  m.InitDevices(ni);
  m.CountNode(ni, +1);
  m.CountPresent(ni, +1);
  m.UpdateBlock(ni / Impl::kBlock);
  m.capacity_epoch++;
  m.topology_epoch++;
  m.Emit(EventType::kNodeAdded, now, spec.name);
  return Status::Ok();
}

Status Engine::UpdateNode(const NodeSpec& spec, TimeMs now) {
  auto& m = *impl_;
  auto it = m.node_index.find(spec.name);
  if (it == m.node_index.end() || m.nodes[it->second].removed) return NotFound("node \"" + spec.name + "\" not found");
  uint32_t ni = it->second;
  auto& meta = m.nodes[ni];
  for (const auto& [k, v] : spec.capacity)
    if (v < 0) return InvalidArgument("node " + spec.name + ": capacity." + k + " is negative");
  if (auto s = CheckGpuCount(spec); !s.ok()) return s;
  if (auto s = CheckClusterTotal(m.present_cap, m.cap, ni, KnownSlots(m.registry, spec.capacity), m.registry,
                                 spec.name, "capacity");
      !s.ok()) {
    return s;
  }
  // Replace unmanaged usage and capacity; managed allocations stay where they are (never stranded: if
  // the node shrank below them they keep running and the node simply has no free capacity).
  for (const auto* keys : {&spec.capacity, &spec.allocated})  // every resource has a slot before anything changes
    for (const auto& [k, v] : *keys)
      if (auto slot = m.Slot(k); !slot.ok()) return slot.error();
  if (meta.up) m.CountNode(ni, -1);  // out before usage and capacity change, in again after
  m.CountPresent(ni, -1);
  for (const auto& [k, v] : meta.unmanaged) {
    int s = m.registry.Find(k);
    if (s >= 0) m.used[s][ni] -= v;
  }
  if (auto c = meta.unmanaged.find("cpu"); c != meta.unmanaged.end()) m.nz_cpu[ni] -= c->second;
  if (auto c = meta.unmanaged.find("memory"); c != meta.unmanaged.end()) m.nz_mem[ni] -= c->second;
  for (auto& col : m.cap) col[ni] = 0;
  for (const auto& [k, v] : spec.capacity) {
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    m.cap[*slot][ni] = v;
  }
  if (static_cast<size_t>(m.cap[kGpu][ni]) != static_cast<size_t>(std::accumulate(meta.gpu_cap.begin(), meta.gpu_cap.end(), 0))) {
    // The device set changed: rebuild it and give each GPU allocation on the node devices again.
    m.InitDevices(ni);
    for (uint32_t ai : meta.allocs) {
      Alloc& a = m.allocs[ai];
      if (!a.extra) continue;
      auto& d = a.extra->gpu_devices;
      d.erase(std::remove_if(d.begin(), d.end(), [&](const auto& p) { return p.first == ni; }), d.end());
      if (a.req.Get(kGpu) > 0) m.GpuTake(ai, ni);
    }
  }
  for (const auto& [k, v] : spec.allocated) {
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    m.used[*slot][ni] += v;
  }
  if (auto c = spec.allocated.find("cpu"); c != spec.allocated.end()) m.nz_cpu[ni] += c->second;
  if (auto c = spec.allocated.find("memory"); c != spec.allocated.end()) m.nz_mem[ni] += c->second;
  if (meta.up) m.CountNode(ni, +1);
  m.CountPresent(ni, +1);
  meta.unmanaged = spec.allocated;
  meta.labels = spec.labels;
  meta.taints = spec.taints;
  meta.hard_taint = false;
  for (const auto& t : spec.taints) meta.hard_taint |= t.effect != "PreferNoSchedule";
  if (!spec.pool.empty()) meta.pool = spec.pool;
  m.UpdateBlock(ni / Impl::kBlock);
  m.capacity_epoch++;
  m.topology_epoch++;
  m.Emit(EventType::kNodeUpdated, now, spec.name);
  return Status::Ok();
}

void Engine::Impl::EvictNode(uint32_t ni, TimeMs now, ReasonCode code, const std::string& why) {
  // Gang allocations with a unit here lose every unit.
  std::vector<uint32_t> victims = nodes[ni].allocs;
  std::sort(victims.begin(), victims.end());
  victims.erase(std::unique(victims.begin(), victims.end()), victims.end());
  for (uint32_t ai : victims) {
    if (allocs[ai].state == AllocState::kPlaced) {
      Emit(EventType::kPreempted, now, allocs[ai].id, NodeList(allocs[ai]), tenants[allocs[ai].tenant].path, code,
           why);
      Unplace(ai, AllocState::kPreempted, now, code, why);
    }
  }
}

Status Engine::RemoveNode(const std::string& name, TimeMs now) {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end() || m.nodes[it->second].removed) return NotFound("node \"" + name + "\" not found");
  uint32_t ni = it->second;
  m.EvictNode(ni, now, ReasonCode::kNodeRemoved, "node " + name + " was removed");
  for (int32_t ri : m.nodes[ni].reservations) m.reservations[ri].node = kNone;  // live, held nowhere
  m.nodes[ni].reservations.clear();
  if (m.nodes[ni].up) m.CountNode(ni, -1);
  m.CountPresent(ni, -1);
  m.nodes[ni].removed = true;
  m.nodes[ni].up = false;
  m.schedulable[ni] = 0;
  for (auto& col : m.cap) col[ni] = 0;
  for (auto& col : m.used) col[ni] = 0;
  m.nz_cpu[ni] = m.nz_mem[ni] = 0;
  m.UpdateBlock(ni / Impl::kBlock);
  m.node_index.erase(it);
  m.removed_slots[name] = ni;
  m.topology_epoch++;
  m.Emit(EventType::kNodeRemoved, now, name);
  return Status::Ok();
}

Status Engine::SetNodeDown(const std::string& name, TimeMs now) {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end()) return NotFound("node \"" + name + "\" not found");
  uint32_t ni = it->second;
  if (!m.nodes[ni].up) return Status::Ok();
  m.EvictNode(ni, now, ReasonCode::kNodeDown, "node " + name + " went down");
  m.CountNode(ni, -1);
  m.nodes[ni].up = false;
  m.schedulable[ni] = 0;
  m.UpdateBlock(ni / Impl::kBlock);
  m.topology_epoch++;
  m.Emit(EventType::kNodeDown, now, name);
  return Status::Ok();
}

Status Engine::SetNodeUp(const std::string& name, TimeMs now) {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end()) return NotFound("node \"" + name + "\" not found");
  uint32_t ni = it->second;
  if (m.nodes[ni].up && !m.nodes[ni].draining) return Status::Ok();
  if (m.nodes[ni].removed) return NotFound("node \"" + name + "\" was removed");
  if (!m.nodes[ni].up) m.CountNode(ni, +1);
  m.nodes[ni].up = true;
  m.nodes[ni].draining = false;
  m.schedulable[ni] = 1;
  m.UpdateBlock(ni / Impl::kBlock);
  m.capacity_epoch++;
  m.topology_epoch++;
  m.Emit(EventType::kNodeUp, now, name);
  return Status::Ok();
}

Status Engine::DrainNode(const std::string& name, TimeMs now) {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end()) return NotFound("node \"" + name + "\" not found");
  m.nodes[it->second].draining = true;
  m.schedulable[it->second] = 0;
  m.UpdateBlock(it->second / Impl::kBlock);
  m.topology_epoch++;
  m.Emit(EventType::kNodeDrained, now, name);
  return Status::Ok();
}

Status Engine::SetObservedUsage(const std::string& name, const ResourceMap& usage, TimeMs) {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end()) return NotFound("node \"" + name + "\" not found");
  for (const auto& [k, v] : usage)
    if (v < 0) return InvalidArgument("usage." + k + " is negative");
  m.nodes[it->second].observed = usage;
  return Status::Ok();
}

// ---- columns ----
void Engine::Impl::CountNode(uint32_t ni, int sign) {
  if (cluster_cap.size() < registry.size()) cluster_cap.resize(registry.size(), 0);
  if (cluster_used.size() < registry.size()) cluster_used.resize(registry.size(), 0);
  for (size_t s = 0; s < cap.size(); s++) {
    cluster_cap[s] += sign * cap[s][ni];
    cluster_used[s] += sign * static_cast<__int128>(used[s][ni]);
  }
}

void Engine::Impl::CountPresent(uint32_t ni, int sign) {
  if (present_cap.size() < cap.size()) present_cap.resize(cap.size(), 0);
  if (present_used.size() < cap.size()) present_used.resize(cap.size(), 0);
  for (size_t s = 0; s < cap.size(); s++) {
    present_cap[s] += sign * static_cast<__int128>(cap[s][ni]);
    present_used[s] += sign * static_cast<__int128>(used[s][ni]);
  }
}

void Engine::Impl::ResizeColumns() {
  size_t nblocks = (nodes.size() + kBlock - 1) / kBlock;
  size_t padded = nblocks * kBlock;
  if (tree.Resize(nblocks, cap.size())) shapes.Clear();  // a new layout: the shapes' bounds no longer fit
  while (free_col.size() < cap.size()) free_col.emplace_back();
  for (auto& col : free_col) col.resize(padded, -1);
  if (!free_out_col.empty()) {
    while (free_out_col.size() < cap.size()) free_out_col.emplace_back();
    for (auto& col : free_out_col) col.resize(padded, -1);
  }
  if (score_used.size() != score_resources.size()) {
    score_used.assign(score_resources.size(), {});
    score_inv.assign(score_resources.size(), {});
  }
  for (auto& col : score_used) col.resize(padded, 0);
  for (auto& col : score_inv) col.resize(padded, 0);
  bounded.resize(padded, 0);
  bias.resize(padded, engine::kExcludedBias);
}

void Engine::Impl::RefreshNode(uint32_t ni) {
  bool sched = schedulable[ni];
  uint32_t b = ni / kBlock;
  bool rescan = false;
  for (size_t s = 0; s < cap.size(); s++) {
    int64_t before = free_col[s][ni];
    int64_t now_free = sched ? cap[s][ni] - used[s][ni] : -1;
    free_col[s][ni] = now_free;
    // Keep the block's maximum without a rescan unless this node held it and shrank.
    if (!free_out_col.empty()) free_out_col[s][ni] = now_free - (sched ? HeldOnNode(ni, s) : 0);
    int64_t block_max = tree.max_free(0, static_cast<uint16_t>(s), b);
    if (now_free > block_max)
      tree.SetBlockMaxFree(static_cast<uint16_t>(s), b, now_free);
    else if (before == block_max && now_free < before)
      rescan = true;
  }
  bool ok = sched;
  bool nz = score_nonzero;
  for (size_t k = 0; k < score_resources.size(); k++) {
    uint16_t s = score_resources[k].first;
    int64_t c = cap[s][ni];
    if (c <= 0) ok = false;
    int64_t u = (nz && s == kCpu) ? nz_cpu[ni] : (nz && s == kMemory) ? nz_mem[ni] : used[s][ni];
    score_used[k][ni] = static_cast<double>(u);
    score_inv[k][ni] = c > 0 ? 100.0 / static_cast<double>(c) : 0;
  }
  bounded[ni] = ok ? 1 : 0;
  bias[ni] = ok ? 0.0 : sched ? engine::kUnboundedBias : engine::kExcludedBias;
  if (rescan) BlockMaxFree(b);
  tree.Touch(b);
}

void Engine::Impl::BlockMaxFree(uint32_t b) {
  uint32_t lo = b * kBlock, hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), lo + kBlock);
  for (size_t s = 0; s < cap.size(); s++) {
    const int64_t* f = free_col[s].data();
    int64_t best = -1;
    for (uint32_t ni = lo; ni < hi; ni++) best = std::max(best, f[ni]);
    tree.SetBlockMaxFree(static_cast<uint16_t>(s), b, best);
  }
}

void Engine::Impl::UpdateBlock(uint32_t b) {
  ResizeColumns();
  uint32_t lo = b * kBlock, hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), lo + kBlock);
  for (uint32_t ni = lo; ni < hi; ni++) RefreshNode(ni);
  BlockMaxFree(b);
}

}  // namespace allot
