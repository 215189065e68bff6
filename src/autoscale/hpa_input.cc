// Parsing `allot autoscale eval` input (YAML or JSON) and printing decisions as JSON.
//
// Validation follows the API server (pkg/apis/autoscaling/validation) and defaults follow
// pkg/apis/autoscaling/v2/defaults.go: minReplicas 1, metrics [cpu 80 %], and when `behavior` is
// present its missing rules are filled with scaleUp {0 s, Max, [Pods 4/15 s, Percent 100/15 s]} and
// scaleDown {controller window (300 s), Max, [Percent 100/15 s]}.
#include <cctype>

#include <nlohmann/json.hpp>
#include <set>
#include <yaml-cpp/yaml.h>

#include "allot/autoscale.h"
#include "allot/quantity.h"
#include "allot/utf8.h"
#include "autoscale/yaml_util.h"
#include "allot/yaml_utf8.h"

namespace allot::autoscale {
namespace {

using internal::Where;
using internal::GetInt;
using internal::GetMilli;
using internal::GetBool;
using internal::GetString;

constexpr int64_t kMaxAgeNs = int64_t{1} << 62;  // ~146 years: sums of two ages cannot overflow

// A number of seconds, as any JSON/YAML number (`100`, `100.0`, `1.5e2`, `-3`), in nanoseconds: exact,
// a fraction below 1 ns rounded up (away from zero) as Kubernetes rounds quantities.
Result<int64_t> GetSecondsNs(const YAML::Node& node, const std::string& path, std::string_view source) {
  if (!node.IsDefined() || node.IsNull()) return InvalidArgument(Where(source, node, path) + "is required");
  if (!node.IsScalar()) return InvalidArgument(Where(source, node, path) + "must be a number of seconds");
  const std::string& t = node.Scalar();
  // The JSON/YAML number grammar (no suffixes, no .inf/.nan): [sign] digits [. digits] [e [sign] digits].
  size_t i = 0, digits = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) i++;
  for (; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); i++) digits++;
  if (i < t.size() && t[i] == '.') {
    for (i++; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); i++) digits++;
  }
  bool ok = digits > 0;
  if (ok && i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) i++;
    size_t exp_start = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) i++;
    ok = i > exp_start;
  }
  if (!ok || i != t.size())
    return InvalidArgument(Where(source, node, path) + "must be a number of seconds, got \"" + QuoteForError(t) + "\"");
  auto q = ParseQuantity(t, QuantityRange::kValue);
  if (!q.ok() || q->nanos >= kMaxAgeNs || q->nanos <= -kMaxAgeNs)
    return InvalidArgument(Where(source, node, path) + "out of range (at most about 146 years)");
  return static_cast<int64_t>(q->nanos);
}

