// Engine::BeginRestore / EndRestore (src/engine/engine.cc): a restart puts its placed allocations back
// with the placement index brought up to date once at the end. Whatever comes after must be placed
// exactly as after restoring one allocation at a time: same nodes, same free amounts, for every scoring.
#include <random>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

struct Outcome {
  std::vector<std::string> placed_on;  // the node of each later request ("" if it did not fit)
  std::vector<ResourceMap> free;       // each node's free amounts after them
  std::vector<ResourceMap> free_later;  // and after the leases of the restored ones ending by then ran out
};

// 300 nodes of mixed sizes (cpu, memory, some with GPUs), 2,000 allocations restored as placed on
// nodes chosen at random (some nodes full, some untouched), then 400 new requests scheduled.
Outcome RestoreAndPlace(const std::string& scoring, bool bulk) {
  Outcome out;
  EngineOptions o;
  o.scoring = scoring;
  auto made = Engine::Create(o);
  EXPECT_TRUE(made.ok());
  Engine& e = **made;
  std::mt19937_64 rng(7);
  std::vector<ResourceMap> cap;
  for (int i = 0; i < 300; i++) {
    NodeSpec n;
    n.name = "n" + std::to_string(i);
    n.capacity = {{"cpu", 4000 + 4000 * static_cast<int64_t>(rng() % 8)},
                  {"memory", (int64_t{8} << 30) * static_cast<int64_t>(1 + rng() % 8)}};
    if (i % 5 == 0) n.capacity["gpu"] = 1000 * static_cast<int64_t>(1 + rng() % 8);
    EXPECT_TRUE(e.AddNode(n, 0).ok());
    cap.push_back(n.capacity);
  }
  std::vector<ResourceMap> left = cap;
  if (bulk) e.BeginRestore();
  for (int k = 0; k < 2000; k++) {
    size_t ni = rng() % cap.size();
    AllocationInfo a;
    a.id = "old-" + std::to_string(k);
    a.tenant = "t" + std::to_string(k % 7);
    a.state = AllocState::kPlaced;
    a.nodes = {"n" + std::to_string(ni)};
    a.requests = {{"cpu", 250 * static_cast<int64_t>(1 + rng() % 4)}, {"memory", int64_t{256} << 20}};
    if (left[ni]["cpu"] < a.requests["cpu"] || left[ni]["memory"] < a.requests["memory"]) continue;
    left[ni]["cpu"] -= a.requests["cpu"];
    left[ni]["memory"] -= a.requests["memory"];
    a.limits = a.requests;
    a.submitted = a.started = 1000;
    a.expires = k % 3 == 0 ? -1 : 3'600'000 + k;
    Status st = e.Restore(a, 2000);
    EXPECT_TRUE(st.ok()) << st.message();
  }
  if (bulk) e.EndRestore();
  for (int k = 0; k < 400; k++) {
    RequestSpec r;
    r.id = "new-" + std::to_string(k);
    r.tenant = "t" + std::to_string(k % 7);
    r.requests = {{"cpu", 500 * static_cast<int64_t>(1 + rng() % 6)},
                  {"memory", (int64_t{1} << 30) * static_cast<int64_t>(1 + rng() % 4)}};
    if (k % 9 == 0) r.requests["gpu"] = 1000;
    EXPECT_TRUE(e.Submit(r, 3000 + k).ok());
    e.Schedule(3000 + k);
    auto got = e.Get(r.id);
    out.placed_on.push_back(got.ok() && !got->nodes.empty() ? got->nodes[0] : "");
  }
  for (const auto& n : e.Nodes()) out.free.push_back(n.free);
  e.Schedule(3'601'000);
  for (const auto& n : e.Nodes()) out.free_later.push_back(n.free);
  return out;
}

