#include "allot/throttle/ratelimit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace allot::throttle {
namespace {

constexpr int64_t kS = kNanosPerSecond;
constexpr int64_t kT0 = 1'700'000'000 * kS;

LimitSpec RateLevel(Scope scope, const char* rate, int64_t burst, std::string subtree = "") {
  LimitSpec l;
  l.scope = scope;
  l.rate = *ParseRate(rate);
  l.burst = burst;
  l.subtree = std::move(subtree);
  return l;
}

AcquireRequest Req(std::string_view key, std::string_view tenant, int64_t n = 1, std::string_view agent = "") {
  AcquireRequest r;
  r.key = key;
  r.tenant = tenant;
  r.n = n;
  r.agent = agent;
  return r;
}

TEST(InSubtreeTest, PathComponents) {
  EXPECT_TRUE(InSubtree("org/team", "org/team"));
  EXPECT_TRUE(InSubtree("org/team/a", "org/team"));
  EXPECT_FALSE(InSubtree("org/teamster", "org/team"));
  EXPECT_FALSE(InSubtree("org", "org/team"));
  EXPECT_TRUE(InSubtree("anything", ""));
}

TEST(RateLimitTableTest, SingleLevelMatchesGcra) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("api/openai", {RateLevel(Scope::kGlobal, "5/m", 5)}, kT0).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(t.Acquire(kT0, Req("api/openai", "org/a"))->allowed());
  auto d = t.Acquire(kT0, Req("api/openai", "org/a"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->verdict, Verdict::kDenied);
  EXPECT_EQ(d->retry_after_ns, 12 * kS);  // 60 s / 5 per unit
  EXPECT_EQ(d->limited_by, "global");
  KeyStats s = *t.Stats("api/openai");
  EXPECT_EQ(s.allowed, 5u);
  EXPECT_EQ(s.denied, 1u);
}

TEST(RateLimitTableTest, ErrorsAreNotDecisions) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kGlobal, "1/s", 1)}, kT0).ok());
  EXPECT_EQ(t.Acquire(kT0, Req("nope", "")).error().code, ErrorCode::kNotFound);
  auto zero = t.Acquire(kT0, Req("k", "", 0));
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(zero.error().message.find("n:"), std::string::npos);
  EXPECT_FALSE(t.Acquire(kT0, Req("k", "", -5)).ok());
  AcquireRequest r = Req("k", "");
  r.reservation = "ghost";
  EXPECT_NE(t.Acquire(kT0, r).error().message.find("reservation"), std::string::npos);
}

TEST(RateLimitTableTest, DefineValidatesAndNamesTheField) {
  RateLimitTable t;
  EXPECT_NE(t.Define("k", {}, kT0).message().find("levels"), std::string::npos);
  LimitSpec bad_burst = RateLevel(Scope::kGlobal, "1/s", -1);
  EXPECT_NE(t.Define("k", {RateLevel(Scope::kGlobal, "1/s", 1), bad_burst}, kT0).message().find("levels[1].burst"),
            std::string::npos);
  LimitSpec no_subtree = RateLevel(Scope::kSubtree, "1/s", 1);
  EXPECT_NE(t.Define("k", {no_subtree}, kT0).message().find("levels[0].subtree"), std::string::npos);
  LimitSpec zero_rate;
  EXPECT_NE(t.Define("k", {zero_rate}, kT0).message().find("levels[0].rate"), std::string::npos);
  LimitSpec bad_zone;
  bad_zone.quota_per_day = 10;
  bad_zone.time_zone = "Nowhere/Special";
  EXPECT_NE(t.Define("k", {bad_zone}, kT0).message().find("levels[0].time_zone"), std::string::npos);
  EXPECT_FALSE(t.Define("bad key", {RateLevel(Scope::kGlobal, "1/s", 1)}, kT0).ok());
  EXPECT_FALSE(t.Has("k"));
}

