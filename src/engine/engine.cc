// Engine: public API, nodes, requests and bookkeeping. Scheduling is in schedule.cc, quotas in quota.cc.
#include <algorithm>
#include <cassert>
#include <numeric>

#include "allot/resources.h"
#include "engine/engine_impl.h"

namespace allot {

const char* AllocStateName(AllocState s) {
  switch (s) {
    case AllocState::kQueued: return "queued";
    case AllocState::kPlaced: return "placed";
    case AllocState::kCompleted: return "completed";
    case AllocState::kReleased: return "released";
    case AllocState::kExpired: return "expired";
    case AllocState::kPreempted: return "preempted";
    case AllocState::kRejected: return "rejected";
  }
  return "unknown";
}

const char* QosClassName(QosClass q) {
  switch (q) {
    case QosClass::kGuaranteed: return "Guaranteed";
    case QosClass::kBurstable: return "Burstable";
    case QosClass::kBestEffort: return "BestEffort";
  }
  return "BestEffort";
}

QosClass ComputeQos(const ResourceMap& requests, const ResourceMap& limits) {
  // Kubernetes: BestEffort when no cpu/memory request or limit is set; Guaranteed when cpu and memory
  // both have limits and requests equal to them (a missing request defaults to the limit).
  auto get = [](const ResourceMap& m, const char* k) -> int64_t {
    auto it = m.find(k);
    return it == m.end() ? -1 : it->second;
  };
  int64_t rc = get(requests, "cpu"), rm = get(requests, "memory");
  int64_t lc = get(limits, "cpu"), lm = get(limits, "memory");
  bool any = (rc > 0) || (rm > 0) || (lc > 0) || (lm > 0);
  if (!any) return QosClass::kBestEffort;
  if (lc > 0 && lm > 0 && (rc < 0 || rc == lc) && (rm < 0 || rm == lm)) return QosClass::kGuaranteed;
  return QosClass::kBurstable;
}

const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kSubmitted: return "submitted";
    case EventType::kPlaced: return "placed";
    case EventType::kCompleted: return "completed";
    case EventType::kReleased: return "released";
    case EventType::kExpired: return "expired";
    case EventType::kPreempted: return "preempted";
    case EventType::kRejected: return "rejected";
    case EventType::kRenewed: return "renewed";
    case EventType::kNodeAdded: return "node_added";
    case EventType::kNodeUpdated: return "node_updated";
    case EventType::kNodeRemoved: return "node_removed";
    case EventType::kNodeDown: return "node_down";
    case EventType::kNodeUp: return "node_up";
    case EventType::kNodeDrained: return "node_drained";
    case EventType::kReserved: return "reserved";
    case EventType::kUnreserved: return "unreserved";
    case EventType::kQuotaChanged: return "quota_changed";
  }
  return "unknown";
}

// ---- IdIndex ----
uint32_t IdIndex::Find(std::string_view id) const {
  if (slots_.empty()) return kNone;
  size_t h = Hash(id);
  uint64_t fp = Make(h, 0) >> 32;
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint64_t v = slots_[i];
    uint32_t ai = Index(v);
    if (ai == kEmpty) return kNone;
    if (ai != kTomb && (v >> 32) == fp && id_of_(ctx_, ai) == id) return ai;
  }
}
void IdIndex::Grow() {
  std::vector<uint64_t> old;
  old.swap(slots_);
  // Room for at least as many inserts again before the next rehash: at most a quarter full afterwards, so
  // insert/erase churn at a steady size (tombstones) rehashes once per size_ inserts, not every few.
  size_t cap = 16;
  while (cap < (size_ + 1) * 4) cap *= 2;
  slots_.assign(cap, kEmpty);
  used_ = size_ = 0;
  for (uint64_t v : old)
    if (Index(v) != kEmpty && Index(v) != kTomb) Insert(Index(v));
}
void IdIndex::Insert(uint32_t ai) {
  if ((used_ + 1) * 2 > slots_.size()) Grow();
  size_t h = Hash(id_of_(ctx_, ai));
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint32_t cur = Index(slots_[i]);
    if (cur == kEmpty || cur == kTomb) {
      if (cur == kEmpty) used_++;
      slots_[i] = Make(h, ai);
      size_++;
      return;
    }
  }
}
void IdIndex::Erase(std::string_view id) {
  uint32_t ai = Find(id);
  if (ai == kNone) return;
  size_t mask = slots_.size() - 1;
  for (size_t i = Hash(id) & mask;; i = (i + 1) & mask) {
    if (Index(slots_[i]) == ai) {
      slots_[i] = kTomb;
      size_--;
      return;
    }
  }
}

