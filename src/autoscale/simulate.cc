// `allot autoscale simulate`: the HPA controller run against a usage time series.
//
// Every sync period the controller reconciles with the latest sample at or before that time. Each
// column's total is spread evenly over the replicas of the moment (all Running and Ready, requests from
// the options), so a Utilization target sees total / (replicas × request). New replicas are ready at
// once (a simplification: real pods take time to start). The controller's memory (unstabilised
// recommendations and scale events) is kept between reconciles exactly as horizontal.go keeps it.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "allot/autoscale.h"
#include "allot/quantity.h"
#include "autoscale/yaml_util.h"

namespace allot::autoscale {
namespace {

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  for (auto& s : out) {
    size_t b = s.find_first_not_of(" \t\"");
    size_t e = s.find_last_not_of(" \t\"");
    s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  }
  return out;
}

}  // namespace

Result<std::vector<UsagePoint>> ParseUsageSeries(std::string_view csv, std::string_view source) {
  std::istringstream in{std::string(csv)};
  std::string line;
  std::vector<std::string> header;
  std::vector<UsagePoint> out;
  int line_no = 0;
  while (std::getline(in, line)) {
    line_no++;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    std::string where = std::string(source) + ":" + std::to_string(line_no) + ": ";
    if (auto bad = internal::CsvUtf8Problem(line, header); !bad.empty()) return InvalidArgument(where + bad);
    auto cells = SplitCsvLine(line);
    if (header.empty()) {
      header = cells;
      if (header.empty() || header[0] != "time")
        return InvalidArgument(where + "the first column must be `time` (header: time,cpu,...)");
      if (header.size() < 2) return InvalidArgument(where + "at least one metric column is needed after `time`");
      continue;
    }
    if (cells.size() != header.size())
      return InvalidArgument(where + "expected " + std::to_string(header.size()) + " columns, got " + std::to_string(cells.size()));
    UsagePoint p;
    try {
      size_t pos = 0;
      p.time = std::stod(cells[0], &pos);
      if (pos != cells[0].size() || !std::isfinite(p.time)) throw std::invalid_argument("time");
    } catch (const std::exception&) {
      return InvalidArgument(where + "time: not a number: \"" + cells[0] + "\"");
    }
    if (!out.empty() && !(p.time > out.back().time))
      return InvalidArgument(where + "time: the series must be strictly increasing (" + cells[0] + " after " +
                             std::to_string(out.back().time) + ")");
    for (size_t i = 1; i < cells.size(); i++) {
      auto q = ParseQuantity(cells[i]);
      if (!q.ok()) return InvalidArgument(where + header[i] + ": " + q.error().message);
      if (q->Milli() < 0) return InvalidArgument(where + header[i] + ": must not be negative");
      p.totals_milli[header[i]] = q->Milli();
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) return InvalidArgument(std::string(source) + ": the usage series is empty (no data rows)");
  return out;
}

Result<std::vector<SimulationStep>> Simulate(const HpaSpec& spec, const std::vector<UsagePoint>& series,
                                             const SimulationOptions& options) {
  if (series.empty()) return InvalidArgument("the usage series is empty");
  for (size_t i = 1; i < series.size(); i++)
    if (!(series[i].time > series[i - 1].time)) return InvalidArgument("the usage series must be strictly increasing in time");
  if (!(options.sync_period_seconds > 0)) return InvalidArgument("sync period must be > 0");
  std::map<std::string, int64_t> requests = options.pod_requests_milli;
  if (requests.empty()) requests["cpu"] = 1000;

  struct Stamped {
    double time;
    int32_t value;
  };
  std::vector<Stamped> recommendations, events;
  int32_t replicas = options.initial_replicas;
  std::vector<SimulationStep> steps;
  size_t idx = 0;
  double t0 = series.front().time, t_end = series.back().time;
  const double kMaxSteps = 1e6;
  if ((t_end - t0) / options.sync_period_seconds > kMaxSteps)
    return InvalidArgument("the series spans too many sync periods (over 1e6); use a longer --sync-period");
  for (int64_t k = 0;; k++) {
    double t = t0 + static_cast<double>(k) * options.sync_period_seconds;
    if (t > t_end + 1e-9) break;
    while (idx + 1 < series.size() && series[idx + 1].time <= t) idx++;
    const UsagePoint& point = series[idx];

    HpaInput in;
    in.spec = spec;
    in.current_replicas = replicas;
    in.options = options.hpa;
    for (int32_t i = 0; i < replicas; i++) {
      PodState pod;
      pod.name = "pod-" + std::to_string(i);
      pod.requests_milli = requests;
      for (const auto& [name, total] : point.totals_milli) {
        // An even split; the remainder goes to the first pods so the total is exact.
        int64_t share = total / replicas + (i < total % replicas ? 1 : 0);
        pod.usage_milli[name] = share;
        pod.metrics_milli[name] = share;
      }
      in.pods.push_back(std::move(pod));
    }
    for (const auto& [name, total] : point.totals_milli) {
      in.object_metrics_milli[name] = {total};
      in.external_metrics_milli[name] = {total};
    }
    // Whole seconds, in the nanoseconds TimedValue holds.
    auto age = [t](double when) { return static_cast<int64_t>(std::floor(t - when)) * 1'000'000'000; };
    for (const auto& r : recommendations) in.recommendations.push_back({age(r.time), r.value});
    for (const auto& e : events) in.scale_events.push_back({age(e.time), e.value});

    auto d = EvaluateHpa(in);
    if (!d.ok()) {
      std::ostringstream at;
      at << "at time " << t << ": " << d.error().message;
      return InvalidArgument(at.str());
    }
    SimulationStep step;
    step.time = t;
    step.replicas = replicas;
    step.desired = d->desired_replicas;
    step.reason = d->reason;
    step.limited_by = d->limited_by;
    step.totals_milli = point.totals_milli;
    steps.push_back(step);

    if (d->metric_replicas) recommendations.push_back({t, *d->metric_replicas});
    if (d->desired_replicas != replicas) {
      if (spec.behavior) events.push_back({t, d->desired_replicas - replicas});
      replicas = d->desired_replicas;
    }
    // Forget what no window can see any more (the controller reuses such slots).
    double keep = 3600 + 1800 + options.hpa.downscale_stabilization_seconds;
    auto old = [&](const Stamped& s) { return t - s.time > keep; };
    recommendations.erase(std::remove_if(recommendations.begin(), recommendations.end(), old), recommendations.end());
    events.erase(std::remove_if(events.begin(), events.end(), old), events.end());
  }
  return steps;
}

std::string SimulationToSvg(const std::vector<SimulationStep>& steps, const std::string& title) {
  const double w = 900, h = 420, ml = 60, mr = 70, mt = 40, mb = 50;
  const double pw = w - ml - mr, ph = h - mt - mb;
  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  auto esc = [](const std::string& s) {
    std::string r;
    for (char c : s) {
      if (c == '<') r += "&lt;";
      else if (c == '>') r += "&gt;";
      else if (c == '&') r += "&amp;";
      else if (c == '"') r += "&quot;";
      else r += c;
    }
    return r;
  };
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" viewBox=\"0 0 " << w << " "
    << h << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << ml << "\" y=\"24\" font-size=\"15\">" << esc(title) << "</text>\n";
  if (steps.empty()) {
    o << "</svg>\n";
    return o.str();
  }
  double t0 = steps.front().time, t1 = steps.back().time;
  if (t1 <= t0) t1 = t0 + 1;
  int32_t max_r = 1;
  for (const auto& s : steps) max_r = std::max({max_r, s.replicas, s.desired});
  std::string metric = steps.front().totals_milli.empty() ? "" : steps.front().totals_milli.begin()->first;
  int64_t max_m = 1;
  for (const auto& s : steps)
    if (auto it = s.totals_milli.find(metric); it != s.totals_milli.end()) max_m = std::max(max_m, it->second);
  auto x = [&](double t) { return ml + (t - t0) / (t1 - t0) * pw; };
  auto yr = [&](double r) { return mt + ph - r / (max_r * 1.1) * ph; };
  auto ym = [&](double m) { return mt + ph - m / (max_m * 1.1) * ph; };
  // Axes and grid.
  o << "<g stroke=\"#ccc\">\n";
  for (int i = 0; i <= 5; i++) {
    double r = max_r * 1.1 * i / 5;
    o << "<line x1=\"" << ml << "\" x2=\"" << ml + pw << "\" y1=\"" << yr(r) << "\" y2=\"" << yr(r) << "\"/>\n";
  }
  o << "</g>\n<g fill=\"#333\">\n";
  for (int i = 0; i <= 5; i++) {
    double r = max_r * 1.1 * i / 5;
    o << "<text x=\"" << ml - 8 << "\" y=\"" << yr(r) + 4 << "\" text-anchor=\"end\">" << r << "</text>\n";
    double m = max_m * 1.1 * i / 5 / 1000.0;
    o << "<text x=\"" << ml + pw + 8 << "\" y=\"" << ym(m * 1000) + 4 << "\" fill=\"#888\">" << m << "</text>\n";
    double t = t0 + (t1 - t0) * i / 5;
    o << "<text x=\"" << x(t) << "\" y=\"" << mt + ph + 18 << "\" text-anchor=\"middle\">" << t << "</text>\n";
  }
  o << "<text x=\"" << ml + pw / 2 << "\" y=\"" << h - 10 << "\" text-anchor=\"middle\">time (s)</text>\n";
  o << "<text x=\"16\" y=\"" << mt + ph / 2 << "\" transform=\"rotate(-90 16 " << mt + ph / 2
    << ")\" text-anchor=\"middle\">replicas</text>\n";
  o << "</g>\n";
  o << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  // The first metric's total (right axis, in units), then replicas as a step line.
  if (!metric.empty()) {
    o << "<polyline fill=\"none\" stroke=\"#999\" stroke-width=\"1.5\" points=\"";
    for (const auto& s : steps) o << x(s.time) << "," << ym(static_cast<double>(s.totals_milli.at(metric))) << " ";
    o << "\"/>\n";
  }
  o << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2.5\" points=\"";
  for (size_t i = 0; i < steps.size(); i++) {
    const auto& s = steps[i];
    o << x(s.time) << "," << yr(s.replicas) << " ";
    double next = i + 1 < steps.size() ? steps[i + 1].time : s.time;
    o << x(s.time) << "," << yr(s.desired) << " " << x(next) << "," << yr(s.desired) << " ";
  }
  o << "\"/>\n";
  o << "<g font-size=\"12\"><rect x=\"" << ml + 10 << "\" y=\"" << mt + 8 << "\" width=\"12\" height=\"4\" fill=\"#1f77b4\"/>"
    << "<text x=\"" << ml + 28 << "\" y=\"" << mt + 14 << "\">replicas</text>";
  if (!metric.empty())
    o << "<rect x=\"" << ml + 100 << "\" y=\"" << mt + 8 << "\" width=\"12\" height=\"4\" fill=\"#999\"/>"
      << "<text x=\"" << ml + 118 << "\" y=\"" << mt + 14 << "\">" << esc(metric) << " total (right axis)</text>";
  o << "</g>\n</svg>\n";
  return o.str();
}

}  // namespace allot::autoscale
