// `allot plan --emit hpa`: autoscaling/v2 HorizontalPodAutoscalers from a scaling table (YAML, the plan
// config's autoscaling: section, or a markdown table as seed 000 writes it). See include/allot/plan.h.
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "allot/plan.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "plan/internal.h"
#include "plan/tables.h"

namespace allot::plan {
namespace {

using internal::At;
using internal::Cell;
using internal::Column;
using internal::Integer;
using internal::IsTotalRow;
using internal::LoadYaml;
using internal::Lower;
using internal::MarkdownTables;
using internal::MdRow;
using internal::MdTable;
using internal::Names;
using internal::Scalar;
using internal::Select;
using internal::Slug;
using internal::Trim;
using internal::YamlQuote;
using json = nlohmann::json;

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
      return InvalidArgument(where + ": \"" + QuoteForError(text) +
                             "\" is not a utilization percent like 70%");
    }
    m.utilization = v;
    return m;
  }
  auto amount = ParseResourceAmount(CanonicalResourceName(resource), t);
  if (!amount.ok() || *amount <= 0) {
    return InvalidArgument(where + ": \"" + QuoteForError(text) +
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
        return InvalidArgument(At(source, kv.second) + ": " + path + ": \"" + QuoteForError(v) +
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
              return InvalidArgument(At(source, f.second) + ": " + pp + ".type: \"" +
                                     QuoteForError(pol.type) + "\" is not Pods or Percent");
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
        return InvalidArgument(where + ": " + t.header.cells[col] + ": \"" + QuoteForError(c) +
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
          return InvalidArgument(where + ": " + t.header.cells[trigger_col] + ": \"" + QuoteForError(part) +
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

bool Scalable(const std::string& kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet" ||
         kind == "ReplicationController";
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
      out += "  name: " + YamlQuote(hpa_name) + "\n  namespace: " + YamlQuote(w->ns) + "\n";
      out += "spec:\n  scaleTargetRef:\n";
      out += std::string("    apiVersion: ") + (w->kind == "ReplicationController" ? "v1" : "apps/v1") + "\n";
      out += "    kind: " + w->kind + "\n    name: " + YamlQuote(w->name) + "\n";
      out += "  minReplicas: " + std::to_string(row.min_replicas) + "\n";
      out += "  maxReplicas: " + std::to_string(row.max_replicas) + "\n";
      out += "  metrics:\n";
      for (const auto& m : metrics) {
        out += "  - type: Resource\n    resource:\n      name: " + m.resource + "\n      target:\n";
        if (m.utilization > 0) {
          out += "        type: Utilization\n        averageUtilization: " + std::to_string(m.utilization) +
                 "\n";
        } else {
          out += "        type: AverageValue\n        averageValue: " + YamlQuote(m.average_value) + "\n";
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

}  // namespace allot::plan