// ---- SmallRes ----
void SmallRes::Set(uint16_t slot, int64_t amount) {
  for (size_t i = 0; i < n_; i++) {
    if (slots_[i] == slot) {
      amounts_[i] = amount;
      return;
    }
  }
  if (more_) {
    for (auto& p : *more_) {
      if (p.first == slot) {
        p.second = amount;
        return;
      }
    }
  }
  if (n_ < 6) {
    slots_[n_] = slot;
    amounts_[n_] = amount;
    n_++;
    return;
  }
  if (!more_) more_ = std::make_unique<std::vector<std::pair<uint16_t, int64_t>>>();
  more_->emplace_back(slot, amount);
}
int64_t SmallRes::Get(uint16_t slot) const {
  for (size_t i = 0; i < size(); i++)
    if (this->slot(i) == slot) return amount(i);
  return 0;
}
bool SmallRes::Has(uint16_t slot) const {
  for (size_t i = 0; i < size(); i++)
    if (this->slot(i) == slot) return true;
  return false;
}

// ---- construction ----
Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  auto scorer = engine::MakeScorer(options.scoring, options.shape);
  if (!scorer.ok()) return scorer.error();
  impl->scorer = std::move(scorer.value());
  if (std::string_view(impl->scorer->name()) == "gpu-fragmentation") {
    if (Status st = impl->InitGpuFragmentation(); !st.ok()) return Error{st.code(), st.message()};
  }
  if (options.fair_share != "none" && options.fair_share != "drf" && options.fair_share != "fifo") {
    return InvalidArgument("unknown fair_share \"" + options.fair_share + "\" (use none or drf)");
  }
  for (const auto& [name, w] : options.weights) {
    if (w < 0) return InvalidArgument("policy.weights." + name + " must not be negative");
    auto slot = impl->registry.Intern(name);
    if (!slot.ok()) return slot.error();
  }
  impl->EnsureSlots();
  impl->RecomputeScoreResources();
  impl->TenantFor("");  // the root tenant, index 0
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::Impl::RecomputeScoreResources() {
  score_resources.clear();
  if (opts.weights.empty()) {
    score_resources = {{kCpu, 1}, {kMemory, 1}};
    return;
  }
  for (const auto& [name, w] : opts.weights) {
    int slot = registry.Find(name);
    if (slot >= 0 && w > 0) score_resources.emplace_back(static_cast<uint16_t>(slot), w);
  }
  std::sort(score_resources.begin(), score_resources.end());
}

void Engine::Impl::EnsureSlots() {
  size_t r = registry.size();
  while (cap.size() < r) {
    cap.emplace_back(nodes.size(), 0);
    used.emplace_back(nodes.size(), 0);
    block_max_free.emplace_back((nodes.size() + kBlock - 1) / kBlock, -1);
  }
  cluster_cap.resize(r, 0);
  ResizeColumns();
  for (uint32_t b = 0; b * kBlock < nodes.size(); b++) UpdateBlock(b);
  for (auto& t : tenants) {
    t.used.resize(r, 0);
    t.guaranteed.resize(r, -1);
    t.max.resize(r, -1);
    t.lending.resize(r, -1);
    t.children_guaranteed.resize(r, 0);
  }
  for (auto& res : reservations) res.used.resize(r, 0);
}

Result<uint16_t> Engine::Impl::Slot(const std::string& name) {
  size_t before = registry.size();
  auto s = registry.Intern(name);
  if (!s.ok()) return s;
  if (registry.size() != before) EnsureSlots();
  return s;
}

void Engine::Impl::Emit(EventType t, TimeMs at, std::string_view id, std::string_view node, std::string_view tenant,
                        std::string_view reason, std::string_view by) {
  EngineEvent& e = events.emplace_back();
  e.type = t;
  e.at = at;
  e.id.assign(id);
  if (!node.empty()) e.node.assign(node);
  if (!tenant.empty()) e.tenant.assign(tenant);
  if (!reason.empty()) e.reason.assign(reason);
  if (!by.empty()) e.by.assign(by);
}

uint32_t Engine::Impl::TenantFor(const std::string& path) {
  auto it = tenant_index.find(path);
  if (it != tenant_index.end()) return it->second;
  uint32_t parent = kNone;
  if (!path.empty()) {
    auto slash = path.rfind('/');
    parent = TenantFor(slash == std::string::npos ? "" : path.substr(0, slash));
  }
  Tenant t;
  t.path = path;
  t.parent = parent;
  size_t r = registry.size();
  t.used.assign(r, 0);
  t.guaranteed.assign(r, -1);
  t.max.assign(r, -1);
  t.lending.assign(r, -1);
  t.children_guaranteed.assign(r, 0);
  tenants.push_back(std::move(t));
  uint32_t idx = static_cast<uint32_t>(tenants.size() - 1);
  if (parent != kNone) tenants[parent].children.push_back(idx);
  tenant_index.emplace(path, idx);
  return idx;
}

