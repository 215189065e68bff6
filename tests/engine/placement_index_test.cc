// The placement index against a full scan. Two engines see the same random cluster and the same random
// stream of requests, releases and node changes: one with explanations on, which filters and scores
// every node exactly (the brute-force scan), one without, which searches through the index. Every event
// (each placement with its nodes, each preemption and rejection) must be the same, for every scorer, with
// and without backfill (strict FCFS holds nodes, which the index leaves to the flat scan), with tenants,
// leases and reservations (requests that no reservation applies to read free amounts outside them), on
// clusters small and large enough for a tree of several levels (16 blocks of 32 nodes per tree node).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "allot/engine.h"

namespace allot {
namespace {

constexpr int64_t kGi = 1LL << 30;

class Twin {
 public:
  explicit Twin(const EngineOptions& o) {
    auto scan = Engine::Create(o);
    auto index = Engine::Create(o);
    EXPECT_TRUE(scan.ok() && index.ok());
    scan_ = std::move(scan.value());
    index_ = std::move(index.value());
    scan_->SetExplain(true);
  }

  // Runs `f` on both engines and expects the same status.
  template <typename F>
  void Both(F f) {
    Status a = f(*scan_), b = f(*index_);
    ASSERT_EQ(a.ok(), b.ok()) << a.message() << " / " << b.message();
  }

  // Compares what both engines did since the last call; returns false (with a failure) at the first
  // difference.
  bool Same(const std::string& step) {
    auto a = scan_->TakeEvents(), b = index_->TakeEvents();
    (void)scan_->TakeExplanations();
    EXPECT_EQ(a.size(), b.size()) << step;
    for (size_t i = 0; i < a.size() && i < b.size(); i++) {
      bool same = a[i].type == b[i].type && a[i].id == b[i].id && a[i].node == b[i].node;
      EXPECT_TRUE(same) << step << ": event " << i << ": scan " << EventTypeName(a[i].type) << " " << a[i].id
                        << " on " << a[i].node << ", index " << EventTypeName(b[i].type) << " " << b[i].id
                        << " on " << b[i].node;
      if (!same) return false;
    }
    return a.size() == b.size();
  }

 private:
  std::unique_ptr<Engine> scan_, index_;
};

struct Mix {
  int nodes;
  int steps;
};

// Tenants of the requests, and of the reservations (usable by their tenant's subtree): requests of "a",
// "a/y" and "c" may use none of them.
const char* const kTenants[] = {"a", "a/x", "a/y", "b/z", "c"};
const char* const kHolders[] = {"a/x", "b/z"};

class RandomCluster {
 public:
  RandomCluster(uint64_t seed, Twin& twin) : rng_(seed), twin_(twin) {}

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

  NodeSpec MakeNode(const std::string& name) {
    static const int64_t kShapes[][3] = {{8000, 32, 0}, {16000, 64, 0}, {32000, 128, 0}, {64000, 256, 8}};
    NodeSpec n;
    n.name = name;
    if (Pick(10) < 7) {
      const auto& s = kShapes[Pick(4)];
      n.capacity = {{"cpu", s[0]}, {"memory", s[1] * kGi}};
      if (s[2] > 0) n.capacity["gpu"] = s[2] * 1000;
    } else {
      n.capacity = {{"cpu", 250 * (1 + Pick(200))}, {"memory", kGi / 4 * (1 + Pick(800)) + Pick(1000)}};
      if (Pick(4) == 0) n.capacity["gpu"] = 1000 * (1 + Pick(4));
    }
    if (Pick(25) == 0) n.capacity.erase("memory");  // a node the score bound does not cover
    n.capacity["db-connections"] = 50 + Pick(200);
    n.labels = {{"zone", std::string(1, static_cast<char>('a' + Pick(3)))}};
    if (Pick(10) == 0) n.taints.push_back({"dedicated", "infra", "NoSchedule"});
    if (Pick(20) == 0) n.taints.push_back({"spot", "", "PreferNoSchedule"});
    if (Pick(5) != 0) {
      // Busy nodes without thousands of requests: work allot does not manage, up to the whole node.
      int64_t cpu = n.capacity["cpu"] * Pick(101) / 100 / 50 * 50;
      n.allocated = {{"cpu", cpu}};
      if (n.capacity.count("memory")) n.allocated["memory"] = n.capacity["memory"] / 100 * Pick(101);
    }
    return n;
  }

