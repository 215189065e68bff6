// One reconcile of the Kubernetes HPA controller (see include/allot/autoscale.h).
//
// The structure follows pkg/controller/podautoscaler: ReplicaCalculator (per-metric proposals) and
// HorizontalController (max over metrics, then normalisation). Floating-point steps use double exactly
// where the controller uses float64, integer steps use int64 where it does, so results match bit for bit.
#include <algorithm>
#include <climits>
#include <cmath>
#include <set>
#include <sstream>

#include "allot/autoscale.h"

namespace allot::autoscale {

const char* MetricSourceTypeName(MetricSourceType t) {
  switch (t) {
    case MetricSourceType::kResource: return "Resource";
    case MetricSourceType::kContainerResource: return "ContainerResource";
    case MetricSourceType::kPods: return "Pods";
    case MetricSourceType::kObject: return "Object";
    case MetricSourceType::kExternal: return "External";
  }
  return "Unknown";
}

namespace {

using PodMetrics = std::map<std::string, int64_t>;

// Go's integer arithmetic wraps around on overflow, and so does the controller's; these do the same
// without C++'s undefined behaviour (and MinInt64 / -1 is MinInt64 in Go, a trap in C++).
int64_t GoAdd(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); }
int64_t GoMul(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b)); }
// REQUIRES: b != 0.
int64_t GoDiv(int64_t a, int64_t b) { return b == -1 ? static_cast<int64_t>(0 - static_cast<uint64_t>(a)) : a / b; }
int32_t GoAdd32(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
int32_t GoSub32(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }

// Go's int32(math.Ceil(x)) for the values the controller produces, saturated instead of undefined.
int32_t CeilToInt32(double x) {
  double c = std::ceil(x);
  if (std::isnan(c)) return 0;
  if (c >= static_cast<double>(INT32_MAX)) return INT32_MAX;
  if (c <= static_cast<double>(INT32_MIN)) return INT32_MIN;
  return static_cast<int32_t>(c);
}
// Go's int32(x) for a float (truncation toward zero), saturated.
int32_t TruncToInt32(double x) {
  if (std::isnan(x)) return 0;
  if (x >= static_cast<double>(INT32_MAX)) return INT32_MAX;
  if (x <= static_cast<double>(INT32_MIN)) return INT32_MIN;
  return static_cast<int32_t>(x);
}

// Whole seconds (an option or a policy period) in nanoseconds, the unit of the input's ages; saturated.
int64_t Ns(int64_t seconds) {
  int64_t out = 0;
  if (__builtin_mul_overflow(seconds, int64_t{1'000'000'000}, &out)) return seconds < 0 ? INT64_MIN : INT64_MAX;
  return out;
}

struct Tolerances {
  double down = 0.1, up = 0.1;
  // The controller's Tolerances.isWithin.
  bool IsWithin(double ratio) const { return (1.0 - down) <= ratio && ratio <= (1.0 + up); }
};

struct Grouped {
  int64_t ready = 0;
  std::set<std::string> unready, missing, ignored;
};

bool UnreadyForCpu(const PodState& pod, const HpaOptions& opt) {
  if (!pod.has_ready_condition) return true;
  if (!pod.start_age_ns) return !pod.ready || pod.cpu_initializing;
  // The controller's rule with times expressed as ages in nanoseconds (now = 0). Ages and windows are
  // bounded by the parser (|x| < 2^62), so these sums cannot overflow.
  int64_t start_age = *pod.start_age_ns;
  int64_t transition_age = pod.ready_transition_age_ns.value_or(start_age);
  if (start_age < Ns(opt.cpu_initialization_period_seconds)) {
    // Within the initialisation period: unready if not ready, or if the sample does not cover a full
    // window since the last readiness transition (timestamp < transition + window).
    return !pod.ready || (-pod.metric_age_ns < -transition_age + pod.metric_window_ns);
  }
  // Afterwards: ignore only pods that are unready and have never been ready
  // (start + delay > lastTransitionTime), i.e. transition_age > start_age - delay.
  return !pod.ready && (transition_age > start_age - Ns(opt.initial_readiness_delay_seconds));
}

// groupPods: ready count and the unready / missing / ignored sets.
Grouped GroupPods(const std::vector<PodState>& pods, const PodMetrics& metrics, bool cpu, const HpaOptions& opt) {
  Grouped g;
  for (const auto& pod : pods) {
    if (pod.deleting || pod.phase == "Failed") {
      g.ignored.insert(pod.name);
      continue;
    }
    if (pod.phase == "Pending") {
      g.unready.insert(pod.name);
      continue;
    }
    if (!metrics.count(pod.name)) {
      g.missing.insert(pod.name);
      continue;
    }
    if (cpu && UnreadyForCpu(pod, opt)) {
      g.unready.insert(pod.name);
      continue;
    }
    g.ready++;
  }
  return g;
}

void RemovePods(PodMetrics& metrics, const std::set<std::string>& names) {
  for (const auto& n : names) metrics.erase(n);
}

struct Proposal {
  int32_t replicas = 0;
  std::optional<int32_t> utilization;
  std::optional<int64_t> average;
  std::optional<int64_t> value;
};

// GetResourceUtilizationRatio.
Result<double> UtilizationRatio(const PodMetrics& metrics, const PodMetrics& requests, int32_t target,
                                int32_t* utilization, int64_t* raw_average) {
  int64_t metrics_total = 0, requests_total = 0, entries = 0;
  for (const auto& [pod, value] : metrics) {
    auto it = requests.find(pod);
    if (it == requests.end()) continue;
    metrics_total = GoAdd(metrics_total, value);
    requests_total = GoAdd(requests_total, it->second);
    entries++;
  }
  if (requests_total == 0) return InvalidArgument("no metrics returned matched known pods");
  int32_t util = static_cast<int32_t>(GoDiv(GoMul(metrics_total, 100), requests_total));
  if (utilization) *utilization = util;
  if (raw_average) *raw_average = metrics_total / entries;
  return static_cast<double>(util) / static_cast<double>(target);
}

// GetMetricUsageRatio.
double UsageRatio(const PodMetrics& metrics, int64_t target, int64_t* usage) {
  int64_t total = 0;
  for (const auto& [pod, value] : metrics) total = GoAdd(total, value);
  int64_t avg = metrics.empty() ? 0 : total / static_cast<int64_t>(metrics.size());
  if (usage) *usage = avg;
  return static_cast<double>(avg) / static_cast<double>(target);
}

// Usage of `resource` per pod (or of one container), only for pods that have a sample.
PodMetrics ResourceUsage(const std::vector<PodState>& pods, const std::string& resource, const std::string& container) {
  PodMetrics m;
  for (const auto& pod : pods) {
    if (container.empty()) {
      auto it = pod.usage_milli.find(resource);
      if (it != pod.usage_milli.end()) {
        m[pod.name] = it->second;
        continue;
      }
      if (pod.containers.empty()) continue;
      // A pod's usage is the sum over its containers; a container without a sample drops the pod.
      int64_t sum = 0;
      bool all = true;
      for (const auto& c : pod.containers) {
        auto ci = c.usage_milli.find(resource);
        if (ci == c.usage_milli.end()) {
          all = false;
          break;
        }
        sum += ci->second;
      }
      if (all) m[pod.name] = sum;
    } else {
      for (const auto& c : pod.containers) {
        if (c.name != container) continue;
        auto ci = c.usage_milli.find(resource);
        if (ci != c.usage_milli.end()) m[pod.name] = ci->second;
      }
    }
  }
  return m;
}

// calculateRequests: every pod of the target must carry a request.
Result<PodMetrics> PodRequests(const std::vector<PodState>& pods, const std::string& resource, const std::string& container) {
  PodMetrics r;
  for (const auto& pod : pods) {
    if (container.empty()) {
      auto it = pod.requests_milli.find(resource);
      if (it != pod.requests_milli.end()) {
        r[pod.name] = it->second;
        continue;
      }
      if (pod.containers.empty()) return InvalidArgument("missing request for " + resource + " in Pod " + pod.name);
      int64_t sum = 0;
      for (const auto& c : pod.containers) {
        auto ci = c.requests_milli.find(resource);
        if (ci == c.requests_milli.end())
          return InvalidArgument("missing request for " + resource + " in container " + c.name + " of Pod " + pod.name);
        sum += ci->second;
      }
      r[pod.name] = sum;
    } else {
      bool found = false;
      for (const auto& c : pod.containers) {
        if (c.name != container) continue;
        auto ci = c.requests_milli.find(resource);
        if (ci == c.requests_milli.end())
          return InvalidArgument("missing request for " + resource + " in container " + c.name + " of Pod " + pod.name);
        r[pod.name] = ci->second;
        found = true;
        break;
      }
      if (!found) return InvalidArgument("container " + container + " not found in Pod " + pod.name);
    }
  }
  return r;
}

// GetResourceReplicas (Utilization target).
Result<Proposal> ResourceReplicas(const HpaInput& in, int32_t current, int32_t target, const std::string& resource,
                                  const std::string& container, const Tolerances& tol) {
  if (in.pods.empty()) return InvalidArgument("no pods returned by selector while calculating replica count");
  PodMetrics metrics = ResourceUsage(in.pods, resource, container);
  Grouped g = GroupPods(in.pods, metrics, resource == "cpu", in.options);
  RemovePods(metrics, g.ignored);
  RemovePods(metrics, g.unready);
  if (metrics.empty()) return InvalidArgument("did not receive metrics for targeted pods (pods might be unready)");
  auto requests = PodRequests(in.pods, resource, container);
  if (!requests.ok()) return requests.error();
  Proposal p;
  int32_t util = 0;
  int64_t raw = 0;
  auto ratio_r = UtilizationRatio(metrics, *requests, target, &util, &raw);
  if (!ratio_r.ok()) return ratio_r.error();
  double ratio = *ratio_r;
  p.utilization = util;
  p.average = raw;

  bool scale_up_with_unready = !g.unready.empty() && ratio > 1.0;
  if (!scale_up_with_unready && g.missing.empty()) {
    p.replicas = tol.IsWithin(ratio) ? current : CeilToInt32(ratio * static_cast<double>(g.ready));
    return p;
  }
  if (!g.missing.empty()) {
    if (ratio < 1.0) {
      // Scale-down: a missing pod counts as using 100 % of its request (or the target when above 100 %).
      int64_t fallback = std::max<int64_t>(100, target);
      for (const auto& name : g.missing) metrics[name] = GoMul(requests->at(name), fallback) / 100;
    } else if (ratio > 1.0) {
      for (const auto& name : g.missing) metrics[name] = 0;  // scale-up: missing pods use nothing
    }
  }
  if (scale_up_with_unready)
    for (const auto& name : g.unready) metrics[name] = 0;
  auto new_ratio_r = UtilizationRatio(metrics, *requests, target, nullptr, nullptr);
  if (!new_ratio_r.ok()) return new_ratio_r.error();
  double new_ratio = *new_ratio_r;
  if (tol.IsWithin(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)) {
    p.replicas = current;  // too small a change, or the direction would flip
    return p;
  }
  int32_t n = CeilToInt32(new_ratio * static_cast<double>(metrics.size()));
  if ((new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current)) n = current;
  p.replicas = n;
  return p;
}

// calcPlainMetricReplicas (Resource AverageValue and Pods metrics).
Result<Proposal> PlainReplicas(const HpaInput& in, PodMetrics metrics, int32_t current, int64_t target, bool cpu,
                               const Tolerances& tol) {
  if (in.pods.empty()) return InvalidArgument("no pods returned by selector while calculating replica count");
  Grouped g = GroupPods(in.pods, metrics, cpu, in.options);
  RemovePods(metrics, g.ignored);
  RemovePods(metrics, g.unready);
  if (metrics.empty()) return InvalidArgument("did not receive metrics for targeted pods (pods might be unready)");
  Proposal p;
  int64_t usage = 0;
  double ratio = UsageRatio(metrics, target, &usage);
  p.average = usage;
  bool scale_up_with_unready = !g.unready.empty() && ratio > 1.0;
  if (!scale_up_with_unready && g.missing.empty()) {
    p.replicas = tol.IsWithin(ratio) ? current : CeilToInt32(ratio * static_cast<double>(g.ready));
    return p;
  }
  if (!g.missing.empty()) {
    if (ratio < 1.0) {
      for (const auto& name : g.missing) metrics[name] = target;  // scale-down: exactly the target
    } else if (ratio > 1.0) {
      for (const auto& name : g.missing) metrics[name] = 0;
    }
  }
  if (scale_up_with_unready)
    for (const auto& name : g.unready) metrics[name] = 0;
  double new_ratio = UsageRatio(metrics, target, nullptr);
  if (tol.IsWithin(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)) {
    p.replicas = current;
    return p;
  }
  int32_t n = CeilToInt32(new_ratio * static_cast<double>(metrics.size()));
  if ((new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current)) n = current;
  p.replicas = n;
  return p;
}

// getReadyPodsCount: Running pods whose Ready condition is True.
Result<int64_t> ReadyPodsCount(const HpaInput& in) {
  if (in.pods.empty()) return InvalidArgument("no pods returned by selector while calculating replica count");
  int64_t n = 0;
  for (const auto& pod : in.pods)
    if (pod.phase == "Running" && pod.has_ready_condition && pod.ready) n++;
  return n;
}

// getUsageRatioReplicaCount (Object and External Value targets).
Result<int32_t> UsageRatioReplicaCount(const HpaInput& in, int32_t current, double ratio, const Tolerances& tol) {
  if (current == 0) return CeilToInt32(ratio);  // scale from/to zero ignores pods and tolerance
  if (tol.IsWithin(ratio)) return current;
  auto ready = ReadyPodsCount(in);
  if (!ready.ok()) return InvalidArgument("unable to calculate ready pods: " + ready.error().message);
  double f = ratio * static_cast<double>(*ready);
  if (f > static_cast<double>(INT32_MAX)) return INT32_MAX;
  return CeilToInt32(f);
}

// Object/External AverageValue targets: GetObjectPerPodMetricReplicas / GetExternalPerPodMetricReplicas.
Proposal PerPodReplicas(int64_t usage, int64_t target, int32_t status_replicas, const Tolerances& tol) {
  Proposal p;
  p.replicas = status_replicas;
  double ratio = static_cast<double>(usage) / (static_cast<double>(target) * static_cast<double>(status_replicas));
  if (!tol.IsWithin(ratio)) p.replicas = CeilToInt32(static_cast<double>(usage) / static_cast<double>(target));
  if (status_replicas > 0)
    p.average = static_cast<int64_t>(std::ceil(static_cast<double>(usage) / static_cast<double>(status_replicas)));
  p.value = usage;
  return p;
}

Result<int64_t> SumValues(const std::map<std::string, std::vector<int64_t>>& source, const std::string& name,
                          const char* what) {
  auto it = source.find(name);
  if (it == source.end() || it->second.empty())
    return InvalidArgument(std::string("unable to get ") + what + " metric " + name + ": no value given");
  int64_t sum = 0;
  for (int64_t v : it->second) {
    if (v > 0 && sum > INT64_MAX - v) return INT64_MAX;
    sum += v;
  }
  return sum;
}

// computeReplicasForMetric for one spec entry.
MetricOutcome ComputeMetric(const HpaInput& in, const MetricSpec& spec, const Tolerances& tol) {
  MetricOutcome out;
  out.type = spec.type;
  out.name = spec.name;
  int32_t spec_replicas = in.current_replicas;
  int32_t status_replicas = in.status_replicas.value_or(in.current_replicas);
  Result<Proposal> r = InvalidArgument("unsupported metric");
  switch (spec.type) {
    case MetricSourceType::kResource:
    case MetricSourceType::kContainerResource: {
      bool container = spec.type == MetricSourceType::kContainerResource;
      if (spec.average_value_milli) {
        r = PlainReplicas(in, ResourceUsage(in.pods, spec.name, spec.container), spec_replicas,
                          *spec.average_value_milli, spec.name == "cpu", tol);
        out.description = spec.name + " resource";
      } else if (spec.average_utilization) {
        r = ResourceReplicas(in, spec_replicas, *spec.average_utilization, spec.name, spec.container, tol);
        out.description = spec.name + (container ? " container" : "") + " resource utilization (percentage of request)";
      } else {
        r = InvalidArgument(
            "invalid resource metric source: neither an average utilization target nor an average value (usage) "
            "target was set");
      }
      if (!r.ok()) {
        std::string prefix = container ? "failed to get " + spec.container + " container metric value: "
                                       : "failed to get " + spec.name + " resource metric value: ";
        out.error = prefix + r.error().message;
        return out;
      }
      break;
    }
    case MetricSourceType::kPods: {
      PodMetrics m;
      for (const auto& pod : in.pods) {
        auto it = pod.metrics_milli.find(spec.name);
        if (it != pod.metrics_milli.end()) m[pod.name] = it->second;
      }
      if (!spec.average_value_milli) {
        r = InvalidArgument("invalid pods metric source: no average value target");
      } else {
        r = PlainReplicas(in, m, spec_replicas, *spec.average_value_milli, false, tol);
      }
      out.description = "pods metric " + spec.name;
      if (!r.ok()) {
        out.error = "failed to get pods metric value: " + r.error().message;
        return out;
      }
      break;
    }
    case MetricSourceType::kObject:
    case MetricSourceType::kExternal: {
      bool object = spec.type == MetricSourceType::kObject;
      auto usage = SumValues(object ? in.object_metrics_milli : in.external_metrics_milli, spec.name,
                             object ? "object" : "external");
      bool use_average = object ? (spec.target_type == "AverageValue" && spec.average_value_milli.has_value())
                                : spec.average_value_milli.has_value();
      bool use_value = object ? (spec.target_type == "Value" && spec.value_milli.has_value()) : spec.value_milli.has_value();
      if (!use_average && !use_value) {
        out.error = std::string("invalid ") + (object ? "object" : "external") +
                    " metric source: neither a value target nor an average value target was set";
        return out;
      }
      if (!usage.ok()) {
        out.error = std::string("failed to get ") + (object ? "object" : "external") + " metric value: " +
                    usage.error().message;
        return out;
      }
      // Object checks a Value target first; External an AverageValue target first.
      bool average_path = object ? (use_average && !use_value) : use_average;
      if (average_path) {
        Proposal p = PerPodReplicas(*usage, *spec.average_value_milli, status_replicas, tol);
        r = p;
        out.description = (object ? "object metric " : "external metric ") + spec.name;
      } else {
        Proposal p;
        p.value = *usage;
        auto n = UsageRatioReplicaCount(in, spec_replicas,
                                        static_cast<double>(*usage) / static_cast<double>(*spec.value_milli), tol);
        if (!n.ok()) {
          out.error = std::string("failed to get ") + (object ? "object" : "external") + " metric value: " +
                      n.error().message;
          return out;
        }
        p.replicas = *n;
        r = p;
        out.description = object ? spec.described_kind + " metric " + spec.name : "external metric " + spec.name;
      }
      break;
    }
  }
  out.ok = true;
  out.replicas = r->replicas;
  out.current_utilization = r->utilization;
  out.current_average_milli = r->average;
  out.current_value_milli = r->value;
  return out;
}

int32_t ChangeInPeriod(const std::vector<TimedValue>& events, int32_t period_seconds, bool up) {
  int32_t sum = 0;
  for (const auto& e : events) {
    // timestamp.After(now - period)  <=>  age < period
    if (e.age_ns >= Ns(period_seconds)) continue;
    if (up && e.value > 0) sum = GoAdd32(sum, e.value);
    if (!up && e.value < 0) sum = GoSub32(sum, e.value);
  }
  return sum;
}

// calculateScaleUpLimitWithScalingRules.
int32_t ScaleUpLimit(int32_t current, const std::vector<TimedValue>& events, const ScalingRules& rules) {
  if (rules.select_policy == SelectPolicy::kDisabled) return current;
  bool min = rules.select_policy == SelectPolicy::kMin;
  int32_t result = min ? INT32_MAX : INT32_MIN;
  for (const auto& p : rules.policies) {
    int32_t start = GoAdd32(GoSub32(current, ChangeInPeriod(events, p.period_seconds, true)),
                            ChangeInPeriod(events, p.period_seconds, false));
    int32_t proposed = p.type == PolicyType::kPods
                           ? GoAdd32(start, p.value)
                           : CeilToInt32(static_cast<double>(start) * (1 + static_cast<double>(p.value) / 100));
    result = min ? std::min(result, proposed) : std::max(result, proposed);
  }
  return result;
}

// calculateScaleDownLimitWithBehaviors.
int32_t ScaleDownLimit(int32_t current, const std::vector<TimedValue>& events, const ScalingRules& rules) {
  if (rules.select_policy == SelectPolicy::kDisabled) return current;
  bool min = rules.select_policy == SelectPolicy::kMin;
  int32_t result = min ? INT32_MIN : INT32_MAX;
  for (const auto& p : rules.policies) {
    int32_t start = GoAdd32(GoSub32(current, ChangeInPeriod(events, p.period_seconds, true)),
                            ChangeInPeriod(events, p.period_seconds, false));
    int32_t proposed = p.type == PolicyType::kPods
                           ? GoSub32(start, p.value)
                           : TruncToInt32(static_cast<double>(start) * (1 - static_cast<double>(p.value) / 100));
    result = min ? std::max(result, proposed) : std::min(result, proposed);
  }
  return result;
}

// normalizeDesiredReplicas (no behavior).
void NormalizeLegacy(const HpaInput& in, int32_t min_replicas, int32_t prenormalized, HpaDecision& d) {
  int32_t current = in.current_replicas;
  int32_t stabilized = prenormalized;
  for (const auto& rec : in.recommendations)
    // Kept unless rec.timestamp.Before(now - window), i.e. unless age > window.
    if (rec.age_ns <= Ns(in.options.downscale_stabilization_seconds)) stabilized = std::max(stabilized, rec.value);
  d.stabilized_replicas = stabilized;
  if (stabilized != prenormalized) d.stabilization = "ScaleDownStabilized";
  // convertDesiredReplicasWithRules.
  int32_t max_replicas = in.spec.max_replicas;
  int32_t scale_up_limit =
      TruncToInt32(std::max(2.0 * static_cast<double>(current), 4.0));
  int32_t max_allowed;
  std::string limit_reason;
  if (max_replicas > scale_up_limit) {
    max_allowed = scale_up_limit;
    limit_reason = "ScaleUpLimit";
  } else {
    max_allowed = max_replicas;
    limit_reason = "TooManyReplicas";
  }
  if (stabilized < min_replicas) {
    d.desired_replicas = min_replicas;
    d.limited_by = "TooFewReplicas";
  } else if (stabilized > max_allowed) {
    d.desired_replicas = max_allowed;
    d.limited_by = limit_reason;
  } else {
    d.desired_replicas = stabilized;
  }
}

// normalizeDesiredReplicasWithBehaviors.
void NormalizeWithBehavior(const HpaInput& in, int32_t min_replicas, int32_t prenormalized, HpaDecision& d) {
  const Behavior& b = *in.spec.behavior;
  int32_t current = in.current_replicas;
  int32_t up = prenormalized, down = prenormalized;
  for (const auto& rec : in.recommendations) {
    // timestamp.After(now - window)  <=>  age < window
    if (rec.age_ns < Ns(b.scale_up.stabilization_window_seconds)) up = std::min(up, rec.value);
    if (rec.age_ns < Ns(b.scale_down.stabilization_window_seconds)) down = std::max(down, rec.value);
  }
  int32_t stabilized = current;
  if (stabilized < up) stabilized = up;
  if (stabilized > down) stabilized = down;
  d.stabilized_replicas = stabilized;
  if (stabilized != prenormalized)
    d.stabilization = prenormalized >= current ? "ScaleUpStabilized" : "ScaleDownStabilized";

  // convertDesiredReplicasWithBehaviorRate.
  d.desired_replicas = stabilized;
  if (stabilized > current) {
    int32_t limit = ScaleUpLimit(current, in.scale_events, b.scale_up);
    if (limit < current) limit = current;
    int32_t max_allowed = in.spec.max_replicas;
    std::string reason = "TooManyReplicas";
    if (max_allowed > limit) {
      max_allowed = limit;
      reason = "ScaleUpLimit";
    }
    if (stabilized > max_allowed) {
      d.desired_replicas = max_allowed;
      d.limited_by = reason;
    }
  } else if (stabilized < current) {
    int32_t limit = ScaleDownLimit(current, in.scale_events, b.scale_down);
    if (limit > current) limit = current;
    int32_t min_allowed = min_replicas;
    std::string reason = "TooFewReplicas";
    if (min_allowed < limit) {
      min_allowed = limit;
      reason = "ScaleDownLimit";
    }
    if (stabilized < min_allowed) {
      d.desired_replicas = min_allowed;
      d.limited_by = reason;
    }
  }
}

}  // namespace

Result<HpaDecision> EvaluateHpa(const HpaInput& in) {
  const HpaSpec& spec = in.spec;
  if (spec.max_replicas < 1) return InvalidArgument("spec.maxReplicas: must be greater than or equal to 1");
  if (spec.min_replicas < 0) return InvalidArgument("spec.minReplicas: must be greater than or equal to 0");
  if (spec.min_replicas == 0 && !in.options.hpa_scale_to_zero)
    return InvalidArgument("spec.minReplicas: must be greater than or equal to 1 (0 needs the HPAScaleToZero feature gate)");
  if (spec.min_replicas > spec.max_replicas)
    return InvalidArgument("spec.minReplicas: must be less than or equal to maxReplicas (" +
                           std::to_string(spec.min_replicas) + " > " + std::to_string(spec.max_replicas) + ")");
  if (in.current_replicas < 0) return InvalidArgument("current_replicas: must be >= 0");

  HpaDecision d;
  d.current_replicas = in.current_replicas;
  d.legacy = !spec.behavior.has_value();
  int32_t current = in.current_replicas;
  int32_t min_replicas = spec.min_replicas;

  if (current == 0 && min_replicas != 0) {
    d.desired_replicas = 0;
    d.reason = "scaling is disabled since the replica count of the target is zero";
    return d;
  }
  if (current > spec.max_replicas) {
    d.desired_replicas = spec.max_replicas;
    d.reason = "Current number of replicas above Spec.MaxReplicas";
    return d;
  }
  if (current < min_replicas) {
    d.desired_replicas = min_replicas;
    d.reason = "Current number of replicas below Spec.MinReplicas";
    return d;
  }

  int32_t metric_desired = 0;
  std::string metric_name;
  if (in.desired_replicas) {
    metric_desired = *in.desired_replicas;
    metric_name = "desired_replicas";
  } else {
    Tolerances tol{in.options.tolerance, in.options.tolerance};
    if (spec.behavior) {
      if (spec.behavior->scale_down.tolerance) tol.down = *spec.behavior->scale_down.tolerance;
      if (spec.behavior->scale_up.tolerance) tol.up = *spec.behavior->scale_up.tolerance;
    }
    // computeReplicasForMetrics: the largest proposal among the metrics that could be computed.
    int invalid = 0;
    std::string first_error;
    int32_t replicas = 0;
    for (const auto& m : spec.metrics) {
      MetricOutcome o = ComputeMetric(in, m, tol);
      if (!o.ok) {
        if (invalid == 0) first_error = o.error;
        invalid++;
      } else if (replicas == 0 || o.replicas > replicas) {
        replicas = o.replicas;
        metric_name = o.description;
      }
      d.metrics.push_back(std::move(o));
    }
    if (invalid > 0)
      d.metric_error = "invalid metrics (" + std::to_string(invalid) + " invalid out of " +
                       std::to_string(spec.metrics.size()) + "), first error is: " + first_error;
    if (invalid >= static_cast<int>(spec.metrics.size()))
      return InvalidArgument("no usable metric: " + d.metric_error);
    if (invalid > 0 && replicas < current) {
      // The controller refuses to scale down on partial data and keeps the current size.
      d.desired_replicas = current;
      d.metric_replicas = replicas;
      d.reason = "not scaling down while some metrics are invalid: " + d.metric_error;
      return d;
    }
    metric_desired = replicas;
  }
  d.metric_replicas = metric_desired;

  std::string rescale_reason;
  if (metric_desired > current) rescale_reason = metric_name + " above target";
  if (metric_desired < current) rescale_reason = "All metrics below target";
  if (spec.behavior) NormalizeWithBehavior(in, min_replicas, metric_desired, d);
  else NormalizeLegacy(in, min_replicas, metric_desired, d);

  if (d.desired_replicas != current) {
    d.reason = rescale_reason.empty() ? "recommended size differs from current size" : rescale_reason;
  } else if (!d.stabilization.empty()) {
    d.reason = d.stabilization == "ScaleUpStabilized"
                   ? "recent recommendations were lower than current one, applying the lowest recent recommendation"
                   : "recent recommendations were higher than current one, applying the highest recent recommendation";
  } else if (!d.limited_by.empty()) {
    d.reason = "scaling limited: " + d.limited_by;
  } else {
    d.reason = "recommended size matches current size";
  }
  return d;
}

}  // namespace allot::autoscale
