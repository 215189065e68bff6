// The etcd store and leader election against a real etcd (single member on free loopback ports):
// round trips, atomic batches, group commit within etcd's limits, paging, events, restart reload, fencing.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "allot/store.h"
#include "etcd_process.h"
#include "store/etcd_client.h"
#include "store/etcd_store.h"
#include "store/leader.h"
#include "support.h"

namespace allot {
namespace {

using testing::EtcdProcess;
using testing::TempDir;

AuditEvent Ev(int64_t at, const std::string& type, const std::string& tenant, const std::string& id) {
  AuditEvent e;
  e.at = at;
  e.type = type;
  e.id = id;
  e.tenant = tenant;
  e.actor = "tester";
  return e;
}

Status CommitSync(Store& s, Batch b) {
  std::mutex mu;
  Status out = Error{ErrorCode::kInternal, "done never ran"};
  s.Commit(std::move(b), [&](const Status& st) {
    std::lock_guard<std::mutex> l(mu);
    out = st;
  });
  EXPECT_TRUE(s.Flush().ok());
  std::lock_guard<std::mutex> l(mu);
  return out;
}

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::EtcdBinary().empty()) GTEST_SKIP() << "etcd is not installed";
    // Small limits, so that etcd itself refuses an oversized batch (atomicity test) and any transaction
    // with more than 64 operations (group commit test).
    etcd_ = std::make_unique<EtcdProcess>(
        dir_.path(), std::vector<std::string>{"--max-request-bytes", "262144", "--max-txn-ops", "64"});
    ASSERT_TRUE(etcd_->Start()) << testing::ReadFile(dir_.path() + "/etcd.log");
  }
  EtcdStoreOptions Options() const {
    EtcdStoreOptions o;
    o.endpoints = {etcd_->url()};
    o.prefix = "/t";
    o.retry_ms = 0;
    return o;
  }
  std::unique_ptr<Store> Open(EtcdStoreOptions o) {
    auto s = OpenEtcdStore(o);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s.value()) : nullptr;
  }
  std::unique_ptr<store::EtcdClient> Raw() { return std::move(store::EtcdClient::Create({{etcd_->url()}}).value()); }

  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
};

TEST(EtcdCodec, Base64RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; i++) all.push_back(static_cast<char>(i));
  for (size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    std::string in = all.substr(0, n), out;
    ASSERT_TRUE(store::Base64Decode(store::Base64Encode(in), &out));
    EXPECT_EQ(out, in);
  }
  // "Man" -> TWFu, "Ma" -> TWE=, "M" -> TQ== (RFC 4648 section 4's examples).
  EXPECT_EQ(store::Base64Encode("Man"), "TWFu");
  EXPECT_EQ(store::Base64Encode("Ma"), "TWE=");
  EXPECT_EQ(store::Base64Encode("M"), "TQ==");
  std::string junk;
  EXPECT_FALSE(store::Base64Decode("TW*u", &junk));
  EXPECT_FALSE(store::Base64Decode("TQ==TQ==", &junk));
}

TEST(EtcdCodec, PrefixEndAndEndpoints) {
  EXPECT_EQ(store::PrefixEnd("/a/"), "/a0");  // '/' + 1 = '0'
  EXPECT_EQ(store::PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(store::PrefixEnd(std::string("\xff", 1)), std::string(1, '\0'));
  auto e = ParseEtcdEndpoints("http://127.0.0.1:1, 127.0.0.1:2");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, (std::vector<std::string>{"http://127.0.0.1:1", "http://127.0.0.1:2"}));
  EXPECT_FALSE(ParseEtcdEndpoints("http://a:1,,http://b:2").ok());
  EXPECT_FALSE(ParseEtcdEndpoints("https://a:1").ok());
  EXPECT_FALSE(OpenEtcdStore(EtcdStoreOptions{}).ok());  // no endpoints
}

