// Two `allot serve --store etcd` replicas on one real etcd: kill -9 the leader under concurrent load and the
// standby takes over with every acknowledged allocation and no node over capacity. A leader whose
// leadership is taken away stops serving as the leader at once and becomes a standby again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "../store/etcd_process.h"
#include "allot/http.h"
#include "replica_process.h"
#include "server_process.h"
#include "store/etcd_client.h"
#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

using Replica = ReplicaProcess;

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EtcdBinary().empty()) GTEST_SKIP() << "etcd is not installed";
    etcd_ = std::make_unique<EtcdProcess>(dir_.path());
    ASSERT_TRUE(etcd_->Start()) << ReadFile(dir_.path() + "/etcd.log");
  }
  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
};

TEST_F(FailoverTest, KillNineTheLeaderUnderLoadAndTheStandbyHasEveryAcknowledgedAllocation) {
  Replica a(dir_.path(), "a", etcd_->url());
  ASSERT_TRUE(WaitFor([&] { return a.Leads(); }, 20000)) << a.Log();
  Replica b(dir_.path(), "b", etcd_->url());
  ASSERT_TRUE(WaitFor([&] { return b.Role() == "standby"; }, 20000)) << b.Log();

  {
    Api api(a.url());
    for (int i = 0; i < 3; i++) {
      auto r = api.Call("POST", "/v1/nodes", json{{"name", "n" + std::to_string(i)}, {"capacity", {{"cpu", "4"}}}});
      ASSERT_EQ(r.status, 201) << r.body.dump();
    }
  }
  // 4 clients allocate 500m (at most 3 x 4000 / 500 = 24 fit at once) and release every other one they
  // got, each sending to whichever replica answers (a standby's redirect counts as no answer here).
  // Acknowledged = answered 201/202 (allocations) or 200 (releases).
  std::mutex mu;
  std::set<std::string> held, released;
  std::atomic<int> acks{0}, acks_after_kill{0};
  std::atomic<bool> killed{false}, stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; t++) {
    clients.emplace_back([&, t] {
      std::string urls[2] = {a.url(), b.url()};
      int which = 0, n = 0;
      while (!stop) {
        Api api(urls[which]);
        auto r = api.Call("POST", "/v1/allocations",
                          json{{"tenant", "org/t" + std::to_string(t)}, {"requests", {{"cpu", "500m"}}}, {"wait", 600}});
        if (r.status != 201 && r.status != 202) {
          which = 1 - which;  // no answer (or not serving): try the other replica
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        std::string id = r.body["id"].get<std::string>();
        {
          std::lock_guard<std::mutex> l(mu);
          held.insert(id);
        }
        acks++;
        if (killed) acks_after_kill++;
        if (++n % 2 == 0) {
          auto d = api.Call("DELETE", "/v1/allocations/" + id);
          std::lock_guard<std::mutex> l(mu);
          held.erase(id);  // an unanswered release may or may not have happened: neither held nor released
          if (d.status == 200) released.insert(id);
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return acks.load() >= 40; }, 60000));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(a.Kill(SIGKILL), 128 + SIGKILL);
  killed = true;
  bool took_over = WaitFor([&] { return b.Leads(); }, 30000);
  auto failover_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  bool served = took_over && WaitFor([&] { return acks_after_kill.load() >= 20; }, 60000);
  stop = true;
  for (auto& c : clients) c.join();
  ASSERT_TRUE(took_over) << b.Log();
  ASSERT_TRUE(served) << b.Log();
  std::cout << "[ failover ] standby ready " << failover_ms << " ms after kill -9 of the leader (lease TTL 2 s); "
            << acks.load() << " allocations acknowledged, " << acks_after_kill.load() << " after the kill\n";

  Api api(b.url());
  std::map<std::string, json> by_id;
  auto list = api.Call("GET", "/v1/allocations?limit=100000");
  ASSERT_EQ(list.status, 200);
  for (const auto& x : list.body["allocations"]) by_id[x["id"].get<std::string>()] = x;
  for (const auto& id : held) {
    ASSERT_TRUE(by_id.count(id)) << "acknowledged allocation " << id << " lost in the failover: "
                                 << api.Call("GET", "/v1/allocations/" + id).body.dump() << "\n"
                                 << b.Log();
    std::string st = by_id[id]["state"].get<std::string>();
    EXPECT_TRUE(st == "placed" || st == "queued") << id << " is " << st;
  }
  for (const auto& id : released) {
    if (by_id.count(id)) {
      EXPECT_NE(by_id[id]["state"].get<std::string>(), "placed") << "released " << id << " is back";
    }
  }
  // No node over capacity: the placed allocations on each node sum to at most its 4000 millicores.
  std::map<std::string, int64_t> used;
  for (const auto& [id, x] : by_id) {
    if (x["state"] == "placed") used[x["node"].get<std::string>()] += x["requests"]["cpu"].get<int64_t>();
  }
  auto nodes = api.Call("GET", "/v1/nodes");
  ASSERT_EQ(nodes.status, 200);
  ASSERT_EQ(nodes.body["nodes"].size(), 3u);
  for (const auto& n : nodes.body["nodes"]) {
    std::string name = n["name"].get<std::string>();
    EXPECT_LE(used[name], 4000) << name;
    EXPECT_EQ(n["allocated"]["cpu"].get<int64_t>(), used[name]) << name;
  }
}

TEST_F(FailoverTest, ALeaderThatLosesTheKeyStopsServingAtOnceAndCampaignsAgain) {
  Replica a(dir_.path(), "a", etcd_->url());
  ASSERT_TRUE(WaitFor([&] { return a.Leads(); }, 20000)) << a.Log();
  auto raw = store::EtcdClient::Create({{etcd_->url()}});
  ASSERT_TRUE(raw.ok());
  // Another holder takes the leader key (what a new leader does after this one's lease ran out).
  std::string key = store::Base64Encode("/ft/leader");
  ASSERT_TRUE((*raw)->Call("/v3/kv/put", {{"key", key}, {"value", store::Base64Encode("intruder")}}).ok());
  ASSERT_TRUE(WaitFor([&] { return !a.Leads(); }, 20000)) << a.Log();
  EXPECT_TRUE(a.Alive());
  EXPECT_NE(a.Log().find("leadership lost"), std::string::npos) << a.Log();
  // It waits as a standby while the key is held, and leads again once the key is gone.
  ASSERT_TRUE(WaitFor([&] { return a.Log().find("\"leader\":\"intruder\"") != std::string::npos; }, 20000)) << a.Log();
  ASSERT_TRUE(WaitFor([&] { return a.Role() == "standby"; }, 20000)) << a.Log();
  // The holder names no URL to send writes to: they are refused, not sent anywhere.
  Api standby(a.url());
  auto w = standby.Call("POST", "/v1/nodes", json{{"name", "x"}, {"capacity", {{"cpu", "1"}}}});
  EXPECT_EQ(w.status, 503) << w.body.dump();
  ASSERT_TRUE((*raw)->Call("/v3/kv/deleterange", {{"key", key}}).ok());
  ASSERT_TRUE(WaitFor([&] { return a.Leads(); }, 20000)) << a.Log();
  EXPECT_EQ(a.Kill(SIGTERM), 0);
  // A graceful stop releases the key, so a standby would not have to wait for the lease.
  auto r = (*raw)->Call("/v3/kv/range", {{"key", key}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->contains("kvs") && !(*r)["kvs"].empty());
}

}  // namespace
}  // namespace allot::testing
