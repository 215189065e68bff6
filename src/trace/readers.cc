// Streaming readers of the Alibaba GPU v2023, Google 2011 task_events and SWF formats.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>

#include "allot/trace.h"
#include "allot/utf8.h"
#include "trace/line_reader.h"

namespace allot::trace {
namespace {

// "" for a valid UTF-8 line, else which field (1-based, split on commas or blanks) holds the bad byte.
std::string Utf8Problem(std::string_view line) {
  size_t bad = InvalidUtf8Offset(line);
  if (bad == std::string_view::npos) return "";
  size_t field = 1, start = 0;
  bool commas = line.find(',') != std::string_view::npos;
  for (size_t i = 0; i < bad; i++) {
    char c = line[i];
    bool sep = commas ? c == ',' : (c == ' ' || c == '\t');
    if (sep) {
      if (commas || (i + 1 < line.size() && line[i + 1] != ' ' && line[i + 1] != '\t')) field++;
      start = i + 1;
    }
  }
  return "field " + std::to_string(field) + ": invalid UTF-8 at byte " + std::to_string(bad - start);
}

// Reads `path` line by line; `row` parses one data line (fields already split) and returns an error
// message (empty: good row). Handles header lines, skip_bad, limit and file:line in errors.
// With `header`, line 1 goes to `row` unchecked (MapHeader refuses any name it does not know).
template <typename RowFn>
Result<ReadStats> ReadLines(const std::string& path, const ReadOptions& options, bool header, RowFn row) {
  LineReader reader;
  if (auto st = reader.Open(path); !st.ok()) return st.error();
  ReadStats stats;
  std::string line;
  const std::string phase = "reading " + std::filesystem::path(path).filename().string();
  while (reader.Next(&line)) {
    if (options.progress && reader.line_number() % 8192 == 1) {
      options.progress(
          {phase, "bytes", static_cast<uint64_t>(reader.offset()), static_cast<uint64_t>(reader.size())});
    }
    bool counted = false;
    // Text fields (names, models, ...) end up in JSON and scenarios: the whole line must be UTF-8.
    std::string why = header && reader.line_number() == 1 ? "" : Utf8Problem(line);
    if (why.empty()) why = row(line, reader.line_number(), &counted);
    if (!why.empty()) {
      std::string msg = path + ":" + std::to_string(reader.line_number()) + ": " + why;
      if (!options.skip_bad) return InvalidArgument(msg);
      if (stats.skipped == 0) stats.first_skip = msg;
      stats.skipped++;
      continue;
    }
    if (counted) {
      stats.rows++;
      if (options.limit > 0 && stats.rows >= options.limit) return stats;
    }
  }
  if (!reader.error().empty()) return InvalidArgument(reader.error());
  return stats;
}

// Maps header names to column indices and checks that exactly the expected columns are present.
std::string MapHeader(const std::string& line, const std::vector<std::string>& expected,
                      std::map<std::string, size_t>* cols) {
  std::vector<std::string_view> f;
  SplitFields(line, ',', &f);
  for (size_t i = 0; i < f.size(); i++) {
    std::string name(f[i]);
    if (std::find(expected.begin(), expected.end(), name) == expected.end()) return "unknown column '" + QuoteForError(name) + "'";
    if (!cols->emplace(name, i).second) return "duplicate column '" + QuoteForError(name) + "'";
  }
  for (const auto& e : expected)
    if (!cols->count(e)) return "missing column '" + e + "'";
  return "";
}

// Values above this are refused (times, amounts and ids of real traces are far below; the loaders multiply
// seconds and MiB into milliseconds and bytes, which must not overflow).
constexpr int64_t kMaxValue = int64_t{1} << 40;

std::string NonNegative(std::string_view text, const char* column, int64_t* out, bool allow_empty = false,
                        int64_t max = kMaxValue) {
  if (text.empty() && allow_empty) {
    *out = 0;
    return "";
  }
  auto v = ParseInt(text);
  if (!v) return std::string(column) + ": not an integer: '" + QuoteForError(text) + "'";
  if (*v < 0) return std::string(column) + ": negative value " + std::to_string(*v);
  if (*v > max) return std::string(column) + ": " + std::to_string(*v) + " is out of range (at most " + std::to_string(max) + ")";
  *out = *v;
  return "";
}

std::vector<std::string> SplitSpec(std::string_view spec) {
  std::vector<std::string> out;
  if (spec.empty()) return out;
  std::vector<std::string_view> parts;
  SplitFields(spec, '|', &parts);
  for (auto p : parts)
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.emplace_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<ReadStats> ReadAlibabaNodes(const std::string& path, const std::function<void(const AlibabaNode&)>& fn,
                                   const ReadOptions& options) {
  static const std::vector<std::string> kCols = {"sn", "cpu_milli", "memory_mib", "gpu", "model"};
  std::map<std::string, size_t> c;
  std::vector<std::string_view> f;
  bool header_error = false;
  auto res = ReadLines(path, options, true, [&](const std::string& line, size_t no, bool* counted) -> std::string {
    if (no == 1) {
      std::string why = MapHeader(line, kCols, &c);
      header_error = !why.empty();
      return why.empty() ? "" : "header: " + why;
    }
    if (header_error) return "no valid header";
    if (line.empty()) return "";
    SplitFields(line, ',', &f);
    if (f.size() != kCols.size())
      return "expected " + std::to_string(kCols.size()) + " columns, found " + std::to_string(f.size());
    AlibabaNode n;
    n.name = std::string(f[c["sn"]]);
    if (n.name.empty()) return "sn: empty node name";
    int64_t gpus = 0;
    if (auto w = NonNegative(f[c["cpu_milli"]], "cpu_milli", &n.cpu_milli); !w.empty()) return w;
    if (auto w = NonNegative(f[c["memory_mib"]], "memory_mib", &n.memory_mib); !w.empty()) return w;
    if (auto w = NonNegative(f[c["gpu"]], "gpu", &gpus); !w.empty()) return w;
    if (gpus > 64) return "gpu: " + std::to_string(gpus) + " devices on one node is out of range";
    n.gpus = static_cast<int>(gpus);
    n.model = std::string(f[c["model"]]);
    if (n.gpus > 0 && n.model.empty()) return "model: empty for a node with GPUs";
    *counted = true;
    fn(n);
    return "";
  });
  if (res.ok() && header_error && options.skip_bad) return InvalidArgument(path + ":1: header is not valid");
  return res;
}

Result<ReadStats> ReadAlibabaPods(const std::string& path, const std::function<void(const AlibabaPod&)>& fn,
                                  const ReadOptions& options) {
  static const std::vector<std::string> kCols = {"name",     "cpu_milli", "memory_mib",    "num_gpu",
                                                 "gpu_milli", "gpu_spec", "qos",           "pod_phase",
                                                 "creation_time", "deletion_time", "scheduled_time"};
  std::map<std::string, size_t> c;
  std::vector<std::string_view> f;
  bool header_error = false;
  auto res = ReadLines(path, options, true, [&](const std::string& line, size_t no, bool* counted) -> std::string {
    if (no == 1) {
      std::string why = MapHeader(line, kCols, &c);
      header_error = !why.empty();
      return why.empty() ? "" : "header: " + why;
    }
    if (header_error) return "no valid header";
    if (line.empty()) return "";
    SplitFields(line, ',', &f);
    if (f.size() != kCols.size())
      return "expected " + std::to_string(kCols.size()) + " columns, found " + std::to_string(f.size());
    AlibabaPod p;
    p.name = std::string(f[c["name"]]);
    if (p.name.empty()) return "name: empty pod name";
    int64_t num_gpu = 0, gpu_milli = 0;
    if (auto w = NonNegative(f[c["cpu_milli"]], "cpu_milli", &p.cpu_milli); !w.empty()) return w;
    if (auto w = NonNegative(f[c["memory_mib"]], "memory_mib", &p.memory_mib); !w.empty()) return w;
    if (auto w = NonNegative(f[c["num_gpu"]], "num_gpu", &num_gpu); !w.empty()) return w;
    if (auto w = NonNegative(f[c["gpu_milli"]], "gpu_milli", &gpu_milli); !w.empty()) return w;
    if (num_gpu != 0 && num_gpu != 1 && num_gpu != 2 && num_gpu != 4 && num_gpu != 8)
      return "num_gpu: " + std::to_string(num_gpu) + " is not 0, 1, 2, 4 or 8";
    if (gpu_milli > 1000) return "gpu_milli: " + std::to_string(gpu_milli) + " exceeds one device (1000)";
    if (num_gpu == 1 && gpu_milli == 0) return "gpu_milli: 0 for a pod asking for one GPU";
    p.num_gpu = static_cast<int>(num_gpu);
    p.gpu_milli = num_gpu == 0 ? 0 : (num_gpu == 1 ? static_cast<int>(gpu_milli) : 1000);
    p.gpu_spec = SplitSpec(f[c["gpu_spec"]]);
    p.qos = std::string(f[c["qos"]]);
    p.phase = std::string(f[c["pod_phase"]]);
    if (auto w = NonNegative(f[c["creation_time"]], "creation_time", &p.creation); !w.empty()) return w;
    if (auto w = NonNegative(f[c["deletion_time"]], "deletion_time", &p.deletion); !w.empty()) return w;
    if (!f[c["scheduled_time"]].empty()) {
      int64_t s = 0;
      if (auto w = NonNegative(f[c["scheduled_time"]], "scheduled_time", &s); !w.empty()) return w;
      if (s < p.creation) return "scheduled_time " + std::to_string(s) + " is before creation_time";
      p.scheduled = s;
    }
    if (p.deletion < p.creation) return "deletion_time " + std::to_string(p.deletion) + " is before creation_time";
    *counted = true;
    fn(p);
    return "";
  });
  if (res.ok() && header_error && options.skip_bad) return InvalidArgument(path + ":1: header is not valid");
  return res;
}

Result<ReadStats> ReadGoogleTaskEvents(const std::string& path,
                                       const std::function<void(const GoogleTaskEvent&)>& fn,
                                       const ReadOptions& options) {
  std::vector<std::string_view> f;
  return ReadLines(path, options, false, [&](const std::string& line, size_t, bool* counted) -> std::string {
    if (line.empty()) return "";
    SplitFields(line, ',', &f);
    if (f.size() != 13) return "expected 13 columns, found " + std::to_string(f.size());
    GoogleTaskEvent e;
    int64_t v = 0;
    if (auto w = NonNegative(f[0], "timestamp", &e.time_us, false, INT64_MAX); !w.empty()) return w;
    if (auto w = NonNegative(f[2], "job ID", &e.job_id, false, INT64_MAX); !w.empty()) return w;
    if (auto w = NonNegative(f[3], "task index", &e.task_index); !w.empty()) return w;
    if (!f[4].empty()) {
      if (auto w = NonNegative(f[4], "machine ID", &v, false, INT64_MAX); !w.empty()) return w;
      e.machine_id = v;
    }
    if (auto w = NonNegative(f[5], "event type", &v); !w.empty()) return w;
    if (v > 8) return "event type: " + std::to_string(v) + " is not 0-8";
    e.type = static_cast<int>(v);
    if (auto w = NonNegative(f[7], "scheduling class", &v, true); !w.empty()) return w;
    e.scheduling_class = static_cast<int>(v);
    if (auto w = NonNegative(f[8], "priority", &v, true); !w.empty()) return w;
    e.priority = static_cast<int>(v);
    const char* names[3] = {"CPU request", "memory request", "disk request"};
    std::optional<double>* dst[3] = {&e.cpu, &e.memory, &e.disk};
    for (int i = 0; i < 3; i++) {
      if (f[9 + i].empty()) continue;
      auto d = ParseDouble(f[9 + i]);
      if (!d) return std::string(names[i]) + ": not a number: '" + QuoteForError(f[9 + i]) + "'";
      if (*d < 0) return std::string(names[i]) + ": negative value";
      if (!(*d <= 1e6)) return std::string(names[i]) + ": out of range (a share of the largest machine)";
      *dst[i] = *d;
    }
    e.different_machine = f[12] == "1";
    *counted = true;
    fn(e);
    return "";
  });
}

Result<ReadStats> ReadSwf(const std::string& path, const std::function<void(const SwfJob&)>& fn,
                          const ReadOptions& options, SwfHeader* header) {
  std::vector<std::string_view> f;
  return ReadLines(path, options, false, [&](const std::string& line, size_t, bool* counted) -> std::string {
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    if (line[first] == ';') {
      if (header != nullptr) {
        std::string_view rest = std::string_view(line).substr(first + 1);
        SplitWhitespace(rest, &f);
        if (f.size() >= 2 && (f[0] == "MaxProcs:" || f[0] == "MaxNodes:")) {
          auto v = ParseInt(f[1]);
          if (v && *v > 0) (f[0] == "MaxProcs:" ? header->max_procs : header->max_nodes) = *v;
        }
      }
      return "";
    }
    SplitWhitespace(line, &f);
    if (f.size() != 18) return "expected 18 fields, found " + std::to_string(f.size());
    int64_t v[18];
    for (int i = 0; i < 18; i++) {
      auto x = ParseInt(f[i]);
      if (!x) {
        // SWF allows fractional averages in field 6 (average CPU time); read it leniently.
        auto d = ParseDouble(f[i]);
        if (!d || i == 0 || i == 1 || i == 3 || i == 4) {
          return "field " + std::to_string(i + 1) + ": not an integer: '" + QuoteForError(f[i]) + "'";
        }
        if (!(*d >= -1 && *d <= static_cast<double>(kMaxValue))) {
          return "field " + std::to_string(i + 1) + ": " + QuoteForError(f[i]) + " is out of range";
        }
        x = static_cast<int64_t>(*d);
      }
      if (*x < -1) return "field " + std::to_string(i + 1) + ": negative value " + std::to_string(*x);
      if (*x > kMaxValue) return "field " + std::to_string(i + 1) + ": " + std::to_string(*x) + " is out of range";
      v[i] = *x;
    }
    SwfJob j;
    j.id = v[0];
    j.submit_s = v[1];
    j.wait_s = v[2];
    j.run_s = v[3];
    j.allocated_procs = v[4];
    j.requested_procs = v[7];
    j.requested_time_s = v[8];
    j.status = static_cast<int>(v[10]);
    j.user = static_cast<int>(v[11]);
    if (j.submit_s < 0) return "field 2 (submit time): unknown (-1)";
    *counted = true;
    fn(j);
    return "";
  });
}

}  // namespace allot::trace
