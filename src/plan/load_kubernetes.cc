// Kubernetes manifest loading: multi-document YAML, List objects, directories and stdin.
//
// Only the fields that matter for resources are read; other kinds are counted and skipped. Every error
// names the file and the 1-based line of the offending node (yaml-cpp marks are 0-based).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "allot/plan.h"
#include "allot/resources.h"
#include "allot/yaml_load.h"
#include "allot/yaml_utf8.h"
#include "plan/internal.h"

namespace allot::plan {
namespace {

namespace fs = std::filesystem;
using internal::Where;

Location LocOf(const std::string& file, const YAML::Node& n) {
  int line = n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
  return {file, line};
}

// n[k1][k2]... without yaml-cpp's exception for a missing intermediate: a missing or non-map step
// yields an undefined-free Null node.
YAML::Node Path(const YAML::Node& n, std::initializer_list<const char*> keys) {
  YAML::Node cur = n;
  for (const char* k : keys) {
    if (!cur || !cur.IsMap()) return YAML::Node();
    YAML::Node next = cur[k];
    if (!next) return YAML::Node();
    cur.reset(next);  // rebinds; operator= would overwrite the referenced node
  }
  return cur;
}

std::string Scalar(const YAML::Node& n, const std::string& fallback = "") {
  if (!n || !n.IsScalar()) return fallback;
  return n.Scalar();
}

Result<int64_t> IntField(const YAML::Node& n, int64_t fallback, const std::string& file, const std::string& what) {
  if (!n || n.IsNull()) return fallback;
  if (!n.IsScalar()) return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": expected an integer");
  const std::string& s = n.Scalar();
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 0) {
    return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": \"" + s + "\" is not a non-negative integer");
  }
  return static_cast<int64_t>(v);
}

Status ReadResourceList(const YAML::Node& n, const std::string& file, const std::string& what, ResourceList* out) {
  if (!n || n.IsNull()) return Status::Ok();
  if (!n.IsMap()) return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": expected a map of resources");
  for (const auto& kv : n) {
    std::string name = CanonicalResourceName(kv.first.Scalar());
    if (!kv.second.IsScalar()) {
      return InvalidArgument(Where(LocOf(file, kv.second)) + ": " + what + "." + name + ": expected a quantity");
    }
    auto amount = ParseResourceAmount(name, kv.second.Scalar());
    if (!amount.ok()) return InvalidArgument(Where(LocOf(file, kv.second)) + ": " + what + "." + amount.error().message);
    (*out)[name] = *amount;
  }
  return Status::Ok();
}

Status ReadContainers(const YAML::Node& list, bool init, const std::string& file, const std::string& owner,
                      std::vector<Container>* out) {
  if (!list || list.IsNull()) return Status::Ok();
  if (!list.IsSequence()) return InvalidArgument(Where(LocOf(file, list)) + ": " + owner + ": containers must be a list");
  for (const auto& c : list) {
    if (!c.IsMap()) return InvalidArgument(Where(LocOf(file, c)) + ": " + owner + ": a container must be a map");
    Container k;
    k.name = Scalar(c["name"]);
    k.init = init;
    k.sidecar = init && Scalar(c["restartPolicy"]) == "Always";
    k.image = Scalar(c["image"]);
    std::string what = owner + " container " + k.name + ": resources";
    const YAML::Node res = c["resources"];
    if (res && res.IsMap()) {
      // A misspelled key (`request:`, `limit:`) would silently plan nothing, so it is an error.
      for (const auto& kv : res) {
        const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        if (key == "requests" || key == "limits" || key == "claims") continue;
        std::string hint = key.rfind("req", 0) == 0 ? " (did you mean requests?)"
                           : key.rfind("lim", 0) == 0 ? " (did you mean limits?)"
                                                      : " (a container's resources has requests, limits and claims)";
        return InvalidArgument(Where(LocOf(file, kv.first)) + ": " + what + "." + key + ": unknown key" + hint);
      }
      if (auto s = ReadResourceList(res["requests"], file, what + ".requests", &k.requests); !s.ok()) return s;
      if (auto s = ReadResourceList(res["limits"], file, what + ".limits", &k.limits); !s.ok()) return s;
    } else if (res && !res.IsNull()) {
      return InvalidArgument(Where(LocOf(file, res)) + ": " + what + ": expected a map");
    }
    // API defaulting: a resource with a limit but no request gets the limit as its request.
    for (const auto& [name, amount] : k.limits) k.requests.emplace(name, amount);
    if (const YAML::Node env = c["env"]; env && env.IsSequence()) {
      for (const auto& e : env) {
        if (e.IsMap() && e["value"] && e["value"].IsScalar()) k.env_values.push_back(e["value"].Scalar());
      }
    }
    for (const char* key : {"args", "command"}) {
      if (const YAML::Node a = c[key]; a && a.IsSequence()) {
        for (const auto& v : a) {
          if (v.IsScalar()) k.env_values.push_back(v.Scalar());
        }
      }
    }
    out->push_back(std::move(k));
  }
  return Status::Ok();
}

