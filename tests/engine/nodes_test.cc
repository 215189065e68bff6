// Nodes that leave and come back (src/engine/nodes.cc): a node added again under its old name takes its
// old slot back, fresh, while what ran there before still names it.
#include <functional>
#include <tuple>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

class NodesTest : public EngineTest {};

TEST_F(NodesTest, ANodeAddedAgainUnderItsNameIsFreshAndWhatRanThereStillNamesIt) {
  Make(EngineOptions{});
  AddNode("a", Cpu(4000), {{"zone", "x"}}, {{"spot", "yes", "PreferNoSchedule"}});
  AddNode("b", Cpu(2000));
  SubmitAndSchedule(Req("r1", Cpu(3000)));
  ASSERT_EQ(State("r1"), "placed");
  ASSERT_EQ(NodeOf("r1"), "a");
  ASSERT_TRUE(eng().RemoveNode("a", Sec(1)).ok());
  EXPECT_EQ(State("r1"), "preempted");
  EXPECT_FALSE(eng().Node("a").ok());
  // Back with more capacity, other labels and no taint.
  AddNode("a", Cpu(8000), {{"zone", "y"}});
  auto a = eng().Node("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->capacity.at("cpu"), 8000);
  EXPECT_EQ(a->labels.at("zone"), "y");
  EXPECT_TRUE(a->taints.empty());
  EXPECT_EQ(a->allocations, 0u);
  EXPECT_EQ(a->allocated.count("cpu") ? a->allocated.at("cpu") : 0, 0);
  EXPECT_EQ(NodeOf("r1"), "a");  // the ended allocation keeps its node's name
  SubmitAndSchedule(Req("r2", Cpu(6000)), 2);
  EXPECT_EQ(State("r2"), "placed");
  EXPECT_EQ(NodeOf("r2"), "a");
  EXPECT_EQ(eng().TotalCapacity().at("cpu"), 10000);
}

TEST_F(NodesTest, ChurnUnderRecurringNamesKeepsTotalsAndPlacementsExact) {
  Make(EngineOptions{});
  AddNode("steady", Cpu(500));
  for (int round = 0; round < 200; round++) {
    std::string name = "churn-" + std::to_string(round % 5);
    AddNode(name, Cpu(1000 + 100 * (round % 7)));
    std::string id = "w" + std::to_string(round);
    SubmitAndSchedule(Req(id, Cpu(1000 + 100 * (round % 7))), round);
    ASSERT_EQ(State(id), "placed") << round;
    ASSERT_EQ(NodeOf(id), name) << round;  // only the new node has room for it
    ASSERT_TRUE(eng().RemoveNode(name, Sec(round) + 1).ok());
    ASSERT_EQ(State(id), "preempted") << round;
  }
  EXPECT_EQ(eng().Nodes().size(), 1u);
  EXPECT_EQ(eng().TotalCapacity().at("cpu"), 500);
  SubmitAndSchedule(Req("last", Cpu(500)), 300);
  EXPECT_EQ(NodeOf("last"), "steady");
}

// ForEachNodeRow in slices: each node once, at its slot, the same rows as one whole pass, and a node
// removed and added again between slices still once (at its old slot).
TEST_F(NodesTest, RowsInSlicesVisitEachNodeOnceAtItsSlot) {
  Make(EngineOptions{});
  for (int i = 0; i < 10; i++) AddNode("n" + std::to_string(i), Cpu(1000 * (i + 1)));
  ASSERT_TRUE(eng().RemoveNode("n4", Sec(1)).ok());
  auto collect = [&](size_t slice, const std::function<void(size_t)>& between) {
    std::vector<std::tuple<std::string, uint32_t, int64_t>> rows;
    size_t parts = 0;
    for (size_t next = 0;;) {
      next = eng().ForEachNodeRow(next, slice, [&](const NodeRow& r) {
        rows.emplace_back(std::string(r.name), r.slot, r.capacity.empty() ? 0 : r.capacity[0]);
      });
      parts++;
      if (next == 0) break;
      between(next);
    }
    return std::make_pair(rows, parts);
  };
  std::vector<std::tuple<std::string, uint32_t, int64_t>> whole;
  eng().ForEachNodeRow(
      [&](const NodeRow& r) { whole.emplace_back(std::string(r.name), r.slot, r.capacity[0]); });
  ASSERT_EQ(whole.size(), 9u);  // n4 is gone
  for (size_t i = 0; i < whole.size(); i++) EXPECT_EQ(std::get<1>(whole[i]), i < 4 ? i : i + 1);
  for (size_t slice : {1, 3, 4, 10, 100}) {
    auto [rows, parts] = collect(slice, [](size_t) {});
    EXPECT_EQ(rows, whole) << "slice " << slice;
    EXPECT_EQ(parts, (10 + slice - 1) / slice) << "slice " << slice;  // slots, removed ones included
  }
  // n4 comes back while a pass is under way (after slot 2, before its slot 4) and n1 leaves after it
  // was visited: n4 is visited at its old slot, n1 once.
  auto [rows, parts] = collect(3, [&](size_t next) {
    if (next == 3) {
      AddNode("n4", Cpu(500));
      ASSERT_TRUE(eng().RemoveNode("n1", Sec(2)).ok());
    }
  });
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows[1], std::make_tuple(std::string("n1"), 1u, int64_t{2000}));
  EXPECT_EQ(rows[4], std::make_tuple(std::string("n4"), 4u, int64_t{500}));
  EXPECT_EQ(eng().ForEachNodeRow(10, 5, [](const NodeRow&) { ADD_FAILURE() << "past the last slot"; }), 0u);
}

}  // namespace
}  // namespace allot::testing
