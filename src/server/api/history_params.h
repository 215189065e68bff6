// Query parameters shared by /v1/history and /v1/analytics: times, durations, scopes, resources, and the
// history's amounts in the API's units.
// Thread-safety: pure functions.
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "allot/history.h"
#include "allot/resources.h"
#include "server/api/api.h"

namespace allot::server {

// Unix seconds, an RFC 3339 time, or a duration before now ("24h": 24 hours ago). 400 naming `field`.
inline std::optional<ApiError> ParseWhen(const std::string& text, const std::string& field, int64_t now_s,
                                         int64_t* out) {
  bool digits = !text.empty() && text.size() <= 12 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits &&
      text.size() >= 9) {  // a plain number of 9+ digits is a time; fewer digits are a duration in seconds
    *out = std::stoll(text);
    return std::nullopt;
  }
  if (auto t = ParseTime(text)) {
    *out = *t >= 0 ? *t / 1000 : -((-*t + 999) / 1000);
    return std::nullopt;
  }
  if (auto d = ParseDurationMs(text)) {
    *out = now_s - *d / 1000;
    return std::nullopt;
  }
  return BadRequest(field, field + ": \"" + text +
                               "\" is not Unix seconds, an RFC 3339 time or a duration before now (24h)");
}

// A duration of whole seconds within [min_s, max_s]: 400 when malformed, 422 out of range.
inline std::optional<ApiError> ParseSeconds(const std::string& text, const std::string& field, int64_t min_s,
                                            int64_t max_s, int64_t* out) {
  auto ms = ParseDurationMs(text);
  if (!ms) return BadRequest(field, field + ": \"" + text + "\" is not a duration (90s, 5m, 24h) or seconds");
  if (*ms % 1000 != 0) return Unprocessable(field, field + ": must be whole seconds");
  if (*ms / 1000 < min_s || *ms / 1000 > max_s) {
    return Unprocessable(
        field, field + ": must be between " + std::to_string(min_s) + "s and " + std::to_string(max_s) + "s");
  }
  *out = *ms / 1000;
  return std::nullopt;
}

// A resource name as bodies take it (aliases canonicalised).
inline std::optional<ApiError> ParseResourceParam(const std::string& text, std::string* out) {
  if (auto s = ValidateResourceName(text); !s.ok()) return BadRequest("resource", "resource: " + s.message());
  *out = CanonicalResourceName(text);
  return std::nullopt;
}

// An amount of the history (internal units) as answers give it: an integer in the API's units.
inline int64_t ApiAmount(const std::string& resource, double internal) {
  return ToOutputUnits(resource, static_cast<int64_t>(std::llround(internal)));
}
// The same, as a number that keeps fractions (errors, ratios of devices).
inline double ApiAmountExact(const std::string& resource, double internal) {
  return resource == "gpu" ? internal / 1000.0 : internal;
}

// The longest retention of any tier (the furthest back a window may reach).
inline int64_t LongestKeep(const history::Options& o) {
  int64_t k = 0;
  for (const auto& t : o.tiers) k = std::max(k, t.keep_s);
  return k;
}

inline ApiError HistoryOff() {
  return {404, "not_found", "the server keeps no history (history.interval is 0)", ""};
}

// Reads `q` from the server's history (under its lock). When there is no answer it answers the caller
// itself (history off, nothing found: 404; a query the history refuses: 422 naming the field) and returns
// nullopt. Defined in history.cc.
std::optional<history::Answer> ReadHistory(State& srv, const history::Query& q, int64_t now,
                                           const net::Responder& r);

}  // namespace allot::server
