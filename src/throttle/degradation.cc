#include "allot/throttle/degradation.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

namespace allot::throttle {

Result<LevelThresholds> LevelThresholds::FromWarnMax(double warn, double max) {
  if (!(warn > 0) || !(max > warn)) {
    return InvalidArgument("thresholds: want 0 < warn < max, got warn " + std::to_string(warn) + " max " +
                           std::to_string(max));
  }
  LevelThresholds t;
  // Default table 70/85/95/100: level 2 at 15/30 and level 3 at 25/30 of the way from warn to max.
  t.percent = {warn, warn + (max - warn) * 0.5, warn + (max - warn) * 25.0 / 30.0, max};
  return t;
}

Status LevelThresholds::Validate() const {
  for (size_t i = 0; i < 4; ++i) {
    if (!(percent[i] > 0) || !std::isfinite(percent[i])) {
      return InvalidArgument("thresholds: level " + std::to_string(i + 1) + " must be a positive percent");
    }
    if (i > 0 && !(percent[i] > percent[i - 1]))
      return InvalidArgument("thresholds: must increase with the level");
  }
  return Status::Ok();
}

DegradationOptions DegradationOptions::Defaults() {
  DegradationOptions o;
  o.per_resource["ephemeral-storage"] = *LevelThresholds::FromWarnMax(65, 70);
  return o;
}

Status ValidateDegradationOptions(const DegradationOptions& o) {
  if (Status s = o.defaults.Validate(); !s.ok()) return s;
  for (const auto& [name, t] : o.per_resource) {
    if (Status s = t.Validate(); !s.ok()) return InvalidArgument("resources." + name + "." + s.message());
  }
  if (!(o.margin >= 0) || o.margin >= 100) return InvalidArgument("margin: must be 0-100 percentage points");
  if (o.dwell_ns < 0) return InvalidArgument("dwell: must not be negative");
  for (size_t i = 0; i < 5; ++i) {
    if (!(o.scale[i] >= 0 && o.scale[i] <= 1)) return InvalidArgument("scale: factors must be in [0, 1]");
  }
  return Status::Ok();
}

DegradationMonitor::DegradationMonitor(DegradationOptions o) : o_(std::move(o)) {
  assert(ValidateDegradationOptions(o_).ok());
}

int DegradationMonitor::LevelOf(const LevelThresholds& t, double percent, double shift) {
  int level = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (percent >= t.percent[i] - shift) level = static_cast<int>(i) + 1;
  }
  return level;
}

int DegradationMonitor::Compute(double shift, int* worst) const {
  int level = 0;
  if (worst != nullptr) *worst = -1;
  for (size_t i = 0; i < samples_.size(); i++) {
    const int l = LevelOf(*samples_[i].thresholds, samples_[i].percent, shift);
    if (worst != nullptr && (l > level || *worst < 0)) *worst = static_cast<int>(i);
    level = std::max(level, l);
  }
  return level;
}

std::string DegradationMonitor::WorstName(int worst) const {
  if (worst < 0) return "";
  const Sample& s = samples_[static_cast<size_t>(worst)];
  return s.scope.empty() ? s.resource : s.scope + "/" + s.resource;
}

int DegradationMonitor::RawLevel(std::string* worst, double* worst_percent) const {
  int w = -1;
  int level = Compute(0, &w);
  if (worst != nullptr) *worst = WorstName(w);
  if (worst_percent != nullptr && w >= 0) *worst_percent = samples_[static_cast<size_t>(w)].percent;
  return level;
}

int DegradationMonitor::Evaluate(int64_t now_ns) {
  // Words only for a change: a sample that changes nothing formats nothing.
  auto why = [&](int worst) {
    if (worst < 0) return std::string("idle");
    char buf[64];
    std::snprintf(buf, sizeof buf, " at %.1f%%", samples_[static_cast<size_t>(worst)].percent);
    return WorstName(worst) + buf;
  };
  int worst = -1;
  const int raw = Compute(0, &worst);
  if (raw > level_) {
    changes_.push_back({now_ns, level_, raw, why(worst)});
    level_ = raw;
    below_since_ = INT64_MIN;
  } else {
    // Falling needs every resource under its thresholds minus the margin (a lower "shifted" level) ...
    const int shifted = Compute(o_.margin, nullptr);
    if (shifted < level_) {
      if (below_since_ == INT64_MIN || now_ns < below_since_) below_since_ = now_ns;
      // ... for the whole dwell time; then it falls to what the shifted thresholds give.
      if (now_ns - below_since_ >= o_.dwell_ns) {
        changes_.push_back({now_ns, level_, shifted, why(worst)});
        level_ = shifted;
        below_since_ = INT64_MIN;
      }
    } else {
      below_since_ = INT64_MIN;
    }
  }
  while (changes_.size() > 256) changes_.pop_front();
  return level_;
}

void DegradationMonitor::Observe(int64_t now_ns, std::string_view scope, std::string_view resource,
                                 int64_t used, int64_t capacity) {
  Record(scope, resource, used, capacity);
  Evaluate(now_ns);
}

