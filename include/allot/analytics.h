// Analytics over the state and the amount history: allocation efficiency, the resource dimension that blocks
// the queue, cost per tenant or workflow from prices per resource-hour, and a demand forecast with its
// error on the past. The arithmetic only: callers (the server's /v1/analytics routes) gather the inputs.
//
// Amounts are in internal units (allot/resources.h); times in milliseconds unless named otherwise.
// Thread-safety: pure functions on plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/engine.h"
#include "allot/history.h"
#include "allot/result.h"

namespace allot::analytics {

// Averages and ratios of one series over a window (from history::Db::Summarize's sums).
struct Efficiency {
  std::optional<double> capacity, allocated, used;  // averages over the points that have the field
  std::optional<double> allocation_ratio;           // allocated / capacity (null when capacity is 0)
  std::optional<double> usage_ratio;                // used / allocated over the points that have both
};
Efficiency EfficiencyOf(const history::Totals& totals);

// A node as the bottleneck search sees it.
struct NodeView {
  std::string name, pool;
  Labels labels;
  std::vector<Taint> taints;
  ResourceMap capacity, free;
  bool schedulable = true;  // up and not draining
};

// A queued request: one unit's requests, its count and where it may run.
struct QueuedRequest {
  ResourceMap requests;
  int count = 1;
  Labels selector;
  std::vector<Toleration> tolerations;
  std::string gpu_model;    // `|`-separated; empty: any
  bool quota_held = false;  // waits for its tenant's quota, not for room
};

struct Blocked {
  std::string resource;
  int64_t requests = 0;            // queued requests this dimension blocks
  int64_t demand = 0;              // their demand of it (requests × count)
  double share = 0;                // demand / the cluster's capacity of it (0 when that is 0)
  std::vector<std::string> pools;  // pools of the nodes those requests could run on (named ones, sorted)
};

struct Bottleneck {
  std::optional<std::string> resource;  // blocked_by's first entry's
  int64_t queued = 0, infeasible = 0, held_by_quota = 0;
  ResourceMap demand;               // of every queued request, requests × count
  std::vector<Blocked> blocked_by;  // largest share first (then more requests, then name)
};
// A request is blocked by dimension d when none of the nodes it could ever run on (schedulable, selector,
// taints and GPU model matching, capacity at least its requests in every dimension) has its request of d
// free. One without such a node is infeasible; one held by quota is counted apart. `capacity` is the
// cluster's (schedulable nodes).
Bottleneck FindBottleneck(const std::vector<NodeView>& nodes, const std::vector<QueuedRequest>& queue,
                          const ResourceMap& capacity);

// Internal units per priced unit: cpu and gpu 1000 (milli per core or device), memory and
// ephemeral-storage 2^30 (bytes per GiB), network 1e9 (bits/s per Gbit/s), any other resource 1.
double PricedUnit(std::string_view resource);

// An allocation's hold on resources: its requests × count from `start` until `end` (-1: still held).
struct Held {
  std::string tenant, workflow;
  ResourceMap requests;
  int count = 1;
  int64_t start = 0, end = -1;
};

struct CostItem {
  std::string name;
  double cost = 0;
  std::map<std::string, double> resources;  // priced resources with a cost in the window
};
struct Cost {
  std::vector<CostItem> items;  // largest cost first, then by name
  double total = 0;
};
// Each hold's requests × count × hours within [from, to] × price per priced unit-hour, summed by tenant
// (or by workflow). Resources without a price cost nothing.
Cost CostOf(const std::vector<Held>& held, const std::map<std::string, double>& prices, int64_t from,
            int64_t to, bool by_workflow);

struct Forecast {
  std::vector<double> forecast;     // the next `horizon` values (Holt's linear trend)
  std::optional<double> mae, mape;  // one-step-ahead errors over the past (mape in percent)
  int64_t points = 0;               // predictions compared
};
// Holt's linear trend (autoscale::HoltLinear) over evenly spaced `values`, `horizon` steps ahead; its error:
// each value from the third on against the one-step forecast of the values before it. MAPE skips values
// that are 0 (null when all are). REQUIRES: alpha, beta in (0, 1].
Result<Forecast> ForecastOf(const std::vector<double>& values, double alpha, double beta, int horizon);

}  // namespace allot::analytics
