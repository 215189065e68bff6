// /v1/nodes: registration (admins, and agents for their own node), drain, removal, heartbeats.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/state.h"
#include "server/api/api.h"

namespace allot::server {

namespace {

// A label value from free text (a GPU model): [A-Za-z0-9._-], at most 63 characters.
std::string LabelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out += ok ? c : '-';
    if (out.size() == 63) break;
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// The agent's GPU list: [{"index", "model", "memory", "memory_used"?, "utilization"?}]. Kept as given
// (after checks), numbers as integers.
std::optional<ApiError> ParseGpus(const Json& v, const std::string& field, Json* out) {
  *out = Json::array();
  if (v.is_null()) return std::nullopt;
  if (!v.is_array()) return BadRequest(field, "must be a list of GPUs");
  if (v.size() > 64) return Unprocessable(field, "lists more than 64 GPUs");
  for (size_t i = 0; i < v.size(); i++) {
    std::string f = field + "[" + std::to_string(i) + "]";
    const Json& g = v[i];
    if (!g.is_object()) return BadRequest(f, "must be an object");
    if (auto e = server::CheckKeys(g, f, {"index", "model", "memory", "memory_used", "utilization", "uuid"})) return e;
    Json o = Json::object();
    for (const char* k : {"index", "memory", "memory_used", "utilization"}) {
      if (!g.contains(k) || g[k].is_null()) continue;
      if (!g[k].is_number_integer() || g[k].get<int64_t>() < 0) return BadRequest(f + "." + k, "must be a non-negative integer");
      o[k] = g[k].get<int64_t>();
    }
    if (o.contains("utilization") && o["utilization"].get<int64_t>() > 100) {
      return Unprocessable(f + ".utilization", "is a percent (0-100)");
    }
    for (const char* k : {"model", "uuid"}) {
      if (!g.contains(k) || g[k].is_null()) continue;
      if (!g[k].is_string() || g[k].get<std::string>().size() > 256) return BadRequest(f + "." + k, "must be a short string");
      if (auto e = CheckText(g[k].get_ref<const std::string&>(), f + "." + k)) return e;
      o[k] = g[k];
    }
    out->push_back(std::move(o));
  }
  return std::nullopt;
}

// GET /v1/nodes?view=usage: what a picture of every node needs, as columns (docs/http-api.md, "Nodes"):
// one array per field, the i-th entry of each for the i-th node in registration order. 10,000 nodes are a
// quarter of the bytes of the whole objects, and a client reads arrays without building an object per node.
std::string UsageColumns(const std::vector<NodeInfo>& nodes) {
  std::set<std::string> resources, labels;
  for (const auto& n : nodes) {
    for (const auto& [k, v] : n.capacity) resources.insert(k);
    for (const auto& [k, v] : n.allocated) resources.insert(k);
    for (const auto& [k, v] : n.labels) labels.insert(k);
  }
  // gpu_milli beside gpu, as in a node's maps (unless a resource has that name itself).
  bool derived_milli = resources.contains("gpu") && resources.insert("gpu_milli").second;
  JsonWriter w;
  w.out().reserve(4096 + nodes.size() * (48 + 24 * resources.size() + 16 * labels.size()));
  auto column = [&](const char* key, auto&& write) {
    w.Key(key).BeginArray();
    for (const auto& n : nodes) write(n);
    w.EndArray();
  };
  // Each resource's amounts in a node's units (gpu in devices, gpu_milli in milli-GPUs); 0 where none.
  auto amounts = [&](const char* key, ResourceMap NodeInfo::*map) {
    w.Key(key).BeginObject();
    for (const auto& res : resources) {
      bool milli = derived_milli && res == "gpu_milli";
      const std::string& from = milli ? *resources.find("gpu") : res;
      w.Key(res).BeginArray();
      for (const auto& n : nodes) {
        auto it = (n.*map).find(from);
        int64_t v = it == (n.*map).end() ? 0 : it->second;
        w.Int(milli ? v : ToOutputUnits(res, v));
      }
      w.EndArray();
    }
    w.EndObject();
  };
  w.BeginObject();
  w.Key("count").Int(static_cast<int64_t>(nodes.size()));
  w.Key("resources").BeginArray();
  for (const auto& res : resources) w.String(res);
  w.EndArray();
  column("name", [&](const NodeInfo& n) { w.String(n.name); });
  column("state", [&](const NodeInfo& n) { w.String(!n.up ? "down" : n.draining ? "draining" : "up"); });
  column("pool", [&](const NodeInfo& n) { w.String(n.pool); });
  column("allocations", [&](const NodeInfo& n) { w.Int(static_cast<int64_t>(n.allocations)); });
  amounts("capacity", &NodeInfo::capacity);
  amounts("allocated", &NodeInfo::allocated);
  w.Key("labels").BeginObject();
  for (const auto& key : labels) {
    w.Key(key).BeginArray();
    for (const auto& n : nodes) {
      auto it = n.labels.find(key);
      if (it == n.labels.end())
        w.Null();
      else
        w.String(it->second);
    }
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return std::move(w.out());
}

// GET /v1/nodes: every node as an object (written as text: 10,000 nodes are 3 MB), or ?view=usage.
void ListNodes(State& srv, const net::HttpRequest& req, const net::Responder& r) {
  if (req.HasQuery("view") && req.Query("view") != "usage") {
    return srv.Invalid(r, BadRequest("view", "view: \"" + QuoteForError(req.Query("view"), 40) +
                                                 "\" is not usage (leave it out for whole nodes)"));
  }
  if (req.HasQuery("view")) {
    std::vector<NodeInfo> nodes;
    {
      std::lock_guard<std::mutex> l(srv.mu);
      nodes = srv.engine->Nodes();
    }
    return r.Send(JsonTextResponse(200, UsageColumns(nodes)));
  }
  JsonWriter w;
  {
    std::lock_guard<std::mutex> l(srv.mu);
    std::vector<NodeInfo> nodes = srv.engine->Nodes();
    w.out().reserve(256 + nodes.size() * 320);
    w.BeginObject().Key("nodes").BeginArray();
    for (const auto& n : nodes) srv.WriteNode(w, n);
    w.EndArray().EndObject();
  }
  r.Send(JsonTextResponse(200, std::move(w.out())));
}

void GetNode(State& srv, const std::string& name, const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.mu);
  auto n = srv.engine->Node(name);
  if (!n.ok()) return srv.NotFound(r, "node " + name + " is not registered");
  r.Send(JsonResponse(200, srv.NodeJson(*n)));
}

// Whether `who` may replace node `current` by `spec`. An agent may update only a node it registered
// itself; nobody shrinks a node below what allot has placed on it, except an admin with force (the
// allocations then keep running and the node has no free capacity until enough of them end).
// REQUIRES: mu held.
std::optional<ApiError> MayUpdateNode(State& srv, const NodeInfo& current, const NodeSpec& spec, const Principal& who, bool force) {
  const State::NodeMeta& m = srv.node_meta[current.name];
  if (who.role == "agent" && !(m.agent && (m.owner.empty() || m.owner == who.name))) {
    return Forbidden("node " + current.name + " is managed by " + (m.agent ? "agent " + m.owner : std::string("an admin")) +
                     "; an agent token may register or update only its own node");
  }
  if (force && who.admin()) return std::nullopt;
  const ResourceMap& unmanaged = srv.registered_allocated[current.name];
  for (const auto& [k, used] : current.allocated) {
    int64_t placed = used - Get(unmanaged, k);  // what allot's own allocations hold
    if (placed <= 0) continue;
    int64_t room = Get(spec.capacity, k) - Get(spec.allocated, k);
    if (room < placed) {
      return ApiError{409, "failed_precondition",
                      "capacity." + k + ": node " + current.name + " has " + FormatResourceAmount(k, placed) +
                          " allocated; the new capacity leaves room for " + FormatResourceAmount(k, std::max<int64_t>(room, 0)) +
                          (who.admin() ? " (drain it first, or send \"force\": true to keep the allocations running on a node that has no free capacity until they end)"
                                       : " (an agent never shrinks a node below its allocations)"),
                      "capacity." + k};
    }
  }
  return std::nullopt;
}

void AddNode(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "agent") return srv.Reject(r, Forbidden("registering nodes needs an admin or agent token"), "forbidden");
  Json body;
  if (auto e = server::ParseBody(req.body, srv.cfg.max_json_depth, &body)) return srv.Invalid(r, *e);
  if (auto e = server::CheckKeys(body, "", {"name", "capacity", "allocated", "labels", "taints", "pool", "gpus", "force"})) {
    return srv.Invalid(r, *e);
  }
  bool force = false;
  if (auto e = server::GetBool(body, "", "force", &force)) return srv.Invalid(r, *e);
  NodeSpec spec;
  if (auto e = server::GetString(body, "", "name", &spec.name)) return srv.Invalid(r, *e);
  if (!ValidName(spec.name)) return srv.Invalid(r, Unprocessable("name", "a node name of letters, digits, '-', '_', '.' is required"));
  if (!body.contains("capacity")) return srv.Invalid(r, BadRequest("capacity", "is required"));
  std::vector<std::string> warnings;
  if (auto e = server::GetResources(body["capacity"], "capacity", &spec.capacity, &warnings, srv.cfg.strict_units)) {
    return srv.Invalid(r, *e);
  }
  if (spec.capacity.empty()) return srv.Invalid(r, Unprocessable("capacity", "names no resource"));
  if (body.contains("allocated")) {
    if (auto e = server::GetResources(body["allocated"], "allocated", &spec.allocated, &warnings, srv.cfg.strict_units)) {
      return srv.Invalid(r, *e);
    }
  }
  if (body.contains("labels")) {
    if (auto e = server::GetLabels(body["labels"], "labels", &spec.labels)) return srv.Invalid(r, *e);
  }
  if (auto e = server::GetString(body, "", "pool", &spec.pool)) return srv.Invalid(r, *e);
  Json gpus = Json::array();
  if (body.contains("gpus")) {
    if (auto e = ParseGpus(body["gpus"], "gpus", &gpus)) return srv.Invalid(r, *e);
  }
  if (!gpus.empty()) {
    // The agent's GPU list, summarised as labels that selectors can use (explicit labels win).
    std::string model;
    int64_t memory = -1;
    for (const auto& g : gpus) {
      if (model.empty() && g.contains("model")) model = LabelValue(g["model"].get<std::string>());
      if (g.contains("memory")) memory = memory < 0 ? g["memory"].get<int64_t>() : std::min(memory, g["memory"].get<int64_t>());
    }
    spec.labels.emplace("allot.dev/gpu-count", std::to_string(gpus.size()));
    if (!model.empty()) spec.labels.emplace("allot.dev/gpu-model", model);
    if (memory >= 0) spec.labels.emplace("allot.dev/gpu-memory", std::to_string(memory));
    if (!spec.capacity.count("gpu")) {
      auto n = ParseResourceAmount("gpu", std::to_string(gpus.size()));
      if (n.ok()) spec.capacity["gpu"] = *n;
    }
  }
  if (body.contains("taints") && !body["taints"].is_null()) {
    const Json& ts = body["taints"];
    if (!ts.is_array()) return srv.Invalid(r, BadRequest("taints", "must be a list"));
    for (size_t i = 0; i < ts.size(); i++) {
      std::string f = "taints[" + std::to_string(i) + "]";
      if (!ts[i].is_object()) return srv.Invalid(r, BadRequest(f, "must be an object"));
      if (auto e = server::CheckKeys(ts[i], f, {"key", "value", "effect"})) return srv.Invalid(r, *e);
      Taint t;
      if (auto e = server::GetString(ts[i], f, "key", &t.key)) return srv.Invalid(r, *e);
      if (auto e = server::GetString(ts[i], f, "value", &t.value)) return srv.Invalid(r, *e);
      if (auto e = server::GetString(ts[i], f, "effect", &t.effect)) return srv.Invalid(r, *e);
      if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
        return srv.Invalid(r, Unprocessable(f + ".effect", "must be NoSchedule, PreferNoSchedule or NoExecute"));
      }
      spec.taints.push_back(t);
    }
  }
  std::lock_guard<std::mutex> l(srv.mu);
  int64_t now = server::WallNowMs();
  auto current = srv.engine->Node(spec.name);
  bool exists = current.ok();
  if (exists) {
    if (auto e = MayUpdateNode(srv, *current, spec, who, force)) return srv.Reject(r, *e, e->status == 403 ? "forbidden" : "invalid");
  }
  Status s = exists ? srv.engine->UpdateNode(spec, now) : srv.engine->AddNode(spec, now);
  if (!s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  State::NodeMeta& m = srv.node_meta[spec.name];
  m.pool = spec.pool;
  if (!gpus.empty() || !body.contains("gpus")) m.gpus = gpus;
  srv.registered_allocated[spec.name] = spec.allocated;
  if (who.role == "agent") {
    m.agent = true;
    m.owner = who.name;
    m.last_heartbeat = now;
    srv.WatchHeartbeat(spec.name, m);
  }
  Batch b;
  b.Put(Table::kNodes, spec.name, server::EncodeNode({spec, m.draining, m.down, m.agent, m.owner}));
  srv.engine->Schedule(now);
  auto fire = srv.Collect(who.name, &b);
  auto n = srv.engine->Node(spec.name);
  srv.CommitThen(std::move(b), r, JsonResponse(exists ? 200 : 201, srv.NodeJson(*n), warnings), std::move(fire));
}

void RemoveNode(State& srv, const std::string& name, const Principal& who, const net::Responder& r) {
  if (!who.admin()) return srv.Reject(r, Forbidden("removing nodes needs an admin token"), "forbidden");
  std::lock_guard<std::mutex> l(srv.mu);
  int64_t now = server::WallNowMs();
  auto n = srv.engine->Node(name);
  if (!n.ok()) return srv.NotFound(r, "node " + name + " is not registered");
  if (auto s = srv.engine->RemoveNode(name, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  srv.node_meta.erase(name);
  srv.node_meta_erased++;
  srv.registered_allocated.erase(name);
  Batch b;
  b.Delete(Table::kNodes, name);
  srv.ScheduleAndCommit(now, who.name, std::move(b), r, JsonResponse(200, {{"name", name}, {"removed", true}}));
}

void DrainNode(State& srv, const std::string& name, const Principal& who, const net::Responder& r) {
  if (!who.admin()) return srv.Reject(r, Forbidden("draining nodes needs an admin token"), "forbidden");
  std::lock_guard<std::mutex> l(srv.mu);
  int64_t now = server::WallNowMs();
  if (!srv.engine->Node(name).ok()) return srv.NotFound(r, "node " + name + " is not registered");
  if (auto s = srv.engine->DrainNode(name, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  srv.node_meta[name].draining = true;
  Batch b;
  srv.PersistNode(name, &b);
  srv.engine->Schedule(now);
  auto fire = srv.Collect(who.name, &b);
  srv.CommitThen(std::move(b), r, JsonResponse(200, srv.NodeJson(*srv.engine->Node(name))), std::move(fire));
}

void Heartbeat(State& srv, const std::string& name, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role != "admin" && who.role != "agent") return srv.Reject(r, Forbidden("heartbeats need an agent or admin token"), "forbidden");
  Json body = Json::object();
  if (!req.body.empty()) {
    if (auto e = server::ParseBody(req.body, srv.cfg.max_json_depth, &body)) return srv.Invalid(r, *e);
  }
  if (auto e = server::CheckKeys(body, "", {"usage", "gpus"})) return srv.Invalid(r, *e);
  ResourceMap usage;
  if (body.contains("usage")) {
    if (auto e = server::GetResources(body["usage"], "usage", &usage)) return srv.Invalid(r, *e);
  }
  Json gpus;
  bool has_gpus = body.contains("gpus") && !body["gpus"].is_null();
  if (has_gpus) {
    if (auto e = ParseGpus(body["gpus"], "gpus", &gpus)) return srv.Invalid(r, *e);
  }
  std::lock_guard<std::mutex> l(srv.mu);
  int64_t now = server::WallNowMs();
  if (!srv.engine->Node(name).ok()) return srv.NotFound(r, "node " + name + " is not registered");
  if (who.role == "agent") {
    const State::NodeMeta& cur = srv.node_meta[name];
    // Only the agent that registered the node reports for it (so a heartbeat cannot turn an admin's node
    // into an agent's one, which an agent could then re-register).
    if (!cur.agent || (!cur.owner.empty() && cur.owner != who.name)) {
      return srv.Reject(r, Forbidden("node " + name + " is managed by " +
                                     (cur.agent ? "agent " + cur.owner : std::string("an admin")) +
                                     "; heartbeats come from the agent that registered it"),
                        "forbidden");
    }
  }
  if (auto s = srv.engine->SetObservedUsage(name, usage, now); !s.ok()) return srv.Invalid(r, server::FromError(s.error()));
  State::NodeMeta& m = srv.node_meta[name];
  bool changed = !m.agent || m.down_by_heartbeat;
  m.agent = true;
  m.last_heartbeat = now;
  srv.WatchHeartbeat(name, m);
  m.observed = usage;
  if (has_gpus) m.gpus = std::move(gpus);
  Json resp = {{"node", name},
               {"heartbeat_timeout_seconds", static_cast<double>(srv.cfg.heartbeat_timeout_ms) / 1000.0},
               {"degradation", srv.DegradationJson()}};
  if (m.down_by_heartbeat) {
    (void)srv.engine->SetNodeUp(name, now);
    m.down_by_heartbeat = false;
    m.down = false;
  }
  (void)srv.engine->TakeEvents().size();  // observed usage is not audited; node up is below
  if (!changed) {
    r.Send(JsonResponse(200, resp));
    return;
  }
  Batch b;
  srv.PersistNode(name, &b);
  AuditEvent a;
  a.at = now;
  a.type = "node_up";
  a.id = name;
  a.node = name;
  a.reason = "heartbeat";
  a.actor = who.name;
  b.events.push_back(std::move(a));
  srv.ScheduleAndCommit(now, who.name, std::move(b), r, JsonResponse(200, resp));
}

}  // namespace

void MountNodes(RouteTable& t, State& s) {
  t.Add("GET", "/v1/nodes", [&s](const Call& c) { ListNodes(s, c.req, c.r); });
  t.Add("POST", "/v1/nodes", [&s](const Call& c) { AddNode(s, c.req, c.who, c.r); });
  t.Add("GET", "/v1/nodes/{name}", [&s](const Call& c) { GetNode(s, c.params["name"], c.r); });
  t.Add("DELETE", "/v1/nodes/{name}", [&s](const Call& c) { RemoveNode(s, c.params["name"], c.who, c.r); });
  t.Add("POST", "/v1/nodes/{name}/drain", [&s](const Call& c) { DrainNode(s, c.params["name"], c.who, c.r); });
  t.Add("POST", "/v1/nodes/{name}/heartbeat", [&s](const Call& c) { Heartbeat(s, c.params["name"], c.req, c.who, c.r); });
}

}  // namespace allot::server