TEST(RateLimitTableTest, HierarchyIsAllOrNothing) {
  RateLimitTable t;
  // global 10 at once, org/team subtree 4 at once, each tenant 3 at once (all refill slowly: 1/h).
  ASSERT_TRUE(t.Define("api/x",
                       {RateLevel(Scope::kGlobal, "1/h", 10), RateLevel(Scope::kSubtree, "1/h", 4, "org/team"),
                        RateLevel(Scope::kPerTenant, "1/h", 3)},
                       kT0)
                  .ok());
  // Tenant org/team/a takes 3: tenant level now empty, subtree has 1 left, global 7.
  auto a = t.Acquire(kT0, Req("api/x", "org/team/a", 3));
  ASSERT_TRUE(a->allowed());
  EXPECT_EQ(a->remaining, 0);  // min(global 7, subtree 1, tenant 0)
  // org/team/b asks for 2: its tenant bucket (3) allows, the subtree (1 left) does not -> denied, and
  // neither the global nor b's own bucket may be charged.
  auto b = t.Acquire(kT0, Req("api/x", "org/team/b", 2));
  ASSERT_EQ(b->verdict, Verdict::kDenied);
  EXPECT_EQ(b->limited_by, "subtree org/team");
  EXPECT_EQ(b->retry_after_ns, 3600 * kS);  // one more unit in the subtree takes 1 h
  // Proof of no partial consumption: b can still take 1 (subtree's last), and an outsider sees 7 global.
  auto b1 = t.Acquire(kT0, Req("api/x", "org/team/b", 1));
  ASSERT_TRUE(b1->allowed());
  EXPECT_EQ(b1->remaining, 0);  // min(global 6, subtree 0, tenant 2)
  auto o = t.Peek(kT0, Req("api/x", "org/other", 1));
  ASSERT_TRUE(o->allowed());
  EXPECT_EQ(o->remaining, 2);  // min(global 6 - 1, own tenant 3 - 1): the subtree level does not apply
  // Peek consumed nothing:
  EXPECT_EQ(t.Peek(kT0, Req("api/x", "org/other", 1))->remaining, 2);
}

TEST(RateLimitTableTest, RetryAfterIsTheLongestLevelWait) {
  RateLimitTable t;
  ASSERT_TRUE(
      t.Define("k", {RateLevel(Scope::kGlobal, "1/s", 2), RateLevel(Scope::kPerTenant, "1/m", 2)}, kT0).ok());
  ASSERT_TRUE(t.Acquire(kT0, Req("k", "a", 2))->allowed());
  auto d = t.Acquire(kT0, Req("k", "a", 1));
  ASSERT_EQ(d->verdict, Verdict::kDenied);
  // global needs 1 s for one unit, the tenant level 60 s: the request waits for both.
  EXPECT_EQ(d->retry_after_ns, 60 * kS);
  EXPECT_EQ(d->limited_by, "tenant");
  EXPECT_FALSE(t.Acquire(kT0 + 60 * kS - 1, Req("k", "a", 1))->allowed());
  EXPECT_TRUE(t.Acquire(kT0 + 60 * kS, Req("k", "a", 1))->allowed());
}

TEST(RateLimitTableTest, NeverWinsOverDenied) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kGlobal, "1/s", 1), RateLevel(Scope::kPerAgent, "1/s", 5)}, kT0).ok());
  auto d = t.Acquire(kT0, Req("k", "t", 2, "agent-1"));
  EXPECT_EQ(d->verdict, Verdict::kNever);  // 2 > the global burst of 1
  EXPECT_EQ(d->limited_by, "global");
  EXPECT_EQ(d->retry_after_ns, 0);
  EXPECT_EQ(t.Stats("k")->never, 1u);
}

