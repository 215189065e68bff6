// `allot plan --emit patch --targets`: RFC 6902 JSON patches that set containers' requests and limits to a
// table of targets (YAML, or a markdown table as seed 000 writes it), computed from each document as written.
// See include/allot/plan.h.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "allot/plan.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "allot/yaml_load.h"
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
using json = nlohmann::json;

// ---- targets ----

// The resource key a patch writes: "gpu" is nvidia.com/gpu, others as written.
std::string PatchKey(const std::string& key) { return key == "gpu" ? "nvidia.com/gpu" : key; }

Status CheckAmount(const std::string& key, const std::string& value, const std::string& where) {
  if (auto s = ValidateResourceName(key); !s.ok()) return InvalidArgument(where + ": " + s.error().message);
  const std::string canonical = CanonicalResourceName(key);
  auto v = ParseResourceAmount(canonical, value);
  if (!v.ok()) return InvalidArgument(where + ": \"" + QuoteForError(value) + "\": " + v.error().message);
  bool bytes = canonical == "memory" || canonical == "ephemeral-storage" || canonical == "storage";
  bool unitless = !value.empty() && value.find_first_not_of("0123456789.") == std::string::npos;
  if (bytes && unitless && *v > 0 && *v < (int64_t{1} << 20)) {
    return InvalidArgument(where + ": \"" + QuoteForError(value) + "\" has no unit and would be " + value +
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
        all = YamlLoadAll(ss.str());
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
