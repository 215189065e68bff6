// Policy through the engine API: DRF, preemption, quotas (borrowing, reclaim, strict/queue, burst,
// run-time changes), EASY backfill, reservations and gangs.
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

class PolicyTest : public EngineTest {
 protected:
  RequestSpec TReq(const std::string& id, const std::string& tenant, ResourceMap r, int priority = 2) {
    RequestSpec s = Req(id, std::move(r), priority);
    s.tenant = tenant;
    return s;
  }
  int Running(const std::string& tenant) {
    int n = 0;
    eng().ForEachAllocation([&](const AllocationInfo& a) {
      if (a.tenant == tenant && a.state == AllocState::kPlaced) n++;
    });
    return n;
  }
  void SetTenants(const std::vector<TenantSpec>& t, double at = 0) {
    Status st = eng().SetTenants(t, Sec(at));
    ASSERT_TRUE(st.ok()) << st.message();
  }
};

TenantSpec Tenant(const std::string& path, ResourceMap guaranteed = {}, ResourceMap max = {}, double weight = 1) {
  TenantSpec t;
  t.path = path;
  t.guaranteed = std::move(guaranteed);
  t.max = std::move(max);
  t.weight = weight;
  return t;
}

// ---- DRF ----

TEST_F(PolicyTest, DrfPaperExample) {
  EngineOptions o;
  o.fair_share = "drf";
  Make(o);
  AddNode("n1", CpuMem(9000, 18 * kGi));
  for (int i = 1; i <= 10; i++) {
    Submit(TReq("a" + std::to_string(i), "A", CpuMem(1000, 4 * kGi)));
    Submit(TReq("b" + std::to_string(i), "B", CpuMem(3000, 1 * kGi)));
  }
  Schedule(0);
  // A: 3 tasks -> memory 12/18 = 2/3; B: 2 tasks -> cpu 6/9 = 2/3 (the paper's allocation).
  EXPECT_EQ(Running("A"), 3);
  EXPECT_EQ(Running("B"), 2);
  for (const auto& t : eng().Tenants()) EXPECT_NEAR(t.dominant_share, 2.0 / 3.0, 1e-9) << t.path;
}

TEST_F(PolicyTest, DrfWeighted) {
  EngineOptions o;
  o.fair_share = "drf";
  Make(o);
  AddNode("n1", CpuMem(9000, 18 * kGi));
  SetTenants({Tenant("A"), Tenant("B", {}, {}, 2)});
  for (int i = 1; i <= 10; i++) {
    Submit(TReq("a" + std::to_string(i), "A", CpuMem(1000, 4 * kGi)));
    Submit(TReq("b" + std::to_string(i), "B", CpuMem(3000, 1 * kGi)));
  }
  Schedule(0);
  // Weighted shares per task: A 4/18 = 2/9, B (3/9)/2 = 1/6. Lowest first, ties FIFO:
  // a1 (A=2/9), b1 (B=1/6), b2 (B=1/3), a2 (A=4/9, cpu 8/9), then b3 (B=1/3 < 4/9) needs 3 cpu of the
  // 1 left: strict FCFS stops -> A 2, B 2; weighted shares A 8/18 = 0.4444, B (6/9)/2 = 0.3333.
  EXPECT_EQ(Running("A"), 2);
  EXPECT_EQ(Running("B"), 2);
  for (const auto& t : eng().Tenants()) {
    EXPECT_NEAR(t.dominant_share, t.path == "A" ? 4.0 / 9.0 : 1.0 / 3.0, 1e-9) << t.path;
  }
}

