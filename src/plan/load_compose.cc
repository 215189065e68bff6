// docker-compose loading: each service becomes one workload (kind ComposeService) with one container.
//
// Mapping: deploy.resources.limits -> limits, deploy.resources.reservations -> requests (a reservation is
// what docker guarantees; unlike Kubernetes, a missing reservation is not defaulted to the limit).
// Legacy keys mem_limit, mem_reservation and cpus fill what `deploy` leaves unset. Memory uses docker's
// units (b/k/m/g are 1024 multiples, any case), cpus are cores. GPUs come from
// deploy.resources.reservations.devices with capability gpu. The namespace is the compose project: the
// top-level `name`, else the directory holding the file. `${VAR:-default}` is resolved from the
// environment, then the default.
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "allot/quantity.h"
#include "allot/resources.h"
#include "plan/internal.h"

namespace allot::plan::internal {
namespace {

Location LocOf(const std::string& file, const YAML::Node& n) {
  return {file, n.Mark().line >= 0 ? n.Mark().line + 1 : 0};
}

// Resolves ${VAR}, ${VAR:-default}, ${VAR-default} and $VAR. Unset without default -> error.
Result<std::string> Interpolate(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '$') {
      out += in[i];
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '$') {
      out += '$';
      i++;
      continue;
    }
    std::string name, fallback;
    bool has_default = false, empty_is_unset = false;
    if (i + 1 < in.size() && in[i + 1] == '{') {
      size_t close = in.find('}', i);
      if (close == std::string::npos) return InvalidArgument("unterminated ${ in \"" + in + "\"");
      std::string body = in.substr(i + 2, close - i - 2);
      size_t op = body.find_first_of(":-");
      name = body.substr(0, op);
      if (op != std::string::npos) {
        empty_is_unset = body[op] == ':';
        size_t dash = empty_is_unset ? op + 1 : op;
        if (dash < body.size() && body[dash] == '-') {
          has_default = true;
          fallback = body.substr(dash + 1);
        }
      }
      i = close;
    } else {
      size_t j = i + 1;
      while (j < in.size() && (std::isalnum(static_cast<unsigned char>(in[j])) || in[j] == '_')) j++;
      name = in.substr(i + 1, j - i - 1);
      i = j - 1;
    }
    const char* v = std::getenv(name.c_str());
    if (v != nullptr && !(empty_is_unset && *v == '\0')) {
      out += v;
    } else if (has_default) {
      out += fallback;
    } else {
      return InvalidArgument("variable " + name + " is not set and has no default");
    }
  }
  return out;
}

Result<std::string> ScalarAt(const YAML::Node& n, const std::string& file, const std::string& what) {
  if (!n.IsScalar()) return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": expected a scalar");
  auto v = Interpolate(n.Scalar());
  if (!v.ok()) return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": " + v.error().message);
  return v;
}

Status ReadCpus(const YAML::Node& n, const std::string& file, const std::string& what, ResourceList* out) {
  if (!n || n.IsNull()) return Status::Ok();
  auto text = ScalarAt(n, file, what);
  if (!text.ok()) return text.status();
  auto milli = ParseDockerCpus(*text);
  if (!milli.ok()) return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": " + milli.error().message);
  if (*milli > 0) out->emplace("cpu", *milli);
  return Status::Ok();
}

Status ReadMemory(const YAML::Node& n, const std::string& file, const std::string& what, ResourceList* out) {
  if (!n || n.IsNull()) return Status::Ok();
  auto text = ScalarAt(n, file, what);
  if (!text.ok()) return text.status();
  auto bytes = ParseDockerMemory(*text);
  if (!bytes.ok()) return InvalidArgument(Where(LocOf(file, n)) + ": " + what + ": " + bytes.error().message);
  if (*bytes > 0) out->emplace("memory", *bytes);
  return Status::Ok();
}

std::string ProjectName(const YAML::Node& doc, const std::string& source) {
  if (doc["name"] && doc["name"].IsScalar()) return doc["name"].Scalar();
  std::filesystem::path p = std::filesystem::absolute(source == "<stdin>" ? "." : source).lexically_normal();
  std::string dir = p.parent_path().filename().string();
  std::string out;
  for (char c : dir) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_') out += static_cast<char>(std::tolower(u));
  }
  return out.empty() ? "default" : out;
}

}  // namespace

