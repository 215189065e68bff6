#include "allot/throttle/breaker.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "allot/throttle/ratelimit.h"  // ValidateName

namespace allot::throttle {
namespace {

// A duration for a reason: "30s", "1.5s", "250ms".
std::string FormatSeconds(int64_t ns) {
  char buf[48];
  if (ns % kNanosPerSecond == 0) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ns / kNanosPerSecond));
  } else if (ns < kNanosPerSecond && ns % 1'000'000 == 0) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ns / 1'000'000));
  } else {
    std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ns) / 1e9);
  }
  return buf;
}

}  // namespace

const char* BreakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "closed";
}

Status ValidateBreakerOptions(const BreakerOptions& o) {
  if (o.window_ns < 1) return InvalidArgument("window: must be positive");
  if (o.window_buckets < 1 || o.window_buckets > 1000) return InvalidArgument("window_buckets: must be 1-1000");
  if (o.min_requests < 1) return InvalidArgument("min_requests: must be at least 1");
  if (!(o.failure_rate > 0 && o.failure_rate <= 1)) return InvalidArgument("failure_rate: must be in (0, 1]");
  if (o.consecutive_failures < 0) return InvalidArgument("consecutive_failures: must not be negative");
  if (o.slow_call_ns < 0) return InvalidArgument("slow_call: must not be negative");
  if (o.cooldown_ns < 1) return InvalidArgument("cooldown: must be positive");
  if (o.half_open_probes < 1) return InvalidArgument("half_open_probes: must be at least 1");
  if (o.close_after_successes < 1) return InvalidArgument("close_after_successes: must be at least 1");
  if (o.max_transitions < 1) return InvalidArgument("max_transitions: must be at least 1");
  return Status::Ok();
}

CircuitBreaker::CircuitBreaker(BreakerOptions o) : o_(std::move(o)), buckets_(static_cast<size_t>(o_.window_buckets)) {
  assert(ValidateBreakerOptions(o_).ok());
}

void CircuitBreaker::To(int64_t now_ns, BreakerState s, std::string reason) {
  transitions_.push_back({now_ns, state_, s, std::move(reason)});
  while (transitions_.size() > o_.max_transitions) transitions_.pop_front();
  ++transitions_total_;
  ++edges_[static_cast<int>(state_)][static_cast<int>(s)];
  state_ = s;
  probes_ = 0;
  probe_successes_ = 0;
  consecutive_ = 0;
  if (s == BreakerState::kOpen) opened_ns_ = now_ns;
  if (s == BreakerState::kClosed) {
    for (Bucket& b : buckets_) b = Bucket{};  // a fresh window after recovery
  }
}

void CircuitBreaker::Tick(int64_t now_ns) {
  if (now_ns < last_ns_ && state_ == BreakerState::kOpen && opened_ns_ > now_ns) {
    opened_ns_ = now_ns;  // clock went back: the full cool-down runs from the earlier time
  }
  last_ns_ = now_ns;
  if (state_ == BreakerState::kOpen && now_ns - opened_ns_ >= o_.cooldown_ns) {
    To(now_ns, BreakerState::kHalfOpen, "cool-down " + FormatSeconds(o_.cooldown_ns) + " elapsed");
  }
}

void CircuitBreaker::Window(int64_t now_ns, int64_t* requests, int64_t* failures) const {
  *requests = *failures = 0;
  for (const Bucket& b : buckets_) {
    if (b.start_ns != INT64_MIN && b.start_ns > now_ns - o_.window_ns && b.start_ns <= now_ns) {
      *requests += b.requests;
      *failures += b.failures;
    }
  }
}

BreakerDecision CircuitBreaker::Allow(int64_t now_ns) {
  Tick(now_ns);
  BreakerDecision d;
  d.state = state_;
  switch (state_) {
    case BreakerState::kClosed:
      d.allowed = true;
      return d;
    case BreakerState::kOpen:
      d.retry_after_ns = opened_ns_ + o_.cooldown_ns - now_ns;
      d.reason = "circuit open";
      ++rejected_total_;
      return d;
    case BreakerState::kHalfOpen:
      if (probes_ < o_.half_open_probes) {
        ++probes_;
        d.allowed = true;
        return d;
      }
      d.reason = "circuit half-open: all " + std::to_string(o_.half_open_probes) + " probe(s) in flight";
      ++rejected_total_;
      return d;
  }
  return d;
}