// One claim's storage class (see StorageByClass) and requested bytes, from a PVC spec.
Status ReadClaim(const YAML::Node& spec, const std::string& file, const std::string& what, StorageByClass* out) {
  std::string cls = kDefaultStorageClass;
  if (const YAML::Node c = Path(spec, {"storageClassName"}); c && !c.IsNull()) {
    if (!c.IsScalar()) return InvalidArgument(Where(LocOf(file, c)) + ": " + what + ".spec.storageClassName: expected a name");
    cls = c.Scalar().empty() ? kNoStorageClass : c.Scalar();
  }
  ResourceList req;
  if (auto s = ReadResourceList(Path(spec, {"resources", "requests"}), file, what + ".spec.resources.requests", &req); !s.ok()) {
    return s;
  }
  StorageDemand& d = (*out)[cls];
  d.claims++;
  d.bytes = internal::SatAdd(d.bytes, internal::Get(req, "storage"));
  return Status::Ok();
}

void ReadStringMap(const YAML::Node& n, std::map<std::string, std::string>* out) {
  if (!n || !n.IsMap()) return;
  for (const auto& kv : n) {
    if (kv.second.IsScalar()) (*out)[kv.first.Scalar()] = kv.second.Scalar();
  }
}

// Reads a pod spec (and the template metadata beside it) into `w`.
Status ReadPodSpec(const YAML::Node& tmpl_meta, const YAML::Node& spec, const std::string& file, Workload* w) {
  std::string owner = w->kind + "/" + w->name;
  if (!spec || !spec.IsMap()) return InvalidArgument(Where(w->where) + ": " + owner + ": missing pod spec");
  ReadStringMap(tmpl_meta["annotations"], &w->annotations);
  if (auto s = ReadContainers(spec["initContainers"], true, file, owner, &w->containers); !s.ok()) return s;
  if (auto s = ReadContainers(spec["containers"], false, file, owner, &w->containers); !s.ok()) return s;
  if (auto s = ReadResourceList(spec["overhead"], file, owner + ": overhead", &w->overhead); !s.ok()) return s;
  w->priority_class = Scalar(spec["priorityClassName"]);
  w->runtime_class = Scalar(spec["runtimeClassName"]);
  return Status::Ok();
}

std::string NamespaceOf(const YAML::Node& meta, const LoadOptions& options) {
  std::string ns = Scalar(meta["namespace"]);
  return ns.empty() ? options.default_namespace : ns;
}

bool IsClusterScoped(const std::string& kind) {
  static const char* kinds[] = {"Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "RuntimeClass",
                                "StorageClass", "PersistentVolume", "CustomResourceDefinition", "Node",
                                "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
                                "APIService", "IngressClass", "PodSecurityPolicy"};
  return std::find(std::begin(kinds), std::end(kinds), kind) != std::end(kinds);
}

Status LoadObject(const YAML::Node& obj, const std::string& file, const LoadOptions& options, Manifests* out);