TEST_F(PolicyTest, DrfHigherPriorityStillFirst) {
  EngineOptions o;
  o.fair_share = "drf";
  Make(o);
  AddNode("n1", Cpu(2000));
  SubmitAndSchedule(TReq("a-running", "A", Cpu(1000)));
  // A's share is 1/2, B's 0; but A's next request is high priority: priority comes before share.
  Submit(TReq("b-normal", "B", Cpu(1000)), 1);
  Submit(TReq("a-high", "A", Cpu(1000), 3), 1);
  Schedule(1);
  EXPECT_EQ(State("a-high"), "placed");
  EXPECT_EQ(State("b-normal"), "queued");
}

// ---- preemption ----

class PreemptionTest : public PolicyTest {
 protected:
  void SetUp() override {
    EngineOptions o;
    o.scoring = "most-allocated";
    o.preemption = true;
    Make(o);
  }
  RequestSpec Victim(const std::string& id, int64_t cpu, int priority, const std::string& slot, bool preemptible = true) {
    RequestSpec r = Req(id, Cpu(cpu), priority);
    r.preemptible = preemptible;
    r.selector = {{"slot", slot}};
    return r;
  }
};

TEST_F(PreemptionTest, PrefersTheNodeWithTheLowestHighestVictimPriority) {
  AddNode("a", Cpu(2000), {{"slot", "a"}});
  AddNode("b", Cpu(2000), {{"slot", "b"}});
  // a: two low (1) victims of 1 cpu; b: one normal (2) victim of 2 cpu.
  SubmitAndSchedule(Victim("a1", 1000, 1, "a"));
  SubmitAndSchedule(Victim("a2", 1000, 1, "a"), 1);
  SubmitAndSchedule(Victim("b1", 2000, 2, "b"), 2);
  SubmitAndSchedule(Req("hi", Cpu(2000), 3), 10);
  // Highest victim priority: a 1 < b 2 -> a, even with two victims there.
  EXPECT_EQ(NodeOf("hi"), "a");
  EXPECT_EQ(State("a1"), "preempted");
  EXPECT_EQ(State("a2"), "preempted");
  EXPECT_EQ(State("b1"), "placed");
  EXPECT_EQ(Get("a1").preempted_by, "hi");
}

TEST_F(PreemptionTest, EqualPrioritiesPreferFewerVictims) {
  AddNode("c", Cpu(2000), {{"slot", "c"}});
  AddNode("d", Cpu(2000), {{"slot", "d"}});
  SubmitAndSchedule(Victim("c1", 1000, 1, "c"));
  SubmitAndSchedule(Victim("c2", 1000, 1, "c"), 1);
  SubmitAndSchedule(Victim("d1", 2000, 1, "d"), 2);
  SubmitAndSchedule(Req("hi", Cpu(2000), 3), 10);
  // Both nodes: highest victim priority 1; priority sums c 1+1 = 2, d 1 -> d (one victim).
  EXPECT_EQ(NodeOf("hi"), "d");
  EXPECT_EQ(State("d1"), "preempted");
  EXPECT_EQ(State("c1"), "placed");
  EXPECT_EQ(State("c2"), "placed");
}

TEST_F(PreemptionTest, NeverEvictsMoreThanNeeded) {
  AddNode("n", Cpu(4000), {{"slot", "n"}});
  for (int i = 1; i <= 4; i++) SubmitAndSchedule(Victim("v" + std::to_string(i), 1000, 1, "n"), i);
  SubmitAndSchedule(Req("hi", Cpu(2000), 3), 10);
  // 2 cpu needed of 4 x 1 cpu: victims are reprieved oldest first (v1, v2 stay), v3 and v4 go.
  EXPECT_EQ(State("hi"), "placed");
  EXPECT_EQ(State("v1"), "placed");
  EXPECT_EQ(State("v2"), "placed");
  EXPECT_EQ(State("v3"), "preempted");
  EXPECT_EQ(State("v4"), "preempted");
  EXPECT_EQ(eng().RunningCount(), 3u);
}

