// allot sim SCENARIO [--json] [--explain] | allot sim --trace FORMAT:PATH[,PATH] [...]
// module: sim trace
#include <iostream>

#include "allot/policy.h"
#include "allot/sim.h"
#include "allot/trace.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

int RunSim(const Argv& argv) {
  ArgParser p("sim", "SCENARIO [--json] [--explain]",
              "Runs the engine over a scenario (YAML or JSON, see DESIGN.md) as a deterministic discrete-event\n"
              "simulation and prints each request's outcome and a summary.");
  p.Flag("json", "print JSON: {requests: [...], summary: {...}}");
  p.Flag("explain", "add per-decision node scores, filter reasons and policy notes");
  p.Option("trace", "FORMAT:PATH[,PATH]",
           "simulate a real trace instead of a scenario: alibaba-gpu2023:NODES,PODS | google2011:TASK_EVENTS[.gz] | "
           "swf:LOG[.gz] (jobs hold their resources for their recorded run time)");
  p.Option("limit", "N", "with --trace: only the first N jobs by submit time");
  p.Option("scoring", "NAME",
           "with --trace: the scoring strategy, " + PolicyNames(PolicyKind::kScoring) + " (default least-allocated)");
  p.Flag("backfill", "with --trace: EASY backfill instead of strict FCFS");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  Result<sim::Scenario> sc = InvalidArgument("no scenario");
  if (args->Has("trace")) {
    if (!args->positionals.empty()) return Fail("sim", "give either a SCENARIO file or --trace, not both");
    auto spec = trace::ParseTraceSpec(args->Get("trace"));
    if (!spec.ok()) return Fail("sim", spec.error());
    trace::LoadOptions lo;
    if (args->Has("limit")) {
      try {
        lo.limit_jobs = static_cast<size_t>(std::stoull(args->Get("limit")));
      } catch (...) {
        return Fail("sim", "--limit must be a non-negative integer");
      }
    }
    if (spec->format == trace::Format::kGoogle2011) lo.tick_ms = 1000;
    auto wl = trace::LoadWorkload(*spec, lo);
    if (!wl.ok()) return Fail("sim", wl.error());
    sim::Scenario s;
    s.file = args->Get("trace");
    s.policy.scoring = args->Get("scoring", "least-allocated");
    s.policy.backfill = args->Has("backfill");
    s.nodes = wl->nodes;
    for (const auto& j : wl->jobs) {
      sim::Event e;
      e.at = j.submit;
      e.kind = sim::Event::Kind::kSubmit;
      e.submit.id = j.id;
      e.submit.requests = j.requests;
      e.submit.count = j.count;
      e.submit.selector = j.selector;
      e.submit.wait = j.wait;
      e.submit.duration = std::max<TimeMs>(1, j.run);
      s.events.push_back(std::move(e));
    }
    sc = std::move(s);
  } else {
    if (args->positionals.size() != 1) return Fail("sim", "expected exactly one SCENARIO file, or --trace (see --help)");
    auto text = ReadFileOrStdin(args->positionals[0]);
    if (!text.ok()) return Fail("sim", text.error());
    sc = sim::ParseScenario(*text, args->positionals[0] == "-" ? "<stdin>" : args->positionals[0]);
    if (!sc.ok()) return Fail("sim", sc.error());
  }
  sim::SimOptions opts;
  opts.explain = args->Has("explain");
  auto res = sim::Run(*sc, opts);
  if (!res.ok()) return Fail("sim", res.error());
  sc = InvalidArgument("done");  // the events are no longer needed: free them before rendering
  std::cout << (args->Has("json") ? sim::ToJson(*res, opts.explain) : sim::ToText(*res, opts.explain));
  return 0;
}

}  // namespace
ALLOT_COMMAND("sim", "run the engine over a scenario file (deterministic discrete-event simulation)", RunSim);
}  // namespace allot::cli
