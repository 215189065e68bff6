// VPA-like right-sizing from usage samples.
//
// Method (after the VPA recommender, pkg/recommender/util/histogram.go and logic/):
//  * CPU: a decaying-weight histogram with exponential buckets (first bucket 10m, each 5 % wider than the
//    last). A sample at time t weighs 2^((t − t_last) / half_life); the target is the configured percentile
//    (the upper end of the bucket where the cumulative weight reaches percentile × total), times
//    (1 + cpu_margin).
//  * Memory: the peak of each aggregation interval (24 h by default, aligned to the first sample) goes into
//    a decaying histogram with buckets from 10 MB, 5 % wider each; the target is its memory_percentile
//    (1.0: the highest peak's bucket end) times (1 + memory_margin).
//  * Minimums: at least min_cpu_milli and min_memory_bytes; memory is rounded up to whole MiB.
//  * Limits keep today's limit/request ratio when the manifest has both (as VPA does), or use the
//    configured ratio.
//  * Confidence (VPA's rule): days = min(span in days, samples / 1440), i.e. one sample a minute is one
//    full day; score = min(1, days / 7); "high" from 7 days, "medium" from 1 day, else "low".
//  * Savings: (today's request − recommended) × replicas × hourly price × 730 h, cpu and memory.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "allot/autoscale.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "autoscale/yaml_util.h"

namespace allot::autoscale {
namespace {

// Exponential buckets: bucket i starts at first * (ratio^i − 1) / (ratio − 1).
class DecayingHistogram {
 public:
  DecayingHistogram(double first_bucket, double ratio, double max_value)
      : first_(first_bucket), ratio_(ratio) {
    num_ = static_cast<int>(std::ceil(std::log(max_value * (ratio - 1) / first_bucket + 1) / std::log(ratio))) + 1;
    weights_.assign(static_cast<size_t>(num_), 0.0);
  }
  double BucketStart(int i) const { return first_ * (std::pow(ratio_, i) - 1) / (ratio_ - 1); }
  int FindBucket(double v) const {
    if (v < first_) return 0;
    int b = static_cast<int>(std::floor(std::log(v * (ratio_ - 1) / first_ + 1) / std::log(ratio_)));
    // Guard against rounding at bucket boundaries.
    while (b + 1 < num_ && BucketStart(b + 1) <= v) b++;
    while (b > 0 && BucketStart(b) > v) b--;
    return std::min(b, num_ - 1);
  }
  void Add(double v, double w) {
    weights_[static_cast<size_t>(FindBucket(v))] += w;
    total_ += w;
  }
  // The end of the bucket where the cumulative weight reaches p × total (the start of the last bucket).
  double Percentile(double p) const {
    if (total_ <= 0) return 0;
    double threshold = p * total_, sum = 0;
    int b = 0;
    for (; b < num_ - 1; b++) {
      sum += weights_[static_cast<size_t>(b)];
      if (sum >= threshold * (1 - 1e-12)) break;
    }
    return b < num_ - 1 ? BucketStart(b + 1) : BucketStart(b);
  }

 private:
  double first_, ratio_;
  int num_ = 0;
  std::vector<double> weights_;
  double total_ = 0;
};

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') cur += c;
  }
  out.push_back(cur);
  for (auto& s : out) {
    size_t b = s.find_first_not_of(" \t");
    size_t e = s.find_last_not_of(" \t");
    s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  }
  return out;
}

std::string Key(const std::string& ns, const std::string& w, const std::string& c) {
  return ns + "/" + w + "/" + c;
}

}  // namespace

