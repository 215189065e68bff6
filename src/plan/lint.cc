// The planner's lint rules; see plan/lint.h for the list and the reasons behind each threshold.
#include "plan/lint.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

#include "allot/quantity.h"
#include "allot/resources.h"
#include "plan/internal.h"

namespace allot::plan::internal {
namespace {

using json = nlohmann::ordered_json;

struct Ctx {
  const PlanOptions& options;
  std::vector<Finding>* out;
  bool Enabled(const std::string& rule) const {
    const auto& d = options.lint.disabled;
    return std::find(d.begin(), d.end(), rule) == d.end();
  }
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Fmt(const std::string& res, int64_t v) { return FormatResourceAmount(res, v); }

// Rounds bytes up to a whole MiB so suggested values read well (down to the last whole MiB below 2^63
// when up is past the int64 range).
int64_t RoundMi(int64_t bytes) {
  const int64_t mi = 1 << 20;
  return SaturatingAdd(bytes, mi - 1) / mi * mi;
}

// A strategic-merge patch that sets `resources` on one container of `w`.
std::string ContainerPatch(const Workload& w, const Container& c, const json& resources) {
  json container = {{"name", c.name}, {"resources", resources}};
  json pod_spec = {{c.init ? "initContainers" : "containers", json::array({container})}};
  json patch;
  if (w.kind == "Pod") {
    patch = {{"spec", pod_spec}};
  } else if (w.kind == "CronJob") {
    patch = {{"spec", {{"jobTemplate", {{"spec", {{"template", {{"spec", pod_spec}}}}}}}}}};
  } else {
    patch = {{"spec", {{"template", {{"spec", pod_spec}}}}}};
  }
  return patch.dump(-1, ' ', false, json::error_handler_t::replace);
}

void Add(Ctx& ctx, const std::string& rule, Severity sev, const Workload& w, const std::string& container,
         std::string message, std::string fix, std::string patch = "") {
  if (!ctx.Enabled(rule)) return;
  Finding f;
  f.rule = rule;
  f.severity = sev;
  f.kind = w.kind;
  f.name = w.name;
  f.ns = w.ns;
  f.container = container;
  f.where = w.where;
  f.message = std::move(message);
  f.fix = std::move(fix);
  if (w.kind != "ComposeService") f.patch = std::move(patch);
  ctx.out->push_back(std::move(f));
}

// Parses a JVM size (-Xmx512m: k/m/g are 1024 multiples, no suffix = bytes). -1 when not a size.
int64_t JvmSize(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return -1;
  size_t i = 0;
  int64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    n = n * 10 + (s[i] - '0');
    if (n > (int64_t{1} << 50)) return -1;
    i++;
  }
  if (i == s.size()) return n;
  switch (std::tolower(static_cast<unsigned char>(s[i]))) {
    case 'k': return n << 10;
    case 'm': return n << 20;
    case 'g': return n << 30;
    case 't': return n << 40;
    default: return -1;
  }
}

int64_t FindXmx(const Container& c) {
  int64_t best = -1;
  for (const auto& v : c.env_values) {
    for (size_t pos = v.find("-Xmx"); pos != std::string::npos; pos = v.find("-Xmx", pos + 4)) {
      size_t end = v.find_first_of(" \t\"'", pos + 4);
      int64_t size = JvmSize(v.substr(pos + 4, end == std::string::npos ? std::string::npos : end - pos - 4));
      best = std::max(best, size);
    }
  }
  return best;
}

Finding MakeFinding(const std::string& rule, Severity sev, const std::string& kind, const std::string& name,
                    const std::string& ns, const Location& where, std::string message, std::string fix) {
  Finding f;
  f.rule = rule;
  f.severity = sev;
  f.kind = kind;
  f.name = name;
  f.ns = ns;
  f.where = where;
  f.message = std::move(message);
  f.fix = std::move(fix);
  return f;
}

std::string WorkloadWhere(const Workload& w) { return w.kind + "/" + w.name + " (" + Where(w.where) + ")"; }

void LintContainer(Ctx& ctx, const Workload& w, const Container& c) {
  const LintConfig& cfg = ctx.options.lint;
  bool compose = w.kind == "ComposeService";
  std::string place = compose ? "deploy.resources" : "resources";
  // Non-sidecar init containers run alone and briefly; missing values there rarely matter.
  bool lint_missing = (!c.init || c.sidecar) && w.qos != Qos::kBestEffort;
  int64_t cpu_req = Get(c.requests, "cpu"), mem_req = Get(c.requests, "memory");
  int64_t cpu_lim = Get(c.limits, "cpu"), mem_lim = Get(c.limits, "memory");
  bool has_cpu_lim = c.limits.count("cpu") > 0, has_mem_lim = c.limits.count("memory") > 0;
  if (lint_missing && (cpu_req == 0 || mem_req == 0)) {
    std::vector<std::string> missing;
    json req = json::object();
    if (cpu_req == 0) {
      missing.push_back("cpu");
      req["cpu"] = Fmt("cpu", cfg.default_cpu_request);
    }
    if (mem_req == 0) {
      missing.push_back("memory");
      req["memory"] = Fmt("memory", cfg.default_memory_request);
    }
    std::string names = missing.size() == 2 ? "cpu and memory" : missing[0];
    std::string fix = compose ? "set deploy.resources.reservations (cpus: '" + std::to_string(cfg.default_cpu_request / 1000.0).substr(0, 4) +
                                    "', memory: " + std::to_string(cfg.default_memory_request >> 20) + "M)"
                              : "set resources.requests " + req.dump(-1, ' ', false, json::error_handler_t::replace) + " on container " + c.name;
    Add(ctx, "missing-requests", Severity::kWarning, w, c.name,
        "container " + c.name + " has no " + names + " request; the scheduler counts 0 for it", fix,
        ContainerPatch(w, c, {{"requests", req}}));
  }
  if (lint_missing && !has_mem_lim) {
    int64_t suggest = RoundMi(SaturatingCast(
        static_cast<double>(std::max(mem_req, cfg.default_memory_request)) * cfg.memory_ratio_min));
    Add(ctx, "missing-limits", Severity::kWarning, w, c.name,
        "container " + c.name + " has no memory limit; a leak can exhaust the node",
        "set " + place + ".limits.memory: " + Fmt("memory", suggest) + " (" + std::to_string(cfg.memory_ratio_min).substr(0, 3) +
            "× the request)",
        ContainerPatch(w, c, {{"limits", {{"memory", Fmt("memory", suggest)}}}}));
  }
  if (lint_missing && !has_cpu_lim) {
    int64_t suggest =
        SaturatingCast(static_cast<double>(std::max(cpu_req, cfg.default_cpu_request)) * cfg.cpu_ratio_min);
    Add(ctx, "missing-limits", Severity::kInfo, w, c.name,
        "container " + c.name + " has no cpu limit; it may use any idle cpu of the node",
        "set " + place + ".limits.cpu: " + Fmt("cpu", suggest) + " if bursts must be bounded",
        ContainerPatch(w, c, {{"limits", {{"cpu", Fmt("cpu", suggest)}}}}));
  }
  for (const auto& [res, lim] : c.limits) {
    auto it = c.requests.find(res);
    if (it != c.requests.end() && lim < it->second) {
      Add(ctx, "limit-below-request", Severity::kError, w, c.name,
          "container " + c.name + ": " + res + " limit " + Fmt(res, lim) + " is below its request " + Fmt(res, it->second),
          "raise " + place + ".limits." + res + " to at least " + Fmt(res, it->second),
          ContainerPatch(w, c, {{"limits", {{res, Fmt(res, it->second)}}}}));
    }
  }
  auto ratio_check = [&](const std::string& res, int64_t req, int64_t lim, double lo, double hi, bool warn_high) {
    if (req <= 0 || lim <= 0 || lim == req || lim < req) return;
    double r = static_cast<double>(lim) / static_cast<double>(req);
    if (r >= lo - 1e-9 && r <= hi + 1e-9) return;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", r);
    char guide[64];
    std::snprintf(guide, sizeof guide, "%g-%g", lo, hi);
    int64_t target = SaturatingCast(static_cast<double>(req) * (r > hi ? hi : lo));
    if (res == "memory") target = RoundMi(target);
    Add(ctx, "limit-ratio", r > hi && warn_high ? Severity::kWarning : Severity::kInfo, w, c.name,
        "container " + c.name + ": " + res + " limit/request is " + buf + "× (" + Fmt(res, lim) + "/" + Fmt(res, req) +
            "), guidance " + guide + "×",
        "set " + place + ".limits." + res + ": " + Fmt(res, target),
        ContainerPatch(w, c, {{"limits", {{res, Fmt(res, target)}}}}));
  };
  ratio_check("cpu", cpu_req, cpu_lim, cfg.cpu_ratio_min, cfg.cpu_ratio_max, false);
  ratio_check("memory", mem_req, mem_lim, cfg.memory_ratio_min, cfg.memory_ratio_max, true);
  int64_t gpu_req = Get(c.requests, "gpu"), gpu_lim = Get(c.limits, "gpu");
  if (gpu_req > 0 && gpu_lim != gpu_req && !compose) {
    Add(ctx, "gpu-without-limits", Severity::kError, w, c.name,
        "container " + c.name + " requests " + Fmt("gpu", gpu_req) + " GPU but its limit is " +
            (c.limits.count("gpu") ? Fmt("gpu", gpu_lim) : std::string("unset")) +
            "; extended resources need limits equal to requests",
        "set resources.limits.nvidia.com/gpu: " + Fmt("gpu", gpu_req),
        ContainerPatch(w, c, {{"limits", {{"nvidia.com/gpu", Fmt("gpu", gpu_req)}}}}));
  }
  if (int64_t xmx = FindXmx(c); xmx > 0 && mem_lim > 0) {
    if (xmx >= mem_lim) {
      Add(ctx, "jvm-heap-over-limit", Severity::kError, w, c.name,
          "container " + c.name + ": -Xmx " + Fmt("memory", xmx) + " is at or above the memory limit " + Fmt("memory", mem_lim) +
              "; a full heap gets the container OOM-killed",
          "raise the memory limit to at least " + Fmt("memory", RoundMi(xmx * 4 / 3)) + " or lower -Xmx below " +
              Fmt("memory", RoundMi(mem_lim * 3 / 4)));
    } else if (xmx * 4 > mem_lim * 3) {
      Add(ctx, "jvm-heap-over-limit", Severity::kWarning, w, c.name,
          "container " + c.name + ": -Xmx " + Fmt("memory", xmx) + " is over 75% of the memory limit " + Fmt("memory", mem_lim) +
              "; metaspace, threads and direct buffers need the rest",
          "raise the memory limit to " + Fmt("memory", RoundMi(xmx * 4 / 3)) + " or use -XX:MaxRAMPercentage=75");
    }
  }
}

void LintLimitRange(Ctx& ctx, const Manifests& m, const Workload& w) {
  if (w.kind == "ComposeService") return;
  for (const auto& lr : m.limit_ranges) {
    if (lr.ns != w.ns) continue;
    for (const auto& item : lr.items) {
      if (item.type != "Container") continue;
      for (const auto& c : w.containers) {
        for (const auto& [res, mx] : item.max) {
          for (const auto* list : {&c.limits, &c.requests}) {
            auto it = list->find(res);
            if (it == list->end() || it->second <= mx) continue;
            Add(ctx, "limitrange-violation", Severity::kError, w, c.name,
                "container " + c.name + ": " + res + " " + (list == &c.limits ? "limit " : "request ") +
                    Fmt(res, it->second) + " is above LimitRange " + lr.name + " max " + Fmt(res, mx),
                "lower it to " + Fmt(res, mx) + " or raise the LimitRange max");
            break;
          }
        }
        for (const auto& [res, mn] : item.min) {
          auto it = c.requests.find(res);
          if (mn > 0 && (it == c.requests.end() || it->second < mn)) {
            Add(ctx, "limitrange-violation", Severity::kError, w, c.name,
                "container " + c.name + ": " + res + " request below LimitRange " + lr.name + " min " + Fmt(res, mn),
                "set resources.requests." + res + " to at least " + Fmt(res, mn));
          }
        }
      }
    }
  }
}

bool WantsGuaranteed(const Manifests& m, const Workload& w) {
  for (const auto& [k, v] : w.annotations) {
    if (k == "allot.dev/qos" && Lower(v) == "guaranteed") return true;
  }
  if (w.priority_class.empty()) return false;
  if (w.priority_class == "system-cluster-critical" || w.priority_class == "system-node-critical") return true;
  auto it = m.priority_classes.find(w.priority_class);
  return it != m.priority_classes.end() && it->second >= 1'000'000;
}

std::string GuaranteedPatch(const Workload& w) {
  json containers = json::array(), init = json::array();
  for (const auto& c : w.containers) {
    json lim = json::object(), req = json::object();
    for (const char* r : {"cpu", "memory"}) {
      int64_t v = std::max(Get(c.requests, r), Get(c.limits, r));
      if (v == 0) v = std::string(r) == "cpu" ? 100 : (128LL << 20);
      lim[r] = Fmt(r, v);
      req[r] = Fmt(r, v);
    }
    (c.init ? init : containers).push_back({{"name", c.name}, {"resources", {{"requests", req}, {"limits", lim}}}});
  }
  json pod_spec = {{"containers", containers}};
  if (!init.empty()) pod_spec["initContainers"] = init;
  json patch = w.kind == "Pod" ? json{{"spec", pod_spec}} : json{{"spec", {{"template", {{"spec", pod_spec}}}}}};
  if (w.kind == "CronJob") patch = {{"spec", {{"jobTemplate", {{"spec", {{"template", {{"spec", pod_spec}}}}}}}}}};
  return patch.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

void Lint(const Manifests& m, const std::vector<Hpa>& hpas, const Plan& plan, const PlanOptions& options,
          std::vector<Finding>* out) {
  Ctx ctx{options, out};
  const LintConfig& cfg = options.lint;
  for (const auto& w : plan.workloads) {
    for (const auto& c : w.containers) LintContainer(ctx, w, c);
    LintLimitRange(ctx, m, w);
    if (w.qos == Qos::kBestEffort && !w.containers.empty()) {
      json containers = json::array();
      for (const auto& c : w.containers) {
        if (c.init && !c.sidecar) continue;
        containers.push_back(
            {{"name", c.name},
             {"resources",
              {{"requests",
                {{"cpu", Fmt("cpu", cfg.default_cpu_request)},
                 {"memory", Fmt("memory", cfg.default_memory_request)}}},
               {"limits",
                {{"memory",
                  Fmt("memory", RoundMi(SaturatingCast(static_cast<double>(cfg.default_memory_request) *
                                                       cfg.memory_ratio_min)))}}}}}});
      }
      json pod_spec = {{"containers", containers}};
      json patch = w.kind == "Pod" ? json{{"spec", pod_spec}} : json{{"spec", {{"template", {{"spec", pod_spec}}}}}};
      if (w.kind == "CronJob") patch = {{"spec", {{"jobTemplate", {{"spec", {{"template", {{"spec", pod_spec}}}}}}}}}};
      Add(ctx, "besteffort-pod", Severity::kWarning, w, "",
          WorkloadWhere(w) + " sets no cpu or memory on any container: BestEffort, evicted first and scheduled anywhere",
          w.kind == "ComposeService" ? "set deploy.resources.reservations and limits (cpus, memory)"
                                     : "set requests (e.g. cpu " + Fmt("cpu", cfg.default_cpu_request) + ", memory " +
                                           Fmt("memory", cfg.default_memory_request) + ") and a memory limit on every container",
          patch.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (w.qos != Qos::kGuaranteed && WantsGuaranteed(m, w)) {
      Add(ctx, "guaranteed-not-met", Severity::kWarning, w, "",
          WorkloadWhere(w) + " asks for Guaranteed QoS (annotation or PriorityClass " + w.priority_class + ") but is " +
              QosName(w.qos),
          "set requests equal to limits for cpu and memory on every container", GuaranteedPatch(w));
    }
    if (!w.hpa.empty()) {
      for (const auto& h : hpas) {
        if (h.name != w.hpa || h.ns != w.ns) continue;
        // The declared replicas, as written (per-node workloads have no HPA).
        int64_t declared = w.replicas;
        if (declared > h.max_replicas) {
          Add(ctx, "replicas-above-hpa-max", Severity::kWarning, w, "",
              WorkloadWhere(w) + " declares " + std::to_string(declared) + " replicas, above HPA " + h.name + " max " +
                  std::to_string(h.max_replicas),
              "set spec.replicas to " + std::to_string(h.max_replicas) + " or raise the HPA's maxReplicas",
              json{{"spec", {{"replicas", h.max_replicas}}}}.dump(-1, ' ', false, json::error_handler_t::replace));
        } else if (declared < h.min_replicas) {
          Add(ctx, "replicas-below-hpa-min", Severity::kInfo, w, "",
              WorkloadWhere(w) + " declares " + std::to_string(declared) + " replicas; HPA " + h.name +
                  " keeps at least " + std::to_string(h.min_replicas) + " (planned at the HPA's range)",
              "remove spec.replicas (let the HPA own it) or set it to " + std::to_string(h.min_replicas),
              json{{"spec", {{"replicas", h.min_replicas}}}}.dump(-1, ' ', false, json::error_handler_t::replace));
        }
      }
    }
  }
  for (const auto& h : hpas) {
    if (h.matched || !ctx.Enabled("hpa-target-missing")) continue;
    out->push_back(MakeFinding(
        "hpa-target-missing", Severity::kInfo, "HorizontalPodAutoscaler", h.name, h.ns, h.where,
        "HPA " + h.name + " targets " + h.target_kind + "/" + h.target_name + ", which is not in the inputs",
        "load the manifest of " + h.target_kind + "/" + h.target_name + " too, or remove the HPA"));
  }
  // Namespaces with Kubernetes workloads but no quota.
  std::set<std::string> with_quota, with_workloads;
  for (const auto& q : m.quotas) with_quota.insert(q.ns);
  for (const auto& w : plan.workloads) {
    if (w.kind != "ComposeService") with_workloads.insert(w.ns);
  }
  for (const auto& ns : with_workloads) {
    if (with_quota.count(ns) || !ctx.Enabled("namespace-without-quota")) continue;
    auto it = plan.by_namespace.find(ns);
    std::string cpu = it == plan.by_namespace.end() ? "0" : Fmt("cpu", Get(it->second.second.requests, "cpu"));
    std::string mem = it == plan.by_namespace.end() ? "0" : Fmt("memory", Get(it->second.second.requests, "memory"));
    out->push_back(MakeFinding("namespace-without-quota", Severity::kInfo, "Namespace", ns, ns, Location{},
                               "namespace " + ns + " has no ResourceQuota",
                               "create one sized from the totals (allot plan --emit quota); at max replicas it "
                               "requests cpu " + cpu + ", memory " + mem));
  }
  for (const auto& q : plan.quota) {
    if (!q.checked || !ctx.Enabled("quota-exceeded")) continue;
    std::string unit = q.key.find("cpu") != std::string::npos ? "cpu"
                       : q.key.find("memory") != std::string::npos || q.key.find("storage") != std::string::npos ? "memory"
                                                                                                                  : "count";
    auto fmt = [&](int64_t v) { return unit == "count" ? std::to_string(v) : Fmt(unit, v); };
    bool at_min = q.used_min > q.hard_value;
    bool at_max = q.used_max > q.hard_value;
    if (!at_min && !at_max) continue;
    int64_t used = at_min ? q.used_min : q.used_max;
    Location where;
    for (const auto& rq : m.quotas) {
      if (rq.name == q.quota && rq.ns == q.ns) where = rq.where;
    }
    Finding f = MakeFinding("quota-exceeded", at_min ? Severity::kError : Severity::kWarning, "ResourceQuota", q.quota,
                            q.ns, where,
              "namespace " + q.ns + ": " + q.key + " needs " + fmt(used) + (at_min ? " at minimum" : " at maximum") +
                  " replicas but ResourceQuota " + q.quota + " allows " + q.hard + " (" + fmt(used - q.hard_value) + " over)",
              "raise hard." + q.key + " in ResourceQuota " + q.quota + " to at least " + fmt(used) +
                  " or reduce the namespace's " + (q.key.find("count/") == 0 || q.key == "pods" ? "objects" : "requests"));
    out->push_back(std::move(f));
  }
  if (plan.sizing.enabled && ctx.Enabled("unplaceable")) {
    std::set<std::string> seen;
    for (const auto* r : {&plan.sizing.at_min, &plan.sizing.at_max}) {
      for (const auto& u : r->unplaced) {
        if (!seen.insert(u).second) continue;
        Finding f = MakeFinding("unplaceable", Severity::kError, "", u, "", Location{}, "a pod of " + u + " fits no node shape given",
                                "add a larger --node-shape or reduce the pod's requests");
        for (const auto& w : plan.workloads) {
          if (w.ns + "/" + w.name == u) {
            f.kind = w.kind;
            f.name = w.name;
            f.ns = w.ns;
            f.where = w.where;
          }
        }
        out->push_back(std::move(f));
      }
    }
  }
}

}  // namespace allot::plan::internal