Status LoadWorkload(const YAML::Node& obj, const std::string& kind, const std::string& file,
                    const LoadOptions& options, Manifests* out) {
  const YAML::Node meta = Path(obj, {"metadata"});
  const YAML::Node spec = Path(obj, {"spec"});
  Workload w;
  w.kind = kind;
  w.name = Scalar(meta["name"]);
  w.ns = NamespaceOf(meta, options);
  w.where = LocOf(file, obj);
  if (w.name.empty()) return InvalidArgument(Where(w.where) + ": " + kind + " has no metadata.name");
  ReadStringMap(meta["annotations"], &w.annotations);
  if (!spec || !spec.IsMap()) return InvalidArgument(Where(w.where) + ": " + kind + "/" + w.name + ": missing spec");
  std::string what = kind + "/" + w.name;
  if (kind == "Pod") {
    if (auto s = ReadPodSpec(meta, spec, file, &w); !s.ok()) return s;
  } else if (kind == "Job" || kind == "CronJob") {
    YAML::Node job = kind == "Job" ? spec : Path(spec, {"jobTemplate", "spec"});
    if (!job || !job.IsMap()) return InvalidArgument(Where(w.where) + ": " + what + ": missing jobTemplate.spec");
    auto parallelism = IntField(job["parallelism"], 1, file, what + ": parallelism");
    if (!parallelism.ok()) return parallelism.status();
    auto completions = IntField(job["completions"], -1, file, what + ": completions");
    if (!completions.ok()) return completions.status();
    // As the Job controller: never more pods at once than completions still needed.
    w.replicas = *completions >= 0 ? std::min(*parallelism, *completions) : *parallelism;
    if (auto s = ReadPodSpec(Path(job, {"template", "metadata"}), Path(job, {"template", "spec"}), file, &w); !s.ok()) return s;
  } else {
    if (kind == "DaemonSet") {
      w.per_node = true;
    } else {
      auto replicas = IntField(spec["replicas"], 1, file, what + ": spec.replicas");
      if (!replicas.ok()) return replicas.status();
      w.replicas = *replicas;
    }
    if (auto s = ReadPodSpec(Path(spec, {"template", "metadata"}), Path(spec, {"template", "spec"}), file, &w); !s.ok()) return s;
    if (const YAML::Node vcts = spec["volumeClaimTemplates"]; kind == "StatefulSet" && vcts && vcts.IsSequence()) {
      for (const auto& v : vcts) {
        std::string claim = what + ": volumeClaimTemplates/" + Scalar(Path(v, {"metadata", "name"}), "?");
        if (auto s = ReadClaim(Path(v, {"spec"}), file, claim, &w.pvc); !s.ok()) return s;
      }
    }
  }
  w.min_replicas = w.max_replicas = w.replicas;
  out->workloads.push_back(std::move(w));
  return Status::Ok();
}

