// Rendering: replay and inflation reports as JSON, text and SVG; workloads as `allot sim` scenarios.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "allot/resources.h"
#include "allot/trace.h"

namespace allot::trace {
namespace {

using nlohmann::json;

double Round(double x, int digits) {
  double f = std::pow(10.0, digits);
  return std::round(x * f) / f;
}

std::string Fixed(double x, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << x;
  return o.str();
}

json SnapJson(const InflationSnapshot& s) {
  return {{"pods_arrived", s.pods_arrived},
          {"pods_placed", s.pods_placed},
          {"arrived_share", Round(s.arrived_share, 6)},
          {"allocated_share", Round(s.allocated_share, 6)},
          {"unallocated_gpus", Round(s.unallocated_gpus, 3)},
          {"fragmented_gpus", Round(s.fragmented_gpus, 3)}};
}

// Mean of one snapshot field over a policy's runs.
struct PolicyMean {
  std::string policy;
  size_t runs = 0;
  InflationSnapshot first, end;
};
std::vector<PolicyMean> Means(const InflationReport& r) {
  std::vector<PolicyMean> out;
  for (const auto& run : r.runs) {
    if (out.empty() || out.back().policy != run.policy) out.push_back(PolicyMean{run.policy, 0, {}, {}});
    PolicyMean& m = out.back();
    m.runs++;
    auto add = [](InflationSnapshot* a, const InflationSnapshot& b) {
      a->pods_arrived += b.pods_arrived;
      a->pods_placed += b.pods_placed;
      a->arrived_share += b.arrived_share;
      a->allocated_share += b.allocated_share;
      a->unallocated_gpus += b.unallocated_gpus;
      a->fragmented_gpus += b.fragmented_gpus;
    };
    add(&m.first, run.first_failure);
    add(&m.end, run.end);
  }
  for (auto& m : out) {
    for (InflationSnapshot* s : {&m.first, &m.end}) {
      double n = static_cast<double>(m.runs);
      s->pods_arrived = static_cast<size_t>(std::llround(static_cast<double>(s->pods_arrived) / n));
      s->pods_placed = static_cast<size_t>(std::llround(static_cast<double>(s->pods_placed) / n));
      s->arrived_share /= n;
      s->allocated_share /= n;
      s->unallocated_gpus /= n;
      s->fragmented_gpus /= n;
    }
  }
  return out;
}

std::string YamlQuote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

std::string Seconds(TimeMs ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string Resources(const ResourceMap& m) {
  std::string o = "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) o += ", ";
    first = false;
    o += k + ": " + YamlQuote(FormatResourceAmount(k, v));
  }
  return o + "}";
}

}  // namespace

std::string ReplayToJson(const std::vector<ReplayReport>& reports) {
  json arr = json::array();
  for (const auto& r : reports) {
    json util = json::object(), timeline = json::array();
    for (const auto& [k, v] : r.utilization) util[k] = Round(v, 6);
    for (const auto& p : r.timeline) {
      json u = json::object();
      for (const auto& [k, v] : p.utilization) u[k] = Round(v, 4);
      timeline.push_back({{"t", Round(p.t_s, 3)}, {"utilization", u}, {"queued", p.queued}, {"running", p.running}});
    }
    arr.push_back({{"trace", r.trace},
                   {"model", r.description},
                   {"scoring", r.scoring},
                   {"backfill", r.backfill},
                   {"jobs", r.jobs},
                   {"started", r.started},
                   {"rejected", r.rejected},
                   {"never_started", r.never_started},
                   {"mean_wait_s", Round(r.mean_wait_s, 3)},
                   {"p50_wait_s", Round(r.p50_wait_s, 3)},
                   {"p99_wait_s", Round(r.p99_wait_s, 3)},
                   {"max_wait_s", Round(r.max_wait_s, 3)},
                   {"mean_bounded_slowdown", Round(r.mean_bounded_slowdown, 4)},
                   {"makespan_s", Round(r.makespan_s, 3)},
                   {"utilization", util},
                   {"peak_nodes_used", r.peak_nodes_used},
                   {"nodes_lower_bound", r.nodes_lower_bound},
                   {"timeline", timeline},
                   {"elapsed_s", Round(r.elapsed_s, 3)}});
  }
  return (reports.size() == 1 ? arr[0] : json{{"runs", arr}}).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string ReplayToText(const std::vector<ReplayReport>& reports) {
  std::ostringstream o;
  for (const auto& r : reports) {
    o << "trace: " << r.trace << "\nmodel: " << r.description << "\n";
    o << "policy: " << r.scoring << ", " << (r.backfill ? "EASY backfill" : "FCFS") << "\n";
    o << "jobs: " << r.jobs << "  started: " << r.started << "  rejected: " << r.rejected
      << "  never started: " << r.never_started << "\n";
    o << "wait (s): mean " << Fixed(r.mean_wait_s, 1) << "  p50 " << Fixed(r.p50_wait_s, 1) << "  p99 "
      << Fixed(r.p99_wait_s, 1) << "  max " << Fixed(r.max_wait_s, 1) << "\n";
    o << "mean bounded slowdown (10 s bound): " << Fixed(r.mean_bounded_slowdown, 3) << "\n";
    o << "utilization (time-weighted):";
    for (const auto& [k, v] : r.utilization) o << "  " << k << " " << Fixed(100 * v, 1) << "%";
    o << "\npacking: peak nodes in use " << r.peak_nodes_used << " vs lower bound " << r.nodes_lower_bound
      << " (sampled)\nmakespan: " << Fixed(r.makespan_s, 0) << " s, replayed in " << Fixed(r.elapsed_s, 2) << " s\n";
    o << "utilization over time:\n  t(s)        ";
    if (!r.timeline.empty())
      for (const auto& [k, v] : r.timeline[0].utilization) o << std::setw(9) << k;
    o << "   queued  running\n";
    for (const auto& p : r.timeline) {
      o << "  " << std::left << std::setw(12) << Fixed(p.t_s, 0) << std::right;
      for (const auto& [k, v] : p.utilization) o << std::setw(8) << Fixed(100 * v, 1) << "%";
      o << std::setw(9) << p.queued << std::setw(9) << p.running << "\n";
    }
    o << "\n";
  }
  if (reports.size() == 2) {
    const auto& a = reports[0];
    const auto& b = reports[1];
    o << "side by side: " << (a.backfill ? "EASY" : "FCFS") << " vs " << (b.backfill ? "EASY" : "FCFS")
      << ": mean wait " << Fixed(a.mean_wait_s, 1) << " s vs " << Fixed(b.mean_wait_s, 1)
      << " s; mean bounded slowdown " << Fixed(a.mean_bounded_slowdown, 3) << " vs "
      << Fixed(b.mean_bounded_slowdown, 3) << "\n";
  }
  return o.str();
}

std::string InflationToJson(const InflationReport& r) {
  json runs = json::array(), summary = json::array();
  for (const auto& run : r.runs) {
    json curve = json::array();
    for (const auto& [x, y] : run.curve) curve.push_back({Round(x, 4), Round(y, 4)});
    runs.push_back({{"policy", run.policy},
                    {"seed", run.seed},
                    {"first_failure", SnapJson(run.first_failure)},
                    {"end", SnapJson(run.end)},
                    {"curve", curve},
                    {"elapsed_s", Round(run.elapsed_s, 3)}});
  }
  for (const auto& m : Means(r))
    summary.push_back({{"policy", m.policy}, {"runs", m.runs}, {"first_failure", SnapJson(m.first)}, {"end", SnapJson(m.end)}});
  json out = {{"trace", r.trace}, {"nodes", r.nodes}, {"gpus", r.gpus}, {"pods", r.pods},
              {"summary", summary}, {"runs", runs}};
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string InflationToText(const InflationReport& r) {
  std::ostringstream o;
  o << "inflation: " << r.nodes << " nodes, " << r.gpus << " GPUs, " << r.pods << " pods sampled with replacement\n";
  auto means = Means(r);
  o << "at the first pod that cannot be placed (mean over " << (means.empty() ? 0 : means[0].runs) << " seed(s)):\n";
  o << "  policy               arrived%  allocated%  unallocated GPUs  fragmented GPUs  pods placed\n";
  for (const auto& m : means) {
    o << "  " << std::left << std::setw(20) << m.policy << std::right << std::setw(9)
      << Fixed(100 * m.first.arrived_share, 2) << std::setw(12) << Fixed(100 * m.first.allocated_share, 2)
      << std::setw(18) << Fixed(m.first.unallocated_gpus, 1) << std::setw(17) << Fixed(m.first.fragmented_gpus, 1)
      << std::setw(13) << m.first.pods_placed << "\n";
  }
  o << "when arrivals reach the end (failed pods dropped):\n";
  o << "  policy               arrived%  allocated%  unallocated GPUs  fragmented GPUs  pods placed\n";
  for (const auto& m : means) {
    o << "  " << std::left << std::setw(20) << m.policy << std::right << std::setw(9)
      << Fixed(100 * m.end.arrived_share, 2) << std::setw(12) << Fixed(100 * m.end.allocated_share, 2)
      << std::setw(18) << Fixed(m.end.unallocated_gpus, 1) << std::setw(17) << Fixed(m.end.fragmented_gpus, 1)
      << std::setw(13) << m.end.pods_placed << "\n";
  }
  return o.str();
}

std::string InflationToSvg(const InflationReport& r) {
  // Allocation % (y) against arrived workload % of GPU capacity (x), one polyline per policy (first seed).
  const double w = 720, h = 480, left = 70, right = 190, top = 40, bottom = 60;
  const double pw = w - left - right, ph = h - top - bottom;
  double xmax = 0;
  for (const auto& run : r.runs)
    for (const auto& [x, y] : run.curve) xmax = std::max(xmax, x);
  xmax = std::max(1.0, std::ceil(xmax * 10) / 10);
  auto X = [&](double x) { return left + pw * x / xmax; };
  auto Y = [&](double y) { return top + ph * (1 - y); };
  static const char* kColors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left << "\" y=\"24\" font-size=\"14\">GPU allocation vs arrived workload (" << r.gpus
    << " GPUs, " << r.nodes << " nodes)</text>\n";
  for (int i = 0; i <= 10; i++) {
    double y = i / 10.0, x = xmax * i / 10.0;
    o << "<line x1=\"" << left << "\" y1=\"" << Y(y) << "\" x2=\"" << left + pw << "\" y2=\"" << Y(y)
      << "\" stroke=\"#eee\"/>\n";
    o << "<text x=\"" << left - 8 << "\" y=\"" << Y(y) + 4 << "\" text-anchor=\"end\">" << i * 10 << "</text>\n";
    o << "<text x=\"" << X(x) << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">"
      << std::llround(100 * x) << "</text>\n";
  }
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << h - 15 << "\" text-anchor=\"middle\">arrived workload (% of GPU capacity)</text>\n";
  o << "<text transform=\"translate(18," << top + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">GPUs allocated (%)</text>\n";
  std::vector<std::string> drawn;
  for (const auto& run : r.runs) {
    if (std::find(drawn.begin(), drawn.end(), run.policy) != drawn.end()) continue;
    const char* color = kColors[drawn.size() % 6];
    drawn.push_back(run.policy);
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"" << X(0) << "," << Y(0);
    for (const auto& [x, y] : run.curve) o << " " << X(x) << "," << Y(y);
    o << "\"/>\n";
    const auto& f = run.first_failure;
    o << "<circle cx=\"" << X(f.arrived_share) << "\" cy=\"" << Y(f.allocated_share) << "\" r=\"4\" fill=\"" << color
      << "\"/>\n";
    double ly = top + 20 + 20 * static_cast<double>(drawn.size() - 1);
    o << "<line x1=\"" << left + pw + 15 << "\" y1=\"" << ly << "\" x2=\"" << left + pw + 40 << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"2\"/>\n";
    o << "<text x=\"" << left + pw + 45 << "\" y=\"" << ly + 4 << "\">" << run.policy << "</text>\n";
  }
  o << "<text x=\"" << left + pw + 15 << "\" y=\"" << top + 30 + 20 * static_cast<double>(drawn.size())
    << "\" font-size=\"10\">dot: first failure</text>\n";
  o << "</svg>\n";
  return o.str();
}

Status WriteScenario(const TraceWorkload& w, const EngineOptions& policy, std::ostream& out) {
  out << "# Generated by `allot trace convert`.\n# " << w.description << "\n";
  out << "policy:\n  scoring: " << policy.scoring << "\n  backfill: " << (policy.backfill ? "true" : "false") << "\n";
  out << "nodes:\n";
  for (const auto& n : w.nodes) {
    out << "  - {name: " << YamlQuote(n.name) << ", capacity: " << Resources(n.capacity);
    if (!n.labels.empty()) {
      out << ", labels: {";
      bool first = true;
      for (const auto& [k, v] : n.labels) {
        out << (first ? "" : ", ") << YamlQuote(k) << ": " << YamlQuote(v);
        first = false;
      }
      out << "}";
    }
    out << "}\n";
  }
  out << "events:\n";
  // Each job holds its estimate as a lease; a shorter actual run is a release at start + run, which a static
  // scenario cannot time, so convert uses the run time as the duration (exact for every trace whose estimate
  // equals its run time, e.g. the NASA log and the Alibaba and Google models).
  for (const auto& j : w.jobs) {
    out << "  - {at: " << Seconds(j.submit) << ", submit: {id: " << YamlQuote(j.id)
        << ", requests: " << Resources(j.requests) << ", duration: " << Seconds(j.run);
    if (j.count > 1) out << ", count: " << j.count;
    if (j.wait) out << ", wait: " << Seconds(*j.wait);
    if (!j.selector.empty()) {
      out << ", selector: {";
      bool first = true;
      for (const auto& [k, v] : j.selector) {
        out << (first ? "" : ", ") << YamlQuote(k) << ": " << YamlQuote(v);
        first = false;
      }
      out << "}";
    }
    out << "}}\n";
  }
  if (!out) return Internal("write failed");
  return Status::Ok();
}

}  // namespace allot::trace
