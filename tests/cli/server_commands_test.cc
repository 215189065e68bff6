// The client commands against a real `allot serve` as a new user meets them (issue 15): an undeclared
// (misspelled) tenant, a request no node can ever hold, no server at all, and a missing or wrong token.
#include <gtest/gtest.h>

#include <string>

#include "../server/server_process.h"
#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// A server with auth (not --dev), one declared tenant org/research and one 8-core node.
std::string AuthConfig(const TempDir& dir, const std::string& extra = "") {
  return dir.Write("allot.yaml",
                   "auth:\n  tokens:\n    - {name: ops, role: admin, token: ops-secret}\n"
                   "tenants:\n" +
                       (extra.empty() ? std::string() : "  " + extra + "\n  list:\n") +
                       "  - {path: org/research, quota: {max: {cpu: \"64\"}}}\n"
                       "nodes:\n  - {name: n1, capacity: {cpu: \"8\", memory: 32Gi}}\n");
}

TEST(Tenants, AMisspelledTenantIsRefusedNamingTheClosestDeclaredOne) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--config", AuthConfig(dir)});
  ASSERT_TRUE(s.Start()) << s.Log();
  auto r = RunAllot({"alloc", "--server", s.url(), "--token", "ops-secret", "--tenant", "org/reserch", "--cpu", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("tenant org/reserch is not declared"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean org/research?"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tenants.auto_create"), std::string::npos) << r.err;
  // The API's answer: 422 naming the field.
  Api api(s.url(), "ops-secret");
  auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/reserch"}, {"requests", {{"cpu", "1"}}}});
  EXPECT_EQ(a.status, 422) << a.body.dump();
  ASSERT_TRUE(IsErrorBody(a.body)) << a.body.dump();
  EXPECT_EQ(a.body["error"].value("field", ""), "tenant");
  // Nothing was placed for it.
  auto list = api.Call("GET", "/v1/allocations");
  EXPECT_TRUE(list.body["allocations"].empty()) << list.body.dump();
  // The declared tenant, a tenant under it and one above it (an inner node of the tree) are accepted.
  for (const char* t : {"org/research", "org/research/agent-7", "org"}) {
    auto ok = RunAllot({"alloc", "--server", s.url(), "--token", "ops-secret", "--tenant", t, "--cpu", "1"});
    EXPECT_EQ(ok.exit_code, 0) << t << ": " << ok.err;
    EXPECT_NE(ok.out.find("placed"), std::string::npos) << ok.out;
  }
  // A reservation is checked the same way.
  auto rsv = api.Call("POST", "/v1/reservations",
                      json{{"tenant", "org/reserch"}, {"duration", "1h"}, {"requests", {{"cpu", "1"}}}});
  EXPECT_EQ(rsv.status, 422) << rsv.body.dump();
}

TEST(Tenants, PutQuotasDeclaresATenant) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--config", AuthConfig(dir)});
  ASSERT_TRUE(s.Start()) << s.Log();
  Api api(s.url(), "ops-secret");
  auto before = api.Call("POST", "/v1/allocations", json{{"tenant", "org/batch"}, {"requests", {{"cpu", "1"}}}});
  EXPECT_EQ(before.status, 422) << before.body.dump();
  auto put = api.Call("PUT", "/v1/quotas/org/batch", json{{"max", {{"cpu", "4"}}}});
  ASSERT_EQ(put.status, 200) << put.body.dump();
  auto after = api.Call("POST", "/v1/allocations", json{{"tenant", "org/batch"}, {"requests", {{"cpu", "1"}}}});
  EXPECT_EQ(after.status, 201) << after.body.dump();
}

