// Progress of a long batch job, reported by the library that does the work and shown by its caller.
//
// A library function that may run for seconds (reading a trace, replaying it, a benchmark) takes a
// ProgressFn in its options and calls it now and then from the working thread with what it is doing
// (`phase`: "reading task_events.csv.gz", "replaying"), the unit it counts ("bytes", "jobs"; empty: only
// the share done/total means something) and how far it is (`done` of `total`; total 0 when unknown).
// Callers may be called often (every few thousand units): the callee keeps it cheap and throttles what it
// shows. An empty ProgressFn is never called; the library itself never prints.
// Thread-safety: called from the one thread that does the work.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace allot {

struct ProgressStep {
  std::string_view phase;
  std::string_view unit;
  uint64_t done = 0;
  uint64_t total = 0;  // 0: unknown
};

using ProgressFn = std::function<void(const ProgressStep&)>;

}  // namespace allot
