// The planner behind `allot plan`: loads Kubernetes manifests and docker-compose files, computes each
// workload's effective pod requests/limits, QoS class and replica range, totals per namespace and overall,
// environment multipliers, quota fit, node sizing (a small first-fit-decreasing bin packer with
// most-allocated choice among open nodes) and lint findings, and renders them as table, markdown or JSON.
//
// Units: every int64 amount is in allot's internal units (include/allot/resources.h): cpu and gpu in
// milli-units, everything else in base units (bytes, counts). Renderers convert to output units.
// Kubernetes semantics followed: API defaulting (a missing request takes the limit), LimitRange defaults,
// the init-container rule (max of the largest init container and the sum of app containers, sidecars
// counted with both, plus pod overhead) and the QoS rules of pkg/apis/core/helper/qos.
// Errors are values; nothing here throws. Thread-safety: pure functions over values; no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "allot/result.h"

namespace allot::plan {

// Canonical resource name ("cpu", "memory", "gpu", "ephemeral-storage", ...) -> internal amount.
using ResourceList = std::map<std::string, int64_t>;

struct Container {
  std::string name;
  ResourceList requests;
  ResourceList limits;
  bool init = false;
  bool sidecar = false;  // an init container with restartPolicy: Always
  std::string image;
  std::vector<std::string> env_values;  // values of env entries and args, for the JVM heap hint
};

// Where a document came from, for error messages and findings.
struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
};

enum class Qos { kBestEffort, kBurstable, kGuaranteed };

// Persistent storage asked for through PersistentVolumeClaims of one storage class.
struct StorageDemand {
  int64_t claims = 0;
  int64_t bytes = 0;  // spec.resources.requests.storage, summed
};
// Storage demand by storage class. The key is spec.storageClassName as written, kDefaultStorageClass when
// the field is absent (the cluster's default class provisions it) and kNoStorageClass for "" (no class:
// only pre-provisioned volumes bind), as Kubernetes tells the two apart.
using StorageByClass = std::map<std::string, StorageDemand>;
inline constexpr const char* kDefaultStorageClass = "(default)";
inline constexpr const char* kNoStorageClass = "(none)";
const char* QosName(Qos q);

struct Workload {
  std::string kind;  // Deployment, StatefulSet, ..., or ComposeService
  std::string name;
  std::string ns;
  Location where;
  std::vector<Container> containers;  // init containers first (in order), then app containers
  ResourceList overhead;
  int64_t replicas = 1;     // declared (spec.replicas, parallelism, deploy.replicas)
  int64_t min_replicas = 1; // from an HPA that targets it, else replicas
  int64_t max_replicas = 1;
  bool per_node = false;    // DaemonSet / compose `mode: global`: one pod per node
  std::string hpa;          // name of the HPA that targets it, if any
  std::string priority_class;
  std::string runtime_class;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> profiles;  // compose profiles
  StorageByClass pvc;                 // StatefulSet volumeClaimTemplates per replica, by storage class

  // Filled by ComputeWorkload.
  ResourceList pod_requests;
  ResourceList pod_limits;
  Qos qos = Qos::kBestEffort;
};

struct Hpa {
  std::string name, ns, target_kind, target_name;
  int64_t min_replicas = 1, max_replicas = 1;
  Location where;
  bool matched = false;
};

struct ResourceQuota {
  std::string name, ns;
  std::map<std::string, std::string> hard;  // as written ("requests.cpu" -> "500m")
  Location where;
};

struct LimitRangeItem {
  std::string type;  // Container, Pod, PersistentVolumeClaim
  ResourceList max, min, default_limit, default_request;
};

struct LimitRange {
  std::string name, ns;
  std::vector<LimitRangeItem> items;
  Location where;
};

// Everything read from the inputs.
struct Manifests {
  std::vector<Workload> workloads;
  std::vector<Hpa> hpas;
  std::vector<ResourceQuota> quotas;
  std::vector<LimitRange> limit_ranges;
  std::map<std::string, int64_t> priority_classes;  // name -> value
  std::map<std::string, ResourceList> runtime_classes;  // name -> overhead.podFixed
  std::map<std::string, std::map<std::string, int64_t>> object_counts;  // namespace -> kind -> count
  std::map<std::string, int64_t> ignored_kinds;  // kinds not planned, counted
  std::map<std::string, StorageByClass> pvc_objects;  // namespace -> PersistentVolumeClaim objects by class
  // A StorageClass in the inputs annotated storageclass.kubernetes.io/is-default-class: "true"; when set,
  // the planner reports claims without storageClassName under its name instead of kDefaultStorageClass.
  std::string default_storage_class;
  int documents = 0;
};

struct LoadOptions {
  // Namespace for objects that carry none (as `kubectl apply --namespace`).
  std::string default_namespace = "default";
  // `docker compose -f A -f B`: compose files merged in order into one project before planning (mappings
  // key by key, a later file's value wins, lists are replaced), instead of loaded one by one as inputs.
  std::vector<std::string> compose_files;
};

