// Replicas that all answer (store etcd, one real etcd member): a standby answers reads from the state it
// follows, with X-Allot-Revision and its lag; it redirects writes, consistent reads and what it does not
// hold to the leader; /v1/cluster/members lists the replicas; at promotion the new leader serves exactly
// what etcd holds; the CLI and the agent, given several replicas, get where they must.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../store/etcd_process.h"
#include "replica_process.h"
#include "server_process.h"
#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

int64_t RevisionOf(const Reply& r) {
  auto it = r.headers.find("x-allot-revision");
  return it == r.headers.end() ? -1 : std::stoll(it->second);
}

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EtcdBinary().empty()) GTEST_SKIP() << "etcd is not installed";
    etcd_ = std::make_unique<EtcdProcess>(dir_.path());
    ASSERT_TRUE(etcd_->Start()) << ReadFile(dir_.path() + "/etcd.log");
  }
  // A leader `a` and a standby `b`.
  void StartTwo() {
    a_ = std::make_unique<ReplicaProcess>(dir_.path(), "a", etcd_->url());
    ASSERT_TRUE(WaitFor([&] { return a_->Leads(); }, 20000)) << a_->Log();
    b_ = std::make_unique<ReplicaProcess>(dir_.path(), "b", etcd_->url());
    ASSERT_TRUE(WaitFor([&] { return b_->Role() == "standby"; }, 20000)) << b_->Log();
  }
  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<ReplicaProcess> a_, b_;
};

TEST_F(ReplicaTest, AStandbyAnswersReadsFromTheStateItFollows) {
  StartTwo();
  Api leader(a_->url()), standby(b_->url());
  auto n = leader.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}}}});
  ASSERT_EQ(n.status, 201) << n.body.dump();
  auto w = leader.Call("POST", "/v1/allocations", json{{"tenant", "t"}, {"requests", {{"cpu", "1500m"}}}});
  ASSERT_EQ(w.status, 201) << w.body.dump();
  std::string id = w.body["id"].get<std::string>();
  int64_t written = RevisionOf(w);
  ASSERT_GT(written, 0);
  // The standby shows the allocation once its revision includes the write (a node change and an
  // allocation: the two ways a standby applies commits).
  Reply seen;
  ASSERT_TRUE(WaitFor(
      [&] {
        seen = standby.Call("GET", "/v1/allocations/" + id);
        return seen.status == 200;
      },
      10000))
      << b_->Log();
  EXPECT_GE(RevisionOf(seen), written);
  EXPECT_EQ(seen.body["node"], "n1");
  EXPECT_EQ(seen.body["state"], "placed");
  auto nodes = standby.Call("GET", "/v1/nodes");
  ASSERT_EQ(nodes.status, 200);
  ASSERT_EQ(nodes.body["nodes"].size(), 1u);
  EXPECT_EQ(nodes.body["nodes"][0]["allocated"]["cpu"], 1500);
  // Every answer carries the revision, a 404 too.
  EXPECT_GE(RevisionOf(standby.Call("GET", "/v1/allocations/nope")), written);
  // A release on the leader reaches the standby.
  auto d = leader.Call("DELETE", "/v1/allocations/" + id);
  ASSERT_EQ(d.status, 200);
  ASSERT_TRUE(WaitFor([&] { return standby.Call("GET", "/v1/allocations/" + id).status == 404; }, 10000));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto x = standby.Call("GET", "/v1/nodes");
        return x.status == 200 && x.body["nodes"][0]["allocated"].value("cpu", -1) == 0;
      },
      10000));
  // Its lag, in /metrics.
  auto m = standby.Call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  std::string text = m.body.get<std::string>();
  size_t at = text.find("\nallot_replica_lag_seconds ");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_NE(text.find("\nallot_replica_leader 0\n"), std::string::npos);
  double lag = std::stod(text.substr(at + 27));
  EXPECT_LT(lag, 5.0);  // it rewrites its registration every 500 ms and sees it come back
  EXPECT_NE(leader.Call("GET", "/metrics").body.get<std::string>().find("allot_replica_leader 1"),
            std::string::npos);
}

TEST_F(ReplicaTest, AStandbyRedirectsWritesConsistentReadsAndWhatItDoesNotHold) {
  StartTwo();
  Api standby(b_->url());
  auto w = standby.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}}}});
  EXPECT_EQ(w.status, 307) << w.body.dump();
  EXPECT_EQ(w.headers["location"], a_->url() + "/v1/nodes");
  EXPECT_EQ(w.body["redirect"]["leader"], a_->url());
  auto c = standby.Call("GET", "/v1/allocations?consistent=true&limit=5");
  EXPECT_EQ(c.status, 307);
  EXPECT_EQ(c.headers["location"], a_->url() + "/v1/allocations?consistent=true&limit=5");
  EXPECT_EQ(standby.Call("GET", "/v1/allocations?limit=5").status, 200);
  auto u = standby.Call("GET", "/v1/utilization");  // computed by the leader's timer
  EXPECT_EQ(u.status, 307);
  EXPECT_EQ(u.headers["location"], a_->url() + "/v1/utilization");
  auto p = standby.Call("DELETE", "/v1/allocations/x");
  EXPECT_EQ(p.status, 307);
  // Nothing was written through the standby.
  EXPECT_EQ(Api(a_->url()).Call("GET", "/v1/nodes").body["nodes"].size(), 0u);
}