Result<ScalingRules> ParseRules(const YAML::Node& n, const std::string& path, bool up, const HpaOptions& opt,
                                std::string_view src) {
  ScalingRules r;
  if (up) {
    r.stabilization_window_seconds = 0;
    r.policies = {{PolicyType::kPods, 4, 15}, {PolicyType::kPercent, 100, 15}};
  } else {
    r.stabilization_window_seconds = static_cast<int32_t>(opt.downscale_stabilization_seconds);
    r.policies = {{PolicyType::kPercent, 100, 15}};
  }
  if (!n || n.IsNull()) return r;
  if (!n.IsMap()) return InvalidArgument(Where(src, n, path) + "must be a mapping");
  if (n["stabilizationWindowSeconds"]) {
    auto w = GetInt(n["stabilizationWindowSeconds"], path + ".stabilizationWindowSeconds", src);
    if (!w.ok()) return w.error();
    if (*w < 0 || *w > 3600)
      return InvalidArgument(Where(src, n["stabilizationWindowSeconds"], path + ".stabilizationWindowSeconds") +
                             "must be between 0 and 3600");
    r.stabilization_window_seconds = static_cast<int32_t>(*w);
  }
  if (n["selectPolicy"]) {
    auto s = GetString(n["selectPolicy"], path + ".selectPolicy", src);
    if (!s.ok()) return s.error();
    if (*s == "Max") r.select_policy = SelectPolicy::kMax;
    else if (*s == "Min") r.select_policy = SelectPolicy::kMin;
    else if (*s == "Disabled") r.select_policy = SelectPolicy::kDisabled;
    else
      return InvalidArgument(Where(src, n["selectPolicy"], path + ".selectPolicy") + "unsupported value \"" + *s +
                             "\" (Max, Min, Disabled)");
  }
  if (n["policies"]) {
    const YAML::Node& ps = n["policies"];
    if (!ps.IsSequence() || ps.size() == 0)
      return InvalidArgument(Where(src, ps, path + ".policies") + "must specify at least one Policy");
    r.policies.clear();
    for (size_t i = 0; i < ps.size(); i++) {
      std::string pp = path + ".policies[" + std::to_string(i) + "]";
      const YAML::Node& p = ps[i];
      if (!p.IsMap()) return InvalidArgument(Where(src, p, pp) + "must be a mapping");
      ScalingPolicy pol;
      auto t = GetString(p["type"], pp + ".type", src);
      if (!t.ok()) return t.error();
      if (*t == "Pods") pol.type = PolicyType::kPods;
      else if (*t == "Percent") pol.type = PolicyType::kPercent;
      else return InvalidArgument(Where(src, p["type"], pp + ".type") + "unsupported policy type \"" + *t + "\" (Pods, Percent)");
      auto v = GetInt(p["value"], pp + ".value", src);
      if (!v.ok()) return v.error();
      if (*v <= 0 || *v > INT32_MAX) return InvalidArgument(Where(src, p["value"], pp + ".value") + "must be greater than zero");
      pol.value = static_cast<int32_t>(*v);
      auto ps_ = GetInt(p["periodSeconds"], pp + ".periodSeconds", src);
      if (!ps_.ok()) return ps_.error();
      if (*ps_ <= 0 || *ps_ > 1800)
        return InvalidArgument(Where(src, p["periodSeconds"], pp + ".periodSeconds") + "must be between 1 and 1800");
      pol.period_seconds = static_cast<int32_t>(*ps_);
      r.policies.push_back(pol);
    }
  }
  if (n["tolerance"]) {
    auto t = GetMilli(n["tolerance"], path + ".tolerance", src);
    if (!t.ok()) return t.error();
    if (*t < 0) return InvalidArgument(Where(src, n["tolerance"], path + ".tolerance") + "must be non-negative");
    r.tolerance = static_cast<double>(*t) / 1000.0;
  }
  return r;
}