TEST(Tenants, AutoCreateAndDevModeAcceptAnyTenant) {
  TempDir dir;
  {
    ServerProcess s(dir.path() + "/auto", {"--config", AuthConfig(dir, "auto_create: true")});
    ASSERT_TRUE(s.Start()) << s.Log();
    auto r = RunAllot({"alloc", "--server", s.url(), "--token", "ops-secret", "--tenant", "org/reserch", "--cpu", "1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("placed"), std::string::npos) << r.out;
  }
  ServerProcess dev(dir.path() + "/dev", {"--dev"});
  ASSERT_TRUE(dev.Start()) << dev.Log();
  Api api(dev.url());
  auto node = api.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}}}});
  ASSERT_EQ(node.status / 100, 2) << node.body.dump();
  auto r = RunAllot({"alloc", "--server", dev.url(), "--tenant", "anything/at-all", "--cpu", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Tenants, TheConfigKeyIsChecked) {
  TempDir dir;
  auto r = RunAllot({"config", "check", dir.Write("bad.yaml", "tenants: {auto_create: maybe}\n")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("tenants.auto_create"), std::string::npos) << r.err;
  auto k = RunAllot({"config", "check", dir.Write("key.yaml", "tenants: {autocreate: true}\n")});
  EXPECT_EQ(k.exit_code, 2) << k.out << k.err;
  EXPECT_NE(k.err.find("tenants.autocreate: unknown key"), std::string::npos) << k.err;
}

TEST(Alloc, ARequestNoNodeCanEverHoldExitsOneAndSaysWhy) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", AuthConfig(dir)});
  ASSERT_TRUE(s.Start()) << s.Log();
  // 8 cores at most on the one node: 32 (within the tenant's 64-core quota) can never fit.
  auto r = RunAllot({"alloc", "--server", s.url(), "--tenant", "org/research", "--cpu", "32"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("queued"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("can never be placed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stays queued"), std::string::npos) << r.err;
  // The API still answers 202: the request is queued, with its reason.
  Api api(s.url());
  auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/research"}, {"requests", {{"cpu", "32"}}}});
  EXPECT_EQ(a.status, 202) << a.body.dump();
  EXPECT_EQ(a.body.value("reason_code", ""), "infeasible") << a.body.dump();
  // One that fits later (the node is full now) still queues with exit 0.
  auto full = RunAllot({"alloc", "--server", s.url(), "--tenant", "org/research", "--cpu", "8"});
  EXPECT_EQ(full.exit_code, 0) << full.err;
  auto later = RunAllot({"alloc", "--server", s.url(), "--tenant", "org/research", "--cpu", "2"});
  EXPECT_EQ(later.exit_code, 0) << later.out << later.err;
  EXPECT_NE(later.out.find("queued"), std::string::npos) << later.out;
}

TEST(Status, NoServerSaysHowToStartOne) {
  std::string url = "http://127.0.0.1:" + std::to_string(FreePort());
  auto r = RunAllot({"status", "--server", url});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot connect to"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("allot serve --dev"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ALLOT_SERVER"), std::string::npos) << r.err;
}

TEST(Status, UnauthorizedSaysWhetherTheTokenWasMissingOrWrong) {
  TempDir dir;
  ServerProcess s(dir.path() + "/data", {"--config", AuthConfig(dir)});
  ASSERT_TRUE(s.Start()) << s.Log();
  // RunProgram through env(1), so that no ALLOT_TOKEN of the caller's environment leaks in.
  auto missing = RunProgram({"env", "-u", "ALLOT_TOKEN", AllotBinary(), "status", "--server", s.url()});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("no bearer token was sent"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("--token"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("ALLOT_TOKEN"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("HTTP 401"), std::string::npos) << missing.err;
  auto wrong = RunProgram({"env", "ALLOT_TOKEN=not-the-secret", AllotBinary(), "status", "--server", s.url()});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.err;
  EXPECT_NE(wrong.err.find("the bearer token is wrong"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("no bearer token was sent"), std::string::npos) << wrong.err;
  auto right = RunProgram({"env", "ALLOT_TOKEN=ops-secret", AllotBinary(), "status", "--server", s.url()});
  EXPECT_EQ(right.exit_code, 0) << right.err;
  EXPECT_NE(right.out.find("nodes: 1"), std::string::npos) << right.out;
}

}  // namespace
}  // namespace allot::testing
