// The alerting rules of `allot rules` (include/allot/rules.h): config parsing, the rule list, rendering.
#include "allot/rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <regex>
#include <set>

#include "allot/utf8.h"
#include "allot/yaml_utf8.h"
#include "plan/tables.h"

namespace allot::plan {
namespace {

using internal::YamlQuote;

// Resource keys of the threshold tables, in output order, with the alert-name word and the label value
// the metric carries (the server names disk "ephemeral-storage", the guard "disk").
struct ResourceName {
  const char* key;
  const char* word;
  const char* server_label;
};
constexpr ResourceName kGuardResources[] = {
    {"cpu", "Cpu", "cpu"}, {"memory", "Memory", "memory"}, {"gpu", "Gpu", "gpu"}, {"disk", "Disk", "disk"}};
constexpr ResourceName kClusterResources[] = {
    {"cpu", "Cpu", "cpu"}, {"memory", "Memory", "memory"}, {"disk", "Disk", "ephemeral-storage"}};

// A number as Prometheus and people read it: 0.65, 10, 0.7 (no float noise).
std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string Percent(double ratio) { return Num(ratio * 100) + "%"; }

// Seconds in a Prometheus duration the config parser accepted ("1h30m" -> 5400; y = 365 d, as Prometheus).
double DurationSeconds(const std::string& d) {
  double total = 0, n = 0;
  for (size_t i = 0; i < d.size(); i++) {
    char c = d[i];
    if (c >= '0' && c <= '9') {
      n = n * 10 + (c - '0');
      continue;
    }
    double unit = 1;
    if (c == 'm' && i + 1 < d.size() && d[i + 1] == 's') {
      unit = 0.001;
      i++;
    } else {
      unit = c == 's' ? 1 : c == 'm' ? 60 : c == 'h' ? 3600 : c == 'd' ? 86400 : c == 'w' ? 604800 : 31536000;
    }
    total += n * unit;
    n = 0;
  }
  return total;
}

class ConfigParser {
 public:
  ConfigParser(std::string source, RulesConfig* config) : source_(std::move(source)), config_(config) {}