Result<MetricSpec> ParseMetric(const YAML::Node& m, const std::string& path, std::string_view src) {
  if (!m.IsMap()) return InvalidArgument(Where(src, m, path) + "must be a mapping");
  auto type = GetString(m["type"], path + ".type", src);
  if (!type.ok()) return type.error();
  MetricSpec spec;
  std::string key;
  if (*type == "Resource") spec.type = MetricSourceType::kResource, key = "resource";
  else if (*type == "ContainerResource") spec.type = MetricSourceType::kContainerResource, key = "containerResource";
  else if (*type == "Pods") spec.type = MetricSourceType::kPods, key = "pods";
  else if (*type == "Object") spec.type = MetricSourceType::kObject, key = "object";
  else if (*type == "External") spec.type = MetricSourceType::kExternal, key = "external";
  else
    return InvalidArgument(Where(src, m["type"], path + ".type") + "unsupported metric type \"" + *type +
                           "\" (Resource, ContainerResource, Pods, Object, External)");
  const YAML::Node& s = m[key];
  std::string sp = path + "." + key;
  if (!s || !s.IsMap()) return InvalidArgument(Where(src, m, sp) + "must be populated for type " + *type);
  bool resource = spec.type == MetricSourceType::kResource || spec.type == MetricSourceType::kContainerResource;
  if (resource) {
    auto name = GetString(s["name"], sp + ".name", src);
    if (!name.ok()) return name.error();
    spec.name = *name;
    if (spec.type == MetricSourceType::kContainerResource) {
      auto c = GetString(s["container"], sp + ".container", src);
      if (!c.ok()) return c.error();
      spec.container = *c;
    }
  } else {
    const YAML::Node& metric = s["metric"];
    if (!metric || !metric.IsMap()) return InvalidArgument(Where(src, s, sp + ".metric") + "is required");
    auto name = GetString(metric["name"], sp + ".metric.name", src);
    if (!name.ok()) return name.error();
    spec.name = *name;
    if (spec.type == MetricSourceType::kObject) {
      const YAML::Node& d = s["describedObject"];
      if (!d || !d.IsMap() || !d["kind"] || !d["name"])
        return InvalidArgument(Where(src, s, sp + ".describedObject") + "kind and name are required");
      spec.described_kind = d["kind"].as<std::string>("");
    }
  }
  const YAML::Node& t = s["target"];
  std::string tp = sp + ".target";
  if (!t || !t.IsMap()) return InvalidArgument(Where(src, s, tp) + "is required");
  auto tt = GetString(t["type"], tp + ".type", src);
  if (!tt.ok()) return tt.error();
  spec.target_type = *tt;
  if (*tt != "Utilization" && *tt != "Value" && *tt != "AverageValue")
    return InvalidArgument(Where(src, t["type"], tp + ".type") + "must be either Utilization, Value, or AverageValue");
  if (t["averageUtilization"]) {
    auto u = GetInt(t["averageUtilization"], tp + ".averageUtilization", src);
    if (!u.ok()) return u.error();
    if (*u <= 0 || *u > INT32_MAX)
      return InvalidArgument(Where(src, t["averageUtilization"], tp + ".averageUtilization") + "must be greater than 0");
    spec.average_utilization = static_cast<int32_t>(*u);
  }
  for (const char* f : {"averageValue", "value"}) {
    if (!t[f]) continue;
    auto v = GetMilli(t[f], tp + "." + f, src);
    if (!v.ok()) return v.error();
    if (*v <= 0) return InvalidArgument(Where(src, t[f], tp + "." + f) + "must be positive");
    (std::string(f) == "value" ? spec.value_milli : spec.average_value_milli) = *v;
  }
  if (*tt == "Utilization" && !spec.average_utilization)
    return InvalidArgument(Where(src, t, tp + ".averageUtilization") + "must be set when the target type is Utilization");
  if (*tt == "AverageValue" && !spec.average_value_milli)
    return InvalidArgument(Where(src, t, tp + ".averageValue") + "must be set when the target type is AverageValue");
  if (*tt == "Value" && !spec.value_milli)
    return InvalidArgument(Where(src, t, tp + ".value") + "must be set when the target type is Value");
  if (resource && *tt == "Value")
    return InvalidArgument(Where(src, t["type"], tp + ".type") + "must be either Utilization or AverageValue for " + *type);
  if (!resource && *tt == "Utilization")
    return InvalidArgument(Where(src, t["type"], tp + ".type") + "Utilization is only valid for Resource metrics");
  if (spec.type == MetricSourceType::kPods && *tt != "AverageValue")
    return InvalidArgument(Where(src, t["type"], tp + ".type") + "must be AverageValue for Pods metrics");
  return spec;
}