TEST(RateLimitTableTest, PerAgentBucketsAreSeparate) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kPerAgent, "1/m", 1)}, kT0).ok());
  EXPECT_TRUE(t.Acquire(kT0, Req("k", "t", 1, "a1"))->allowed());
  EXPECT_FALSE(t.Acquire(kT0, Req("k", "t", 1, "a1"))->allowed());
  EXPECT_TRUE(t.Acquire(kT0, Req("k", "t", 1, "a2"))->allowed());
  // Sweep drops buckets that are full again (a2's after its minute), keeps the one still refilling.
  EXPECT_EQ(t.Sweep(kT0 + 30 * kS), 0u);
  EXPECT_EQ(t.Sweep(kT0 + 60 * kS), 2u);
  EXPECT_TRUE(t.Acquire(kT0 + 60 * kS, Req("k", "t", 1, "a1"))->allowed());
}

TEST(RateLimitTableTest, RedefineKeepsWhatWasUsed) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kGlobal, "10/m", 10)}, kT0).ok());
  ASSERT_TRUE(t.Acquire(kT0, Req("k", "", 8))->allowed());
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kGlobal, "10/m", 20)}, kT0).ok());
  // 8 used of a burst now 20: 12 left, not a fresh 20.
  EXPECT_EQ(t.Peek(kT0, Req("k", "", 1))->remaining, 11);
}

TEST(RateLimitTableTest, DailyQuotaLevelInBerlin) {
  RateLimitTable t;
  LimitSpec q;
  q.quota_per_day = 2;
  q.time_zone = "Europe/Berlin";
  ASSERT_TRUE(t.Define("api/quota", {RateLevel(Scope::kGlobal, "100/s", 100), q}, kT0).ok());
  const int64_t t1 = int64_t{1711879200} * kS;  // 2024-03-31 12:00 CEST, the 23-hour day
  ASSERT_TRUE(t.Acquire(t1, Req("api/quota", "x", 2))->allowed());
  auto d = t.Acquire(t1, Req("api/quota", "x"));
  ASSERT_EQ(d->verdict, Verdict::kDenied);
  EXPECT_EQ(d->limited_by, "global quota");
  EXPECT_EQ(d->retry_after_ns, (int64_t{1711922400} - 1711879200) * kS);  // to 2024-04-01 00:00 +0200: 12 h
  EXPECT_EQ(t.Acquire(t1, Req("api/quota", "x", 3))->verdict, Verdict::kNever);
  EXPECT_TRUE(t.Acquire(int64_t{1711922400} * kS, Req("api/quota", "x"))->allowed());
}

