// Autoscaling and right-sizing: Kubernetes-exact HPA arithmetic, an HPA simulator, a VPA-like
// recommender, and elastic-pool sizing with a Holt linear-trend forecast.
//
// HPA (EvaluateHpa) reproduces the arithmetic of the Kubernetes horizontal-pod-autoscaler controller
// (pkg/controller/podautoscaler: horizontal.go and replica_calculator.go) for one reconcile:
// per-metric proposals with the tolerance band, the treatment of missing / unready / ignored pods, the
// max over metrics, then either the legacy normalisation (no `behavior`: downscale stabilisation and the
// max(2*current, 4) scale-up limit) or the behavior normalisation (stabilisation windows, Pods/Percent
// policies over periodSeconds, selectPolicy). Time is given as ages relative to "now": the input takes
// seconds as any JSON/YAML number (`100`, `100.0`, `1.5e2`, fractions too) and keeps them exactly, in
// nanoseconds, as the controller's time.Time does.
// All amounts are Kubernetes milli-values (MilliValue of a quantity), as the controller uses them.
//
// Thread-safety: every function is pure (no shared state); values are plain and copyable.
// Invariants: HpaInput values returned by ParseHpaInput are validated as the API server would
// (minReplicas <= maxReplicas, policies well-formed, known metric types); EvaluateHpa re-checks them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/result.h"