// `allot serve`'s store flags: whole numbers only; ranges and the kind are checked by ValidateStoreConfig.
TEST(StoreFlags, SetAndValidate) {
  StoreConfig c;
  for (const std::string& flag : StoreFlags()) EXPECT_TRUE(flag == "store" || flag.rfind("etcd-", 0) == 0) << flag;
  ASSERT_TRUE(SetStoreFlag("store", "etcd", &c).ok());
  ASSERT_TRUE(SetStoreFlag("etcd-endpoints", "http://127.0.0.1:1,127.0.0.1:2", &c).ok());
  ASSERT_TRUE(SetStoreFlag("etcd-lease-ttl", "7", &c).ok());
  ASSERT_TRUE(SetStoreFlag("etcd-max-txn-ops", "64", &c).ok());
  ASSERT_TRUE(SetStoreFlag("etcd-prefix", "/x", &c).ok());
  EXPECT_EQ(c.kind, "etcd");
  EXPECT_EQ(c.etcd_endpoints.size(), 2u);
  EXPECT_EQ(c.etcd_lease_ttl_s, 7);
  EXPECT_EQ(c.etcd_max_txn_ops, 64u);
  EXPECT_TRUE(ValidateStoreConfig(c).ok());
  for (const char* bad : {"5x", "", "-1", "1.5", " 5"}) {
    Status st = SetStoreFlag("etcd-lease-ttl", bad, &c);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("--etcd-lease-ttl"), std::string::npos) << st.message();
  }
  EXPECT_EQ(c.etcd_lease_ttl_s, 7);  // a refused value changes nothing
  EXPECT_FALSE(SetStoreFlag("etcd-endpoints", "https://a:1", &c).ok());
  EXPECT_FALSE(SetStoreFlag("data", "/tmp", &c).ok());
  ASSERT_TRUE(SetStoreFlag("etcd-lease-ttl", "0", &c).ok());  // a number, but out of range:
  EXPECT_NE(ValidateStoreConfig(c).message().find("--etcd-lease-ttl"), std::string::npos);
  ASSERT_TRUE(SetStoreFlag("store", "redis", &c).ok());
  EXPECT_NE(ValidateStoreConfig(c).message().find("--store"), std::string::npos);
}

TEST_F(EtcdStoreTest, RoundTripsTablesAndEvents) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  Batch b;
  b.Put(Table::kNodes, "n1", "{cap:1}");
  b.Put(Table::kAllocations, "a1", "x");
  b.Put(Table::kAllocations, "a/2", std::string("bin\0\xff\x01", 6));  // '/' in keys, any bytes in values
  b.Put(Table::kMeta, "version", "1");
  b.Put(Table::kHistory, "r/00000015/001765000000/000", std::string("\x01\x00\xff", 3));  // history rows
  b.events.push_back(Ev(100, "placed", "org/a", "a1"));
  b.events.push_back(Ev(200, "placed", "org/ab", "a/2"));
  b.events.push_back(Ev(300, "released", "org/a/x", "a1"));
  ASSERT_TRUE(CommitSync(*s, std::move(b)).ok());
  Batch b2;
  b2.Delete(Table::kAllocations, "a1");
  b2.Put(Table::kNodes, "n1", "{cap:2}");
  ASSERT_TRUE(CommitSync(*s, std::move(b2)).ok());

  auto snap = s->Load();
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->rows(Table::kNodes).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kNodes)[0], (std::pair<std::string, std::string>("n1", "{cap:2}")));
  ASSERT_EQ(snap->rows(Table::kAllocations).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kAllocations)[0].first, "a/2");
  EXPECT_EQ(snap->rows(Table::kAllocations)[0].second, std::string("bin\0\xff\x01", 6));
  EXPECT_EQ(snap->rows(Table::kMeta).size(), 1u);
  ASSERT_EQ(snap->rows(Table::kHistory).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kHistory)[0].first, "r/00000015/001765000000/000");
  EXPECT_EQ(snap->rows(Table::kHistory)[0].second, std::string("\x01\x00\xff", 3));
  EXPECT_TRUE(snap->rows(Table::kTenants).empty());
  EXPECT_EQ(snap->last_event_seq, 3);

  auto all = s->Events({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].seq, 1);
  EXPECT_EQ((*all)[2].type, "released");
  EXPECT_EQ((*all)[2].actor, "tester");
  EventQuery q;
  q.tenants = {"org/a"};  // org/a and org/a/x, not org/ab
  auto sub = s->Events(q);
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub->size(), 2u);
  EXPECT_EQ((*sub)[1].tenant, "org/a/x");
  q = {};
  q.after_seq = 1;
  q.since_ms = 250;  // seq 2 (at 200) is too early, seq 3 (at 300) passes both
  auto late = s->Events(q);
  ASSERT_TRUE(late.ok());
  ASSERT_EQ(late->size(), 1u);
  EXPECT_EQ((*late)[0].seq, 3);
  q = {};
  q.id = "a1";
  q.limit = 1;
  auto one = s->Events(q);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].seq, 1);

  // Retention: events before t=250 (seqs 1 and 2) go.
  auto pruned = s->PruneEvents(250);
  ASSERT_TRUE(pruned.ok()) << pruned.error().message;
  EXPECT_EQ(*pruned, 2);
  auto rest = s->Events({});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].seq, 3);
  s->Close();
  Batch late_batch;
  late_batch.Put(Table::kMeta, "k", "v");
  EXPECT_FALSE(CommitSync(*s, std::move(late_batch)).ok());
}

