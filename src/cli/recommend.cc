// allot recommend USAGE [--format table|json|markdown] [--manifests PATH] [--emit patch] [--prometheus URL]
// module: autoscale
#include <cmath>
#include <ctime>
#include <tuple>
#include <iostream>

#include "allot/autoscale.h"
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

// "30s", "15m", "24h", "7d" or plain seconds.
Result<double> Duration(const std::string& s) {
  if (s.empty()) return InvalidArgument("empty duration");
  double mult = 1;
  std::string num = s;
  switch (s.back()) {
    case 's': mult = 1; num.pop_back(); break;
    case 'm': mult = 60; num.pop_back(); break;
    case 'h': mult = 3600; num.pop_back(); break;
    case 'd': mult = 86400; num.pop_back(); break;
    default: break;
  }
  try {
    size_t pos = 0;
    double v = std::stod(num, &pos);
    if (pos != num.size() || !(v >= 0)) throw std::invalid_argument(s);
    return v * mult;
  } catch (const std::exception&) {
    return InvalidArgument("bad duration \"" + s + "\" (use 30s, 15m, 24h, 7d)");
  }
}

int RunRecommend(const Argv& argv) {
  ArgParser p("recommend", "USAGE.csv [options] | --prometheus URL [options]",
              "Right-sizes containers from observed usage, like the VPA recommender: a decaying-weight CPU\n"
              "histogram (half-life 24h) at a percentile plus a safety margin, memory from daily peaks plus a\n"
              "margin, minimums of 25m / 250Mi. USAGE.csv columns: time,namespace,workload,container,cpu,memory.\n"
              "JSON amounts: cpu in millicores, memory in bytes.");
  p.Option("format", "FMT", "table (default), json or markdown")
      .Option("manifests", "PATH", "Kubernetes YAML (file or directory, repeatable) with today's requests")
      .Option("emit", "WHAT", "`patch`: print kubectl patch commands instead of the report")
      .Option("cpu-percentile", "P", "CPU percentile, 0-100 (default 95)")
      .Option("memory-percentile", "P", "percentile of daily memory peaks, 0-100 (default 100: the peak)")
      .Option("cpu-margin", "F", "CPU safety margin fraction (default 0.15)")
      .Option("memory-margin", "F", "memory safety margin fraction (default 0.15)")
      .Option("half-life", "DUR", "weight half-life (default 24h)")
      .Option("min-cpu", "MILLI", "minimum cpu request in millicores (default 25)")
      .Option("min-memory", "BYTES", "minimum memory request in bytes (default 262144000)")
      .Option("prometheus", "URL", "query a Prometheus HTTP API (loopback) instead of reading USAGE.csv")
      .Option("range", "DUR", "with --prometheus: how far back to query (default 7d)")
      .Option("end", "UNIX", "with --prometheus: end of the range (default now)")
      .Option("step", "DUR", "with --prometheus: query resolution (default 5m)")
      .Option("rate-window", "DUR", "with --prometheus: rate() window (default 5m)");
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
    auto d = Duration(args->Get("half-life"));
    if (!d.ok() || !(*d > 0)) return Fail("recommend", "--half-life: " + (d.ok() ? std::string("must be > 0") : d.error().message));
    opt.half_life_seconds = *d;
  }
  auto min_cpu = Number(*args, "min-cpu", static_cast<double>(opt.min_cpu_milli));
  auto min_mem = Number(*args, "min-memory", static_cast<double>(opt.min_memory_bytes));
  if (!min_cpu.ok()) return Fail("recommend", min_cpu.error());
  if (!min_mem.ok()) return Fail("recommend", min_mem.error());
  if (*min_cpu < 0 || *min_mem < 0) return Fail("recommend", "minimums must be >= 0");
  opt.min_cpu_milli = static_cast<int64_t>(*min_cpu);
  opt.min_memory_bytes = static_cast<int64_t>(*min_mem);
  std::string format = args->Get("format", "table");
  if (format != "table" && format != "json" && format != "markdown")
    return Fail("recommend", "--format must be table, json or markdown");
  if (args->Has("emit") && args->Get("emit") != "patch") return Fail("recommend", "--emit takes `patch`");

  std::vector<autoscale::UsageSample> samples;
  if (args->Has("prometheus")) {
    if (!args->positionals.empty()) return Fail("recommend", "give either USAGE.csv or --prometheus, not both");
    autoscale::PrometheusQuery q;
    q.url = args->Get("prometheus");
    auto range = Duration(args->Get("range", "7d"));
    auto step = Duration(args->Get("step", "5m"));
    if (!range.ok()) return Fail("recommend", "--range: " + range.error().message);
    if (!step.ok() || !(*step > 0)) return Fail("recommend", "--step: must be a positive duration");
    auto end = Number(*args, "end", static_cast<double>(std::time(nullptr)));
    if (!end.ok()) return Fail("recommend", end.error());
    q.end = *end;
    q.start = q.end - *range;
    q.step = *step;
    q.rate_window = args->Get("rate-window", "5m");
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
