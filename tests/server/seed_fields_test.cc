// Seed 001's request fields on POST /v1/allocations (agent_id, agent_type, workflow_id, resources,
// priorities by name in any case) and the warning for memory or disk written without a unit, against a
// real `allot serve`.
#include <gtest/gtest.h>

#include <fstream>

#include "server/util.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

constexpr const char* kConfig = R"(
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token}
    - {name: team-a, role: writer, tenant: org/a, token: writer-token}
nodes: [{name: n1, capacity: {cpu: "64", memory: 256Gi, ephemeral-storage: 1Ti}}]
tenants: {auto_create: true}   # agent types are tenants created on first use here
)";

class SeedFields : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.path() + "/serve.yaml";
    std::ofstream(config_) << kConfig;
    Restart({});
  }
  void Restart(std::vector<std::string> extra) {
    server_.reset();
    extra.insert(extra.begin(), {"--config", config_});
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", extra);
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  TempDir dir_;
  std::string config_;
  std::unique_ptr<ServerProcess> server_;
};

// Seed 001's "Basic Resource Allocation" request, as its Python example sends it.
json SeedRequest() {
  return {{"agent_id", "policy_analyzer_01"},
          {"workflow_id", "compliance_audit_2024"},
          {"priority", "HIGH"},
          {"resources", {{"cpu", 4}, {"memory", "8Gi"}, {"disk", "50Gi"}}},
          {"duration", 3600}};
}

TEST(AgentType, StripsATrailingNumber) {
  EXPECT_EQ(server::AgentType("policy_analyzer_01"), "policy_analyzer");
  EXPECT_EQ(server::AgentType("gap-assessment-7"), "gap-assessment");
  EXPECT_EQ(server::AgentType("gap_assessment_agent"), "gap_assessment_agent");
  EXPECT_EQ(server::AgentType("agent42"), "agent42");  // no separator before the digits
  EXPECT_EQ(server::AgentType("_1"), "_1");            // nothing would be left
  EXPECT_EQ(server::AgentType("007"), "007");
}

TEST_F(SeedFields, TheSeedsRequestIsPlacedInItsAgentTypesTenant) {
  Api api(server_->url(), "admin-token");
  auto a = api.Call("POST", "/v1/allocations", SeedRequest());
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["tenant"], "policy_analyzer");
  EXPECT_EQ(a.body["agent_id"], "policy_analyzer_01");
  EXPECT_EQ(a.body["workflow"], "compliance_audit_2024");
  EXPECT_EQ(a.body["priority"], 3);  // HIGH
  EXPECT_EQ(a.body["requests"]["cpu"], 4000);
  EXPECT_FALSE(a.body.contains("warnings")) << a.body.dump();
  EXPECT_EQ(a.headers.count("warning"), 0u);
  std::string id = a.body["id"];

  // An explicit agent_type or tenant wins over the derived one.
  json typed = SeedRequest();
  typed["agent_type"] = "auditor";
  typed["idempotency_key"] = "typed-1";  // a finished allocation is kept across a restart for its key
  auto b = api.Call("POST", "/v1/allocations", typed);
  ASSERT_EQ(b.status, 201) << b.body.dump();
  EXPECT_EQ(b.body["tenant"], "auditor");
  json tenanted = SeedRequest();
  tenanted["tenant"] = "org/b";
  tenanted["priority"] = "low";
  auto c = api.Call("POST", "/v1/allocations", tenanted);
  ASSERT_EQ(c.status, 201) << c.body.dump();
  EXPECT_EQ(c.body["tenant"], "org/b");
  EXPECT_EQ(c.body["priority"], 1);

  // The list filters by agent_id; the agent_id survives a restart.
  auto list = api.Call("GET", "/v1/allocations?agent_id=policy_analyzer_01");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["count"], 3);
  EXPECT_EQ(api.Call("GET", "/v1/allocations?agent_id=risk_analyzer_01").body["count"], 0);
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + b.body["id"].get<std::string>()).status, 200);
  Restart({});
  Api again(server_->url(), "admin-token");
  auto got = again.Call("GET", "/v1/allocations/" + id);
  ASSERT_EQ(got.status, 200) << got.body.dump();
  EXPECT_EQ(got.body["agent_id"], "policy_analyzer_01");
  auto released = again.Call("GET", "/v1/allocations/" + b.body["id"].get<std::string>());
  ASSERT_EQ(released.status, 200) << released.body.dump();
  EXPECT_EQ(released.body["state"], "released");
  EXPECT_EQ(released.body["agent_id"], "policy_analyzer_01");  // finished ones keep it too
}

