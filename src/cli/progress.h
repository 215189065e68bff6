// The progress line of a long command (`trace replay`, `trace inflate`, `bench engine`, ...).
//
// Drawn on stderr only when stderr is a terminal and the command was not given --quiet; never on stdout,
// so --json output and pipes see none of it. One line, redrawn in place at most every 100 ms:
//   replaying: 12000/62000 jobs (19.4%), 4100 jobs/s, ETA 12s
// with a rate once a phase has run for a moment and an ETA where the total is known. Finish() (or the
// destructor) erases it, so whatever the command prints next starts on a clean line.
// Not thread-safe: one working thread reports, the same thread finishes.
#pragma once

#include <chrono>
#include <string>

#include "allot/progress.h"

namespace allot::cli {

class ProgressLine {
 public:
  // `quiet`: the command's --quiet. `fd`: where to draw (stderr; tests may pass another).
  explicit ProgressLine(bool quiet, int fd = 2);
  ~ProgressLine() { Finish(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  // For a library's options; an empty function when the line is disabled (the library then skips the
  // calls altogether). REQUIRES: *this outlives every call.
  ProgressFn Fn();
  // Erases the line (if one was drawn). Idempotent.
  void Finish();

  // The text of one update, without terminal codes: what Update draws (exposed for tests).
  static std::string Text(const ProgressStep& step, double phase_seconds, size_t width);

 private:
  void Update(const ProgressStep& step);
  void Write(const std::string& s);

  bool enabled_ = false;
  int fd_ = 2;
  bool drawn_ = false;
  std::string phase_;
  std::chrono::steady_clock::time_point phase_start_, last_draw_;
};

}  // namespace allot::cli
