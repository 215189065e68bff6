// Prometheus text exposition (format 0.0.4): a writer that emits each family's HELP/TYPE once, escapes
// label values, and prints numbers exactly; and a fixed-bucket histogram.
// Thread-safety: MetricsWriter is single-threaded; Histogram is guarded by its owner's lock.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace allot::server {

class MetricsWriter {
 public:
  using LabelList = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  // Starts a family; every sample of it must follow before the next Family().
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, LabelList labels, double value);
  void SampleInt(std::string_view name, LabelList labels, int64_t value);
  std::string& text() { return out_; }
  void Reserve(size_t bytes) { out_.reserve(bytes); }

 private:
  void Labels(LabelList labels);
  std::string out_;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void Observe(double v);
  void Write(MetricsWriter& w, std::string_view name, std::string_view help) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace allot::server
