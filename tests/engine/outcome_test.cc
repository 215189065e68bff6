// Outcomes as values: every queued, rejected, preempted and ended allocation carries a ReasonCode beside
// its text (AllocationInfo::reason_code, EngineEvent::reason_code), and an engine without nodes answers
// instead of crashing.
#include <gtest/gtest.h>

#include <set>

#include "allot/policy.h"
#include "engine_fixture.h"

namespace allot::testing {
namespace {

class OutcomeTest : public EngineTest {
 protected:
  ReasonCode Code(const std::string& id) { return Get(id).reason_code; }
  // The reason code of the last event of `type` about `id`, from the events since the last call.
  ReasonCode EventCode(EventType type, const std::string& id) {
    for (auto& e : eng().TakeEvents()) events_.push_back(std::move(e));
    for (auto it = events_.rbegin(); it != events_.rend(); ++it)
      if (it->type == type && it->id == id) return it->reason_code;
    ADD_FAILURE() << "no " << EventTypeName(type) << " event for " << id;
    return ReasonCode::kNone;
  }
  void SetTenants(const std::vector<TenantSpec>& t, double at = 0) {
    Status st = eng().SetTenants(t, Sec(at));
    ASSERT_TRUE(st.ok()) << st.message();
  }
  static TenantSpec Tenant(const std::string& path, ResourceMap guaranteed, ResourceMap max) {
    TenantSpec t;
    t.path = path;
    t.guaranteed = std::move(guaranteed);
    t.max = std::move(max);
    return t;
  }
  RequestSpec TReq(const std::string& id, const std::string& tenant, ResourceMap requests) {
    RequestSpec r = Req(id, std::move(requests));
    r.tenant = tenant;
    return r;
  }
  std::vector<EngineEvent> events_;
};

TEST(ReasonCodeNames, AreDistinctSnakeCaseAndRoundTrip) {
  std::set<std::string> seen;
  for (int i = 0; i < kReasonCodeCount; i++) {
    auto c = static_cast<ReasonCode>(i);
    std::string name = ReasonCodeName(c);
    EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    EXPECT_FALSE(name.empty());
    for (char ch : name) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_') << name;
    EXPECT_EQ(ReasonCodeFromName(name), c) << name;
  }
  EXPECT_EQ(std::string(ReasonCodeName(ReasonCode::kQuota)), "quota");
  EXPECT_EQ(std::string(ReasonCodeName(ReasonCode::kWaitExpired)), "wait_expired");
  EXPECT_EQ(ReasonCodeFromName("nonsense"), std::nullopt);
}

// Regression (issue 13 item 6): a request on an engine without nodes crashed the placement scan (the
// score columns were sized before the scored resources were known). Every strategy and order, with and
// without --explain (which takes the exact scan instead of the bounded one).
TEST(NoNodes, ARequestQueuesAsInfeasibleUnderEveryPolicy) {
  for (const auto& scoring : Policies(PolicyKind::kScoring)) {
    for (const auto& order : Policies(PolicyKind::kQueueOrder)) {
      for (bool explain : {false, true}) {
        EngineOptions o;
        o.scoring = scoring.name;
        o.fair_share = order.name;
        auto e = Engine::Create(o);
        ASSERT_TRUE(e.ok()) << scoring.name << ": " << e.error().message;
        Engine& eng = **e;
        eng.SetExplain(explain);
        RequestSpec r;
        r.id = "h";
        r.requests = Cpu(1000);
        ASSERT_TRUE(eng.Submit(r, 0).ok());
        eng.Schedule(0);
        auto info = eng.Get("h");
        ASSERT_TRUE(info.ok());
        EXPECT_EQ(info->state, AllocState::kQueued) << scoring.name << " " << order.name;
        EXPECT_EQ(info->reason, "no node can ever fit it") << scoring.name;
        EXPECT_EQ(info->reason_code, ReasonCode::kInfeasible) << scoring.name;
      }
    }
  }
}

TEST_F(OutcomeTest, WaitingForCapacityThenPlaced) {
  Make(EngineOptions{});
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("a", Cpu(1000)));
  SubmitAndSchedule(Req("b", Cpu(1000)), 1);
  EXPECT_EQ(State("b"), "queued");
  EXPECT_EQ(Code("b"), ReasonCode::kNoCapacity);
  EXPECT_EQ(Get("b").reason, "waiting for capacity: Insufficient cpu");
  ASSERT_TRUE(eng().Release("a", Sec(2)).ok());
  EXPECT_EQ(Code("a"), ReasonCode::kReleased);
  EXPECT_EQ(EventCode(EventType::kReleased, "a"), ReasonCode::kReleased);
  Schedule(2);
  EXPECT_EQ(State("b"), "placed");
  EXPECT_EQ(Code("b"), ReasonCode::kNone);
}

TEST_F(OutcomeTest, InfeasibleWhenNoNodeCouldEverHoldIt) {
  Make(EngineOptions{});
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("big", Cpu(2000)));
  EXPECT_EQ(State("big"), "queued");
  EXPECT_EQ(Code("big"), ReasonCode::kInfeasible);
}

