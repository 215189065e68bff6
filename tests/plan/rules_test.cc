// `allot rules` end to end with the real promtool: the rules file and the PrometheusRule pass `promtool check
// rules`; a unit-test file generated here from the output (input series per alert, at and around its
// threshold) passes `promtool test rules`, so every alert fires where it should and stays silent where it
// should, with its labels and expanded annotations; thresholds from --config move the firing points; real
// `allot guard metrics` output fires exactly the guard alerts its values imply; bad configs exit 2 naming
// file:line:key and write nothing.
#include "allot/rules.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "support.h"

namespace allot::plan {
namespace {

using allot::testing::RunAllot;
using allot::testing::RunProgram;
using allot::testing::TempDir;
using json = nlohmann::json;
using Labels = std::map<std::string, std::string>;

bool Installed(const std::string& program) {
  return RunProgram({"sh", "-c", "command -v " + program + " >/dev/null"}).exit_code == 0;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// Prometheus's humanize for 1 <= |v| < 1000 and humanizePercentage (both "%.4g").
std::string Humanize(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}
std::string HumanizePercentage(double v) { return Humanize(v * 100) + "%"; }

// Expands the template forms the rules use; any other `{{` is a test failure (extend this when adding one).
std::string Expand(const std::string& tmpl, const Labels& labels, double value) {
  static const std::regex kAction(R"(\{\{\s*([^}]*?)\s*\}\})");
  std::string out;
  auto begin = std::sregex_iterator(tmpl.begin(), tmpl.end(), kAction);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += tmpl.substr(last, it->position() - last);
    const std::string action = (*it)[1];
    if (action.rfind("$labels.", 0) == 0) {
      auto l = labels.find(action.substr(8));
      out += l == labels.end() ? "" : l->second;
    } else if (action == "$value | humanizePercentage") {
      out += HumanizePercentage(value);
    } else if (action == "$value | humanizeDuration") {
      // Prometheus: whole seconds as "1h 1m 0s" (leading zero units left out) from a minute up.
      EXPECT_GE(value, 60) << "humanizeDuration here covers a minute and more only";
      const auto sec = static_cast<int64_t>(value);
      const int64_t d = sec / 86400, h = sec / 3600 % 24, m = sec / 60 % 60, x = sec % 60;
      std::string t = d > 0 ? std::to_string(d) + "d " : "";
      if (d > 0 || h > 0) t += std::to_string(h) + "h ";
      out += t + std::to_string(m) + "m " + std::to_string(x) + "s";
    } else if (action == "$value | humanize") {
      EXPECT_TRUE(std::fabs(value) >= 1 && std::fabs(value) < 1000) << "Humanize() here covers 1-999 only";
      out += Humanize(value);
    } else {
      ADD_FAILURE() << "template action the test cannot expand: " << action;
    }
    last = it->position() + it->length();
  }
  return out + tmpl.substr(last);
}

struct Rule {
  std::string group, alert, expr, for_duration;
  Labels labels, annotations;
};

std::vector<Rule> ReadRules(const YAML::Node& groups) {
  std::vector<Rule> out;
  for (const auto& g : groups) {
    for (const auto& r : g["rules"]) {
      Rule rule;
      rule.group = g["name"].as<std::string>();
      rule.alert = r["alert"].as<std::string>();
      rule.expr = r["expr"].as<std::string>();
      if (r["for"]) rule.for_duration = r["for"].as<std::string>();
      for (const auto& kv : r["labels"])
        rule.labels[kv.first.as<std::string>()] = kv.second.as<std::string>();
      for (const auto& kv : r["annotations"])
        rule.annotations[kv.first.as<std::string>()] = kv.second.as<std::string>();
      out.push_back(rule);
    }
  }
  return out;
}

int Minutes(const std::string& d) {
  if (d.empty()) return 0;
  std::smatch m;
  EXPECT_TRUE(std::regex_match(d, m, std::regex("([0-9]+)([smh])"))) << d;
  int n = std::stoi(m[1]);
  return m[2] == "h" ? n * 60 : m[2] == "m" ? n : (n + 59) / 60;
}

std::string Series(const std::string& name, const Labels& l) {
  std::string s = name + "{";
  bool first = true;
  for (const auto& [k, v] : l) {
    s += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return s + "}";
}

// What one alert is fed: series that should fire it (with the labels and $value it should fire with) and
// series that should not.
struct Feed {
  json fire_series = json::array(), silent_series = json::array();
  Labels labels;  // the alert's labels from the series (severity and config labels are added from the rule)
  double value = 0;
};

const Labels kServer = {{"instance", "allot:7070"}, {"job", "allot"}};
const Labels kGuardHost = {{"instance", "host-1:9108"}, {"job", "allot-guard"}};

Labels With(Labels base, const Labels& more) {
  for (const auto& [k, v] : more) base[k] = v;
  return base;
}

json Input(const std::string& series, const std::string& values) {
  return {{"series", series}, {"values", values}};
}

// The feed of every alert from the thresholds of `c`, by alert name. The metric names, labels and units
// here are those allot exports (docs/http-api.md, `allot guard metrics`), written out independently of the
// rules so a rule reading the wrong series stays silent and fails its test.
std::map<std::string, Feed> Feeds(const RulesConfig& c) {
  std::map<std::string, Feed> out;
  const std::map<std::string, std::string> words = {
      {"cpu", "Cpu"}, {"memory", "Memory"}, {"gpu", "Gpu"}, {"disk", "Disk"}};
  const std::map<std::string, std::string> guard_ids = {
      {"cpu", "cpu"}, {"memory", "memory"}, {"gpu", "gpu:0"}, {"disk", "/data"}};
  // A gauge at `fire` (fires) / at `silent` (does not); values held for 40 minutes.
  auto gauge = [](const std::string& series, double fire, double silent, Feed* f) {
    f->fire_series.push_back(Input(series, Num(fire) + "x40"));
    f->silent_series.push_back(Input(series, Num(silent) + "x40"));
    f->value = fire;
  };
  for (const auto& [res, word] : words) {
    const Thresholds t = c.guard.at(res);
    const Labels l = With(kGuardHost, {{"resource", res}, {"id", guard_ids.at(res)}});
    for (auto [suffix, thr] :
         {std::pair<std::string, double>{"ApproachingLimit", t.warning}, {"AtLimit", t.critical}}) {
      Feed f;
      f.labels = l;
      // `>`: the threshold itself is silent.
      gauge(Series("allot_guard_used_ratio", l), thr + 0.02, thr, &f);
      out["Allot" + word + suffix] = f;
    }
  }
  // Degradation: `>=` level; the host's level is the highest of its resources.
  for (auto [suffix, level] : {std::pair<std::string, double>{"Active", c.degradation.warning},
                               {"Critical", c.degradation.critical}}) {
    Feed f;
    f.labels = kGuardHost;
    f.value = level;
    const std::string low =
        Series("allot_guard_degradation_level", With(kGuardHost, {{"resource", "cpu"}, {"id", "cpu"}}));
    const std::string high =
        Series("allot_guard_degradation_level", With(kGuardHost, {{"resource", "disk"}, {"id", "/data"}}));
    f.fire_series = {Input(low, "0x40"), Input(high, Num(level) + "x40")};
    f.silent_series = {Input(low, "0x40"), Input(high, Num(std::max(0.0, level - 1)) + "x40")};
    out["AllotGracefulDegradation" + suffix] = f;
    Feed s;
    s.labels = kServer;
    gauge(Series("allot_degradation_level", kServer), level, std::max(0.0, level - 1), &s);
    out["AllotClusterDegradation" + suffix] = s;
  }
  // Cluster: two nodes of capacity 8, allocated a ratio r of each; tenant: used r x max 10.
  const std::map<std::string, std::string> server_label = {
      {"cpu", "cpu"}, {"memory", "memory"}, {"disk", "ephemeral-storage"}};
  for (const auto& [res, label] : server_label) {
    const std::string word = words.at(res);
    for (auto [suffix, thr] : {std::pair<std::string, double>{"High", c.cluster.at(res).warning},
                               {"Critical", c.cluster.at(res).critical}}) {
      Feed f;
      f.labels = With(kServer, {{"resource", label}});
      f.value = thr + 0.02;
      for (const char* node : {"n1", "n2"}) {
        const Labels nl = With(kServer, {{"node", node}, {"resource", label}});
        f.fire_series.push_back(Input(Series("allot_node_capacity", nl), "8x40"));
        f.fire_series.push_back(Input(Series("allot_node_allocated", nl), Num(8 * (thr + 0.02)) + "x40"));
        f.silent_series.push_back(Input(Series("allot_node_capacity", nl), "8x40"));
        f.silent_series.push_back(
            Input(Series("allot_node_allocated", nl), Num(8 * std::max(0.0, thr - 0.05)) + "x40"));
      }
      out["AllotCluster" + word + "Utilization" + suffix] = f;
    }
    for (auto [suffix, thr] : {std::pair<std::string, double>{"High", c.tenant.at(res).warning},
                               {"Critical", c.tenant.at(res).critical}}) {
      Feed f;
      const Labels tl = With(kServer, {{"tenant", "org/team-a"}, {"resource", label}});
      f.labels = tl;
      f.value = thr + 0.02;
      f.fire_series = {Input(Series("allot_tenant_quota_max", tl), "10x40"),
                       Input(Series("allot_tenant_quota_used", tl), Num(10 * (thr + 0.02)) + "x40")};
      // A tenant without a maximum (0) never fires, whatever it uses.
      const Labels other = With(kServer, {{"tenant", "org/unlimited"}, {"resource", label}});
      f.silent_series = {
          Input(Series("allot_tenant_quota_max", tl), "10x40"),
          Input(Series("allot_tenant_quota_used", tl), Num(10 * std::max(0.0, thr - 0.05)) + "x40"),
          Input(Series("allot_tenant_quota_max", other), "0x40"),
          Input(Series("allot_tenant_quota_used", other), "5x40")};
      out["AllotTenant" + word + "Quota" + suffix] = f;
    }
  }
  {
    Feed f;
    f.labels = kServer;
    gauge(Series("allot_queue_depth", kServer), c.queue_depth + 20, c.queue_depth, &f);
    out["AllotQueueBacklog"] = f;
  }
  if (!c.queue_max_age.empty()) {
    // The oldest request's age grows a minute a minute; fire from one past the limit, silent just below it.
    Feed f;
    f.labels = kServer;
    const double max_age = 60.0 * Minutes(c.queue_max_age);
    gauge(Series("allot_queue_oldest_age_seconds", kServer), max_age + 60, max_age, &f);
    out["AllotQueueOldestRequest"] = f;
  }
  {
    // A counter rising by `slope` a minute: increase over the window = slope x window minutes.
    Feed f;
    const Labels l = With(kServer, {{"reason", "wait_expired"}});
    f.labels = l;
    const int window = Minutes(c.queue_window);
    const double slope = std::floor(c.queue_wait_expired / window) + 1;
    f.value = slope * window;
    f.fire_series = {
        Input(Series("allot_rejections_total", l), "0+" + Num(slope) + "x40"),
        Input(Series("allot_rejections_total", With(kServer, {{"reason", "quota"}})), "0+50x40")};
    // Expiries long before the window (silent checks run at 30m); other reasons do not count.
    f.silent_series = {
        Input(Series("allot_rejections_total", l), "0+" + Num(slope) + "x5 " + Num(slope * 5) + "x35"),
        Input(Series("allot_rejections_total", With(kServer, {{"reason", "quota"}})), "0+50x40")};
    out["AllotQueueWaitExpired"] = f;
  }
  {
    Feed f;
    const Labels open = With(kServer, {{"key", "payments"}, {"state", "open"}});
    const Labels closed = With(kServer, {{"key", "payments"}, {"state", "closed"}});
    f.labels = open;
    f.value = 1;
    f.fire_series = {Input(Series("allot_breaker_state", open), "1x40"),
                     Input(Series("allot_breaker_state", closed), "0x40")};
    f.silent_series = {Input(Series("allot_breaker_state", open), "0x40"),
                       Input(Series("allot_breaker_state", closed), "1x40")};
    out["AllotBreakerOpen"] = f;
  }
  for (const auto& [alert, metric, extra] : {std::tuple<std::string, std::string, Labels>{
                                                 "AllotLeaseExpiryStorm", "allot_lease_expiries_total", {}},
                                             {"AllotPoolLeaseExpiryStorm",
                                              "allot_concurrency_pool_lease_expiries_total",
                                              {{"key", "gpu-jobs"}}}}) {
    // per minute = slope (a counter rising by slope each 1m sample)
    Feed f;
    const Labels l = With(kServer, extra);
    f.labels = l;
    f.value = c.lease_expiries_per_minute + 2;
    f.fire_series = {Input(Series(metric, l), "0+" + Num(f.value) + "x40")};
    f.silent_series = {
        Input(Series(metric, l), "0+" + Num(std::max(0.0, c.lease_expiries_per_minute - 2)) + "x40")};
    out[alert] = f;
  }
  return out;
}

// Writes a promtool unit-test file for `rules_file` covering every rule and returns its path. Each alert
// gets its firing series (checked after its `for`, and before it where it has one: pending alerts are not
// returned) and its silent series. To keep promtool quick, feeds share a test group when their series are
// all different (a shared series could only make an alert fire where it should not, never hide one).
std::string WriteUnitTests(const TempDir& dir, const std::string& rules_file, const std::vector<Rule>& rules,
                           const RulesConfig& c) {
  const auto feeds = Feeds(c);
  struct Group {
    std::set<std::string> series;
    json input = json::array(), checks = json::array();
  };
  std::vector<Group> groups;
  auto place = [&](const json& input, const json& checks) {
    std::set<std::string> names;
    for (const auto& i : input) names.insert(i["series"].get<std::string>());
    Group* g = nullptr;
    for (auto& candidate : groups) {
      bool disjoint = true;
      for (const auto& n : names) disjoint = disjoint && candidate.series.count(n) == 0;
      if (disjoint) {
        g = &candidate;
        break;
      }
    }
    if (g == nullptr) g = &groups.emplace_back();
    g->series.insert(names.begin(), names.end());
    for (const auto& i : input) g->input.push_back(i);
    for (const auto& k : checks) g->checks.push_back(k);
  };
  for (const auto& r : rules) {
    auto it = feeds.find(r.alert);
    if (it == feeds.end()) {
      ADD_FAILURE() << "no test feed for alert " << r.alert << ": add one to Feeds()";
      continue;
    }
    const Feed& f = it->second;
    Labels labels = f.labels;
    for (const auto& [k, v] : r.labels) labels[k] = v;
    json exp_labels = labels;
    json exp_annotations = json::object();
    for (const auto& [k, v] : r.annotations) exp_annotations[k] = Expand(v, f.labels, f.value);
    const int wait = Minutes(r.for_duration);
    json fire_checks = json::array();
    fire_checks.push_back(
        {{"eval_time", std::to_string(wait + 10) + "m"},
         {"alertname", r.alert},
         {"exp_alerts", json::array({{{"exp_labels", exp_labels}, {"exp_annotations", exp_annotations}}})}});
    if (wait > 1) {
      // Still pending a minute before `for` has passed: pending alerts are not returned.
      fire_checks.push_back({{"eval_time", std::to_string(wait - 1) + "m"},
                             {"alertname", r.alert},
                             {"exp_alerts", json::array()}});
    }
    place(f.fire_series, fire_checks);
    place(f.silent_series,
          json::array({{{"eval_time", "30m"}, {"alertname", r.alert}, {"exp_alerts", json::array()}}}));
  }
  json tests = json::array();
  for (const auto& g : groups)
    tests.push_back({{"interval", "1m"}, {"input_series", g.input}, {"alert_rule_test", g.checks}});
  EXPECT_LT(groups.size(), rules.size()) << "feeds did not share groups";
  json file = {{"rule_files", json::array({rules_file})}, {"evaluation_interval", "1m"}, {"tests", tests}};
  return dir.Write("rules_test.yml", file.dump(2));  // JSON is YAML
}

class RulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Installed("promtool")) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  }
};