TEST_F(SeedFields, AWritersAgentTypeTenantIsInsideItsSubtree) {
  Api api(server_->url(), "writer-token");
  auto a = api.Call("POST", "/v1/allocations", SeedRequest());
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["tenant"], "org/a/policy_analyzer");
}

TEST_F(SeedFields, BadSeedFieldsNameTheField) {
  Api api(server_->url(), "admin-token");
  struct {
    json patch;
    int status;
    const char* field;
  } cases[] = {
      {{{"requests", {{"cpu", 1}}}}, 400, "resources"},  // both spellings
      {{{"workflow", "w"}}, 400, "workflow_id"},
      {{{"agent_id", 7}}, 400, "agent_id"},
      {{{"agent_id", "a/../b"}}, 422, "agent_id"},
      {{{"agent_type", ""}, {"agent_id", "x y_1"}}, 422, "agent_id"},
      {{{"priority", "URGENT"}}, 422, "priority"},
  };
  size_t before = api.Call("GET", "/v1/allocations").body["count"];
  for (const auto& c : cases) {
    json body = SeedRequest();
    for (auto it = c.patch.begin(); it != c.patch.end(); ++it) body[it.key()] = it.value();
    auto r = api.Call("POST", "/v1/allocations", body);
    EXPECT_EQ(r.status, c.status) << body.dump() << " -> " << r.body.dump();
    EXPECT_EQ(r.body["error"].value("field", ""), c.field) << r.body.dump();
  }
  EXPECT_EQ(api.Call("GET", "/v1/allocations").body["count"], before);  // nothing was placed
}

TEST_F(SeedFields, MemoryWithoutAUnitIsAnsweredWithAWarning) {
  Api api(server_->url(), "admin-token");
  json body = SeedRequest();
  body["resources"] = {{"cpu", 1}, {"memory", 8}, {"disk", "50"}};
  auto a = api.Call("POST", "/v1/allocations", body);
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["requests"]["memory"], 8);  // taken as written: 8 bytes
  ASSERT_TRUE(a.body["warnings"].is_array()) << a.body.dump();
  ASSERT_EQ(a.body["warnings"].size(), 2u) << a.body.dump();
  std::string warnings = a.body["warnings"].dump();
  EXPECT_NE(warnings.find("resources.memory: 8 has no unit"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("resources.disk: 50 has no unit"), std::string::npos) << warnings;
  ASSERT_EQ(a.headers.count("warning"), 1u);  // the client keeps the last of repeated headers
  EXPECT_EQ(a.headers["warning"].rfind("299 - \"", 0), 0u) << a.headers["warning"];
  // A unit, or an amount of at least 1 MiB, has no warning; nor has cpu.
  body["resources"] = {{"cpu", 8}, {"memory", 1048576}, {"disk", "1Gi"}};
  auto b = api.Call("POST", "/v1/allocations", body);
  ASSERT_EQ(b.status, 201) << b.body.dump();
  EXPECT_FALSE(b.body.contains("warnings")) << b.body.dump();
  // The same on a node and a quota.
  auto n = api.Call("POST", "/v1/nodes", json{{"name", "tiny"}, {"capacity", {{"cpu", "1"}, {"memory", 512}}}});
  ASSERT_EQ(n.status, 201) << n.body.dump();
  EXPECT_EQ(n.body["warnings"].size(), 1u) << n.body.dump();
  auto q = api.Call("PUT", "/v1/quotas/org/q", json{{"max", {{"memory", 64}}}});
  ASSERT_EQ(q.status, 200) << q.body.dump();
  EXPECT_EQ(q.body["warnings"].size(), 1u) << q.body.dump();
}

TEST_F(SeedFields, StrictUnitsRefuseItAndChangeNothing) {
  Restart({"--strict-units"});
  Api api(server_->url(), "admin-token");
  json body = SeedRequest();
  body["resources"] = {{"cpu", 1}, {"memory", 8}};
  auto a = api.Call("POST", "/v1/allocations", body);
  ASSERT_EQ(a.status, 422) << a.body.dump();
  EXPECT_EQ(a.body["error"]["field"], "resources.memory");
  EXPECT_EQ(api.Call("GET", "/v1/allocations").body["count"], 0);
  auto n = api.Call("POST", "/v1/nodes", json{{"name", "tiny"}, {"capacity", {{"cpu", "1"}, {"memory", 512}}}});
  EXPECT_EQ(n.status, 422) << n.body.dump();
  EXPECT_EQ(api.Call("GET", "/v1/nodes/tiny").status, 404);
}

}  // namespace
}  // namespace allot::testing