  RequestSpec MakeRequest(const std::string& id) {
    // Mostly shapes that repeat (the index keeps their bounds), some one-off ones.
    static const int64_t kPool[][3] = {{500, 1, 0},   {2000, 4, 0},    {4000, 8, 0},
                                       {8000, 16, 0}, {1000, 2, 1000}, {250, 0, 0}};
    RequestSpec r;
    r.id = id;
    if (Pick(10) < 7) {
      const auto& p = kPool[Pick(6)];
      r.requests = {{"cpu", p[0]}};
      if (p[1] > 0) r.requests["memory"] = p[1] * kGi;  // none: kube-scheduler's non-zero default
      if (p[2] > 0) r.requests["gpu"] = p[2];
    } else {
      r.requests = {{"cpu", 50 * Pick(160)}, {"memory", kGi / 8 * Pick(100) + Pick(1000)}};
      if (Pick(8) == 0) r.requests["gpu"] = Pick(2) ? 500 : 1000 * (1 + Pick(2));
      if (Pick(10) == 0) r.requests.erase("cpu");
    }
    if (Pick(5) == 0) r.requests["db-connections"] = 1 + Pick(20);
    if (Pick(10) == 0) r.selector = {{"zone", "a"}};
    if (Pick(8) == 0) r.tolerations.push_back({"dedicated", "infra", "Equal", ""});
    if (Pick(20) == 0) {
      r.count = 2 + Pick(3);
      r.spread = Pick(2) == 0;
    }
    r.priority = 1 + Pick(3);
    r.preemptible = true;
    r.tenant = kTenants[Pick(5)];
    if (Pick(6) == 0) r.duration = 1000 * (1 + Pick(60));  // a lease: ends, and misses later reservations
    return r;
  }

  // Builds the cluster and runs `steps` random steps; stops at the first difference.
  void Run(int nodes, int steps) {
    for (int i = 0; i < nodes; i++) {
      NodeSpec n = MakeNode("n" + std::to_string(i));
      twin_.Both([&](Engine& e) { return e.AddNode(n, 0); });
    }
    // Reservations on about one node in twenty, now or soon, for a good while.
    for (int i = 0; i < nodes / 20 + 1; i++) {
      ReservationSpec r;
      r.id = "early" + std::to_string(i);
      r.tenant = kHolders[Pick(2)];
      r.start = 1000 * Pick(2) * Pick(50);
      r.end = r.start + 1000 * (50 + Pick(400));
      r.requests = {{"cpu", 250 * (1 + Pick(16))}};
      r.nodes = {"n" + std::to_string(Pick(nodes))};
      twin_.Both([&](Engine& e) {
        (void)e.Reserve(r, 0);  // may conflict
        return Status::Ok();
      });
    }
    ASSERT_TRUE(twin_.Same("nodes"));
    std::vector<std::string> live;
    int next_node = nodes;
    for (int step = 0; step < steps; step++) {
      TimeMs now = 1000 * (step + 1);
      std::string node = "n" + std::to_string(Pick(next_node));
      int what = Pick(100);
      if (what < 55) {
        RequestSpec r = MakeRequest("r" + std::to_string(step));
        twin_.Both([&](Engine& e) { return e.Submit(r, now).status(); });
        live.push_back(r.id);
      } else if (what < 88) {
        if (!live.empty()) {
          size_t k = static_cast<size_t>(Pick(static_cast<int>(live.size())));
          twin_.Both([&](Engine& e) {
            (void)e.Release(live[k], now);  // may have been preempted already
            return Status::Ok();
          });
          live[k] = live.back();
          live.pop_back();
        }
      } else if (what < 92) {
        bool down = Pick(2) == 0;
        twin_.Both([&](Engine& e) { return down ? e.SetNodeDown(node, now) : e.SetNodeUp(node, now); });
      } else if (what < 94) {
        twin_.Both([&](Engine& e) { return e.DrainNode(node, now); });
      } else if (what < 96) {
        NodeSpec n = MakeNode(node);
        twin_.Both([&](Engine& e) { return e.UpdateNode(n, now); });
      } else if (what < 98) {
        // A reservation on one node, now or later, for a while; or one of them ended early.
        ReservationSpec r;
        r.id = "res" + std::to_string(step);
        r.tenant = kHolders[Pick(2)];
        r.start = now + 1000 * Pick(3) * Pick(20);
        r.end = r.start + 1000 * (1 + Pick(40));
        r.requests = {{"cpu", 250 * (1 + Pick(16))}};
        r.nodes = {node};
        if (Pick(4) == 0 && step > 0) {
          std::string gone = "res" + std::to_string(Pick(step));
          twin_.Both([&](Engine& e) {
            (void)e.Unreserve(gone, now);  // may not exist
            return Status::Ok();
          });
        } else {
          twin_.Both([&](Engine& e) {
            (void)e.Reserve(r, now);  // may conflict
            return Status::Ok();
          });
        }
      } else {
        NodeSpec n = MakeNode("n" + std::to_string(next_node++));
        twin_.Both([&](Engine& e) { return e.AddNode(n, now); });
      }
      twin_.Both([&](Engine& e) {
        e.Schedule(now);
        return Status::Ok();
      });
      if (!twin_.Same("step " + std::to_string(step))) return;
    }
  }

