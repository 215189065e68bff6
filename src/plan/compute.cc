// Per-workload arithmetic (LimitRange defaults, pod requests/limits, QoS) and the small parsers of the
// planner's options (node shapes, severities, the env/lint config).
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "allot/plan.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "allot/yaml_utf8.h"
#include "plan/internal.h"

namespace allot::plan {
namespace internal {

void AddScaled(ResourceList* a, const ResourceList& b, int64_t n) {
  // Saturates at the int64 limits (a replica count of 2^63 times 9e18 millicores must not wrap around).
  for (const auto& [k, v] : b) {
    int64_t& sum = (*a)[k];
    __int128 t = static_cast<__int128>(sum) + static_cast<__int128>(v) * n;
    sum = t > INT64_MAX ? INT64_MAX : t < INT64_MIN ? INT64_MIN : static_cast<int64_t>(t);
  }
}

void MaxInto(ResourceList* a, const ResourceList& b) {
  for (const auto& [k, v] : b) {
    auto [it, inserted] = a->emplace(k, v);
    if (!inserted) it->second = std::max(it->second, v);
  }
}

int64_t Get(const ResourceList& r, const std::string& key) {
  auto it = r.find(key);
  return it == r.end() ? 0 : it->second;
}

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  if (!__builtin_add_overflow(a, b, &out)) return out;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

int64_t SatMulAdd(int64_t a, int64_t x, int64_t n) {
  int64_t p = 0;
  if (__builtin_mul_overflow(x, n, &p)) p = (x > 0) == (n > 0) ? INT64_MAX : INT64_MIN;
  return SatAdd(a, p);
}

void AddStorage(StorageByClass* a, const StorageByClass& b, int64_t n) {
  for (const auto& [cls, d] : b) {
    StorageDemand& sum = (*a)[cls];
    sum.claims = SatMulAdd(sum.claims, d.claims, n);
    sum.bytes = SatMulAdd(sum.bytes, d.bytes, n);
  }
}

int64_t ScalePpm(int64_t amount, int64_t ppm) {
  __int128 p = (static_cast<__int128>(amount) * ppm + 999'999) / 1'000'000;
  return p > INT64_MAX ? INT64_MAX : static_cast<int64_t>(p);  // saturates, as AddScaled
}

std::string Where(const Location& loc) {
  return loc.line > 0 ? loc.file + ":" + std::to_string(loc.line) : loc.file;
}

}  // namespace internal

using internal::AddScaled;
using internal::Get;
using internal::MaxInto;

const char* QosName(Qos q) {
  switch (q) {
    case Qos::kGuaranteed: return "Guaranteed";
    case Qos::kBurstable: return "Burstable";
    case Qos::kBestEffort: return "BestEffort";
  }
  return "BestEffort";
}

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kError: return "error";
  }
  return "info";
}

Result<Severity> ParseSeverity(const std::string& text) {
  if (text == "info") return Severity::kInfo;
  if (text == "warning" || text == "warn") return Severity::kWarning;
  if (text == "error") return Severity::kError;
  return InvalidArgument("unknown severity \"" + text + "\" (use info, warning or error)");
}

int64_t EnvMultipliers::Factor(const std::string& resource) const {
  auto it = ppm.find(resource);
  return it == ppm.end() ? 1'000'000 : it->second;
}

EnvConfig EnvConfig::Defaults() {
  EnvConfig c;
  c.envs["dev"].ppm = {{"cpu", 500'000}, {"memory", 500'000}, {"gpu", 1'000'000}};
  c.envs["staging"].ppm = {{"cpu", 1'000'000}, {"memory", 1'000'000}, {"gpu", 1'000'000}};
  c.envs["prod"].ppm = {{"cpu", 1'500'000}, {"memory", 1'500'000}, {"gpu", 1'000'000}};
  return c;
}

