// allot trace convert|replay|inflate — real workload traces (Alibaba GPU 2023, Google 2011, SWF).
// module: trace
#include "allot/trace.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "allot/duration.h"
#include "allot/policy.h"
#include "cli/command.h"
#include "cli/progress.h"

namespace allot::cli {
namespace {

constexpr const char* kFormats =
    "TRACE is FORMAT:PATH[,PATH]: alibaba-gpu2023:NODES.csv,PODS.csv | google2011:TASK_EVENTS[.gz][,CPU,MEM marginals]\n"
    "| swf:LOG.swf[.gz]. Gzip files are read as streams.";

constexpr const char* kQuietHelp = "no progress line on the terminal (there is none when stderr is not one)";

std::optional<size_t> ParseCount(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 12) return std::nullopt;
  return static_cast<size_t>(std::stoull(s));
}

// Common options: --limit, --skip-bad, --policy, --backfill.
int LoadCommon(const std::string& what, const ParsedArgs& a, trace::TraceSpec* spec, trace::LoadOptions* load,
               EngineOptions* policy) {
  if (a.positionals.size() != 1) return Fail(what, "expected exactly one TRACE (see --help)");
  auto s = trace::ParseTraceSpec(a.positionals[0]);
  if (!s.ok()) return Fail(what, s.error());
  *spec = *s;
  load->read.skip_bad = a.Has("skip-bad");
  if (a.Has("limit")) {
    auto n = ParseCount(a.Get("limit"));
    if (!n || *n == 0) return Fail(what, "--limit: expected a positive integer, got '" + a.Get("limit") + "'");
    load->limit_jobs = *n;
  }
  if (a.Has("tick")) {
    auto ms = ParseDurationFlag("tick", a.Get("tick"), 1, 0, 86'400'000);
    if (!ms.ok()) return Fail(what, ms.error());
    load->tick_ms = static_cast<TimeMs>(*ms);
  } else if (spec->format == trace::Format::kGoogle2011) {
    load->tick_ms = 1000;
  }
  auto scoring = CanonicalPolicyName(PolicyKind::kScoring, a.Get("policy", "least-allocated"));
  if (!scoring) {
    return Fail(what, "--policy: unknown scoring \"" + a.Get("policy") + "\" (" +
                          PolicyNames(PolicyKind::kScoring) + ")");
  }
  policy->scoring = *scoring;
  policy->backfill = a.Has("backfill");
  return -1;
}

int Convert(const Argv& raw) {
  Argv argv;  // -o (and --o, its old spelling) is the short form of --output: the parser knows long options
              // only
  bool options_done = false;
  for (const auto& x : raw) {
    if (x == "--") options_done = true;
    bool alias = !options_done && (x == "-o" || x == "--o" || x.rfind("--o=", 0) == 0);
    argv.push_back(alias ? "--output" + (x.size() > 3 && x[3] == '=' ? x.substr(3) : std::string()) : x);
  }
  ArgParser p("trace convert", "TRACE -o SCENARIO.yaml [--limit N] [--policy NAME] [--backfill] [--skip-bad]",
              std::string("Writes a trace as an `allot sim` scenario (DESIGN.md format).\n") + kFormats);
  p.Option("output", "FILE", "the scenario file to write, '-' for stdout (-o FILE for short)");
  p.Option("limit", "N", "keep only the first N jobs by submit time");
  p.Option("tick", "D",
           "round submit and run times up to a multiple of D: 1s, 100ms (default 0; google2011: 1s; a plain "
           "number is milliseconds)");
  p.Option("policy", "NAME",
           "scoring written into the scenario's policy: " + PolicyNames(PolicyKind::kScoring) +
               " (default least-allocated)");
  p.Flag("backfill", "write backfill: true");
  p.Flag("skip-bad", "skip bad rows (and count them) instead of stopping at the first");
  p.Flag("quiet", kQuietHelp);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  trace::TraceSpec spec;
  trace::LoadOptions load;
  EngineOptions policy;
  if (int rc = LoadCommon("trace convert", *a, &spec, &load, &policy); rc >= 0) return rc;
  if (!a->Has("output")) return Fail("trace convert", "-o FILE (--output) is required");
  ProgressLine progress(a->Has("quiet"));
  load.read.progress = progress.Fn();
  auto w = trace::LoadWorkload(spec, load);
  progress.Finish();
  if (!w.ok()) return Fail("trace convert", w.error());
  std::string out = a->Get("output");
  Status st;
  if (out == "-") {
    st = trace::WriteScenario(*w, policy, std::cout);
  } else {
    std::ofstream f(out);
    if (!f) return Fail("trace convert", out + ": cannot write");
    st = trace::WriteScenario(*w, policy, f);
    f.close();
    if (!f) return Fail("trace convert", out + ": write failed");
  }
  if (!st.ok()) return Fail("trace convert", st.error());
  std::cerr << "wrote " << w->nodes.size() << " nodes and " << w->jobs.size() << " jobs";
  if (w->stats.skipped > 0) std::cerr << "; skipped " << w->stats.skipped << " bad rows (first: " << w->stats.first_skip << ")";
  std::cerr << "\n";
  return 0;
}

int ReplayCmd(const Argv& argv) {
  ArgParser p("trace replay", "TRACE [--policy NAME] [--backfill|--compare] [--limit N] [--json] [--skip-bad]",
              std::string("Replays a trace's arrivals and departures through the engine and reports utilisation\n"
                          "over time, waits, mean bounded slowdown (10 s bound) and packing.\n") + kFormats);
  p.Option("policy", "NAME", "engine scoring: " + PolicyNames(PolicyKind::kScoring) + " (default least-allocated)");
  p.Flag("backfill", "EASY backfill instead of strict FCFS");
  p.Flag("compare", "run FCFS and EASY backfill and print both");
  p.Option("limit", "N", "replay only the first N jobs by submit time");
  p.Option("tick", "D",
           "round submit and run times up to a multiple of D: 1s, 100ms (default 0; google2011: 1s; a plain "
           "number is milliseconds)");
  p.Option("points", "N", "samples in the utilisation timeline (default 48)");
  p.Flag("json", "print JSON");
  p.Flag("skip-bad", "skip bad rows (and count them) instead of stopping at the first");
  p.Flag("quiet", kQuietHelp);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  trace::TraceSpec spec;
  trace::LoadOptions load;
  EngineOptions policy;
  if (int rc = LoadCommon("trace replay", *a, &spec, &load, &policy); rc >= 0) return rc;
  trace::ReplayOptions ro;
  if (a->Has("points")) {
    auto n = ParseCount(a->Get("points"));
    if (!n || *n == 0 || *n > 10000) return Fail("trace replay", "--points: expected 1-10000");
    ro.timeline_points = *n;
  }
  ProgressLine progress(a->Has("quiet"));
  load.read.progress = progress.Fn();
  ro.progress = progress.Fn();
  auto w = trace::LoadWorkload(spec, load);
  if (!w.ok()) {
    progress.Finish();  // the error starts on a clean line
    return Fail("trace replay", w.error());
  }
  std::vector<trace::ReplayReport> reports;
  std::vector<bool> modes = a->Has("compare") ? std::vector<bool>{false, true} : std::vector<bool>{policy.backfill};
  for (bool bf : modes) {
    ro.policy = policy;
    ro.policy.backfill = bf;
    auto r = trace::Replay(*w, ro);
    if (!r.ok()) {
      progress.Finish();
      return Fail("trace replay", r.error());
    }
    r->trace = a->positionals[0];
    reports.push_back(std::move(*r));
  }
  progress.Finish();
  if (w->stats.skipped > 0) std::cerr << "skipped " << w->stats.skipped << " bad rows (first: " << w->stats.first_skip << ")\n";
  if (w->dropped > 0) std::cerr << "dropped " << w->dropped << " rows: " << w->dropped_reason << "\n";
  std::cout << (a->Has("json") ? trace::ReplayToJson(reports) : trace::ReplayToText(reports));
  return 0;
}

int InflateCmd(const Argv& argv) {
  ArgParser p("trace inflate",
              "alibaba-gpu2023:NODES,PODS [--policies P,P...] [--seed S] [--seeds N] [--json] [--plot out.svg]",
              "Inflation mode (Weng et al., ATC '23): pods sampled from the trace (seeded, with replacement) arrive\n"
              "one by one; reports the share of GPUs allocated, unallocated GPUs and fragmented GPU capacity when\n"
              "the first pod cannot be placed, per policy, side by side. Arrivals then go on (failed pods dropped)\n"
              "until --arrive-until of GPU capacity has arrived, for the curve and the end columns.");
  std::string inflate_policies;
  for (const auto& name : trace::GpuCluster::Policies()) inflate_policies += (inflate_policies.empty() ? "" : ",") + name;
  p.Option("policies", "LIST", inflate_policies + " (default: all but least-allocated)");
  p.Option("seed", "S", "first seed (default 1)");
  p.Option("seeds", "N", "average over N seeds S..S+N-1 (default 1)");
  p.Option("arrive-until", "X", "stop arrivals at X times the GPU capacity (default 1.0)");
  p.Option("plot", "FILE", "write an SVG plot: GPU allocation % vs arrived workload, per policy");
  p.Flag("json", "print JSON");
  p.Flag("skip-bad", "skip bad rows (and count them) instead of stopping at the first");
  p.Flag("quiet", kQuietHelp);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (a->positionals.size() != 1) return Fail("trace inflate", "expected exactly one alibaba-gpu2023:NODES,PODS");
  auto spec = trace::ParseTraceSpec(a->positionals[0]);
  if (!spec.ok()) return Fail("trace inflate", spec.error());
  trace::InflationOptions o;
  if (a->Has("policies")) {
    o.policies.clear();
    std::stringstream ss(a->Get("policies"));
    std::string item;
    while (std::getline(ss, item, ',')) o.policies.push_back(item);
    if (o.policies.empty()) return Fail("trace inflate", "--policies: empty list");
  }
  if (a->Has("seed")) {
    auto n = ParseCount(a->Get("seed"));
    if (!n) return Fail("trace inflate", "--seed: expected a non-negative integer");
    o.seed = *n;
  }
  if (a->Has("seeds")) {
    auto n = ParseCount(a->Get("seeds"));
    if (!n || *n == 0 || *n > 1000) return Fail("trace inflate", "--seeds: expected 1-1000");
    o.seeds = static_cast<int>(*n);
  }
  if (a->Has("arrive-until")) {
    try {
      size_t used = 0;
      o.arrive_until = std::stod(a->Get("arrive-until"), &used);
      if (used != a->Get("arrive-until").size()) throw std::invalid_argument("junk");
    } catch (const std::exception&) {
      return Fail("trace inflate", "--arrive-until: expected a number");
    }
  }
  trace::ReadOptions read;
  read.skip_bad = a->Has("skip-bad");
  ProgressLine progress(a->Has("quiet"));
  read.progress = progress.Fn();
  o.progress = progress.Fn();
  auto r = trace::InflateTrace(*spec, o, read);
  progress.Finish();
  if (!r.ok()) return Fail("trace inflate", r.error());
  if (a->Has("plot")) {
    std::ofstream f(a->Get("plot"));
    f << trace::InflationToSvg(*r);
    f.close();
    if (!f) return Fail("trace inflate", a->Get("plot") + ": cannot write");
  }
  std::cout << (a->Has("json") ? trace::InflationToJson(*r) : trace::InflationToText(*r));
  return 0;
}

int RunTrace(const Argv& argv) {
  ArgParser p("trace", "convert|replay|inflate ARGS... (each takes --help)",
              std::string("Real workload traces: convert to a scenario, replay through the engine, or inflate\n"
                          "a GPU cluster with fragmentation-aware packing.\n") + kFormats);
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
    int code = 0;
    p.Parse(argv.empty() ? Argv{} : Argv{"--help"}, &code);
    if (argv.empty()) return Fail("trace", "expected a subcommand: convert, replay or inflate (see --help)");
    return code;
  }
  const std::string& sub = argv[0];
  Argv rest(argv.begin() + 1, argv.end());
  if (sub == "convert") return Convert(rest);
  if (sub == "replay") return ReplayCmd(rest);
  if (sub == "inflate") return InflateCmd(rest);
  return Fail("trace", "unknown subcommand '" + sub + "' (convert, replay, inflate)");
}

}  // namespace
ALLOT_COMMAND("trace", "real workload traces: convert, replay through the engine, GPU inflation", RunTrace);
}  // namespace allot::cli
