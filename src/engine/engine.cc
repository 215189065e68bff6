// Engine: names, construction, requests and the usage bookkeeping they share. The pass is in
// schedule.cc (see engine_impl.h for the other files).
#include <algorithm>
#include <cassert>

#include "allot/policy.h"
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

const char* ReasonCodeName(ReasonCode c) {
  switch (c) {
    case ReasonCode::kNone: return "none";
    case ReasonCode::kQuota: return "quota";
    case ReasonCode::kQuotaBorrowing: return "quota_borrowing";
    case ReasonCode::kNoCapacity: return "no_capacity";
    case ReasonCode::kHeldForEarlier: return "held_for_earlier";
    case ReasonCode::kBehindQueueHead: return "behind_queue_head";
    case ReasonCode::kInfeasible: return "infeasible";
    case ReasonCode::kReservationPending: return "reservation_pending";
    case ReasonCode::kReservationEnded: return "reservation_ended";
    case ReasonCode::kWaitExpired: return "wait_expired";
    case ReasonCode::kPreempted: return "preempted";
    case ReasonCode::kQuotaReclaim: return "quota_reclaim";
    case ReasonCode::kBurstGraceExpired: return "burst_grace_expired";
    case ReasonCode::kNodeRemoved: return "node_removed";
    case ReasonCode::kNodeDown: return "node_down";
    case ReasonCode::kDurationElapsed: return "duration_elapsed";
    case ReasonCode::kLeaseExpired: return "lease_expired";
    case ReasonCode::kReleased: return "released";
    case ReasonCode::kWindowEnded: return "window_ended";
  }
  return "none";
}

std::optional<ReasonCode> ReasonCodeFromName(std::string_view name) {
  for (int i = 0; i < kReasonCodeCount; i++) {
    auto c = static_cast<ReasonCode>(i);
    if (name == ReasonCodeName(c)) return c;
  }
  return std::nullopt;
}

// ---- construction ----
Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  auto scorer = engine::MakeScorer(options);
  if (!scorer.ok()) return scorer.error();
  impl->scorer = std::move(scorer.value());
  impl->bound = impl->scorer->bound();
  impl->score_nonzero = impl->scorer->UsesNonZeroRequests();
  auto order = engine::MakeQueueOrder(options);
  if (!order.ok()) return order.error();
  impl->order = std::move(order.value());
  for (const auto& [name, w] : options.weights) {
    if (w < 0) return InvalidArgument("policy.weights." + name + " must not be negative");
    auto slot = impl->registry.Intern(name);
    if (!slot.ok()) return slot.error();
  }
  // Scored resources first: EnsureSlots sizes the score columns by them (sized for none, a request on an
  // engine without nodes read score columns that did not exist).
  impl->RecomputeScoreResources();
  impl->EnsureSlots();
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
  bool grew = cap.size() < r;
  while (cap.size() < r) {
    cap.emplace_back(nodes.size(), 0);
    used.emplace_back(nodes.size(), 0);
  }
  cluster_cap.resize(r, 0);
  cluster_used.resize(r, 0);
  present_cap.resize(r, 0);
  present_used.resize(r, 0);
  ResizeColumns();
  for (auto& t : tenants) {
    t.used.resize(r, 0);
    t.guaranteed.resize(r, -1);
    t.max.resize(r, -1);
    t.lending.resize(r, -1);
    t.children_guaranteed.resize(r, 0);
  }
  for (auto& res : reservations) res.used.resize(r, 0);
  // New slots need their columns (every block): O(nodes), only when a resource is first named. Last:
  // UpdateBlock reads the reservations' `used` of every slot (HeldOnNode), so they are sized first.
  if (grew)
    for (uint32_t b = 0; b * kBlock < nodes.size(); b++) UpdateBlock(b);
}

Result<uint16_t> Engine::Impl::Slot(const std::string& name) {
  size_t before = registry.size();
  auto s = registry.Intern(name);
  if (!s.ok()) return s;
  if (registry.size() != before) EnsureSlots();
  return s;
}