namespace {

Result<double> ParseRatio(const YAML::Node& n) {
  if (!n.IsScalar()) return InvalidArgument("expected a number");
  char* end = nullptr;
  double v = std::strtod(n.Scalar().c_str(), &end);
  if (*end != '\0' || !(v >= 0)) return InvalidArgument("\"" + QuoteForError(n.Scalar()) + "\" is not a non-negative number");
  return v;
}

}  // namespace

Status ParseConfig(const std::string& yaml_text, const std::string& source, EnvConfig* env, LintConfig* lint) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  auto at = [&](const YAML::Node& n) { return source + ":" + std::to_string(n.Mark().line + 1); };
  if (auto bad = FindInvalidUtf8(root, yaml_text.size())) {
    return InvalidArgument(at(bad->node) + ": " + (bad->path.empty() ? "" : bad->path + ": ") + bad->message);
  }
  try {
    if (!root || root.IsNull()) return Status::Ok();
    if (!root.IsMap()) return InvalidArgument(source + ": expected a map with environments and/or lint");
    if (const YAML::Node envs = root["environments"]; envs) {
      if (!envs.IsMap()) return InvalidArgument(at(envs) + ": environments must be a map");
      for (const auto& e : envs) {
        EnvMultipliers m;
        m.ppm = {{"cpu", 1'000'000}, {"memory", 1'000'000}, {"gpu", 1'000'000}};
        if (!e.second.IsMap()) return InvalidArgument(at(e.second) + ": environment " + e.first.Scalar() + ": expected a map");
        for (const auto& kv : e.second) {
          auto q = kv.second.IsScalar() ? ParseQuantity(kv.second.Scalar()) : Result<Quantity>(InvalidArgument("expected a number"));
          if (!q.ok() || q->nanos < 0) {
            return InvalidArgument(at(kv.second) + ": environment " + e.first.Scalar() + "." + kv.first.Scalar() +
                                   ": expected a non-negative multiplier such as 0.5");
          }
          m.ppm[CanonicalResourceName(kv.first.Scalar())] = static_cast<int64_t>((q->nanos + 999) / 1000);
        }
        env->envs[e.first.Scalar()] = m;
      }
    }
    if (const YAML::Node l = root["lint"]; l) {
      if (!l.IsMap()) return InvalidArgument(at(l) + ": lint must be a map");
      for (const char* key : {"cpu_ratio", "memory_ratio"}) {
        const YAML::Node r = l[key];
        if (!r) continue;
        if (!r.IsSequence() || r.size() != 2) return InvalidArgument(at(r) + ": lint." + key + ": expected [min, max]");
        auto lo = ParseRatio(r[0]);
        auto hi = ParseRatio(r[1]);
        if (!lo.ok() || !hi.ok() || *lo > *hi) return InvalidArgument(at(r) + ": lint." + key + ": expected [min, max]");
        if (std::string(key) == "cpu_ratio") {
          lint->cpu_ratio_min = *lo;
          lint->cpu_ratio_max = *hi;
        } else {
          lint->memory_ratio_min = *lo;
          lint->memory_ratio_max = *hi;
        }
      }
      if (const YAML::Node d = l["disable"]; d && d.IsSequence()) {
        for (const auto& x : d) lint->disabled.push_back(x.Scalar());
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return Status::Ok();
}

Result<NodeShape> ParseNodeShape(const std::string& text) {
  NodeShape shape;
  std::stringstream ss(text);
  std::string part;
  std::string auto_name;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("node shape \"" + text + "\": expected key=value, got \"" + part + "\"");
    }
    std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "name") {
      shape.name = value;
    } else if (key == "count" || key == "max") {
      char* end = nullptr;
      long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0) {
        return InvalidArgument("node shape \"" + text + "\": count must be a non-negative integer");
      }
      shape.max_count = n;
    } else if (key == "cost") {
      char* end = nullptr;
      double c = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(c >= 0)) {
        return InvalidArgument("node shape \"" + text + "\": cost must be a non-negative number");
      }
      shape.cost = c;
    } else {
      std::string name = CanonicalResourceName(key);
      if (auto s = ValidateResourceName(name); !s.ok()) return InvalidArgument("node shape \"" + text + "\": " + s.message());
      auto amount = ParseResourceAmount(name, value);
      if (!amount.ok()) return InvalidArgument("node shape \"" + text + "\": " + amount.error().message);
      shape.capacity[name] = *amount;
      auto_name += (auto_name.empty() ? "" : ",") + name + "=" + value;
    }
  }
  if (Get(shape.capacity, "cpu") <= 0 || Get(shape.capacity, "memory") <= 0) {
    return InvalidArgument("node shape \"" + text + "\": cpu and memory are required (e.g. cpu=8,memory=16Gi)");
  }
  shape.capacity.emplace("pods", 110);
  if (shape.name.empty()) shape.name = auto_name;
  return shape;
}

