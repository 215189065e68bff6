// allot autoscale eval|simulate
// module: autoscale
#include "allot/autoscale.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "allot/duration.h"
#include "allot/quantity.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

constexpr const char* kGatesHelp =
    "Kubernetes feature gates, e.g. HPAScaleToZero=true (minReplicas 0 with an Object or External metric)";

// A whole non-negative number, all of `s`.
std::optional<int64_t> WholeNumber(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}
// A finite number, all of `s`.
std::optional<double> Number(const std::string& s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// --feature-gates, when given; errors name the flag.
Result<autoscale::FeatureGates> GatesFlag(const ParsedArgs& args) {
  if (!args.Has("feature-gates")) return autoscale::FeatureGates{};
  auto g = autoscale::ParseFeatureGates(args.Get("feature-gates"));
  if (!g.ok()) {
    std::string m = g.error().message;  // "feature gates: ..."
    return InvalidArgument("--feature-gates" + m.substr(std::string_view("feature gates").size()));
  }
  return g;
}

int RunEval(const Argv& argv) {
  ArgParser p(
      "autoscale eval", "INPUT [--json]",
      "Kubernetes-exact HPA arithmetic for one reconcile. INPUT (YAML or JSON, `-` for stdin) holds the\n"
      "HPA object or spec, current_replicas, pods, object/external metric values, recent recommendations\n"
      "and scale events (see docs/hpa-input.md). Prints {\"desired_replicas\", \"reason\", \"metrics\", "
      "...}.");
  p.Option("feature-gates", "LIST", kGatesHelp);
  p.Flag("json", "print JSON (the only output; kept so that every data command takes --json)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.size() != 1) return Fail("autoscale eval", "expected one INPUT file (usage: allot autoscale eval INPUT)");
  const std::string& path = args->positionals[0];
  auto text = ReadFileOrStdin(path);
  if (!text.ok()) return Fail("autoscale eval", text.error());
  auto gates = GatesFlag(*args);
  if (!gates.ok()) return Fail("autoscale eval", gates.error());
  auto input = autoscale::ParseHpaInput(*text, path == "-" ? "<stdin>" : path, *gates);
  if (!input.ok()) return Fail("autoscale eval", input.error());
  auto decision = autoscale::EvaluateHpa(*input);
  if (!decision.ok()) return Fail("autoscale eval", decision.error());
  std::cout << autoscale::HpaDecisionToJson(*decision) << "\n";
  return 0;
}

Result<std::map<std::string, int64_t>> ParseRequests(const std::string& text) {
  std::map<std::string, int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return InvalidArgument("--requests: expected name=quantity, got \"" + item + "\"");
    auto q = ParseQuantity(item.substr(eq + 1));
    if (!q.ok()) return InvalidArgument("--requests: " + q.error().message);
    out[item.substr(0, eq)] = q->Milli();
  }
  return out;
}

int RunSimulate(const Argv& argv) {
  ArgParser p(
      "autoscale simulate", "--hpa HPA.yaml USAGE.csv [--format json|table] [--json] [--plot out.svg]",
      "Runs an HPA against a usage time series and prints the replica timeline. USAGE.csv has a `time`\n"
      "column (seconds, strictly increasing) and one column per metric holding the workload's total\n"
      "(cpu in cores or 500m, memory in bytes or 2Gi, Pods metrics as totals); each total is spread\n"
      "evenly over the replicas of the moment.");
  p.Option("hpa", "FILE", "the HPA (autoscaling/v2 object or spec, YAML or JSON)")
      .Option("initial-replicas", "N", "replicas at the first sample (default: minReplicas)")
      .Option("requests", "LIST", "per-pod requests, e.g. cpu=500m,memory=1Gi (default cpu=1)")
      .Option("sync-period", "D",
              "controller resync period: 15s (default), 30s, 1m; a plain number is seconds")
      .Option("tolerance", "X", "global tolerance (default 0.1)")
      .Option("format", "FMT", "json (default) or table")
      .Flag("json", "print JSON (--format json, the default)")
      .Option("plot", "FILE", "also write the timeline as an SVG line chart")
      .Option("feature-gates", "LIST", kGatesHelp);
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->Has("hpa")) return Fail("autoscale simulate", "--hpa FILE is required");
  if (args->positionals.size() != 1) return Fail("autoscale simulate", "expected one USAGE.csv");
  auto hpa_text = ReadFileOrStdin(args->Get("hpa"));
  if (!hpa_text.ok()) return Fail("autoscale simulate", hpa_text.error());
  auto gates = GatesFlag(*args);
  if (!gates.ok()) return Fail("autoscale simulate", gates.error());
  auto spec = autoscale::ParseHpaSpecText(*hpa_text, args->Get("hpa"), *gates);
  if (!spec.ok()) return Fail("autoscale simulate", spec.error());
  const std::string& csv_path = args->positionals[0];
  auto csv = ReadFileOrStdin(csv_path);
  if (!csv.ok()) return Fail("autoscale simulate", csv.error());
  auto series = autoscale::ParseUsageSeries(*csv, csv_path);
  if (!series.ok()) return Fail("autoscale simulate", series.error());
  autoscale::SimulationOptions opt;
  opt.initial_replicas = spec->min_replicas > 0 ? spec->min_replicas : 1;
  opt.hpa.hpa_scale_to_zero = gates->hpa_scale_to_zero.value_or(false);
  if (args->Has("initial-replicas")) {
    auto n = WholeNumber(args->Get("initial-replicas"));
    if (!n || *n > 1'000'000)
      return Fail("autoscale simulate", "--initial-replicas: expected a whole number 0-1000000");
    opt.initial_replicas = static_cast<int>(*n);
  }
  if (args->Has("sync-period")) {
    auto ms = ParseDurationFlag("sync-period", args->Get("sync-period"), 1000, 1);
    if (!ms.ok()) return Fail("autoscale simulate", ms.error());
    opt.sync_period_seconds = static_cast<double>(*ms) / 1000;
  }
  if (args->Has("tolerance")) {
    auto t = Number(args->Get("tolerance"));
    if (!t || *t < 0) return Fail("autoscale simulate", "--tolerance: expected a number >= 0, e.g. 0.1");
    opt.hpa.tolerance = *t;
  }
  if (args->Has("requests")) {
    auto r = ParseRequests(args->Get("requests"));
    if (!r.ok()) return Fail("autoscale simulate", r.error());
    opt.pod_requests_milli = *r;
  }
  auto steps = autoscale::Simulate(*spec, *series, opt);
  if (!steps.ok()) return Fail("autoscale simulate", steps.error());
  auto output = OutputFormat(*args, "json", {"json", "table"});
  if (!output.ok()) return Fail("autoscale simulate", output.error());
  const std::string format = *output;
  if (format == "table") {
    std::cout << std::left << std::setw(10) << "TIME" << std::setw(10) << "REPLICAS" << std::setw(10) << "DESIRED"
              << "REASON\n";
    for (const auto& s : *steps)
      std::cout << std::setw(10) << s.time << std::setw(10) << s.replicas << std::setw(10) << s.desired << s.reason
                << (s.limited_by.empty() ? "" : " [" + s.limited_by + "]") << "\n";
  } else if (format == "json") {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& s : *steps) {
      nlohmann::ordered_json o;
      o["time"] = s.time;
      o["replicas"] = s.replicas;
      o["desired_replicas"] = s.desired;
      o["reason"] = s.reason;
      o["limited_by"] = s.limited_by.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.limited_by);
      arr.push_back(o);
    }
    nlohmann::ordered_json out;
    out["timeline"] = arr;
    out["final_replicas"] = steps->empty() ? opt.initial_replicas : steps->back().desired;
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (args->Has("plot")) {
    std::ofstream f(args->Get("plot"));
    if (!f) return Fail("autoscale simulate", args->Get("plot") + ": cannot write");
    f << autoscale::SimulationToSvg(*steps, "HPA simulation: " + csv_path);
    if (!f) return Fail("autoscale simulate", args->Get("plot") + ": write failed", 1);
  }
  return 0;
}

int RunAutoscale(const Argv& argv) {
  static const char* kUsage =
      "usage: allot autoscale eval INPUT [--json]\n"
      "       allot autoscale simulate --hpa HPA.yaml USAGE.csv [--format json|table] [--json] [--plot "
      "out.svg]\n\n"
      "Kubernetes-exact HPA arithmetic (eval) and an HPA run against a usage time series (simulate).\n"
      "Run `allot autoscale eval --help` or `allot autoscale simulate --help` for details.\n";
  if (argv.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& sub = argv[0];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << kUsage;
    return 0;
  }
  Argv rest(argv.begin() + 1, argv.end());
  if (sub == "eval") return RunEval(rest);
  if (sub == "simulate") return RunSimulate(rest);
  return Fail("autoscale", "unknown subcommand \"" + sub + "\" (eval, simulate)");
}

}  // namespace
ALLOT_COMMAND("autoscale", "Kubernetes-exact HPA arithmetic (eval) and HPA simulation over a usage series", RunAutoscale);
}  // namespace allot::cli