TEST_F(EtcdStoreTest, ARefusedBatchLeavesNothingBehind) {
  auto s = Open(Options());
  ASSERT_TRUE(s);
  Batch ok1;
  ok1.Put(Table::kNodes, "n1", "v");
  ok1.events.push_back(Ev(1, "node_added", "", "n1"));
  ASSERT_TRUE(CommitSync(*s, std::move(ok1)).ok());
  // 20 small records plus one 300 KiB value: etcd (--max-request-bytes 256 KiB) refuses the transaction,
  // so none of the 21 records and none of its event may appear.
  Batch big;
  for (int i = 0; i < 20; i++) big.Put(Table::kAllocations, "a" + std::to_string(i), "small");
  big.Put(Table::kAllocations, "huge", std::string(300 * 1024, 'x'));
  big.events.push_back(Ev(2, "placed", "t", "huge"));
  Status st = CommitSync(*s, std::move(big));
  EXPECT_FALSE(st.ok());
  Batch ok2;
  ok2.Put(Table::kNodes, "n2", "v");
  ok2.events.push_back(Ev(3, "node_added", "", "n2"));
  ASSERT_TRUE(CommitSync(*s, std::move(ok2)).ok());
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->rows(Table::kAllocations).empty());
  EXPECT_EQ(snap->rows(Table::kNodes).size(), 2u);
  // The refused batch's event did not use up a sequence number: ok1 -> 1, ok2 -> 2.
  auto ev = s->Events({});
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_EQ((*ev)[1].seq, 2);
  EXPECT_EQ((*ev)[1].id, "n2");
  EXPECT_EQ(s->Stats().failures, 1u);
}

TEST_F(EtcdStoreTest, GroupCommitStaysWithinTxnLimitsAndKeepsTheLastWrite) {
  auto o = Options();
  o.max_txn_ops = 64;  // as etcd's --max-txn-ops here: a transaction over it would fail
  auto s = Open(o);
  ASSERT_TRUE(s);
  constexpr int kBatches = 600;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < kBatches; i++) {
    Batch b;
    b.Put(Table::kAllocations, "a" + std::to_string(i), "v" + std::to_string(i));
    b.Put(Table::kMeta, "counter", std::to_string(i));  // the same key in every batch
    b.events.push_back(Ev(i, "placed", "t", "a" + std::to_string(i)));
    s->Commit(std::move(b), [&](const Status& st) { (st.ok() ? ok : failed)++; });
  }
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(ok.load(), kBatches);
  EXPECT_EQ(failed.load(), 0);
  StoreStats st = s->Stats();
  EXPECT_EQ(st.batches, static_cast<uint64_t>(kBatches));
  // Each batch writes 2 records (its own, the counter) and an event; a transaction's events share one key.
  // After k batches a transaction holds k + 2 distinct keys (the counter coalesces) and takes another
  // batch only if k + 2 + 2 <= 64 (both records counted), i.e. k <= 60: at most 61 batches per
  // transaction, so at least ceil(600 / 61) = 10 transactions; fewer than 600 = grouping.
  EXPECT_GE(st.transactions, 10u);
  EXPECT_LT(st.transactions, static_cast<uint64_t>(kBatches));
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->rows(Table::kAllocations).size(), static_cast<size_t>(kBatches));
  ASSERT_EQ(snap->rows(Table::kMeta).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kMeta)[0].second, std::to_string(kBatches - 1));
  EXPECT_EQ(snap->last_event_seq, kBatches);
}