TEST_F(PreemptionTest, HigherPriorityVictimIsReprievedFirst) {
  AddNode("n", Cpu(2000), {{"slot", "n"}});
  SubmitAndSchedule(Victim("normal", 1000, 2, "n"));
  SubmitAndSchedule(Victim("low", 1000, 1, "n"), 1);
  SubmitAndSchedule(Req("hi", Cpu(1000), 3), 10);
  EXPECT_EQ(State("normal"), "placed");
  EXPECT_EQ(State("low"), "preempted");
}

TEST_F(PreemptionTest, NeverForARequestThatStillWouldNotFit) {
  AddNode("n", Cpu(4000), {{"slot", "n"}});
  SubmitAndSchedule(Victim("pre", 2000, 1, "n"));
  SubmitAndSchedule(Victim("fixed", 2000, 1, "n", /*preemptible=*/false), 1);
  // 3 cpu needed: evicting `pre` frees only 2 (fixed is not preemptible) -> nothing is evicted.
  SubmitAndSchedule(Req("hi", Cpu(3000), 4), 10);
  EXPECT_EQ(State("hi"), "queued");
  EXPECT_EQ(State("pre"), "placed");
  EXPECT_EQ(State("fixed"), "placed");
  // Equal or higher priority work is never a victim either.
  SubmitAndSchedule(Req("peer", Cpu(2000), 1), 11);
  EXPECT_EQ(State("pre"), "placed");
}

// ---- quotas ----

TEST_F(PolicyTest, MaxIsEnforcedAndBorrowingStopsAtTheLendingLimit) {
  Make(EngineOptions{});
  AddNode("n", Cpu(16000));
  TenantSpec b = Tenant("org/b", Cpu(4000), Cpu(8000));
  b.lending_limit = Cpu(2000);
  SetTenants({Tenant("org", {}, Cpu(8000)), Tenant("org/a", Cpu(4000), Cpu(8000)), b});
  SubmitAndSchedule(TReq("a1", "org/a", Cpu(3000)));
  // a 3 + 3 = 6 > guaranteed 4: borrows 2 <= b's lending limit 2 -> placed.
  SubmitAndSchedule(TReq("a2", "org/a", Cpu(3000)), 1);
  // a would borrow 3 > 2 -> waits.
  SubmitAndSchedule(TReq("a3", "org/a", Cpu(1000)), 2);
  EXPECT_EQ(State("a2"), "placed");
  EXPECT_EQ(State("a3"), "queued");
  EXPECT_NE(Get("a3").reason.find("its cohort org has only 2 to lend"), std::string::npos) << Get("a3").reason;
  // org max 8: 6 used + 3 > 8 for a tenant without a quota of its own -> waits.
  SubmitAndSchedule(TReq("c1", "org/c", Cpu(3000)), 3);
  EXPECT_EQ(State("c1"), "queued");
  EXPECT_NE(Get("c1").reason.find("tenant org would exceed its max cpu: 6 used + 3 > 8"), std::string::npos)
      << Get("c1").reason;
  // Usage reporting: a used 6, guaranteed 4, borrowed 6 - 4 = 2.
  for (const auto& t : eng().Tenants()) {
    if (t.path != "org/a") continue;
    EXPECT_EQ(t.used.at("cpu"), 6000);
    EXPECT_EQ(t.guaranteed.at("cpu"), 4000);
    EXPECT_EQ(t.borrowed.at("cpu"), 2000);
  }
}

TEST_F(PolicyTest, StrictModeRejectsAndQueueModeWaits) {
  EngineOptions o;
  o.quota_mode = QuotaMode::kStrict;
  Make(o);
  AddNode("n", Cpu(8000));
  SetTenants({Tenant("t", {}, Cpu(2000))});
  auto st = eng().Submit(TReq("over", "t", Cpu(3000)), 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, AllocState::kRejected);
  EXPECT_NE(Get("over").reason.find("would exceed its max cpu"), std::string::npos);

  Make(EngineOptions{});
  AddNode("n", Cpu(8000));
  SetTenants({Tenant("t", {}, Cpu(2000))});
  SubmitAndSchedule(TReq("first", "t", Cpu(2000)));
  SubmitAndSchedule(TReq("second", "t", Cpu(1000)), 1);
  EXPECT_EQ(State("second"), "queued");
  ASSERT_TRUE(eng().Release("first", Sec(5)).ok());
  Schedule(5);
  EXPECT_EQ(State("second"), "placed");
}

