// Degradation levels: how hard the system is pressed, from the worst utilisation across resources.
//
//   level 0 normal < 70 %, 1 light 70-85 %, 2 moderate 85-95 %, 3 heavy 95-100 %, 4 critical >= 100 %
// Thresholds are configurable per resource name (disk is tighter: warn 65 %, max 70 %). A resource
// sample is (scope, resource, used, capacity): the scope tells the cluster ("") from a pool.
// The level rises at once; it falls only when every resource is below its threshold minus
// `margin` AND that has held for `dwell_ns` (hysteresis: no flapping around a threshold).
// Every decision carries the priority gate (level 3 refuses below normal(2), level 4 all but
// critical(4)) and a recommended scale factor for batch work (1, 1, 0.5, 0.25, 0 by default).
// Time is injected. Thread-safety: not synchronised; callers lock.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allot/result.h"

namespace allot::throttle {

// Percent utilisation at which levels 1..4 begin; strictly increasing.
struct LevelThresholds {
  std::array<double, 4> percent = {70, 85, 95, 100};
  // Thresholds from a warn and a max percent, levels 2 and 3 placed as in the default table
  // (halfway and 5/6 of the way from warn to max): warn 65, max 70 -> 65, 67.5, 69.17, 70.
  static Result<LevelThresholds> FromWarnMax(double warn, double max);
  Status Validate() const;
};

struct DegradationOptions {
  LevelThresholds defaults;
  std::map<std::string, LevelThresholds, std::less<>> per_resource;  // by resource name ("ephemeral-storage")
  double margin = 5;                  // percentage points below a threshold before the level may fall
  int64_t dwell_ns = 30'000'000'000;  // and for this long
  std::array<double, 5> scale = {1, 1, 0.5, 0.25, 0};
  // Lowest priority admitted at each level.
  std::array<int, 5> min_priority = {INT32_MIN, INT32_MIN, INT32_MIN, 2, 4};
  // Default: disk tighter than the rest.
  static DegradationOptions Defaults();
};
Status ValidateDegradationOptions(const DegradationOptions& o);

struct LevelChange {
  int64_t at_ns = 0;
  int from = 0, to = 0;
  std::string reason;  // the worst resource and its ratio
};

struct GateDecision {
  bool allowed = true;
  int level = 0;
  double scale = 1;
  std::string reason;  // when refused
};

class DegradationMonitor {
 public:
  // REQUIRES: ValidateDegradationOptions(o).ok().
  explicit DegradationMonitor(DegradationOptions o);
  // Not copied: each sample points at its thresholds in this monitor's options.
  DegradationMonitor(const DegradationMonitor&) = delete;
  DegradationMonitor& operator=(const DegradationMonitor&) = delete;

  // Records a utilisation sample and re-evaluates the level. capacity <= 0 counts as fully used
  // when used > 0 (a resource that vanished), else as idle.
  void Observe(int64_t now_ns, std::string_view scope, std::string_view resource, int64_t used,
               int64_t capacity);
  // Records a sample without re-evaluating: for several at once, then one Evaluate.
  void Record(std::string_view scope, std::string_view resource, int64_t used, int64_t capacity);
  // Forgets a resource (a pool removed).
  void Forget(int64_t now_ns, std::string_view scope, std::string_view resource);
  // Re-evaluates with the latest samples (lets a pending fall complete once the dwell passed).
  int Evaluate(int64_t now_ns);

  int level() const { return level_; }
  double scale() const { return o_.scale[static_cast<size_t>(level_)]; }
  // The priority gate at the current level (evaluated at now_ns first).
  GateDecision Gate(int64_t now_ns, int priority);
  // The level the samples alone give (no hysteresis), and the worst resource "scope/resource".
  int RawLevel(std::string* worst = nullptr, double* worst_percent = nullptr) const;
  const std::deque<LevelChange>& changes() const { return changes_; }

 private:
  // One (scope, resource) sample; the table keeps them in (scope, resource) order, with their thresholds.
  struct Sample {
    std::string scope, resource;
    double percent = 0;
    const LevelThresholds* thresholds = nullptr;
  };
  static int LevelOf(const LevelThresholds& t, double percent, double shift);
  // The level the samples give with thresholds lowered by `shift`; the worst sample's index in *worst
  // (the first of the highest level), or -1 when there is none.
  int Compute(double shift, int* worst) const;
  std::string WorstName(int worst) const;

  DegradationOptions o_;
  std::vector<Sample> samples_;  // few: one per (scope, resource) observed
  int level_ = 0;
  int64_t below_since_ = INT64_MIN;  // since when the margin-shifted level has been below level_
  std::deque<LevelChange> changes_;
};

// Adaptive admission (AIMD): a concurrency limit that halves (x decrease_factor) when latency or
// queue depth exceed their targets and grows by `increase` per healthy interval.
struct AimdOptions {
  double initial_limit = 100, min_limit = 1, max_limit = 10000;
  double increase = 1;                      // additive step per healthy interval
  double decrease_factor = 0.5;             // multiplicative step, in (0, 1)
  int64_t target_latency_ns = 100'000'000;  // 0 = ignore latency
  int64_t target_queue_depth = 0;           // 0 = ignore queue depth
  int64_t interval_ns = 1'000'000'000;      // at most one adjustment per interval
};
Status ValidateAimdOptions(const AimdOptions& o);

struct AimdState {
  double limit = 0;
  int64_t in_flight = 0;
  uint64_t increases = 0, decreases = 0, rejected = 0, admitted = 0;
  int64_t last_latency_ns = 0, last_queue_depth = 0;
};

class AimdLimiter {
 public:
  // REQUIRES: ValidateAimdOptions(o).ok().
  explicit AimdLimiter(AimdOptions o);
  // Admits one unit of work if in_flight < floor(limit).
  bool TryAcquire();
  // Work finished: frees its slot and feeds the controller a latency sample (-1 = none).
  void Release(int64_t now_ns, int64_t latency_ns, int64_t queue_depth = 0);
  // A sample without a release (e.g. the queue depth from the dispatcher).
  void Observe(int64_t now_ns, int64_t latency_ns, int64_t queue_depth);
  int64_t limit() const { return static_cast<int64_t>(state_.limit); }
  const AimdState& state() const { return state_; }

 private:
  AimdOptions o_;
  AimdState state_;
  int64_t last_adjust_ns_ = INT64_MIN;
  int64_t last_decrease_ns_ = INT64_MIN;
};

}  // namespace allot::throttle