TEST(RateLimitTableTest, ReservationCarvesRateOutOfTheSharedBucket) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("api/x", {RateLevel(Scope::kGlobal, "3600/h", 1)}, kT0).ok());  // 1/s, no burst
  Reservation r;
  r.id = "wf-1";
  r.key = "api/x";
  r.rate = *ParseRate("1200/h");
  r.burst = 1;
  r.start_ns = kT0 + 100 * kS;
  r.end_ns = kT0 + 200 * kS;
  ASSERT_TRUE(t.Reserve(kT0, r).ok());
  EXPECT_EQ(CompareRates(*t.EffectiveRate(kT0, "api/x", 0), *ParseRate("1/s")), 0);  // not active yet
  // Active: everyone else gets 3600 - 1200 = 2400/h, i.e. one unit per 1.5 s.
  const int64_t t1 = kT0 + 100 * kS;
  EXPECT_EQ(CompareRates(*t.EffectiveRate(t1, "api/x", 0), *ParseRate("2400/h")), 0);
  ASSERT_TRUE(t.Acquire(t1, Req("api/x", "o"))->allowed());
  auto d = t.Acquire(t1, Req("api/x", "o"));
  ASSERT_EQ(d->verdict, Verdict::kDenied);
  EXPECT_EQ(d->retry_after_ns, 1'500'000'000);
  // The workflow draws from its own 1200/h bucket even though the shared one is empty ...
  AcquireRequest wf = Req("api/x", "o");
  wf.reservation = "wf-1";
  auto w = t.Acquire(t1, wf);
  ASSERT_TRUE(w->allowed());
  EXPECT_TRUE(w->from_reservation);
  // ... then waits for whichever frees first: shared in 1.5 s, its own in 3 s.
  EXPECT_EQ(t.Acquire(t1, wf)->retry_after_ns, 1'500'000'000);
  // Booking more than is left fails and says why.
  Reservation too_much = r;
  too_much.id = "wf-2";
  too_much.rate = *ParseRate("2400/h");
  Status s = t.Reserve(kT0, too_much);
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
  too_much.start_ns = kT0 + 200 * kS;  // after wf-1 ends there is room
  too_much.end_ns = kT0 + 300 * kS;
  EXPECT_TRUE(t.Reserve(kT0, too_much).ok());
  // After its end the full rate is back for everyone.
  EXPECT_EQ(CompareRates(*t.EffectiveRate(kT0 + 400 * kS, "api/x", 0), *ParseRate("1/s")), 0);
  ASSERT_TRUE(t.CancelReservation(kT0, "wf-2").ok());
  EXPECT_EQ(t.CancelReservation(kT0, "wf-2").code(), ErrorCode::kNotFound);
}

TEST(RateLimitTableTest, ReservationValidation) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kGlobal, "10/s", 10), RateLevel(Scope::kPerTenant, "1/s", 1)}, kT0).ok());
  Reservation r;
  r.id = "a";
  r.key = "k";
  r.rate = *ParseRate("1/s");
  r.start_ns = kT0;
  r.end_ns = kT0 + kS;
  r.level = 1;
  EXPECT_EQ(t.Reserve(kT0, r).code(), ErrorCode::kInvalidArgument);  // per-tenant level: nothing shared
  r.level = 5;
  EXPECT_EQ(t.Reserve(kT0, r).code(), ErrorCode::kInvalidArgument);
  r.level = 0;
  r.end_ns = kT0;
  EXPECT_NE(t.Reserve(kT0, r).message().find("end"), std::string::npos);
  r.end_ns = kT0 + kS;
  ASSERT_TRUE(t.Reserve(kT0, r).ok());
  EXPECT_EQ(t.Reserve(kT0, r).code(), ErrorCode::kAlreadyExists);
  // Changing the reserved level's scope is refused while reservations exist.
  EXPECT_EQ(t.Define("k", {RateLevel(Scope::kPerTenant, "10/s", 10)}, kT0).code(), ErrorCode::kConflict);
  EXPECT_TRUE(t.Has("k"));
}

TEST(RateLimitTableTest, BatchDecidesInOrder) {
  RateLimitTable t;
  ASSERT_TRUE(t.Define("k", {RateLevel(Scope::kGlobal, "1/s", 2)}, kT0).ok());
  std::vector<AcquireRequest> reqs = {Req("k", ""), Req("nope", ""), Req("k", ""), Req("k", "")};
  auto out = t.AcquireBatch(kT0, reqs);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out[0]->allowed());
  EXPECT_FALSE(out[1].ok());
  EXPECT_TRUE(out[2]->allowed());
  EXPECT_EQ(out[3]->verdict, Verdict::kDenied);
}

}  // namespace
}  // namespace allot::throttle

namespace allot::throttle {
namespace {

TEST(RateLimitTableTest, ConcurrentCallersNeverOverspend) {
  RateLimitTable t;
  LimitSpec global;
  global.rate = *ParseRate("1/h");
  global.burst = 1000;
  LimitSpec tenant = global;
  tenant.scope = Scope::kPerTenant;
  tenant.burst = 300;
  ASSERT_TRUE(t.Define("k", {global, tenant}, kT0).ok());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      const std::string name = "tenant-" + std::to_string(i);
      for (int j = 0; j < 2000; ++j) {
        AcquireRequest r;
        r.key = "k";
        r.tenant = name;
        allowed += t.Acquire(kT0, r)->allowed();
      }
    });
  }
  for (auto& th : threads) th.join();
  // Each tenant gets at most 300; 4 x 300 = 1200 > the global 1000, so exactly 1000 pass.
  EXPECT_EQ(allowed.load(), 1000);
  EXPECT_EQ(t.Stats("k")->allowed, 1000u);
  EXPECT_EQ(t.Stats("k")->denied, 7000u);
}

}  // namespace
}  // namespace allot::throttle