void Engine::Impl::Emit(EventType t, TimeMs at, std::string_view id, std::string_view node, std::string_view tenant,
                        ReasonCode code, std::string_view reason, std::string_view by) {
  EngineEvent& e = events.emplace_back();
  e.type = t;
  e.at = at;
  e.id.assign(id);
  if (!node.empty()) e.node.assign(node);
  if (!tenant.empty()) e.tenant.assign(tenant);
  if (!reason.empty()) e.reason.assign(reason);
  e.reason_code = code;
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

// ---- usage bookkeeping ----
void Engine::Impl::AddUsage(Alloc& a, uint32_t ni, int sign) {
  for (size_t i = 0; i < a.req.size(); i++) {
    uint16_t s = a.req.slot(i);
    int64_t v = a.req.amount(i) * sign;
    used[s][ni] += v;
    if (nodes[ni].up) cluster_used[s] += v;
    present_used[s] += v;
    for (uint32_t t = a.tenant; t != kNone; t = tenants[t].parent) tenants[t].used[s] += v;
    if (a.reservation >= 0 && reservations[a.reservation].node == ni) reservations[a.reservation].used[s] += v;
  }
  order->UsageChanged(a.tenant);
  nz_cpu[ni] += sign * (a.req.Has(kCpu) ? a.req.Get(kCpu) : engine::kDefaultMilliCpuRequest);
  nz_mem[ni] += sign * (a.req.Has(kMemory) ? a.req.Get(kMemory) : engine::kDefaultMemoryRequest);
  if (!defer_refresh) {
    RefreshNode(ni);
    return;
  }
  if (refresh_due.size() <= ni) refresh_due.resize(nodes.size());
  if (!refresh_due[ni]) {
    refresh_due[ni] = 1;
    refresh_list.push_back(ni);
  }
}

std::string Engine::Impl::NodeList(const Alloc& a) const {
  if (a.node == kNone) return "";
  std::string s = nodes[a.node].name;
  if (a.extra)
    for (uint32_t n : a.extra->nodes) s += "," + nodes[n].name;
  return s;
}

void Engine::Impl::Unplace(uint32_t ai, AllocState to, TimeMs at, ReasonCode code, const std::string& reason) {
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
  a.when = at;
  SetReason(a, code, reason);
  running--;
  tenants[a.tenant].running--;
}

void Engine::Impl::Reject(Alloc& a, TimeMs at, const Reason& why) {
  a.state = AllocState::kRejected;
  a.when = at;
  SetReason(a, why);
  Emit(EventType::kRejected, at, a.id, "", tenants[a.tenant].path, why.code, why.text);
}

AllocationInfo Engine::Impl::Info(const Alloc& a) const {
  AllocationInfo i;
  i.id = a.id.str();
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
  i.ended = a.ended();
  i.expires = a.expires();
  if (a.extra) {
    i.workflow = a.extra->workflow;
    i.reason = a.extra->reason;
    i.preempted_by = a.extra->preempted_by;
    i.reservation = a.extra->reservation;
  }
  i.reason_code = a.reason_code;
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
Result<uint32_t> Engine::Impl::Admit(const Admission& r, TimeMs now) {
  auto& m = *this;
  std::string_view id = r.id;
  if (id.size() > 253) return InvalidArgument("id is longer than 253 characters");
  if (m.alloc_index.Find(id) != kNone)
    return AlreadyExists("duplicate request id \"" + std::string(id) + "\"");
  auto fail = [&](std::string_view what) {
    std::string msg = "request ";
    msg += id;
    msg += ": ";
    msg += what;
    return msg;
  };
  if (r.count < 1 || r.count > 10000) return InvalidArgument(fail("count must be within 1-10000"));
  if (r.duration && *r.duration <= 0) return InvalidArgument(fail("duration must be positive"));
  if (r.wait && *r.wait < 0) return InvalidArgument(fail("wait must not be negative"));
  const ResourceMap& requests = *r.requests;
  if (requests.empty()) return InvalidArgument(fail("requests is empty"));
  if (r.tolerations) {
    for (const auto& t : *r.tolerations) {
      if (t.op != "Equal" && t.op != "Exists") {
        return InvalidArgument(fail("toleration operator \"" + t.op + "\" (use Equal or Exists)"));
      }
    }
  }
  const std::string& tenant = *r.tenant;
  if (!tenant.empty()) {
    if (tenant.front() == '/' || tenant.back() == '/' || tenant.find("//") != std::string::npos) {
      return InvalidArgument(fail("tenant path \"" + tenant + "\" is malformed"));
    }
  }
  int32_t res_idx = -1;
  if (!r.reservation->empty()) {
    auto it = m.reservation_index.find(*r.reservation);
    if (it == m.reservation_index.end()) {
      return NotFound(fail("unknown reservation \"" + *r.reservation + "\""));
    }
    res_idx = it->second;
  }
  Alloc a;
  SmallRes req;
  for (const auto& [k, v] : requests) {
    if (v < 0) return InvalidArgument(fail("requests." + k + " is negative"));
    // Quota sums use amount × count: it must fit an int64 (no cluster could hold more anyway).
    if (int64_t total = 0; __builtin_mul_overflow(v, static_cast<int64_t>(r.count), &total)) {
      return InvalidArgument(
          fail("requests." + k + " × count " + std::to_string(r.count) + " exceeds 2^63-1"));
    }
    int known = m.registry.Find(k);
    if (known >= 0) {
      req.Set(static_cast<uint16_t>(known), v);
      continue;
    }
    auto slot = m.Slot(k);
    if (!slot.ok()) return Error{slot.error().code, fail(slot.error().message)};
    req.Set(*slot, v);
  }
  if (int64_t g = req.Get(kGpu); g > 1000 && g % 1000 != 0) {
    return InvalidArgument(fail("gpu " + FormatResourceAmount("gpu", g) +
                                " is neither a share of one device (below 1) nor whole devices"));
  }
  const ResourceMap& limits = *r.limits;
  for (const auto& [k, v] : limits) {
    if (v < 0) return InvalidArgument(fail("limits." + k + " is negative"));
    auto rq = requests.find(k);
    if (rq != requests.end() && v < rq->second) {
      return InvalidArgument(fail("limits." + k + " is below requests." + k));
    }
  }
  a.id = CompactId(id);
  a.req = m.request_shapes.Intern(req);
  a.seq = m.next_seq++;
  a.submitted = now;
  a.tenant = m.TenantFor(tenant);
  a.priority = r.priority;
  a.count = static_cast<uint16_t>(r.count);
  a.preemptible = r.preemptible;
  a.ttl = r.ttl;
  a.spread = r.spread;
  a.duration = r.duration ? *r.duration : -1;
  a.when = r.wait ? now + *r.wait : -1;
  a.reservation = res_idx;
  if (!r.workflow->empty()) a.X().workflow = *r.workflow;
  if (!limits.empty()) {
    a.X().limits = requests;
    for (const auto& [k, v] : limits) a.X().limits[k] = v;
  }
  if (r.selector && !r.selector->empty()) a.X().selector = *r.selector;
  if (r.tolerations && !r.tolerations->empty()) a.X().tolerations = *r.tolerations;
  if (!r.reservation->empty()) a.X().reservation = *r.reservation;
  if (r.gpu_model && !r.gpu_model->empty()) a.X().gpu_model = *r.gpu_model;

  uint32_t ai;
  if (!m.free_slots.empty()) {
    ai = m.free_slots.back();
    m.free_slots.pop_back();
    m.allocs[ai] = std::move(a);
  } else {
    ai = static_cast<uint32_t>(m.allocs.size());
    m.allocs.push_back(std::move(a));
  }
  m.alloc_index.Insert(ai);
  m.scorer->Observe(m.allocs[ai]);
  return ai;
}

Result<AllocState> Engine::Submit(const RequestSpec& r, TimeMs now) {
  auto& m = *impl_;
  std::string auto_id;
  if (r.id.empty()) {
    do {
      auto_id = "a-" + std::to_string(m.next_auto_id++);
    } while (m.alloc_index.Find(auto_id) != kNone);
  }
  Impl::Admission adm{r.id.empty() ? std::string_view(auto_id) : std::string_view(r.id),
                      &r.tenant,
                      &r.workflow,
                      r.priority,
                      &r.requests,
                      &r.limits,
                      r.count,
                      r.preemptible,
                      r.ttl,
                      r.spread,
                      r.duration,
                      r.wait,
                      &r.reservation,
                      &r.selector,
                      &r.tolerations,
                      &r.gpu_model};
  auto admitted = m.Admit(adm, now);
  if (!admitted.ok()) return admitted.error();
  uint32_t ai = *admitted;
  Alloc& stored = m.allocs[ai];
  m.last_id = stored.id.str();
  m.Emit(EventType::kSubmitted, now, stored.id, "", m.tenants[stored.tenant].path);

  if (m.opts.quota_mode == QuotaMode::kStrict) {
    Reason why{ReasonCode::kQuota, ""};
    if (m.CheckQuota(stored, &why.text) == TryResult::kQuotaReject) {
      m.Reject(stored, now, why);
      return AllocState::kRejected;
    }
  }
  m.queue.Push(stored.priority, ai, stored.seq);
  m.tenants[stored.tenant].queued++;
  if (stored.when >= 0) m.wait_heap.push({stored.when, ai});
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
    m.Emit(EventType::kReleased, now, a.id, m.NodeList(a), m.tenants[a.tenant].path, ReasonCode::kReleased);
    m.Unplace(ai, AllocState::kReleased, now, ReasonCode::kReleased, "released");
    return Status::Ok();
  }
  if (a.state == AllocState::kQueued) {
    m.queue.Removed();
    m.tenants[a.tenant].queued--;
    a.state = AllocState::kReleased;
    a.when = now;
    m.SetReason(a, ReasonCode::kReleased, "released while queued");
    m.Emit(EventType::kReleased, now, a.id, "", m.tenants[a.tenant].path, ReasonCode::kReleased,
           "released while queued");
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
    a.when = extend_to;
    m.lease_heap.push({extend_to, found});
  } else {
    a.duration = extend_to - now;
  }
  m.Emit(EventType::kRenewed, now, a.id, m.NodeList(a), m.tenants[a.tenant].path);
  return Status::Ok();
}

void Engine::BeginRestore() { impl_->defer_refresh = true; }

void Engine::EndRestore() {
  auto& m = *impl_;
  m.defer_refresh = false;
  // The leases of restored allocations, heaped at once (a push each was a sift through a million).
  if (!m.restored_leases.empty()) {
    std::vector<Impl::TimedItem> all = std::move(m.restored_leases);
    m.restored_leases = {};
    for (; !m.lease_heap.empty(); m.lease_heap.pop()) all.push_back(m.lease_heap.top());
    m.lease_heap = decltype(m.lease_heap)(std::greater<>(), std::move(all));
  }
  // Each refresh keeps its block's bound exact for that node's change, so one per node is enough.
  for (uint32_t ni : m.refresh_list) m.RefreshNode(ni);
  m.refresh_list = {};
  m.refresh_due = {};
}

Status Engine::Restore(const AllocationInfo& info, TimeMs now) {
  auto& m = *impl_;
  (void)now;
  std::optional<TimeMs> duration;
  if (info.expires >= 0) duration = std::max<TimeMs>(1, info.expires - std::max(info.started, TimeMs{0}));
  if (info.state == AllocState::kQueued) {
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
    r.duration = duration;
    auto st = Submit(r, info.submitted);
    if (!st.ok()) return st.status();
    if (!m.events.empty() && m.events.back().type == EventType::kSubmitted) m.events.pop_back();
    return Status::Ok();
  }
  // Placed or ended: recorded directly (no queue entry, no event), its nodes checked first so that a
  // refusal leaves nothing behind.
  std::vector<uint32_t> units;
  if (info.state == AllocState::kPlaced) {
    if (info.nodes.size() != static_cast<size_t>(info.count)) {
      return InvalidArgument("restore " + info.id + ": " + std::to_string(info.nodes.size()) +
                             " nodes for count " + std::to_string(info.count));
    }
    units.reserve(info.nodes.size());
    for (const auto& n : info.nodes) {
      auto it = m.node_index.find(n);
      if (it == m.node_index.end()) return NotFound("restore " + info.id + ": unknown node \"" + n + "\"");
      units.push_back(it->second);
    }
  }
  static const ResourceMap kSameAsRequests;
  Impl::Admission adm{info.id,          &info.tenant,
                      &info.workflow,   info.priority,
                      &info.requests,   info.limits != info.requests ? &info.limits : &kSameAsRequests,
                      info.count,       info.preemptible,
                      info.ttl,         false,
                      duration,         std::nullopt,
                      &info.reservation};
  auto admitted = m.Admit(adm, info.submitted);
  if (!admitted.ok()) return admitted.error();
  uint32_t ai = *admitted;
  Alloc& a = m.allocs[ai];
  if (info.state != AllocState::kPlaced) {
    a.state = info.state;
    a.started = info.started;
    a.when = info.ended;
    m.SetReason(a, info.reason_code, info.reason);
    return Status::Ok();
  }
  for (uint32_t ni : units) m.PlaceUnit(ai, ni);
  a.state = AllocState::kPlaced;
  a.started = info.started;
  a.when = info.expires;
  if (a.when >= 0) {
    if (m.defer_refresh) {
      m.restored_leases.push_back({a.when, ai});
    } else {
      m.lease_heap.push({a.when, ai});
    }
  }
  m.running++;
  m.tenants[a.tenant].running++;
  return Status::Ok();
}

}  // namespace allot
