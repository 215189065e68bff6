#include "allot/throttle/pool.h"

#include <gtest/gtest.h>

namespace allot::throttle {
namespace {

constexpr int64_t kS = kNanosPerSecond;

ConcurrencyPool MakePool(int64_t capacity, std::map<std::string, int64_t> limits = {}, int64_t per_tenant = 0) {
  PoolOptions o;
  o.capacity = capacity;
  o.default_ttl_ns = 10 * kS;
  o.tenant_limits = std::move(limits);
  o.default_tenant_limit = per_tenant;
  auto p = ConcurrencyPool::Create("db/main", o);
  EXPECT_TRUE(p.ok());
  return std::move(*p);
}

TEST(ConcurrencyPoolTest, AcquireReleaseHeldNotConsumed) {
  ConcurrencyPool p = MakePool(3);
  auto a = p.Acquire(0, "org/a", "h1", 2);
  ASSERT_TRUE(a->allowed());
  EXPECT_EQ(a->available, 1);
  auto b = p.Acquire(0, "org/b", "h2", 2);
  ASSERT_EQ(b->verdict, Verdict::kDenied);
  // 2 held + 2 asked > 3: the first expiry (a at 10 s) frees enough.
  EXPECT_EQ(b->retry_after_ns, 10 * kS);
  EXPECT_EQ(b->reason, "capacity 3 reached");
  ASSERT_TRUE(p.Release(1 * kS, a->lease.id).ok());
  EXPECT_EQ(p.in_use(), 0);
  EXPECT_TRUE(p.Acquire(1 * kS, "org/b", "h2", 3)->allowed());  // units come back, unlike a rate
  EXPECT_EQ(p.Release(1 * kS, a->lease.id).code(), ErrorCode::kNotFound);
}

TEST(ConcurrencyPoolTest, DeadHolderLeasesExpire) {
  ConcurrencyPool p = MakePool(2);
  auto a = p.Acquire(0, "t", "dead", 2, 5 * kS);
  ASSERT_TRUE(a->allowed());
  EXPECT_FALSE(p.Acquire(5 * kS - 1, "t", "other", 1)->allowed());
  // At exactly its deadline the lease is gone; the holder never released it.
  auto b = p.Acquire(5 * kS, "t", "other", 2);
  EXPECT_TRUE(b->allowed());
  EXPECT_EQ(p.expired_total(), 1u);
  EXPECT_EQ(p.Renew(6 * kS, a->lease.id).error().code, ErrorCode::kNotFound);
}

TEST(ConcurrencyPoolTest, RenewExtendsAndReleaseHolder) {
  ConcurrencyPool p = MakePool(4);
  auto a = p.Acquire(0, "t", "h", 1, 5 * kS);
  auto b = p.Acquire(0, "t", "h", 1, 5 * kS);
  auto c = p.Acquire(0, "t", "g", 1, 5 * kS);
  auto r = p.Renew(4 * kS, a->lease.id, 5 * kS);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->expires_ns, 9 * kS);
  auto gone = p.Expire(5 * kS);
  EXPECT_EQ(gone.size(), 2u);  // b and c, not the renewed a
  EXPECT_EQ(p.in_use(), 1);
  EXPECT_EQ(p.ReleaseHolder(5 * kS, "h"), 1u);
  EXPECT_EQ(p.in_use(), 0);
  EXPECT_FALSE(p.Acquire(0, "t", "h", 1, -1).ok());
  EXPECT_FALSE(p.Acquire(0, "t", "h", 1, 365LL * 86400 * kS).ok());  // above max_ttl
}

TEST(ConcurrencyPoolTest, TenantLimitsAndNever) {
  ConcurrencyPool p = MakePool(10, {{"org/team", 4}}, 3);
  EXPECT_EQ(p.Acquire(0, "x", "h", 11)->verdict, Verdict::kNever);
  auto too_big = p.Acquire(0, "org/team/a", "h", 5);
  EXPECT_EQ(too_big->verdict, Verdict::kNever);  // the subtree may never hold 5
  EXPECT_NE(too_big->reason.find("org/team"), std::string::npos);
  EXPECT_EQ(p.Acquire(0, "y", "h", 4)->verdict, Verdict::kNever);  // each tenant at most 3
  ASSERT_TRUE(p.Acquire(0, "org/team/a", "h", 3)->allowed());
  auto b = p.Acquire(0, "org/team/b", "h", 2);
  EXPECT_EQ(b->verdict, Verdict::kDenied);  // 3 + 2 > 4 in the subtree although the pool has 7 free
  EXPECT_EQ(b->retry_after_ns, 10 * kS);
  EXPECT_TRUE(p.Acquire(0, "org/team/b", "h", 1)->allowed());
  EXPECT_TRUE(p.Acquire(0, "org/other", "h", 3)->allowed());
  EXPECT_EQ(p.HeldBy("org/team"), 4);
  EXPECT_EQ(p.HeldBy("org"), 7);
}

TEST(ConcurrencyPoolTest, BadOptions) {
  PoolOptions o;
  EXPECT_NE(ConcurrencyPool::Create("p", o).error().message.find("capacity"), std::string::npos);
  o.capacity = 1;
  o.tenant_limits["org"] = 0;
  EXPECT_NE(ConcurrencyPool::Create("p", o).error().message.find("tenant_limits.org"), std::string::npos);
  EXPECT_FALSE(MakePool(1).Acquire(0, "t", "h", 0).ok());
}

}  // namespace
}  // namespace allot::throttle