// ---- nodes ----
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
  uint32_t ni = static_cast<uint32_t>(m.nodes.size());
  NodeMeta meta;
  meta.name = spec.name;
  meta.pool = spec.pool;
  meta.labels = spec.labels;
  meta.taints = spec.taints;
  for (const auto& t : spec.taints) meta.hard_taint |= t.effect != "PreferNoSchedule";
  meta.unmanaged = spec.allocated;
  m.nodes.push_back(std::move(meta));
  for (auto& col : m.cap) col.push_back(0);
  for (auto& col : m.used) col.push_back(0);
  m.nz_cpu.push_back(0);
  m.nz_mem.push_back(0);
  m.schedulable.push_back(1);
  for (auto [slot, v] : caps) m.cap[slot][ni] = v;
  for (auto [slot, v] : unmanaged) m.used[slot][ni] += v;
  m.nz_cpu[ni] = m.used[kCpu][ni];
  m.nz_mem[ni] = m.used[kMemory][ni];
  m.node_index.emplace(spec.name, ni);
  m.InitDevices(ni);
  m.CountNode(ni, +1);
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
  // Replace unmanaged usage and capacity; managed allocations stay where they are (never stranded: if
  // the node shrank below them they keep running and the node simply has no free capacity).
  for (const auto& [k, v] : meta.unmanaged) {
    int s = m.registry.Find(k);
    if (s >= 0) m.used[s][ni] -= v;
  }
  if (auto c = meta.unmanaged.find("cpu"); c != meta.unmanaged.end()) m.nz_cpu[ni] -= c->second;
  if (auto c = meta.unmanaged.find("memory"); c != meta.unmanaged.end()) m.nz_mem[ni] -= c->second;
  if (meta.up) m.CountNode(ni, -1);
  for (auto& col : m.cap) col[ni] = 0;
  for (const auto& [k, v] : spec.capacity) {
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    m.cap[*slot][ni] = v;
  }
  if (meta.up) m.CountNode(ni, +1);
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

void Engine::Impl::EvictNode(uint32_t ni, TimeMs now, const std::string& why) {
  // Gang allocations with a unit here lose every unit.
  std::vector<uint32_t> victims = nodes[ni].allocs;
  std::sort(victims.begin(), victims.end());
  victims.erase(std::unique(victims.begin(), victims.end()), victims.end());
  for (uint32_t ai : victims) {
    if (allocs[ai].state == AllocState::kPlaced) {
      Emit(EventType::kPreempted, now, allocs[ai].id, NodeList(allocs[ai]), tenants[allocs[ai].tenant].path, why);
      Unplace(ai, AllocState::kPreempted, now, why);
    }
  }
}