TEST_F(PolicyTest, GuaranteedTenantReclaimsFromBorrowers) {
  EngineOptions o;
  o.preemption = true;
  Make(o);
  AddNode("n", Cpu(8000));
  SetTenants({Tenant("org/a", Cpu(4000)), Tenant("org/b", Cpu(4000))});
  auto a1 = TReq("a1", "org/a", Cpu(3000));
  a1.preemptible = true;
  auto a2 = TReq("a2", "org/a", Cpu(3000));
  a2.preemptible = true;
  SubmitAndSchedule(a1);
  SubmitAndSchedule(a2, 1);
  // b within its guarantee (4 <= 4), same priority: only 2 cpu free -> reclaims from borrower a.
  // Reprieve oldest first: 2 + 3 (a2) = 5 >= 4 without a1 -> a1 stays, a2 goes.
  SubmitAndSchedule(TReq("b1", "org/b", Cpu(4000)), 10);
  EXPECT_EQ(State("b1"), "placed");
  EXPECT_EQ(State("a1"), "placed");
  EXPECT_EQ(State("a2"), "preempted");
}

TEST_F(PolicyTest, QuotaChangeAtRunTimeReclaimsNewestFirst) {
  Make(EngineOptions{});
  AddNode("n", Cpu(16000));
  SetTenants({Tenant("t", {}, Cpu(6000))});
  for (int i = 1; i <= 3; i++) SubmitAndSchedule(TReq("t" + std::to_string(i), "t", Cpu(2000)), i);
  // New max 3: 6 used -> newest first: t3 (4 left, still > 3), t2 (2 left) -> within max.
  SetTenants({Tenant("t", {}, Cpu(3000))}, 10);
  EXPECT_EQ(State("t1"), "placed");
  EXPECT_EQ(State("t2"), "preempted");
  EXPECT_EQ(State("t3"), "preempted");
  EXPECT_EQ(Get("t3").ended, Sec(10));
}

TEST_F(PolicyTest, InvalidQuotaTreesAreRejectedAndNothingIsApplied) {
  Make(EngineOptions{});
  AddNode("n", Cpu(16000));
  EXPECT_FALSE(eng().SetTenants({Tenant("x", Cpu(4000), Cpu(2000))}, 0).ok());
  EXPECT_FALSE(eng().SetTenants({Tenant("p", {}, Cpu(4000)), Tenant("p/a", Cpu(3000)), Tenant("p/b", Cpu(2000))}, 0).ok());
  // Nothing from the rejected trees was applied: p has no max.
  SubmitAndSchedule(TReq("big", "p", Cpu(10000)));
  EXPECT_EQ(State("big"), "placed");
}

TEST_F(PolicyTest, BurstAllowedUpToBurstTimesMax) {
  Make(EngineOptions{});
  AddNode("n", Cpu(16000));
  TenantSpec t = Tenant("team", {}, Cpu(4000));
  t.burst = 1.5;
  t.grace = Sec(30);
  SetTenants({t});
  SubmitAndSchedule(TReq("t1", "team", Cpu(4000)));
  // 4 + 2 = 6 <= 1.5 * 4 = 6 -> placed; 6 + 1 = 7 > 6 -> waits.
  SubmitAndSchedule(TReq("t2", "team", Cpu(2000)), 10);
  SubmitAndSchedule(TReq("t3", "team", Cpu(1000)), 11);
  EXPECT_EQ(State("t2"), "placed");
  EXPECT_EQ(State("t3"), "queued");
}