TEST_F(EtcdStoreTest, LoadAndEventsPageThroughLargeTables) {
  auto o = Options();
  o.page_size = 7;
  o.max_txn_ops = 64;
  auto s = Open(o);
  ASSERT_TRUE(s);
  for (int t = 0; t < 3; t++) {  // 3 transactions of 50 records + 10 events
    Batch b;
    for (int i = 0; i < 50; i++) {
      char k[16];
      std::snprintf(k, sizeof k, "k%03d", t * 50 + i);
      b.Put(Table::kAllocations, k, std::to_string(t * 50 + i));
    }
    for (int i = 0; i < 10; i++) b.events.push_back(Ev(t * 10 + i, "placed", "t", "x"));
    ASSERT_TRUE(CommitSync(*s, std::move(b)).ok());
  }
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok());
  const auto& rows = snap->rows(Table::kAllocations);
  ASSERT_EQ(rows.size(), 150u);  // 150 = 21 full pages of 7 + one of 3
  for (size_t i = 0; i < rows.size(); i++) EXPECT_EQ(rows[i].second, std::to_string(i));
  EventQuery q;
  q.after_seq = 4;
  q.limit = 20;  // seqs 5..24 over three pages
  auto ev = s->Events(q);
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 20u);
  EXPECT_EQ(ev->front().seq, 5);
  EXPECT_EQ(ev->back().seq, 24);
}

TEST_F(EtcdStoreTest, ReloadsEverythingAfterAnEtcdRestart) {
  {
    auto s = Open(Options());
    ASSERT_TRUE(s);
    Batch b;
    b.Put(Table::kNodes, "n1", "node");
    b.Put(Table::kAllocations, "a1", "alloc");
    b.events.push_back(Ev(5, "placed", "t", "a1"));
    b.events.push_back(Ev(6, "placed", "t", "a2"));
    ASSERT_TRUE(CommitSync(*s, std::move(b)).ok());
    s->Close();
  }
  etcd_->Stop(SIGKILL);  // acknowledged means on etcd's disk: survive a crash of etcd
  ASSERT_TRUE(etcd_->Start());
  auto s = Open(Options());
  ASSERT_TRUE(s);
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->rows(Table::kNodes).size(), 1u);
  ASSERT_EQ(snap->rows(Table::kAllocations).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kAllocations)[0].second, "alloc");
  EXPECT_EQ(snap->last_event_seq, 2);
  Batch b;
  b.events.push_back(Ev(7, "released", "t", "a1"));
  ASSERT_TRUE(CommitSync(*s, std::move(b)).ok());
  auto ev = s->Events({});
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ(ev->back().seq, 3);  // numbering goes on after the reload
  // Another prefix is another store.
  auto o = Options();
  o.prefix = "/other";
  auto other = Open(o);
  ASSERT_TRUE(other);
  auto empty = other->Load();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->rows(Table::kNodes).empty());
  EXPECT_EQ(empty->last_event_seq, 0);
}

TEST_F(EtcdStoreTest, AFencedStoreRefusesWritesOnceTheLeaderKeyChanges) {
  auto raw = Raw();
  auto put = [&](const std::string& v) {
    return raw->Call("/v3/kv/put", {{"key", store::Base64Encode("/t/leader")}, {"value", store::Base64Encode(v)}});
  };
  ASSERT_TRUE(put("me").ok());
  auto o = Options();
  o.fence_key = "/t/leader";
  o.fence_value = "me";
  auto s = Open(o);
  ASSERT_TRUE(s);
  Batch b1;
  b1.Put(Table::kAllocations, "a1", "x");
  ASSERT_TRUE(CommitSync(*s, std::move(b1)).ok());
  ASSERT_TRUE(put("someone-else").ok());
  Batch b2;
  b2.Put(Table::kAllocations, "a2", "x");
  Status st = CommitSync(*s, std::move(b2));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  ASSERT_TRUE(put("me").ok());  // even if the key comes back, a deposed store stays deposed
  Batch b3;
  b3.Put(Table::kAllocations, "a3", "x");
  EXPECT_FALSE(CommitSync(*s, std::move(b3)).ok());
  EXPECT_FALSE(s->PruneEvents(1).ok());  // retention is a write too
  auto snap = s->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->rows(Table::kAllocations).size(), 1u);
  EXPECT_EQ(snap->rows(Table::kAllocations)[0].first, "a1");
}

