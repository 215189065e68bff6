#include "server/metrics.h"

#include <charconv>
#include <cmath>

namespace allot::server {

namespace {
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 9e15) {
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    out.append(buf, p);
    return;
  }
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}
}  // namespace

void MetricsWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void MetricsWriter::Labels(LabelList labels) {
  if (labels.size() == 0) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    if (v.find_first_of("\\\"\n") == std::string_view::npos) {
      out_ += v;  // the common case: nothing to escape
    } else {
      for (char c : v) {
        if (c == '\\') out_ += "\\\\";
        else if (c == '"') out_ += "\\\"";
        else if (c == '\n') out_ += "\\n";
        else out_ += c;
      }
    }
    out_ += '"';
  }
  out_ += '}';
}

void MetricsWriter::Sample(std::string_view name, LabelList labels, double value) {
  out_ += name;
  Labels(labels);
  out_ += ' ';
  AppendDouble(out_, value);
  out_ += '\n';
}

void MetricsWriter::SampleInt(std::string_view name, LabelList labels, int64_t value) {
  out_ += name;
  Labels(labels);
  out_ += ' ';
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, p);
  out_ += '\n';
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) i++;
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::Write(MetricsWriter& w, std::string_view name, std::string_view help) const {
  w.Family(name, "histogram", help);
  std::string bucket = std::string(name) + "_bucket";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); i++) {
    cum += counts_[i];
    std::string le;
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, bounds_[i]);
    le.assign(buf, p);
    w.SampleInt(bucket, {{"le", le}}, static_cast<int64_t>(cum));
  }
  cum += counts_.back();
  w.SampleInt(bucket, {{"le", "+Inf"}}, static_cast<int64_t>(cum));
  w.Sample(std::string(name) + "_sum", {}, sum_);
  w.SampleInt(std::string(name) + "_count", {}, static_cast<int64_t>(count_));
}

}  // namespace allot::server