std::optional<double> ParseTimeSeconds(std::string_view text) {
  const std::string s(text);
  try {
    size_t pos = 0;
    double v = std::stod(s, &pos);
    if (pos == s.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  std::tm tm{};
  int y, mo, d, h, mi;
  double sec;
  char tail[16] = {0};
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%lf%15s", &y, &mo, &d, &h, &mi, &sec, tail) < 6)
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || !(sec >= 0 && sec < 61))
    return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = 0;
  double t = static_cast<double>(timegm(&tm)) + sec;
  std::string z = tail;
  if (!z.empty() && z != "Z" && z != "z") {
    int oh = 0, om = 0;
    char sign = z[0];
    if ((sign != '+' && sign != '-') || std::sscanf(z.c_str() + 1, "%d:%d", &oh, &om) != 2)
      return std::nullopt;
    double off = oh * 3600.0 + om * 60.0;
    t += sign == '+' ? -off : off;
  }
  return t;
}

Result<std::vector<UsageSample>> ParseUsageSamples(std::string_view csv, std::string_view source) {
  std::istringstream in{std::string(csv)};
  std::string line;
  std::vector<std::string> header;
  std::map<std::string, size_t> col;
  std::vector<UsageSample> out;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    std::string where = std::string(source) + ":" + std::to_string(n) + ": ";
    if (auto bad = internal::CsvUtf8Problem(line, header); !bad.empty()) return InvalidArgument(where + bad);
    auto cells = SplitCsv(line);
    if (header.empty()) {
      header = cells;
      for (size_t i = 0; i < header.size(); i++) col[header[i]] = i;
      for (const char* need : {"time", "namespace", "workload", "container", "cpu", "memory"})
        if (!col.count(need))
          return InvalidArgument(where + "missing column `" + need + "` (header: time,namespace,workload,container,cpu,memory)");
      continue;
    }
    if (cells.size() != header.size())
      return InvalidArgument(where + "expected " + std::to_string(header.size()) + " columns, got " + std::to_string(cells.size()));
    UsageSample s;
    auto time = ParseTimeSeconds(cells[col["time"]]);
    if (time) s.time = *time;
    if (!time)
      return InvalidArgument(where + "time: not seconds or RFC 3339: \"" + cells[col["time"]] + "\"");
    s.ns = cells[col["namespace"]].empty() ? "default" : cells[col["namespace"]];
    s.workload = cells[col["workload"]];
    s.container = cells[col["container"]];
    if (s.workload.empty() || s.container.empty()) return InvalidArgument(where + "workload and container must not be empty");
    auto cpu = ParseQuantity(cells[col["cpu"]]);
    if (!cpu.ok()) return InvalidArgument(where + "cpu: " + cpu.error().message);
    auto mem = ParseQuantity(cells[col["memory"]]);
    if (!mem.ok()) return InvalidArgument(where + "memory: " + mem.error().message);
    if (cpu->Milli() < 0 || mem->Value() < 0) return InvalidArgument(where + "cpu and memory must not be negative");
    s.cpu_milli = cpu->Milli();
    s.memory_bytes = mem->Value();
    out.push_back(std::move(s));
  }
  if (out.empty()) return InvalidArgument(std::string(source) + ": no usage samples");
  return out;
}