 private:
  std::mt19937_64 rng_;
  Twin& twin_;
};

struct Case {
  const char* scoring;
  bool backfill;
  bool weights;
  const char* fair_share = "none";
};

class PlacementIndexTest : public ::testing::TestWithParam<Case> {};

TEST_P(PlacementIndexTest, ChoosesWhatAFullScanChooses) {
  const Case& c = GetParam();
  EngineOptions o;
  o.scoring = c.scoring;
  o.backfill = c.backfill;
  o.fair_share = c.fair_share;
  if (c.weights) o.weights = {{"cpu", 2}, {"memory", 1}, {"gpu", 3}, {"db-connections", 1}};
  if (o.scoring == "requested-to-capacity-ratio") o.shape = {{0, 0}, {50, 10}, {100, 3}};
  // Small clusters (one or two tree levels) and one of 9,000 nodes (four levels).
  const Mix mixes[] = {{20, 300}, {300, 400}, {700, 300}, {9000, 120}};
  uint64_t seed = 1;
  for (const Mix& m : mixes) {
    SCOPED_TRACE("nodes " + std::to_string(m.nodes));
    Twin twin(o);
    RandomCluster cluster(seed++ * 7919 + (c.backfill ? 1 : 0), twin);
    cluster.Run(m.nodes, m.steps);
    if (HasFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryScorer, PlacementIndexTest,
    ::testing::Values(Case{"most-allocated", true, false}, Case{"most-allocated", false, false},
                      Case{"most-allocated", true, true}, Case{"least-allocated", true, false},
                      Case{"least-allocated", false, true}, Case{"balanced-allocation", true, false},
                      Case{"requested-to-capacity-ratio", true, false},
                      Case{"requested-to-capacity-ratio", false, true},
                      Case{"gpu-fragmentation", true, false}, Case{"most-allocated", true, false, "drf"}),
    [](const ::testing::TestParamInfo<Case>& param) {
      std::string n = param.param.scoring;
      for (char& ch : n)
        if (ch == '-') ch = '_';
      return n + (param.param.backfill ? "_backfill" : "_fcfs") + (param.param.weights ? "_weights" : "") +
             "_" + param.param.fair_share;
    });

}  // namespace
}  // namespace allot
