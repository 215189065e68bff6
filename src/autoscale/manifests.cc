// Today's container requests and limits from Kubernetes YAML, for `allot recommend --manifests`.
// Deliberately small: it reads the pod template of the common workload kinds and nothing else.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "allot/autoscale.h"
#include "allot/quantity.h"
#include "autoscale/yaml_util.h"
#include "allot/yaml_load.h"
#include "allot/yaml_utf8.h"

namespace allot::autoscale {
namespace {

Result<std::optional<int64_t>> Amount(const YAML::Node& m, const char* name, bool milli, const std::string& where) {
  if (!m || !m.IsMap() || !m[name]) return std::optional<int64_t>();
  auto q = ParseQuantity(m[name].as<std::string>(""));
  if (!q.ok()) return InvalidArgument(where + name + ": " + q.error().message);
  return std::optional<int64_t>(milli ? q->Milli() : q->Value());
}

Status LoadDocument(const YAML::Node& doc, const std::string& path, std::map<std::string, CurrentResources>& out) {
  if (!doc.IsMap() || !doc["kind"]) return Status::Ok();
  std::string kind = doc["kind"].as<std::string>("");
  if (kind == "List" && doc["items"] && doc["items"].IsSequence()) {
    for (const auto& item : doc["items"])
      if (auto s = LoadDocument(item, path, out); !s.ok()) return s;
    return Status::Ok();
  }
  YAML::Node pod_spec;
  if (kind == "Pod") pod_spec.reset(doc["spec"]);
  else if (kind == "CronJob" && doc["spec"] && doc["spec"]["jobTemplate"] && doc["spec"]["jobTemplate"]["spec"] &&
           doc["spec"]["jobTemplate"]["spec"]["template"])
    pod_spec.reset(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]);
  else if ((kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet" || kind == "Job") &&
           doc["spec"] && doc["spec"]["template"])
    pod_spec.reset(doc["spec"]["template"]["spec"]);
  else
    return Status::Ok();
  if (!pod_spec || !pod_spec.IsMap() || !pod_spec["containers"] || !pod_spec["containers"].IsSequence()) return Status::Ok();
  std::string name = doc["metadata"] && doc["metadata"]["name"] ? doc["metadata"]["name"].as<std::string>("") : "";
  std::string ns = doc["metadata"] && doc["metadata"]["namespace"] ? doc["metadata"]["namespace"].as<std::string>("default")
                                                                   : "default";
  int32_t replicas = 1;
  if (kind != "Pod" && kind != "DaemonSet" && doc["spec"]["replicas"]) {
    try {
      replicas = doc["spec"]["replicas"].as<int32_t>();
    } catch (const YAML::Exception&) {
      replicas = 1;  // templated or odd values: count one replica
    }
  }
  for (const auto& c : pod_spec["containers"]) {
    CurrentResources r;
    r.kind = kind;
    r.replicas = replicas;
    r.source = path + ":" + std::to_string(c.Mark().line + 1);
    std::string cname = c["name"] ? c["name"].as<std::string>("") : "";
    std::string where = r.source + ": " + kind + " " + name + " container " + cname + ": ";
    const YAML::Node& res = c["resources"];
    YAML::Node req, lim;
    if (res && res.IsMap()) {
      if (res["requests"]) req.reset(res["requests"]);
      if (res["limits"]) lim.reset(res["limits"]);
    }
    auto cr = Amount(req, "cpu", true, where + "requests.");
    auto mr = Amount(req, "memory", false, where + "requests.");
    auto cl = Amount(lim, "cpu", true, where + "limits.");
    auto ml = Amount(lim, "memory", false, where + "limits.");
    for (auto* x : {&cr, &mr, &cl, &ml})
      if (!x->ok()) return x->error();
    r.cpu_request_milli = *cr;
    r.memory_request_bytes = *mr;
    r.cpu_limit_milli = *cl;
    r.memory_limit_bytes = *ml;
    // Kubernetes defaults a missing request to the limit.
    if (!r.cpu_request_milli) r.cpu_request_milli = r.cpu_limit_milli;
    if (!r.memory_request_bytes) r.memory_request_bytes = r.memory_limit_bytes;
    out[ns + "/" + name + "/" + cname] = r;
  }
  return Status::Ok();
}

}  // namespace

Result<std::map<std::string, CurrentResources>> LoadManifestResources(const std::vector<std::string>& paths) {
  std::map<std::string, CurrentResources> out;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p, ec)) {
        auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
      }
      if (ec) return InvalidArgument(p + ": " + ec.message());
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return InvalidArgument(f + ": cannot open file");
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      std::string text = ss.str();
      size_t budget = YamlVisitBound(text.size());
      for (const auto& doc : YamlLoadAll(text)) {
        if (auto bad = FindInvalidUtf8(doc, &budget)) return InvalidArgument(internal::Where(f, bad->node, bad->path) + bad->message);
        if (auto s = LoadDocument(doc, f, out); !s.ok()) return s.error();
      }
    } catch (const YAML::Exception& e) {
      return InvalidArgument(f + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
  }
  return out;
}

}  // namespace allot::autoscale