namespace allot::autoscale {

// ---------------------------------------------------------------------------------------------
// HPA: spec, observed state, decision.

enum class MetricSourceType { kResource, kContainerResource, kPods, kObject, kExternal };
const char* MetricSourceTypeName(MetricSourceType t);

// One entry of spec.metrics. Which target fields are set decides the arithmetic, as in the
// controller: Resource/ContainerResource use average_value if set, else average_utilization;
// Object/External use value (Value target) or average_value (AverageValue target).
struct MetricSpec {
  MetricSourceType type = MetricSourceType::kResource;
  std::string name;       // resource name (cpu, memory) or metric name
  std::string container;  // ContainerResource only
  std::string target_type;  // "Utilization", "AverageValue" or "Value" as written
  std::optional<int32_t> average_utilization;  // percent of request
  std::optional<int64_t> average_value_milli;
  std::optional<int64_t> value_milli;
  std::string described_kind;  // Object: describedObject.kind (names the metric in reasons)
};

enum class PolicyType { kPods, kPercent };
struct ScalingPolicy {
  PolicyType type = PolicyType::kPods;
  int32_t value = 0;           // > 0
  int32_t period_seconds = 0;  // 1..1800
};
enum class SelectPolicy { kMax, kMin, kDisabled };

// One direction of spec.behavior, after defaults are filled in (see ParseHpaInput).
struct ScalingRules {
  int32_t stabilization_window_seconds = 0;
  SelectPolicy select_policy = SelectPolicy::kMax;
  std::vector<ScalingPolicy> policies;
  std::optional<double> tolerance;  // behavior.scaleX.tolerance (HPAConfigurableTolerance)
};
struct Behavior {
  ScalingRules scale_up;
  ScalingRules scale_down;
};

struct HpaSpec {
  int32_t min_replicas = 1;
  int32_t max_replicas = 0;
  std::vector<MetricSpec> metrics;  // never empty after parsing (defaults to cpu 80 % like the API)
  std::optional<Behavior> behavior;  // absent: the legacy path
};

// A pod of the scale target. Readiness for CPU samples: when start_age_seconds is known the
// controller's exact rule is applied (cpu initialisation period, initial readiness delay); otherwise a
// CPU sample is unready when !ready or cpu_initializing.
struct PodState {
  std::string name;
  std::string phase = "Running";  // Running, Pending, Failed, Succeeded
  bool ready = true;              // the Ready condition is True
  bool has_ready_condition = true;
  bool deleting = false;
  bool cpu_initializing = false;
  std::optional<int64_t> start_age_ns;             // now - status.startTime
  std::optional<int64_t> ready_transition_age_ns;  // now - Ready.lastTransitionTime
  int64_t metric_age_ns = 0;                       // now - the usage sample's timestamp
  int64_t metric_window_ns = 30'000'000'000;       // the usage sample's window (30 s)
  std::map<std::string, int64_t> requests_milli;        // pod total per resource
  std::map<std::string, int64_t> usage_milli;           // pod total per resource (absent: no sample)
  struct Container {
    std::string name;
    std::map<std::string, int64_t> requests_milli;
    std::map<std::string, int64_t> usage_milli;
  };
  std::vector<Container> containers;                    // for ContainerResource metrics
  std::map<std::string, int64_t> metrics_milli;         // Pods metrics by name
};

struct TimedValue {
  int64_t age_ns = 0;  // input `age_seconds` (any number) in nanoseconds
  int32_t value = 0;  // a recommendation (replicas) or a scale change (+ up, - down)
};

struct HpaOptions {
  double tolerance = 0.1;                            // --horizontal-pod-autoscaler-tolerance
  int64_t downscale_stabilization_seconds = 300;     // --horizontal-pod-autoscaler-downscale-stabilization
  int64_t cpu_initialization_period_seconds = 300;   // --horizontal-pod-autoscaler-cpu-initialization-period
  int64_t initial_readiness_delay_seconds = 30;      // --horizontal-pod-autoscaler-initial-readiness-delay
  // Feature gate HPAScaleToZero (alpha, off by default in Kubernetes): minReplicas 0 is valid when an
  // Object or External metric is configured. Without it the API server requires minReplicas >= 1.
  bool hpa_scale_to_zero = false;
};

// Kubernetes feature gates that change what HPA input is valid (`--feature-gates` of the API server and
// controller manager). Unset gates keep their default (or the input's `feature_gates`).
struct FeatureGates {
  std::optional<bool> hpa_scale_to_zero;  // HPAScaleToZero
};
// Parses "Name=true,Other=false" as Kubernetes' --feature-gates does (true/false in any case). Unknown
// gate names are errors that list the known ones.
Result<FeatureGates> ParseFeatureGates(std::string_view text);

struct HpaInput {
  HpaSpec spec;
  int32_t current_replicas = 0;           // scale.spec.replicas
  std::optional<int32_t> status_replicas;  // scale.status.replicas (defaults to current)
  std::vector<PodState> pods;
  std::map<std::string, std::vector<int64_t>> object_metrics_milli;    // by metric name
  std::map<std::string, std::vector<int64_t>> external_metrics_milli;  // summed, by metric name
  std::vector<TimedValue> recommendations;  // the controller's stored (unstabilised) recommendations
  std::vector<TimedValue> scale_events;     // recent scale changes
  std::optional<int32_t> desired_replicas;  // skips the metric step
  HpaOptions options;
};

// What one metric proposed.
struct MetricOutcome {
  MetricSourceType type = MetricSourceType::kResource;
  std::string name;
  std::string description;  // the controller's metric name ("cpu resource utilization (...)")
  bool ok = false;
  std::string error;
  int32_t replicas = 0;
  std::optional<int32_t> current_utilization;     // percent
  std::optional<int64_t> current_average_milli;   // average per pod
  std::optional<int64_t> current_value_milli;     // object / external total
};

struct HpaDecision {
  int32_t current_replicas = 0;
  int32_t desired_replicas = 0;
  std::optional<int32_t> metric_replicas;      // max over metric proposals (or the given desired_replicas)
  std::optional<int32_t> stabilized_replicas;  // after stabilisation, before limits
  std::string reason;        // why desired differs from current, or why not
  std::string limited_by;    // ScalingLimited reason when a limit applied ("ScaleUpLimit", ...), else ""
  std::string stabilization; // "ScaleUpStabilized" / "ScaleDownStabilized" when it changed the value
  bool legacy = true;        // no behavior: the legacy normalisation ran
  std::vector<MetricOutcome> metrics;
  std::string metric_error;  // the controller's "invalid metrics (...)" error when some failed
};

// Parses `allot autoscale eval` input (YAML or JSON; format in docs/hpa-input.md). `source` names the
// file in errors. Rejects what the API server rejects and fills in the same defaults. Feature gates come
// from the input's `feature_gates` key, then `gates` (the command line) for each gate it sets.
Result<HpaInput> ParseHpaInput(std::string_view text, std::string_view source, const FeatureGates& gates = {});
// Parses only an HPA object or spec (for the simulator), with the gates given.
Result<HpaSpec> ParseHpaSpecText(std::string_view text, std::string_view source, const FeatureGates& gates = {});

// One reconcile of the HPA controller. Errors (exit 2): invalid spec, or no usable metric.
Result<HpaDecision> EvaluateHpa(const HpaInput& input);

// The decision as JSON: desired_replicas, reason, metrics (= per_metric), limited_by, ...
std::string HpaDecisionToJson(const HpaDecision& decision, int indent = 2);

// ---------------------------------------------------------------------------------------------
// Simulation: an HPA against a usage time series.

// CSV columns: time (seconds, strictly increasing), then either `replicas_usage` style columns:
//   time,cpu            total cpu usage across the workload (quantity; cores or 500m)
//   time,cpu,memory     totals of several resources
//   time,<metric>       any column is a workload total; Pods metrics use total / replicas per pod
// Every step distributes each total evenly over the current replicas (all ready).
struct UsagePoint {
  double time = 0;
  std::map<std::string, int64_t> totals_milli;
};
Result<std::vector<UsagePoint>> ParseUsageSeries(std::string_view csv, std::string_view source);

struct SimulationOptions {
  int32_t initial_replicas = 1;
  double sync_period_seconds = 15;  // controller resync
  std::map<std::string, int64_t> pod_requests_milli;  // per-pod requests (default cpu 1000m)
  HpaOptions hpa;
};
struct SimulationStep {
  double time = 0;
  int32_t replicas = 0;         // before this reconcile
  int32_t desired = 0;          // after
  std::string reason;
  std::string limited_by;
  std::map<std::string, int64_t> totals_milli;
};
Result<std::vector<SimulationStep>> Simulate(const HpaSpec& spec, const std::vector<UsagePoint>& series,
                                             const SimulationOptions& options);
std::string SimulationToSvg(const std::vector<SimulationStep>& steps, const std::string& title);

// ---------------------------------------------------------------------------------------------
// Right-sizing (VPA-like recommender).

struct UsageSample {
  double time = 0;  // seconds
  std::string ns, workload, container;
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
};
// CSV header: time,namespace,workload,container,cpu,memory. time: seconds or RFC 3339; cpu: quantity
// (cores), memory: quantity (bytes).
Result<std::vector<UsageSample>> ParseUsageSamples(std::string_view csv, std::string_view source);
// A time as the CSV's time column and `allot recommend --end` take it, in seconds since the epoch: Unix
// seconds ("1700000000", "1700000000.5") or RFC 3339 ("2026-12-07T10:00:00Z"; a fraction and an offset
// such as "+02:00" optional, none meaning UTC); nullopt for anything else.
std::optional<double> ParseTimeSeconds(std::string_view text);

struct RecommendOptions {
  double cpu_percentile = 0.95;        // target percentile of the decaying CPU histogram
  double memory_percentile = 1.0;      // of per-interval peaks (1.0 = the highest peak)
  double cpu_margin = 0.15;            // safety margin fraction (VPA default 15 %)
  double memory_margin = 0.15;
  double half_life_seconds = 86400;    // decaying-weight half-life (VPA: 24 h)
  double memory_peak_interval_seconds = 86400;  // peaks are taken per interval (VPA: 24 h)
  int64_t min_cpu_milli = 25;          // VPA pod minimums
  int64_t min_memory_bytes = 250ll * 1024 * 1024;
  double limit_ratio_cpu = 0;          // 0: keep the current limit/request ratio; else limit = ratio × request
  double limit_ratio_memory = 0;
  double cpu_cost_per_core_hour = 0.031611;     // for savings estimates
  double memory_cost_per_gib_hour = 0.004237;
};

struct CurrentResources {
  std::optional<int64_t> cpu_request_milli, cpu_limit_milli, memory_request_bytes, memory_limit_bytes;
  int32_t replicas = 1;
  std::string kind = "Deployment";  // for patches
  std::string source;               // file:line of the container in the manifests
};

struct ContainerRecommendation {
  std::string ns, workload, container;
  int64_t samples = 0;
  double span_seconds = 0;
  std::string confidence;  // "low", "medium", "high"
  double confidence_score = 0;  // 0..1
  int64_t cpu_request_milli = 0, memory_request_bytes = 0;
  std::optional<int64_t> cpu_limit_milli, memory_limit_bytes;
  int64_t cpu_percentile_milli = 0, memory_peak_bytes = 0;  // before margin and minimums
  std::optional<CurrentResources> current;
  double monthly_savings = 0;  // positive: cheaper than today (requests × replicas)
};

// Groups samples by (namespace, workload, container) and recommends requests per container.
// `current` maps "ns/workload/container" to today's values (from manifests).
std::vector<ContainerRecommendation> Recommend(const std::vector<UsageSample>& samples,
                                               const std::map<std::string, CurrentResources>& current,
                                               const RecommendOptions& options);

// Reads containers' requests/limits from Kubernetes YAML (multi-document; Deployment, StatefulSet,
// DaemonSet, ReplicaSet, Job, CronJob, Pod). Keys "ns/workload/container" (ns defaults to "default").
Result<std::map<std::string, CurrentResources>> LoadManifestResources(const std::vector<std::string>& paths);

std::string RecommendationsToJson(const std::vector<ContainerRecommendation>& recs, int indent = 2);
std::string RecommendationsToTable(const std::vector<ContainerRecommendation>& recs, bool markdown);
// kubectl patch commands (strategic merge, JSON body) setting the recommended resources.
std::string RecommendationsToPatch(const std::vector<ContainerRecommendation>& recs);

// Queries a Prometheus HTTP API (loopback only) for cAdvisor metrics over [start, end] with `step`:
// rate(container_cpu_usage_seconds_total[rate_window]) and container_memory_working_set_bytes, labels
// namespace, pod, container; the workload is the pod name with its ReplicaSet/StatefulSet suffix removed.
struct PrometheusQuery {
  std::string url;  // http://127.0.0.1:9090
  double start = 0, end = 0, step = 60;
  std::string rate_window = "5m";
  int timeout_ms = 10000;
};
Result<std::vector<UsageSample>> FetchPrometheusSamples(const PrometheusQuery& query);

// One HTTP GET (allot's HTTP client). Only loopback hosts (127.0.0.0/8, localhost, ::1).
struct HttpResponse {
  int status = 0;
  std::string body;
};
Result<HttpResponse> HttpGet(const std::string& url, int timeout_ms);
// Derives the workload name from a pod name: "web-7d4b9c8f6-x2x9z" -> "web", "db-0" -> "db".
std::string WorkloadFromPodName(const std::string& pod);

// ---------------------------------------------------------------------------------------------
// Elastic pools.
//
// Desired node count (HPA-like, per pool):
//   util      = max(allocated / capacity, observed / capacity)          (fraction; 0 when capacity = 0)
//   ratio     = util / target_utilization
//   base      = ceil(current_nodes × ratio)        when |ratio − 1| > tolerance, else current_nodes
//   queued    = ceil(queued_demand / (node_capacity × target_utilization))   demand that does not fit
//   desired   = clamp(base + queued, min_nodes, max_nodes)
// Cool-downs: a scale-up is held while now − last_scale_up < scale_up_cooldown; a scale-down while
// now − last_scale_down < scale_down_cooldown or now − last_scale_up < scale_down_cooldown (no flapping
// right after growth). Scale-down removes at most max_scale_down_step nodes per decision.
// Amounts are any consistent unit (the dominant resource, e.g. millicores).
struct PoolSpec {
  int32_t min_nodes = 0;
  int32_t max_nodes = 0;
  double target_utilization = 0.7;  // (0, 1]
  double tolerance = 0.1;
  double scale_up_cooldown_seconds = 60;
  double scale_down_cooldown_seconds = 300;
  int32_t max_scale_down_step = 1;
};
struct PoolState {
  int32_t current_nodes = 0;
  double node_capacity = 0;   // one node's capacity
  double allocated = 0;       // sum over the pool
  double observed = 0;        // measured usage over the pool (0 if unknown)
  double queued_demand = 0;   // pending requests that fit no node now
  double now = 0;
  std::optional<double> last_scale_up, last_scale_down;
};
struct PoolDecision {
  int32_t desired_nodes = 0;
  int32_t unconstrained_nodes = 0;  // before bounds and cool-downs
  double utilization = 0;
  std::string reason;
};
Result<PoolDecision> DesiredPoolSize(const PoolSpec& spec, const PoolState& state);

// Holt's linear trend (double exponential smoothing) on equally spaced observations:
//   level_t = α·y_t + (1 − α)·(level_{t−1} + trend_{t−1})
//   trend_t = β·(level_t − level_{t−1}) + (1 − β)·trend_{t−1}
//   forecast(h) = level_n + h·trend_n
// Initialised with level_0 = y_0, trend_0 = y_1 − y_0. REQUIRES: 0 < α, β <= 1.
struct HoltForecast {
  double level = 0;
  double trend = 0;
  std::vector<double> forecast;  // h = 1..horizon
};
Result<HoltForecast> HoltLinear(const std::vector<double>& series, double alpha, double beta, int horizon);

}  // namespace allot::autoscale
