// MakePlan: environment multipliers, per-workload computation, HPA matching, per-node replicas, totals,
// quota fit and sizing. Lint rules live in lint.cc, the packer in sizing.cc, the renderers in render.cc.
#include <algorithm>

#include "allot/plan.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "plan/internal.h"
#include "plan/lint.h"

namespace allot::plan {

// The most pods --node-shape sizing places (one by one; about 0.1 s per million and shape).
constexpr int64_t kMaxSizedPods = 10'000'000;
namespace {

using internal::AddScaled;
using internal::AddStorage;
using internal::Get;
using internal::SatAdd;
using internal::SatMulAdd;

void ScaleList(ResourceList* r, const EnvMultipliers& env) {
  for (auto& [k, v] : *r) v = internal::ScalePpm(v, env.Factor(k));
}

// Environment multipliers are applied exactly at every level that is reported: each container value, each
// pod value and each total is ceil(value as written × factor). So a total is the written total times the
// factor (not a sum of rounded pods), and a pod is its written value times the factor.
void ScaleWorkload(Workload* w, const EnvMultipliers& env) {
  for (auto& c : w->containers) {
    ScaleList(&c.requests, env);
    ScaleList(&c.limits, env);
  }
  ScaleList(&w->overhead, env);
  ScaleList(&w->pod_requests, env);
  ScaleList(&w->pod_limits, env);
}

void ScaleTotals(Totals* t, const EnvMultipliers& env) {
  ScaleList(&t->requests, env);
  ScaleList(&t->limits, env);
}

void MatchHpas(std::vector<Workload>* workloads, std::vector<Hpa>* hpas) {
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_name;  // (namespace, name) -> indexes
  for (size_t i = 0; i < workloads->size(); i++) by_name[{(*workloads)[i].ns, (*workloads)[i].name}].push_back(i);
  for (auto& h : *hpas) {
    auto it = by_name.find({h.ns, h.target_name});
    if (it == by_name.end()) continue;
    for (size_t i : it->second) {
      Workload& w = (*workloads)[i];
      if (!h.target_kind.empty() && h.target_kind != w.kind) continue;
      w.hpa = h.name;
      w.min_replicas = h.min_replicas;
      w.max_replicas = h.max_replicas;
      h.matched = true;
      break;
    }
  }
}

void SetPerNode(std::vector<Workload>* workloads, int64_t at_min, int64_t at_max) {
  for (auto& w : *workloads) {
    if (!w.per_node) continue;
    w.replicas = w.min_replicas = at_min;
    w.max_replicas = at_max;
  }
}

// Files claims without storageClassName under the inputs' default StorageClass, when they name one.
void ResolveDefaultClass(const std::string& default_class, StorageByClass* s) {
  if (default_class.empty()) return;
  auto it = s->find(kDefaultStorageClass);
  if (it == s->end()) return;
  StorageDemand d = it->second;
  s->erase(it);
  AddStorage(s, {{default_class, d}}, 1);
}

// Sums the workloads' pods, requests, limits and claim templates at min and max replicas, then adds the
// PersistentVolumeClaim objects once to each (they do not scale with replicas).
void AddTotals(const std::vector<Workload>& workloads, const std::map<std::string, StorageByClass>& pvc_objects,
               Totals* min, Totals* max, std::map<std::string, std::pair<Totals, Totals>>* by_ns) {
  auto add = [](Totals* t, const Workload& w, int64_t n) {
    AddScaled(&t->requests, w.pod_requests, n);
    AddScaled(&t->limits, w.pod_limits, n);
    t->pods = SatAdd(t->pods, n);
    AddStorage(&t->storage, w.pvc, n);
  };
  for (const auto& w : workloads) {
    add(min, w, w.min_replicas);
    add(max, w, w.max_replicas);
    if (by_ns != nullptr) {
      auto& [nmin, nmax] = (*by_ns)[w.ns];
      add(&nmin, w, w.min_replicas);
      add(&nmax, w, w.max_replicas);
    }
  }
  for (const auto& [ns, classes] : pvc_objects) {
    for (Totals* t : {min, max}) AddStorage(&t->storage, classes, 1);
    if (by_ns != nullptr) {
      auto& [nmin, nmax] = (*by_ns)[ns];
      AddStorage(&nmin.storage, classes, 1);
      AddStorage(&nmax.storage, classes, 1);
    }
  }
  for (auto* t : {min, max}) {
    t->requests.emplace("cpu", 0);
    t->requests.emplace("memory", 0);
    t->limits.emplace("cpu", 0);
    t->limits.emplace("memory", 0);
  }
}

// Object-count quota keys ("count/deployments.apps") -> kind.
std::string KindForCountKey(const std::string& resource) {
  static const std::map<std::string, std::string> kinds = {
      {"pods", "Pod"}, {"deployments.apps", "Deployment"}, {"statefulsets.apps", "StatefulSet"},
      {"daemonsets.apps", "DaemonSet"}, {"replicasets.apps", "ReplicaSet"}, {"jobs.batch", "Job"},
      {"cronjobs.batch", "CronJob"}, {"services", "Service"}, {"configmaps", "ConfigMap"}, {"secrets", "Secret"},
      {"serviceaccounts", "ServiceAccount"}, {"replicationcontrollers", "ReplicationController"},
      {"horizontalpodautoscalers.autoscaling", "HorizontalPodAutoscaler"},
      {"ingresses.networking.k8s.io", "Ingress"}, {"networkpolicies.networking.k8s.io", "NetworkPolicy"},
      {"poddisruptionbudgets.policy", "PodDisruptionBudget"}, {"resourcequotas", "ResourceQuota"},
      {"limitranges", "LimitRange"}};
  auto it = kinds.find(resource);
  return it == kinds.end() ? "" : it->second;
}

// The claims and bytes of one storage class in `t`, or of all classes when `cls` is empty.
StorageDemand StorageOf(const Totals& t, const std::string& cls) {
  StorageDemand sum;
  for (const auto& [name, d] : t.storage) {
    if (!cls.empty() && name != cls) continue;
    sum.claims = SatAdd(sum.claims, d.claims);
    sum.bytes = SatAdd(sum.bytes, d.bytes);
  }
  return sum;
}

// A storage quota key: "requests.storage", "persistentvolumeclaims" (also as "count/..."), or either behind
// "<class>.storageclass.storage.k8s.io/". Sets *cls ("" for all classes) and *bytes; false for other keys.
bool StorageQuotaKey(const std::string& key, std::string* cls, bool* bytes) {
  static const std::string kClassInfix = ".storageclass.storage.k8s.io/";
  std::string rest = key;
  cls->clear();
  if (size_t at = key.find(kClassInfix); at != std::string::npos) {
    *cls = key.substr(0, at);
    rest = key.substr(at + kClassInfix.size());
  }
  if (rest == "requests.storage") {
    *bytes = true;
    return true;
  }
  if (rest == "persistentvolumeclaims" || (cls->empty() && rest == "count/persistentvolumeclaims")) {
    *bytes = false;
    return true;
  }
  return false;
}

void CheckQuotas(const Manifests& m, const std::map<std::string, std::pair<Totals, Totals>>& by_ns,
                 std::vector<QuotaCheck>* out) {
  for (const auto& q : m.quotas) {
    Totals empty;
    auto it = by_ns.find(q.ns);
    const Totals& tmin = it == by_ns.end() ? empty : it->second.first;
    const Totals& tmax = it == by_ns.end() ? empty : it->second.second;
    for (const auto& [key, hard] : q.hard) {
      QuotaCheck c;
      c.ns = q.ns;
      c.quota = q.name;
      c.key = key;
      c.hard = hard;
      std::string unit_name = "count";
      bool known = true;
      bool bytes = false;
      if (key == "pods" || key == "count/pods") {
        c.used_min = tmin.pods;
        c.used_max = tmax.pods;
      } else if (std::string cls; StorageQuotaKey(key, &cls, &bytes)) {
        StorageDemand dmin = StorageOf(tmin, cls), dmax = StorageOf(tmax, cls);
        if (bytes) unit_name = "storage";
        c.used_min = bytes ? dmin.bytes : dmin.claims;
        c.used_max = bytes ? dmax.bytes : dmax.claims;
      } else if (key.rfind("count/", 0) == 0) {
        std::string kind = KindForCountKey(key.substr(6));
        known = !kind.empty();
        if (known) {
          int64_t n = 0;
          if (auto cnt = m.object_counts.find(q.ns); cnt != m.object_counts.end()) {
            if (auto k = cnt->second.find(kind); k != cnt->second.end()) n = k->second;
          }
          c.used_min = c.used_max = n;
        }
      } else {
        bool limits = key.rfind("limits.", 0) == 0;
        bool requests = key.rfind("requests.", 0) == 0;
        std::string res = limits ? key.substr(7) : requests ? key.substr(9) : key;
        res = CanonicalResourceName(res);
        // Bare "cpu"/"memory"/"ephemeral-storage" mean requests; other bare names are not compute resources.
        known = limits || requests || res == "cpu" || res == "memory" || res == "ephemeral-storage";
        unit_name = res;
        c.used_min = Get(limits ? tmin.limits : tmin.requests, res);
        c.used_max = Get(limits ? tmax.limits : tmax.requests, res);
      }
      auto value = ParseResourceAmount(unit_name == "count" ? "pods" : unit_name, hard);
      c.checked = known && value.ok();
      if (value.ok()) c.hard_value = *value;
      out->push_back(std::move(c));
    }
  }
}

}  // namespace

Result<Plan> MakePlan(const Manifests& manifests, const PlanOptions& options) {
  Plan plan;
  plan.env = options.env;
  const EnvMultipliers* env = nullptr;
  if (!options.env.empty()) {
    auto it = options.env_config.envs.find(options.env);
    if (it == options.env_config.envs.end()) {
      std::string known;
      for (const auto& [name, m] : options.env_config.envs) known += (known.empty() ? "" : ", ") + name;
      return InvalidArgument("unknown environment \"" + options.env + "\" (known: " + known + ")");
    }
    env = &it->second;
  }
  std::vector<Hpa> hpas = manifests.hpas;
  std::vector<Workload> base = manifests.workloads;
  std::map<std::string, StorageByClass> pvc_objects = manifests.pvc_objects;
  for (auto& w : base) {
    ComputeWorkload(&w, manifests.limit_ranges, manifests.runtime_classes);
    ResolveDefaultClass(manifests.default_storage_class, &w.pvc);
  }
  for (auto& [ns, classes] : pvc_objects) ResolveDefaultClass(manifests.default_storage_class, &classes);
  MatchHpas(&base, &hpas);
  plan.workloads = base;
  if (env != nullptr) {
    for (auto& w : plan.workloads) ScaleWorkload(&w, *env);
  }

  int64_t per_node_min = options.daemonset_nodes >= 0 ? options.daemonset_nodes : 1;
  int64_t per_node_max = per_node_min;
  if (!options.sizing.shapes.empty()) {
    // Sizing places pods one by one: bound their number (a replica count of 2^63 would never finish).
    __int128 pods = 0;
    for (const auto& w : plan.workloads) {
      if (!w.per_node) pods += std::max<int64_t>(0, std::max(w.min_replicas, w.max_replicas));
    }
    if (pods > kMaxSizedPods) {
      return InvalidArgument("sizing: " + (pods > INT64_MAX ? std::string("more than 2^63") : std::to_string(static_cast<int64_t>(pods))) +
                             " pods at max replicas; --node-shape sizes at most " + std::to_string(kMaxSizedPods));
    }
    plan.sizing.enabled = true;
    plan.sizing.at_min = SizeCluster(plan.workloads, false, options.sizing);
    plan.sizing.at_max = SizeCluster(plan.workloads, true, options.sizing);
    if (options.daemonset_nodes < 0) {
      per_node_min = plan.sizing.at_min.nodes;
      per_node_max = plan.sizing.at_max.nodes;
    }
  }
  SetPerNode(&base, per_node_min, per_node_max);
  SetPerNode(&plan.workloads, per_node_min, per_node_max);
  // Totals of the manifests as written; environments scale them.
  Totals base_min, base_max;
  std::map<std::string, std::pair<Totals, Totals>> base_ns;
  AddTotals(base, pvc_objects, &base_min, &base_max, &base_ns);
  plan.total_min = base_min;
  plan.total_max = base_max;
  plan.by_namespace = base_ns;
  if (env != nullptr) {
    ScaleTotals(&plan.total_min, *env);
    ScaleTotals(&plan.total_max, *env);
    for (auto& [ns, mm] : plan.by_namespace) {
      ScaleTotals(&mm.first, *env);
      ScaleTotals(&mm.second, *env);
    }
  }
  for (const auto& [name, mult] : options.env_config.envs) {
    auto& [tmin, tmax] = plan.by_env[name];
    tmin = base_min;
    tmax = base_max;
    ScaleTotals(&tmin, mult);
    ScaleTotals(&tmax, mult);
  }

  CheckQuotas(manifests, plan.by_namespace, &plan.quota);
  plan.quotas = manifests.quotas;
  plan.ignored_kinds = manifests.ignored_kinds;
  internal::Lint(manifests, hpas, plan, options, &plan.findings);
  return plan;
}

bool HasFindingAtOrAbove(const Plan& plan, Severity threshold) {
  return std::any_of(plan.findings.begin(), plan.findings.end(),
                     [&](const Finding& f) { return static_cast<int>(f.severity) >= static_cast<int>(threshold); });
}

}  // namespace allot::plan
