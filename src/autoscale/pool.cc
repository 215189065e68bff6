// Elastic pool sizing and Holt's linear trend forecast (formulas in include/allot/autoscale.h).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "allot/autoscale.h"

namespace allot::autoscale {
namespace {

// ceil that forgives the last bits of floating-point error (28/40/0.7 must give exactly 1).
int64_t SafeCeil(double x) { return static_cast<int64_t>(std::ceil(x - 1e-9)); }

std::string Seconds(double s) {
  std::ostringstream o;
  o << std::ceil(s) << "s";
  return o.str();
}

}  // namespace

Result<PoolDecision> DesiredPoolSize(const PoolSpec& spec, const PoolState& st) {
  if (spec.min_nodes < 0 || spec.max_nodes < spec.min_nodes)
    return InvalidArgument("pool: need 0 <= min_nodes <= max_nodes");
  if (!(spec.target_utilization > 0 && spec.target_utilization <= 1))
    return InvalidArgument("pool: target_utilization must be in (0, 1]");
  if (!(spec.tolerance >= 0) || !(spec.scale_up_cooldown_seconds >= 0) || !(spec.scale_down_cooldown_seconds >= 0) ||
      spec.max_scale_down_step < 0)
    return InvalidArgument("pool: tolerance, cool-downs and max_scale_down_step must not be negative");
  if (st.current_nodes < 0 || !(st.allocated >= 0) || !(st.observed >= 0) || !(st.queued_demand >= 0))
    return InvalidArgument("pool: node count and amounts must not be negative");
  double demand = std::max(st.allocated, st.observed);
  if (!(st.node_capacity > 0) && (st.current_nodes > 0 || demand > 0 || st.queued_demand > 0))
    return InvalidArgument("pool: node_capacity must be > 0");

  PoolDecision d;
  int32_t current = st.current_nodes;
  double capacity = current * st.node_capacity;
  d.utilization = capacity > 0 ? demand / capacity : 0;
  double per_node = st.node_capacity * spec.target_utilization;
  int64_t base;
  if (current == 0) {
    base = demand > 0 ? SafeCeil(demand / per_node) : 0;
  } else {
    double ratio = d.utilization / spec.target_utilization;
    base = std::abs(ratio - 1.0) > spec.tolerance ? SafeCeil(current * ratio) : current;
  }
  int64_t queued = st.queued_demand > 0 ? SafeCeil(st.queued_demand / per_node) : 0;
  int64_t unconstrained = base + queued;
  d.unconstrained_nodes = static_cast<int32_t>(std::min<int64_t>(unconstrained, INT32_MAX));

  if (current < spec.min_nodes) {
    d.desired_nodes = std::max<int32_t>(spec.min_nodes, static_cast<int32_t>(std::min<int64_t>(unconstrained, spec.max_nodes)));
    d.reason = "below min_nodes";
    return d;
  }
  if (current > spec.max_nodes) {
    d.desired_nodes = spec.max_nodes;
    d.reason = "above max_nodes";
    return d;
  }
  int32_t desired = static_cast<int32_t>(std::clamp<int64_t>(unconstrained, spec.min_nodes, spec.max_nodes));
  std::ostringstream why;
  why.precision(3);
  why << "utilization " << d.utilization * 100 << " % vs target " << spec.target_utilization * 100 << " %";
  if (queued > 0) why << ", " << queued << " node(s) for queued demand";
  if (desired > current && st.last_scale_up && st.now - *st.last_scale_up < spec.scale_up_cooldown_seconds) {
    d.desired_nodes = current;
    d.reason = why.str() + "; scale-up held by cool-down (" +
               Seconds(spec.scale_up_cooldown_seconds - (st.now - *st.last_scale_up)) + " left)";
    return d;
  }
  if (desired < current) {
    double since = 1e300;
    if (st.last_scale_down) since = std::min(since, st.now - *st.last_scale_down);
    if (st.last_scale_up) since = std::min(since, st.now - *st.last_scale_up);
    if (since < spec.scale_down_cooldown_seconds) {
      d.desired_nodes = current;
      d.reason = why.str() + "; scale-down held by cool-down (" + Seconds(spec.scale_down_cooldown_seconds - since) + " left)";
      return d;
    }
    if (spec.max_scale_down_step > 0 && current - desired > spec.max_scale_down_step) {
      desired = current - spec.max_scale_down_step;
      why << "; scale-down limited to " << spec.max_scale_down_step << " node(s) per step";
    }
  }
  d.desired_nodes = desired;
  if (unconstrained > spec.max_nodes) why << "; capped at max_nodes";
  if (unconstrained < spec.min_nodes) why << "; raised to min_nodes";
  d.reason = why.str();
  return d;
}

Result<HoltForecast> HoltLinear(const std::vector<double>& y, double alpha, double beta, int horizon) {
  if (!(alpha > 0 && alpha <= 1) || !(beta > 0 && beta <= 1)) return InvalidArgument("holt: alpha and beta must be in (0, 1]");
  if (y.empty()) return InvalidArgument("holt: the series is empty");
  if (horizon < 0) return InvalidArgument("holt: horizon must be >= 0");
  for (double v : y)
    if (!std::isfinite(v)) return InvalidArgument("holt: the series has a non-finite value");
  HoltForecast f;
  f.level = y[0];
  f.trend = y.size() > 1 ? y[1] - y[0] : 0;
  for (size_t t = 1; t < y.size(); t++) {
    double level = alpha * y[t] + (1 - alpha) * (f.level + f.trend);
    f.trend = beta * (level - f.level) + (1 - beta) * f.trend;
    f.level = level;
  }
  for (int h = 1; h <= horizon; h++) f.forecast.push_back(f.level + h * f.trend);
  return f;
}

}  // namespace allot::autoscale
