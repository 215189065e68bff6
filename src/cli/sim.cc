// allot sim SCENARIO [--json] [--explain]
// module: sim
#include <iostream>

#include "allot/sim.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

int RunSim(const Argv& argv) {
  ArgParser p("sim", "SCENARIO [--json] [--explain]",
              "Runs the engine over a scenario (YAML or JSON, see DESIGN.md) as a deterministic discrete-event\n"
              "simulation and prints each request's outcome and a summary.");
  p.Flag("json", "print JSON: {requests: [...], summary: {...}}");
  p.Flag("explain", "add per-decision node scores, filter reasons and policy notes");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.size() != 1) return Fail("sim", "expected exactly one SCENARIO file (see --help)");
  auto text = ReadFileOrStdin(args->positionals[0]);
  if (!text.ok()) return Fail("sim", text.error());
  auto sc = sim::ParseScenario(*text, args->positionals[0] == "-" ? "<stdin>" : args->positionals[0]);
  if (!sc.ok()) return Fail("sim", sc.error());
  sim::SimOptions opts;
  opts.explain = args->Has("explain");
  auto res = sim::Run(*sc, opts);
  if (!res.ok()) return Fail("sim", res.error());
  std::cout << (args->Has("json") ? sim::ToJson(*res, opts.explain) : sim::ToText(*res, opts.explain));
  return 0;
}

}  // namespace
ALLOT_COMMAND("sim", "run the engine over a scenario file (deterministic discrete-event simulation)", RunSim);
}  // namespace allot::cli