// Loads files, directories (their *.yaml, *.yml, *.json files, sorted, recursively) and "-" (stdin).
// A malformed document is an error naming file and line.
Result<Manifests> Load(const std::vector<std::string>& paths, const LoadOptions& options = {});
// Loads one YAML text (Kubernetes multi-document or a compose file) named `source` in errors.
Status LoadText(const std::string& text, const std::string& source, const LoadOptions& options,
                Manifests* out);

// Multipliers of one environment, as parts per million (1'000'000 = 1×).
struct EnvMultipliers {
  std::map<std::string, int64_t> ppm;  // resource -> factor; resources not named keep 1×
  int64_t Factor(const std::string& resource) const;
};

// The environments known to the planner: dev 0.5× cpu/memory, staging 1×, prod 1.5× (gpu 1× everywhere),
// unless a config overrides them.
struct EnvConfig {
  std::map<std::string, EnvMultipliers> envs;
  static EnvConfig Defaults();
};

// Lint thresholds (limit/request ratio guidance) and the rules turned off.
struct LintConfig {
  double cpu_ratio_min = 2.0, cpu_ratio_max = 4.0;
  double memory_ratio_min = 1.5, memory_ratio_max = 2.0;
  int64_t default_cpu_request = 100;                  // millicores suggested when missing
  int64_t default_memory_request = 128LL << 20;       // bytes suggested when missing
  std::vector<std::string> disabled;
};

// Parses the planner's config YAML:
//   environments: {dev: {cpu: 0.5, memory: 0.5, gpu: 1}, ...}
//   lint: {cpu_ratio: [2, 4], memory_ratio: [1.5, 2], disable: [rule, ...]}
// Environments given replace the defaults of the same name; others stay.
Status ParseConfig(const std::string& yaml_text, const std::string& source, EnvConfig* env, LintConfig* lint);

struct NodeShape {
  std::string name;
  ResourceList capacity;  // internal units; "pods" defaults to 110
  int64_t max_count = -1; // -1: unlimited
  double cost = 0;        // per node; 0 when not given
};
// Parses "cpu=8,memory=16Gi,gpu=1[,pods=110][,count=3][,cost=2.5][,name=big]".
Result<NodeShape> ParseNodeShape(const std::string& text);

struct SizingOptions {
  std::vector<NodeShape> shapes;
  double headroom = 0;          // fraction of each node kept free (0.2 = pack to 80%)
  bool ha = false;              // replicas of one workload (≥ 2) go to at least 2 nodes
  bool gpu_nodes_shared = false;// let pods without GPUs use GPU nodes
};

enum class Severity { kInfo, kWarning, kError };
const char* SeverityName(Severity s);
Result<Severity> ParseSeverity(const std::string& text);

struct Finding {
  std::string rule;
  Severity severity = Severity::kInfo;
  std::string kind, name, ns, container;
  Location where;
  std::string message;
  std::string fix;
  // A strategic-merge patch (JSON text) that applies the fix, when one can be computed.
  std::string patch;
};

struct Totals {
  ResourceList requests, limits;
  int64_t pods = 0;
  // PVCs: each replica's volumeClaimTemplates plus the PersistentVolumeClaim objects of the scope (those
  // count once, at min and at max). Environment multipliers do not scale storage.
  StorageByClass storage;
};

struct QuotaCheck {
  std::string ns, quota, key;
  std::string hard;    // as written
  int64_t hard_value = 0, used_min = 0, used_max = 0;  // internal units
  bool checked = true; // false for keys the planner cannot evaluate
};

struct ShapeCount {
  std::string shape;
  int64_t nodes = 0;
  double cost = 0;
};

struct SizingResult {
  int64_t nodes = 0;
  int64_t lower_bound = 0;
  double cost = 0;
  std::vector<ShapeCount> by_shape;
  std::map<std::string, double> utilization;  // resource -> percent of placed capacity requested
  std::vector<std::string> unplaced;          // "namespace/name" of pods that fit no shape
};

struct Sizing {
  bool enabled = false;
  SizingResult at_min, at_max;
};

struct PlanOptions {
  std::string env;                 // "" = as written
  EnvConfig env_config = EnvConfig::Defaults();
  LintConfig lint;
  SizingOptions sizing;
  int64_t daemonset_nodes = -1;    // replicas of per-node workloads; -1: sizing's node count, else 1
};

struct Plan {
  std::vector<Workload> workloads;                       // computed, env multipliers applied
  Totals total_min, total_max;
  std::map<std::string, std::pair<Totals, Totals>> by_namespace;  // (min, max)
  std::map<std::string, std::pair<Totals, Totals>> by_env;        // every configured env
  std::vector<QuotaCheck> quota;
  Sizing sizing;
  std::vector<Finding> findings;
  std::map<std::string, int64_t> ignored_kinds;
  std::vector<ResourceQuota> quotas;
  std::string env;
};

// Applies LimitRange defaults and computes pod requests/limits and QoS of one workload in place.
void ComputeWorkload(Workload* w, const std::vector<LimitRange>& limit_ranges,
                     const std::map<std::string, ResourceList>& runtime_classes);

// Runs the whole planner. Errors only for invalid options (unknown env, ...).
Result<Plan> MakePlan(const Manifests& manifests, const PlanOptions& options);