Result<HpaSpec> ParseSpec(const YAML::Node& hpa, const std::string& path, const HpaOptions& opt, std::string_view src) {
  if (!hpa || !hpa.IsMap()) return InvalidArgument(Where(src, hpa, path) + "must be an HPA object or spec");
  YAML::Node spec_node = hpa;
  std::string sp = path;
  bool object = static_cast<bool>(hpa["spec"]);
  if (object) {
    spec_node.reset(hpa["spec"]);
    sp = path + ".spec";
    if (!spec_node.IsMap()) return InvalidArgument(Where(src, spec_node, sp) + "must be a mapping");
    // A full object (apiVersion / kind / metadata) must name its target, as the API server requires;
    // a bare {spec: ...} may leave it out, and a scaleTargetRef that is given must be complete.
    bool full_object = hpa["apiVersion"] || hpa["kind"] || hpa["metadata"];
    const YAML::Node& ref = spec_node["scaleTargetRef"];
    if ((full_object || ref) && (!ref || !ref.IsMap() || !ref["kind"] || !ref["name"]))
      return InvalidArgument(Where(src, spec_node, sp + ".scaleTargetRef") +
                             "is required (kind and name of the scaled workload)");
  }
  HpaSpec spec;
  if (spec_node["minReplicas"]) {
    auto v = GetInt(spec_node["minReplicas"], sp + ".minReplicas", src);
    if (!v.ok()) return v.error();
    // The API server's lower bound: 0 with the HPAScaleToZero gate, else 1.
    int64_t lower = opt.hpa_scale_to_zero ? 0 : 1;
    if (*v < lower || *v > INT32_MAX) {
      return InvalidArgument(Where(src, spec_node["minReplicas"], sp + ".minReplicas") + "must be greater than or equal to " +
                             std::to_string(lower) +
                             (*v == 0 ? " (0 needs the HPAScaleToZero feature gate: --feature-gates HPAScaleToZero=true"
                                        " or `feature_gates: {HPAScaleToZero: true}` in the input)"
                                      : ""));
    }
    spec.min_replicas = static_cast<int32_t>(*v);
  }
  auto max = GetInt(spec_node["maxReplicas"], sp + ".maxReplicas", src);
  if (!max.ok()) return max.error();
  if (*max < 1 || *max > INT32_MAX)
    return InvalidArgument(Where(src, spec_node["maxReplicas"], sp + ".maxReplicas") + "must be greater than or equal to 1");
  spec.max_replicas = static_cast<int32_t>(*max);
  if (spec.min_replicas > spec.max_replicas)
    return InvalidArgument(Where(src, spec_node["minReplicas"], sp + ".minReplicas") + "must be less than or equal to maxReplicas (" +
                           std::to_string(spec.min_replicas) + " > " + std::to_string(spec.max_replicas) + ")");
  const YAML::Node& metrics = spec_node["metrics"];
  if (metrics && !metrics.IsNull()) {
    if (!metrics.IsSequence()) return InvalidArgument(Where(src, metrics, sp + ".metrics") + "must be a list");
    for (size_t i = 0; i < metrics.size(); i++) {
      auto m = ParseMetric(metrics[i], sp + ".metrics[" + std::to_string(i) + "]", src);
      if (!m.ok()) return m.error();
      spec.metrics.push_back(*m);
    }
  }
  if (spec_node["targetCPUUtilizationPercentage"]) {  // autoscaling/v1
    auto u = GetInt(spec_node["targetCPUUtilizationPercentage"], sp + ".targetCPUUtilizationPercentage", src);
    if (!u.ok()) return u.error();
    if (*u <= 0) return InvalidArgument(Where(src, spec_node, sp + ".targetCPUUtilizationPercentage") + "must be greater than 0");
    MetricSpec m;
    m.name = "cpu";
    m.target_type = "Utilization";
    m.average_utilization = static_cast<int32_t>(*u);
    spec.metrics.push_back(m);
  }
  if (spec.metrics.empty()) {  // the API's default: cpu at 80 % of requests
    MetricSpec m;
    m.name = "cpu";
    m.target_type = "Utilization";
    m.average_utilization = 80;
    spec.metrics.push_back(m);
  }
  if (spec.min_replicas == 0) {
    bool object_or_external = false;
    for (const auto& m : spec.metrics)
      object_or_external |= m.type == MetricSourceType::kObject || m.type == MetricSourceType::kExternal;
    if (!object_or_external)
      return InvalidArgument(Where(src, spec_node["minReplicas"], sp + ".minReplicas") +
                             "is 0: must specify at least one Object or External metric to support scaling to zero replicas");
  }
  const YAML::Node& b = spec_node["behavior"];
  if (b && !b.IsNull()) {
    if (!b.IsMap()) return InvalidArgument(Where(src, b, sp + ".behavior") + "must be a mapping");
    Behavior beh;
    auto up = ParseRules(b["scaleUp"], sp + ".behavior.scaleUp", true, opt, src);
    if (!up.ok()) return up.error();
    auto down = ParseRules(b["scaleDown"], sp + ".behavior.scaleDown", false, opt, src);
    if (!down.ok()) return down.error();
    beh.scale_up = *up;
    beh.scale_down = *down;
    spec.behavior = beh;
  }  // `behavior: null` means no behavior, like an absent field.
  return spec;
}

Status ParseResourceMap(const YAML::Node& n, const std::string& path, std::string_view src,
                        std::map<std::string, int64_t>& out) {
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsMap()) return InvalidArgument(Where(src, n, path) + "must be a mapping of name: quantity");
  for (const auto& kv : n) {
    std::string name = kv.first.as<std::string>("");
    auto v = GetMilli(kv.second, path + "." + name, src);
    if (!v.ok()) return v.error();
    out[name] = *v;
  }
  return Status::Ok();
}