Status Engine::RemoveNode(const std::string& name, TimeMs now) {
  auto& m = *impl_;
  auto it = m.node_index.find(name);
  if (it == m.node_index.end() || m.nodes[it->second].removed) return NotFound("node \"" + name + "\" not found");
  uint32_t ni = it->second;
  m.EvictNode(ni, now, "node " + name + " was removed");
  for (int32_t ri : m.nodes[ni].reservations) m.reservations[ri].node = kNone;
  m.nodes[ni].reservations.clear();
  if (m.nodes[ni].up) m.CountNode(ni, -1);
  m.nodes[ni].removed = true;
  m.nodes[ni].up = false;
  m.schedulable[ni] = 0;
  for (auto& col : m.cap) col[ni] = 0;
  for (auto& col : m.used) col[ni] = 0;
  m.nz_cpu[ni] = m.nz_mem[ni] = 0;
  m.UpdateBlock(ni / Impl::kBlock);
  m.node_index.erase(it);
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
  m.EvictNode(ni, now, "node " + name + " went down");
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

// ---- usage bookkeeping ----
void Engine::Impl::AddUsage(Alloc& a, uint32_t ni, int sign) {
  for (size_t i = 0; i < a.req.size(); i++) {
    uint16_t s = a.req.slot(i);
    int64_t v = a.req.amount(i) * sign;
    used[s][ni] += v;
    for (uint32_t t = a.tenant; t != kNone; t = tenants[t].parent) tenants[t].used[s] += v;
    if (a.reservation >= 0 && reservations[a.reservation].node == ni) reservations[a.reservation].used[s] += v;
  }
  nz_cpu[ni] += sign * (a.req.Has(kCpu) ? a.req.Get(kCpu) : engine::kDefaultMilliCpuRequest);
  nz_mem[ni] += sign * (a.req.Has(kMemory) ? a.req.Get(kMemory) : engine::kDefaultMemoryRequest);
  RefreshNode(ni);
}

void Engine::Impl::CountNode(uint32_t ni, int sign) {
  if (cluster_cap.size() < registry.size()) cluster_cap.resize(registry.size(), 0);
  for (size_t s = 0; s < cap.size(); s++) cluster_cap[s] += sign * cap[s][ni];
}

void Engine::Impl::ResizeColumns() {
  size_t nblocks = (nodes.size() + kBlock - 1) / kBlock;
  size_t padded = nblocks * kBlock;
  for (auto& col : block_max_free) col.resize(nblocks, -1);
  while (free_col.size() < cap.size()) free_col.emplace_back();
  for (auto& col : free_col) col.resize(padded, -1);
  if (score_used.size() != score_resources.size()) {
    score_used.assign(score_resources.size(), {});
    score_inv.assign(score_resources.size(), {});
  }
  for (auto& col : score_used) col.resize(padded, 0);
  for (auto& col : score_inv) col.resize(padded, 0);
  simple.resize(padded, 0);
  simple_bias.resize(padded, -1e300);
  block_complex.resize(nblocks, 0);
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
    if (now_free >= block_max_free[s][b]) block_max_free[s][b] = now_free;
    else if (before == block_max_free[s][b] && now_free < before) rescan = true;
  }
  bool ok = sched && !nodes[ni].hard_taint && nodes[ni].reservations.empty();
  bool nz = scorer->UsesNonZeroRequests();
  for (size_t k = 0; k < score_resources.size(); k++) {
    uint16_t s = score_resources[k].first;
    int64_t c = cap[s][ni];
    if (c <= 0) ok = false;
    int64_t u = (nz && s == kCpu) ? nz_cpu[ni] : (nz && s == kMemory) ? nz_mem[ni] : used[s][ni];
    score_used[k][ni] = static_cast<double>(u);
    score_inv[k][ni] = c > 0 ? 100.0 / static_cast<double>(c) : 0;
  }
  bool was_simple = simple[ni];
  simple[ni] = ok ? 1 : 0;
  simple_bias[ni] = ok ? 0.0 : -1e300;
  if (rescan || was_simple != simple[ni]) BlockSummaries(b);
}

void Engine::Impl::BlockSummaries(uint32_t b) {
  uint32_t lo = b * kBlock, hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), lo + kBlock);
  uint8_t complex_nodes = 0;
  for (uint32_t ni = lo; ni < hi; ni++) complex_nodes += schedulable[ni] && !simple[ni];
  block_complex[b] = complex_nodes;
  for (size_t s = 0; s < cap.size(); s++) {
    const int64_t* f = free_col[s].data();
    int64_t best = -1;
    for (uint32_t ni = lo; ni < hi; ni++) best = std::max(best, f[ni]);
    block_max_free[s][b] = best;
  }
}

void Engine::Impl::UpdateBlock(uint32_t b) {
  ResizeColumns();
  uint32_t lo = b * kBlock, hi = std::min<uint32_t>(static_cast<uint32_t>(nodes.size()), lo + kBlock);
  for (uint32_t ni = lo; ni < hi; ni++) RefreshNode(ni);
  BlockSummaries(b);
}

std::string Engine::Impl::NodeList(const Alloc& a) const {
  if (a.node == kNone) return "";
  std::string s = nodes[a.node].name;
  if (a.extra)
    for (uint32_t n : a.extra->nodes) s += "," + nodes[n].name;
  return s;
}

void Engine::Impl::Unplace(uint32_t ai, AllocState to, TimeMs at, const std::string& reason) {
  Alloc& a = allocs[ai];
  assert(a.state == AllocState::kPlaced);
  std::vector<uint32_t> units{a.node};
  if (a.extra) units.insert(units.end(), a.extra->nodes.begin(), a.extra->nodes.end());
  for (uint32_t ni : units) {
    AddUsage(a, ni, -1);
    auto& v = nodes[ni].allocs;
    auto it = std::find(v.begin(), v.end(), ai);
    if (it != v.end()) {
      *it = v.back();
      v.pop_back();
    }
  }
  GpuRelease(a);
  capacity_epoch++;
  a.state = to;
  a.ended = at;
  a.expires = -1;
  SetReason(a, reason);
  running--;
  tenants[a.tenant].running--;
}

