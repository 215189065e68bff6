// allot bench engine --nodes N --requests R [--policy NAME] [--seed S] --json
// module: sim
#include <charconv>
#include <iostream>

#include "allot/policy.h"
#include "allot/sim_bench.h"
#include "cli/command.h"
#include "cli/progress.h"

namespace allot::cli {
namespace {

bool ParseInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= lo && *out <= hi;
}

int RunBench(const Argv& argv) {
  ArgParser p("bench", "engine --nodes N --requests R [--policy NAME] [--seed S] [--json]",
              "Times the engine on a seeded synthetic workload that keeps the cluster 70-90 % full.\n"
              "Policies: the scoring strategies (" + PolicyNames(PolicyKind::kScoring) + "),\n"
              "or drf (most-allocated with hierarchical quotas, DRF ordering and advance reservations).");
  p.Option("nodes", "N", "number of nodes (default 1000)")
      .Option("requests", "R", "number of decisions to time (default 100000)")
      .Option("policy", "NAME", "scoring strategy or drf (default most-allocated)")
      .Option("seed", "S", "random seed (default 1)")
      .Option("tenants", "T", "leaf tenants for --policy drf (default 1000)")
      .Option("reservations", "K", "advance reservations for --policy drf (default 100)")
      .Flag("preemption", "also time preemption searches")
      .Flag("json", "print JSON (the default; kept for the contract)")
      .Flag("quiet", "no progress line on the terminal (there is none when stderr is not one)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.size() != 1 || args->positionals[0] != "engine") {
    return Fail("bench", "expected the benchmark name `engine` (see --help)");
  }
  sim::BenchOptions o;
  int64_t v = 0;
  struct {
    const char* name;
    int* field;
    int64_t lo, hi;
  } ints[] = {{"nodes", &o.nodes, 1, 1000000}, {"requests", &o.requests, 1, 100000000},
              {"tenants", &o.tenants, 1, 1000000}, {"reservations", &o.reservations, 0, 1000000}};
  for (auto& f : ints) {
    if (!args->Has(f.name)) continue;
    if (!ParseInt(args->Get(f.name), f.lo, f.hi, &v)) {
      return Fail("bench", std::string("--") + f.name + " must be an integer within " + std::to_string(f.lo) + "-" +
                               std::to_string(f.hi));
    }
    *f.field = static_cast<int>(v);
  }
  if (args->Has("seed")) {
    if (!ParseInt(args->Get("seed"), 0, INT64_MAX, &v)) return Fail("bench", "--seed must be a non-negative integer");
    o.seed = static_cast<uint64_t>(v);
  }
  o.policy = args->Get("policy", o.policy);
  o.preemption = args->Has("preemption");
  ProgressLine progress(args->Has("quiet"));
  o.progress = progress.Fn();
  auto r = sim::RunEngineBench(o);
  progress.Finish();
  if (!r.ok()) return Fail("bench", r.error());
  std::cout << sim::BenchToJson(o, *r);
  return 0;
}

}  // namespace
ALLOT_COMMAND("bench", "benchmarks: `allot bench engine` times scheduling decisions", RunBench);
}  // namespace allot::cli