  Status Parse(const YAML::Node& root) {
    if (!root || root.IsNull()) return Status::Ok();
    if (!root.IsMap())
      return Bad(root, "", "expected a map (guard, degradation, cluster, tenant, queue, ...)");
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      Status s = Status::Ok();
      if (key == "guard") {
        s = Table(v, key, kGuardResources, &config_->guard, &config_->guard_for);
      } else if (key == "cluster") {
        s = Table(v, key, kClusterResources, &config_->cluster, &config_->cluster_for);
      } else if (key == "tenant") {
        s = Table(v, key, kClusterResources, &config_->tenant, &config_->tenant_for);
      } else if (key == "degradation") {
        s = Degradation(v);
      } else if (key == "queue") {
        s = Fields(v, key,
                   {{"depth", [&](const YAML::Node& n,
                                  const std::string& k) { return Count(n, k, &config_->queue_depth); }},
                    {"for", [&](const YAML::Node& n,
                                const std::string& k) { return Duration(n, k, &config_->queue_for); }},
                    {"wait_expired",
                     [&](const YAML::Node& n, const std::string& k) {
                       return Count(n, k, &config_->queue_wait_expired);
                     }},
                    {"window", [&](const YAML::Node& n, const std::string& k) {
                       return Duration(n, k, &config_->queue_window, false);
                     }},
                    {"max_age", [&](const YAML::Node& n, const std::string& k) {
                       return Duration(n, k, &config_->queue_max_age);
                     }}});
      } else if (key == "breaker") {
        s = Fields(v, key, {{"for", [&](const YAML::Node& n, const std::string& k) {
                               return Duration(n, k, &config_->breaker_for);
                             }}});
      } else if (key == "lease_expiry") {
        s = Fields(
            v, key,
            {{"per_minute",
              [&](const YAML::Node& n, const std::string& k) {
                return Count(n, k, &config_->lease_expiries_per_minute);
              }},
             {"window", [&](const YAML::Node& n,
                            const std::string& k) { return Duration(n, k, &config_->lease_window, false); }},
             {"for", [&](const YAML::Node& n, const std::string& k) {
                return Duration(n, k, &config_->lease_for);
              }}});
      } else if (key == "labels") {
        s = Labels(v);
      } else if (key == "disable") {
        s = Disable(v);
      } else if (key == "group_prefix") {
        s = GroupPrefix(v);
      } else {
        return Bad(kv.first, key,
                   "unknown key (use guard, degradation, cluster, tenant, queue, breaker, lease_expiry, "
                   "labels, disable, "
                   "group_prefix)");
      }
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  using FieldFn = std::function<Status(const YAML::Node&, const std::string&)>;

  Status Bad(const YAML::Node& n, const std::string& key, const std::string& why) const {
    return InvalidArgument(source_ + ":" + std::to_string(n.Mark().line + 1) + ": " +
                           (key.empty() ? "" : key + ": ") + why);
  }

  // A map whose keys are all in `fields`; each value handed to its function with the full key.
  Status Fields(const YAML::Node& n, const std::string& path,
                const std::vector<std::pair<std::string, FieldFn>>& fields) {
    if (!n.IsMap()) return Bad(n, path, "expected a map");
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      const FieldFn* fn = nullptr;
      std::string names;
      for (const auto& [name, f] : fields) {
        if (name == k) fn = &f;
        names += (names.empty() ? "" : ", ") + name;
      }
      if (fn == nullptr) return Bad(kv.first, path + "." + k, "unknown key (use " + names + ")");
      if (auto s = (*fn)(kv.second, path + "." + k); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status Ratio(const YAML::Node& n, const std::string& key, double* out) {
    std::string t = n.IsScalar() ? n.Scalar() : "";
    bool percent = !t.empty() && t.back() == '%';
    if (percent) t.pop_back();
    char* end = nullptr;
    double v = t.empty() ? NAN : std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !std::isfinite(v)) {
      return Bad(n, key,
                 "\"" + (n.IsScalar() ? QuoteForError(n.Scalar()) : std::string("(not a scalar)")) +
                     "\" is not a ratio like 0.7 or 70%");
    }
    if (percent) v /= 100;
    if (v < 0 || v > 1) return Bad(n, key, Num(v) + " is outside 0-1 (0% to 100%)");
    *out = v;
    return Status::Ok();
  }

  Status Count(const YAML::Node& n, const std::string& key, double* out) {
    const std::string t = n.IsScalar() ? n.Scalar() : "";
    char* end = nullptr;
    double v = t.empty() ? NAN : std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !std::isfinite(v) || v < 0) {
      return Bad(n, key,
                 "\"" + (n.IsScalar() ? QuoteForError(t) : std::string("(not a scalar)")) +
                     "\" is not a non-negative number");
    }
    *out = v;
    return Status::Ok();
  }

  // A Prometheus duration ("30s", "5m", "1h30m"); "0" or "0s" means none where `allow_zero`.
  Status Duration(const YAML::Node& n, const std::string& key, std::string* out, bool allow_zero = true) {
    static const std::regex kDuration("^([0-9]+(ms|s|m|h|d|w|y))+$");
    const std::string t = n.IsScalar() ? n.Scalar() : "";
    bool zero = t == "0" || std::regex_match(t, std::regex("^(0+(ms|s|m|h|d|w|y))+$"));
    if (!std::regex_match(t, kDuration) && t != "0") {
      return Bad(n, key, "\"" + QuoteForError(t) + "\" is not a Prometheus duration like 30s, 5m or 1h");
    }
    if (zero && !allow_zero) return Bad(n, key, "a rate window must be longer than 0");
    *out = zero ? "" : t;
    return Status::Ok();
  }

  template <size_t N>
  Status Table(const YAML::Node& n, const std::string& path, const ResourceName (&resources)[N],
               std::map<std::string, Thresholds>* table, std::string* for_duration) {
    if (!n.IsMap()) return Bad(n, path, "expected a map");
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (k == "for") {
        if (auto s = Duration(kv.second, path + ".for", for_duration); !s.ok()) return s;
        continue;
      }
      bool known = false;
      std::string names;
      for (const auto& r : resources) {
        known = known || k == r.key;
        names += std::string(names.empty() ? "" : ", ") + r.key;
      }
      if (!known) return Bad(kv.first, path + "." + k, "unknown key (use " + names + ", for)");
      Thresholds t = (*table)[k];
      if (auto s = Pair(kv.second, path + "." + k, &t, true); !s.ok()) return s;
      (*table)[k] = t;
    }
    return Status::Ok();
  }