AllocationInfo Engine::Impl::Info(const Alloc& a) const {
  AllocationInfo i;
  i.id = a.id;
  i.tenant = tenants[a.tenant].path;
  i.priority = a.priority;
  i.state = a.state;
  if (a.node != kNone) {
    i.nodes.push_back(nodes[a.node].name);
    if (a.extra)
      for (uint32_t n : a.extra->nodes) i.nodes.push_back(nodes[n].name);
  }
  for (size_t k = 0; k < a.req.size(); k++) i.requests[registry.Name(a.req.slot(k))] = a.req.amount(k);
  i.limits = a.extra && !a.extra->limits.empty() ? a.extra->limits : i.requests;
  i.count = a.count;
  i.preemptible = a.preemptible;
  i.submitted = a.submitted;
  i.started = a.started;
  i.ended = a.ended;
  i.expires = a.expires;
  if (a.extra) {
    i.workflow = a.extra->workflow;
    i.reason = a.extra->reason;
    i.preempted_by = a.extra->preempted_by;
    i.reservation = a.extra->reservation;
  }
  i.ttl = a.ttl;
  if (a.extra) {
    for (const auto& [ni, d] : a.extra->gpu_devices) i.devices.push_back(nodes[ni].name + "/gpu" + std::to_string(d));
  }
  i.qos = ComputeQos(i.requests, i.limits);
  return i;
}

// ---- tenants ----
Status Engine::SetTenants(const std::vector<TenantSpec>& specs, TimeMs now) {
  auto& m = *impl_;
  for (const auto& s : specs) {
    for (const auto* mp : {&s.guaranteed, &s.max, &s.lending_limit})
      for (const auto& [k, v] : *mp) {
        auto slot = m.Slot(k);
        if (!slot.ok()) return Error{slot.error().code, "tenant " + s.path + ": " + slot.error().message};
      }
  }
  if (auto st = m.ValidateTenantTree(specs); !st.ok()) return st;
  for (const auto& s : specs) {
    m.ApplyTenantSpec(s);
    m.Emit(EventType::kQuotaChanged, now, s.path, "", s.path);
  }
  m.ReclaimOverMax(now, false);
  m.capacity_epoch++;
  return Status::Ok();
}

Status Engine::SetTenant(const TenantSpec& spec, TimeMs now) { return SetTenants({spec}, now); }

