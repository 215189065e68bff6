// One pass of sim::RunText over a scenario's text (scenario.cc): the loader hands each event to the run
// as soon as it is validated, so that a scenario's events never exist all at once.
// Thread-safety: none needed; each call works on its own data.
#pragma once

#include <functional>
#include <string>

#include "allot/result.h"
#include "allot/sim.h"

namespace allot::sim {

struct Loaded {
  Scenario scenario;      // without its events when they streamed
  bool streamed = false;  // every event went to the callback, in file order, with the head complete
};

// ParseScenario, but while the events stream (the usual layout, events last) each one goes to `fn` with
// the head (policy, nodes, tenants: complete by then) and its byte offset in `text` instead of into
// Scenario::events. When the layout
// cannot stream, or the text has an error (the first in file order is found from the whole tree), the
// calls made so far were for nothing: the result then holds every event (or is the error).
Result<Loaded> LoadStreamed(
    const std::string& text, const std::string& file,
    const std::function<void(const Scenario& head, const Event& event, size_t pos)>& fn);

}  // namespace allot::sim