Status LoadCompose(const YAML::Node& doc, const std::string& source, Manifests* out) {
  std::string project = ProjectName(doc, source);
  for (const auto& kv : doc["services"]) {
    const YAML::Node svc = kv.second;
    Workload w;
    w.kind = "ComposeService";
    w.name = kv.first.Scalar();
    w.ns = project;
    w.where = LocOf(source, kv.first);
    out->object_counts[project]["ComposeService"]++;
    if (svc.IsNull()) {
      w.containers.push_back(Container{w.name, {}, {}, false, false, "", {}});
      out->workloads.push_back(std::move(w));
      continue;
    }
    if (!svc.IsMap()) return InvalidArgument(Where(w.where) + ": service " + w.name + ": expected a map");
    Container c;
    c.name = w.name;
    if (svc["image"] && svc["image"].IsScalar()) c.image = svc["image"].Scalar();
    std::string what = "service " + w.name;
    const YAML::Node deploy = svc["deploy"];
    if (deploy && deploy.IsMap()) {
      const YAML::Node res = deploy["resources"];
      if (res && res.IsMap()) {
        const YAML::Node lim = res["limits"];
        const YAML::Node rsv = res["reservations"];
        if (lim && lim.IsMap()) {
          if (auto s = ReadCpus(lim["cpus"], source, what + ": deploy.resources.limits.cpus", &c.limits); !s.ok()) return s;
          if (auto s = ReadMemory(lim["memory"], source, what + ": deploy.resources.limits.memory", &c.limits); !s.ok()) {
            return s;
          }
        }
        if (rsv && rsv.IsMap()) {
          if (auto s = ReadCpus(rsv["cpus"], source, what + ": deploy.resources.reservations.cpus", &c.requests); !s.ok()) {
            return s;
          }
          if (auto s = ReadMemory(rsv["memory"], source, what + ": deploy.resources.reservations.memory", &c.requests);
              !s.ok()) {
            return s;
          }
          if (const YAML::Node devs = rsv["devices"]; devs && devs.IsSequence()) {
            for (const auto& d : devs) {
              bool gpu = false;
              if (d["capabilities"] && d["capabilities"].IsSequence()) {
                for (const auto& cap : d["capabilities"]) gpu = gpu || (cap.IsScalar() && cap.Scalar() == "gpu");
              }
              if (!gpu) continue;
              int64_t count = 1;
              if (d["count"] && d["count"].IsScalar() && d["count"].Scalar() != "all") {
                const std::string& text = d["count"].Scalar();
                char* end = nullptr;
                errno = 0;
                count = std::strtoll(text.c_str(), &end, 10);
                // A whole number of devices (compose: an integer or "all"); 2^50 keeps count × 1000 in range.
                if (text.empty() || *end != '\0' || errno == ERANGE || count < 0 ||
                    count > (int64_t{1} << 50)) {
                  return InvalidArgument(Where(LocOf(source, d["count"])) + ": " + what +
                                         ": deploy.resources.reservations.devices[].count \"" + text +
                                         "\": expected a whole number of devices or \"all\"");
                }
              } else if (d["device_ids"] && d["device_ids"].IsSequence()) {
                count = static_cast<int64_t>(d["device_ids"].size());
              }
              c.requests["gpu"] = SaturatingAdd(c.requests["gpu"], count * 1000);
              c.limits["gpu"] = SaturatingAdd(c.limits["gpu"], count * 1000);
            }
          }
        }
      }
      if (deploy["mode"] && deploy["mode"].IsScalar() && deploy["mode"].Scalar() == "global") w.per_node = true;
      if (deploy["replicas"] && deploy["replicas"].IsScalar()) {
        auto r = ScalarAt(deploy["replicas"], source, what + ": deploy.replicas");
        if (!r.ok()) return r.status();
        char* end = nullptr;
        long long v = std::strtoll(r->c_str(), &end, 10);
        if (r->empty() || *end != '\0' || v < 0) {
          return InvalidArgument(Where(LocOf(source, deploy["replicas"])) + ": " + what + ": deploy.replicas \"" + *r +
                                 "\" is not a non-negative integer");
        }
        w.replicas = v;
      }
    }
    if (svc["scale"] && svc["scale"].IsScalar() && !(deploy && deploy["replicas"])) {
      w.replicas = std::max(0LL, std::strtoll(svc["scale"].Scalar().c_str(), nullptr, 10));
    }
    // Legacy keys fill only what deploy left unset (emplace keeps existing values).
    if (auto s = ReadCpus(svc["cpus"], source, what + ": cpus", &c.limits); !s.ok()) return s;
    if (auto s = ReadMemory(svc["mem_limit"], source, what + ": mem_limit", &c.limits); !s.ok()) return s;
    if (auto s = ReadMemory(svc["mem_reservation"], source, what + ": mem_reservation", &c.requests); !s.ok()) return s;
    if (const YAML::Node env = svc["environment"]; env) {
      if (env.IsSequence()) {
        for (const auto& e : env) {
          if (e.IsScalar()) c.env_values.push_back(e.Scalar());
        }
      } else if (env.IsMap()) {
        for (const auto& e : env) {
          if (e.second.IsScalar()) c.env_values.push_back(e.second.Scalar());
        }
      }
    }
    if (const YAML::Node p = svc["profiles"]; p && p.IsSequence()) {
      for (const auto& x : p) {
        if (x.IsScalar()) w.profiles.push_back(x.Scalar());
      }
    }
    w.containers.push_back(std::move(c));
    w.min_replicas = w.max_replicas = w.replicas;
    out->workloads.push_back(std::move(w));
  }
  return Status::Ok();
}

}  // namespace allot::plan::internal
