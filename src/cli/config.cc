// allot config check FILE...
// module: server
// Loads server config files as `allot serve --config` does (merged in order) and prints the effective
// configuration as JSON, or the first error with file:line:key and exit 2.
#include <iostream>

#include <nlohmann/json.hpp>

#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/server.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

nlohmann::ordered_json Amounts(const ResourceMap& m) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : m) j[k] = FormatResourceAmount(k, v);
  return j;
}

nlohmann::ordered_json Effective(const ServerConfig& c) {
  nlohmann::ordered_json j;
  j["listen"] = c.listen;
  if (!c.advertise.empty()) j["advertise"] = c.advertise;
  j["data"] = c.data_dir;
  j["dev"] = c.dev;
  j["store"] = c.store.kind;
  j["units"] = c.strict_units ? "strict" : "warn";
  j["policy"] = {{"scoring", c.policy.scoring},
                 {"fair_share", c.policy.fair_share},
                 {"preemption", c.policy.preemption},
                 {"backfill", c.policy.backfill},
                 {"quota_mode", c.policy.quota_mode == QuotaMode::kStrict ? "strict" : "queue"}};
  j["limits"] = {{"max_concurrent_allocations", c.max_concurrent_allocations},
                 {"max_allocations_per_tenant", c.max_allocations_per_tenant},
                 {"max_cpu_per_agent", c.max_cpu_per_agent > 0 ? FormatMilli(c.max_cpu_per_agent) : "none"},
                 {"max_memory_per_agent",
                  c.max_memory_per_agent > 0 ? FormatBytesExact(c.max_memory_per_agent) : "none"}};
  nlohmann::ordered_json tenants = nlohmann::ordered_json::array();
  for (const auto& t : c.tenants) {
    nlohmann::ordered_json tj = {{"path", t.path}, {"weight", t.weight}};
    if (!t.guaranteed.empty()) tj["guaranteed"] = Amounts(t.guaranteed);
    if (!t.max.empty()) tj["max"] = Amounts(t.max);
    if (t.burst != 1.0) tj["burst"] = t.burst;
    if (t.grace > 0) tj["grace_s"] = static_cast<double>(t.grace) / 1000.0;
    tenants.push_back(std::move(tj));
  }
  j["tenants"] = std::move(tenants);
  j["nodes"] = c.nodes.size();
  j["auth_tokens"] = c.tokens.size();
  nlohmann::ordered_json tiers = nlohmann::ordered_json::array();
  for (const auto& t : c.history.tiers)
    tiers.push_back({{"step_s", t.step_s}, {"keep_s", t.keep_s}, {"nodes", t.nodes}});
  j["history"] = {
      {"interval_s", c.history.interval_s}, {"tiers", tiers}, {"node_resources", c.history.node_resources}};
  j["analytics"] = {{"prices", c.prices}, {"currency", c.currency}};
  if (!c.client_certs.empty()) j["auth_client_certs"] = c.client_certs.size();
  if (c.rate_limit.count > 0) {
    j["auth_rate_limit"] = {{"per_second", static_cast<double>(c.rate_limit.count) * 1e9 /
                                               static_cast<double>(c.rate_limit.period_ns)},
                            {"burst", c.rate_limit.burst}};
  }
  if (!c.tls.cert_file.empty()) {
    j["tls"] = {{"cert", c.tls.cert_file}, {"key", c.tls.key_file}, {"client_ca", c.tls.client_ca_file}};
  }
  j["throttling"] = c.throttling_yaml;  // as the throttling module receives it (seeded sections included)
  return j;
}

int RunConfig(const Argv& argv) {
  ArgParser p(
      "config", "check FILE... [--json]",
      "Checks server config files as `allot serve --config FILE...` loads them (merged in order; seed\n"
      "001's config/resource_limits.yaml and config/allocation_policies.yaml as written) and prints the\n"
      "effective configuration as JSON. Exit 2 with file:line: key on the first error.");
  p.Flag("json", "print JSON (the only output; kept so that every data command takes --json)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty() || args->positionals[0] != "check") {
    return Fail("config", "expected `check FILE...` (see --help)");
  }
  std::vector<std::string> files(args->positionals.begin() + 1, args->positionals.end());
  if (files.empty()) return Fail("config", "check: no config file given");
  auto c = LoadServerConfigs(files);
  if (!c.ok()) return Fail("config", c.error());
  std::cout << Effective(*c).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

ALLOT_COMMAND("config", "check server config files and print the effective configuration", RunConfig);

}  // namespace allot::cli
