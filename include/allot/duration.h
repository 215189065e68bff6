// Durations as people write them, one parser for the API, the config files and every command-line flag:
// "90s", "1h30m", "500ms", "2d", "1.5h", "250us", or a plain number. Also the short form allot prints
// (progress ETAs, tables).
//
// Units: ns, us, ms, s, m, h, d; terms add up ("1h30m", "1m30s"); each term's number may be fractional.
// A plain number without a unit counts in a unit the caller names: seconds for the API and most flags, the
// unit a flag always took for the rest (`--cpu-sample-ms 250`), so old command lines keep their meaning.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "allot/result.h"

namespace allot {

inline constexpr int64_t kNanosPerMs = 1'000'000;
inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
// The longest duration in milliseconds the API and the flags take (about 31,700 years).
inline constexpr int64_t kMaxDurationMs = 1'000'000'000'000'000;

// The duration in nanoseconds, rounded to the nearest; a plain number counts in `bare_unit_ns`
// (seconds unless said otherwise). Non-negative, at most 9e18 ns (about 292 years). Errors quote the
// text and list the accepted forms.
Result<int64_t> ParseDurationNs(std::string_view text, int64_t bare_unit_ns = kNanosPerSecond);

// The API's form: milliseconds (rounded to the nearest), a plain number in seconds, at most
// kMaxDurationMs; nullopt for anything else.
std::optional<int64_t> ParseDurationMs(std::string_view text);

// For a command-line flag or config value: ParseDurationNs in milliseconds, a plain number counting in
// `bare_unit_ms` (1000: seconds), within [min_ms, max_ms]. Errors read
// `--FLAG "TEXT": ...` with what was wrong and what is accepted.
Result<int64_t> ParseDurationFlag(std::string_view flag, std::string_view text, int64_t bare_unit_ms = 1000,
                                  int64_t min_ms = 0, int64_t max_ms = kMaxDurationMs);

// A duration for people, exact to the millisecond and as short as it goes: "250ms", "1.5s", "2m",
// "1h30m", "2d3h", "1m0.5s". Negative values print with a leading '-'.
std::string FormatDurationMs(int64_t ms);

}  // namespace allot