// Generates the rules (with `args`), checks them, and runs the generated unit tests.
void CheckAndTest(const std::vector<std::string>& args, const RulesConfig& expected, size_t expect_rules) {
  TempDir dir;
  std::vector<std::string> a = {"rules", "--output", dir.path() + "/rules.yml"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = RunAllot(a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const std::string rules_file = dir.path() + "/rules.yml";
  auto check = RunProgram({"promtool", "check", "rules", rules_file});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS: " + std::to_string(expect_rules) + " rules found"), std::string::npos)
      << check.out;
  std::vector<Rule> rules = ReadRules(YAML::LoadFile(rules_file)["groups"]);
  ASSERT_EQ(rules.size(), expect_rules);
  const std::string tests = WriteUnitTests(dir, rules_file, rules, expected);
  auto run = RunProgram({"promtool", "test", "rules", tests});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("SUCCESS"), std::string::npos) << run.out;
}

TEST_F(RulesTest, DefaultRulesPassPromtoolAndEachAlertFiresAndStaysSilent) {
  CheckAndTest({}, RulesConfig{}, AlertNames().size());
}

TEST_F(RulesTest, DefaultThresholdsAreTheSeedTables) {
  TempDir dir;
  auto r = RunAllot({"rules"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, Rule> by_name;
  for (const auto& rule : ReadRules(YAML::Load(r.out)["groups"])) by_name[rule.alert] = rule;
  // Seed 004's alerts table: disk > 65 % warning, > 70 % critical; memory > 75 %, > 80 %; degradation >= 2,
  // >= 4.
  EXPECT_EQ(by_name["AllotDiskApproachingLimit"].expr, "allot_guard_used_ratio{resource=\"disk\"} > 0.65");
  EXPECT_EQ(by_name["AllotDiskAtLimit"].expr, "allot_guard_used_ratio{resource=\"disk\"} > 0.7");
  EXPECT_EQ(by_name["AllotMemoryApproachingLimit"].expr,
            "allot_guard_used_ratio{resource=\"memory\"} > 0.75");
  EXPECT_EQ(by_name["AllotMemoryAtLimit"].labels["severity"], "critical");
  EXPECT_NE(by_name["AllotGracefulDegradationActive"].expr.find(">= 2"), std::string::npos);
  EXPECT_NE(by_name["AllotGracefulDegradationCritical"].expr.find(">= 4"), std::string::npos);
  // Seed 000's table: cpu 70 / 85 %, memory 75 / 90 %, disk 80 / 95 %.
  EXPECT_NE(by_name["AllotClusterCpuUtilizationHigh"].expr.find("> 0.7"), std::string::npos);
  EXPECT_NE(by_name["AllotClusterCpuUtilizationCritical"].expr.find("> 0.85"), std::string::npos);
  EXPECT_NE(by_name["AllotClusterMemoryUtilizationCritical"].expr.find("> 0.9"), std::string::npos);
  EXPECT_NE(by_name["AllotTenantDiskQuotaCritical"].expr.find("> 0.95"), std::string::npos);
  EXPECT_EQ(by_name["AllotBreakerOpen"].for_duration, "1m");
}

TEST_F(RulesTest, RulesReadOnlyMetricsAllotExports) {
  // Every allot_* name in an expression is in docs/http-api.md's /metrics table or in `allot guard metrics`.
  const std::string doc = allot::testing::ReadFile(allot::testing::SourceDir() + "/docs/http-api.md");
  const std::string data = allot::testing::SourceDir() + "/tests/host/data";
  auto guard =
      RunAllot({"guard", "metrics", "--proc-root", data + "/busy/proc", "--sys-root", data + "/busy/sys",
                "--no-state", "--cpu-sample-ms", "0", "--gpus", data + "/gpus.json", "--path", "/"});
  ASSERT_EQ(guard.exit_code, 0) << guard.err;
  auto r = RunAllot({"rules"});
  ASSERT_EQ(r.exit_code, 0);
  std::set<std::string> used;
  for (const auto& rule : ReadRules(YAML::Load(r.out)["groups"])) {
    static const std::regex kName("allot_[a-z_]+");
    for (auto it = std::sregex_iterator(rule.expr.begin(), rule.expr.end(), kName);
         it != std::sregex_iterator(); ++it) {
      used.insert(it->str());
    }
  }
  EXPECT_GE(used.size(), 10u);
  for (const auto& name : used) {
    bool in_doc = doc.find("`" + name + "`") != std::string::npos;
    bool in_guard = guard.out.find("# TYPE " + name + " ") != std::string::npos;
    EXPECT_TRUE(in_doc || in_guard) << name << " is neither in docs/http-api.md nor in `allot guard metrics`";
  }
}

TEST_F(RulesTest, ConfiguredThresholdsMoveTheFiringPoints) {
  TempDir dir;
  const std::string cfg = dir.Write("thresholds.yaml",
                                    "# tighter disk, looser cpu, custom queue and leases\n"
                                    "guard:\n"
                                    "  for: 2m\n"
                                    "  disk: {warning: 50%, critical: 60%}\n"
                                    "  cpu: {warning: 0.85, critical: 0.95}\n"
                                    "degradation: {warning: 1, critical: 3, for: 0s}\n"
                                    "cluster:\n"
                                    "  memory: {warning: 60%, critical: 70%}\n"
                                    "tenant: {for: 3m, cpu: {warning: 50%, critical: 99%}}\n"
                                    "queue: {depth: 5, for: 4m, wait_expired: 25, window: 5m, max_age: 1h}\n"
                                    "breaker: {for: 0s}\n"
                                    "lease_expiry: {per_minute: 3, window: 3m, for: 1m}\n"
                                    "labels: {team: platform}\n"
                                    "disable: [AllotPoolLeaseExpiryStorm]\n"
                                    "group_prefix: acme-allot\n");
  RulesConfig c;
  c.guard["disk"] = {0.5, 0.6};
  c.guard["cpu"] = {0.85, 0.95};
  c.degradation = {1, 3};
  c.cluster["memory"] = {0.6, 0.7};
  c.tenant["cpu"] = {0.5, 0.99};
  c.queue_depth = 5;
  c.queue_wait_expired = 25;
  c.queue_window = "5m";
  c.queue_max_age = "1h";
  c.lease_expiries_per_minute = 3;
  CheckAndTest({"--config", cfg}, c, AlertNames().size() - 1);

  auto r = RunAllot({"rules", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("AllotPoolLeaseExpiryStorm"), std::string::npos);
  for (const auto& rule : ReadRules(YAML::Load(r.out)["groups"])) {
    EXPECT_EQ(rule.labels.at("team"), "platform") << rule.alert;
    EXPECT_EQ(rule.group.rfind("acme-allot-", 0), 0u) << rule.group;
    if (rule.alert == "AllotGracefulDegradationActive" || rule.alert == "AllotBreakerOpen") {
      EXPECT_EQ(rule.for_duration, "") << rule.alert;  // for: 0s = fire at once
    }
    if (rule.alert == "AllotDiskAtLimit") {
      EXPECT_EQ(rule.for_duration, "2m");
    }
    if (rule.alert == "AllotQueueBacklog") {
      EXPECT_EQ(rule.for_duration, "4m");
    }
  }
}

TEST_F(RulesTest, PrometheusRuleObjectHoldsTheSameGroups) {
  TempDir dir;
  auto plain = RunAllot({"rules"});
  auto r = RunAllot({"rules", "--format", "prometheusrule", "--namespace", "observability", "--name",
                     "allot-alerts", "--label", "release=kube-prometheus-stack"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  YAML::Node obj = YAML::Load(r.out);
  EXPECT_EQ(obj["apiVersion"].as<std::string>(), "monitoring.coreos.com/v1");
  EXPECT_EQ(obj["kind"].as<std::string>(), "PrometheusRule");
  EXPECT_EQ(obj["metadata"]["name"].as<std::string>(), "allot-alerts");
  EXPECT_EQ(obj["metadata"]["namespace"].as<std::string>(), "observability");
  EXPECT_EQ(obj["metadata"]["labels"]["release"].as<std::string>(), "kube-prometheus-stack");
  std::vector<Rule> in_object = ReadRules(obj["spec"]["groups"]);
  std::vector<Rule> in_file = ReadRules(YAML::Load(plain.out)["groups"]);
  ASSERT_EQ(in_object.size(), in_file.size());
  for (size_t i = 0; i < in_file.size(); i++) {
    EXPECT_EQ(in_object[i].alert, in_file[i].alert);
    EXPECT_EQ(in_object[i].expr, in_file[i].expr);
    EXPECT_EQ(in_object[i].annotations, in_file[i].annotations);
  }
  // spec is a rules file as promtool reads it
  YAML::Emitter e;
  e << obj["spec"];
  auto check = RunProgram({"promtool", "check", "rules", dir.Write("spec.yml", e.c_str())});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  if (Installed("kubectl")) {
    // kubectl reads the object offline and keeps it whole.
    auto k = RunProgram({"kubectl", "patch", "--local", "-f", dir.Write("pr.yaml", r.out), "--type=merge",
                         "-p", R"({"metadata":{"labels":{"checked":"yes"}}})", "-o", "json"});
    ASSERT_EQ(k.exit_code, 0) << k.err;
    json back = json::parse(k.out);
    EXPECT_EQ(back["metadata"]["labels"]["checked"], "yes");
    EXPECT_EQ(back["spec"]["groups"][0]["rules"].size(), obj["spec"]["groups"][0]["rules"].size());
  }
}

TEST_F(RulesTest, RealGuardMetricsFireTheGuardAlertsTheirValuesImply) {
  // `allot guard metrics` on the recorded busy host, held for 40 minutes, against the default rules.
  const std::string data = allot::testing::SourceDir() + "/tests/host/data";
  TempDir dir;
  auto guard =
      RunAllot({"guard", "metrics", "--proc-root", data + "/busy/proc", "--sys-root", data + "/busy/sys",
                "--no-state", "--cpu-sample-ms", "0", "--gpus", data + "/gpus.json", "--path", "/"});
  ASSERT_EQ(guard.exit_code, 0) << guard.err;
  auto r = RunAllot({"rules", "--output", dir.path() + "/rules.yml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const RulesConfig c;
  json series = json::array();
  std::map<std::string, json> expected;  // alert -> exp_alerts
  const std::map<std::string, std::string> words = {
      {"cpu", "Cpu"}, {"memory", "Memory"}, {"gpu", "Gpu"}, {"disk", "Disk"}};
  static const std::regex kSample(R"re(^(allot_guard_[a-z_]+)\{resource="([a-z]+)",id="([^"]*)"\} (\S+)$)re");
  std::istringstream in(guard.out);
  std::string line;
  int max_level = 0, used = 0;
  for (const auto& [res, word] : words) {
    expected["Allot" + word + "ApproachingLimit"] = json::array();
    expected["Allot" + word + "AtLimit"] = json::array();
  }
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, kSample)) continue;
    const Labels l = With(kGuardHost, {{"resource", m[2]}, {"id", m[3]}});
    series.push_back(Input(Series(m[1], l), std::string(m[4]) + "x40"));
    const double v = std::stod(m[4]);
    if (m[1] == "allot_guard_degradation_level") max_level = std::max(max_level, static_cast<int>(v));
    if (m[1] != "allot_guard_used_ratio") continue;
    used++;
    const Thresholds t = c.guard.at(m[2]);
    for (auto [suffix, thr] :
         {std::pair<std::string, double>{"ApproachingLimit", t.warning}, {"AtLimit", t.critical}}) {
      if (v > thr)
        expected["Allot" + words.at(m[2]) + suffix].push_back(
            {{"exp_labels", With(l, {{"severity", suffix == "AtLimit" ? "critical" : "warning"}})}});
    }
  }
  ASSERT_GE(used, 3) << guard.out;
  int firing = 0;
  json checks = json::array();
  for (auto& [alert, exp] : expected) {
    firing += static_cast<int>(exp.size());
    checks.push_back({{"eval_time", "20m"}, {"alertname", alert}, {"exp_alerts", exp}});
  }
  EXPECT_GE(firing, 1) << "the busy host should be above some threshold:\n" << guard.out;
  EXPECT_GE(max_level, 1);
  // promtool compares annotations too: expand the rules' templates with each alert's labels and value.
  std::map<std::string, Rule> rules;
  for (const auto& rule : ReadRules(YAML::LoadFile(dir.path() + "/rules.yml")["groups"]))
    rules[rule.alert] = rule;
  for (auto& check : checks) {
    const Rule& rule = rules.at(check["alertname"].get<std::string>());
    for (auto& a : check["exp_alerts"]) {
      Labels l = a["exp_labels"].get<Labels>();
      // $value: the used ratio of that series, found again in the guard output
      double value = 0;
      std::istringstream again(guard.out);
      while (std::getline(again, line)) {
        std::smatch m;
        if (std::regex_match(line, m, kSample) && m[1] == "allot_guard_used_ratio" && m[2] == l["resource"] &&
            m[3] == l["id"]) {
          value = std::stod(m[4]);
        }
      }
      json ann = json::object();
      for (const auto& [k, v] : rule.annotations) ann[k] = Expand(v, l, value);
      a["exp_annotations"] = ann;
    }
  }
  json file = {
      {"rule_files", json::array({dir.path() + "/rules.yml"})},
      {"evaluation_interval", "1m"},
      {"tests", json::array({{{"interval", "1m"}, {"input_series", series}, {"alert_rule_test", checks}}})}};
  auto run = RunProgram({"promtool", "test", "rules", dir.Write("guard_test.yml", file.dump(2))});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err << "\n" << guard.out;
}

TEST_F(RulesTest, BadConfigExitsTwoNamingFileLineKeyAndWritesNothing) {
  struct Bad {
    std::string yaml, expect;
  };
  const std::vector<Bad> cases = {
      {"guard:\n  cpu: {warning: 90%, critical: 80%}\n",
       "t.yaml:2: guard.cpu: warning 90% is above critical 80%"},
      {"guard:\n  disk: {warning: lots}\n", "t.yaml:2: guard.disk.warning: \"lots\" is not a ratio"},
      {"guard:\n  disk: {warning: 150%}\n", "t.yaml:2: guard.disk.warning: 1.5 is outside 0-1"},
      {"guard:\n  network: {warning: 50%}\n",
       "t.yaml:2: guard.network: unknown key (use cpu, memory, gpu, disk, for)"},
      {"cluster:\n  for: soon\n", "t.yaml:2: cluster.for: \"soon\" is not a Prometheus duration"},
      {"queue:\n  depth: -3\n", "t.yaml:2: queue.depth: \"-3\" is not a non-negative number"},
      {"queue:\n  window: 0s\n", "t.yaml:2: queue.window: a rate window must be longer than 0"},
      {"degradation: {warning: 5}\n", "t.yaml:1: degradation.warning: \"5\" is not a degradation level 0-4"},
      {"labels: {severity: page}\n", "t.yaml:1: labels.severity: set by allot rules itself"},
      {"disable: [AllotNoSuchAlert]\n", "t.yaml:1: disable[0]: no alert named \"AllotNoSuchAlert\""},
      {"\n\nthresholds: {}\n", "t.yaml:3: thresholds: unknown key"},
      {"guard: [1, 2\n", "t.yaml:"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    const std::string cfg = dir.Write("t.yaml", c.yaml);
    const std::string out = dir.path() + "/rules.yml";
    auto r = RunProgram({"sh", "-c",
                         "cd " + dir.path() + " && " + allot::testing::AllotBinary() +
                             " rules --config t.yaml --output rules.yml"});
    EXPECT_EQ(r.exit_code, 2) << c.yaml;
    EXPECT_NE(r.err.find("allot: rules: " + c.expect), std::string::npos) << c.yaml << "\n" << r.err;
    struct stat st;
    EXPECT_NE(stat(out.c_str(), &st), 0) << "a rules file was written for a bad config";
    auto stdout_run = RunAllot({"rules", "--config", cfg});
    EXPECT_EQ(stdout_run.exit_code, 2);
    EXPECT_EQ(stdout_run.out, "") << "partial output on stdout";
  }
  // An existing output file stays as it was.
  TempDir dir;
  const std::string out = dir.Write("rules.yml", "groups: []\n");
  auto r = RunAllot(
      {"rules", "--config", dir.Write("bad.yaml", "tenant: {cpu: {critical: 2}}\n"), "--output", out});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(allot::testing::ReadFile(out), "groups: []\n");
  EXPECT_EQ(RunAllot({"rules", "--format", "alertmanager"}).exit_code, 2);
  // The default format has a name of its own (and an alias).
  const std::string plain = RunAllot({"rules"}).out;
  EXPECT_EQ(RunAllot({"rules", "--format", "prometheus"}).out, plain);
  EXPECT_EQ(RunAllot({"rules", "--format", "rules"}).out, plain);
  EXPECT_EQ(RunAllot({"rules", "--namespace", "x"}).exit_code, 2);  // needs --format prometheusrule
  EXPECT_EQ(RunAllot({"rules", "--format", "prometheusrule", "--label", "no-equals"}).exit_code, 2);
}

}  // namespace
}  // namespace allot::plan