// ENGINE BUG: the burst grace clock only starts when ReclaimOverMax runs, which happens on a quota change
// (SetTenants) or when some tenant is already marked as bursting; a placement that takes a tenant over its
// max never starts it. Expected: t2 (the burst allocation placed at t=10) is reclaimed at 10 + 30 = 40 s.
// Actual: NextWakeup() has no grace deadline and t2 stays placed forever (examples/policy/burst.yaml works
// around it with a quota event).
TEST_F(PolicyTest, BurstIsReclaimedAfterGrace) {
  Make(EngineOptions{});
  AddNode("n", Cpu(16000));
  TenantSpec t = Tenant("team", {}, Cpu(4000));
  t.burst = 1.5;
  t.grace = Sec(30);
  SetTenants({t});
  SubmitAndSchedule(TReq("t1", "team", Cpu(4000)));
  SubmitAndSchedule(TReq("t2", "team", Cpu(2000)), 10);
  ASSERT_TRUE(eng().NextWakeup().has_value());
  EXPECT_EQ(*eng().NextWakeup(), Sec(40));
  Schedule(40);
  EXPECT_EQ(State("t1"), "placed");
  EXPECT_EQ(State("t2"), "preempted");
  EXPECT_EQ(Get("t2").ended, Sec(40));
}

// ---- backfill ----

TEST_F(PolicyTest, ShortJobBackfillsLongOneDoesNot) {
  EngineOptions o;
  o.backfill = true;
  Make(o);
  AddNode("n", Cpu(8000));
  auto run = Req("run", Cpu(5000));
  run.duration = Sec(100);
  SubmitAndSchedule(run);
  auto head = Req("head", Cpu(7000));
  head.duration = Sec(100);
  auto shortj = Req("short", Cpu(1000));
  shortj.duration = Sec(50);
  auto longj = Req("long", Cpu(2000));
  longj.duration = Sec(500);
  Submit(head, 10);
  Submit(shortj, 10);
  Submit(longj, 10);
  Schedule(10);
  // head: shadow time 100 s (when `run` ends), spare then 8 - 7 = 1 cpu.
  // short ends at 60 <= 100 -> backfilled; long (2 cpu past 100 s > 1 spare) would delay head -> waits.
  EXPECT_EQ(State("short"), "placed");
  EXPECT_EQ(State("long"), "queued");
  EXPECT_NE(Get("long").reason.find("would delay the queue head"), std::string::npos) << Get("long").reason;
  RunUntil(1000);
  EXPECT_EQ(Get("head").started, Sec(100));
  // long starts when head ends: 100 + 100 = 200 s.
  EXPECT_EQ(Get("long").started, Sec(200));
}

TEST_F(PolicyTest, WithoutBackfillTheQueueIsStrictFcfs) {
  Make(EngineOptions{});
  AddNode("n", Cpu(8000));
  auto run = Req("run", Cpu(5000));
  run.duration = Sec(100);
  SubmitAndSchedule(run);
  auto shortj = Req("short", Cpu(1000));
  shortj.duration = Sec(50);
  Submit(Req("head", Cpu(7000)), 10);
  Submit(shortj, 10);
  Schedule(10);
  // The blocked head holds the only node: short may not start before it.
  EXPECT_EQ(State("short"), "queued");
}