Result<PodState> ParsePod(const YAML::Node& p, size_t index, std::string_view src) {
  std::string path = "pods[" + std::to_string(index) + "]";
  if (!p.IsMap()) return InvalidArgument(Where(src, p, path) + "must be a mapping");
  PodState pod;
  pod.name = "pod-" + std::to_string(index);
  // Kubernetes Pod shape (metadata / spec / status), or the flat form of DESIGN.md.
  const YAML::Node& meta = p["metadata"];
  if (meta && meta.IsMap()) {
    if (meta["name"]) pod.name = meta["name"].as<std::string>("");
    if (meta["deletionTimestamp"] && !meta["deletionTimestamp"].IsNull()) pod.deleting = true;
  }
  const YAML::Node& status = p["status"];
  if (status && status.IsMap()) {
    if (status["phase"]) pod.phase = status["phase"].as<std::string>("");
    const YAML::Node& conds = status["conditions"];
    if (conds && conds.IsSequence()) {
      pod.has_ready_condition = false;
      for (const auto& c : conds)
        if (c["type"] && c["type"].as<std::string>("") == "Ready") {
          pod.has_ready_condition = true;
          pod.ready = c["status"] && c["status"].as<std::string>("") == "True";
        }
    }
  }
  const YAML::Node& pspec = p["spec"];
  if (pspec && pspec.IsMap() && pspec["containers"] && pspec["containers"].IsSequence()) {
    for (const auto& c : pspec["containers"]) {
      PodState::Container pc;
      pc.name = c["name"].as<std::string>("");
      if (c["resources"] && c["resources"]["requests"]) {
        auto s = ParseResourceMap(c["resources"]["requests"], path + ".spec.containers." + pc.name + ".resources.requests", src,
                                  pc.requests_milli);
        if (!s.ok()) return s.error();
      }
      pod.containers.push_back(pc);
    }
  }
  if (p["name"]) pod.name = p["name"].as<std::string>("");
  if (p["phase"]) pod.phase = p["phase"].as<std::string>("");
  static const std::set<std::string> kPhases = {"Running", "Pending", "Failed", "Succeeded", "Unknown"};
  if (!kPhases.count(pod.phase))
    return InvalidArgument(Where(src, p, path + ".phase") + "unknown phase \"" + pod.phase + "\"");
  for (auto [key, field] : {std::pair{"ready", &pod.ready}, {"deleting", &pod.deleting}, {"cpu_initializing", &pod.cpu_initializing}}) {
    if (!p[key]) continue;
    auto b = GetBool(p[key], path + "." + key, src);
    if (!b.ok()) return b.error();
    *field = *b;
  }
  if (p["ready"] && p["ready"].IsNull()) pod.has_ready_condition = false;
  for (auto [key, field] : {std::pair{"start_age_seconds", &pod.start_age_ns},
                            {"ready_transition_age_seconds", &pod.ready_transition_age_ns}}) {
    if (!p[key]) continue;
    auto v = GetSecondsNs(p[key], path + "." + key, src);
    if (!v.ok()) return v.error();
    *field = *v;
  }
  for (auto [key, field] : {std::pair{"metric_age_seconds", &pod.metric_age_ns},
                            {"metric_window_seconds", &pod.metric_window_ns}}) {
    if (!p[key]) continue;
    auto v = GetSecondsNs(p[key], path + "." + key, src);
    if (!v.ok()) return v.error();
    *field = *v;
  }
  if (auto s = ParseResourceMap(p["requests"], path + ".requests", src, pod.requests_milli); !s.ok()) return s.error();
  if (auto s = ParseResourceMap(p["usage"], path + ".usage", src, pod.usage_milli); !s.ok()) return s.error();
  if (auto s = ParseResourceMap(p["metrics"], path + ".metrics", src, pod.metrics_milli); !s.ok()) return s.error();
  const YAML::Node& containers = p["containers"];
  if (containers && containers.IsSequence()) {
    for (size_t i = 0; i < containers.size(); i++) {
      const YAML::Node& c = containers[i];
      std::string cp = path + ".containers[" + std::to_string(i) + "]";
      auto name = GetString(c["name"], cp + ".name", src);
      if (!name.ok()) return name.error();
      PodState::Container* pc = nullptr;
      for (auto& existing : pod.containers)
        if (existing.name == *name) pc = &existing;
      if (!pc) {
        pod.containers.push_back({*name, {}, {}});
        pc = &pod.containers.back();
      }
      if (auto s = ParseResourceMap(c["requests"], cp + ".requests", src, pc->requests_milli); !s.ok()) return s.error();
      if (c["resources"] && c["resources"]["requests"])
        if (auto s = ParseResourceMap(c["resources"]["requests"], cp + ".resources.requests", src, pc->requests_milli); !s.ok())
          return s.error();
      if (auto s = ParseResourceMap(c["usage"], cp + ".usage", src, pc->usage_milli); !s.ok()) return s.error();
    }
  }
  // PodMetrics shape: {containers: [{name, usage}]}.
  const YAML::Node& pm = p["pod_metrics"] ? p["pod_metrics"] : p["podMetrics"];
  if (pm && pm.IsMap() && pm["containers"] && pm["containers"].IsSequence()) {
    for (const auto& c : pm["containers"]) {
      std::string name = c["name"].as<std::string>("");
      PodState::Container* pc = nullptr;
      for (auto& existing : pod.containers)
        if (existing.name == name) pc = &existing;
      if (!pc) {
        pod.containers.push_back({name, {}, {}});
        pc = &pod.containers.back();
      }
      if (auto s = ParseResourceMap(c["usage"], path + ".pod_metrics." + name + ".usage", src, pc->usage_milli); !s.ok())
        return s.error();
    }
  }
  return pod;
}

