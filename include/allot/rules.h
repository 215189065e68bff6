// Prometheus alerting rules for allot's own metrics, behind `allot rules`.
//
// The rules cover what allot exports and nothing else (docs/rules.md lists each alert, its expression and the
// metric it reads): the host guard's used share per resource and its degradation level (`allot guard
// metrics`, thresholds of seed 004's alerts table), the server's cluster and tenant utilisation (allocated /
// capacity and quota used / max, thresholds of seed 000's warning/critical table), its degradation level,
// the engine queue (depth, age of its oldest request, requests expired while waiting), open circuit breakers and lease-expiry storms.
// Every threshold, `for` duration and rate window comes from RulesConfig; ParseRulesConfig reads the YAML
// form and answers bad input with `file:line: key: why`. The output is a rules file (`promtool check rules`)
// or the same groups inside a `monitoring.coreos.com/v1` PrometheusRule object.
// Thread-safety: pure functions over values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "allot/result.h"

namespace allot::plan {

// A warning and a critical threshold. Ratios are fractions (0.7 = 70 %); levels and counts are plain numbers.
struct Thresholds {
  double warning = 0;
  double critical = 0;
};

struct RulesConfig {
  // Host guard (`allot guard metrics`): allot_guard_used_ratio{resource} above the threshold (seed 004).
  std::map<std::string, Thresholds> guard = {
      {"cpu", {0.70, 0.80}}, {"memory", {0.75, 0.80}}, {"gpu", {0.70, 0.80}}, {"disk", {0.65, 0.70}}};
  std::string guard_for = "5m";
  // Degradation level (0-4) at or above which the guard's and the server's degradation alerts fire.
  Thresholds degradation = {2, 4};
  std::string degradation_for = "5m";
  // Server cluster utilisation: sum of allot_node_allocated / sum of allot_node_capacity (seed 000).
  std::map<std::string, Thresholds> cluster = {
      {"cpu", {0.70, 0.85}}, {"memory", {0.75, 0.90}}, {"disk", {0.80, 0.95}}};
  std::string cluster_for = "10m";
  // Tenant quota use: allot_tenant_quota_used / allot_tenant_quota_max, same table as the cluster.
  std::map<std::string, Thresholds> tenant = {
      {"cpu", {0.70, 0.85}}, {"memory", {0.75, 0.90}}, {"disk", {0.80, 0.95}}};
  std::string tenant_for = "10m";
  // Engine queue: allot_queue_depth above `queue_depth` for `queue_for`; more than `queue_wait_expired`
  // requests rejected with reason wait_expired over `queue_window`.
  double queue_depth = 100;
  std::string queue_for = "10m";
  double queue_wait_expired = 0;
  std::string queue_window = "10m";
  // The longest-waiting queued request older than this (allot_queue_oldest_age_seconds); "" turns it off.
  std::string queue_max_age = "30m";
  // A circuit breaker open (allot_breaker_state{state="open"} == 1) for this long.
  std::string breaker_for = "1m";
  // Lease-expiry storm: more than this many expiries per minute, averaged over `lease_window`, for
  // `lease_for` (allocations: allot_lease_expiries_total; pools:
  // allot_concurrency_pool_lease_expiries_total).
  double lease_expiries_per_minute = 10;
  std::string lease_window = "5m";
  std::string lease_for = "2m";
  // Extra labels on every alert (beside `severity`), alerts left out by name, the group name prefix.
  std::map<std::string, std::string> labels;
  std::vector<std::string> disabled;
  std::string group_prefix = "allot";
};

// One alerting rule as it is written out.
struct AlertRule {
  std::string group;  // full group name ("allot-guard")
  std::string alert;  // "AllotDiskApproachingLimit"
  std::string expr;
  std::string for_duration;                        // Prometheus duration; "" = fires at once
  std::map<std::string, std::string> labels;       // severity and the configured extra labels
  std::map<std::string, std::string> annotations;  // summary, description
};

// Parses the YAML form of RulesConfig (docs/rules.md) over the defaults in *config; unknown keys, bad
// numbers, warning above critical and bad durations are errors naming `source:line: key`.
Status ParseRulesConfig(const std::string& yaml_text, const std::string& source, RulesConfig* config);

// The names of every alert MakeAlertRules can produce, in output order (before `disabled` is applied).
std::vector<std::string> AlertNames();

// The alerting rules for `config`, in output order, disabled ones left out.
// REQUIRES: config passed ParseRulesConfig's checks (the defaults do).
std::vector<AlertRule> MakeAlertRules(const RulesConfig& config);

// A Prometheus rules file (`groups:`), as `promtool check rules` reads it.
std::string RenderRulesFile(const RulesConfig& config);

struct PrometheusRuleMeta {
  std::string name = "allot";
  std::string ns = "monitoring";
  std::map<std::string, std::string> labels;  // for the operator's ruleSelector (e.g. release: prometheus)
};
// The same groups as a monitoring.coreos.com/v1 PrometheusRule object.
std::string RenderPrometheusRule(const RulesConfig& config, const PrometheusRuleMeta& meta);

}  // namespace allot::plan
