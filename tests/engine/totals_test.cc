// Engine::TotalAllocated and TotalCapacity are kept incrementally (usage and node changes update
// them); after every step of a random mix of node and allocation changes they must equal the sums
// over the up nodes that Engine::Nodes() reports, and ForEachResourceTotal must say the same.
#include <random>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

ResourceMap SumUp(const std::vector<NodeInfo>& nodes, bool capacity) {
  ResourceMap out;
  for (const auto& n : nodes) {
    if (!n.up) continue;
    for (const auto& [k, v] : capacity ? n.capacity : n.allocated) out[k] += v;
  }
  for (auto it = out.begin(); it != out.end();) it = it->second == 0 ? out.erase(it) : std::next(it);
  return out;
}

TEST_F(EngineTest, TotalsFollowEveryUsageAndNodeChange) {
  Make({});
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const int kNodes = 12;
  for (int i = 0; i < kNodes; i++)
    AddNode("n" + std::to_string(i), {{"cpu", 8000}, {"memory", 32 * kGi}, {"gpu", 2}}, {}, {},
            i % 3 == 0 ? ResourceMap{{"cpu", 500}} : ResourceMap{});
  std::vector<std::string> live;
  double t = 1;
  for (int step = 0; step < 600; step++, t += 1) {
    std::string node = "n" + std::to_string(pick(kNodes));
    switch (pick(8)) {
      case 0: case 1: case 2: {
        auto r = Req("", {{"cpu", 250 * (1 + pick(8))}, {"memory", kGi * (1 + pick(4))}, {"gpu", pick(2)}});
        auto st = eng().Submit(r, Sec(t));
        ASSERT_TRUE(st.ok()) << st.error().message;
        live.push_back(eng().LastId());
        break;
      }
      case 3: case 4:
        if (!live.empty()) {
          size_t k = static_cast<size_t>(pick(static_cast<int>(live.size())));
          (void)eng().Release(live[k], Sec(t));  // may be queued or already preempted
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
        }
        break;
      case 5: {
        NodeSpec n;
        n.name = node;
        n.capacity = {{"cpu", 4000 + 1000 * pick(8)}, {"memory", 32 * kGi}, {"gpu", 2}};
        n.allocated = {{"cpu", 100 * pick(5)}, {"memory", kMi * pick(100)}};
        // A removed node comes back under its old name (and takes its old slot back).
        if (auto st = eng().UpdateNode(n, Sec(t)); !st.ok() && st.error().code == ErrorCode::kNotFound) {
          ASSERT_TRUE(eng().AddNode(n, Sec(t)).ok()) << "step " << step;
        }
        break;
      }
      case 6:
        (void)(pick(2) ? eng().SetNodeDown(node, Sec(t)) : eng().SetNodeUp(node, Sec(t)));
        break;
      case 7:
        if (pick(10) == 0) (void)eng().RemoveNode(node, Sec(t));
        else (void)eng().DrainNode(node, Sec(t));
        break;
    }
    eng().Schedule(Sec(t));
    auto nodes = eng().Nodes();
    ASSERT_EQ(eng().TotalAllocated(), SumUp(nodes, false)) << "step " << step;
    ASSERT_EQ(eng().TotalCapacity(), SumUp(nodes, true)) << "step " << step;
    // The same totals resource by resource, zeros included, in ResourceNames() order.
    std::vector<std::string> names;
    ResourceMap cap, alloc;
    eng().ForEachResourceTotal([&](std::string_view name, int64_t c, int64_t a) {
      names.emplace_back(name);
      if (c) cap[std::string(name)] = c;
      if (a) alloc[std::string(name)] = a;
    });
    ASSERT_EQ(names, eng().ResourceNames()) << "step " << step;
    ASSERT_EQ(cap, SumUp(nodes, true)) << "step " << step;
    ASSERT_EQ(alloc, SumUp(nodes, false)) << "step " << step;
  }
}

}  // namespace
}  // namespace allot::testing