Status ParseTimed(const YAML::Node& n, const char* key, const char* value_key, std::string_view src,
                  std::vector<TimedValue>& out) {
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsSequence()) return InvalidArgument(Where(src, n, key) + "must be a list");
  for (size_t i = 0; i < n.size(); i++) {
    std::string path = std::string(key) + "[" + std::to_string(i) + "]";
    auto age = GetSecondsNs(n[i]["age_seconds"], path + ".age_seconds", src);
    if (!age.ok()) return age.error();
    if (*age < 0) return InvalidArgument(Where(src, n[i], path + ".age_seconds") + "must be >= 0");
    auto v = GetInt(n[i][value_key], path + "." + value_key, src);
    if (!v.ok()) return v.error();
    if (*v < INT32_MIN || *v > INT32_MAX) return InvalidArgument(Where(src, n[i], path + "." + value_key) + "out of range");
    out.push_back({*age, static_cast<int32_t>(*v)});
  }
  return Status::Ok();
}

Status ParseValues(const YAML::Node& n, const char* key, std::string_view src,
                   std::map<std::string, std::vector<int64_t>>& out) {
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsMap()) return InvalidArgument(Where(src, n, key) + "must be a mapping of metric name: value");
  for (const auto& kv : n) {
    std::string name = kv.first.as<std::string>("");
    std::string path = std::string(key) + "." + name;
    std::vector<int64_t> values;
    if (kv.second.IsSequence()) {
      for (const auto& v : kv.second) {
        auto m = GetMilli(v, path, src);
        if (!m.ok()) return m.error();
        values.push_back(*m);
      }
    } else {
      auto m = GetMilli(kv.second, path, src);
      if (!m.ok()) return m.error();
      values.push_back(*m);
    }
    out[name] = values;
  }
  return Status::Ok();
}

}  // namespace

Result<FeatureGates> ParseFeatureGates(std::string_view text) {
  FeatureGates g;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return InvalidArgument("feature gates: expected Name=true|false, got \"" + QuoteForError(item) + "\"");
    std::string_view name = item.substr(0, eq);
    std::string value(item.substr(eq + 1));
    for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (value != "true" && value != "false")
      return InvalidArgument("feature gates: " + QuoteForError(name) + ": expected true or false, got \"" +
                             QuoteForError(item.substr(eq + 1)) + "\"");
    if (name != "HPAScaleToZero")
      return InvalidArgument("feature gates: unrecognized feature gate \"" + QuoteForError(name) +
                             "\" (known: HPAScaleToZero)");
    g.hpa_scale_to_zero = value == "true";
  }
  return g;
}