// Sizes a cluster for `workloads` (pods at min or max replicas). Exposed for tests and benchmarks.
SizingResult SizeCluster(const std::vector<Workload>& workloads, bool at_max, const SizingOptions& options);

std::string RenderJson(const Plan& plan);
std::string RenderTable(const Plan& plan);
std::string RenderMarkdown(const Plan& plan);
// `kubectl patch` payloads for the findings that carry one: a JSON array.
std::string RenderPatches(const Plan& plan);
// A ResourceQuota and a LimitRange per namespace sized from the totals at max replicas × (1 + headroom).
std::string RenderQuotas(const Plan& plan, double headroom);

// ---- Kubernetes objects out (emit.cc): HPAs from a scaling table, JSON patches to a table of targets ----

// One HPA metric target: a percent of the request (Utilization) or an average quantity per pod.
struct ScalingMetric {
  std::string resource;       // cpu, memory, ...
  int64_t utilization = 0;    // percent > 0, or 0 when average_value is set
  std::string average_value;  // quantity as written ("500m", "1Gi")
};
struct ScalingPolicy {
  std::string type;  // Pods or Percent
  int64_t value = 0, period_seconds = 0;
};
// One direction of autoscaling/v2 `behavior` (scaleUp or scaleDown); unset fields are left to the API.
struct ScalingRules {
  bool set = false;
  int64_t stabilization_window_seconds = -1;  // -1: not given
  std::string select_policy;                  // "" or Max, Min, Disabled
  std::vector<ScalingPolicy> policies;
};
struct ScalingRow {
  std::string workload;  // NAME, NAMESPACE/NAME or KIND/NAME as written
  std::string hpa_name;  // "" = the workload's name
  int64_t min_replicas = 1, max_replicas = 0;
  std::vector<ScalingMetric> metrics;  // empty: cpu at 80 % (the API's default), written out
  bool has_behavior = false;
  ScalingRules scale_up, scale_down;
  Location where;
};
struct ScalingTable {
  std::vector<ScalingRow> rows;
};
// Parses a scaling table: YAML `{autoscaling: {behavior, workloads: {NAME: {min, max, cpu, memory, behavior,
// name}}}}` (or the inner map alone), or a markdown table with Min Replicas / Max Replicas / HPA Trigger
// columns (seed 000's "Scaling Characteristics"; the first one with those columns in the text). With
// `in_plan_config`, only the `autoscaling` key of a plan config is read (an absent key leaves *out empty).
// Errors name source:line and the key or column.
Status ParseScalingTable(const std::string& text, const std::string& source, bool in_plan_config,
                         ScalingTable* out);
// autoscaling/v2 HorizontalPodAutoscaler objects (multi-document YAML) for the rows, matched to the plan's
// Deployments, StatefulSets, ReplicaSets and ReplicationControllers by name (a row matching none is an
// error). Problems that do not stop the output (a Utilization target on a container without that request,
// a workload that already has an HPA) are appended to *warnings.
Result<std::string> RenderHpas(const Plan& plan, const ScalingTable& table,
                               std::vector<std::string>* warnings);

// The resources one container should get; amounts as written, validated.
struct ResourceTarget {
  std::string workload;  // NAME or KIND/NAME
  std::string ns;        // "" = any namespace (must then match one workload)
  std::string container; // "" = the pod's only app container
  std::map<std::string, std::string> requests, limits;  // Kubernetes resource name -> quantity
  Location where;
};
struct TargetTable {
  std::vector<ResourceTarget> rows;
};
// Parses a targets file: YAML `targets: [{workload, namespace, container, requests, limits}]` (or the list
// alone), or a markdown table with CPU Request / CPU Limit / Memory Request / Memory Limit [/ GPU Request]
// columns (seed 000's resource matrix). Errors name source:line and the key or column; memory without a
// unit below 1Mi is an error (it would be bytes).
Status ParseTargets(const std::string& text, const std::string& source, TargetTable* out);
// RFC 6902 JSON patches (`kubectl patch --type=json`) that set each targeted container's requests and
// limits: a JSON array with one entry per workload ({kind, name, namespace, file, type: "json", patch,
// command}). Paths are computed from the workload's document as written (re-read from its file), so only
// the named keys change: `add` creates a missing resources/requests/limits map, `replace` changes a value
// that is there. Errors: a target matching no workload or several, an unknown container, a compose
// service, stdin input, or a request that would end above its limit.
// A docker-compose.override.yml that sets each targeted compose service's deploy.resources: limits from
// the row's limits, reservations from its requests, or half the limits when the row gives none (seed
// 003's vertical scale-up). cpu and memory only. Errors: a row matching no service or several, a
// Kubernetes workload, another resource, a request above its limit.
Result<std::string> RenderComposeOverride(const Plan& plan, const TargetTable& targets);
Result<std::string> RenderTargetPatches(const Plan& plan, const TargetTable& targets,
                                        const LoadOptions& load);

// True when a finding at or above `threshold` exists.
bool HasFindingAtOrAbove(const Plan& plan, Severity threshold);

}  // namespace allot::plan
