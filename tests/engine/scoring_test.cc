// Each scoring strategy through the engine, against scores computed by hand with kube-scheduler's
// arithmetic (integer division for least/most-allocated, math.Round for requested-to-capacity-ratio,
// (1 - std) * 100 truncated for balanced-allocation).
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

class ScoringTest : public EngineTest {
 protected:
  // Two nodes: a (4 cpu, 8Gi) and b (8 cpu, 8Gi) with 1 cpu / 2Gi already in use on b.
  void TwoNodes(const EngineOptions& o) {
    Make(o);
    AddNode("a", CpuMem(4000, 8 * kGi));
    AddNode("b", CpuMem(8000, 8 * kGi), {}, {}, CpuMem(1000, 2 * kGi));
  }
};

TEST_F(ScoringTest, LeastAllocated) {
  EngineOptions o;
  o.scoring = "least-allocated";
  TwoNodes(o);
  SubmitAndSchedule(Req("p", CpuMem(1000, 2 * kGi)));
  // a: cpu (4000-1000)*100/4000 = 75, memory (8-2)*100/8 = 75 -> 75
  // b: cpu (8000-2000)*100/8000 = 75, memory (8-4)*100/8 = 50 -> (75+50)/2 = 62
  EXPECT_EQ(Scores("p"), (ScoreMap{{"a", 75}, {"b", 62}}));
  EXPECT_EQ(NodeOf("p"), "a");
}

TEST_F(ScoringTest, MostAllocatedWithWeights) {
  EngineOptions o;
  o.scoring = "most-allocated";
  o.weights = {{"cpu", 3}, {"memory", 1}};
  TwoNodes(o);
  SubmitAndSchedule(Req("p", CpuMem(1000, 2 * kGi)));
  // a: cpu 1000*100/4000 = 25, memory 2*100/8 = 25 -> (25*3 + 25*1)/4 = 25
  // b: cpu 2000*100/8000 = 25, memory 4*100/8 = 50 -> (25*3 + 50*1)/4 = 125/4 = 31
  EXPECT_EQ(Scores("p"), (ScoreMap{{"a", 25}, {"b", 31}}));
  EXPECT_EQ(NodeOf("p"), "b");
}

TEST_F(ScoringTest, RequestedToCapacityRatioShapes) {
  EngineOptions o;
  o.scoring = "requested-to-capacity-ratio";
  o.shape = {{0, 0}, {100, 10}};
  TwoNodes(o);
  SubmitAndSchedule(Req("p", CpuMem(1000, 2 * kGi)));
  // {0,0},{100,10}: score = utilization. a: cpu 25, memory 25 -> 25; b: cpu 25, memory 50 -> round(37.5) = 38
  EXPECT_EQ(Scores("p"), (ScoreMap{{"a", 25}, {"b", 38}}));

  explain_.clear();
  o.shape = {{0, 10}, {100, 0}};
  TwoNodes(o);
  SubmitAndSchedule(Req("q", CpuMem(1000, 2 * kGi)));
  // {0,10},{100,0}: score = 100 - utilization. a: 75, 75 -> 75; b: 75, 50 -> round(62.5) = 63
  EXPECT_EQ(Scores("q"), (ScoreMap{{"a", 75}, {"b", 63}}));
}

TEST_F(ScoringTest, RequestedToCapacityRatioRejectsBadShapes) {
  EngineOptions o;
  o.scoring = "requested-to-capacity-ratio";
  o.shape = {{50, 1}, {40, 2}};
  EXPECT_FALSE(Engine::Create(o).ok());
  o.shape = {{0, 11}};
  EXPECT_FALSE(Engine::Create(o).ok());
  o.scoring = "no-such-strategy";
  o.shape = {};
  EXPECT_FALSE(Engine::Create(o).ok());
}

TEST_F(ScoringTest, BalancedAllocationTwoResources) {
  EngineOptions o;
  o.scoring = "balanced-allocation";
  TwoNodes(o);
  SubmitAndSchedule(Req("p", CpuMem(1000, 2 * kGi)));
  // a: cpu 1000/4000 = 0.25, memory 2/8 = 0.25 -> std 0 -> 100
  // b: cpu 2000/8000 = 0.25, memory 4/8 = 0.5 -> std 0.125 -> 87
  EXPECT_EQ(Scores("p"), (ScoreMap{{"a", 100}, {"b", 87}}));
}