  // {warning: X, critical: Y} with warning ≤ critical; ratios or levels.
  Status Pair(const YAML::Node& n, const std::string& path, Thresholds* t, bool ratio) {
    if (!n.IsMap()) return Bad(n, path, "expected {warning: ..., critical: ...}");
    YAML::Node warn_node = n;  // where a warning above critical is reported
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      double* slot = k == "warning" ? &t->warning : k == "critical" ? &t->critical : nullptr;
      if (slot == nullptr) {
        if (!ratio && k == "for") {
          if (auto s = Duration(kv.second, path + ".for", &config_->degradation_for); !s.ok()) return s;
          continue;
        }
        return Bad(kv.first, path + "." + k,
                   std::string("unknown key (use warning, critical") + (ratio ? ")" : ", for)"));
      }
      if (ratio) {
        if (auto s = Ratio(kv.second, path + "." + k, slot); !s.ok()) return s;
      } else {
        const std::string v = kv.second.IsScalar() ? kv.second.Scalar() : "";
        if (v.size() != 1 || v[0] < '0' || v[0] > '4') {
          return Bad(kv.second, path + "." + k,
                     "\"" + QuoteForError(v) + "\" is not a degradation level 0-4");
        }
        *slot = v[0] - '0';
      }
      if (k == "warning") warn_node.reset(kv.first);
    }
    if (t->warning > t->critical) {
      return Bad(warn_node, path,
                 "warning " + (ratio ? Percent(t->warning) : Num(t->warning)) + " is above critical " +
                     (ratio ? Percent(t->critical) : Num(t->critical)));
    }
    return Status::Ok();
  }

  Status Degradation(const YAML::Node& n) { return Pair(n, "degradation", &config_->degradation, false); }

  Status Labels(const YAML::Node& n) {
    static const std::regex kName("^[a-zA-Z_][a-zA-Z0-9_]*$");
    if (!n.IsMap()) return Bad(n, "labels", "expected a map of label: value");
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (!std::regex_match(k, kName)) return Bad(kv.first, "labels." + k, "not a Prometheus label name");
      if (k == "severity" || k == "alertname")
        return Bad(kv.first, "labels." + k, "set by allot rules itself");
      if (!kv.second.IsScalar()) return Bad(kv.second, "labels." + k, "expected a string");
      config_->labels[k] = kv.second.Scalar();
    }
    return Status::Ok();
  }

  Status Disable(const YAML::Node& n) {
    if (!n.IsSequence()) return Bad(n, "disable", "expected a list of alert names");
    const std::vector<std::string> names = AlertNames();
    for (size_t i = 0; i < n.size(); i++) {
      const std::string a = n[i].IsScalar() ? n[i].Scalar() : "";
      if (std::find(names.begin(), names.end(), a) == names.end()) {
        return Bad(n[i], "disable[" + std::to_string(i) + "]",
                   "no alert named \"" + a + "\" (see docs/rules.md)");
      }
      config_->disabled.push_back(a);
    }
    return Status::Ok();
  }

  Status GroupPrefix(const YAML::Node& n) {
    static const std::regex kPrefix("^[a-zA-Z0-9_.:-]+$");
    const std::string v = n.IsScalar() ? n.Scalar() : "";
    if (!std::regex_match(v, kPrefix))
      return Bad(n, "group_prefix", "expected a word of letters, digits, - _ . :");
    config_->group_prefix = v;
    return Status::Ok();
  }

