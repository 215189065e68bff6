// `allot plan --emit override --targets FILE`: a docker-compose.override.yml that sets compose services'
// deploy.resources to a table of targets (seed 003's vertical scale-up). See include/allot/plan.h.
#include <cstdio>
#include <map>
#include <string>
#include <tuple>

#include "allot/plan.h"
#include "allot/resources.h"
#include "plan/internal.h"
#include "plan/tables.h"

namespace allot::plan {
namespace {

// Millicores as docker's `cpus` ('0.5', '4').
std::string Cpus(int64_t milli) {
  std::string s = std::to_string(milli / 1000);
  if (int64_t frac = milli % 1000; frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    s += f;
  }
  return "'" + s + "'";
}

// Bytes in docker's binary units (G = GiB, M = MiB, k = KiB), exact, else plain bytes.
std::string DockerBytes(int64_t bytes) {
  const struct {
    int64_t unit;
    const char* suffix;
  } units[] = {{int64_t{1} << 30, "G"}, {int64_t{1} << 20, "M"}, {int64_t{1} << 10, "k"}};
  for (const auto& u : units) {
    if (bytes != 0 && bytes % u.unit == 0) return std::to_string(bytes / u.unit) + u.suffix;
  }
  return std::to_string(bytes);
}

struct Amounts {
  int64_t cpu = -1, memory = -1;  // -1: not set
};

// cpu and memory of one side of a target row; other resources are refused (compose has no other).
Status ReadAmounts(const std::map<std::string, std::string>& in, const std::string& where, const char* side,
                   Amounts* out) {
  for (const auto& [name, text] : in) {
    std::string canon = CanonicalResourceName(name);
    if (canon != "cpu" && canon != "memory") {
      return InvalidArgument(where + ": " + side + "." + name + ": a compose override sets cpu and memory only");
    }
    auto v = ParseResourceAmount(canon, text);
    if (!v.ok()) return InvalidArgument(where + ": " + side + "." + name + ": " + v.error().message);
    (canon == "cpu" ? out->cpu : out->memory) = *v;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> RenderComposeOverride(const Plan& plan, const TargetTable& targets) {
  std::string out =
      "# docker-compose.override.yml written by `allot plan --emit override`: apply with\n"
      "# docker compose -f docker-compose.yml -f docker-compose.override.yml up -d\n"
      "services:\n";
  for (const auto& t : targets.rows) {
    const std::string where = internal::Where(t.where);
    std::vector<const Workload*> ws = internal::Select(plan, t.workload, t.ns);
    if (ws.empty()) return InvalidArgument(where + ": " + t.workload + ": no compose service of that name in the inputs");
    if (ws.size() > 1) {
      return InvalidArgument(where + ": " + t.workload + " names several services (" + internal::Names(ws) +
                             "); add namespace: (the compose project)");
    }
    const Workload& w = *ws[0];
    if (w.kind != "ComposeService") {
      return InvalidArgument(where + ": " + t.workload + " is a Kubernetes " + w.kind +
                             "; an override is for compose services (use --emit patch)");
    }
    if (!t.container.empty() && t.container != w.name) {
      return InvalidArgument(where + ": container " + t.container + ": a compose service has one container, " + w.name);
    }
    Amounts limits, reservations;
    if (auto s = ReadAmounts(t.limits, where, "limits", &limits); !s.ok()) return s.error();
    if (auto s = ReadAmounts(t.requests, where, "requests", &reservations); !s.ok()) return s.error();
    // Seed 003's scale-up reserves half of what it limits when no reservation is given.
    if (reservations.cpu < 0 && limits.cpu > 0) reservations.cpu = (limits.cpu + 1) / 2;
    if (reservations.memory < 0 && limits.memory > 0) reservations.memory = (limits.memory + 1) / 2;
    for (const auto& [r, l, name] : {std::tuple{reservations.cpu, limits.cpu, "cpu"},
                                     std::tuple{reservations.memory, limits.memory, "memory"}}) {
      if (r >= 0 && l >= 0 && r > l) {
        return InvalidArgument(where + ": requests." + name + " is above limits." + name);
      }
    }
    auto side = [](const Amounts& a, const char* key) {
      if (a.cpu < 0 && a.memory < 0) return std::string();
      std::string s = std::string("        ") + key + ":\n";
      if (a.cpu >= 0) s += "          cpus: " + Cpus(a.cpu) + "\n";
      if (a.memory >= 0) s += "          memory: " + DockerBytes(a.memory) + "\n";
      return s;
    };
    out += "  " + w.name + ":\n    deploy:\n      resources:\n" + side(limits, "limits") +
           side(reservations, "reservations");
  }
  return out;
}

}  // namespace allot::plan