TEST_F(OutcomeTest, HeldForAnEarlierRequestUnderStrictFcfs) {
  Make(EngineOptions{});
  AddNode("n1", Cpu(1000), {{"zone", "a"}});
  AddNode("n2", Cpu(1000), {{"zone", "b"}});
  RequestSpec a = Req("a", Cpu(1000));
  a.selector = {{"zone", "a"}};
  SubmitAndSchedule(a);
  SubmitAndSchedule(Req("filler", Cpu(500)));  // on n2 (n1 is full)
  // b can only use n1 (full): it holds n1. c could use n2's 500m only if it asked for less.
  RequestSpec b = Req("b", Cpu(1000));
  b.selector = {{"zone", "a"}};
  Submit(b, 1);
  Submit(Req("c", Cpu(1000)), 1);
  Schedule(1);
  EXPECT_EQ(Code("b"), ReasonCode::kNoCapacity);
  EXPECT_EQ(State("c"), "queued");
  EXPECT_EQ(Code("c"), ReasonCode::kHeldForEarlier);
  EXPECT_NE(Get("c").reason.find("(some nodes are held for earlier requests)"), std::string::npos) << Get("c").reason;
}

TEST_F(OutcomeTest, BehindTheQueueHeadUnderBackfill) {
  EngineOptions o;
  o.backfill = true;
  Make(o);
  AddNode("n", Cpu(4000));
  RequestSpec a = Req("a", Cpu(2000));
  a.duration = Sec(100);
  SubmitAndSchedule(a);
  Submit(Req("head", Cpu(4000)), 1);  // expected to start at 100 s, when a ends
  RequestSpec late = Req("late", Cpu(1000));
  late.duration = Sec(200);  // would still run at 100 s: it would delay the head
  Submit(late, 1);
  Schedule(1);
  EXPECT_EQ(Code("head"), ReasonCode::kNoCapacity);
  EXPECT_EQ(State("late"), "queued");
  EXPECT_EQ(Code("late"), ReasonCode::kBehindQueueHead);
  EXPECT_NE(Get("late").reason.find("(backfill: would delay the queue head)"), std::string::npos);
}

TEST_F(OutcomeTest, QuotaWaitsInQueueModeAndRejectsInStrictMode) {
  Make(EngineOptions{});
  AddNode("n", Cpu(16000));
  SetTenants({Tenant("org", {}, Cpu(8000)), Tenant("org/a", Cpu(4000), Cpu(8000)), Tenant("org/b", Cpu(4000), {})});
  SubmitAndSchedule(TReq("a1", "org/a", Cpu(4000)));
  SubmitAndSchedule(TReq("b1", "org/b", Cpu(4000)), 1);
  // a 4 + 1 > guaranteed 4 and b uses all of its own 4: the cohort has nothing to lend.
  SubmitAndSchedule(TReq("a2", "org/a", Cpu(1000)), 2);
  EXPECT_EQ(State("a2"), "queued");
  EXPECT_EQ(Code("a2"), ReasonCode::kQuotaBorrowing);
  // org max 8: 8 used + 1 > 8.
  SubmitAndSchedule(TReq("c1", "org/c", Cpu(1000)), 3);
  EXPECT_EQ(State("c1"), "queued");
  EXPECT_EQ(Code("c1"), ReasonCode::kQuota);

  EngineOptions strict;
  strict.quota_mode = QuotaMode::kStrict;
  Make(strict);
  AddNode("n", Cpu(16000));
  SetTenants({Tenant("t", {}, Cpu(2000))});
  auto st = eng().Submit(TReq("over", "t", Cpu(3000)), 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, AllocState::kRejected);
  EXPECT_EQ(Code("over"), ReasonCode::kQuota);
  EXPECT_EQ(EventCode(EventType::kRejected, "over"), ReasonCode::kQuota);
}

TEST_F(OutcomeTest, WaitExpiredIsARejection) {
  Make(EngineOptions{});
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("a", Cpu(1000)));
  RequestSpec w = Req("w", Cpu(1000));
  w.wait = Sec(5);
  SubmitAndSchedule(w, 1);
  Schedule(6);
  EXPECT_EQ(State("w"), "rejected");
  EXPECT_EQ(Code("w"), ReasonCode::kWaitExpired);
  EXPECT_EQ(EventCode(EventType::kRejected, "w"), ReasonCode::kWaitExpired);
  EXPECT_NE(Get("w").reason.find("waited 5s without being placed"), std::string::npos) << Get("w").reason;
}

