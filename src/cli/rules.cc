// allot rules [--config FILE] [--format prometheus|prometheusrule] [--output FILE]: Prometheus alerting rules.
// module: plan
#include "allot/rules.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>

#include "cli/command.h"

namespace allot::cli {
namespace {

// Writes `text` to `path` through a temporary file in the same directory and a rename, so the file is
// either the old one or the whole new one.
Status WriteWhole(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Internal(path + ": cannot write " + tmp);
    f << text;
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return Internal(path + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Internal(path + ": cannot rename " + tmp + " into place");
  }
  return Status::Ok();
}

int RunRules(const Argv& argv) {
  ArgParser p(
      "rules", "[--config FILE] [--format prometheus|prometheusrule] [options]",
      "Writes Prometheus alerting rules for allot's own metrics: the host guard's resource thresholds and\n"
      "degradation levels, cluster and tenant utilisation, the engine queue, open circuit breakers and\n"
      "lease-expiry storms (docs/rules.md lists every alert). Thresholds default to the seed tables;\n"
      "--config FILE overrides them. Exit 0 ok, 2 on bad input (nothing is written then).");
  p.Option("config", "FILE",
           "YAML thresholds: guard, degradation, cluster, tenant, queue, breaker, lease_expiry, "
           "labels, disable, group_prefix");
  p.Option("format", "FMT",
           "prometheus (a rules file, default; alias rules) or prometheusrule (a monitoring.coreos.com/v1 object)");
  p.Option("name", "NAME", "metadata.name of the PrometheusRule (default allot)");
  p.Option("namespace", "NS", "metadata.namespace of the PrometheusRule (default monitoring)");
  p.Option("label", "KEY=VALUE",
           "a metadata label of the PrometheusRule (for the operator's ruleSelector); repeatable");
  p.Option("output", "FILE", "write to FILE (whole or not at all) instead of stdout");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty())
    return Fail("rules", "unexpected argument \"" + args->positionals[0] + "\"");
  const std::string format = args->Get("format", "prometheus");
  if (format != "prometheus" && format != "rules" && format != "prometheusrule") {
    return Fail("rules", "unknown --format \"" + format + "\" (use prometheus or prometheusrule)");
  }
  if (format != "prometheusrule") {
    for (const char* o : {"name", "namespace", "label"}) {
      if (args->Has(o)) return Fail("rules", std::string("--") + o + " needs --format prometheusrule");
    }
  }
  plan::RulesConfig config;
  if (args->Has("config")) {
    auto text = ReadFileOrStdin(args->Get("config"));
    if (!text.ok()) return Fail("rules", text.error());
    if (auto s = plan::ParseRulesConfig(*text, args->Get("config"), &config); !s.ok())
      return Fail("rules", s.error());
  }
  plan::PrometheusRuleMeta meta;
  static const std::regex kDnsName("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$");
  static const std::regex kLabelKey("^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$");
  static const std::regex kLabelValue("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$");
  if (args->Has("name")) meta.name = args->Get("name");
  if (args->Has("namespace")) meta.ns = args->Get("namespace");
  if (!std::regex_match(meta.name, kDnsName))
    return Fail("rules", "--name \"" + meta.name + "\" is not a DNS subdomain name");
  if (!std::regex_match(meta.ns, kDnsName) || meta.ns.find('.') != std::string::npos) {
    return Fail("rules", "--namespace \"" + meta.ns + "\" is not a DNS label");
  }
  for (const auto& l : args->GetAll("label")) {
    size_t eq = l.find('=');
    std::string k = eq == std::string::npos ? l : l.substr(0, eq),
                v = eq == std::string::npos ? "" : l.substr(eq + 1);
    if (eq == std::string::npos || !std::regex_match(k, kLabelKey) || !std::regex_match(v, kLabelValue)) {
      return Fail("rules", "--label \"" + l + "\": expected KEY=VALUE with a Kubernetes label key and value");
    }
    meta.labels[k] = v;
  }

  const std::string text =
      format == "prometheusrule" ? plan::RenderPrometheusRule(config, meta) : plan::RenderRulesFile(config);
  if (args->Has("output")) {
    if (auto s = WriteWhole(args->Get("output"), text); !s.ok()) return Fail("rules", s.error());
    return 0;
  }
  std::cout << text;
  return 0;
}

}  // namespace
ALLOT_COMMAND("rules",
              "Prometheus alerting rules (or a PrometheusRule) for allot's metrics, thresholds configurable",
              RunRules);
}  // namespace allot::cli
