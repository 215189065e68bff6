// A standby's view of the etcd store against a real etcd: the follower's records and changes as the
// leader commits them, the leader key, its lag through its own registration, history compacted under it,
// and the records a promotion hands over (store::WithSnapshot).
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "allot/store.h"
#include "etcd_process.h"
#include "store/etcd_client.h"
#include "store/etcd_store.h"
#include "support.h"

namespace allot {
namespace {

using testing::EtcdProcess;
using testing::TempDir;

Status Sync(Store& s, Batch b) {
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

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::EtcdBinary().empty()) GTEST_SKIP() << "etcd is not installed";
    etcd_ = std::make_unique<EtcdProcess>(dir_.path());
    ASSERT_TRUE(etcd_->Start()) << testing::ReadFile(dir_.path() + "/etcd.log");
    config_.kind = "etcd";
    config_.etcd_endpoints = {etcd_->url()};
    config_.etcd_prefix = "/f";
    config_.etcd_lease_ttl_s = 2;
    config_.replica_id = "http://127.0.0.1:1";
    EtcdStoreOptions o;
    o.endpoints = config_.etcd_endpoints;
    o.prefix = "/f";
    o.retry_ms = 0;
    auto w = OpenEtcdStore(o);
    ASSERT_TRUE(w.ok()) << w.error().message;
    writer_ = std::move(w.value());
    raw_ = std::move(store::EtcdClient::Create({{etcd_->url()}}).value());
  }
  // Follows until `pred(update)` or 10 s; the updates seen on the way, merged.
  FollowUpdate FollowUntil(StoreFollower& f, const std::function<bool(const FollowUpdate&)>& pred) {
    FollowUpdate all;
    for (int i = 0; i < 100; i++) {
      auto u = f.Follow(100);
      EXPECT_TRUE(u.ok()) << u.error().message;
      if (!u.ok()) break;
      all.revision = u->revision;
      all.leader_changed |= u->leader_changed;
      all.mutations.insert(all.mutations.end(), u->mutations.begin(), u->mutations.end());
      if (pred(all)) break;
    }
    return all;
  }

  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
  StoreConfig config_;
  std::unique_ptr<Store> writer_;
  std::unique_ptr<store::EtcdClient> raw_;
};

TEST_F(FollowerTest, ItHoldsTheRecordsAndFollowsEveryCommitWhole) {
  Batch first;
  first.Put(Table::kNodes, "n1", "node one");
  ASSERT_TRUE(Sync(*writer_, std::move(first)).ok());
  auto f = store::OpenFollower(config_);
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto snap = (*f)->Load();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->rows(Table::kNodes).size(), 1u);
  EXPECT_EQ(snap->revision, writer_->Revision());
  // One commit: two records and audit events (which a follower does not return).
  Batch b;
  b.Put(Table::kAllocations, "a1", std::string("bin\0ary", 7));
  b.Delete(Table::kNodes, "n1");
  AuditEvent e;
  e.type = "placed";
  b.events.push_back(e);
  ASSERT_TRUE(Sync(*writer_, std::move(b)).ok());
  auto u = FollowUntil(**f, [](const FollowUpdate& x) { return x.mutations.size() >= 2; });
  ASSERT_EQ(u.mutations.size(), 2u);
  EXPECT_EQ(u.revision, writer_->Revision());
  EXPECT_EQ(u.mutations[0].table, Table::kAllocations);
  EXPECT_EQ(u.mutations[0].value, std::string("bin\0ary", 7));
  EXPECT_EQ(u.mutations[1].op, Mutation::Op::kDelete);
  EXPECT_EQ(u.mutations[1].key, "n1");
  auto now = (*f)->Load();
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(now->rows(Table::kNodes).empty());
  ASSERT_EQ(now->rows(Table::kAllocations).size(), 1u);
  EXPECT_EQ((*f)->Revision(), writer_->Revision());
  // A standby never writes.
  Batch refused;
  refused.Put(Table::kMeta, "k", "v");
  EXPECT_FALSE(Sync(**f, std::move(refused)).ok());
  EXPECT_FALSE((*f)->PruneEvents(1).ok());
  // It reads the audit log from etcd.
  auto ev = (*f)->Events({});
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].type, "placed");
}

