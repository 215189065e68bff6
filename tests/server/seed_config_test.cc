// Seed 001's two config files, as written, loaded alone, together and beside allot's own config, and
// their caps enforced end to end by a real `allot serve --config A --config B`.
#include <gtest/gtest.h>

#include <fstream>

#include <yaml-cpp/yaml.h>

#include "allot/server.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// config/resource_limits.yaml of seed 001, as written.
constexpr const char* kResourceLimits = R"(# config/resource_limits.yaml
limits:
  global:
    max_cpu_per_agent: 16
    max_memory_per_agent: 64
    max_concurrent_allocations: 100
  
  agent_types:
    policy_analyzer:
      cpu: 8
      memory: 16
      api_quota: 5000
    
    gap_assessment:
      cpu: 4
      memory: 8
      disk: 100
    
    risk_analyzer:
      cpu: 12
      memory: 32
      gpu: 1
)";

// config/allocation_policies.yaml of seed 001, as written.
constexpr const char* kAllocationPolicies = R"(# config/allocation_policies.yaml
policies:
  scheduling:
    algorithm: "priority_with_fairshare"
    preemption_enabled: true
    backfill_enabled: true
  
  quotas:
    enforcement: "strict"
    burst_allowance: 1.5
    grace_period: 300
  
  throttling:
    enabled: true
    cpu_threshold: 80
    memory_threshold: 85
    api_rate_limit: 1000
)";

constexpr int64_t kGi = int64_t{1} << 30;

class SeedConfig : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  const TenantSpec* Tenant(const ServerConfig& c, const std::string& path) {
    for (const auto& t : c.tenants)
      if (t.path == path) return &t;
    return nullptr;
  }
  TempDir dir_;
};

TEST_F(SeedConfig, BothFilesLoadAsWrittenAndMapOntoAllotsPolicy) {
  std::string limits = Write("resource_limits.yaml", kResourceLimits);
  std::string policies = Write("allocation_policies.yaml", kAllocationPolicies);
  ASSERT_TRUE(LoadServerConfigs({limits}).ok());
  ASSERT_TRUE(LoadServerConfigs({policies}).ok());
  auto c = LoadServerConfigs({limits, policies});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->max_cpu_per_agent, 16000);  // cores -> millicores
  EXPECT_EQ(c->max_memory_per_agent, 64 * kGi);  // GB -> bytes
  EXPECT_EQ(c->max_concurrent_allocations, 100u);
  const TenantSpec* pa = Tenant(*c, "policy_analyzer");
  ASSERT_NE(pa, nullptr);
  EXPECT_EQ(pa->max.at("cpu"), 8000);
  EXPECT_EQ(pa->max.at("memory"), 16 * kGi);
  EXPECT_EQ(pa->max.count("api_quota"), 0u);  // a concurrency pool, not a node resource
  EXPECT_DOUBLE_EQ(pa->burst, 1.5);
  EXPECT_EQ(pa->grace, 300'000);
  ASSERT_NE(Tenant(*c, "gap_assessment"), nullptr);
  EXPECT_EQ(Tenant(*c, "gap_assessment")->max.at("ephemeral-storage"), 100 * kGi);
  ASSERT_NE(Tenant(*c, "risk_analyzer"), nullptr);
  EXPECT_EQ(Tenant(*c, "risk_analyzer")->max.at("gpu"), 1000);
  EXPECT_EQ(c->policy.fair_share, "drf");
  EXPECT_TRUE(c->policy.preemption);
  EXPECT_TRUE(c->policy.backfill);
  EXPECT_EQ(c->policy.quota_mode, QuotaMode::kStrict);
  EXPECT_TRUE(c->degradation_enforced);
  // The throttling module gets the pool, the rate limit and the thresholds (cpu 80 % is level 3).
  YAML::Node t = YAML::Load(c->throttling_yaml);
  EXPECT_EQ(t["pools"]["api_quota:policy_analyzer"]["capacity"].as<int>(), 5000) << c->throttling_yaml;
  EXPECT_EQ(t["ratelimits"]["api_rate_limit"]["rate"].as<std::string>(), "1000/m") << c->throttling_yaml;
  EXPECT_EQ(t["degradation"]["thresholds"]["cpu"].as<std::vector<int>>(), (std::vector<int>{55, 70, 80, 85}));
  EXPECT_EQ(t["degradation"]["thresholds"]["memory"].as<std::vector<int>>(), (std::vector<int>{60, 75, 85, 90}));
}

TEST_F(SeedConfig, BesideAllotsOwnConfigAllotsKeysWin) {
  std::string own = Write("serve.yaml", R"(
listen: 127.0.0.1:7171
policy: {scoring: most-allocated, fair_share: none}
limits: {max_concurrent_allocations: 7}
)");
  std::string limits = Write("resource_limits.yaml", kResourceLimits);
  std::string policies = Write("allocation_policies.yaml", kAllocationPolicies);
  for (const auto& files : {std::vector<std::string>{own, limits, policies}, {limits, policies, own}}) {
    auto c = LoadServerConfigs(files);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->listen, "127.0.0.1:7171");
    EXPECT_EQ(c->policy.scoring, "most-allocated");
    EXPECT_EQ(c->policy.fair_share, "none");            // policy.fair_share over the seed's algorithm
    EXPECT_TRUE(c->policy.preemption);                  // what allot's policy leaves unsaid, the seed sets
    EXPECT_EQ(c->max_concurrent_allocations, 7u);       // limits.max_concurrent_allocations over limits.global's
    EXPECT_EQ(c->max_cpu_per_agent, 16000);
    ASSERT_NE(Tenant(*c, "policy_analyzer"), nullptr);
  }
  // The same key in two files: the later one wins.
  std::string later = Write("later.yaml", "limits: {max_concurrent_allocations: 9}\n");
  EXPECT_EQ(LoadServerConfigs({own, later})->max_concurrent_allocations, 9u);
  EXPECT_EQ(LoadServerConfigs({later, own})->max_concurrent_allocations, 7u);
}