Status LoadObject(const YAML::Node& obj, const std::string& file, const LoadOptions& options, Manifests* out) {
  if (!obj || obj.IsNull()) return Status::Ok();
  if (!obj.IsMap()) {
    out->ignored_kinds["(not an object)"]++;
    return Status::Ok();
  }
  std::string kind = Scalar(obj["kind"]);
  if (kind.empty()) {
    if (obj["services"] && obj["services"].IsMap()) return internal::LoadCompose(obj, file, out);
    out->ignored_kinds["(no kind)"]++;
    return Status::Ok();
  }
  const YAML::Node meta = Path(obj, {"metadata"});
  if (kind == "List" || (kind.size() > 4 && kind.substr(kind.size() - 4) == "List" && obj["items"])) {
    const YAML::Node items = obj["items"];
    if (items && !items.IsSequence()) return InvalidArgument(Where(LocOf(file, items)) + ": List items must be a list");
    if (items) {
      for (const auto& item : items) {
        if (auto s = LoadObject(item, file, options, out); !s.ok()) return s;
      }
    }
    return Status::Ok();
  }
  if (meta && !meta.IsMap()) return InvalidArgument(Where(LocOf(file, meta)) + ": metadata must be a map");
  std::string ns = IsClusterScoped(kind) ? "" : NamespaceOf(meta, options);
  if (!ns.empty()) out->object_counts[ns][kind]++;
  const YAML::Node spec = Path(obj, {"spec"});
  static const char* workload_kinds[] = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                                         "ReplicationController", "Job", "CronJob"};
  if (std::find(std::begin(workload_kinds), std::end(workload_kinds), kind) != std::end(workload_kinds)) {
    return LoadWorkload(obj, kind, file, options, out);
  }
  std::string name = Scalar(meta["name"]);
  Location where = LocOf(file, obj);
  if (kind == "HorizontalPodAutoscaler") {
    Hpa h;
    h.name = name;
    h.ns = ns;
    h.where = where;
    if (!spec || !spec.IsMap()) return InvalidArgument(Where(where) + ": HorizontalPodAutoscaler/" + name + ": missing spec");
    h.target_kind = Scalar(Path(spec, {"scaleTargetRef", "kind"}));
    h.target_name = Scalar(Path(spec, {"scaleTargetRef", "name"}));
    auto mn = IntField(spec["minReplicas"], 1, file, "HorizontalPodAutoscaler/" + name + ": minReplicas");
    if (!mn.ok()) return mn.status();
    auto mx = IntField(spec["maxReplicas"], -1, file, "HorizontalPodAutoscaler/" + name + ": maxReplicas");
    if (!mx.ok()) return mx.status();
    if (*mx < 0) return InvalidArgument(Where(where) + ": HorizontalPodAutoscaler/" + name + ": maxReplicas is required");
    if (*mx < *mn) {
      return InvalidArgument(Where(where) + ": HorizontalPodAutoscaler/" + name + ": maxReplicas " +
                             std::to_string(*mx) + " is below minReplicas " + std::to_string(*mn));
    }
    h.min_replicas = *mn;
    h.max_replicas = *mx;
    out->hpas.push_back(std::move(h));
  } else if (kind == "ResourceQuota") {
    ResourceQuota q;
    q.name = name;
    q.ns = ns;
    q.where = where;
    if (spec && spec["hard"]) ReadStringMap(spec["hard"], &q.hard);
    out->quotas.push_back(std::move(q));
  } else if (kind == "LimitRange") {
    LimitRange lr;
    lr.name = name;
    lr.ns = ns;
    lr.where = where;
    const YAML::Node limits = spec ? spec["limits"] : YAML::Node();
    if (limits && limits.IsSequence()) {
      for (const auto& item : limits) {
        LimitRangeItem it;
        it.type = Scalar(item["type"], "Container");
        std::string what = "LimitRange/" + name;
        if (auto s = ReadResourceList(item["max"], file, what + ".max", &it.max); !s.ok()) return s;
        if (auto s = ReadResourceList(item["min"], file, what + ".min", &it.min); !s.ok()) return s;
        if (auto s = ReadResourceList(item["default"], file, what + ".default", &it.default_limit); !s.ok()) return s;
        if (auto s = ReadResourceList(item["defaultRequest"], file, what + ".defaultRequest", &it.default_request);
            !s.ok()) {
          return s;
        }
        if (it.type == "Container") {
          // The API server's defaulting of LimitRange items: default <- max, defaultRequest <- default <- min.
          for (const auto& [k, v] : it.max) it.default_limit.emplace(k, v);
          for (const auto& [k, v] : it.default_limit) it.default_request.emplace(k, v);
          for (const auto& [k, v] : it.min) it.default_request.emplace(k, v);
        }
        lr.items.push_back(std::move(it));
      }
    }
    out->limit_ranges.push_back(std::move(lr));
  } else if (kind == "PriorityClass") {
    auto v = ParsePriority(Scalar(obj["value"], "0"));
    out->priority_classes[name] = v.ok() ? *v : 0;
  } else if (kind == "RuntimeClass") {
    ResourceList overhead;
    if (auto s = ReadResourceList(Path(obj, {"overhead", "podFixed"}), file, "RuntimeClass/" + name + ".overhead", &overhead);
        !s.ok()) {
      return s;
    }
    out->runtime_classes[name] = overhead;
  } else if (kind == "StorageClass") {
    if (Scalar(Path(meta, {"annotations", "storageclass.kubernetes.io/is-default-class"})) == "true") {
      out->default_storage_class = name;
    }
    out->ignored_kinds[kind]++;
  } else if (kind == "PersistentVolumeClaim") {
    if (auto s = ReadClaim(spec, file, "PersistentVolumeClaim/" + name, &out->pvc_objects[ns]); !s.ok()) return s;
  } else {
    out->ignored_kinds[kind]++;
  }
  return Status::Ok();
}

