// Small text helpers shared by the host module: whole-file reads of /proc-style files, trimming.
// Thread-safety: reentrant functions.
#pragma once

#include <string>
#include <string_view>

#include "allot/result.h"

namespace allot::host {

// Reads a file of at most `max_bytes` with open/read (no iostreams: probes must stay in microseconds).
// Errors name the path and errno's text.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = 1 << 16);

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// For people: "1.5 GiB", "512.0 MiB", "900 B" (bytes) or "1.50" (cores from millicores).
std::string HumanBytes(int64_t bytes);
std::string HumanCores(int64_t milli);

// "52.3" from basis points 5230 (one decimal, rounded half up).
std::string FormatPercent(int64_t bp);

}  // namespace allot::host