// ---- requests ----
Result<AllocState> Engine::Submit(const RequestSpec& r, TimeMs now) {
  auto& m = *impl_;
  std::string id = r.id;
  if (id.empty()) {
    do {
      id = "a-" + std::to_string(m.next_auto_id++);
    } while (m.alloc_index.Find(id) != kNone);
  }
  if (id.size() > 253) return InvalidArgument("id is longer than 253 characters");
  if (m.alloc_index.Find(id) != kNone) return AlreadyExists("duplicate request id \"" + id + "\"");
  if (r.count < 1 || r.count > 10000) return InvalidArgument("request " + id + ": count must be within 1-10000");
  if (r.duration && *r.duration <= 0) return InvalidArgument("request " + id + ": duration must be positive");
  if (r.wait && *r.wait < 0) return InvalidArgument("request " + id + ": wait must not be negative");
  if (r.requests.empty()) return InvalidArgument("request " + id + ": requests is empty");
  for (const auto& t : r.tolerations) {
    if (t.op != "Equal" && t.op != "Exists") {
      return InvalidArgument("request " + id + ": toleration operator \"" + t.op + "\" (use Equal or Exists)");
    }
  }
  if (!r.tenant.empty()) {
    if (r.tenant.front() == '/' || r.tenant.back() == '/' || r.tenant.find("//") != std::string::npos) {
      return InvalidArgument("request " + id + ": tenant path \"" + r.tenant + "\" is malformed");
    }
  }
  int32_t res_idx = -1;
  if (!r.reservation.empty()) {
    auto it = m.reservation_index.find(r.reservation);
    if (it == m.reservation_index.end()) {
      return NotFound("request " + id + ": unknown reservation \"" + r.reservation + "\"");
    }
    res_idx = it->second;
  }
  Alloc a;
  for (const auto& [k, v] : r.requests) {
    if (v < 0) return InvalidArgument("request " + id + ": requests." + k + " is negative");
    int known = m.registry.Find(k);
    if (known >= 0) {
      a.req.Set(static_cast<uint16_t>(known), v);
      continue;
    }
    auto slot = m.Slot(k);
    if (!slot.ok()) return Error{slot.error().code, "request " + id + ": " + slot.error().message};
    a.req.Set(*slot, v);
  }
  if (int64_t g = a.req.Get(kGpu); g > 1000 && g % 1000 != 0) {
    return InvalidArgument("request " + id + ": gpu " + FormatResourceAmount("gpu", g) +
                           " is neither a share of one device (below 1) nor whole devices");
  }
  for (const auto& [k, v] : r.limits) {
    if (v < 0) return InvalidArgument("request " + id + ": limits." + k + " is negative");
    auto rq = r.requests.find(k);
    if (rq != r.requests.end() && v < rq->second) {
      return InvalidArgument("request " + id + ": limits." + k + " is below requests." + k);
    }
  }
  a.id = id;
  a.seq = m.next_seq++;
  a.submitted = now;
  a.tenant = m.TenantFor(r.tenant);
  a.priority = r.priority;
  a.count = static_cast<uint16_t>(r.count);
  a.preemptible = r.preemptible;
  a.ttl = r.ttl;
  a.spread = r.spread;
  a.duration = r.duration ? *r.duration : -1;
  a.wait_deadline = r.wait ? now + *r.wait : -1;
  a.reservation = res_idx;
  if (!r.workflow.empty()) a.X().workflow = r.workflow;
  if (!r.limits.empty()) {
    a.X().limits = r.requests;
    for (const auto& [k, v] : r.limits) a.X().limits[k] = v;
  }
  if (!r.selector.empty()) a.X().selector = r.selector;
  if (!r.tolerations.empty()) a.X().tolerations = r.tolerations;
  if (!r.reservation.empty()) a.X().reservation = r.reservation;
  if (!r.gpu_model.empty()) a.X().gpu_model = r.gpu_model;

  uint32_t ai;
  if (!m.free_slots.empty()) {
    ai = m.free_slots.back();
    m.free_slots.pop_back();
    m.allocs[ai] = std::move(a);
  } else {
    ai = static_cast<uint32_t>(m.allocs.size());
    m.allocs.push_back(std::move(a));
  }
  Alloc& stored = m.allocs[ai];
  m.alloc_index.Insert(ai);
  m.last_id = stored.id;
  m.Emit(EventType::kSubmitted, now, stored.id, "", m.tenants[stored.tenant].path);
  if (m.fgd) m.FgdObserve(stored);

  if (m.opts.quota_mode == QuotaMode::kStrict) {
    std::string why;
    if (m.CheckQuota(stored, &why) == TryResult::kQuotaReject) {
      stored.state = AllocState::kRejected;
      stored.ended = now;
      m.SetReason(stored, why);
      m.Emit(EventType::kRejected, now, stored.id, "", m.tenants[stored.tenant].path, why);
      return AllocState::kRejected;
    }
  }
  m.queue.Push(stored.priority, ai, stored.seq);
  m.tenants[stored.tenant].queued++;
  m.tenants[stored.tenant].had_demand = true;
  if (stored.wait_deadline >= 0) m.wait_heap.push({stored.wait_deadline, ai});
  return AllocState::kQueued;
}

const std::string& Engine::LastId() const { return impl_->last_id; }

Status Engine::Forget(const std::string& id) {
  auto& m = *impl_;
  uint32_t ai = m.alloc_index.Find(id);
  if (ai == kNone) return NotFound("unknown allocation \"" + id + "\"");
  Alloc& a = m.allocs[ai];
  if (a.state == AllocState::kQueued || a.state == AllocState::kPlaced) {
    return FailedPrecondition("allocation \"" + id + "\" is still " + AllocStateName(a.state));
  }
  m.alloc_index.Erase(id);
  uint64_t seq = a.seq;
  a = Alloc{};
  a.live = false;
  a.seq = seq;  // stale queue/heap entries keep failing their checks until the slot is reused
  a.state = AllocState::kReleased;
  m.free_slots.push_back(ai);
  return Status::Ok();
}

Status Engine::Release(const std::string& id, TimeMs now) {
  auto& m = *impl_;
  uint32_t ai = m.alloc_index.Find(id);
  if (ai == kNone) return NotFound("unknown allocation \"" + id + "\"");
  Alloc& a = m.allocs[ai];
  if (a.state == AllocState::kPlaced) {
    m.Emit(EventType::kReleased, now, a.id, m.NodeList(a), m.tenants[a.tenant].path);
    m.Unplace(ai, AllocState::kReleased, now, "released");
    return Status::Ok();
  }
  if (a.state == AllocState::kQueued) {
    m.queue.Removed();
    m.tenants[a.tenant].queued--;
    a.state = AllocState::kReleased;
    a.ended = now;
    m.SetReason(a, "released while queued");
    m.Emit(EventType::kReleased, now, a.id, "", m.tenants[a.tenant].path, "released while queued");
    return Status::Ok();
  }
  return FailedPrecondition("allocation \"" + id + "\" already ended (" + AllocStateName(a.state) + ")");
}