Status LoadFile(const std::string& path, const LoadOptions& options, Manifests* out) {
  std::string text;
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream f(path, std::ios::binary);
    if (!f) return InvalidArgument(path + ": cannot read file");
    std::ostringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  return LoadText(text, path == "-" ? "<stdin>" : path, options, out);
}

}  // namespace

namespace {

// Appends `part` (parsed from text starting at 0-based line `line_offset`) to `out`.
void Merge(Manifests&& part, int line_offset, Manifests* out) {
  for (auto& w : part.workloads) {
    w.where.line += line_offset;
    out->workloads.push_back(std::move(w));
  }
  for (auto& h : part.hpas) {
    h.where.line += line_offset;
    out->hpas.push_back(std::move(h));
  }
  for (auto& q : part.quotas) {
    q.where.line += line_offset;
    out->quotas.push_back(std::move(q));
  }
  for (auto& l : part.limit_ranges) {
    l.where.line += line_offset;
    out->limit_ranges.push_back(std::move(l));
  }
  for (auto& [k, v] : part.priority_classes) out->priority_classes[k] = v;
  for (auto& [k, v] : part.runtime_classes) out->runtime_classes[k] = v;
  for (auto& [ns, kinds] : part.object_counts) {
    for (auto& [k, n] : kinds) out->object_counts[ns][k] += n;
  }
  for (auto& [k, n] : part.ignored_kinds) out->ignored_kinds[k] += n;
  if (!part.default_storage_class.empty()) out->default_storage_class = part.default_storage_class;
  for (auto& [ns, classes] : part.pvc_objects) {
    for (auto& [cls, d] : classes) {
      StorageDemand& sum = out->pvc_objects[ns][cls];
      sum.claims = internal::SatAdd(sum.claims, d.claims);
      sum.bytes = internal::SatAdd(sum.bytes, d.bytes);
    }
  }
  out->documents += part.documents;
}

}  // namespace

namespace {

Status LoadSequential(const std::string& text, const std::string& source, const LoadOptions& options, Manifests* out) {
  std::vector<YAML::Node> docs;
  try {
    docs = YamlLoadAll(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  size_t budget = YamlVisitBound(text.size());
  for (const auto& doc : docs) {
    out->documents++;
    // Every key and string must be UTF-8 text before anything is read from the document.
    if (auto bad = FindInvalidUtf8(doc, &budget)) {
      std::string where = Where(LocOf(source, bad->node));
      return InvalidArgument(where + ": " + (bad->path.empty() ? "" : bad->path + ": ") + bad->message);
    }
    try {
      if (auto s = LoadObject(doc, source, options, out); !s.ok()) return s;
    } catch (const YAML::Exception& e) {
      int line = e.mark.line >= 0 ? e.mark.line + 1 : doc.Mark().line + 1;
      return InvalidArgument(source + ":" + std::to_string(line) + ": malformed document: " + e.msg);
    }
  }
  return Status::Ok();
}

}  // namespace

Status LoadText(const std::string& text, const std::string& source, const LoadOptions& options, Manifests* out) {
  // Large multi-document inputs are parsed in parallel: a line starting with "---" at column 0 always starts a
  // new document (YAML forbids document markers inside content), so the text splits safely there. On any
  // error the whole text is parsed again sequentially, so messages and line numbers stay exact.
  constexpr size_t kParallelMin = 1 << 20;
  unsigned threads = std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  if (text.size() < kParallelMin || threads < 2) return LoadSequential(text, source, options, out);
  struct Chunk {
    size_t begin, end;
    int line;
  };
  std::vector<Chunk> chunks;
  size_t target = text.size() / threads + 1;
  size_t begin = 0;
  int line = 0, begin_line = 0;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '\n') continue;
    line++;
    size_t next = i + 1;
    bool marker = text.compare(next, 3, "---") == 0 &&
                  (next + 3 == text.size() || text[next + 3] == '\n' || text[next + 3] == ' ' ||
                   text[next + 3] == '\t' || text[next + 3] == '\r');
    if (marker && next - begin >= target) {
      chunks.push_back({begin, next, begin_line});
      begin = next;
      begin_line = line;
    }
  }
  chunks.push_back({begin, text.size(), begin_line});
  if (chunks.size() < 2) return LoadSequential(text, source, options, out);
  std::vector<Manifests> parts(chunks.size());
  std::vector<bool> ok(chunks.size(), false);
  std::vector<std::thread> workers;
  for (size_t c = 0; c < chunks.size(); c++) {
    workers.emplace_back([&, c] {
      ok[c] = LoadSequential(text.substr(chunks[c].begin, chunks[c].end - chunks[c].begin), source, options, &parts[c]).ok();
    });
  }
  for (auto& t : workers) t.join();
  if (std::find(ok.begin(), ok.end(), false) != ok.end()) return LoadSequential(text, source, options, out);
  for (size_t c = 0; c < chunks.size(); c++) Merge(std::move(parts[c]), chunks[c].line, out);
  return Status::Ok();
}

