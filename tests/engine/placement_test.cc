// Filters, tie-breaks, queue order, leases, releases, wait timeouts and node state changes.
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

class PlacementTest : public EngineTest {
 protected:
  void SetUp() override { Make(EngineOptions{}); }
};

TEST_F(PlacementTest, FilterReasons) {
  AddNode("small", CpuMem(1000, 8 * kGi), {{"zone", "a"}});
  AddNode("other-zone", CpuMem(8000, 8 * kGi), {{"zone", "b"}});
  AddNode("tainted", CpuMem(8000, 8 * kGi), {{"zone", "a"}}, {{"dedicated", "ml", "NoSchedule"}});
  AddNode("down", CpuMem(8000, 8 * kGi), {{"zone", "a"}});
  AddNode("draining", CpuMem(8000, 8 * kGi), {{"zone", "a"}});
  AddNode("fits", CpuMem(8000, 8 * kGi), {{"zone", "a"}});
  ASSERT_TRUE(eng().SetNodeDown("down", 0).ok());
  ASSERT_TRUE(eng().DrainNode("draining", 0).ok());
  auto r = Req("p", CpuMem(2000, kGi));
  r.selector = {{"zone", "a"}};
  SubmitAndSchedule(r);
  auto f = Filtered("p");
  EXPECT_EQ(f.at("small"), "Insufficient cpu");
  EXPECT_EQ(f.at("other-zone"), "node didn't match the node selector (zone=a)");
  EXPECT_EQ(f.at("tainted"), "node had untolerated taint {dedicated: ml}");
  EXPECT_EQ(f.at("down"), "node is down");
  EXPECT_EQ(f.at("draining"), "node is draining");
  EXPECT_EQ(f.count("fits"), 0u);
  EXPECT_EQ(NodeOf("p"), "fits");
}

TEST_F(PlacementTest, TolerationsAndPreferNoSchedule) {
  AddNode("hard", Cpu(4000), {}, {{"gpu", "true", "NoSchedule"}});
  AddNode("soft", Cpu(4000), {}, {{"spot", "", "PreferNoSchedule"}});
  // PreferNoSchedule never filters; `hard` needs a toleration.
  SubmitAndSchedule(Req("plain", Cpu(1000)));
  EXPECT_EQ(NodeOf("plain"), "soft");
  auto t = Req("tol", Cpu(4000));
  t.tolerations = {{"gpu", "true", "Equal", "NoSchedule"}};
  SubmitAndSchedule(t, 1);
  EXPECT_EQ(NodeOf("tol"), "hard");
  auto e = Req("exists", Cpu(1000));
  e.tolerations = {{"gpu", "", "Exists", ""}};
  SubmitAndSchedule(e, 2);
  // hard is full (4000 of 4000); soft has 3000 free.
  EXPECT_EQ(NodeOf("exists"), "soft");
  auto wrong = Req("wrong-value", Cpu(1000));
  wrong.tolerations = {{"gpu", "false", "Equal", ""}};
  wrong.selector = {};
  SubmitAndSchedule(wrong, 3);
  EXPECT_EQ(Filtered("wrong-value").at("hard"), "node had untolerated taint {gpu: true}");
}

TEST_F(PlacementTest, EqualScoresGoToTheNodeAddedFirst) {
  AddNode("zeta", CpuMem(4000, 8 * kGi));
  AddNode("alpha", CpuMem(4000, 8 * kGi));
  AddNode("mid", CpuMem(4000, 8 * kGi));
  SubmitAndSchedule(Req("p", CpuMem(1000, kGi)));
  // all three: cpu 75, memory (8-1)*100/8 = 87 -> (75+87)/2 = 81
  EXPECT_EQ(Scores("p"), (ScoreMap{{"alpha", 81}, {"mid", 81}, {"zeta", 81}}));
  EXPECT_EQ(NodeOf("p"), "zeta");
}

TEST_F(PlacementTest, QueueOrderIsPriorityThenFifo) {
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("blocker", Cpu(1000)));
  Submit(Req("low-1", Cpu(1000), 1), 1);
  Submit(Req("normal-1", Cpu(1000), 2), 2);
  Submit(Req("high-1", Cpu(1000), 3), 3);
  Submit(Req("normal-2", Cpu(1000), 2), 4);
  Submit(Req("high-2", Cpu(1000), 3), 5);
  Schedule(5);
  std::vector<std::string> order;
  for (double t = 10; t < 20; t++) {
    // Release whatever runs; the next in policy order takes the node.
    std::vector<std::string> running;
    eng().ForEachAllocation([&](const AllocationInfo& a) {
      if (a.state == AllocState::kPlaced) running.push_back(a.id);
    });
    for (const auto& id : running) ASSERT_TRUE(eng().Release(id, Sec(t)).ok());
    Schedule(t);
    eng().ForEachAllocation([&](const AllocationInfo& a) {
      if (a.state == AllocState::kPlaced) order.push_back(a.id);
    });
  }
  EXPECT_EQ(order, (std::vector<std::string>{"high-1", "high-2", "normal-1", "normal-2", "low-1"}));
}

TEST_F(PlacementTest, LeaseEndsAtTheExactTimeAndFreesCapacity) {
  AddNode("n", Cpu(2000));
  auto a = Req("a", Cpu(2000));
  a.duration = Sec(30);
  SubmitAndSchedule(a, 5);
  SubmitAndSchedule(Req("b", Cpu(2000)), 6);
  EXPECT_EQ(State("b"), "queued");
  // started 5 s + duration 30 s = 35 s
  ASSERT_TRUE(eng().NextWakeup().has_value());
  EXPECT_EQ(*eng().NextWakeup(), Sec(35));
  Schedule(35);
  EXPECT_EQ(State("a"), "completed");
  EXPECT_EQ(Get("a").ended, Sec(35));
  EXPECT_EQ(State("b"), "placed");
  EXPECT_EQ(Get("b").started, Sec(35));
}

