// Both Store implementations behave alike; the SQLite one keeps everything across a reopen.
#include "allot/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "support.h"

namespace allot {
namespace {

AuditEvent Ev(int64_t at, const std::string& type, const std::string& tenant) {
  AuditEvent e;
  e.at = at;
  e.type = type;
  e.id = std::string("a").append(std::to_string(at));
  e.tenant = tenant;
  e.actor = "tester";
  return e;
}

void CommitSync(Store& s, Batch b) {
  std::atomic<bool> ok{false};
  s.Commit(std::move(b), [&](const Status& st) { ok = st.ok(); });
  ASSERT_TRUE(s.Flush().ok());
  ASSERT_TRUE(ok.load());
}

void Exercise(Store& s) {
  Batch b;
  b.Put(Table::kNodes, "n1", "{cap:1}");
  b.Put(Table::kAllocations, "a1", "x");
  b.Put(Table::kAllocations, "a2", "y");
  b.Put(Table::kHistory, "r/00000015/001765000000/000", std::string("\x01\x00\xff", 3));  // binary rows
  b.events.push_back(Ev(100, "placed", "org/a"));
  b.events.push_back(Ev(200, "placed", "org/ab"));
  b.events.push_back(Ev(300, "released", "org/a/x"));
  CommitSync(s, std::move(b));
  Batch b2;
  b2.Delete(Table::kAllocations, "a1");
  b2.Put(Table::kNodes, "n1", "{cap:2}");
  CommitSync(s, std::move(b2));

  auto snap = s.Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->rows(Table::kNodes).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kNodes)[0].second, "{cap:2}");
  ASSERT_EQ(snap->rows(Table::kAllocations).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kAllocations)[0].first, "a2");
  ASSERT_EQ(snap->rows(Table::kHistory).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kHistory)[0].second, std::string("\x01\x00\xff", 3));
  EXPECT_EQ(snap->last_event_seq, 3);
  // LoadEach gives the same rows, table by table in Table order, keys in order; an error stops it.
  Batch b3;
  b3.Put(Table::kTenants, "org/a", "{t}");
  b3.Put(Table::kAllocations, "a0", "w");
  CommitSync(s, std::move(b3));
  std::vector<std::string> rows;
  ASSERT_TRUE(s.LoadEach([&](Table t, std::string_view k, std::string_view v) {
                 rows.push_back(std::string(TableName(t)) + ":" + std::string(k) + "=" + std::string(v));
                 return Status::Ok();
               }).ok());
  EXPECT_EQ(rows, (std::vector<std::string>{"nodes:n1={cap:2}", "tenants:org/a={t}", "allocations:a0=w",
                                            "allocations:a2=y",
                                            "history:" + snap->rows(Table::kHistory)[0].first + "=" +
                                                std::string("\x01\x00\xff", 3)}));
  int seen = 0;
  Status stopped = s.LoadEach([&](Table, std::string_view, std::string_view) -> Status {
    if (++seen == 2) return InvalidArgument("enough");
    return Status::Ok();
  });
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(stopped.message(), "enough");
  Batch b4;
  b4.Delete(Table::kTenants, "org/a");
  b4.Delete(Table::kAllocations, "a0");
  CommitSync(s, std::move(b4));

  EventQuery q;
  auto all = s.Events(q);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].seq, 1);
  EXPECT_EQ((*all)[2].type, "released");
  EXPECT_EQ((*all)[2].actor, "tester");

  q.tenants = {"org/a"};  // the subtree org/a holds org/a and org/a/x, not org/ab
  auto sub = s.Events(q);
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub->size(), 2u);
  EXPECT_EQ((*sub)[0].tenant, "org/a");
  EXPECT_EQ((*sub)[1].tenant, "org/a/x");

  EventQuery since;
  since.since_ms = 200;
  since.limit = 1;
  auto one = s.Events(since);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].at, 200);

  EventQuery after;
  after.after_seq = 2;
  EXPECT_EQ(s.Events(after)->size(), 1u);

  auto pruned = s.PruneEvents(150);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1);
  EXPECT_EQ(s.Events(EventQuery{})->size(), 2u);
}

TEST(StoreTest, MemoryStore) {
  auto s = NewMemoryStore();
  Exercise(*s);
}