namespace {

void MergeCompose(YAML::Node dst, const YAML::Node& src) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (dst[key] && dst[key].IsMap() && it->second.IsMap()) {
      MergeCompose(dst[key], it->second);
    } else {
      dst[key] = YAML::Clone(it->second);
    }
  }
}

// The compose files of `docker compose -f A -f B ...` as one project: each file is loaded alone first
// (so an error names its own line), then the documents are merged in order and planned once; the
// project and the workloads' positions are the first file's.
Status LoadMergedCompose(const std::vector<std::string>& files, const LoadOptions& options, Manifests* out) {
  YAML::Node merged(YAML::NodeType::Map);
  for (const auto& file : files) {
    std::ifstream f(file, std::ios::binary);
    if (!f) return InvalidArgument(file + ": cannot read file");
    std::ostringstream ss;
    ss << f.rdbuf();
    Manifests alone;
    if (auto s = LoadText(ss.str(), file, options, &alone); !s.ok()) return s;
    YAML::Node doc;
    try {
      doc = YAML::Load(ss.str());
    } catch (const YAML::Exception& e) {
      return InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (!doc.IsMap() || !doc["services"] || !doc["services"].IsMap()) {
      return InvalidArgument(file + ": --compose: not a compose file (no services mapping)");
    }
    MergeCompose(merged, doc);
  }
  try {
    return internal::LoadCompose(merged, files.front(), out);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(files.front() + " (merged): " + e.msg);
  }
}

}  // namespace

Result<Manifests> Load(const std::vector<std::string>& paths, const LoadOptions& options) {
  Manifests out;
  if (paths.empty() && options.compose_files.empty()) return InvalidArgument("no input files");
  if (!options.compose_files.empty()) {
    if (auto s = LoadMergedCompose(options.compose_files, options, &out); !s.ok()) return s.error();
  }
  for (const auto& path : paths) {
    std::error_code ec;
    if (path != "-" && fs::is_directory(path, ec)) {
      std::vector<std::string> files;
      for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        std::string ext = it->path().extension().string();
        if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(it->path().string());
      }
      if (ec) return InvalidArgument(path + ": cannot list directory: " + ec.message());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (auto s = LoadFile(f, options, &out); !s.ok()) return s.error();
      }
    } else {
      if (path != "-" && !fs::exists(path, ec)) return InvalidArgument(path + ": no such file or directory");
      if (auto s = LoadFile(path, options, &out); !s.ok()) return s.error();
    }
  }
  return out;
}

}  // namespace allot::plan