TEST_F(SeedConfig, BadSeedInputNamesFileLineAndKey) {
  struct {
    const char* yaml;
    const char* names;
  } bad[] = {
      {"limits:\n  global:\n    max_gpu_per_agent: 2\n", "x.yaml:3: limits.global.max_gpu_per_agent: unknown key"},
      {"limits:\n  agent_types:\n    pa:\n      cpu: lots\n", "x.yaml:4: limits.agent_types.pa.cpu"},
      {"limits:\n  agent_types:\n    pa:\n      api_quota: -1\n", "limits.agent_types.pa.api_quota"},
      {"limits:\n  agent_types:\n    \"a/../b\":\n      cpu: 1\n", "limits.agent_types.a/../b"},
      {"policies:\n  scheduling:\n    algorithm: round_robin\n", "x.yaml:3: policies.scheduling.algorithm"},
      {"policies:\n  quotas:\n    enforcement: maybe\n", "policies.quotas.enforcement"},
      {"policies:\n  throttling:\n    cpu_threshold: 180\n", "policies.throttling.cpu_threshold"},
      {"policies:\n  caching: {}\n", "policies.caching: unknown key"},
  };
  for (const auto& b : bad) {
    auto c = LoadServerConfigs({Write("x.yaml", b.yaml)});
    ASSERT_FALSE(c.ok()) << b.yaml;
    EXPECT_NE(c.error().message.find(b.names), std::string::npos) << c.error().message;
  }
  // In a merge, the bad file is named.
  std::string good = Write("good.yaml", kResourceLimits);
  auto c = LoadServerConfigs({good, Write("bad.yaml", "policies:\n  quotas: {burst_allowance: 0.5}\n")});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("bad.yaml:2: policies.quotas.burst_allowance"), std::string::npos)
      << c.error().message;
}

TEST_F(SeedConfig, TheCapsAreEnforcedByARealServer) {
  std::string own = Write("serve.yaml", R"(
nodes: [{name: n1, capacity: {cpu: "64", memory: 512Gi}}]
)");
  std::string limits = Write("resource_limits.yaml", kResourceLimits);
  std::string policies = Write("allocation_policies.yaml", kAllocationPolicies);
  ServerProcess server(dir_.path() + "/data", {"--dev", "--config", own, "--config", limits, "--config", policies});
  ASSERT_TRUE(server.Start()) << server.Log();
  Api api(server.url());
  auto alloc = [&](const std::string& agent, const std::string& tenant, int cpu, int memory_gb) {
    json body = {{"agent_id", agent}, {"resources", {{"cpu", cpu}, {"memory", std::to_string(memory_gb) + "Gi"}}}};
    if (!tenant.empty()) body["tenant"] = tenant;
    return api.Call("POST", "/v1/allocations", body);
  };
  // Per agent: 16 cores and 64 GB over its active allocations (an agent outside the typed tenants).
  auto a = alloc("free_agent_01", "org/x", 10, 8);
  ASSERT_EQ(a.status, 201) << a.body.dump();
  auto over = alloc("free_agent_01", "org/x", 10, 8);
  ASSERT_EQ(over.status, 429) << over.body.dump();
  EXPECT_EQ(over.body["error"]["field"], "limits.global.max_cpu_per_agent");
  EXPECT_EQ(alloc("free_agent_02", "org/x", 10, 8).status, 201);  // another agent has its own cap
  auto mem = alloc("free_agent_03", "org/x", 1, 65);
  ASSERT_EQ(mem.status, 429) << mem.body.dump();
  EXPECT_EQ(mem.body["error"]["field"], "limits.global.max_memory_per_agent");
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + a.body["id"].get<std::string>()).status, 200);
  EXPECT_EQ(alloc("free_agent_01", "org/x", 10, 8).status, 201);  // released: room again
  // Per agent type: policy_analyzer's quota is 8 cores, 1.5x for up to 300 s; enforcement strict.
  ASSERT_EQ(alloc("policy_analyzer_01", "", 4, 1).status, 201);
  auto burst = alloc("policy_analyzer_02", "", 5, 1);  // 9 cores: within the burst of 12
  ASSERT_EQ(burst.status, 201) << burst.body.dump();
  EXPECT_EQ(burst.body["tenant"], "policy_analyzer");
  auto quota = alloc("policy_analyzer_03", "", 4, 1);  // 13 cores: over 1.5 x 8
  ASSERT_EQ(quota.status, 409) << quota.body.dump();
  EXPECT_EQ(quota.body["error"]["code"], "quota");
  // The pool for the agent type's api_quota exists.
  auto pool = api.Call("GET", "/v1/pools/api_quota:policy_analyzer");
  EXPECT_EQ(pool.status, 200) << pool.body.dump();
}

}  // namespace
}  // namespace allot::testing
