// Renderers: JSON (the contract in DESIGN.md units), aligned tables, markdown, kubectl patches, quotas.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "allot/plan.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "plan/internal.h"

namespace allot::plan {
namespace {

using internal::Get;
using json = nlohmann::ordered_json;

// A resource list in output units; cpu and memory always present when `always_cpu_memory`.
json ResourcesJson(const ResourceList& r, bool always_cpu_memory) {
  json out = json::object();
  if (always_cpu_memory) {
    out["cpu"] = Get(r, "cpu");
    out["memory"] = Get(r, "memory");
  }
  for (const auto& [k, v] : r) {
    out[k] = ToOutputUnits(k, v);
    if (k == "gpu" && v % 1000 != 0) out["gpu_milli"] = v;
  }
  return out;
}

// PVC storage by class: {"standard": {"claims": 3, "bytes": 32212254720}} (bytes in base units).
json StorageJson(const StorageByClass& s) {
  json out = json::object();
  for (const auto& [cls, d] : s) out[cls] = {{"claims", d.claims}, {"bytes", d.bytes}};
  return out;
}

json TotalsJson(const Totals& t) {
  return {{"requests", ResourcesJson(t.requests, true)}, {"limits", ResourcesJson(t.limits, true)}, {"pods", t.pods},
          {"storage", StorageJson(t.storage)}};
}

json SizingJson(const SizingResult& s) {
  json by_shape = json::array();
  for (const auto& b : s.by_shape) by_shape.push_back({{"shape", b.shape}, {"nodes", b.nodes}, {"cost", b.cost}});
  json util = json::object();
  for (const auto& [k, v] : s.utilization) util[k] = v;
  return {{"nodes", s.nodes}, {"lower_bound", s.lower_bound}, {"cost", s.cost}, {"by_shape", by_shape},
          {"utilization_percent", util}, {"unplaced", s.unplaced}};
}

// An amount for the plan's tables: cpu as a quantity, bytes as FormatBytesTable (exact up to 4 digits,
// else "~1.34Gi").
std::string Human(const std::string& res, int64_t v) {
  if (res == "memory" || res == "ephemeral-storage" || res == "storage") return FormatBytesTable(v);
  return FormatResourceAmount(res, v);
}

std::string HumanOpt(const ResourceList& r, const std::string& res) {
  auto it = r.find(res);
  return it == r.end() ? "-" : Human(res, it->second);
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::set<size_t> right;  // right-aligned columns

  std::string Text() const {
    std::vector<size_t> w(header.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
      for (size_t i = 0; i < row.size() && i < w.size(); i++) w[i] = std::max(w[i], row[i].size());
    };
    measure(header);
    for (const auto& r : rows) measure(r);
    std::string out;
    auto line = [&](const std::vector<std::string>& row) {
      std::string l;
      for (size_t i = 0; i < row.size() && i < w.size(); i++) {
        std::string pad(w[i] - row[i].size(), ' ');
        l += right.count(i) ? pad + row[i] : row[i] + pad;
        if (i + 1 < row.size()) l += "  ";
      }
      while (!l.empty() && l.back() == ' ') l.pop_back();
      out += l + "\n";
    };
    line(header);
    for (const auto& r : rows) line(r);
    return out;
  }

  std::string Markdown() const {
    auto esc = [](const std::string& s) {
      std::string o;
      for (char c : s) {
        if (c == '|') o.push_back('\\');
        o.push_back(c);
      }
      return o;
    };
    std::ostringstream out;
    out << "|";
    for (const auto& h : header) out << ' ' << esc(h) << " |";
    out << "\n|";
    for (size_t i = 0; i < header.size(); i++) out << (right.count(i) ? "---:|" : "---|");
    out << "\n";
    for (const auto& r : rows) {
      out << "|";
      for (const auto& c : r) out << ' ' << esc(c) << " |";
      out << "\n";
    }
    return out.str();
  }
};

bool AnyGpu(const Plan& plan) {
  for (const auto& w : plan.workloads) {
    if (Get(w.pod_requests, "gpu") > 0 || Get(w.pod_limits, "gpu") > 0) return true;
  }
  return false;
}

std::string Replicas(const Workload& w) {
  std::string r = w.min_replicas == w.max_replicas ? std::to_string(w.min_replicas)
                                                    : std::to_string(w.min_replicas) + "-" + std::to_string(w.max_replicas);
  if (w.per_node) r += " (per node)";
  return r;
}

Table WorkloadTable(const Plan& plan) {
  bool gpu = AnyGpu(plan);
  Table t;
  t.header = {"NAMESPACE", "KIND", "NAME", "REPLICAS", "QOS", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM"};
  if (gpu) t.header.push_back("GPU");
  t.right = {5, 6, 7, 8, 9};
  for (const auto& w : plan.workloads) {
    std::vector<std::string> row = {w.ns, w.kind, w.name, Replicas(w), QosName(w.qos),
                                    Human("cpu", Get(w.pod_requests, "cpu")), HumanOpt(w.pod_limits, "cpu"),
                                    Human("memory", Get(w.pod_requests, "memory")), HumanOpt(w.pod_limits, "memory")};
    if (gpu) row.push_back(Human("gpu", Get(w.pod_requests, "gpu")));
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::vector<std::string> TotalsRow(const std::string& scope, const std::string& at, const Totals& tt, bool gpu) {
  std::vector<std::string> row = {scope, at, std::to_string(tt.pods), Human("cpu", Get(tt.requests, "cpu")),
                                  Human("cpu", Get(tt.limits, "cpu")), Human("memory", Get(tt.requests, "memory")),
                                  Human("memory", Get(tt.limits, "memory"))};
  if (gpu) row.push_back(Human("gpu", Get(tt.requests, "gpu")));
  return row;
}

Table TotalsTable(const Plan& plan) {
  bool gpu = AnyGpu(plan);
  Table t;
  t.header = {"SCOPE", "AT", "PODS", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM"};
  if (gpu) t.header.push_back("GPU");
  t.right = {2, 3, 4, 5, 6, 7};
  for (const auto& [ns, mm] : plan.by_namespace) {
    t.rows.push_back(TotalsRow(ns, "min", mm.first, gpu));
    t.rows.push_back(TotalsRow(ns, "max", mm.second, gpu));
  }
  t.rows.push_back(TotalsRow("TOTAL", "min", plan.total_min, gpu));
  t.rows.push_back(TotalsRow("TOTAL", "max", plan.total_max, gpu));
  return t;
}

// PVC requests by storage class, per namespace and in total, at min and max replicas; no rows without PVCs.
Table StorageTable(const Plan& plan) {
  Table t;
  t.header = {"SCOPE", "STORAGE CLASS", "CLAIMS MIN", "CLAIMS MAX", "STORAGE MIN", "STORAGE MAX"};
  t.right = {2, 3, 4, 5};
  auto add = [&](const std::string& scope, const Totals& tmin, const Totals& tmax) {
    for (const auto& [cls, dmax] : tmax.storage) {
      auto it = tmin.storage.find(cls);
      StorageDemand dmin = it == tmin.storage.end() ? StorageDemand{} : it->second;
      t.rows.push_back({scope, cls, std::to_string(dmin.claims), std::to_string(dmax.claims),
                        Human("memory", dmin.bytes), Human("memory", dmax.bytes)});
    }
  };
  for (const auto& [ns, mm] : plan.by_namespace) add(ns, mm.first, mm.second);
  add("TOTAL", plan.total_min, plan.total_max);
  return t;
}

Table EnvTable(const Plan& plan) {
  bool gpu = AnyGpu(plan);
  Table t;
  t.header = {"ENV", "AT", "PODS", "CPU REQ", "CPU LIM", "MEM REQ", "MEM LIM"};
  if (gpu) t.header.push_back("GPU");
  t.right = {2, 3, 4, 5, 6, 7};
  for (const auto& [env, mm] : plan.by_env) {
    t.rows.push_back(TotalsRow(env, "min", mm.first, gpu));
    t.rows.push_back(TotalsRow(env, "max", mm.second, gpu));
  }
  return t;
}

std::string QuotaUnit(const std::string& key) {
  if (key.find("cpu") != std::string::npos) return "cpu";
  if (key.find("memory") != std::string::npos || key.find("storage") != std::string::npos) return "memory";
  if (key.find("gpu") != std::string::npos) return "gpu";
  return "count";
}

Table QuotaTable(const Plan& plan) {
  Table t;
  t.header = {"NAMESPACE", "QUOTA", "KEY", "HARD", "USED MIN", "USED MAX", "FIT"};
  t.right = {3, 4, 5};
  for (const auto& q : plan.quota) {
    std::string unit = QuotaUnit(q.key);
    auto fmt = [&](int64_t v) { return unit == "count" ? std::to_string(v) : Human(unit, v); };
    std::string fit = !q.checked ? "not checked"
                      : q.used_min > q.hard_value ? "OVER at min"
                      : q.used_max > q.hard_value ? "over at max"
                                                  : "ok";
    t.rows.push_back({q.ns, q.quota, q.key, q.hard, q.checked ? fmt(q.used_min) : "-", q.checked ? fmt(q.used_max) : "-", fit});
  }
  return t;
}

Table SizingTable(const Plan& plan) {
  Table t;
  t.header = {"AT", "NODES", "LOWER BOUND", "BY SHAPE", "CPU %", "MEM %", "GPU %", "COST", "UNPLACED"};
  t.right = {1, 2, 4, 5, 6, 7};
  for (auto [at, s] : {std::pair{"min", &plan.sizing.at_min}, std::pair{"max", &plan.sizing.at_max}}) {
    std::string shapes;
    for (const auto& b : s->by_shape) shapes += (shapes.empty() ? "" : " + ") + std::to_string(b.nodes) + " × " + b.shape;
    const SizingResult* sizing = s;  // a lambda may not capture a structured binding before C++20 in clang 14
    auto pct = [sizing](const char* k) {
      auto it = sizing->utilization.find(k);
      if (it == sizing->utilization.end()) return std::string("-");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f", it->second);
      return std::string(buf);
    };
    char cost[32];
    std::snprintf(cost, sizeof cost, "%.2f", s->cost);
    t.rows.push_back({at, std::to_string(s->nodes), std::to_string(s->lower_bound), shapes.empty() ? "-" : shapes,
                      pct("cpu"), pct("memory"), pct("gpu"), cost, std::to_string(s->unplaced.size())});
  }
  return t;
}

Table FindingsTable(const Plan& plan) {
  Table t;
  t.header = {"SEVERITY", "RULE", "OBJECT", "CONTAINER", "MESSAGE", "FIX"};
  std::vector<const Finding*> sorted;
  for (const auto& f : plan.findings) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Finding* a, const Finding* b) { return static_cast<int>(a->severity) > static_cast<int>(b->severity); });
  for (const auto* f : sorted) {
    t.rows.push_back({SeverityName(f->severity), f->rule, f->ns + "/" + f->kind + "/" + f->name, f->container.empty() ? "-" : f->container,
                      f->message, f->fix});
  }
  return t;
}

std::string EnvLabel(const Plan& plan) { return plan.env.empty() ? "as written" : plan.env; }

}  // namespace

std::string RenderJson(const Plan& plan) {
  json out;
  out["env"] = plan.env.empty() ? json(nullptr) : json(plan.env);
  json workloads = json::array();
  for (const auto& w : plan.workloads) {
    json containers = json::array(), init = json::array();
    for (const auto& c : w.containers) {
      json cj = {{"name", c.name}, {"requests", ResourcesJson(c.requests, true)}, {"limits", ResourcesJson(c.limits, false)}};
      if (c.init) {
        cj["sidecar"] = c.sidecar;
        init.push_back(std::move(cj));
      } else {
        containers.push_back(std::move(cj));
      }
    }
    json wj = {{"kind", w.kind},
               {"name", w.name},
               {"namespace", w.ns},
               {"replicas", w.replicas},
               {"min_replicas", w.min_replicas},
               {"max_replicas", w.max_replicas},
               {"qos", QosName(w.qos)},
               {"containers", containers},
               {"pod", {{"requests", ResourcesJson(w.pod_requests, true)}, {"limits", ResourcesJson(w.pod_limits, false)}}}};
    if (!init.empty()) wj["init_containers"] = init;
    if (!w.overhead.empty()) wj["overhead"] = ResourcesJson(w.overhead, false);
    if (!w.hpa.empty()) wj["hpa"] = w.hpa;
    if (w.per_node) wj["per_node"] = true;
    wj["source"] = internal::Where(w.where);
    workloads.push_back(std::move(wj));
  }
  out["workloads"] = std::move(workloads);
  json by_ns = json::object();
  for (const auto& [ns, mm] : plan.by_namespace) by_ns[ns] = {{"min", TotalsJson(mm.first)}, {"max", TotalsJson(mm.second)}};
  out["totals"] = {{"min", TotalsJson(plan.total_min)}, {"max", TotalsJson(plan.total_max)}, {"by_namespace", by_ns}};
  json envs = json::object();
  for (const auto& [env, mm] : plan.by_env) envs[env] = {{"min", TotalsJson(mm.first)}, {"max", TotalsJson(mm.second)}};
  out["environments"] = std::move(envs);
  json quota = json::array();
  for (const auto& q : plan.quota) {
    std::string unit = QuotaUnit(q.key);
    auto conv = [&](int64_t v) { return unit == "gpu" ? ToOutputUnits("gpu", v) : v; };
    json qj = {{"namespace", q.ns}, {"quota", q.quota}, {"key", q.key}, {"hard", q.hard}, {"checked", q.checked}};
    if (q.checked) {
      qj["hard_value"] = conv(q.hard_value);
      qj["used_min"] = conv(q.used_min);
      qj["used_max"] = conv(q.used_max);
      qj["fits_min"] = q.used_min <= q.hard_value;
      qj["fits_max"] = q.used_max <= q.hard_value;
    }
    quota.push_back(std::move(qj));
  }
  out["quota"] = std::move(quota);
  json findings = json::array();
  for (const auto& f : plan.findings) {
    findings.push_back({{"rule", f.rule},
                        {"severity", SeverityName(f.severity)},
                        {"kind", f.kind},
                        {"name", f.name},
                        {"namespace", f.ns},
                        {"container", f.container},
                        {"message", f.message},
                        {"fix", f.fix},
                        {"location", internal::Where(f.where)}});
  }
  out["findings"] = std::move(findings);
  if (plan.sizing.enabled) {
    out["sizing"] = {{"min", SizingJson(plan.sizing.at_min)}, {"max", SizingJson(plan.sizing.at_max)}};
  } else {
    out["sizing"] = nullptr;
  }
  json ignored = json::object();
  for (const auto& [k, n] : plan.ignored_kinds) ignored[k] = n;
  out["ignored_kinds"] = std::move(ignored);
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string RenderTable(const Plan& plan) {
  std::string out = "WORKLOADS (env: " + EnvLabel(plan) + "; pod requests/limits per replica)\n" + WorkloadTable(plan).Text();
  out += "\nTOTALS (at min and max replicas)\n" + TotalsTable(plan).Text();
  if (!plan.total_max.storage.empty()) {
    out += "\nSTORAGE (PersistentVolumeClaim requests by storage class)\n" + StorageTable(plan).Text();
  }
  out += "\nENVIRONMENTS (multipliers applied)\n" + EnvTable(plan).Text();
  if (!plan.quota.empty()) out += "\nQUOTA FIT\n" + QuotaTable(plan).Text();
  if (plan.sizing.enabled) out += "\nSIZING\n" + SizingTable(plan).Text();
  out += "\nFINDINGS (" + std::to_string(plan.findings.size()) + ")\n";
  if (!plan.findings.empty()) out += FindingsTable(plan).Text();
  return out;
}

std::string RenderMarkdown(const Plan& plan) {
  std::string out = "# Resource plan\n\nEnvironment: **" + EnvLabel(plan) + "**. Pod values are per replica; "
                    "cpu in cores or millicores, memory in binary units.\n\n";
  out += "## Resource allocation matrix\n\n" + WorkloadTable(plan).Markdown();
  out += "\n## Totals\n\n" + TotalsTable(plan).Markdown();
  if (!plan.total_max.storage.empty()) out += "\n## Storage by class\n\n" + StorageTable(plan).Markdown();
  out += "\n## Environments\n\n" + EnvTable(plan).Markdown();
  if (!plan.quota.empty()) out += "\n## Quota fit\n\n" + QuotaTable(plan).Markdown();
  if (plan.sizing.enabled) out += "\n## Node sizing\n\n" + SizingTable(plan).Markdown();
  out += "\n## Findings\n\n";
  out += plan.findings.empty() ? std::string("None.\n") : FindingsTable(plan).Markdown();
  return out;
}

std::string RenderPatches(const Plan& plan) {
  json out = json::array();
  for (const auto& f : plan.findings) {
    if (f.patch.empty()) continue;
    std::string resource = f.kind;
    for (auto& c : resource) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json p = {{"rule", f.rule},          {"kind", f.kind}, {"name", f.name}, {"namespace", f.ns}, {"container", f.container},
              {"type", "strategic"},     {"patch", json::parse(f.patch)}};
    p["command"] = "kubectl patch " + resource + " " + f.name + " -n " + f.ns + " --type strategic -p '" + f.patch + "'";
    out.push_back(std::move(p));
  }
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string RenderQuotas(const Plan& plan, double headroom) {
  std::ostringstream out;
  // ceil(v × (1 + headroom)) in integers: through a double, 80Gi + 0.999999 rounds up to 80Gi + 1 byte.
  const auto ppm = static_cast<int64_t>(std::llround((1.0 + headroom) * 1e6));
  auto grow = [&](int64_t v) { return internal::ScalePpm(v, ppm); };
  auto mem = [](int64_t v) {
    const int64_t mi = 1LL << 20;
    return FormatBytes((v + mi - 1) / mi * mi);
  };
  bool first = true;
  for (const auto& [ns, mm] : plan.by_namespace) {
    const Totals& t = mm.second;
    int64_t max_cpu = 0, max_mem = 0;
    for (const auto& w : plan.workloads) {
      if (w.ns != ns) continue;
      for (const auto& c : w.containers) {
        max_cpu = std::max({max_cpu, Get(c.limits, "cpu"), Get(c.requests, "cpu")});
        max_mem = std::max({max_mem, Get(c.limits, "memory"), Get(c.requests, "memory")});
      }
    }
    if (!first) out << "---\n";
    first = false;
    out << "# Sized by allot plan from totals at max replicas × " << (1.0 + headroom) << "\n";
    out << "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: allot-quota\n  namespace: " << ns << "\nspec:\n  hard:\n";
    out << "    requests.cpu: " << FormatMilli(grow(Get(t.requests, "cpu"))) << "\n";
    out << "    requests.memory: " << mem(grow(Get(t.requests, "memory"))) << "\n";
    out << "    limits.cpu: " << FormatMilli(grow(Get(t.limits, "cpu"))) << "\n";
    out << "    limits.memory: " << mem(grow(Get(t.limits, "memory"))) << "\n";
    if (int64_t g = Get(t.requests, "gpu"); g > 0) out << "    requests.nvidia.com/gpu: \"" << ToOutputUnits("gpu", g) << "\"\n";
    out << "    pods: \"" << grow(t.pods) << "\"\n";
    if (!t.storage.empty()) {
      int64_t bytes = 0, claims = 0;
      for (const auto& [cls, d] : t.storage) {
        bytes = internal::SatAdd(bytes, d.bytes);
        claims = internal::SatAdd(claims, d.claims);
      }
      out << "    requests.storage: " << mem(grow(bytes)) << "\n";
      out << "    persistentvolumeclaims: \"" << grow(claims) << "\"\n";
      for (const auto& [cls, d] : t.storage) {
        if (cls == kDefaultStorageClass || cls == kNoStorageClass) continue;  // no quota key names them
        out << "    " << cls << ".storageclass.storage.k8s.io/requests.storage: " << mem(grow(d.bytes)) << "\n";
        out << "    " << cls << ".storageclass.storage.k8s.io/persistentvolumeclaims: \"" << grow(d.claims) << "\"\n";
      }
    }
    out << "---\napiVersion: v1\nkind: LimitRange\nmetadata:\n  name: allot-limits\n  namespace: " << ns << "\nspec:\n  limits:\n";
    out << "  - type: Container\n    defaultRequest:\n      cpu: 100m\n      memory: 128Mi\n";
    out << "    default:\n      cpu: 200m\n      memory: 192Mi\n";
    out << "    max:\n      cpu: " << FormatMilli(std::max<int64_t>(200, grow(max_cpu))) << "\n      memory: "
        << mem(std::max<int64_t>(192LL << 20, grow(max_mem))) << "\n";
  }
  return out.str();
}

}  // namespace allot::plan