TEST_F(ReplicaTest, MembersListEveryReplicaTheLeaderAndItsTerm) {
  StartTwo();
  json m;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = Api(b_->url()).Call("GET", "/v1/cluster/members");
        m = r.body;
        return r.status == 200 && m["members"].size() == 2;
      },
      10000))
      << m.dump();
  EXPECT_EQ(m["replicated"], true);
  EXPECT_EQ(m["leader"]["url"], a_->url());
  EXPECT_GT(m["leader"]["term"].get<int64_t>(), 0);
  EXPECT_EQ(m["self"]["url"], b_->url());
  EXPECT_EQ(m["self"]["role"], "standby");
  std::map<std::string, std::string> roles;
  for (const auto& x : m["members"]) roles[x["url"].get<std::string>()] = x["role"].get<std::string>();
  EXPECT_EQ(roles[a_->url()], "leader");
  EXPECT_EQ(roles[b_->url()], "standby");
  auto l = Api(a_->url()).Call("GET", "/v1/cluster/members");
  ASSERT_EQ(l.status, 200);
  EXPECT_EQ(l.body["self"]["role"], "leader");
  EXPECT_EQ(l.body["leader"]["term"], m["leader"]["term"]);
}

TEST_F(ReplicaTest, APromotedStandbyServesExactlyWhatEtcdHolds) {
  StartTwo();
  Api leader(a_->url());
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(
        leader
            .Call("POST", "/v1/nodes", json{{"name", "n" + std::to_string(i)}, {"capacity", {{"cpu", "2"}}}})
            .status,
        201);
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 5; i++) {
    auto r = leader.Call("POST", "/v1/allocations", json{{"tenant", "t"}, {"requests", {{"cpu", "700m"}}}});
    ASSERT_TRUE(r.status == 201 || r.status == 202) << r.body.dump();
    ids.push_back(r.body["id"].get<std::string>());
  }
  int64_t term = Api(a_->url()).Call("GET", "/v1/cluster/members").body["leader"]["term"].get<int64_t>();
  // 2 x 2000m holds two 700m allocations per node: four placed, one queued.
  EXPECT_EQ(a_->Kill(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return b_->Leads(); }, 30000)) << b_->Log();
  Api b(b_->url());
  auto list = b.Call("GET", "/v1/allocations");
  ASSERT_EQ(list.status, 200);
  std::map<std::string, int> states;
  std::map<std::string, int64_t> on_node;
  for (const auto& x : list.body["allocations"]) {
    states[x["state"].get<std::string>()]++;
    if (x["state"] == "placed") on_node[x["node"].get<std::string>()] += x["requests"]["cpu"].get<int64_t>();
  }
  EXPECT_EQ(states["placed"], 4);
  EXPECT_EQ(states["queued"], 1);
  auto nodes = b.Call("GET", "/v1/nodes");
  for (const auto& n : nodes.body["nodes"]) {
    EXPECT_EQ(n["allocated"]["cpu"].get<int64_t>(), on_node[n["name"].get<std::string>()]) << n.dump();
    EXPECT_EQ(n["allocated"]["cpu"].get<int64_t>(), 1400);
  }
  // A release frees room for the queued one on the new leader, which schedules (no double placement).
  ASSERT_EQ(b.Call("DELETE", "/v1/allocations/" + ids[0]).status, 200);
  ASSERT_TRUE(WaitFor(
      [&] { return b.Call("GET", "/v1/allocations/" + ids[4]).body.value("state", "") == "placed"; }, 5000));
  auto m = b.Call("GET", "/v1/cluster/members");
  EXPECT_GT(m.body["leader"]["term"].get<int64_t>(), term);
  EXPECT_EQ(m.body["leader"]["url"], b_->url());
  EXPECT_NE(b_->Log().find("promotion_ms"), std::string::npos);
  // The old leader comes back as a standby and sends writes to the new one.
  a_->Start();
  ASSERT_TRUE(WaitFor([&] { return a_->Role() == "standby"; }, 20000)) << a_->Log();
  auto r = Api(a_->url()).Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "1"}}}});
  EXPECT_EQ(r.status, 307);
  EXPECT_EQ(r.headers["location"], b_->url() + "/v1/allocations");
}

TEST_F(ReplicaTest, TheCliGivenSeveralReplicasFollowsTheRedirectAndSaysWhoAnswered) {
  StartTwo();
  ASSERT_EQ(
      Api(a_->url()).Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}}}}).status,
      201);
  // Nothing listens at the first URL, the second is the standby: the write ends on the leader.
  int nobody = FreePort();
  std::string servers = "http://127.0.0.1:" + std::to_string(nobody) + "," + b_->url();
  auto r = RunAllot({"alloc", "--server", servers, "--cpu", "1", "--verbose"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("idempotency key cli-"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot connect to"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(b_->url() + ": HTTP 307 to " + a_->url() + "/v1/allocations"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("answered by " + a_->url() + " (HTTP 201"), std::string::npos) << r.err;
  // A read is answered by the standby itself.
  auto s = RunAllot({"node", "list", "--server", b_->url(), "--verbose"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.err.find("answered by " + b_->url()), std::string::npos) << s.err;
}

TEST_F(ReplicaTest, TheAgentGivenSeveralReplicasRegistersWithTheLeader) {
  StartTwo();
  auto r = RunAllot({"agent", "--once", "--server", b_->url() + "," + a_->url(), "--name", "agent-node"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("registered agent-node at " + a_->url()), std::string::npos) << r.err;
  EXPECT_EQ(Api(a_->url()).Call("GET", "/v1/nodes/agent-node").status, 200);
}

}  // namespace
}  // namespace allot::testing