// ENGINE BUG: the backfill shadow (ComputeShadow) ignores a gang's count: it finds when ONE unit could start
// and holds only that node, so later requests backfill onto nodes the other units need and delay the
// gang. Input: three 4-cpu nodes, `etl` 2 cpu for 60 s on n1; at 10 the head `trainer` (3 spread units of
// 4 cpu, 100 s); at 20 `pair` (2 spread units of 1 cpu, 100 s). Expected: trainer starts at 60 when etl
// ends (pair would delay it, so it waits to 160). Actual: the shadow says "expected start 20s on n2",
// pair backfills onto n1 and n3 at 20 and trainer starts only at 120.
TEST_F(PolicyTest, BackfillDoesNotDelayAGangHead) {
  EngineOptions o;
  o.scoring = "most-allocated";
  o.backfill = true;
  Make(o);
  for (const char* n : {"n1", "n2", "n3"}) AddNode(n, Cpu(4000));
  auto etl = Req("etl", Cpu(2000));
  etl.duration = Sec(60);
  SubmitAndSchedule(etl);
  auto trainer = Req("trainer", Cpu(4000));
  trainer.count = 3;
  trainer.spread = true;
  trainer.duration = Sec(100);
  SubmitAndSchedule(trainer, 10);
  auto pair = Req("pair", Cpu(1000));
  pair.count = 2;
  pair.spread = true;
  pair.duration = Sec(100);
  SubmitAndSchedule(pair, 20);
  EXPECT_EQ(State("pair"), "queued");
  RunUntil(1000);
  EXPECT_EQ(Get("trainer").started, Sec(60));
}

// ---- reservations ----

TEST_F(PolicyTest, ReservationProtectsCapacityForItsHolder) {
  Make(EngineOptions{});
  AddNode("n1", Cpu(8000));
  ReservationSpec r;
  r.id = "win";
  r.tenant = "org/train";
  r.start = Sec(100);
  r.end = Sec(200);
  r.requests = Cpu(6000);
  r.nodes = {"n1"};
  ASSERT_TRUE(eng().Reserve(r, 0).ok());
  // Ends at 50 < 100: may use the capacity before the window.
  auto early = TReq("early", "org/web", Cpu(4000));
  early.duration = Sec(50);
  SubmitAndSchedule(early);
  EXPECT_EQ(State("early"), "placed");
  // Inside the window an outsider only gets 8 - 6 = 2 cpu.
  RunUntil(100);
  auto outsider = TReq("outsider", "org/web", Cpu(3000));
  outsider.duration = Sec(10);
  SubmitAndSchedule(outsider, 120);
  EXPECT_EQ(State("outsider"), "queued");
  EXPECT_NE(Get("outsider").reason.find("outside reservations"), std::string::npos) << Get("outsider").reason;
  // The holder (a child of the reserving tenant) uses the reserved 6. It is high priority so that it is
  // ahead of `outsider` in the queue (see DISABLED_ReservationHolderIsNotBlockedByAnEarlierRequest).
  auto holder = TReq("holder", "org/train/job", Cpu(6000), 3);
  holder.duration = Sec(20);
  SubmitAndSchedule(holder, 121);
  EXPECT_EQ(State("holder"), "placed");
  EXPECT_EQ(State("outsider"), "queued");
  // At the window's end (200) the capacity returns: outsider starts.
  RunUntil(250);
  EXPECT_EQ(Get("outsider").started, Sec(200));
  EXPECT_TRUE(eng().Reservations().empty());
}

TEST_F(PolicyTest, OverlappingReservationsAreRejectedNamingTheWindow) {
  Make(EngineOptions{});
  AddNode("n1", Cpu(8000));
  ReservationSpec a;
  a.id = "a";
  a.tenant = "x";
  a.start = Sec(100);
  a.end = Sec(200);
  a.requests = Cpu(6000);
  a.nodes = {"n1"};
  ASSERT_TRUE(eng().Reserve(a, 0).ok());
  ReservationSpec b = a;
  b.id = "b";
  b.start = Sec(150);
  b.end = Sec(250);
  b.requests = Cpu(4000);
  Status st = eng().Reserve(b, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kConflict);
  EXPECT_NE(st.message().find("conflicts with reservation a [100s, 200s) on n1"), std::string::npos) << st.message();
  // Adjacent windows do not overlap; a fitting overlap is fine (6 + 2 <= 8).
  b.start = Sec(200);
  EXPECT_TRUE(eng().Reserve(b, 0).ok());
  ReservationSpec c = a;
  c.id = "c";
  c.requests = Cpu(2000);
  EXPECT_TRUE(eng().Reserve(c, 0).ok());
  a.id = "bad";
  a.end = a.start;
  EXPECT_FALSE(eng().Reserve(a, 0).ok());
}