TEST_F(ScoringTest, BalancedAllocationThreeResources) {
  EngineOptions o;
  o.scoring = "balanced-allocation";
  o.weights = {{"cpu", 1}, {"memory", 1}, {"gpu", 1}};
  Make(o);
  AddNode("g", {{"cpu", 4000}, {"memory", 8 * kGi}, {"gpu", 4000}});
  SubmitAndSchedule(Req("p", {{"cpu", 2000}, {"memory", 2 * kGi}, {"gpu", 1000}}));
  // fractions 0.5, 0.25, 0.25; mean 1/3; variance ((1/6)^2 + 2*(1/12)^2)/3 = (1/36 + 1/72)/3 = 1/72;
  // std = 0.11785 -> (1 - 0.11785)*100 = 88.2 -> 88
  EXPECT_EQ(Scores("p"), (ScoreMap{{"g", 88}}));
}

TEST_F(ScoringTest, NonZeroDefaultsForRequestsWithoutCpuOrMemory) {
  EngineOptions o;
  o.scoring = "least-allocated";
  Make(o);
  AddNode("a", CpuMem(1000, 1000 * kMi));
  SubmitAndSchedule(Req("p", {{"gpu", 0}}));
  // No cpu/memory request: counts 100m and 200Mi. cpu (1000-100)*100/1000 = 90,
  // memory (1000-200)*100/1000 = 80 -> 85
  EXPECT_EQ(Scores("p"), (ScoreMap{{"a", 85}}));
  // Placed; the defaults stay counted for later scoring: next probe sees 200m and 400Mi ->
  // cpu (1000-200)*100/1000 = 80, memory (1000-400)*100/1000 = 60 -> 70
  SubmitAndSchedule(Req("q", {{"gpu", 0}}), 1);
  EXPECT_EQ(Scores("q"), (ScoreMap{{"a", 70}}));
  // An explicit zero is not defaulted: the node holds two defaulted requests (200m, 400Mi) and the probe
  // adds nothing: cpu (1000-200)*100/1000 = 80, memory (1000-400)*100/1000 = 60 -> 70 (defaulted: 65).
  SubmitAndSchedule(Req("z", CpuMem(0, 0)), 2);
  EXPECT_EQ(Scores("z"), (ScoreMap{{"a", 70}}));
}

TEST_F(ScoringTest, RequestedAboveCapacityIsClamped) {
  EngineOptions o;
  o.scoring = "most-allocated";
  Make(o);
  // 150m cpu node: one defaulted request (100m) placed, the next defaulted probe makes 200m > 150m.
  AddNode("a", CpuMem(150, 1000 * kMi));
  SubmitAndSchedule(Req("p", {{"gpu", 0}}));
  SubmitAndSchedule(Req("q", {{"gpu", 0}}), 1);
  // q: cpu 200m > 150m -> clamped to 150 -> 100; memory 400Mi*100/1000Mi = 40 -> (100+40)/2 = 70
  EXPECT_EQ(Scores("q"), (ScoreMap{{"a", 70}}));
}

TEST_F(ScoringTest, ExtendedResourceNotRequestedIsSkipped) {
  EngineOptions o;
  o.scoring = "most-allocated";
  o.weights = {{"cpu", 1}, {"memory", 1}, {"gpu", 5}};
  Make(o);
  AddNode("plain", CpuMem(4000, 8 * kGi));
  AddNode("gpu", {{"cpu", 4000}, {"memory", 8 * kGi}, {"gpu", 2000}});
  SubmitAndSchedule(Req("p", CpuMem(2000, 2 * kGi)));
  // gpu not requested: skipped. Both: cpu 50, memory 25 -> 37
  EXPECT_EQ(Scores("p"), (ScoreMap{{"gpu", 37}, {"plain", 37}}));
  SubmitAndSchedule(Req("g", {{"cpu", 1000}, {"memory", 2 * kGi}, {"gpu", 1000}}), 1);
  // g on gpu (after p went to `plain`, the first added of two equal scores):
  //   cpu 1000*100/4000 = 25, memory 2*100/8 = 25, gpu 1000*100/2000 = 50 -> (25 + 25 + 50*5)/7 = 300/7 = 42
  // plain has no gpu capacity: filtered.
  EXPECT_EQ(NodeOf("p"), "plain");
  EXPECT_EQ(Scores("g"), (ScoreMap{{"gpu", 42}}));
  EXPECT_EQ(Filtered("g").at("plain"), "Insufficient gpu");
}

}  // namespace
}  // namespace allot::testing