Status Engine::Renew(const std::string& id, TimeMs extend_to, TimeMs now) {
  auto& m = *impl_;
  uint32_t found = m.alloc_index.Find(id);
  if (found == kNone) return NotFound("unknown allocation \"" + id + "\"");
  Alloc& a = m.allocs[found];
  if (a.state != AllocState::kPlaced && a.state != AllocState::kQueued) {
    return FailedPrecondition("allocation \"" + id + "\" already ended (" + AllocStateName(a.state) + ")");
  }
  if (extend_to <= now) return InvalidArgument("renewal must end in the future");
  if (a.state == AllocState::kPlaced) {
    a.expires = extend_to;
    m.lease_heap.push({extend_to, found});
  } else {
    a.duration = extend_to - now;
  }
  m.Emit(EventType::kRenewed, now, a.id, m.NodeList(a), m.tenants[a.tenant].path);
  return Status::Ok();
}

Status Engine::Restore(const AllocationInfo& info, TimeMs now) {
  auto& m = *impl_;
  RequestSpec r;
  r.id = info.id;
  r.tenant = info.tenant;
  r.workflow = info.workflow;
  r.priority = info.priority;
  r.requests = info.requests;
  if (info.limits != info.requests) r.limits = info.limits;
  r.count = info.count;
  r.preemptible = info.preemptible;
  r.reservation = info.reservation;
  r.ttl = info.ttl;
  if (info.expires >= 0) r.duration = std::max<TimeMs>(1, info.expires - std::max(info.started, TimeMs{0}));
  auto st = Submit(r, info.submitted);
  if (!st.ok()) return st.status();
  if (m.events.size() > 0 && m.events.back().type == EventType::kSubmitted) m.events.pop_back();
  uint32_t ai = m.alloc_index.Find(info.id);
  Alloc& a = m.allocs[ai];
  if (info.state == AllocState::kQueued) return Status::Ok();
  m.queue.Removed();
  m.tenants[a.tenant].queued--;
  if (info.state != AllocState::kPlaced) {
    a.state = info.state;
    a.started = info.started;
    a.ended = info.ended;
    m.SetReason(a, info.reason);
    return Status::Ok();
  }
  if (info.nodes.size() != static_cast<size_t>(info.count)) {
    return InvalidArgument("restore " + info.id + ": " + std::to_string(info.nodes.size()) + " nodes for count " +
                           std::to_string(info.count));
  }
  std::vector<uint32_t> units;
  for (const auto& n : info.nodes) {
    auto it = m.node_index.find(n);
    if (it == m.node_index.end()) return NotFound("restore " + info.id + ": unknown node \"" + n + "\"");
    units.push_back(it->second);
  }
  for (uint32_t ni : units) m.PlaceUnit(ai, ni);
  a.state = AllocState::kPlaced;
  a.started = info.started;
  a.expires = info.expires;
  if (a.expires >= 0) m.lease_heap.push({a.expires, ai});
  m.running++;
  m.tenants[a.tenant].running++;
  (void)now;
  return Status::Ok();
}

