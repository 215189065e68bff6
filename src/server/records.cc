#include "server/records.h"

#include "server/util.h"

namespace allot::server {

namespace {
constexpr uint64_t kAllocVersion = 1;

void EncodeTolerations(Encoder& e, const std::vector<Toleration>& ts) {
  e.U(ts.size());
  for (const auto& t : ts) {
    e.S(t.key);
    e.S(t.value);
    e.S(t.op);
    e.S(t.effect);
  }
}
}  // namespace

std::string EncodeAlloc(const AllocRecord& r) {
  Encoder e;
  const AllocationInfo& i = r.info;
  e.U(kAllocVersion);
  e.S(i.id);
  e.S(i.tenant);
  e.S(i.workflow);
  e.I(i.priority);
  e.U(static_cast<uint64_t>(i.state));
  e.U(i.nodes.size());
  for (const auto& n : i.nodes) e.S(n);
  e.Map(i.requests);
  e.Map(i.limits);
  e.U(static_cast<uint64_t>(i.count));
  e.U(i.preemptible ? 1 : 0);
  e.I(i.submitted);
  e.I(i.started);
  e.I(i.expires);
  e.S(i.reason);
  e.S(i.reservation);
  e.U(static_cast<uint64_t>(i.qos));
  e.S(r.idem);
  e.S(r.actor);
  e.I(r.lease_ms);
  const RequestSpec& s = r.spec;
  e.U(s.duration ? 1 : 0);
  e.I(s.duration.value_or(0));
  e.U(s.ttl ? 1 : 0);
  e.Labels(s.selector);
  EncodeTolerations(e, s.tolerations);
  e.U(s.wait ? 1 : 0);
  e.I(s.wait.value_or(0));
  e.U(s.spread ? 1 : 0);
  // Added later, read when present: the end of a finished allocation and who preempted it.
  e.I(i.ended);
  e.S(i.preempted_by);
  // Added later still: the reason code, by name (stable when codes are added).
  e.S(ReasonCodeName(i.reason_code));
  e.S(r.agent);
  return std::move(e.out());
}

std::optional<AllocRecord> DecodeAlloc(std::string_view bytes) {
  std::optional<AllocRecord> r(std::in_place);
  if (!DecodeAllocInto(bytes, &*r)) return std::nullopt;
  return r;
}

bool DecodeAllocInto(std::string_view bytes, AllocRecord* out) {
  Decoder d(bytes);
  if (d.U() != kAllocVersion) return false;
  AllocRecord& r = *out;
  AllocationInfo& i = r.info;
  i.id.assign(d.SV());
  i.tenant.assign(d.SV());
  i.workflow.assign(d.SV());
  i.priority = static_cast<int>(d.I());
  uint64_t st = d.U();
  if (st > static_cast<uint64_t>(AllocState::kRejected)) return false;
  i.state = static_cast<AllocState>(st);
  uint64_t n = d.U();
  if (n > 100000) return false;
  i.nodes.resize(n);
  for (uint64_t k = 0; k < n && d.ok(); k++) i.nodes[k].assign(d.SV());
  d.MapInto(&i.requests);
  d.MapInto(&i.limits);
  i.count = static_cast<int>(d.U());
  i.preemptible = d.U() != 0;
  i.submitted = d.I();
  i.started = d.I();
  i.expires = d.I();
  i.reason.assign(d.SV());
  i.reservation.assign(d.SV());
  i.qos = static_cast<QosClass>(d.U() % 3);
  r.idem.assign(d.SV());
  r.actor.assign(d.SV());
  r.lease_ms = d.I();
  // What the record does not hold, as a new record has it.
  i.ttl = false;
  i.devices.clear();
  RequestSpec& s = r.spec;
  s = RequestSpec{};
  bool has_duration = d.U() != 0;
  int64_t duration = d.I();
  if (has_duration) s.duration = duration;
  s.ttl = d.U() != 0;
  s.selector = d.Labels();
  uint64_t nt = d.U();
  if (nt > 10000) return false;
  for (uint64_t k = 0; k < nt && d.ok(); k++) {
    Toleration t;
    t.key = d.S();
    t.value = d.S();
    t.op = d.S();
    t.effect = d.S();
    s.tolerations.push_back(std::move(t));
  }
  bool has_wait = d.U() != 0;
  int64_t wait = d.I();
  if (has_wait) s.wait = wait;
  s.spread = d.U() != 0;
  // Added later (absent from older records).
  i.ended = -1;
  i.preempted_by.clear();
  i.reason_code = ReasonCode::kNone;
  r.agent.clear();
  if (!d.done()) {
    i.ended = d.I();
    i.preempted_by.assign(d.SV());
  }
  if (!d.done()) {
    // A code this version does not know (written by a newer one) keeps its text and no code.
    i.reason_code = ReasonCodeFromName(d.SV()).value_or(ReasonCode::kNone);
  }
  if (!d.done()) r.agent.assign(d.SV());
  return d.ok();
}

RequestSpec SubmittedSpec(const AllocRecord& r) {
  RequestSpec s = r.spec;
  const AllocationInfo& i = r.info;
  s.id = i.id;
  s.tenant = i.tenant;
  s.workflow = i.workflow;
  s.priority = i.priority;
  s.requests = i.requests;
  s.limits = i.limits;
  s.preemptible = i.preemptible;
  s.count = i.count;
  s.reservation = i.reservation;
  return s;
}

std::string EncodeNode(const NodeRecord& n) {
  Json taints = Json::array();
  for (const auto& t : n.spec.taints)
    taints.push_back({{"key", t.key}, {"value", t.value}, {"effect", t.effect}});
  Json j = {{"name", n.spec.name},
            {"capacity", RawResources(n.spec.capacity)},
            {"allocated", RawResources(n.spec.allocated)},
            {"labels", n.spec.labels},
            {"taints", taints},
            {"pool", n.spec.pool},
            {"draining", n.draining},
            {"down", n.down},
            {"agent", n.agent}};
  if (!n.owner.empty()) j["owner"] = n.owner;
  return Dump(j);
}

std::optional<NodeRecord> DecodeNode(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return std::nullopt;
  NodeRecord n;
  n.spec.name = j["name"].get<std::string>();
  n.spec.capacity = RawResourcesFrom(j.value("capacity", Json::object()));
  n.spec.allocated = RawResourcesFrom(j.value("allocated", Json::object()));
  if (j.contains("labels") && j["labels"].is_object()) {
    for (auto it = j["labels"].begin(); it != j["labels"].end(); ++it) {
      if (it->is_string()) n.spec.labels[it.key()] = it->get<std::string>();
    }
  }
  if (j.contains("taints") && j["taints"].is_array()) {
    for (const auto& t : j["taints"]) {
      n.spec.taints.push_back({t.value("key", ""), t.value("value", ""), t.value("effect", "NoSchedule")});
    }
  }
  n.spec.pool = j.value("pool", "");
  n.draining = j.value("draining", false);
  n.down = j.value("down", false);
  n.agent = j.value("agent", false);
  n.owner = j.value("owner", "");
  return n;
}

std::string EncodeTenant(const TenantSpec& t) {
  Json j = {{"path", t.path},
            {"weight", t.weight},
            {"guaranteed", RawResources(t.guaranteed)},
            {"max", RawResources(t.max)},
            {"lending_limit", RawResources(t.lending_limit)},
            {"burst", t.burst},
            {"grace", t.grace}};
  return Dump(j);
}

std::optional<TenantSpec> DecodeTenant(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("path") || !j["path"].is_string()) return std::nullopt;
  TenantSpec t;
  t.path = j["path"].get<std::string>();
  t.weight = j.value("weight", 1.0);
  t.guaranteed = RawResourcesFrom(j.value("guaranteed", Json::object()));
  t.max = RawResourcesFrom(j.value("max", Json::object()));
  t.lending_limit = RawResourcesFrom(j.value("lending_limit", Json::object()));
  t.burst = j.value("burst", 1.0);
  t.grace = j.value("grace", int64_t{0});
  return t;
}

std::string EncodeReservation(const ReservationSpec& r) {
  Json j = {{"id", r.id},
            {"tenant", r.tenant},
            {"start", r.start},
            {"end", r.end},
            {"requests", RawResources(r.requests)},
            {"nodes", r.nodes},
            {"pool", r.pool}};
  return Dump(j);
}

std::optional<ReservationSpec> DecodeReservation(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("id")) return std::nullopt;
  ReservationSpec r;
  r.id = j.value("id", "");
  r.tenant = j.value("tenant", "");
  r.start = j.value("start", int64_t{0});
  r.end = j.value("end", int64_t{0});
  r.requests = RawResourcesFrom(j.value("requests", Json::object()));
  if (j.contains("nodes") && j["nodes"].is_array()) {
    for (const auto& n : j["nodes"]) {
      if (n.is_string()) r.nodes.push_back(n.get<std::string>());
    }
  }
  r.pool = j.value("pool", "");
  return r;
}

}  // namespace allot::server