TEST_F(PlacementTest, ReleaseOfQueuedAndPlaced) {
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("run", Cpu(1000)));
  SubmitAndSchedule(Req("wait", Cpu(1000)), 1);
  SubmitAndSchedule(Req("next", Cpu(1000)), 2);
  ASSERT_TRUE(eng().Release("wait", Sec(3)).ok());
  EXPECT_EQ(State("wait"), "released");
  EXPECT_EQ(Get("wait").reason, "released while queued");
  ASSERT_TRUE(eng().Release("run", Sec(4)).ok());
  Schedule(4);
  EXPECT_EQ(State("run"), "released");
  EXPECT_EQ(Get("run").ended, Sec(4));
  EXPECT_EQ(State("next"), "placed");
  EXPECT_EQ(eng().QueueDepth(), 0u);
  // Releasing twice or an unknown id fails.
  EXPECT_FALSE(eng().Release("run", Sec(5)).ok());
  EXPECT_EQ(eng().Release("nope", Sec(5)).code(), ErrorCode::kNotFound);
}

TEST_F(PlacementTest, WaitTimeoutRejectsWithReason) {
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("hog", Cpu(1000)));
  auto w = Req("impatient", Cpu(500));
  w.wait = Sec(20);
  SubmitAndSchedule(w, 10);
  // submitted 10 s + wait 20 s = deadline 30 s
  EXPECT_EQ(*eng().NextWakeup(), Sec(30));
  Schedule(29);
  EXPECT_EQ(State("impatient"), "queued");
  Schedule(30);
  auto info = Get("impatient");
  EXPECT_EQ(AllocStateName(info.state), std::string("rejected"));
  EXPECT_EQ(info.ended, Sec(30));
  EXPECT_NE(info.reason.find("waited 20s without being placed"), std::string::npos) << info.reason;
  EXPECT_NE(info.reason.find("Insufficient cpu"), std::string::npos) << info.reason;
}

TEST_F(PlacementTest, NodeDownPreemptsItsAllocations) {
  AddNode("n1", Cpu(1000));
  AddNode("n2", Cpu(1000));
  SubmitAndSchedule(Req("a", Cpu(1000)));
  SubmitAndSchedule(Req("b", Cpu(1000)));
  ASSERT_EQ(NodeOf("a"), "n1");
  ASSERT_TRUE(eng().SetNodeDown("n1", Sec(10)).ok());
  auto info = Get("a");
  EXPECT_EQ(AllocStateName(info.state), std::string("preempted"));
  EXPECT_EQ(info.reason, "node n1 went down");
  EXPECT_EQ(info.ended, Sec(10));
  EXPECT_EQ(State("b"), "placed");
  // The node's capacity leaves the cluster while it is down.
  EXPECT_EQ(eng().TotalCapacity().at("cpu"), 1000);
  SubmitAndSchedule(Req("c", Cpu(1000)), 11);
  EXPECT_EQ(State("c"), "queued");
  ASSERT_TRUE(eng().SetNodeUp("n1", Sec(12)).ok());
  Schedule(12);
  EXPECT_EQ(NodeOf("c"), "n1");
}

TEST_F(PlacementTest, DrainKeepsRunningWorkButTakesNoNewWork) {
  AddNode("n1", Cpu(2000));
  AddNode("n2", Cpu(2000));
  SubmitAndSchedule(Req("a", Cpu(1000)));
  ASSERT_EQ(NodeOf("a"), "n1");
  ASSERT_TRUE(eng().DrainNode("n1", Sec(1)).ok());
  SubmitAndSchedule(Req("b", Cpu(1000)), 2);
  EXPECT_EQ(State("a"), "placed");
  EXPECT_EQ(NodeOf("b"), "n2");
  EXPECT_EQ(Filtered("b").at("n1"), "node is draining");
  SubmitAndSchedule(Req("c", Cpu(1500)), 3);
  EXPECT_EQ(State("c"), "queued");
}

TEST_F(PlacementTest, RequestThatCanNeverFitSaysSo) {
  AddNode("n", Cpu(1000));
  SubmitAndSchedule(Req("huge", Cpu(5000)));
  EXPECT_EQ(State("huge"), "queued");
  EXPECT_NE(Get("huge").reason.find("no node can ever fit it"), std::string::npos) << Get("huge").reason;
}

TEST_F(PlacementTest, SubmitValidation) {
  AddNode("n", Cpu(1000));
  Submit(Req("x", Cpu(100)));
  EXPECT_EQ(eng().Submit(Req("x", Cpu(100)), 0).error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(eng().Submit(Req("neg", Cpu(-1)), 0).ok());
  EXPECT_FALSE(eng().Submit(Req("empty", {}), 0).ok());
  auto d = Req("zero-duration", Cpu(1));
  d.duration = 0;
  EXPECT_FALSE(eng().Submit(d, 0).ok());
}

TEST_F(PlacementTest, QosClasses) {
  EXPECT_EQ(ComputeQos({}, {}), QosClass::kBestEffort);
  EXPECT_EQ(ComputeQos(CpuMem(1000, kGi), CpuMem(1000, kGi)), QosClass::kGuaranteed);
  EXPECT_EQ(ComputeQos(CpuMem(500, kGi), CpuMem(1000, kGi)), QosClass::kBurstable);
  EXPECT_EQ(ComputeQos(Cpu(500), {}), QosClass::kBurstable);
}

}  // namespace
}  // namespace allot::testing