// ---- reservations ----
Status Engine::Reserve(const ReservationSpec& r, TimeMs now) {
  auto& m = *impl_;
  if (r.id.empty()) return InvalidArgument("reservation id is empty");
  if (m.reservation_index.count(r.id)) return AlreadyExists("duplicate reservation id \"" + r.id + "\"");
  if (r.end <= r.start) return InvalidArgument("reservation " + r.id + ": end must be after start");
  if (r.requests.empty()) return InvalidArgument("reservation " + r.id + ": requests is empty");
  Reservation res;
  res.spec = r;
  for (const auto& [k, v] : r.requests) {
    if (v < 0) return InvalidArgument("reservation " + r.id + ": requests." + k + " is negative");
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    res.amount.Set(*slot, v);
  }
  std::vector<uint32_t> candidates;
  if (!r.nodes.empty()) {
    for (const auto& n : r.nodes) {
      auto it = m.node_index.find(n);
      if (it == m.node_index.end()) return NotFound("reservation " + r.id + ": unknown node \"" + n + "\"");
      candidates.push_back(it->second);
    }
  } else {
    for (uint32_t i = 0; i < m.nodes.size(); i++)
      if (!m.nodes[i].removed && (r.pool.empty() || m.nodes[i].pool == r.pool)) candidates.push_back(i);
  }
  std::string conflict;
  uint32_t chosen = kNone;
  for (uint32_t ni : candidates) {
    if (!m.nodes[ni].up) continue;
    bool fits = true;
    for (size_t k = 0; k < res.amount.size() && fits; k++) {
      uint16_t s = res.amount.slot(k);
      int64_t need = res.amount.amount(k);
      // Capacity at the window: minus unmanaged use, allocations that run into it, overlapping reservations.
      int64_t busy = 0;
      for (const auto& [name, v] : m.nodes[ni].unmanaged)
        if (m.registry.Find(name) == s) busy += v;
      for (uint32_t ai : m.nodes[ni].allocs) {
        const Alloc& a = m.allocs[ai];
        if (a.expires < 0 || a.expires > r.start) busy += a.req.Get(s);
      }
      int64_t reserved = 0;
      std::string who;
      for (int32_t ri : m.nodes[ni].reservations) {
        const auto& o = m.reservations[ri];
        if (!o.live || o.spec.end <= r.start || o.spec.start >= r.end) continue;
        reserved += o.amount.Get(s);
        if (o.amount.Get(s) > 0 && who.empty()) {
          who = "reservation " + o.spec.id + " [" + std::to_string(o.spec.start / 1000) + "s, " +
                std::to_string(o.spec.end / 1000) + "s) on " + m.nodes[ni].name;
        }
      }
      if (busy + reserved + need > m.cap[s][ni]) {
        fits = false;
        if (conflict.empty()) {
          conflict = !who.empty() && busy + need <= m.cap[s][ni]
                         ? "conflicts with " + who
                         : "not enough " + m.registry.Name(s) + " on " + m.nodes[ni].name +
                               " (capacity in use by allocations that run into the window)";
        }
      }
    }
    if (fits) {
      chosen = ni;
      break;
    }
  }
  if (chosen == kNone) {
    if (conflict.empty()) conflict = "no candidate node";
    return Conflict("reservation " + r.id + " [" + std::to_string(r.start / 1000) + "s, " +
                    std::to_string(r.end / 1000) + "s) cannot be booked: " + conflict);
  }
  res.node = chosen;
  res.tenant = m.TenantFor(r.tenant);
  res.used.assign(m.registry.size(), 0);
  int32_t idx = static_cast<int32_t>(m.reservations.size());
  m.reservations.push_back(std::move(res));
  m.reservation_index[r.id] = idx;
  m.nodes[chosen].reservations.push_back(idx);
  m.Emit(EventType::kReserved, now, r.id, m.nodes[chosen].name, r.tenant);
  return Status::Ok();
}

Status Engine::Unreserve(const std::string& id, TimeMs now) {
  auto& m = *impl_;
  auto it = m.reservation_index.find(id);
  if (it == m.reservation_index.end()) return NotFound("unknown reservation \"" + id + "\"");
  auto& res = m.reservations[it->second];
  if (res.node != kNone) {
    auto& v = m.nodes[res.node].reservations;
    v.erase(std::remove(v.begin(), v.end(), it->second), v.end());
  }
  res.live = false;
  m.capacity_epoch++;
  m.Emit(EventType::kUnreserved, now, id, res.node == kNone ? "" : m.nodes[res.node].name, res.spec.tenant);
  m.reservation_index.erase(it);
  return Status::Ok();
}

// ---- queries ----
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
  auto& m = *impl_;
  NodeRow row;
  size_t r = m.registry.size();
  row.capacity.assign(r, 0);
  row.allocated.assign(r, 0);
  for (uint32_t ni = 0; ni < m.nodes.size(); ni++) {
    const auto& meta = m.nodes[ni];
    if (meta.removed) continue;
    row.name = meta.name;
    row.up = meta.up;
    row.draining = meta.draining;
    row.allocations = meta.allocs.size();
    for (size_t s = 0; s < r; s++) {
      row.capacity[s] = m.cap[s][ni];
      row.allocated[s] = m.used[s][ni];
    }
    fn(row);
  }
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

ResourceMap Engine::TotalCapacity() const {
  auto& m = *impl_;
  ResourceMap out;
  for (size_t s = 0; s < m.registry.size(); s++) {
    int64_t sum = 0;
    for (size_t i = 0; i < m.nodes.size(); i++)
      if (m.nodes[i].up && !m.nodes[i].removed) sum += m.cap[s][i];
    if (sum) out[m.registry.Name(static_cast<uint16_t>(s))] = sum;
  }
  return out;
}

ResourceMap Engine::TotalAllocated() const {
  auto& m = *impl_;
  ResourceMap out;
  for (size_t s = 0; s < m.registry.size(); s++) {
    int64_t sum = 0;
    for (size_t i = 0; i < m.nodes.size(); i++)
      if (m.nodes[i].up && !m.nodes[i].removed) sum += m.used[s][i];
    if (sum) out[m.registry.Name(static_cast<uint16_t>(s))] = sum;
  }
  return out;
}

size_t Engine::QueueDepth() const { return impl_->queue.size(); }
size_t Engine::RunningCount() const { return impl_->running; }
const EngineOptions& Engine::options() const { return impl_->opts; }

}  // namespace allot
