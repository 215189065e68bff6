// Restore (src/server/restore.cc): the store's rows are read and decoded on a second thread and put
// back on the first, a batch at a time. Many batches come back whole and in order, an allocation that
// does not decode is dropped from the store, a failure while the reader waits on a full queue ends the
// start cleanly (an error, no hang), and the server's own record of each allocation comes back.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "allot/clock.h"
#include "allot/http.h"
#include "allot/server.h"
#include "allot/store.h"
#include "server/records.h"
#include "support.h"

namespace allot::testing {
namespace {

using Json = nlohmann::json;

ServerConfig Config(const std::string& dir) {
  ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.dev = true;
  cfg.data_dir = dir;
  cfg.sync_full = false;
  cfg.log_requests = false;
  cfg.log_level = "warn";
  cfg.auto_create_tenants = true;
  return cfg;
}

// Two big nodes, n1 and n2.
void PutNodes(Batch* b) {
  for (const char* name : {"n1", "n2"}) {
    server::NodeRecord node;
    node.spec.name = name;
    node.spec.capacity = {{"cpu", int64_t{1} << 40}, {"memory", int64_t{1} << 50}};
    b->Put(Table::kNodes, name, server::EncodeNode(node));
  }
}

// A store of two nodes and `n` placed allocations (alternating between them, ids in store order), one
// queued allocation (placed by the first pass after the start), one finished one, and one allocation row
// that is not an allocation.
void Seed(const std::string& dir, int n) {
  auto store = OpenSqliteStore(dir);
  ASSERT_TRUE(store.ok()) << store.error().message;
  Batch b;
  PutNodes(&b);
  auto alloc = [](const std::string& id, AllocState state, const std::string& node) {
    server::AllocRecord r;
    r.info.id = id;
    r.info.tenant = "org/t" + std::to_string(id.size() % 3);
    r.info.state = state;
    if (!node.empty()) r.info.nodes = {node};
    r.info.requests = {{"cpu", 100}, {"memory", 1 << 20}};
    r.info.limits = r.info.requests;
    r.info.submitted = 1'000;
    if (state == AllocState::kPlaced) r.info.started = 2'000;
    if (state == AllocState::kReleased) r.info.ended = server::WallNowMs();
    r.idem = "key-" + id;
    return server::EncodeAlloc(r);
  };
  char id[32];
  for (int i = 0; i < n; i++) {
    std::snprintf(id, sizeof id, "p-%07d", i);
    b.Put(Table::kAllocations, id, alloc(id, AllocState::kPlaced, i % 2 ? "n2" : "n1"));
  }
  b.Put(Table::kAllocations, "q-0000001", alloc("q-0000001", AllocState::kQueued, ""));
  b.Put(Table::kAllocations, "r-0000001", alloc("r-0000001", AllocState::kReleased, "n1"));
  b.Put(Table::kAllocations, "p-0000002x", "this is no allocation");
  (*store)->Commit(std::move(b), nullptr);
  ASSERT_TRUE((*store)->Flush().ok());
}

Json Get(Server& s, const std::string& path) {
  auto c = net::HttpClient::Create("http://127.0.0.1:" + std::to_string(s.port()), 30'000);
  EXPECT_TRUE(c.ok());
  auto r = c->Request("GET", path);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  return Json::parse(r->body);
}

TEST(RestoreTest, ManyBatchesComeBackWholeAndAnAllocationThatDoesNotDecodeIsDropped) {
  TempDir dir;
  const int n = 5000;  // about 20 of the reader's batches
  Seed(dir.path(), n);
  {
    auto s = Server::Create(Config(dir.path()));
    ASSERT_TRUE(s.ok()) << s.error().message;
    std::thread run([&] { (void)(*s)->Run(); });
    Json u = Get(**s, "/v1/utilization");
    // The queued one was submitted again after the placed ones, and the first pass placed it.
    EXPECT_EQ(u["allocations"]["placed"], n + 1);
    EXPECT_EQ(u["allocations"]["queued"], 0);
    EXPECT_EQ(u["allocated"]["cpu"], 100 * (n + 1));
    EXPECT_EQ(Get(**s, "/v1/allocations/q-0000001")["state"], "placed");
    Json a = Get(**s, "/v1/allocations/p-0004999");
    EXPECT_EQ(a["state"], "placed");
    EXPECT_EQ(a["node"], "n2");
    EXPECT_EQ(Get(**s, "/v1/allocations/r-0000001")["state"], "released");
    (*s)->Shutdown();
    run.join();
  }
  auto store = OpenSqliteStore(dir.path());
  ASSERT_TRUE(store.ok());
  auto snap = (*store)->Load();
  ASSERT_TRUE(snap.ok());
  size_t allocations = 0;
  for (const auto& [k, v] : snap->rows(Table::kAllocations)) {
    EXPECT_NE(k, "p-0000002x");
    allocations++;
  }
  EXPECT_EQ(allocations, static_cast<size_t>(n) + 2);
}

TEST(RestoreTest, AFailureWhileTheReaderWaitsEndsTheStartWithTheError) {
  TempDir dir;
  Seed(dir.path(), 20'000);  // far more than the reader's queue holds: it is waiting when the failure comes
  ServerConfig cfg = Config(dir.path());
  NodeSpec bad;  // a config node the engine refuses; it is added at the first allocation row
  bad.name = "too-many-gpus";
  bad.capacity = {{"cpu", 1000}, {"gpu", 5000 * 1000}};
  cfg.nodes.push_back(bad);
  auto t0 = std::chrono::steady_clock::now();
  auto s = Server::Create(cfg);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("a node has at most 4096"), std::string::npos) << s.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
  // The store is as it was: started again without the bad node, everything is there.
  auto again = Server::Create(Config(dir.path()));
  ASSERT_TRUE(again.ok()) << again.error().message;
  std::thread run([&] { (void)(*again)->Run(); });
  EXPECT_EQ(Get(**again, "/v1/utilization")["allocations"]["placed"], 20'001);
  (*again)->Shutdown();
  run.join();
}

// Each placed allocation's server-side record (idempotency key, agent) comes back, from every one of the
// reader's batches, and an allocation that cannot go back (its node is gone) is in none of the server's
// indexes: not listed, not counted, its key free again.
TEST(RestoreTest, EveryPlacedAllocationComesBackWithItsKeyAndAgentAndALostOneWithNothing) {
  TempDir dir;
  const int n = 20'000;  // ~80 batches
  {
    auto store = OpenSqliteStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.error().message;
    Batch b;
    PutNodes(&b);
    char id[32];
    for (int i = 0; i < n; i++) {
      std::snprintf(id, sizeof id, "p-%07d", i);
      server::AllocRecord r;
      r.info.id = id;
      r.info.tenant = "org/t" + std::to_string(i % 3);
      r.info.state = AllocState::kPlaced;
      r.info.nodes = {i % 1000 == 999 ? "gone" : i % 2 ? "n2" : "n1"};
      r.info.requests = {{"cpu", 100}, {"memory", 1 << 20}};
      r.info.limits = r.info.requests;
      r.info.submitted = 1'000;
      r.info.started = 2'000;
      r.idem = "key-" + std::to_string(i);
      r.agent = "agent-" + std::to_string(i % 7);
      r.actor = "bot";
      b.Put(Table::kAllocations, id, server::EncodeAlloc(r));
    }
    (*store)->Commit(std::move(b), nullptr);
    ASSERT_TRUE((*store)->Flush().ok());
  }
  const int lost = n / 1000;
  auto s = Server::Create(Config(dir.path()));
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::thread run([&] { (void)(*s)->Run(); });
  EXPECT_EQ(Get(**s, "/v1/utilization")["allocations"]["placed"], n - lost);
  Json list = Get(**s, "/v1/allocations?state=placed&limit=100000");
  ASSERT_EQ(list["count"], n - lost);
  ASSERT_EQ(list["allocations"].size(), static_cast<size_t>(n - lost));
  int checked = 0;
  for (const auto& a : list["allocations"]) {
    int i = std::stoi(a["id"].get<std::string>().substr(2));
    ASSERT_NE(i % 1000, 999) << a.dump();
    ASSERT_EQ(a.value("idempotency_key", ""), "key-" + std::to_string(i)) << a.dump();
    ASSERT_EQ(a.value("agent_id", ""), "agent-" + std::to_string(i % 7)) << a.dump();
    checked++;
  }
  EXPECT_EQ(checked, n - lost);
  int with_agent3 = 0;
  for (int i = 0; i < n; i++) with_agent3 += i % 7 == 3 && i % 1000 != 999;
  EXPECT_EQ(Get(**s, "/v1/allocations?state=placed&agent_id=agent-3&limit=100000")["count"], with_agent3);
  auto c = net::HttpClient::Create("http://127.0.0.1:" + std::to_string((*s)->port()), 30'000);
  ASSERT_TRUE(c.ok());
  auto gone = c->Request("GET", "/v1/allocations/p-0000999");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->status, 404) << gone->body;
  // The last placed allocation's key replays it; a lost one's key makes a new allocation.
  auto post = [&](const std::string& key) {
    Json body = {{"tenant", "org/t" + std::to_string(std::stoi(key.substr(4)) % 3)},
                 {"requests", {{"cpu", "100m"}}},
                 {"idempotency_key", key}};
    auto r = c->Request("POST", "/v1/allocations", body.dump());
    EXPECT_TRUE(r.ok());
    return r.ok() ? Json::parse(r->body) : Json();
  };
  EXPECT_EQ(post("key-19998")["id"], "p-0019998");
  EXPECT_NE(post("key-999")["id"], "p-0000999");
  (*s)->Shutdown();
  run.join();
}

}  // namespace
}  // namespace allot::testing
