// Queue positions and estimated starts (Engine::QueueEstimates): each estimate is checked against the
// start the engine then gives the request when time runs on with no new arrivals.
#include <map>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

class EstimateTest : public EngineTest {
 protected:
  std::map<std::string, QueueEstimate> Estimates(double at) {
    std::map<std::string, QueueEstimate> out;
    for (auto& e : eng().QueueEstimates(Sec(at))) out[e.id] = e;
    return out;
  }
};

TEST_F(EstimateTest, BackfillEstimatesAreTheStartsThatFollow) {
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
  auto est = Estimates(10);
  ASSERT_EQ(est.size(), 3u);
  // 3 cpu free until `run` ends at 100, then 8.
  // head (7 cpu): at 100, holding 7 of 8 until 200.
  // short (1 cpu, 50 s): fits the 3 free now: 10 (ends at 60, before head needs the node).
  // long (2 cpu, 500 s): at 10 it would still run at 100 when head leaves only 1 cpu; at 200: 8 free.
  EXPECT_EQ(est["head"].estimated_start, Sec(100));
  EXPECT_EQ(est["short"].estimated_start, Sec(10));
  EXPECT_EQ(est["long"].estimated_start, Sec(200));
  EXPECT_EQ(est["head"].position, 1);
  EXPECT_EQ(est["long"].position, 3);
  Schedule(10);
  RunUntil(1000);
  EXPECT_EQ(Get("head").started, Sec(100));
  EXPECT_EQ(Get("short").started, Sec(10));
  EXPECT_EQ(Get("long").started, Sec(200));
}

TEST_F(EstimateTest, StrictFcfsNobodyOvertakesAndNoLeaseMeansNoEstimate) {
  Make(EngineOptions{});
  AddNode("n", Cpu(8000));
  auto run = Req("run", Cpu(5000));
  run.duration = Sec(100);
  SubmitAndSchedule(run);
  auto shortj = Req("short", Cpu(1000));
  shortj.duration = Sec(50);
  Submit(Req("head", Cpu(7000)), 10);  // no duration: holds 7 cpu for good once started
  Submit(shortj, 10);
  Submit(Req("last", Cpu(2000)), 10);
  auto est = Estimates(10);
  // head at 100; short may not start before head (strict FCFS) and fits the 1 cpu left: 100;
  // last (2 cpu) needs head to end, which it never does: no estimate.
  EXPECT_EQ(est["head"].estimated_start, Sec(100));
  EXPECT_EQ(est["short"].estimated_start, Sec(100));
  EXPECT_EQ(est["last"].estimated_start, -1);
  Schedule(10);
  RunUntil(1000);
  EXPECT_EQ(Get("head").started, Sec(100));
  EXPECT_EQ(Get("short").started, Sec(100));
  EXPECT_EQ(State("last"), "queued");
}

TEST_F(EstimateTest, GangNeedsAllItsNodesAtOnce) {
  EngineOptions o;
  o.backfill = true;
  Make(o);
  AddNode("n1", Cpu(4000));
  AddNode("n2", Cpu(4000));
  auto etl = Req("etl", Cpu(4000));
  etl.duration = Sec(60);
  SubmitAndSchedule(etl);
  auto gang = Req("gang", Cpu(4000));
  gang.count = 2;
  gang.duration = Sec(100);
  Submit(gang, 10);
  // n2 is free now, n1 from 60: both units at 60.
  EXPECT_EQ(Estimates(10)["gang"].estimated_start, Sec(60));
  Schedule(10);
  RunUntil(1000);
  EXPECT_EQ(Get("gang").started, Sec(60));
}

TEST_F(EstimateTest, PositionsOverallAndPerTenantAndUnknowns) {
  Make(EngineOptions{});
  AddNode("n", Cpu(4000));
  SubmitAndSchedule(Req("hog", Cpu(4000)));  // no lease: nothing ever frees
  auto a1 = Req("a1", Cpu(1000));
  a1.tenant = "org/a";
  auto b1 = Req("b1", Cpu(1000));
  b1.tenant = "org/b";
  auto a2 = Req("a2", Cpu(1000), 3);  // high priority: first in the queue
  a2.tenant = "org/a";
  auto huge = Req("huge", Cpu(64000));
  Submit(a1, 1);
  Submit(b1, 2);
  Submit(a2, 3);
  Submit(huge, 4);
  Schedule(5);
  auto est = Estimates(5);
  ASSERT_EQ(est.size(), 4u);
  EXPECT_EQ(est["a2"].position, 1);
  EXPECT_EQ(est["a2"].tenant_position, 1);
  EXPECT_EQ(est["a1"].position, 2);
  EXPECT_EQ(est["a1"].tenant_position, 2);
  EXPECT_EQ(est["b1"].position, 3);
  EXPECT_EQ(est["b1"].tenant_position, 1);
  EXPECT_EQ(est["b1"].tenant, "org/b");
  for (const auto& [id, e] : est) EXPECT_EQ(e.estimated_start, -1) << id;  // hog never ends; huge never fits
  // Strict FCFS: the pass stopped at a2, the first that could not start, so nobody behind it was looked at.
  EXPECT_EQ(est["huge"].reason_code, ReasonCode::kNone);
  EXPECT_EQ(eng().QueueEstimates(Sec(5), QueueEstimateOptions{1}).size(), 4u);  // positions for all
}

}  // namespace
}  // namespace allot::testing
