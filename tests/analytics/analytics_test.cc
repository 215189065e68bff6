// The analytics arithmetic, with numbers checkable by hand.
#include "allot/analytics.h"

#include <gtest/gtest.h>

namespace allot::analytics {
namespace {

TEST(EfficiencyTest, AveragesAndRatiosFromTheSums) {
  history::Totals t;
  // Four points: capacity 16000 each; allocated 2000, 4000, 6000, 8000; used on the last two only (3000,
  // 6000).
  t.sum[history::kCapacity] = 4 * 16000;
  t.count[history::kCapacity] = 4;
  t.sum[history::kAllocated] = 2000 + 4000 + 6000 + 8000;
  t.count[history::kAllocated] = 4;
  t.sum[history::kUsed] = 3000 + 6000;
  t.count[history::kUsed] = 2;
  t.used_paired = 3000 + 6000;
  t.allocated_paired = 6000 + 8000;
  t.paired = 2;
  Efficiency e = EfficiencyOf(t);
  EXPECT_DOUBLE_EQ(*e.capacity, 16000);
  EXPECT_DOUBLE_EQ(*e.allocated, 5000);           // 20000 / 4
  EXPECT_DOUBLE_EQ(*e.used, 4500);                // 9000 / 2
  EXPECT_DOUBLE_EQ(*e.allocation_ratio, 0.3125);  // 5000 / 16000
  EXPECT_DOUBLE_EQ(*e.usage_ratio, 9.0 / 14.0);   // used / allocated where both were seen: 9000 / 14000
  history::Totals none;
  none.sum[history::kAllocated] = 10;
  none.count[history::kAllocated] = 1;
  Efficiency n = EfficiencyOf(none);
  EXPECT_FALSE(n.capacity.has_value());
  EXPECT_FALSE(n.allocation_ratio.has_value());
  EXPECT_FALSE(n.usage_ratio.has_value());
}

NodeView Node(std::string name, std::string pool, int64_t cpu, int64_t mem, int64_t free_cpu,
              int64_t free_mem) {
  NodeView n;
  n.name = std::move(name);
  n.pool = std::move(pool);
  n.capacity = {{"cpu", cpu}, {"memory", mem}};
  n.free = {{"cpu", free_cpu}, {"memory", free_mem}};
  return n;
}

QueuedRequest Req(int64_t cpu, int64_t mem, int count = 1) {
  QueuedRequest q;
  q.requests = {{"cpu", cpu}, {"memory", mem}};
  q.count = count;
  return q;
}

TEST(BottleneckTest, TheDimensionNoFeasibleNodeHasFreeBlocksTheRequest) {
  constexpr int64_t G = int64_t{1} << 30;
  // a: 8 cpu, 32 GiB, 4 cpu and 2 GiB free (pool cpu-pool); b: 4 cpu, 64 GiB, 1 cpu and 40 GiB free
  // (mem-pool).
  std::vector<NodeView> nodes = {Node("a", "cpu-pool", 8000, 32 * G, 4000, 2 * G),
                                 Node("b", "mem-pool", 4000, 64 * G, 1000, 40 * G)};
  nodes.push_back(Node("c", "", 64000, 256 * G, 64000, 256 * G));
  nodes.back().taints = {{"dedicated", "x", "NoSchedule"}};  // nobody below tolerates it
  std::vector<QueuedRequest> q = {
      Req(2000, 8 * G),   // a or b could hold it: a has the cpu free, b the memory: not blocked
      Req(2000, 36 * G),  // only b has 36 GiB at all; b has 40 GiB but 1 cpu free: blocked by cpu (mem-pool)
      Req(6000, 4 * G, 2),  // only a has 6 cpu at all; a has 4 cpu and 2 GiB free: blocked by cpu and memory
      Req(16000, G),        // only the tainted c could hold 16 cpu: infeasible
  };
  q.push_back(Req(500, G));
  q.back().quota_held = true;
  ResourceMap cap = {{"cpu", 12000}, {"memory", 96 * G}};  // schedulable a + b (c is tainted, not down)
  Bottleneck b = FindBottleneck(nodes, q, cap);
  EXPECT_EQ(b.queued, 5);
  EXPECT_EQ(b.infeasible, 1);
  EXPECT_EQ(b.held_by_quota, 1);
  // demand: cpu 2000 + 2000 + 2 x 6000 + 16000 + 500 = 32500; memory 8 + 36 + 2 x 4 + 1 + 1 = 54 GiB
  EXPECT_EQ(b.demand["cpu"], 32500);
  EXPECT_EQ(b.demand["memory"], 54 * G);
  ASSERT_EQ(b.blocked_by.size(), 2u);
  // cpu blocks two requests: 2000 + 2 x 6000 = 14000 of 12000 capacity (share 1.1667);
  // memory blocks one: 2 x 4 GiB = 8 GiB of 96 GiB (share 0.0833).
  EXPECT_EQ(b.blocked_by[0].resource, "cpu");
  EXPECT_EQ(b.blocked_by[0].requests, 2);
  EXPECT_EQ(b.blocked_by[0].demand, 14000);
  EXPECT_NEAR(b.blocked_by[0].share, 14000.0 / 12000.0, 1e-12);
  EXPECT_EQ(b.blocked_by[0].pools, (std::vector<std::string>{"cpu-pool", "mem-pool"}));
  EXPECT_EQ(b.blocked_by[1].resource, "memory");
  EXPECT_EQ(b.blocked_by[1].requests, 1);
  EXPECT_EQ(b.blocked_by[1].demand, 8 * G);
  EXPECT_NEAR(b.blocked_by[1].share, 8.0 / 96.0, 1e-12);
  EXPECT_EQ(b.blocked_by[1].pools, (std::vector<std::string>{"cpu-pool"}));
  EXPECT_EQ(b.resource, "cpu");
  // Requests of one shape are judged once and each counted: three of R2's shape block 3 x 2000 cpu.
  Bottleneck same = FindBottleneck(nodes, {q[1], q[1], q[1]}, cap);
  ASSERT_EQ(same.blocked_by.size(), 1u);
  EXPECT_EQ(same.blocked_by[0].requests, 3);
  EXPECT_EQ(same.blocked_by[0].demand, 6000);
  EXPECT_EQ(same.blocked_by[0].pools, (std::vector<std::string>{"mem-pool"}));
  // Nothing queued: no bottleneck.
  EXPECT_FALSE(FindBottleneck(nodes, {}, cap).resource.has_value());
}

TEST(CostTest, RequestsTimesHoursTimesPriceWithinTheWindow) {
  constexpr int64_t H = 3'600'000;  // one hour in ms
  std::map<std::string, double> prices = {{"cpu", 0.031}, {"memory", 0.004}, {"gpu", 2.5}};
  constexpr int64_t W = 10 * H;  // the window is [W, W + 24 h]
  std::vector<Held> held = {
      // org/a: 2 cores + 4 GiB for 10 h, all inside the window: cpu 2 x 10 x 0.031 = 0.62, memory 4 x 10 x
      // 0.004 = 0.16
      {"org/a", "train", {{"cpu", 2000}, {"memory", int64_t{4} << 30}}, 1, W, W + 10 * H},
      // org/b: a gang of 2 units of one GPU, from 2 h before the window to 3 h into it: 2 x 3 x 2.5 = 15
      {"org/b", "train", {{"gpu", 1000}, {"network", 1000}}, 2, W - 2 * H, W + 3 * H},
      // org/a, still held, 500m from 20 h on, window ends at 24 h: 0.5 x 4 x 0.031 = 0.062
      {"org/a", "", {{"cpu", 500}}, 1, W + 20 * H, -1},
      // ended before the window: nothing
      {"org/c", "x", {{"cpu", 1000}}, 1, W - 5 * H, W - H},
  };
  Cost by_tenant = CostOf(held, prices, W, W + 24 * H, false);
  ASSERT_EQ(by_tenant.items.size(), 2u);
  EXPECT_EQ(by_tenant.items[0].name, "org/b");
  EXPECT_NEAR(by_tenant.items[0].cost, 15.0, 1e-9);
  EXPECT_EQ(by_tenant.items[0].resources.count("network"), 0u);  // no price: no cost
  EXPECT_EQ(by_tenant.items[1].name, "org/a");
  EXPECT_NEAR(by_tenant.items[1].cost, 0.62 + 0.16 + 0.062, 1e-9);
  EXPECT_NEAR(by_tenant.items[1].resources["cpu"], 0.682, 1e-9);
  EXPECT_NEAR(by_tenant.total, 15.842, 1e-9);
  Cost by_workflow = CostOf(held, prices, W, W + 24 * H, true);
  ASSERT_EQ(by_workflow.items.size(), 2u);
  EXPECT_EQ(by_workflow.items[0].name, "train");
  EXPECT_NEAR(by_workflow.items[0].cost, 15.78, 1e-9);
  EXPECT_EQ(by_workflow.items[1].name, "");
  EXPECT_NEAR(by_workflow.items[1].cost, 0.062, 1e-9);
}

TEST(ForecastTest, HoltForecastAndItsOneStepErrors) {
  // A straight line is forecast exactly: y = 100 + 10 t, so every one-step prediction is right.
  std::vector<double> line;
  for (int t = 0; t < 10; t++) line.push_back(100 + 10 * t);
  auto f = ForecastOf(line, 0.5, 0.3, 3);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->forecast, (std::vector<double>{200, 210, 220}));
  EXPECT_EQ(f->points, 8);
  EXPECT_DOUBLE_EQ(*f->mae, 0);
  EXPECT_DOUBLE_EQ(*f->mape, 0);
  // y = 10, 20, 10 with alpha = beta = 0.5: Holt over {10, 20} has level 20, trend 10, so it predicts 30
  // for the third value (10): error 20, 200 %.
  auto g = ForecastOf({10, 20, 10}, 0.5, 0.5, 1);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->points, 1);
  EXPECT_DOUBLE_EQ(*g->mae, 20);
  EXPECT_DOUBLE_EQ(*g->mape, 200);
  // Zeros have no percentage error; fewer than 3 values no error at all.
  auto z = ForecastOf({0, 0, 0}, 0.5, 0.5, 1);
  EXPECT_DOUBLE_EQ(*z->mae, 0);
  EXPECT_FALSE(z->mape.has_value());
  auto two = ForecastOf({1, 2}, 0.5, 0.5, 2);
  EXPECT_FALSE(two->mae.has_value());
  EXPECT_EQ(two->forecast.size(), 2u);
  EXPECT_TRUE(ForecastOf({}, 0.5, 0.5, 2)->forecast.empty());
}

}  // namespace
}  // namespace allot::analytics