TEST(StoreTest, SqliteStoreSurvivesReopen) {
  testing::TempDir dir;
  {
    auto s = OpenSqliteStore(dir.path());
    ASSERT_TRUE(s.ok()) << s.error().message;
    Exercise(**s);
    (*s)->Close();
  }
  auto s = OpenSqliteStore(dir.path());
  ASSERT_TRUE(s.ok());
  auto snap = (*s)->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->rows(Table::kAllocations).size(), 1u);
  EXPECT_EQ(snap->last_event_seq, 3);
  // The presizing hint counts what is stored, table by table.
  for (int t = 0; t < kNumTables; t++) {
    EXPECT_EQ((*s)->RowsHint(static_cast<Table>(t)), snap->tables[t].size()) << TableName(static_cast<Table>(t));
  }
  Batch b;
  b.events.push_back(Ev(400, "renewed", "org/a"));
  CommitSync(**s, std::move(b));
  auto evs = (*s)->Events(EventQuery{});
  ASSERT_TRUE(evs.ok());
  EXPECT_EQ(evs->back().seq, 4);  // numbering continues after the reopen
}

TEST(StoreTest, GroupCommitKeepsOrderAndCallsEveryDone) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.path());
  ASSERT_TRUE(s.ok());
  constexpr int kThreads = 4, kPer = 250;
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; i++) {
        Batch b;
        std::string key = std::to_string(t);
        key.append("-").append(std::to_string(i));
        b.Put(Table::kAllocations, key, "v");
        b.events.push_back(Ev(i, "placed", "x"));
        (*s)->Commit(std::move(b), [&](const Status& st) { done += st.ok() ? 1 : 0; });
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE((*s)->Flush().ok());
  EXPECT_EQ(done.load(), kThreads * kPer);
  auto st = (*s)->Stats();
  EXPECT_EQ(st.batches, static_cast<uint64_t>(kThreads * kPer));
  EXPECT_LE(st.transactions, st.batches);
  EXPECT_EQ((*s)->Load()->rows(Table::kAllocations).size(), static_cast<size_t>(kThreads * kPer));
}

// With fsync, a transaction waits a little for the clients the last one answered (each sends its next batch
// at once), so that their batches share one fsync; a lone client never waits (its batch is all there is),
// and nothing is lost or answered twice either way.
TEST(StoreTest, GroupCommitLingersForTheClientsItAnsweredButNeverForALoneOne) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.path());
  ASSERT_TRUE(s.ok());
  auto commit_and_wait = [&](const std::string& key) {
    std::promise<bool> p;
    Batch b;
    b.Put(Table::kAllocations, key, "v");
    (*s)->Commit(std::move(b), [&](const Status& st) { p.set_value(st.ok()); });
    return p.get_future().get();
  };
  for (int i = 0; i < 30; i++) ASSERT_TRUE(commit_and_wait("lone-" + std::to_string(i)));
  ASSERT_TRUE((*s)->Flush().ok());  // the committer's counts are kept after the answers
  EXPECT_EQ((*s)->Stats().lingers, 0u);
  EXPECT_EQ((*s)->Stats().transactions, 30u);

  constexpr int kClients = 8, kPer = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kClients; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; i++)
        ok += commit_and_wait(std::to_string(t) + "-" + std::to_string(i)) ? 1 : 0;
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE((*s)->Flush().ok());
  EXPECT_EQ(ok.load(), kClients * kPer);
  auto st = (*s)->Stats();
  EXPECT_GT(st.lingers, 0u);
  EXPECT_EQ(st.batches, static_cast<uint64_t>(30 + kClients * kPer));
  EXPECT_LT(st.transactions, st.batches);
  EXPECT_EQ((*s)->Load()->rows(Table::kAllocations).size(), static_cast<size_t>(30 + kClients * kPer));
}

TEST(StoreTest, ClosedStoreRefusesCommits) {
  testing::TempDir dir;
  auto s = OpenSqliteStore(dir.path());
  ASSERT_TRUE(s.ok());
  (*s)->Close();
  bool failed = false;
  (*s)->Commit(Batch{}, [&](const Status& st) { failed = !st.ok(); });
  EXPECT_TRUE(failed);
}

TEST(StoreTest, UnwritableDirectoryIsAnError) {
  auto s = OpenSqliteStore("/proc/allot-cannot-be-here");
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace allot
