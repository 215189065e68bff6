// Nodes that leave and come back (src/engine/nodes.cc): a node added again under its old name takes its
// old slot back, fresh, while what ran there before still names it.
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

}  // namespace
}  // namespace allot::testing