TEST(BulkRestoreTest, WhatComesAfterIsPlacedAsAfterOneRestoreAtATime) {
  for (const char* scoring :
       {"least-allocated", "most-allocated", "balanced-allocation", "gpu-fragmentation"}) {
    SCOPED_TRACE(scoring);
    Outcome one = RestoreAndPlace(scoring, false);
    Outcome bulk = RestoreAndPlace(scoring, true);
    EXPECT_EQ(bulk.placed_on, one.placed_on);
    EXPECT_EQ(bulk.free, one.free);
    EXPECT_EQ(bulk.free_later, one.free_later);
    EXPECT_NE(one.free_later, one.free);  // some leases ended
    // Not vacuous: most of the later requests found a node, and not all the same one.
    size_t placed = 0;
    std::set<std::string> used;
    for (const auto& n : one.placed_on) {
      placed += !n.empty();
      used.insert(n);
    }
    EXPECT_GT(placed, 200u);
    EXPECT_GT(used.size(), 10u);
  }
}

// A placed allocation comes back as it was recorded, and one that cannot come back (a node that is gone,
// a node list that does not match its count, a duplicate id) is refused and leaves nothing behind: no
// allocation, no usage, the id free for a new request.
TEST(RestoreTest, APlacedAllocationComesBackAsRecordedAndARefusalLeavesNothing) {
  auto made = Engine::Create({});
  ASSERT_TRUE(made.ok());
  Engine& e = **made;
  NodeSpec n;
  n.name = "n0";
  n.capacity = {{"cpu", 8000}, {"memory", int64_t{16} << 30}};
  ASSERT_TRUE(e.AddNode(n, 0).ok());
  (void)e.TakeEvents();
  AllocationInfo a;
  a.id = "a1";
  a.tenant = "team/x";
  a.workflow = "wf";
  a.priority = 3;
  a.state = AllocState::kPlaced;
  a.nodes = {"n0"};
  a.requests = {{"cpu", 2000}, {"memory", int64_t{1} << 30}};
  a.limits = {{"cpu", 4000}, {"memory", int64_t{1} << 30}};
  a.submitted = 500;
  a.started = 1000;
  a.expires = 61000;
  a.ttl = true;
  ASSERT_TRUE(e.Restore(a, 2000).ok());
  auto got = e.Get("a1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, AllocState::kPlaced);
  EXPECT_EQ(got->tenant, "team/x");
  EXPECT_EQ(got->workflow, "wf");
  EXPECT_EQ(got->priority, 3);
  EXPECT_EQ(got->nodes, std::vector<std::string>{"n0"});
  EXPECT_EQ(got->requests, a.requests);
  EXPECT_EQ(got->limits, a.limits);
  EXPECT_EQ(got->submitted, 500);
  EXPECT_EQ(got->started, 1000);
  EXPECT_EQ(got->expires, 61000);
  EXPECT_TRUE(got->ttl);
  EXPECT_TRUE(e.TakeEvents().empty());  // old news: no submitted or placed event

  auto free_cpu = [&] { return e.Nodes()[0].free.at("cpu"); };
  ASSERT_EQ(free_cpu(), 6000);
  AllocationInfo gone = a;
  gone.id = "a2";
  gone.nodes = {"n9"};
  Status st = e.Restore(gone, 2000);
  EXPECT_EQ(st.code(), ErrorCode::kNotFound);
  EXPECT_NE(st.message().find("n9"), std::string::npos) << st.message();
  AllocationInfo gang = a;
  gang.id = "a3";
  gang.count = 2;
  EXPECT_EQ(e.Restore(gang, 2000).code(), ErrorCode::kInvalidArgument);
  AllocationInfo dup = a;
  EXPECT_EQ(e.Restore(dup, 2000).code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(e.Get("a2").ok());
  EXPECT_FALSE(e.Get("a3").ok());
  EXPECT_EQ(free_cpu(), 6000);
  size_t running = 0, queued = 0;
  for (const auto& t : e.Tenants()) {
    running += t.running;
    queued += t.queued;
  }
  EXPECT_EQ(running, 1u);
  EXPECT_EQ(queued, 0u);
  RequestSpec r;
  r.id = "a2";
  r.requests = {{"cpu", 1000}};
  EXPECT_TRUE(e.Submit(r, 3000).ok());
  e.Schedule(3000);
  EXPECT_EQ(e.Get("a2")->state, AllocState::kPlaced);
  EXPECT_EQ(free_cpu(), 5000);
}

}  // namespace
}  // namespace allot::testing