void DegradationMonitor::Record(std::string_view scope, std::string_view resource, int64_t used,
                                int64_t capacity) {
  double pct;
  if (capacity <= 0) {
    pct = used > 0 ? 100 : 0;
  } else {
    pct = 100.0 * static_cast<double>(used) / static_cast<double>(capacity);
  }
  auto before = [&](const Sample& s) { return s.scope != scope ? s.scope < scope : s.resource < resource; };
  auto it = std::partition_point(samples_.begin(), samples_.end(), before);
  if (it == samples_.end() || it->scope != scope || it->resource != resource) {
    auto t = o_.per_resource.find(resource);
    it = samples_.insert(it, Sample{std::string(scope), std::string(resource), 0,
                                    t != o_.per_resource.end() ? &t->second : &o_.defaults});
  }
  it->percent = pct;
}

void DegradationMonitor::Forget(int64_t now_ns, std::string_view scope, std::string_view resource) {
  samples_.erase(std::remove_if(samples_.begin(), samples_.end(),
                                [&](const Sample& s) { return s.scope == scope && s.resource == resource; }),
                 samples_.end());
  Evaluate(now_ns);
}

GateDecision DegradationMonitor::Gate(int64_t now_ns, int priority) {
  Evaluate(now_ns);
  GateDecision g;
  g.level = level_;
  g.scale = scale();
  const int min = o_.min_priority[static_cast<size_t>(level_)];
  if (priority < min) {
    g.allowed = false;
    g.reason = "degradation level " + std::to_string(level_) + " admits priority >= " + std::to_string(min);
  }
  return g;
}

Status ValidateAimdOptions(const AimdOptions& o) {
  if (!(o.min_limit >= 1)) return InvalidArgument("min_limit: must be at least 1");
  if (!(o.max_limit >= o.min_limit)) return InvalidArgument("max_limit: must be at least min_limit");
  if (!(o.initial_limit >= o.min_limit && o.initial_limit <= o.max_limit)) {
    return InvalidArgument("initial_limit: must be within [min_limit, max_limit]");
  }
  if (!(o.increase > 0)) return InvalidArgument("increase: must be positive");
  if (!(o.decrease_factor > 0 && o.decrease_factor < 1))
    return InvalidArgument("decrease_factor: must be in (0, 1)");
  if (o.target_latency_ns < 0) return InvalidArgument("target_latency: must not be negative");
  if (o.target_queue_depth < 0) return InvalidArgument("target_queue_depth: must not be negative");
  if (o.target_latency_ns == 0 && o.target_queue_depth == 0) {
    return InvalidArgument("target_latency, target_queue_depth: at least one target is needed");
  }
  if (o.interval_ns < 1) return InvalidArgument("interval: must be positive");
  return Status::Ok();
}

AimdLimiter::AimdLimiter(AimdOptions o) : o_(o) {
  assert(ValidateAimdOptions(o_).ok());
  state_.limit = o_.initial_limit;
}

bool AimdLimiter::TryAcquire() {
  if (state_.in_flight < static_cast<int64_t>(state_.limit)) {
    ++state_.in_flight;
    ++state_.admitted;
    return true;
  }
  ++state_.rejected;
  return false;
}

void AimdLimiter::Release(int64_t now_ns, int64_t latency_ns, int64_t queue_depth) {
  if (state_.in_flight > 0) --state_.in_flight;
  Observe(now_ns, latency_ns, queue_depth);
}

void AimdLimiter::Observe(int64_t now_ns, int64_t latency_ns, int64_t queue_depth) {
  state_.last_latency_ns = latency_ns;
  state_.last_queue_depth = queue_depth;
  const bool overloaded = (o_.target_latency_ns > 0 && latency_ns > o_.target_latency_ns) ||
                          (o_.target_queue_depth > 0 && queue_depth > o_.target_queue_depth);
  // First sample, or the clock went back: (re)start the interval here.
  if (last_adjust_ns_ == INT64_MIN || now_ns < last_adjust_ns_) last_adjust_ns_ = now_ns;
  if (last_decrease_ns_ != INT64_MIN && now_ns < last_decrease_ns_) last_decrease_ns_ = now_ns;
  if (overloaded) {
    // Back off at once on a bad sample, but at most once per interval, so one slow burst of
    // completions does not collapse the limit to the floor.
    if (last_decrease_ns_ == INT64_MIN || now_ns - last_decrease_ns_ >= o_.interval_ns) {
      state_.limit = std::max(o_.min_limit, state_.limit * o_.decrease_factor);
      ++state_.decreases;
      last_decrease_ns_ = now_ns;
      last_adjust_ns_ = now_ns;
    }
    return;
  }
  // Healthy: one additive step per full interval since the last change in either direction.
  if (now_ns - last_adjust_ns_ >= o_.interval_ns) {
    state_.limit = std::min(o_.max_limit, state_.limit + o_.increase);
    ++state_.increases;
    last_adjust_ns_ = now_ns;
  }
}

}  // namespace allot::throttle