std::vector<ContainerRecommendation> Recommend(const std::vector<UsageSample>& samples,
                                               const std::map<std::string, CurrentResources>& current,
                                               const RecommendOptions& opt) {
  std::map<std::string, std::vector<const UsageSample*>> groups;
  for (const auto& s : samples) groups[Key(s.ns, s.workload, s.container)].push_back(&s);
  std::vector<ContainerRecommendation> out;
  for (auto& [key, group] : groups) {
    std::stable_sort(group.begin(), group.end(), [](auto* a, auto* b) { return a->time < b->time; });
    ContainerRecommendation r;
    r.ns = group.front()->ns;
    r.workload = group.front()->workload;
    r.container = group.front()->container;
    r.samples = static_cast<int64_t>(group.size());
    double t_first = group.front()->time, t_last = group.back()->time;
    r.span_seconds = t_last - t_first;
    auto weight = [&](double t) { return std::exp2((t - t_last) / opt.half_life_seconds); };

    DecayingHistogram cpu(0.01, 1.05, 1000.0);  // cores
    for (const auto* s : group) cpu.Add(static_cast<double>(s->cpu_milli) / 1000.0, weight(s->time));
    // Memory: peaks per interval.
    std::map<int64_t, std::pair<int64_t, double>> peaks;  // interval -> (peak, time of peak)
    for (const auto* s : group) {
      auto idx = static_cast<int64_t>(std::floor((s->time - t_first) / opt.memory_peak_interval_seconds));
      auto& p = peaks[idx];
      if (s->memory_bytes >= p.first) p = {s->memory_bytes, s->time};
    }
    DecayingHistogram mem(1e7, 1.05, 1e15);  // bytes
    int64_t max_peak = 0;
    for (const auto& [idx, p] : peaks) {
      mem.Add(static_cast<double>(p.first), weight(p.second));
      max_peak = std::max(max_peak, p.first);
    }
    r.cpu_percentile_milli = SaturatingCast(std::ceil(cpu.Percentile(opt.cpu_percentile) * 1000.0 - 1e-9));
    r.memory_peak_bytes = SaturatingCast(std::ceil(mem.Percentile(opt.memory_percentile) - 1e-6));
    r.cpu_request_milli = std::max<int64_t>(
        opt.min_cpu_milli,
        SaturatingCast(std::ceil(static_cast<double>(r.cpu_percentile_milli) * (1 + opt.cpu_margin) - 1e-9)));
    // Memory is rounded up to whole MiB so that manifests read well ("363Mi").
    const int64_t kMiB = 1024 * 1024;
    int64_t with_margin =
        SaturatingCast(std::ceil(static_cast<double>(r.memory_peak_bytes) * (1 + opt.memory_margin) - 1e-6));
    r.memory_request_bytes = std::max<int64_t>(opt.min_memory_bytes, SaturatingAdd(with_margin, kMiB - 1) / kMiB * kMiB);

    double days = std::min(r.span_seconds / 86400.0, static_cast<double>(r.samples) / 1440.0);
    r.confidence_score = std::min(1.0, days / 7.0);
    r.confidence = days >= 7 ? "high" : days >= 1 ? "medium" : "low";

    auto it = current.find(key);
    if (it != current.end()) {
      r.current = it->second;
      const auto& c = it->second;
      if (c.cpu_limit_milli && c.cpu_request_milli && *c.cpu_request_milli > 0)
        r.cpu_limit_milli = SaturatingCast(
            std::ceil(static_cast<double>(r.cpu_request_milli) * static_cast<double>(*c.cpu_limit_milli) /
                      static_cast<double>(*c.cpu_request_milli)));
      if (c.memory_limit_bytes && c.memory_request_bytes && *c.memory_request_bytes > 0)
        r.memory_limit_bytes = SaturatingCast(std::ceil(static_cast<double>(r.memory_request_bytes) *
                                                        static_cast<double>(*c.memory_limit_bytes) /
                                                        static_cast<double>(*c.memory_request_bytes)));
      double hours = 730.0 * c.replicas;
      if (c.cpu_request_milli)
        r.monthly_savings += static_cast<double>(*c.cpu_request_milli - r.cpu_request_milli) / 1000.0 *
                             opt.cpu_cost_per_core_hour * hours;
      if (c.memory_request_bytes)
        r.monthly_savings += static_cast<double>(*c.memory_request_bytes - r.memory_request_bytes) /
                             (1024.0 * 1024 * 1024) * opt.memory_cost_per_gib_hour * hours;
    }
    if (opt.limit_ratio_cpu > 0)
      r.cpu_limit_milli =
          SaturatingCast(std::ceil(static_cast<double>(r.cpu_request_milli) * opt.limit_ratio_cpu));
    if (opt.limit_ratio_memory > 0)
      r.memory_limit_bytes =
          SaturatingCast(std::ceil(static_cast<double>(r.memory_request_bytes) * opt.limit_ratio_memory));
    out.push_back(std::move(r));
  }
  return out;
}

std::string RecommendationsToJson(const std::vector<ContainerRecommendation>& recs, int indent) {
  using J = nlohmann::ordered_json;
  J arr = J::array();
  double savings = 0;
  auto opt = [](const std::optional<int64_t>& v) { return v ? J(*v) : J(nullptr); };
  for (const auto& r : recs) {
    J o;
    o["namespace"] = r.ns;
    o["workload"] = r.workload;
    o["container"] = r.container;
    o["samples"] = r.samples;
    o["span_seconds"] = r.span_seconds;
    o["confidence"] = r.confidence;
    o["confidence_score"] = std::round(r.confidence_score * 1000) / 1000;
    o["recommended"] = {{"requests", {{"cpu", r.cpu_request_milli}, {"memory", r.memory_request_bytes}}},
                        {"limits", {{"cpu", opt(r.cpu_limit_milli)}, {"memory", opt(r.memory_limit_bytes)}}}};
    o["observed"] = {{"cpu_percentile", r.cpu_percentile_milli}, {"memory_peak", r.memory_peak_bytes}};
    if (r.current) {
      const auto& c = *r.current;
      o["current"] = {{"requests", {{"cpu", opt(c.cpu_request_milli)}, {"memory", opt(c.memory_request_bytes)}}},
                      {"limits", {{"cpu", opt(c.cpu_limit_milli)}, {"memory", opt(c.memory_limit_bytes)}}},
                      {"replicas", c.replicas},
                      {"source", c.source}};
      o["change"] = {{"cpu", c.cpu_request_milli ? J(r.cpu_request_milli - *c.cpu_request_milli) : J(nullptr)},
                     {"memory", c.memory_request_bytes ? J(r.memory_request_bytes - *c.memory_request_bytes) : J(nullptr)}};
    } else {
      o["current"] = nullptr;
      o["change"] = nullptr;
    }
    o["monthly_savings"] = std::round(r.monthly_savings * 100) / 100;
    savings += r.monthly_savings;
    arr.push_back(o);
  }
  J out;
  out["containers"] = arr;
  out["total_monthly_savings"] = std::round(savings * 100) / 100;
  return out.dump(indent, ' ', false, J::error_handler_t::replace);
}

