// Elastic pool sizing and Holt's linear trend, with the arithmetic of include/allot/autoscale.h.
#include <gtest/gtest.h>

#include "allot/autoscale.h"

namespace allot::autoscale {
namespace {

PoolSpec Spec() {
  PoolSpec s;
  s.min_nodes = 1;
  s.max_nodes = 10;
  s.target_utilization = 0.7;
  return s;
}

PoolState State(int nodes, double allocated) {
  PoolState st;
  st.current_nodes = nodes;
  st.node_capacity = 10;
  st.allocated = allocated;
  st.now = 1000;
  return st;
}

TEST(Pool, ScalesToTargetUtilization) {
  // 4 nodes × 10 = 40, allocated 36: util 0.9, ratio 0.9/0.7 = 1.286 > 1.1; ceil(4 × 1.286) = ceil(5.14) = 6.
  auto d = DesiredPoolSize(Spec(), State(4, 36));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->desired_nodes, 6);
  EXPECT_DOUBLE_EQ(d->utilization, 0.9);
  // allocated 28: util 0.7, ratio exactly 1: stays 4.
  EXPECT_EQ(DesiredPoolSize(Spec(), State(4, 28))->desired_nodes, 4);
  // allocated 30: ratio 0.75/0.7 = 1.071 within the 0.1 tolerance: stays 4.
  EXPECT_EQ(DesiredPoolSize(Spec(), State(4, 30))->desired_nodes, 4);
}

TEST(Pool, ObservedAndQueuedDemand) {
  // Observed 36 beats allocated 20: same as the case above, 6 nodes.
  auto st = State(4, 20);
  st.observed = 36;
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->desired_nodes, 6);
  // Allocated 28 (on target) plus 15 queued: ceil(15 / (10 × 0.7)) = ceil(2.14) = 3 more: 7.
  st = State(4, 28);
  st.queued_demand = 15;
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->desired_nodes, 7);
  // An empty pool with queued demand 15: 0 + 3 = 3.
  st = State(0, 0);
  st.queued_demand = 15;
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->desired_nodes, 3);
}

TEST(Pool, BoundsAndCooldowns) {
  // 200 allocated on 4 nodes: ratio 5/0.7 = 7.14, ceil(28.6) = 29 -> max 10.
  EXPECT_EQ(DesiredPoolSize(Spec(), State(4, 200))->desired_nodes, 10);
  // A scale-up 30 s ago with a 60 s cool-down holds the count.
  auto st = State(4, 36);
  st.last_scale_up = 970;
  auto d = DesiredPoolSize(Spec(), st);
  EXPECT_EQ(d->desired_nodes, 4);
  EXPECT_NE(d->reason.find("cool-down (30s left)"), std::string::npos) << d->reason;
  // Scale-down: 8 nodes, allocated 14: ratio 0.175/0.7 = 0.25; ceil(8 × 0.25) = 2, but one node per step: 7.
  st = State(8, 14);
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->desired_nodes, 7);
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->unconstrained_nodes, 2);
  // ... and not within 300 s of the last scale-up.
  st.last_scale_up = 800;
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->desired_nodes, 8);
  st.last_scale_up = 700;  // 300 s ago: allowed
  EXPECT_EQ(DesiredPoolSize(Spec(), st)->desired_nodes, 7);
  // Below min_nodes: straight to min regardless of cool-downs.
  auto spec = Spec();
  spec.min_nodes = 3;
  st = State(1, 0);
  st.last_scale_up = 999;
  EXPECT_EQ(DesiredPoolSize(spec, st)->desired_nodes, 3);
}

TEST(Pool, InvalidSpec) {
  auto spec = Spec();
  spec.min_nodes = 5;
  spec.max_nodes = 2;
  EXPECT_FALSE(DesiredPoolSize(spec, State(3, 0)).ok());
  spec = Spec();
  spec.target_utilization = 0;
  EXPECT_FALSE(DesiredPoolSize(spec, State(3, 0)).ok());
  auto st = State(3, 10);
  st.node_capacity = 0;
  EXPECT_FALSE(DesiredPoolSize(Spec(), st).ok());
}

TEST(Holt, LinearSeriesIsForecastExactly) {
  // y = 10 + 2t: level_0 = 10, trend_0 = 2, and every update keeps trend 2, so forecast(h) = 18 + 2h.
  auto f = HoltLinear({10, 12, 14, 16, 18}, 0.5, 0.3, 3);
  ASSERT_TRUE(f.ok());
  EXPECT_DOUBLE_EQ(f->level, 18);
  EXPECT_DOUBLE_EQ(f->trend, 2);
  EXPECT_EQ(f->forecast, (std::vector<double>{20, 22, 24}));
}

TEST(Holt, HandWorkedSmoothing) {
  // y = 10, 12, 16, α = 0.5, β = 0.5. level0 10, trend0 2.
  // t=1: level = 0.5·12 + 0.5·(10+2) = 12; trend = 0.5·(12−10) + 0.5·2 = 2.
  // t=2: level = 0.5·16 + 0.5·(12+2) = 15; trend = 0.5·(15−12) + 0.5·2 = 2.5. forecast(1) = 17.5.
  auto f = HoltLinear({10, 12, 16}, 0.5, 0.5, 1);
  ASSERT_TRUE(f.ok());
  EXPECT_DOUBLE_EQ(f->level, 15);
  EXPECT_DOUBLE_EQ(f->trend, 2.5);
  EXPECT_DOUBLE_EQ(f->forecast[0], 17.5);
  EXPECT_FALSE(HoltLinear({}, 0.5, 0.5, 1).ok());
  EXPECT_FALSE(HoltLinear({1, 2}, 0, 0.5, 1).ok());
  EXPECT_FALSE(HoltLinear({1, 2}, 0.5, 1.5, 1).ok());
}

}  // namespace
}  // namespace allot::autoscale