void CircuitBreaker::Record(int64_t now_ns, bool success, int64_t latency_ns) {
  Tick(now_ns);
  const bool failed = !success || (o_.slow_call_ns > 0 && latency_ns > o_.slow_call_ns);
  if (state_ == BreakerState::kHalfOpen) {
    if (probes_ > 0) --probes_;
    if (failed) {
      To(now_ns, BreakerState::kOpen, success ? "probe slower than the slow-call limit" : "probe failed");
    } else if (++probe_successes_ >= o_.close_after_successes) {
      To(now_ns, BreakerState::kClosed,
         std::to_string(probe_successes_) + (probe_successes_ == 1 ? " probe success" : " probe successes"));
    }
    return;
  }
  if (state_ == BreakerState::kOpen) return;  // late reports of calls sent before it opened
  const int64_t width = std::max<int64_t>(1, o_.window_ns / o_.window_buckets);
  const int64_t start = now_ns - (((now_ns % width) + width) % width);
  Bucket& b = buckets_[static_cast<size_t>(((start / width) % o_.window_buckets + o_.window_buckets) %
                                           o_.window_buckets)];
  if (b.start_ns != start) b = Bucket{start, 0, 0};
  ++b.requests;
  b.failures += failed ? 1 : 0;
  consecutive_ = failed ? consecutive_ + 1 : 0;
  if (!failed) return;
  if (o_.consecutive_failures > 0 && consecutive_ >= o_.consecutive_failures) {
    To(now_ns, BreakerState::kOpen, std::to_string(consecutive_) + " consecutive failures");
    return;
  }
  int64_t req = 0, fail = 0;
  Window(now_ns, &req, &fail);
  if (req >= o_.min_requests && static_cast<double>(fail) >= o_.failure_rate * static_cast<double>(req)) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "failure rate %.2f over %lld calls >= %.2f",
                  static_cast<double>(fail) / static_cast<double>(req), static_cast<long long>(req),
                  o_.failure_rate);
    To(now_ns, BreakerState::kOpen, buf);
  }
}

BreakerState CircuitBreaker::State(int64_t now_ns) {
  Tick(now_ns);
  return state_;
}

BreakerSnapshot CircuitBreaker::Snapshot(int64_t now_ns) {
  Tick(now_ns);
  BreakerSnapshot s;
  s.state = state_;
  Window(now_ns, &s.window_requests, &s.window_failures);
  s.consecutive_failures = consecutive_;
  s.probes_in_flight = probes_;
  s.half_open_successes = probe_successes_;
  s.transitions_total = transitions_total_;
  std::copy(&edges_[0][0], &edges_[0][0] + 9, &s.transitions[0][0]);
  s.rejected_total = rejected_total_;
  return s;
}

Status BreakerSet::Configure(std::string_view key, BreakerOptions o) {
  if (Status s = ValidateName("breaker", key); !s.ok()) return s;
  if (Status s = ValidateBreakerOptions(o); !s.ok()) return s;
  std::lock_guard lock(mu_);
  breakers_.insert_or_assign(std::string(key), CircuitBreaker(std::move(o)));
  return Status::Ok();
}

BreakerSet::Map::iterator BreakerSet::Get(std::string_view key) {
  auto it = breakers_.find(key);
  if (it == breakers_.end()) it = breakers_.emplace(std::string(key), CircuitBreaker(defaults_)).first;
  return it;
}

void BreakerSet::Queue(Map::iterator it, uint64_t before) {
  const CircuitBreaker& b = it->second;
  const uint64_t made = b.transitions_total() - before;
  if (made == 0) return;
  // The newest `made` entries of the breaker's log (all of them unless it overflowed in one call).
  const auto& log = b.transitions();
  const size_t n = static_cast<size_t>(std::min<uint64_t>(made, log.size()));
  dropped_ += made - n;
  for (size_t i = log.size() - n; i < log.size(); i++) pending_.emplace_back(it->first, log[i]);
  while (pending_.size() > kMaxPending) {
    pending_.pop_front();
    ++dropped_;
  }
  has_pending_.store(true, std::memory_order_release);
}

BreakerDecision BreakerSet::Allow(int64_t now_ns, std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = Get(key);
  const uint64_t before = it->second.transitions_total();
  BreakerDecision d = it->second.Allow(now_ns);
  Queue(it, before);
  return d;
}

void BreakerSet::Record(int64_t now_ns, std::string_view key, bool success, int64_t latency_ns) {
  std::lock_guard lock(mu_);
  auto it = Get(key);
  const uint64_t before = it->second.transitions_total();
  it->second.Record(now_ns, success, latency_ns);
  Queue(it, before);
}

BreakerSnapshot BreakerSet::Snapshot(int64_t now_ns, std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = Get(key);
  const uint64_t before = it->second.transitions_total();
  BreakerSnapshot s = it->second.Snapshot(now_ns);
  Queue(it, before);
  return s;
}

std::vector<std::pair<std::string, BreakerTransition>> BreakerSet::TakeTransitions() {
  if (!has_pending_.load(std::memory_order_acquire)) return {};  // the common case: no lock
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, BreakerTransition>> out(std::make_move_iterator(pending_.begin()),
                                                             std::make_move_iterator(pending_.end()));
  pending_.clear();
  has_pending_.store(false, std::memory_order_release);
  return out;
}

uint64_t BreakerSet::dropped_transitions() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

std::vector<std::pair<std::string, BreakerTransition>> BreakerSet::TransitionsSince(int64_t since_ns) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, BreakerTransition>> out;
  for (const auto& [k, b] : breakers_) {
    for (const auto& t : b.transitions()) {
      if (t.at_ns >= since_ns) out.emplace_back(k, t);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second.at_ns < b.second.at_ns; });
  return out;
}

std::vector<std::string> BreakerSet::Keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, _] : breakers_) out.push_back(k);
  return out;
}

}  // namespace allot::throttle
