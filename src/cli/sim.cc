// allot sim SCENARIO [--json] [--explain] | allot sim --trace FORMAT:PATH[,PATH] [...]
// module: sim trace
#include "allot/sim.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "allot/policy.h"
#include "allot/trace.h"
#include "cli/command.h"
#include "cli/progress.h"

namespace allot::cli {
namespace {

// The scenario's text, with room for 64 bytes past its end (the JSON parser reads there; without the
// room it would copy the text): a regular file in one read, anything else (standard input, a pipe, a
// file that cannot be read) through ReadFileOrStdin, with its messages.
Result<std::string> ReadScenario(const std::string& path) {
  if (path != "-") {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<size_t>(st.st_size) <= kMaxInputBytes) {
      std::string text;
      text.reserve(static_cast<size_t>(st.st_size) + 64);
      text.resize(static_cast<size_t>(st.st_size));
      size_t got = 0;
      while (got < text.size()) {
        ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      ::close(fd);
      if (got == text.size()) return text;
    } else if (fd >= 0) {
      ::close(fd);
    }
  }
  auto text = ReadFileOrStdin(path);
  if (text.ok()) text->reserve(text->size() + 64);
  return text;
}

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
  p.Flag("quiet", "no progress line on the terminal (there is none when stderr is not one)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  PrepareBatchHeap();
  sim::SimOptions opts;
  opts.explain = args->Has("explain");
  ProgressLine progress(args->Has("quiet"));
  opts.progress = progress.Fn();
  Result<sim::SimResult> res = InvalidArgument("not run");
  auto t0 = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
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
    lo.read.progress = progress.Fn();
    auto wl = trace::LoadWorkload(*spec, lo);
    if (!wl.ok()) {
      progress.Finish();  // the error starts on a clean line
      return Fail("sim", wl.error());
    }
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
    double load = seconds_since(t0);
    res = sim::Run(s, opts);
    if (res.ok()) res->summary.load_seconds = load;
  } else {
    if (args->positionals.size() != 1) return Fail("sim", "expected exactly one SCENARIO file, or --trace (see --help)");
    auto text = ReadScenario(args->positionals[0]);
    if (!text.ok()) return Fail("sim", text.error());
    double read = seconds_since(t0);
    // Validated whole first, then run with each event parsed again as it is due (memory does not grow
    // with the events).
    res = sim::RunText(*text, args->positionals[0] == "-" ? "<stdin>" : args->positionals[0], opts);
    if (res.ok()) res->summary.load_seconds += read;
  }
  progress.Finish();
  if (!res.ok()) return Fail("sim", res.error());
  if (args->Has("json")) {
    sim::WriteJson(std::cout, *res, opts.explain);
  } else {
    std::cout << sim::ToText(*res, opts.explain);
  }
  return 0;
}

}  // namespace
ALLOT_COMMAND("sim", "run the engine over a scenario file (deterministic discrete-event simulation)", RunSim);
}  // namespace allot::cli
