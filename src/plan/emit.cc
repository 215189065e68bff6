// Kubernetes objects out of `allot plan`: HorizontalPodAutoscalers from a scaling table (--emit hpa) and
// RFC 6902 JSON patches that set containers' resources to a table of targets (--emit patch --targets).
// Both tables are YAML or the markdown tables of the seed documents. See include/allot/plan.h.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "allot/plan.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/yaml_utf8.h"
#include "plan/internal.h"

namespace allot::plan {
namespace {

using json = nlohmann::json;

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string Scalar(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : ""; }

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "Constitutional Trainer" -> "constitutional-trainer": how a table's service name becomes a workload name.
std::string Slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '.') {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

// ---- markdown tables ----

struct MdRow {
  int line = 0;  // 1-based
  std::vector<std::string> cells;
};
struct MdTable {
  MdRow header;
  std::vector<MdRow> rows;
};

std::vector<std::string> SplitCells(const std::string& line) {
  std::string t = Trim(line);
  if (!t.empty() && t.front() == '|') t.erase(0, 1);
  if (!t.empty() && t.back() == '|') t.pop_back();
  std::vector<std::string> cells;
  std::string cur;
  for (size_t i = 0; i < t.size(); i++) {
    if (t[i] == '\\' && i + 1 < t.size() && t[i + 1] == '|') {
      cur += '|';
      i++;
    } else if (t[i] == '|') {
      cells.push_back(cur);
      cur.clear();
    } else {
      cur += t[i];
    }
  }
  cells.push_back(cur);
  for (auto& c : cells) {
    c = Trim(c);
    // **bold** and `code` marks are formatting, not content.
    std::string plain;
    for (size_t i = 0; i < c.size(); i++) {
      if (c[i] == '`' || (c[i] == '*' && i + 1 < c.size() && c[i + 1] == '*')) {
        if (c[i] == '*') i++;
        continue;
      }
      plain += c[i];
    }
    c = Trim(plain);
  }
  return cells;
}

bool IsSeparator(const std::vector<std::string>& cells) {
  for (const auto& c : cells) {
    if (c.empty() || c.find_first_not_of("-: ") != std::string::npos) return false;
  }
  return !cells.empty();
}

std::vector<MdTable> MarkdownTables(const std::string& text) {
  std::vector<MdTable> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  std::vector<MdRow> block;
  auto flush = [&] {
    if (block.size() >= 2 && IsSeparator(block[1].cells)) {
      MdTable t;
      t.header = block[0];
      for (size_t i = 2; i < block.size(); i++) t.rows.push_back(block[i]);
      out.push_back(std::move(t));
    }
    block.clear();
  };
  while (std::getline(in, line)) {
    n++;
    std::string t = Trim(line);
    if (!t.empty() && t.front() == '|') {
      block.push_back({n, SplitCells(t)});
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// The index of the first header cell (lower-cased) equal to one of `names`, or -1.
int Column(const MdTable& t, std::initializer_list<const char*> names) {
  for (size_t i = 0; i < t.header.cells.size(); i++) {
    std::string h = Lower(t.header.cells[i]);
    for (const char* name : names) {
      if (h == name) return static_cast<int>(i);
    }
  }
  return -1;
}

std::string Cell(const MdRow& r, int col) {
  return col >= 0 && col < static_cast<int>(r.cells.size()) ? r.cells[col] : "";
}

bool IsTotalRow(const std::string& name) {
  std::string l = Lower(name);
  return l == "total" || l == "totals" || l == "sum";
}

// ---- YAML helpers ----

std::string At(const std::string& source, const YAML::Node& n) {
  return source + ":" + std::to_string(n.Mark().line >= 0 ? n.Mark().line + 1 : 0);
}

Result<YAML::Node> LoadYaml(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  if (auto bad = FindInvalidUtf8(root, text.size())) {
    return InvalidArgument(At(source, bad->node) + ": " + (bad->path.empty() ? "" : bad->path + ": ") +
                           bad->message);
  }
  return root;
}

Result<int64_t> Integer(const YAML::Node& n, const std::string& source, const std::string& key, int64_t lo,
                        int64_t hi) {
  const std::string t = n.IsScalar() ? n.Scalar() : "";
  char* end = nullptr;
  long long v = t.empty() ? 0 : std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || v < lo || v > hi) {
    return InvalidArgument(At(source, n) + ": " + key + ": \"" + t + "\" is not an integer in " +
                           std::to_string(lo) + "-" + std::to_string(hi));
  }
  return static_cast<int64_t>(v);
}

// A metric target as written: "70%" or "70" (Utilization) for cpu/memory, a quantity with a unit or a
// decimal point (AverageValue). `where` prefixes errors.
Result<ScalingMetric> ParseMetric(const std::string& resource, const std::string& text,
                                  const std::string& where) {
  ScalingMetric m;
  m.resource = resource;
  std::string t = Trim(text);
  bool percent = !t.empty() && t.back() == '%';
  if (percent) t = Trim(t.substr(0, t.size() - 1));
  bool digits = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
  if (percent || digits) {
    long long v = digits ? std::strtoll(t.c_str(), nullptr, 10) : -1;
    if (!digits || v < 1 || v > 100000) {
      return InvalidArgument(where + ": \"" + text + "\" is not a utilization percent like 70%");
    }
    m.utilization = v;
    return m;
  }
  auto amount = ParseResourceAmount(CanonicalResourceName(resource), t);
  if (!amount.ok() || *amount <= 0) {
    return InvalidArgument(where + ": \"" + text +
                           "\" is neither a percent (70%) nor a positive quantity (500m, 1Gi)");
  }
  m.average_value = t;
  return m;
}

Status ParseRules(const YAML::Node& n, const std::string& source, const std::string& key, ScalingRules* out) {
  if (!n.IsMap()) return InvalidArgument(At(source, n) + ": " + key + ": expected a map");
  out->set = true;
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    const std::string path = key + "." + k;
    if (k == "stabilizationWindowSeconds") {
      auto v = Integer(kv.second, source, path, 0, 3600);
      if (!v.ok()) return v.status();
      out->stabilization_window_seconds = *v;
    } else if (k == "selectPolicy") {
      const std::string v = kv.second.IsScalar() ? kv.second.Scalar() : "";
      if (v != "Max" && v != "Min" && v != "Disabled") {
        return InvalidArgument(At(source, kv.second) + ": " + path + ": \"" + v +
                               "\" is not Max, Min or Disabled");
      }
      out->select_policy = v;
    } else if (k == "policies") {
      if (!kv.second.IsSequence() || kv.second.size() == 0) {
        return InvalidArgument(At(source, kv.second) + ": " + path + ": expected a non-empty list");
      }
      for (size_t i = 0; i < kv.second.size(); i++) {
        const YAML::Node p = kv.second[i];
        const std::string pp = path + "[" + std::to_string(i) + "]";
        if (!p.IsMap())
          return InvalidArgument(At(source, p) + ": " + pp + ": expected {type, value, periodSeconds}");
        ScalingPolicy pol;
        bool has_value = false, has_period = false;
        for (const auto& f : p) {
          const std::string fk = f.first.Scalar();
          if (fk == "type") {
            pol.type = f.second.IsScalar() ? f.second.Scalar() : "";
            if (pol.type != "Pods" && pol.type != "Percent") {
              return InvalidArgument(At(source, f.second) + ": " + pp + ".type: \"" + pol.type +
                                     "\" is not Pods or Percent");
            }
          } else if (fk == "value") {
            auto v = Integer(f.second, source, pp + ".value", 1, 1'000'000);
            if (!v.ok()) return v.status();
            pol.value = *v;
            has_value = true;
          } else if (fk == "periodSeconds") {
            auto v = Integer(f.second, source, pp + ".periodSeconds", 1, 1800);
            if (!v.ok()) return v.status();
            pol.period_seconds = *v;
            has_period = true;
          } else {
            return InvalidArgument(At(source, f.first) + ": " + pp + "." + fk +
                                   ": unknown key (use type, value, periodSeconds)");
          }
        }
        if (pol.type.empty() || !has_value || !has_period) {
          return InvalidArgument(At(source, p) + ": " + pp + ": needs type, value and periodSeconds");
        }
        out->policies.push_back(pol);
      }
    } else {
      return InvalidArgument(At(source, kv.first) + ": " + path +
                             ": unknown key (use stabilizationWindowSeconds, selectPolicy, policies)");
    }
  }
  return Status::Ok();
}

Status ParseBehavior(const YAML::Node& n, const std::string& source, const std::string& key,
                     ScalingRow* row) {
  if (!n.IsMap()) return InvalidArgument(At(source, n) + ": " + key + ": expected {scaleUp, scaleDown}");
  row->has_behavior = true;
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    if (k == "scaleUp") {
      if (auto s = ParseRules(kv.second, source, key + ".scaleUp", &row->scale_up); !s.ok()) return s;
    } else if (k == "scaleDown") {
      if (auto s = ParseRules(kv.second, source, key + ".scaleDown", &row->scale_down); !s.ok()) return s;
    } else {
      return InvalidArgument(At(source, kv.first) + ": " + key + "." + k +
                             ": unknown key (use scaleUp, scaleDown)");
    }
  }
  return Status::Ok();
}

Status ParseScalingYaml(const YAML::Node& root, const std::string& source, const std::string& prefix,
                        ScalingTable* out) {
  if (!root.IsMap())
    return InvalidArgument(At(source, root) + ": " + prefix + ": expected a map with workloads");
  ScalingRow defaults;
  YAML::Node workloads;
  for (const auto& kv : root) {
    const std::string k = kv.first.Scalar();
    if (k == "behavior") {
      if (auto s = ParseBehavior(kv.second, source, prefix + ".behavior", &defaults); !s.ok()) return s;
    } else if (k == "workloads") {
      workloads = kv.second;
    } else {
      return InvalidArgument(At(source, kv.first) + ": " + prefix + "." + k +
                             ": unknown key (use workloads, behavior)");
    }
  }
  if (!workloads) return InvalidArgument(At(source, root) + ": " + prefix + ": missing workloads");
  if (!workloads.IsMap())
    return InvalidArgument(At(source, workloads) + ": " + prefix + ".workloads: expected a map NAME: {...}");
  for (const auto& w : workloads) {
    ScalingRow row = defaults;
    row.workload = w.first.Scalar();
    row.where = {source, w.first.Mark().line + 1};
    const std::string key = prefix + ".workloads." + row.workload;
    if (row.workload.empty())
      return InvalidArgument(At(source, w.first) + ": " + key + ": empty workload name");
    if (!w.second.IsMap())
      return InvalidArgument(At(source, w.second) + ": " + key + ": expected {min, max, cpu, memory}");
    bool has_max = false;
    for (const auto& kv : w.second) {
      const std::string k = kv.first.Scalar();
      if (k == "min") {
        auto v = Integer(kv.second, source, key + ".min", 1, 1'000'000);
        if (!v.ok()) return v.status();
        row.min_replicas = *v;
      } else if (k == "max") {
        auto v = Integer(kv.second, source, key + ".max", 1, 1'000'000);
        if (!v.ok()) return v.status();
        row.max_replicas = *v;
        has_max = true;
      } else if (k == "name") {
        row.hpa_name = kv.second.IsScalar() ? kv.second.Scalar() : "";
        if (row.hpa_name.empty())
          return InvalidArgument(At(source, kv.second) + ": " + key + ".name: expected a name");
      } else if (k == "behavior") {
        row.scale_up = row.scale_down = ScalingRules{};  // a row's behavior replaces the default one
        if (auto s = ParseBehavior(kv.second, source, key + ".behavior", &row); !s.ok()) return s;
      } else if (k == "cpu" || k == "memory") {
        if (!kv.second.IsScalar())
          return InvalidArgument(At(source, kv.second) + ": " + key + "." + k +
                                 ": expected 70% or a quantity");
        auto m = ParseMetric(k, kv.second.Scalar(), At(source, kv.second) + ": " + key + "." + k);
        if (!m.ok()) return m.status();
        row.metrics.push_back(*m);
      } else {
        return InvalidArgument(At(source, kv.first) + ": " + key + "." + k +
                               ": unknown key (use min, max, cpu, memory, behavior, name)");
      }
    }
    if (!has_max) return InvalidArgument(At(source, w.first) + ": " + key + ": missing max");
    if (row.min_replicas > row.max_replicas) {
      return InvalidArgument(At(source, w.first) + ": " + key + ": min " + std::to_string(row.min_replicas) +
                             " is above max " + std::to_string(row.max_replicas));
    }
    out->rows.push_back(std::move(row));
  }
  return Status::Ok();
}

Status ParseScalingMarkdown(const MdTable& t, const std::string& source, ScalingTable* out) {
  const int min_col = Column(t, {"min replicas", "min"});
  const int max_col = Column(t, {"max replicas", "max"});
  const int trigger_col = Column(t, {"hpa trigger", "trigger", "metrics", "targets"});
  for (const auto& r : t.rows) {
    const std::string name = Cell(r, 0);
    if (name.empty() || IsTotalRow(name)) continue;
    const std::string where = source + ":" + std::to_string(r.line);
    ScalingRow row;
    row.workload = Slug(name);
    row.where = {source, r.line};
    auto count = [&](int col, int64_t* v) -> Status {
      const std::string c = Cell(r, col);
      char* end = nullptr;
      long long n = c.empty() ? 0 : std::strtoll(c.c_str(), &end, 10);
      if (c.empty() || *end != '\0' || n < 1 || n > 1'000'000) {
        return InvalidArgument(where + ": " + t.header.cells[col] + ": \"" + c +
                               "\" is not a replica count of 1 or more");
      }
      *v = n;
      return Status::Ok();
    };
    if (auto s = count(min_col, &row.min_replicas); !s.ok()) return s;
    if (auto s = count(max_col, &row.max_replicas); !s.ok()) return s;
    if (row.min_replicas > row.max_replicas) {
      return InvalidArgument(where + ": " + name + ": min " + std::to_string(row.min_replicas) +
                             " is above max " + std::to_string(row.max_replicas));
    }
    if (trigger_col >= 0) {
      // "CPU: 70%, Memory: 80%"
      std::stringstream ss(Cell(r, trigger_col));
      std::string part;
      while (std::getline(ss, part, ',')) {
        part = Trim(part);
        if (part.empty()) continue;
        size_t colon = part.find(':');
        const std::string res = colon == std::string::npos ? "" : Lower(Trim(part.substr(0, colon)));
        if (res != "cpu" && res != "memory") {
          return InvalidArgument(where + ": " + t.header.cells[trigger_col] + ": \"" + part +
                                 "\" is not \"CPU: 70%\" or \"Memory: 80%\"");
        }
        auto m = ParseMetric(res, part.substr(colon + 1), where + ": " + t.header.cells[trigger_col]);
        if (!m.ok()) return m.status();
        row.metrics.push_back(*m);
      }
    }
    out->rows.push_back(std::move(row));
  }
  if (out->rows.empty())
    return InvalidArgument(source + ":" + std::to_string(t.header.line) + ": the scaling table has no rows");
  return Status::Ok();
}

// ---- targets ----

// The resource key a patch writes: "gpu" is nvidia.com/gpu, others as written.
std::string PatchKey(const std::string& key) { return key == "gpu" ? "nvidia.com/gpu" : key; }

Status CheckAmount(const std::string& key, const std::string& value, const std::string& where) {
  if (auto s = ValidateResourceName(key); !s.ok()) return InvalidArgument(where + ": " + s.error().message);
  const std::string canonical = CanonicalResourceName(key);
  auto v = ParseResourceAmount(canonical, value);
  if (!v.ok()) return InvalidArgument(where + ": \"" + value + "\": " + v.error().message);
  bool bytes = canonical == "memory" || canonical == "ephemeral-storage" || canonical == "storage";
  bool unitless = !value.empty() && value.find_first_not_of("0123456789.") == std::string::npos;
  if (bytes && unitless && *v > 0 && *v < (int64_t{1} << 20)) {
    return InvalidArgument(where + ": \"" + value + "\" has no unit and would be " + value +
                           " bytes; write it with one (" + value + "Gi, " + value + "Mi)");
  }
  return Status::Ok();
}

Status ParseResourceMap(const YAML::Node& n, const std::string& source, const std::string& key,
                        std::map<std::string, std::string>* out) {
  if (!n.IsMap())
    return InvalidArgument(At(source, n) + ": " + key + ": expected a map of resource: quantity");
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    const std::string v = kv.second.IsScalar() ? Trim(kv.second.Scalar()) : "";
    if (auto s = CheckAmount(k, v, At(source, kv.second) + ": " + key + "." + k); !s.ok()) return s;
    (*out)[PatchKey(k)] = v;
  }
  return Status::Ok();
}

Status ParseTargetsYaml(const YAML::Node& root, const std::string& source, TargetTable* out) {
  YAML::Node list = root;
  std::string prefix = "";
  if (root.IsMap()) {
    for (const auto& kv : root) {
      if (kv.first.Scalar() != "targets") {
        return InvalidArgument(At(source, kv.first) + ": " + kv.first.Scalar() +
                               ": unknown key (use targets)");
      }
    }
    list = root["targets"];
    prefix = "targets";
  }
  if (!list || !list.IsSequence()) {
    return InvalidArgument(At(source, list ? list : root) + ": " + (prefix.empty() ? "" : prefix + ": ") +
                           "expected a list of {workload, namespace, container, requests, limits}");
  }
  for (size_t i = 0; i < list.size(); i++) {
    const YAML::Node t = list[i];
    const std::string key = prefix + "[" + std::to_string(i) + "]";
    if (!t.IsMap())
      return InvalidArgument(At(source, t) + ": " + key + ": expected {workload, requests, limits}");
    ResourceTarget row;
    row.where = {source, t.Mark().line + 1};
    for (const auto& kv : t) {
      const std::string k = kv.first.Scalar();
      auto text = [&](std::string* v) -> Status {
        *v = kv.second.IsScalar() ? Trim(kv.second.Scalar()) : "";
        if (v->empty())
          return InvalidArgument(At(source, kv.second) + ": " + key + "." + k + ": expected a name");
        return Status::Ok();
      };
      Status s = Status::Ok();
      if (k == "workload") {
        s = text(&row.workload);
      } else if (k == "namespace") {
        s = text(&row.ns);
      } else if (k == "container") {
        s = text(&row.container);
      } else if (k == "requests") {
        s = ParseResourceMap(kv.second, source, key + ".requests", &row.requests);
      } else if (k == "limits") {
        s = ParseResourceMap(kv.second, source, key + ".limits", &row.limits);
      } else {
        return InvalidArgument(At(source, kv.first) + ": " + key + "." + k +
                               ": unknown key (use workload, namespace, container, requests, limits)");
      }
      if (!s.ok()) return s;
    }
    if (row.workload.empty()) return InvalidArgument(At(source, t) + ": " + key + ": missing workload");
    if (row.requests.empty() && row.limits.empty()) {
      return InvalidArgument(At(source, t) + ": " + key + ": give requests and/or limits");
    }
    out->rows.push_back(std::move(row));
  }
  return Status::Ok();
}

Status ParseTargetsMarkdown(const MdTable& t, const std::string& source, TargetTable* out) {
  struct Col {
    int index;
    std::string resource;
    bool limit;
  };
  std::vector<Col> cols;
  for (size_t i = 1; i < t.header.cells.size(); i++) {
    const std::string h = Lower(t.header.cells[i]);
    for (const char* res : {"cpu", "memory", "gpu", "ephemeral-storage"}) {
      for (bool limit : {false, true}) {
        if (h == std::string(res) + (limit ? " limit" : " request"))
          cols.push_back({static_cast<int>(i), res, limit});
      }
    }
  }
  for (const auto& r : t.rows) {
    const std::string name = Cell(r, 0);
    if (name.empty() || IsTotalRow(name)) continue;
    ResourceTarget row;
    row.workload = Slug(name);
    row.where = {source, r.line};
    bool gpu_request = false, gpu_limit = false;
    for (const auto& c : cols) {
      const std::string v = Cell(r, c.index);
      if (v.empty() || v == "-" || v == "—" || v == "n/a") continue;
      // A GPU column of 0 means "no GPU": nothing to set.
      if (c.resource == "gpu" && v.find_first_not_of("0.") == std::string::npos) continue;
      if (auto s = CheckAmount(c.resource, v,
                               source + ":" + std::to_string(r.line) + ": " + t.header.cells[c.index]);
          !s.ok()) {
        return s;
      }
      (c.limit ? row.limits : row.requests)[PatchKey(c.resource)] = v;
      if (c.resource == "gpu") (c.limit ? gpu_limit : gpu_request) = true;
    }
    // Extended resources need a limit equal to the request; a table with only a GPU request column means
    // both.
    if (gpu_request && !gpu_limit) row.limits["nvidia.com/gpu"] = row.requests["nvidia.com/gpu"];
    if (row.requests.empty() && row.limits.empty()) continue;
    out->rows.push_back(std::move(row));
  }
  if (out->rows.empty())
    return InvalidArgument(source + ":" + std::to_string(t.header.line) + ": the targets table has no rows");
  return Status::Ok();
}

// ---- matching and rendering ----

bool Scalable(const std::string& kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet" ||
         kind == "ReplicationController";
}

// Workloads a row's name selects: NAME, NAMESPACE/NAME or KIND/NAME (KIND starts upper-case).
std::vector<const Workload*> Select(const Plan& plan, const std::string& spec, const std::string& ns) {
  std::string kind, name = spec, want_ns = ns;
  if (size_t slash = spec.find('/'); slash != std::string::npos) {
    std::string head = spec.substr(0, slash);
    name = spec.substr(slash + 1);
    if (!head.empty() && std::isupper(static_cast<unsigned char>(head[0]))) {
      kind = head;
    } else {
      want_ns = head;
    }
  }
  std::vector<const Workload*> out;
  for (const auto& w : plan.workloads) {
    if (w.name != name) continue;
    if (!kind.empty() && Lower(w.kind) != Lower(kind)) continue;
    if (!want_ns.empty() && w.ns != want_ns) continue;
    out.push_back(&w);
  }
  return out;
}

std::string Names(const std::vector<const Workload*>& ws) {
  std::string s;
  for (const auto* w : ws) s += (s.empty() ? "" : ", ") + w->kind + "/" + w->name + " in " + w->ns;
  return s;
}

std::string YamlString(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

void WriteRules(const char* name, const ScalingRules& r, std::string* out) {
  if (!r.set) return;
  *out += std::string("    ") + name + ":\n";
  bool any = false;
  if (r.stabilization_window_seconds >= 0) {
    *out += "      stabilizationWindowSeconds: " + std::to_string(r.stabilization_window_seconds) + "\n";
    any = true;
  }
  if (!r.select_policy.empty()) {
    *out += "      selectPolicy: " + r.select_policy + "\n";
    any = true;
  }
  if (!r.policies.empty()) {
    *out += "      policies:\n";
    for (const auto& p : r.policies) {
      *out += "      - type: " + p.type + "\n        value: " + std::to_string(p.value) +
              "\n        periodSeconds: " + std::to_string(p.period_seconds) + "\n";
    }
    any = true;
  }
  if (!any) out->replace(out->size() - 1, 1, " {}\n");
}

// The pod spec of a workload document as written, by kind.
YAML::Node PodSpec(const YAML::Node& obj, const std::string& kind) {
  auto step = [](const YAML::Node& n, const char* k) {
    if (!n || !n.IsMap()) return YAML::Node();
    YAML::Node next = n[k];
    return next ? next : YAML::Node();
  };
  YAML::Node spec = step(obj, "spec");
  if (kind == "Pod") return spec;
  if (kind == "CronJob") spec = step(step(spec, "jobTemplate"), "spec");
  return step(step(spec, "template"), "spec");
}

std::string PodSpecPath(const std::string& kind) {
  if (kind == "Pod") return "/spec";
  if (kind == "CronJob") return "/spec/jobTemplate/spec/template/spec";
  return "/spec/template/spec";
}

std::string Pointer(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// Finds the document of `w` in its file (including List items).
class DocumentCache {
 public:
  Result<YAML::Node> Find(const Workload& w, const LoadOptions& load) {
    if (w.where.file.empty() || w.where.file == "-") {
      return InvalidArgument(w.kind + "/" + w.name +
                             ": --targets needs manifests from files (not stdin) to compute the patch paths");
    }
    auto it = docs_.find(w.where.file);
    if (it == docs_.end()) {
      std::ifstream f(w.where.file, std::ios::binary);
      if (!f) return InvalidArgument(w.where.file + ": cannot read it again");
      std::stringstream ss;
      ss << f.rdbuf();
      std::vector<YAML::Node> all;
      try {
        all = YAML::LoadAll(ss.str());
      } catch (const YAML::Exception& e) {
        return InvalidArgument(w.where.file + ": changed since it was read: " + e.msg);
      }
      std::vector<YAML::Node> flat;
      std::function<void(const YAML::Node&)> add = [&](const YAML::Node& d) {
        if (!d.IsMap()) return;
        const YAML::Node items = d["items"];
        if (items && items.IsSequence()) {
          for (const auto& i : items) add(i);
          return;
        }
        flat.push_back(d);
      };
      for (const auto& d : all) add(d);
      it = docs_.emplace(w.where.file, std::move(flat)).first;
    }
    for (const auto& d : it->second) {
      const YAML::Node meta = d["metadata"];
      if (!d["kind"] || !d["kind"].IsScalar() || d["kind"].Scalar() != w.kind || !meta || !meta.IsMap())
        continue;
      if (!meta["name"] || !meta["name"].IsScalar() || meta["name"].Scalar() != w.name) continue;
      std::string ns = meta["namespace"] && meta["namespace"].IsScalar() ? meta["namespace"].Scalar()
                                                                         : load.default_namespace;
      if (ns != w.ns) continue;
      return d;
    }
    return InvalidArgument(internal::Where(w.where) + ": " + w.kind + "/" + w.name +
                           ": not found again in its file");
  }

 private:
  std::map<std::string, std::vector<YAML::Node>> docs_;
};

// Amounts of a written resources.requests or .limits map, canonical name -> internal amount.
ResourceList Written(const YAML::Node& n) {
  ResourceList out;
  if (!n || !n.IsMap()) return out;
  for (const auto& kv : n) {
    if (!kv.second.IsScalar()) continue;
    const std::string canonical = CanonicalResourceName(kv.first.Scalar());
    auto v = ParseResourceAmount(canonical, kv.second.Scalar());
    if (v.ok()) out[canonical] = *v;
  }
  return out;
}

}  // namespace

Status ParseScalingTable(const std::string& text, const std::string& source, bool in_plan_config,
                         ScalingTable* out) {
  ScalingTable table;
  if (!in_plan_config) {
    for (const auto& t : MarkdownTables(text)) {
      if (Column(t, {"min replicas", "min"}) < 0 || Column(t, {"max replicas", "max"}) < 0) continue;
      if (auto s = ParseScalingMarkdown(t, source, &table); !s.ok()) return s;
      *out = std::move(table);
      return Status::Ok();
    }
  }
  auto root = LoadYaml(text, source);
  if (!root.ok()) return root.status();
  try {
    if (!root->IsMap()) {
      if (in_plan_config) return Status::Ok();
      return InvalidArgument(
          source +
          ": expected autoscaling: {workloads: ...} or a markdown table with Min Replicas and "
          "Max Replicas columns");
    }
    YAML::Node node = (*root)["autoscaling"];
    if (!node) {
      if (in_plan_config) return Status::Ok();
      node = *root;
      if (auto s = ParseScalingYaml(node, source, "autoscaling", &table); !s.ok()) return s;
    } else {
      if (!in_plan_config) {
        for (const auto& kv : *root) {
          if (kv.first.Scalar() != "autoscaling") {
            return InvalidArgument(At(source, kv.first) + ": " + kv.first.Scalar() +
                                   ": unknown key (use autoscaling)");
          }
        }
      }
      if (auto s = ParseScalingYaml(node, source, "autoscaling", &table); !s.ok()) return s;
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  *out = std::move(table);
  return Status::Ok();
}

Result<std::string> RenderHpas(const Plan& plan, const ScalingTable& table,
                               std::vector<std::string>* warnings) {
  std::string out;
  std::set<std::pair<std::string, std::string>> names;  // (namespace, hpa name)
  for (const auto& row : table.rows) {
    const std::string where = internal::Where(row.where);
    std::vector<const Workload*> all = Select(plan, row.workload, "");
    std::vector<const Workload*> ws;
    for (const auto* w : all) {
      if (Scalable(w->kind)) ws.push_back(w);
    }
    if (ws.empty()) {
      return InvalidArgument(
          where + ": " + row.workload + ": " +
          (all.empty() ? "no workload of that name in the inputs"
                       : "not scalable by an HPA (" + Names(all) +
                             "; use a Deployment, StatefulSet, ReplicaSet or ReplicationController)"));
    }
    std::vector<ScalingMetric> metrics = row.metrics;
    if (metrics.empty()) metrics.push_back({"cpu", 80, ""});
    for (const auto* w : ws) {
      const std::string hpa_name = row.hpa_name.empty() ? w->name : row.hpa_name;
      if (!names.insert({w->ns, hpa_name}).second) {
        return InvalidArgument(where + ": " + row.workload + ": a second HPA named " + hpa_name +
                               " in namespace " + w->ns);
      }
      if (!w->hpa.empty()) {
        warnings->push_back(where + ": " + w->kind + "/" + w->name + " already has HPA " + w->hpa +
                            (w->hpa == hpa_name ? " (this one replaces it)"
                                                : " (two HPAs on one workload fight; delete one)"));
      }
      for (const auto& m : metrics) {
        if (m.utilization == 0) continue;
        for (const auto& c : w->containers) {
          if (c.init) continue;
          if (internal::Get(c.requests, CanonicalResourceName(m.resource)) == 0) {
            warnings->push_back(where + ": " + w->kind + "/" + w->name + " container " + c.name + " has no " +
                                m.resource + " request: the HPA cannot compute " + m.resource +
                                " utilization until every container sets one");
          }
        }
      }
      out += "---\n# allot plan --emit hpa: " + row.workload + " (" + where + ")\n";
      out += "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n";
      out += "  name: " + YamlString(hpa_name) + "\n  namespace: " + YamlString(w->ns) + "\n";
      out += "spec:\n  scaleTargetRef:\n";
      out += std::string("    apiVersion: ") + (w->kind == "ReplicationController" ? "v1" : "apps/v1") + "\n";
      out += "    kind: " + w->kind + "\n    name: " + YamlString(w->name) + "\n";
      out += "  minReplicas: " + std::to_string(row.min_replicas) + "\n";
      out += "  maxReplicas: " + std::to_string(row.max_replicas) + "\n";
      out += "  metrics:\n";
      for (const auto& m : metrics) {
        out += "  - type: Resource\n    resource:\n      name: " + m.resource + "\n      target:\n";
        if (m.utilization > 0) {
          out += "        type: Utilization\n        averageUtilization: " + std::to_string(m.utilization) +
                 "\n";
        } else {
          out += "        type: AverageValue\n        averageValue: " + YamlString(m.average_value) + "\n";
        }
      }
      if (row.has_behavior) {
        out += "  behavior:\n";
        if (!row.scale_up.set && !row.scale_down.set) out.replace(out.size() - 1, 1, " {}\n");
        WriteRules("scaleUp", row.scale_up, &out);
        WriteRules("scaleDown", row.scale_down, &out);
      }
    }
  }
  return out;
}

Status ParseTargets(const std::string& text, const std::string& source, TargetTable* out) {
  TargetTable table;
  for (const auto& t : MarkdownTables(text)) {
    bool any = false;
    for (const char* h : {"cpu request", "cpu limit", "memory request", "memory limit"})
      any = any || Column(t, {h}) >= 0;
    if (!any) continue;
    if (auto s = ParseTargetsMarkdown(t, source, &table); !s.ok()) return s;
    *out = std::move(table);
    return Status::Ok();
  }
  auto root = LoadYaml(text, source);
  if (!root.ok()) return root.status();
  try {
    if (auto s = ParseTargetsYaml(*root, source, &table); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  *out = std::move(table);
  return Status::Ok();
}

namespace {

Result<std::string> TargetPatches(const Plan& plan, const TargetTable& targets, const LoadOptions& load) {
  struct Entry {
    const Workload* w;
    json ops = json::array();
    std::set<std::string> containers;
  };
  std::vector<Entry> entries;
  DocumentCache cache;
  for (const auto& t : targets.rows) {
    const std::string where = internal::Where(t.where);
    std::vector<const Workload*> ws = Select(plan, t.workload, t.ns);
    if (ws.empty()) {
      return InvalidArgument(where + ": " + t.workload + (t.ns.empty() ? "" : " in namespace " + t.ns) +
                             ": no workload of that name in the inputs");
    }
    if (ws.size() > 1) {
      return InvalidArgument(where + ": " + t.workload + " names several workloads (" + Names(ws) +
                             "); add namespace: or write KIND/NAME");
    }
    const Workload& w = *ws[0];
    if (w.kind == "ComposeService") {
      return InvalidArgument(where + ": " + t.workload +
                             " is a compose service; JSON patches are for Kubernetes objects");
    }
    auto doc = cache.Find(w, load);
    if (!doc.ok()) return doc.status();
    const YAML::Node pod = PodSpec(*doc, w.kind);
    if (!pod || !pod.IsMap()) return InvalidArgument(where + ": " + w.kind + "/" + w.name + ": no pod spec");
    // The container: by name among containers then initContainers, or the only app container.
    std::string list_name = "containers";
    int index = -1;
    YAML::Node container;
    const YAML::Node apps = pod["containers"];
    std::vector<std::string> app_names;
    if (apps && apps.IsSequence()) {
      for (size_t i = 0; i < apps.size(); i++) {
        app_names.push_back(apps[i]["name"] && apps[i]["name"].IsScalar() ? apps[i]["name"].Scalar() : "");
      }
    }
    if (t.container.empty()) {
      if (app_names.size() != 1) {
        std::string list;
        for (const auto& n : app_names) list += (list.empty() ? "" : ", ") + n;
        return InvalidArgument(where + ": " + w.kind + "/" + w.name + " has " +
                               std::to_string(app_names.size()) + " containers (" + list +
                               "); name one with container:");
      }
      index = 0;
      container = apps[0];
    } else {
      for (size_t i = 0; i < app_names.size(); i++) {
        if (app_names[i] == t.container) {
          index = static_cast<int>(i);
          container = apps[i];
        }
      }
      const YAML::Node inits = pod["initContainers"];
      if (index < 0 && inits && inits.IsSequence()) {
        for (size_t i = 0; i < inits.size(); i++) {
          if (inits[i]["name"] && inits[i]["name"].IsScalar() && inits[i]["name"].Scalar() == t.container) {
            index = static_cast<int>(i);
            container = inits[i];
            list_name = "initContainers";
          }
        }
      }
      if (index < 0) {
        return InvalidArgument(where + ": " + w.kind + "/" + w.name + " has no container named " +
                               t.container);
      }
    }
    const std::string cname = Scalar(container["name"]);
    auto e = std::find_if(entries.begin(), entries.end(), [&](const Entry& x) { return x.w == &w; });
    if (e == entries.end()) {
      entries.push_back({&w, json::array(), {}});
      e = entries.end() - 1;
    }
    if (!e->containers.insert(list_name + "/" + cname).second) {
      return InvalidArgument(where + ": " + w.kind + "/" + w.name + " container " + cname +
                             " is targeted twice");
    }

    // Requests must not end above limits (the API server would reject the pod).
    const YAML::Node res = container["resources"];
    const bool has_res = res && res.IsMap();
    ResourceList req = Written(has_res ? res["requests"] : YAML::Node());
    ResourceList lim = Written(has_res ? res["limits"] : YAML::Node());
    for (const auto& [k, v] : t.requests)
      req[CanonicalResourceName(k)] = *ParseResourceAmount(CanonicalResourceName(k), v);
    for (const auto& [k, v] : t.limits)
      lim[CanonicalResourceName(k)] = *ParseResourceAmount(CanonicalResourceName(k), v);
    for (const auto& [k, v] : req) {
      auto l = lim.find(k);
      if (l != lim.end() && v > l->second) {
        return InvalidArgument(where + ": " + w.kind + "/" + w.name + " container " + cname + ": request " +
                               k + " " + FormatResourceAmount(k, v) + " would be above its limit " +
                               FormatResourceAmount(k, l->second) + " (set limits." + k + " too)");
      }
    }

    const std::string base =
        PodSpecPath(w.kind) + "/" + list_name + "/" + std::to_string(index) + "/resources";
    if (!has_res) {
      json value = json::object();
      if (!t.requests.empty()) value["requests"] = t.requests;
      if (!t.limits.empty()) value["limits"] = t.limits;
      e->ops.push_back({{"op", "add"}, {"path", base}, {"value", value}});
      continue;
    }
    using Part = std::pair<std::string, const std::map<std::string, std::string>*>;
    for (const auto& [part, values] : {Part{"requests", &t.requests}, Part{"limits", &t.limits}}) {
      if (values->empty()) continue;
      const YAML::Node written = res[part];
      if (!written || !written.IsMap()) {
        e->ops.push_back({{"op", "add"}, {"path", base + "/" + part}, {"value", *values}});
        continue;
      }
      for (const auto& [k, v] : *values) {
        bool present = false;
        for (const auto& kv : written) present = present || kv.first.Scalar() == k;
        e->ops.push_back({{"op", present ? "replace" : "add"},
                          {"path", base + "/" + part + "/" + Pointer(k)},
                          {"value", v}});
      }
    }
  }
  json out = json::array();
  for (const auto& e : entries) {
    const Workload& w = *e.w;
    const std::string patch = e.ops.dump(-1, ' ', false, json::error_handler_t::replace);
    out.push_back({{"kind", w.kind},
                   {"name", w.name},
                   {"namespace", w.ns},
                   {"file", w.where.file},
                   {"line", w.where.line},
                   {"type", "json"},
                   {"patch", e.ops},
                   {"command", "kubectl patch " + Lower(w.kind) + " " + w.name + " -n " + w.ns +
                                   " --type=json -p '" + patch + "'"}});
  }
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

Result<std::string> RenderTargetPatches(const Plan& plan, const TargetTable& targets,
                                        const LoadOptions& load) {
  // The documents are read again here; one that yaml-cpp refuses to walk is bad input, not a crash.
  try {
    return TargetPatches(plan, targets, load);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("--targets: a manifest could not be walked again: " + e.msg);
  }
}

}  // namespace allot::plan