  std::string source_;
  RulesConfig* config_;
};

// The rules in output order; `disabled` is applied by MakeAlertRules.
std::vector<AlertRule> AllRules(const RulesConfig& c) {
  std::vector<AlertRule> out;
  auto add = [&](const std::string& group, const std::string& alert, const std::string& expr,
                 const std::string& for_d, const std::string& severity, const std::string& summary,
                 const std::string& description) {
    AlertRule r;
    r.group = c.group_prefix + "-" + group;
    r.alert = alert;
    r.expr = expr;
    r.for_duration = for_d;
    r.labels = c.labels;
    r.labels["severity"] = severity;
    r.annotations = {{"summary", summary}, {"description", description}};
    out.push_back(std::move(r));
  };
  auto threshold = [](const std::map<std::string, Thresholds>& t, const char* key) {
    auto it = t.find(key);
    return it == t.end() ? Thresholds{} : it->second;
  };

  // Host guard (seed 004): used share of each resource's capacity, per host and resource id.
  for (const auto& r : kGuardResources) {
    const Thresholds t = threshold(c.guard, r.key);
    const std::string metric = std::string("allot_guard_used_ratio{resource=\"") + r.server_label + "\"}";
    // A GPU's id is its device, a disk's its path; cpu and memory have one each (id = the resource).
    const bool per_id = std::string(r.key) == "gpu" || std::string(r.key) == "disk";
    const std::string what =
        std::string(r.key) + (per_id ? " {{ $labels.id }}" : "") + " on {{ $labels.instance }}";
    add("guard", std::string("Allot") + r.word + "ApproachingLimit", metric + " > " + Num(t.warning),
        c.guard_for, "warning", what + " at {{ $value | humanizePercentage }}",
        std::string("The allot guard sees ") + r.key + " above its warning threshold of " +
            Percent(t.warning) + " (limit " + Percent(t.critical) +
            "); `allot guard recommend` says what to free.");
    add("guard", std::string("Allot") + r.word + "AtLimit", metric + " > " + Num(t.critical), c.guard_for,
        "critical", what + " at {{ $value | humanizePercentage }}",
        std::string("The allot guard sees ") + r.key + " above its limit of " + Percent(t.critical) +
            "; new work that needs it is refused.");
  }
  const std::string guard_level = "max without (resource, id) (allot_guard_degradation_level)";
  add("guard", "AllotGracefulDegradationActive", guard_level + " >= " + Num(c.degradation.warning),
      c.degradation_for, "warning", "{{ $labels.instance }} at degradation level {{ $value | humanize }}",
      "The host's highest resource degradation level is at or above " + Num(c.degradation.warning) +
          ": batch work should scale down (levels 0-4: <70%, 70-85%, 85-95%, 95-100%, >=100% of the limit).");
  add("guard", "AllotGracefulDegradationCritical", guard_level + " >= " + Num(c.degradation.critical),
      c.degradation_for, "critical", "{{ $labels.instance }} at degradation level {{ $value | humanize }}",
      "The host's highest resource degradation level is at or above " + Num(c.degradation.critical) +
          ": operations should stop and no new work be spawned.");

  // Server cluster (seed 000): allocated share of schedulable capacity over all nodes, then per tenant.
  for (const auto& r : kClusterResources) {
    const Thresholds t = threshold(c.cluster, r.key);
    const std::string sel = std::string("{resource=\"") + r.server_label + "\"}";
    const std::string expr = "sum without (node) (allot_node_allocated" + sel +
                             ") / sum without (node) (allot_node_capacity" + sel + ")";
    const std::string summary =
        std::string("cluster ") + r.key + " allocated at {{ $value | humanizePercentage }}";
    add("cluster", std::string("AllotCluster") + r.word + "UtilizationHigh", expr + " > " + Num(t.warning),
        c.cluster_for, "warning", summary,
        std::string("Allocated ") + r.key + " is above " + Percent(t.warning) +
            " of the cluster's capacity: scale up or investigate (critical at " + Percent(t.critical) + ").");
    add("cluster", std::string("AllotCluster") + r.word + "UtilizationCritical",
        expr + " > " + Num(t.critical), c.cluster_for, "critical", summary,
        std::string("Allocated ") + r.key + " is above " + Percent(t.critical) +
            " of the cluster's capacity: new requests will queue.");
  }
  for (const auto& r : kClusterResources) {
    const Thresholds t = threshold(c.tenant, r.key);
    const std::string sel = std::string("{resource=\"") + r.server_label + "\"}";
    const std::string expr = "allot_tenant_quota_used" + sel + " / (allot_tenant_quota_max" + sel + " > 0)";
    const std::string summary =
        std::string("tenant {{ $labels.tenant }} uses {{ $value | humanizePercentage }} of its ") + r.key +
        " quota";
    add("cluster", std::string("AllotTenant") + r.word + "QuotaHigh", expr + " > " + Num(t.warning),
        c.tenant_for, "warning", summary,
        std::string("The tenant's ") + r.key + " in use is above " + Percent(t.warning) +
            " of its quota maximum.");
    add("cluster", std::string("AllotTenant") + r.word + "QuotaCritical", expr + " > " + Num(t.critical),
        c.tenant_for, "critical", summary,
        std::string("The tenant's ") + r.key + " in use is above " + Percent(t.critical) +
            " of its quota maximum: its next requests will be refused or queued.");
  }
  add("cluster", "AllotClusterDegradationActive", "allot_degradation_level >= " + Num(c.degradation.warning),
      c.degradation_for, "warning", "allot cluster at degradation level {{ $value | humanize }}",
      "The server's degradation level is at or above " + Num(c.degradation.warning) +
          "; allot_scale_factor says how far batch work should shrink.");
  add("cluster", "AllotClusterDegradationCritical",
      "allot_degradation_level >= " + Num(c.degradation.critical), c.degradation_for, "critical",
      "allot cluster at degradation level {{ $value | humanize }}",
      "The server's degradation level is at or above " + Num(c.degradation.critical) +
          ": submissions below critical priority are refused when degradation is enforced.");

  // Server: queue, breakers, leases.
  add("server", "AllotQueueBacklog", "allot_queue_depth > " + Num(c.queue_depth), c.queue_for, "warning",
      "{{ $value | humanize }} requests waiting in the allot queue",
      "More than " + Num(c.queue_depth) + " requests have been waiting in the engine's queue" +
          (c.queue_for.empty() ? "" : " for " + c.queue_for) + ".");
  if (!c.queue_max_age.empty()) {
    add("server", "AllotQueueOldestRequest", "allot_queue_oldest_age_seconds > " + Num(DurationSeconds(c.queue_max_age)), "",
        "warning", "a request has waited {{ $value | humanizeDuration }} in the allot queue",
        "The longest-waiting queued request has waited more than " + c.queue_max_age +
            ": the queue is not moving for it (see GET /v1/allocations?state=queued for its reason).");
  }
  add("server", "AllotQueueWaitExpired",
      "increase(allot_rejections_total{reason=\"wait_expired\"}[" + c.queue_window + "]) > " +
          Num(c.queue_wait_expired),
      "", "warning", "{{ $value | humanize }} queued requests expired in " + c.queue_window,
      "Requests queued longer than their wait and were rejected (reason wait_expired): more than " +
          Num(c.queue_wait_expired) + " over " + c.queue_window + ".");
  add("server", "AllotBreakerOpen", "allot_breaker_state{state=\"open\"} == 1", c.breaker_for, "warning",
      "circuit breaker {{ $labels.key }} is open",
      "The breaker refuses calls for its key" +
          (c.breaker_for.empty() ? "" : " and has been open for " + c.breaker_for) +
          "; see GET /v1/breakers/{key} for its window.");
  const std::string per_minute = Num(c.lease_expiries_per_minute);
  add("server", "AllotLeaseExpiryStorm",
      "rate(allot_lease_expiries_total[" + c.lease_window + "]) * 60 > " + per_minute, c.lease_for, "warning",
      "{{ $value | humanize }} allocation leases expire per minute",
      "More than " + per_minute + " allocation leases a minute ran out (over " + c.lease_window +
          "): holders are not renewing (crashed agents, network trouble or too short a lease).");
  add("server", "AllotPoolLeaseExpiryStorm",
      "rate(allot_concurrency_pool_lease_expiries_total[" + c.lease_window + "]) * 60 > " + per_minute,
      c.lease_for, "warning", "{{ $value | humanize }} leases of pool {{ $labels.key }} expire per minute",
      "More than " + per_minute + " concurrency-pool leases a minute ran out (over " + c.lease_window +
          ") instead of being released.");
  return out;
}