TEST_F(OutcomeTest, ReservationNotStartedOrEnded) {
  Make(EngineOptions{});
  AddNode("n", Cpu(4000));
  ReservationSpec r;
  r.id = "r";
  r.tenant = "default";
  r.start = Sec(100);
  r.end = Sec(200);
  r.requests = Cpu(2000);
  ASSERT_TRUE(eng().Reserve(r, 0).ok());
  RequestSpec q = Req("q", Cpu(1000));
  q.reservation = "r";
  SubmitAndSchedule(q, 1);
  EXPECT_EQ(State("q"), "queued");
  EXPECT_EQ(Code("q"), ReasonCode::kReservationPending);
  RequestSpec late = Req("late", Cpu(5000));  // never fits: stays queued past the window
  late.reservation = "r";
  SubmitAndSchedule(late, 2);
  RunUntil(300);
  EXPECT_EQ(EventCode(EventType::kUnreserved, "r"), ReasonCode::kWindowEnded);
  EXPECT_EQ(State("late"), "queued");
  EXPECT_EQ(Code("late"), ReasonCode::kReservationEnded);
}

TEST_F(OutcomeTest, PreemptedByAHigherPriorityRequest) {
  EngineOptions o;
  o.preemption = true;
  Make(o);
  AddNode("n", Cpu(1000));
  RequestSpec low = Req("low", Cpu(1000), 1);
  low.preemptible = true;
  SubmitAndSchedule(low);
  SubmitAndSchedule(Req("high", Cpu(1000), 4), 1);
  EXPECT_EQ(State("low"), "preempted");
  EXPECT_EQ(Code("low"), ReasonCode::kPreempted);
  EXPECT_EQ(EventCode(EventType::kPreempted, "low"), ReasonCode::kPreempted);
}

TEST_F(OutcomeTest, QuotaReclaimWhenMaxIsLowered) {
  Make(EngineOptions{});
  AddNode("n", Cpu(8000));
  SetTenants({Tenant("t", {}, Cpu(6000))});
  SubmitAndSchedule(TReq("t1", "t", Cpu(3000)));
  SubmitAndSchedule(TReq("t2", "t", Cpu(3000)), 1);
  SetTenants({Tenant("t", {}, Cpu(3000))}, 10);  // 6 used > 3: the newest goes
  EXPECT_EQ(State("t2"), "preempted");
  EXPECT_EQ(Code("t2"), ReasonCode::kQuotaReclaim);
  EXPECT_EQ(EventCode(EventType::kPreempted, "t2"), ReasonCode::kQuotaReclaim);
}

TEST_F(OutcomeTest, NodeDownAndRemovedPreempt) {
  Make(EngineOptions{});
  AddNode("n1", Cpu(1000));
  AddNode("n2", Cpu(1000));
  SubmitAndSchedule(Req("a", Cpu(1000)));
  SubmitAndSchedule(Req("b", Cpu(1000)));
  ASSERT_EQ(NodeOf("a"), "n1");
  ASSERT_TRUE(eng().SetNodeDown("n1", Sec(1)).ok());
  ASSERT_TRUE(eng().RemoveNode("n2", Sec(1)).ok());
  EXPECT_EQ(Code("a"), ReasonCode::kNodeDown);
  EXPECT_EQ(Code("b"), ReasonCode::kNodeRemoved);
  EXPECT_EQ(EventCode(EventType::kPreempted, "b"), ReasonCode::kNodeRemoved);
}

TEST_F(OutcomeTest, LeasesEndAsElapsedOrExpired) {
  Make(EngineOptions{});
  AddNode("n", Cpu(2000));
  RequestSpec job = Req("job", Cpu(1000));
  job.duration = Sec(10);
  RequestSpec lease = Req("lease", Cpu(1000));
  lease.duration = Sec(10);
  lease.ttl = true;
  SubmitAndSchedule(job);
  SubmitAndSchedule(lease);
  RunUntil(20);
  EXPECT_EQ(State("job"), "completed");
  EXPECT_EQ(Code("job"), ReasonCode::kDurationElapsed);
  EXPECT_EQ(State("lease"), "expired");
  EXPECT_EQ(Code("lease"), ReasonCode::kLeaseExpired);
  EXPECT_EQ(EventCode(EventType::kExpired, "lease"), ReasonCode::kLeaseExpired);
}

TEST_F(OutcomeTest, RestoreKeepsTheCode) {
  Make(EngineOptions{});
  AllocationInfo info;
  info.id = "old";
  info.requests = Cpu(1000);
  info.limits = info.requests;
  info.state = AllocState::kRejected;
  info.reason = "waited 5s without being placed";
  info.reason_code = ReasonCode::kWaitExpired;
  ASSERT_TRUE(eng().Restore(info, 0).ok());
  EXPECT_EQ(Code("old"), ReasonCode::kWaitExpired);
  EXPECT_EQ(Get("old").reason, info.reason);
}

}  // namespace
}  // namespace allot::testing