namespace {
// The input's `feature_gates`: a mapping {Name: bool} or a "Name=bool,..." string.
Result<FeatureGates> ParseInputGates(const YAML::Node& n, std::string_view source) {
  if (!n || n.IsNull()) return FeatureGates{};
  if (n.IsScalar()) {
    auto g = ParseFeatureGates(n.Scalar());
    if (!g.ok()) return InvalidArgument(Where(source, n, "feature_gates") + g.error().message);
    return g;
  }
  if (!n.IsMap()) return InvalidArgument(Where(source, n, "feature_gates") + "must be a mapping of gate: true|false");
  std::string text;
  for (const auto& kv : n) {
    auto b = GetBool(kv.second, "feature_gates." + kv.first.as<std::string>(""), source);
    if (!b.ok()) return b.error();
    text += kv.first.as<std::string>("") + (*b ? "=true," : "=false,");
  }
  auto g = ParseFeatureGates(text);
  if (!g.ok()) return InvalidArgument(Where(source, n, "feature_gates") + g.error().message);
  return g;
}
}  // namespace

Result<HpaSpec> ParseHpaSpecText(std::string_view text, std::string_view source, const FeatureGates& gates) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (auto bad = FindInvalidUtf8(root, text.size())) return InvalidArgument(Where(source, bad->node, bad->path) + bad->message);
  try {
    YAML::Node hpa = root["hpa"] ? root["hpa"] : root;
    HpaOptions opt;
    opt.hpa_scale_to_zero = gates.hpa_scale_to_zero.value_or(false);
    return ParseSpec(hpa, root["hpa"] ? "hpa" : "", opt, source);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<HpaInput> ParseHpaInput(std::string_view text, std::string_view source, const FeatureGates& gates) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (auto bad = FindInvalidUtf8(root, text.size())) return InvalidArgument(Where(source, bad->node, bad->path) + bad->message);
  try {
    if (!root.IsMap()) return InvalidArgument(std::string(source) + ": the input must be a mapping with `hpa` and `current_replicas`");
    HpaInput in;
    if (root["tolerance"]) {
      const YAML::Node& t = root["tolerance"];
      double v = 0;
      try {
        v = t.as<double>();
      } catch (const YAML::Exception&) {
        return InvalidArgument(Where(source, t, "tolerance") + "must be a number");
      }
      if (!(v >= 0)) return InvalidArgument(Where(source, t, "tolerance") + "must be >= 0");
      in.options.tolerance = v;
    }
    for (auto [key, field] : {std::pair{"downscale_stabilization_seconds", &in.options.downscale_stabilization_seconds},
                              {"cpu_initialization_period_seconds", &in.options.cpu_initialization_period_seconds},
                              {"initial_readiness_delay_seconds", &in.options.initial_readiness_delay_seconds}}) {
      if (!root[key]) continue;
      auto v = GetInt(root[key], key, source);
      if (!v.ok()) return v.error();
      if (*v < 0) return InvalidArgument(Where(source, root[key], key) + "must be >= 0");
      *field = *v;
    }
    auto input_gates = ParseInputGates(root["feature_gates"], source);
    if (!input_gates.ok()) return input_gates.error();
    in.options.hpa_scale_to_zero = gates.hpa_scale_to_zero.value_or(input_gates->hpa_scale_to_zero.value_or(false));
    YAML::Node hpa = root["hpa"];
    std::string hpa_path = "hpa";
    if (!hpa && root["spec"]) {  // the input is the HPA object itself
      hpa.reset(root);
      hpa_path = "";
    }
    if (!hpa) return InvalidArgument(std::string(source) + ": hpa: is required (an autoscaling/v2 HorizontalPodAutoscaler or its spec)");
    auto spec = ParseSpec(hpa, hpa_path, in.options, source);
    if (!spec.ok()) return spec.error();
    in.spec = *spec;

    const YAML::Node& cur = root["current_replicas"];
    if (cur) {
      auto v = GetInt(cur, "current_replicas", source);
      if (!v.ok()) return v.error();
      if (*v < 0 || *v > INT32_MAX) return InvalidArgument(Where(source, cur, "current_replicas") + "must be >= 0");
      in.current_replicas = static_cast<int32_t>(*v);
    } else if (hpa["status"] && hpa["status"]["currentReplicas"]) {
      auto v = GetInt(hpa["status"]["currentReplicas"], "hpa.status.currentReplicas", source);
      if (!v.ok()) return v.error();
      in.current_replicas = static_cast<int32_t>(*v);
    } else if (root["pods"] && root["pods"].IsSequence()) {
      in.current_replicas = static_cast<int32_t>(root["pods"].size());
    } else {
      return InvalidArgument(std::string(source) + ": current_replicas: is required");
    }
    if (root["status_replicas"]) {
      auto v = GetInt(root["status_replicas"], "status_replicas", source);
      if (!v.ok()) return v.error();
      if (*v < 0 || *v > INT32_MAX) return InvalidArgument(Where(source, root["status_replicas"], "status_replicas") + "must be >= 0");
      in.status_replicas = static_cast<int32_t>(*v);
    }
    const YAML::Node& pods = root["pods"];
    if (pods && !pods.IsNull()) {
      if (!pods.IsSequence()) return InvalidArgument(Where(source, pods, "pods") + "must be a list");
      std::set<std::string> names;
      for (size_t i = 0; i < pods.size(); i++) {
        auto pod = ParsePod(pods[i], i, source);
        if (!pod.ok()) return pod.error();
        if (!names.insert(pod->name).second)
          return InvalidArgument(Where(source, pods[i], "pods[" + std::to_string(i) + "].name") + "duplicate pod name \"" +
                                 pod->name + "\"");
        in.pods.push_back(*pod);
      }
    }
    if (auto s = ParseValues(root["object_metrics"], "object_metrics", source, in.object_metrics_milli); !s.ok()) return s.error();
    if (auto s = ParseValues(root["external_metrics"], "external_metrics", source, in.external_metrics_milli); !s.ok())
      return s.error();
    if (auto s = ParseTimed(root["recommendations"], "recommendations", "replicas", source, in.recommendations); !s.ok())
      return s.error();
    if (!root["recommendations"] || root["recommendations"].IsNull()) {
      // Like the controller's recordInitialRecommendation: with no stored history (a nil list, as opposed
      // to an empty one) the current replica count is recorded first, so the first pass cannot scale down
      // inside the downscale stabilization window. Give `recommendations: []` for an empty history.
      in.recommendations.push_back({0, in.current_replicas});
    }
    if (auto s = ParseTimed(root["scale_events"], "scale_events", "change", source, in.scale_events); !s.ok()) return s.error();
    if (root["desired_replicas"] && !root["desired_replicas"].IsNull()) {
      auto v = GetInt(root["desired_replicas"], "desired_replicas", source);
      if (!v.ok()) return v.error();
      if (*v < 0 || *v > INT32_MAX) return InvalidArgument(Where(source, root["desired_replicas"], "desired_replicas") + "must be >= 0");
      in.desired_replicas = static_cast<int32_t>(*v);
    }
    return in;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

std::string HpaDecisionToJson(const HpaDecision& d, int indent) {
  using J = nlohmann::ordered_json;
  J metrics = J::array();
  for (const auto& m : d.metrics) {
    J o;
    o["type"] = MetricSourceTypeName(m.type);
    o["name"] = m.name;
    o["metric"] = m.description;
    if (m.ok) {
      o["replicas"] = m.replicas;
      if (m.current_utilization) o["current_utilization"] = *m.current_utilization;
      if (m.current_average_milli) o["current_average_milli"] = *m.current_average_milli;
      if (m.current_value_milli) o["current_value_milli"] = *m.current_value_milli;
    } else {
      o["replicas"] = nullptr;
      o["error"] = m.error;
    }
    metrics.push_back(o);
  }
  J out;
  out["desired_replicas"] = d.desired_replicas;
  out["current_replicas"] = d.current_replicas;
  out["reason"] = d.reason;
  out["metric_replicas"] = d.metric_replicas ? J(*d.metric_replicas) : J(nullptr);
  out["stabilized_replicas"] = d.stabilized_replicas ? J(*d.stabilized_replicas) : J(nullptr);
  out["limited_by"] = d.limited_by.empty() ? J(nullptr) : J(d.limited_by);
  out["stabilization"] = d.stabilization.empty() ? J(nullptr) : J(d.stabilization);
  out["path"] = d.legacy ? "legacy" : "behavior";
  out["metrics"] = metrics;
  out["per_metric"] = metrics;
  if (!d.metric_error.empty()) out["metric_error"] = d.metric_error;
  return out.dump(indent, ' ', false, J::error_handler_t::replace);
}

}  // namespace allot::autoscale
