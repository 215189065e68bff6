// allot recommend USAGE [--format table|json|markdown] [--manifests PATH] [--emit patch] [--prometheus URL]
// module: autoscale
#include <cmath>
#include <ctime>
#include <iostream>
#include <tuple>

#include "allot/autoscale.h"
#include "allot/duration.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

Result<double> Number(const ParsedArgs& a, const std::string& name, double fallback) {
  if (!a.Has(name)) return fallback;
  try {
    size_t pos = 0;
    std::string s = a.Get(name);
    double v = std::stod(s, &pos);
    if (pos != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    return InvalidArgument("--" + name + ": not a number: \"" + a.Get(name) + "\"");
  }
}

// A duration flag in seconds (a plain number is seconds): "30s", "15m", "24h", "7d", "1h30m".
Result<double> Seconds(const ParsedArgs& a, const std::string& name, const std::string& fallback) {
  auto ms = ParseDurationFlag(name, a.Get(name, fallback));
  if (!ms.ok()) return ms.error();
  return static_cast<double>(*ms) / 1000;
}

// --end: an RFC 3339 time or Unix seconds; now when not given.
Result<double> End(const ParsedArgs& a) {
  if (!a.Has("end")) return static_cast<double>(std::time(nullptr));
  auto t = autoscale::ParseTimeSeconds(a.Get("end"));
  if (!t) {
    return InvalidArgument("--end \"" + QuoteForError(a.Get("end")) +
                           "\": not a time (use RFC 3339, 2026-12-07T10:00:00Z or with an offset "
                           "2026-12-07T11:00:00+01:00, or Unix seconds, 1796637600)");
  }
  return *t;
}

// --min-cpu / --min-memory: a quantity ("25m", "0.1"; "250Mi", "1G"); a plain integer keeps the unit the
// flag always took (millicores, bytes).
Result<int64_t> Minimum(const ParsedArgs& a, const std::string& name, const std::string& resource,
                        int64_t fallback) {
  if (!a.Has(name)) return fallback;
  std::string text = a.Get(name);
  bool plain = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  auto v = ParseResourceAmount(resource, plain && resource == "cpu" ? text + "m" : text);
  if (!v.ok()) return InvalidArgument("--" + name + " " + v.error().message);
  return *v;
}

int RunRecommend(const Argv& argv) {
  ArgParser p("recommend", "USAGE.csv [options] | --prometheus URL [options]",
              "Right-sizes containers from observed usage, like the VPA recommender: a decaying-weight CPU\n"
              "histogram (half-life 24h) at a percentile plus a safety margin, memory from daily peaks plus a\n"
              "margin, minimums of 25m / 250Mi. USAGE.csv columns: time,namespace,workload,container,cpu,memory.\n"
              "JSON amounts: cpu in millicores, memory in bytes.");
  p.Option("format", "FMT", "table (default), json or markdown")
      .Flag("json", "print JSON (--format json; cpu in millicores, memory in bytes)")
      .Option("manifests", "PATH", "Kubernetes YAML (file or directory, repeatable) with today's requests")
      .Option("emit", "WHAT", "`patch`: print kubectl patch commands instead of the report")
      .Option("cpu-percentile", "P", "CPU percentile, 0-100 (default 95)")
      .Option("memory-percentile", "P", "percentile of daily memory peaks, 0-100 (default 100: the peak)")
      .Option("cpu-margin", "F", "CPU safety margin fraction (default 0.15)")
      .Option("memory-margin", "F", "memory safety margin fraction (default 0.15)")
      .Option("half-life", "D", "weight half-life: 24h (default), 12h, 3d; a plain number is seconds")
      .Option("min-cpu", "Q", "minimum cpu request: 25m (default), 0.1; a plain integer is millicores")
      .Option("min-memory", "Q", "minimum memory request: 250Mi (default), 1Gi; a plain integer is bytes")
      .Option("prometheus", "URL", "query a Prometheus HTTP API (loopback) instead of reading USAGE.csv")
      .Option("range", "D", "with --prometheus: how far back to query (default 7d)")
      .Option("end", "TIME", "with --prometheus: end of the range, RFC 3339 or Unix seconds (default now)")
      .Option("step", "D", "with --prometheus: query resolution (default 5m)")
      .Option("rate-window", "D", "with --prometheus: rate() window (default 5m)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  autoscale::RecommendOptions opt;
  for (auto [name, field, scale] : {std::tuple{"cpu-percentile", &opt.cpu_percentile, 100.0},
                                    {"memory-percentile", &opt.memory_percentile, 100.0},
                                    {"cpu-margin", &opt.cpu_margin, 1.0},
                                    {"memory-margin", &opt.memory_margin, 1.0}}) {
    auto v = Number(*args, name, *field * scale);
    if (!v.ok()) return Fail("recommend", v.error());
    *field = *v / scale;
  }
  if (!(opt.cpu_percentile > 0 && opt.cpu_percentile <= 1) || !(opt.memory_percentile > 0 && opt.memory_percentile <= 1))
    return Fail("recommend", "percentiles must be in (0, 100]");
  if (!(opt.cpu_margin >= 0) || !(opt.memory_margin >= 0)) return Fail("recommend", "margins must be >= 0");
  if (args->Has("half-life")) {
    auto d = Seconds(*args, "half-life", "24h");
    if (!d.ok()) return Fail("recommend", d.error());
    if (!(*d > 0)) return Fail("recommend", "--half-life: must be longer than 0s");
    opt.half_life_seconds = *d;
  }
  auto min_cpu = Minimum(*args, "min-cpu", "cpu", opt.min_cpu_milli);
  if (!min_cpu.ok()) return Fail("recommend", min_cpu.error());
  auto min_mem = Minimum(*args, "min-memory", "memory", opt.min_memory_bytes);
  if (!min_mem.ok()) return Fail("recommend", min_mem.error());
  opt.min_cpu_milli = *min_cpu;
  opt.min_memory_bytes = *min_mem;
  auto output = OutputFormat(*args, "table", {"table", "json", "markdown"});
  if (!output.ok()) return Fail("recommend", output.error());
  const std::string format = *output;
  if (args->Has("emit") && args->Get("emit") != "patch") return Fail("recommend", "--emit takes `patch`");

  std::vector<autoscale::UsageSample> samples;
  if (args->Has("prometheus")) {
    if (!args->positionals.empty()) return Fail("recommend", "give either USAGE.csv or --prometheus, not both");
    autoscale::PrometheusQuery q;
    q.url = args->Get("prometheus");
    auto range = Seconds(*args, "range", "7d");
    if (!range.ok()) return Fail("recommend", range.error());
    auto step = Seconds(*args, "step", "5m");
    if (!step.ok()) return Fail("recommend", step.error());
    if (!(*step > 0)) return Fail("recommend", "--step: must be longer than 0s");
    auto window = ParseDurationFlag("rate-window", args->Get("rate-window", "5m"), 1000, 1);
    if (!window.ok()) return Fail("recommend", window.error());
    auto end = End(*args);
    if (!end.ok()) return Fail("recommend", end.error());
    q.end = *end;
    q.start = q.end - *range;
    q.step = *step;
    // As PromQL writes durations: "5m", "1h30m"; a fraction of a second in milliseconds.
    q.rate_window = *window % 1000 == 0 ? FormatDurationMs(*window) : std::to_string(*window) + "ms";
    auto s = autoscale::FetchPrometheusSamples(q);
    if (!s.ok()) return Fail("recommend", s.error());
    if (s->empty()) return Fail("recommend", "prometheus returned no container samples in the range", 1);
    samples = std::move(*s);
  } else {
    if (args->positionals.size() != 1) return Fail("recommend", "expected one USAGE.csv (or --prometheus URL)");
    const std::string& path = args->positionals[0];
    auto text = ReadFileOrStdin(path);
    if (!text.ok()) return Fail("recommend", text.error());
    auto s = autoscale::ParseUsageSamples(*text, path == "-" ? "<stdin>" : path);
    if (!s.ok()) return Fail("recommend", s.error());
    samples = std::move(*s);
  }
  std::map<std::string, autoscale::CurrentResources> current;
  if (args->Has("manifests")) {
    auto m = autoscale::LoadManifestResources(args->GetAll("manifests"));
    if (!m.ok()) return Fail("recommend", m.error());
    current = std::move(*m);
  }
  auto recs = autoscale::Recommend(samples, current, opt);
  if (args->Has("emit")) std::cout << autoscale::RecommendationsToPatch(recs);
  else if (format == "json") std::cout << autoscale::RecommendationsToJson(recs) << "\n";
  else std::cout << autoscale::RecommendationsToTable(recs, format == "markdown");
  return 0;
}

}  // namespace
ALLOT_COMMAND("recommend", "right-size container requests from observed usage (CSV or Prometheus), VPA-like",
              RunRecommend);
}  // namespace allot::cli
