// `allot sim`: a deterministic discrete-event run of the engine over a scenario file (YAML or JSON).
//
// The scenario format is DESIGN.md's: policy, nodes, tenants, events. Times are seconds (fractions
// allowed). All events that share one `at` are applied in file order, then one scheduling pass runs;
// lease ends, wait deadlines, reservation edges and burst grace ends are further pass times. The run
// ends when nothing is due any more. Loading validates everything first: a bad scenario yields an
// error naming file, line and key path, and nothing runs.
// Thread-safety: none needed; every call works on its own data.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "allot/engine.h"
#include "allot/progress.h"
#include "allot/result.h"

namespace allot::sim {

// One scenario event. A scenario is mostly submits, so the bodies of the other kinds are held by pointer
// (null unless the event is of that kind): an event takes ~490 bytes instead of ~1070.
struct Event {
  TimeMs at = 0;
  enum class Kind { kSubmit, kRelease, kNodeUp, kNodeDown, kDrain, kReserve, kUnreserve, kQuota } kind = Kind::kSubmit;
  int line = 0;           // 1-based line in the scenario file
  RequestSpec submit;     // kSubmit
  std::string name;       // release id, node name, unreserve id
  std::shared_ptr<const NodeSpec> node;           // kNodeUp with a spec (a new node); null: an existing node
  std::shared_ptr<const ReservationSpec> reserve;  // kReserve
  std::shared_ptr<const TenantSpec> quota;         // kQuota
};

struct Scenario {
  std::string file;
  EngineOptions policy;
  std::vector<NodeSpec> nodes;
  std::vector<TenantSpec> tenants;
  std::vector<Event> events;
};

// Parses and validates a scenario. `file` is used in error messages. JSON (text whose first character
// is `{`) is read with simdjson, at several hundred MB/s; YAML, and JSON that simdjson refuses, with
// yaml-cpp. Both give the same Scenario for the same document.
Result<Scenario> ParseScenario(const std::string& text, const std::string& file);
Result<Scenario> LoadScenario(const std::string& path);

// What the output shows of one request: AllocationInfo less what is not printed (requests, limits, ...).
struct RequestOutcome {
  std::string id, tenant;
  int priority = 2;
  AllocState state = AllocState::kQueued;
  int count = 1;
  std::vector<std::string> nodes;  // one per gang unit
  TimeMs submitted = 0, started = -1, ended = -1;
  std::string reason, preempted_by;
  std::vector<std::string> devices;
  static RequestOutcome From(AllocationInfo&& info);
};

struct Summary {
  std::map<std::string, size_t> states;          // state -> count
  std::map<std::string, double> utilization;     // resource -> time-weighted allocated / capacity
  double mean_wait_s = 0, p99_wait_s = 0;
  size_t started = 0;
  size_t nodes_used = 0;
  size_t preemptions = 0;
  double end_time_s = 0;
  double jain_index = 1.0;
  std::vector<TenantUsage> tenants;
  std::map<std::string, double> mean_dominant_share;  // tenant -> time-weighted weighted dominant share
  double load_seconds = -1;  // reading and validating the scenario (set by the caller); < 0: not printed
};

struct SimResult {
  std::vector<RequestOutcome> requests;      // in submission order
  std::vector<Explanation> explain;
  std::vector<std::pair<std::string, std::string>> notes;  // (reservation/event, outcome) at run time
  Summary summary;
};

struct SimOptions {
  bool explain = false;
  // Called now and then while a run goes (allot/progress.h): "simulating" in bytes of the text read
  // (RunText) or in events (Run), then "finishing" in passes (those due after the last event; no
  // total). Empty: never called.
  ProgressFn progress;
};

Result<SimResult> Run(const Scenario& scenario, const SimOptions& options = {});

// ParseScenario then Run, in one pass and in memory that does not grow with the events: with events
// last (the usual layout) each event goes to the engine as soon as it is validated, then is forgotten.
// The same result as Run(ParseScenario(...)), errors included: a load error anywhere in the text wins
// over an error of the run. summary.load_seconds: the time spent parsing and validating (the run's
// share of the pass left out).
Result<SimResult> RunText(const std::string& text, const std::string& file, const SimOptions& options = {});

// Renders a result: JSON per DESIGN.md, or human-readable text. WriteJson writes ToJson's text one
// request at a time, without building it whole.
std::string ToJson(const SimResult& r, bool explain);
void WriteJson(std::ostream& out, const SimResult& r, bool explain);
std::string ToText(const SimResult& r, bool explain);

}  // namespace allot::sim
