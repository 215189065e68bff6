#include "server/auth_guard.h"

#include <algorithm>

namespace allot::server {

void AuthFailureLog::Record(const std::string& address, const std::string& reason, int64_t now_ms) {
  std::lock_guard<std::mutex> l(mu_);
  total_++;
  if (window_start_ == 0) window_start_ = now_ms;
  auto key = std::make_pair(address, reason);
  auto it = counts_.find(key);
  if (it != counts_.end()) {
    it->second++;
  } else if (counts_.size() < max_keys_) {
    counts_.emplace(std::move(key), 1);
  } else {
    overflow_++;
  }
}

void AuthFailureLog::Drain(int64_t now_ms, bool flush, std::vector<AuditEvent>* out) {
  std::lock_guard<std::mutex> l(mu_);
  if (window_start_ == 0 || (!flush && now_ms - window_start_ < window_ms_)) return;
  auto event = [&](const std::string& by, const std::string& reason, uint64_t n) {
    AuditEvent e;
    e.at = now_ms;
    e.type = "auth_failed";
    e.reason = reason + (n > 1 ? " (" + std::to_string(n) + " times)" : "");
    e.by = by;
    out->push_back(std::move(e));
  };
  for (const auto& [key, n] : counts_) event(key.first, key.second, n);
  if (overflow_ > 0) event("other addresses", "auth failures", overflow_);
  counts_.clear();
  overflow_ = 0;
  window_start_ = 0;
}

uint64_t AuthFailureLog::total() const {
  std::lock_guard<std::mutex> l(mu_);
  return total_;
}

void PrincipalRateLimits::Configure(const std::map<std::string, RequestRateLimit>& limits, int64_t now_ns) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = limits.count(it->first) > 0 ? std::next(it) : buckets_.erase(it);
  }
  for (const auto& [name, lim] : limits) {
    throttle::Rate rate{lim.count, lim.period_ns};
    int64_t burst = std::max<int64_t>(1, lim.burst);
    auto it = buckets_.find(name);
    if (it == buckets_.end()) {
      buckets_.emplace(name, throttle::GcraLimiter(rate, burst));
    } else if (throttle::CompareRates(it->second.rate(), rate) != 0 || it->second.burst() != burst) {
      it->second.Reconfigure(now_ns, rate, burst);
    }
  }
}

std::optional<throttle::Decision> PrincipalRateLimits::Acquire(const std::string& name, int64_t now_ns) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(name);
  if (it == buckets_.end()) return std::nullopt;
  throttle::Decision d = it->second.Acquire(now_ns, 1);
  if (!d.allowed()) throttled_++;
  return d;
}

std::string PrincipalRateLimits::Describe(const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(name);
  if (it == buckets_.end()) return "";
  return throttle::FormatRate(it->second.rate()) + ", burst " + std::to_string(it->second.burst());
}

uint64_t PrincipalRateLimits::throttled() const {
  std::lock_guard<std::mutex> l(mu_);
  return throttled_;
}

}  // namespace allot::server
