// The two passes of sim::RunText over a scenario's text (scenario.cc): a validation that keeps no
// streamed event, then a parse that hands each event to the run as it is read.
// Thread-safety: none needed; each call works on its own data.
#pragma once

#include <functional>
#include <string>

#include "allot/result.h"
#include "allot/sim.h"

namespace allot::sim {

// ParseScenario, less the events when they stream (the usual layout, events last): those are
// validated and dropped. When they do not stream, the whole Scenario with its events.
Result<Scenario> ValidateScenario(const std::string& text, const std::string& file);

// Parses `text` again and calls `fn` with each event in file order; the first error `fn` returns stops
// the parse and is returned. REQUIRES: ValidateScenario(text, file) gave a scenario without events.
Status StreamEvents(const std::string& text, const std::string& file, const std::function<Status(const Event&)>& fn);

}  // namespace allot::sim
