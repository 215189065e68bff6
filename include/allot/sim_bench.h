// `allot bench engine`: a seeded synthetic workload that keeps the cluster 70-90 % full and times each
// scheduling decision (one Submit + one Schedule pass over a one-request queue).
#pragma once

#include <cstdint>
#include <string>

#include "allot/progress.h"
#include "allot/result.h"

namespace allot::sim {

struct BenchOptions {
  int nodes = 1000;
  int requests = 100000;
  std::string policy = "most-allocated";  // a scoring strategy, or "drf" (quotas + DRF + reservations)
  uint64_t seed = 1;
  int tenants = 1000;        // with drf: leaf tenants in a 3-level tree
  int reservations = 100;    // with drf: advance reservations on random nodes
  bool preemption = false;   // also time the preemption search for blocked high-priority requests
  ProgressFn progress;       // "timing decisions", in decisions (called between them, never while timing)
};

struct BenchResult {
  double decisions_per_s = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  int64_t decisions = 0, placed = 0, unplaced = 0;
  double mean_utilization = 0;  // cpu, sampled each decision
  double bytes_per_request = 0; // heap per queued request (ids fit the small-string buffer)
  double setup_s = 0;           // adding the nodes (and with drf the tenants and reservations)
  double fill_s = 0;            // filling the cluster to 75 % before the timed decisions
  int64_t preemption_searches = 0;
  double preemption_p99_us = 0;
};

Result<BenchResult> RunEngineBench(const BenchOptions& o);
std::string BenchToJson(const BenchOptions& o, const BenchResult& r);

}  // namespace allot::sim