std::string RecommendationsToTable(const std::vector<ContainerRecommendation>& recs, bool markdown) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAMESPACE", "WORKLOAD", "CONTAINER", "CPU", "MEMORY", "CURRENT CPU", "CURRENT MEMORY", "SAVINGS/MO",
                  "CONFIDENCE"});
  auto cpu = [](const std::optional<int64_t>& v) { return v ? FormatMilli(*v) : std::string("-"); };
  auto mem = [](const std::optional<int64_t>& v) { return v ? FormatBytesTable(*v) : std::string("-"); };
  for (const auto& r : recs) {
    std::ostringstream sav;
    sav << std::fixed << std::setprecision(2) << r.monthly_savings;
    rows.push_back({r.ns, r.workload, r.container, FormatMilli(r.cpu_request_milli),
                    FormatBytesTable(r.memory_request_bytes),
                    r.current ? cpu(r.current->cpu_request_milli) : "-",
                    r.current ? mem(r.current->memory_request_bytes) : "-", r.current ? sav.str() : "-",
                    r.confidence + " (" + std::to_string(r.samples) + ")"});
  }
  std::ostringstream o;
  if (markdown) {
    for (size_t i = 0; i < rows.size(); i++) {
      o << "|";
      for (const auto& c : rows[i]) o << " " << c << " |";
      o << "\n";
      if (i == 0) {
        o << "|";
        for (size_t k = 0; k < rows[0].size(); k++) o << " --- |";
        o << "\n";
      }
    }
    return o.str();
  }
  std::vector<size_t> w(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t k = 0; k < r.size(); k++) w[k] = std::max(w[k], r[k].size());
  for (const auto& r : rows) {
    for (size_t k = 0; k < r.size(); k++) o << std::left << std::setw(static_cast<int>(w[k] + 2)) << r[k];
    o << "\n";
  }
  return o.str();
}

std::string RecommendationsToPatch(const std::vector<ContainerRecommendation>& recs) {
  // One strategic-merge patch per workload, with all its containers.
  std::map<std::string, std::vector<const ContainerRecommendation*>> by_workload;
  for (const auto& r : recs) by_workload[r.ns + "/" + r.workload].push_back(&r);
  std::ostringstream o;
  for (const auto& [key, list] : by_workload) {
    const auto* first = list.front();
    std::string kind = first->current ? first->current->kind : "Deployment";
    nlohmann::ordered_json containers = nlohmann::ordered_json::array();
    for (const auto* r : list) {
      nlohmann::ordered_json res;
      res["requests"] = {{"cpu", FormatMilli(r->cpu_request_milli)},
                         {"memory", FormatBytesExact(r->memory_request_bytes)}};
      if (r->cpu_limit_milli || r->memory_limit_bytes) {
        nlohmann::ordered_json lim = nlohmann::ordered_json::object();
        if (r->cpu_limit_milli) lim["cpu"] = FormatMilli(*r->cpu_limit_milli);
        if (r->memory_limit_bytes) lim["memory"] = FormatBytesExact(*r->memory_limit_bytes);
        res["limits"] = lim;
      }
      containers.push_back({{"name", r->container}, {"resources", res}});
    }
    nlohmann::ordered_json pod_spec = {{"containers", containers}};
    nlohmann::ordered_json body;
    if (kind == "Pod") body = {{"spec", pod_spec}};
    else if (kind == "CronJob") body = {{"spec", {{"jobTemplate", {{"spec", {{"template", {{"spec", pod_spec}}}}}}}}}};
    else body = {{"spec", {{"template", {{"spec", pod_spec}}}}}};
    std::string lower = kind;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    o << "kubectl patch " << lower << " " << first->workload << " -n " << first->ns << " --type strategic -p '"
      << body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "'\n";
  }
  return o.str();
}

}  // namespace allot::autoscale