void WriteGroups(const std::vector<AlertRule>& rules, const std::string& indent, std::string* out) {
  *out += indent + "groups:\n";
  std::string group;
  for (const auto& r : rules) {
    if (r.group != group) {
      group = r.group;
      *out += indent + "- name: " + YamlQuote(group) + "\n" + indent + "  rules:\n";
    }
    const std::string in = indent + "  ";
    *out += in + "- alert: " + r.alert + "\n";
    *out += in + "  expr: " + YamlQuote(r.expr) + "\n";
    if (!r.for_duration.empty()) *out += in + "  for: " + r.for_duration + "\n";
    *out += in + "  labels:\n";
    for (const auto& [k, v] : r.labels) *out += in + "    " + k + ": " + YamlQuote(v) + "\n";
    *out += in + "  annotations:\n";
    for (const auto& [k, v] : r.annotations) *out += in + "    " + k + ": " + YamlQuote(v) + "\n";
  }
}

}  // namespace

Status ParseRulesConfig(const std::string& yaml_text, const std::string& source, RulesConfig* config) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  if (auto bad = FindInvalidUtf8(root, yaml_text.size())) {
    return InvalidArgument(source + ":" + std::to_string(bad->node.Mark().line + 1) + ": " +
                           (bad->path.empty() ? "" : bad->path + ": ") + bad->message);
  }
  RulesConfig parsed = *config;
  try {
    if (auto s = ConfigParser(source, &parsed).Parse(root); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  *config = std::move(parsed);
  return Status::Ok();
}

std::vector<std::string> AlertNames() {
  std::vector<std::string> out;
  for (const auto& r : AllRules(RulesConfig{})) out.push_back(r.alert);
  return out;
}

std::vector<AlertRule> MakeAlertRules(const RulesConfig& config) {
  std::vector<AlertRule> out;
  const std::set<std::string> off(config.disabled.begin(), config.disabled.end());
  for (auto& r : AllRules(config)) {
    if (off.count(r.alert) == 0) out.push_back(std::move(r));
  }
  return out;
}

std::string RenderRulesFile(const RulesConfig& config) {
  std::string out =
      "# Alerting rules for allot's metrics, written by `allot rules` (docs/rules.md).\n"
      "# Check with: promtool check rules FILE\n";
  WriteGroups(MakeAlertRules(config), "", &out);
  return out;
}

std::string RenderPrometheusRule(const RulesConfig& config, const PrometheusRuleMeta& meta) {
  std::string out =
      "# Alerting rules for allot's metrics, written by `allot rules --format prometheusrule`.\n";
  out += "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n";
  out += "  name: " + YamlQuote(meta.name) + "\n  namespace: " + YamlQuote(meta.ns) + "\n";
  if (!meta.labels.empty()) {
    out += "  labels:\n";
    for (const auto& [k, v] : meta.labels) out += "    " + YamlQuote(k) + ": " + YamlQuote(v) + "\n";
  }
  out += "spec:\n";
  WriteGroups(MakeAlertRules(config), "  ", &out);
  return out;
}

}  // namespace allot::plan
