// Wall-clock time and durations as the server and its clients write them: RFC 3339 times and
// "1h30m"-style durations. Times are implemented in the server module (src/server/util.cc); durations
// are the core library's (allot/duration.h), named here too for the server's code.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "allot/duration.h"

namespace allot::server {

int64_t WallNowMs();
// RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.250Z").
std::string FormatTime(int64_t ms);
// "2024-05-01T12:00:00Z" (fraction and offset optional) -> ms since the epoch.
std::optional<int64_t> ParseTime(std::string_view text);
// "90s", "1h30m", "500ms", "2d", "1.5h", or a plain number of seconds -> ms (allot/duration.h).
using ::allot::ParseDurationMs;

}  // namespace allot::server