TEST_F(EtcdStoreTest, OpenFailsClearlyWhenEtcdIsDown) {
  auto o = Options();
  etcd_->Stop();
  auto s = OpenEtcdStore(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("127.0.0.1"), std::string::npos) << s.error().message;
}

// Waits up to `ms` for `pred` (an event, not a timing assertion).
template <typename F>
bool WaitFor(F pred, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST_F(EtcdStoreTest, OneLeaderAtATimeAndTheStandbyTakesOver) {
  LeaderOptions lo;
  lo.endpoints = {etcd_->url()};
  lo.key = "/t/leader";
  lo.ttl_s = 2;
  lo.poll_ms = 50;
  lo.id = "a";
  auto a = LeaderElection::Create(lo);
  ASSERT_TRUE(a.ok());
  lo.id = "b";
  auto b = LeaderElection::Create(lo);
  ASSERT_TRUE(b.ok());
  std::atomic<bool> a_lost{false}, b_lost{false};
  ASSERT_TRUE((*a)->Campaign(nullptr, [&] { a_lost = true; }).ok());
  EXPECT_TRUE((*a)->IsLeader());
  EXPECT_EQ((*a)->value().rfind("a#", 0), 0u);

  std::atomic<bool> b_done{false}, stop_b{false};
  std::string seen_leader;
  std::mutex mu;
  std::thread tb([&] {
    Status st = (*b)->Campaign([&] { return stop_b.load(); }, [&] { b_lost = true; },
                               [&](const std::string& l) {
                                 std::lock_guard<std::mutex> g(mu);
                                 seen_leader = l;
                               });
    b_done = st.ok();
  });
  // b reports a as the leader and keeps waiting while a renews its lease (3 TTLs here).
  ASSERT_TRUE(WaitFor([&] { std::lock_guard<std::mutex> g(mu); return seen_leader == (*a)->value(); }, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(6000));
  EXPECT_FALSE(b_done.load());
  EXPECT_FALSE(a_lost.load());
  EXPECT_TRUE((*a)->IsLeader());

  (*a)->Resign();  // deletes the key: b takes over
  EXPECT_FALSE((*a)->IsLeader());
  ASSERT_TRUE(WaitFor([&] { return b_done.load(); }, 10000));
  tb.join();
  EXPECT_TRUE((*b)->IsLeader());
  EXPECT_FALSE(a_lost.load());  // resigning is not losing

  // Someone else takes the key (as a new leader would after b's lease expired): b notices and gives up.
  auto raw = Raw();
  ASSERT_TRUE(raw->Call("/v3/kv/put", {{"key", store::Base64Encode("/t/leader")}, {"value", store::Base64Encode("x")}}).ok());
  ASSERT_TRUE(WaitFor([&] { return b_lost.load(); }, 10000));
  EXPECT_FALSE((*b)->IsLeader());
}

TEST_F(EtcdStoreTest, ALeaderThatCannotReachEtcdStepsDown) {
  LeaderOptions lo;
  lo.endpoints = {etcd_->url()};
  lo.key = "/t/leader";
  lo.ttl_s = 2;
  lo.id = "a";
  auto a = LeaderElection::Create(lo);
  ASSERT_TRUE(a.ok());
  std::atomic<bool> lost{false};
  ASSERT_TRUE((*a)->Campaign(nullptr, [&] { lost = true; }).ok());
  etcd_->Stop(SIGKILL);
  // No keepalive can succeed: a must give up before its 2 s lease could have run out unseen.
  ASSERT_TRUE(WaitFor([&] { return lost.load(); }, 10000));
  EXPECT_FALSE((*a)->IsLeader());
}

}  // namespace
}  // namespace allot