void ComputeWorkload(Workload* w, const std::vector<LimitRange>& limit_ranges,
                     const std::map<std::string, ResourceList>& runtime_classes) {
  if (w->kind != "ComposeService") {
    // LimitRanger admission: defaults fill only what the container (after API defaulting) leaves unset.
    for (const auto& lr : limit_ranges) {
      if (lr.ns != w->ns) continue;
      for (const auto& item : lr.items) {
        if (item.type != "Container") continue;
        for (auto& c : w->containers) {
          for (const auto& [k, v] : item.default_limit) c.limits.emplace(k, v);
          for (const auto& [k, v] : item.default_request) c.requests.emplace(k, v);
        }
      }
    }
    if (w->overhead.empty() && !w->runtime_class.empty()) {
      auto it = runtime_classes.find(w->runtime_class);
      if (it != runtime_classes.end()) w->overhead = it->second;
    }
  }
  // Kubernetes PodRequests/PodLimits: app containers and sidecars sum; each init container runs beside the
  // sidecars started before it; the pod needs the max of the two phases, plus overhead.
  for (int pass = 0; pass < 2; pass++) {
    auto pick = [&](const Container& c) -> const ResourceList& { return pass == 0 ? c.requests : c.limits; };
    ResourceList sum, sidecars, init_max;
    for (const auto& c : w->containers) {
      if (!c.init) {
        AddScaled(&sum, pick(c), 1);
      } else if (c.sidecar) {
        AddScaled(&sum, pick(c), 1);
        AddScaled(&sidecars, pick(c), 1);
        MaxInto(&init_max, sidecars);
      } else {
        ResourceList phase = sidecars;
        AddScaled(&phase, pick(c), 1);
        MaxInto(&init_max, phase);
      }
    }
    MaxInto(&sum, init_max);
    if (pass == 0) {
      AddScaled(&sum, w->overhead, 1);
    } else {
      // As PodLimits: overhead is added only to limits that are set.
      for (auto& [k, v] : sum) v = SaturatingAdd(v, Get(w->overhead, k));
    }
    (pass == 0 ? w->pod_requests : w->pod_limits) = std::move(sum);
  }
  // QoS (pkg/apis/core/helper/qos): only cpu and memory count, zero values are ignored, and the comparison
  // is between the summed requests and summed limits of all containers, init containers included.
  ResourceList req, lim;
  bool guaranteed = true;
  for (const auto& c : w->containers) {
    for (const char* r : {"cpu", "memory"}) {
      if (int64_t v = Get(c.requests, r); v > 0) req[r] = SaturatingAdd(req[r], v);
    }
    int found = 0;
    for (const char* r : {"cpu", "memory"}) {
      if (int64_t v = Get(c.limits, r); v > 0) {
        lim[r] = SaturatingAdd(lim[r], v);
        found++;
      }
    }
    if (found < 2) guaranteed = false;
  }
  if (req.empty() && lim.empty()) {
    w->qos = Qos::kBestEffort;
    return;
  }
  if (guaranteed) {
    for (const auto& [k, v] : req) {
      if (Get(lim, k) != v) guaranteed = false;
    }
    if (req.size() != lim.size()) guaranteed = false;
  }
  w->qos = guaranteed ? Qos::kGuaranteed : Qos::kBurstable;
}

}  // namespace allot::plan