// ENGINE BUG: a reservation holder cannot use its own reservation while an unrelated request waits ahead
// of it. Input: n1 8 cpu, reservation 6 cpu [100, 200) for org/train; `overlap` (org/web, 4 cpu, 200 s,
// submitted at 0) waits because it would run into the window; `holder` (org/train, 6 cpu, 50 s, same
// priority, naming the reservation) is submitted at 100. Expected: holder starts at 100 ("capacity is
// guaranteed at start"). Actual: with backfill the head `overlap` gets no shadow time (ComputeShadow counts
// the reservation as held forever and only looks at lease ends), so the pass stops; without backfill the
// head holds n1 (FCFS). holder never starts and is left queued: "reservation train-window has ended".
TEST_F(PolicyTest, ReservationHolderIsNotBlockedByAnEarlierRequest) {
  EngineOptions o;
  o.backfill = true;
  Make(o);
  AddNode("n1", Cpu(8000));
  ReservationSpec r;
  r.id = "train-window";
  r.tenant = "org/train";
  r.start = Sec(100);
  r.end = Sec(200);
  r.requests = Cpu(6000);
  r.nodes = {"n1"};
  ASSERT_TRUE(eng().Reserve(r, 0).ok());
  auto overlap = TReq("overlap", "org/web", Cpu(4000));
  overlap.duration = Sec(200);
  SubmitAndSchedule(overlap);
  RunUntil(99);
  auto holder = TReq("holder", "org/train", Cpu(6000));
  holder.duration = Sec(50);
  holder.reservation = "train-window";
  SubmitAndSchedule(holder, 100);
  EXPECT_EQ(State("holder"), "placed");
  RunUntil(1000);
  EXPECT_EQ(Get("overlap").started, Sec(200));
}

// ---- gangs ----

TEST_F(PolicyTest, GangIsAllOrNothingAndSpreads) {
  Make(EngineOptions{});
  AddNode("n1", Cpu(4000));
  AddNode("n2", Cpu(4000));
  auto g = Req("gang", Cpu(3000));
  g.count = 3;
  g.spread = true;
  SubmitAndSchedule(g);
  // Only two nodes: the third unit has nowhere to go, so no unit is placed.
  EXPECT_EQ(State("gang"), "queued");
  EXPECT_EQ(eng().TotalAllocated().count("cpu"), 0u);
  EXPECT_NE(Get("gang").reason.find("gang of 3"), std::string::npos) << Get("gang").reason;
  NodeSpec n3;
  n3.name = "n3";
  n3.capacity = Cpu(4000);
  ASSERT_TRUE(eng().AddNode(n3, Sec(5)).ok());
  Schedule(5);
  auto info = Get("gang");
  EXPECT_EQ(AllocStateName(info.state), std::string("placed"));
  EXPECT_EQ(info.nodes, (std::vector<std::string>{"n1", "n2", "n3"}));
  // 3 units x 3 cpu.
  EXPECT_EQ(eng().TotalAllocated().at("cpu"), 9000);
}

TEST_F(PolicyTest, GangWithoutSpreadMayShareANode) {
  EngineOptions o;
  o.scoring = "most-allocated";
  Make(o);
  AddNode("n1", Cpu(4000));
  AddNode("n2", Cpu(4000));
  auto g = Req("gang", Cpu(2000));
  g.count = 2;
  SubmitAndSchedule(g);
  EXPECT_EQ(Get("gang").nodes, (std::vector<std::string>{"n1", "n1"}));
}

}  // namespace
}  // namespace allot::testing
