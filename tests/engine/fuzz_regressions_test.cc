// Inputs the fuzzers (fuzz/, docs/fuzzing.md) found, reduced to the engine calls that went wrong. Each
// test names its target and what the sanitizer reported; under the dev preset (ASan) the old code fails
// here, and every test also checks the behaviour the fix keeps.
#include <limits>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

class FuzzRegressionTest : public EngineTest {};

// api_body_fuzz: POST /v1/reservations, then PUT /v1/quotas/... naming a resource no node or request had
// named before. Registering the new resource refreshed every node's free columns (HeldOnNode reads each
// live reservation's `used` for the new slot) before the reservations' `used` had grown to the new size:
// a heap-buffer-overflow read.
TEST_F(FuzzRegressionTest, ANewResourceNamedWhileAReservationIsLiveKeepsTheReservation) {
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
  TenantSpec t;
  t.path = "org/web";
  t.max = {{"example.com/widgets", 5}};
  Status st = eng().SetTenant(t, 0);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(eng().Reservations().size(), 1u);
  EXPECT_EQ(eng().Reservations()[0].node, "n1");
  // The reservation still holds its 6 cpu inside the window: an outsider gets only the other 2.
  RunUntil(100);
  RequestSpec outsider = Req("outsider", Cpu(3000));
  outsider.tenant = "org/web";
  outsider.duration = Sec(10);
  SubmitAndSchedule(outsider, 120);
  EXPECT_EQ(State("outsider"), "queued");
  RequestSpec fits = Req("fits", Cpu(2000), 3);  // ahead of `outsider` in the queue
  fits.tenant = "org/web";
  fits.duration = Sec(10);
  SubmitAndSchedule(fits, 121);
  EXPECT_EQ(State("fits"), "placed");
}

// api_body_fuzz: PUT /v1/quotas/... with {"max": {"cpu": "8", "memory": "16Ei"}, "burst": 1.5}. The
// reclaim pass computed max × burst for memory as a double (about 1.4e19) and cast it to int64: undefined
// behaviour (UBSan: "outside the range of representable values"), in practice INT64_MIN, so any tenant
// over its cpu max counted as over its burst too and was reclaimed at once instead of after its grace.
TEST_F(FuzzRegressionTest, AHugeMaxTimesBurstSaturatesAndTheGraceStillHolds) {
  Make(EngineOptions{});
  AddNode("n", CpuMem(16000, int64_t{1} << 40));
  TenantSpec t;
  t.path = "team";
  t.max = {{"cpu", 4000}, {"memory", std::numeric_limits<int64_t>::max()}};
  t.burst = 1.5;
  t.grace = Sec(30);
  Status st = eng().SetTenants({t}, 0);
  ASSERT_TRUE(st.ok()) << st.message();
  RequestSpec a = Req("t1", CpuMem(4000, 1 << 20));
  a.tenant = "team";
  SubmitAndSchedule(a);
  RequestSpec b = Req("t2", CpuMem(2000, 1 << 20));  // 6 cpu: over the max of 4, within 1.5 × 4
  b.tenant = "team";
  SubmitAndSchedule(b, 10);
  ASSERT_EQ(State("t2"), "placed");
  st = eng().SetTenants({t}, 11);  // the reclaim pass runs on a quota change
  ASSERT_TRUE(st.ok()) << st.message();
  Schedule(12);
  EXPECT_EQ(State("t1"), "placed");
  EXPECT_EQ(State("t2"), "placed");  // still within its 30 s of grace
  Schedule(41);
  EXPECT_EQ(State("t2"), "preempted");
}

// api_body_fuzz: POST /v1/nodes with {"capacity": {"gpu": 1111111111111}} (within the API's bound on
// milli amounts, 2^50). The engine keeps a node's GPUs device by device, so it sized a table of 1.1e12
// devices: a 2 TB allocation (ASan:
// allocation-size-too-big; without ASan, std::bad_alloc through the server's worker thread). A node now has
// at most 4096 GPUs, on add and on update, and a refused node changes nothing.
TEST_F(FuzzRegressionTest, ANodeWithMoreGpusThanAnyMachineIsRefusedAndChangesNothing) {
  Make(EngineOptions{});
  AddNode("n0", {{"cpu", 8000}, {"gpu", 8000}});
  NodeSpec huge;
  huge.name = "n1";
  huge.capacity = {{"cpu", 8000}, {"gpu", 11111111111111LL * 1000}};
  Status st = eng().AddNode(huge, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("capacity.gpu is 11111111111111 GPUs; a node has at most 4096"),
            std::string::npos)
      << st.message();
  EXPECT_FALSE(eng().Node("n1").ok());
  huge.name = "n0";
  st = eng().UpdateNode(huge, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("a node has at most 4096"), std::string::npos) << st.message();
  huge.capacity["gpu"] = 4096 * 1000 + 250;  // a quarter GPU past the bound
  st = eng().UpdateNode(huge, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("capacity.gpu is 4096.25 GPUs"), std::string::npos) << st.message();
  EXPECT_EQ(eng().Node("n0")->capacity.at("gpu"), 8000);
  EXPECT_EQ(eng().TotalCapacity().at("gpu"), 8000);
  // The most a node may have still works, device by device.
  AddNode("big", {{"cpu", 8000}, {"gpu", 4096 * 1000}});
  SubmitAndSchedule(Req("all", {{"gpu", 4096 * 1000}}), 2);
  EXPECT_EQ(State("all"), "placed");
  EXPECT_EQ(NodeOf("all"), "big");
}

}  // namespace
}  // namespace allot::testing