TEST_F(FollowerTest, ItKnowsTheLeaderAndItsTerm) {
  std::string key = store::Base64Encode("/f/leader");
  auto put =
      raw_->Call("/v3/kv/put", {{"key", key}, {"value", store::Base64Encode("http://10.0.0.1:7070#abc")}});
  ASSERT_TRUE(put.ok());
  int64_t created = store::JsonInt((*put)["header"], "revision");
  auto f = store::OpenFollower(config_);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Leader().url, "http://10.0.0.1:7070");  // from the snapshot's revision
  EXPECT_EQ((*f)->Leader().term, created);
  ASSERT_TRUE(raw_->Call("/v3/kv/deleterange", {{"key", key}}).ok());
  auto u = FollowUntil(**f, [](const FollowUpdate& x) { return x.leader_changed; });
  EXPECT_TRUE(u.leader_changed);
  EXPECT_EQ((*f)->Leader().url, "");
  auto again =
      raw_->Call("/v3/kv/put", {{"key", key}, {"value", store::Base64Encode("http://10.0.0.2:7070#def")}});
  ASSERT_TRUE(again.ok());
  FollowUntil(**f, [](const FollowUpdate& x) { return x.leader_changed; });
  EXPECT_EQ((*f)->Leader().url, "http://10.0.0.2:7070");
  EXPECT_GT((*f)->Leader().term, created);
}

TEST_F(FollowerTest, ItsLagIsTheAgeOfTheLastRegistrationItSawComeBack) {
  auto f = store::OpenFollower(config_);
  ASSERT_TRUE(f.ok());
  auto reg = store::OpenMemberRegistry(config_, 100);
  ASSERT_TRUE(reg.ok()) << reg.error().message;
  (*reg)->Set([] { return MemberRegistry::Report{"standby", 7, 0.25}; });
  // Nothing followed for a while: the lag grows; following sees the registration and it drops.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_GE((*f)->LagSeconds(), 0.5);
  FollowUntil(**f, [&](const FollowUpdate&) { return (*f)->LagSeconds() < 0.3; });
  EXPECT_LT((*f)->LagSeconds(), 0.3);
  auto members = (*reg)->List();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0].url, "http://127.0.0.1:1");
  EXPECT_EQ((*members)[0].role, "standby");
  EXPECT_EQ((*members)[0].revision, 7);
  // Gone with the registry (its lease revoked).
  reg->reset();
  auto after = store::OpenMemberRegistry(config_, 100);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE((*after)->List()->empty());
}

TEST_F(FollowerTest, HistoryCompactedUnderItAsksForAReload) {
  auto f = store::OpenFollower(config_);
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 3; i++) {
    Batch b;
    b.Put(Table::kAllocations, "a" + std::to_string(i), "x");
    ASSERT_TRUE(Sync(*writer_, std::move(b)).ok());
  }
  ASSERT_TRUE(raw_->Call("/v3/kv/compaction", {{"revision", writer_->Revision()}, {"physical", true}}).ok());
  auto u = (*f)->Follow(2000);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, ErrorCode::kFailedPrecondition) << u.error().message;
  ASSERT_TRUE((*f)->Reload().ok());
  EXPECT_EQ((*f)->Load()->rows(Table::kAllocations).size(), 3u);
  EXPECT_TRUE((*f)->Follow(100).ok());
}

TEST_F(FollowerTest, APromotionsRecordsAreLoadedOnceThenTheStoreIsRead) {
  Batch b;
  b.Put(Table::kNodes, "in-etcd", "1");
  ASSERT_TRUE(Sync(*writer_, std::move(b)).ok());
  Snapshot handed;
  handed.tables[static_cast<int>(Table::kNodes)] = {{"handed-over", "2"}};
  handed.revision = writer_->Revision() + 100;
  int64_t etcd_revision = writer_->Revision();
  auto s = store::WithSnapshot(std::move(writer_), handed);
  EXPECT_EQ(s->Revision(), etcd_revision + 100);
  auto first = s->Load();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->rows(Table::kNodes)[0].first, "handed-over");
  auto second = s->Load();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->rows(Table::kNodes)[0].first, "in-etcd");
}

}  // namespace
}  // namespace allot
