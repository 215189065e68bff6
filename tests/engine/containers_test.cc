// The engine's small containers against plain references: the id index under insert/erase churn (its
// backward-shift deletion must keep every id reachable), the compact id, interned request shapes, and
// the placement index's tree of most-free amounts.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/block_keys.h"
#include "engine/placement_index.h"
#include "engine/state.h"

namespace allot {
namespace {

TEST(IdIndexTest, ChurnKeepsEveryIdFindable) {
  std::vector<std::string> ids;  // by allocation index
  IdIndex index(&ids, [](const void* ctx, uint32_t ai) -> std::string_view {
    return (*static_cast<const std::vector<std::string>*>(ctx))[ai];
  });
  std::unordered_map<std::string, uint32_t> ref;
  std::mt19937_64 rng(3);
  std::vector<uint32_t> live;
  for (int step = 0; step < 200000; step++) {
    // Grows to a few thousand ids, then churns around that size (inserts and erases at random).
    bool insert = live.size() < 3000 ? rng() % 4 != 0 : rng() % 2 == 0;
    if (insert || live.empty()) {
      uint32_t ai = static_cast<uint32_t>(ids.size());
      ids.push_back("id-" + std::to_string(rng() % 1000000000));
      if (ref.count(ids[ai])) continue;
      index.Insert(ai);
      ref[ids[ai]] = ai;
      live.push_back(ai);
    } else {
      size_t k = rng() % live.size();
      index.Erase(ids[live[k]]);
      ref.erase(ids[live[k]]);
      live[k] = live.back();
      live.pop_back();
    }
    if (step % 997 == 0) {
      ASSERT_EQ(index.size(), ref.size());
      for (const auto& [id, ai] : ref) ASSERT_EQ(index.Find(id), ai) << id << " at step " << step;
      ASSERT_EQ(index.Find("id-missing"), kNone);
    }
  }
}

TEST(CompactIdTest, ShortInlineAndLongOnTheHeap) {
  CompactId a("r1234567"), b(std::string(40, 'x')), c("exactly-15-char");
  EXPECT_EQ(a.view(), "r1234567");
  EXPECT_EQ(b.view(), std::string(40, 'x'));
  EXPECT_EQ(c.view(), "exactly-15-char");
  CompactId d = std::move(b);
  EXPECT_EQ(d.view(), std::string(40, 'x'));
  EXPECT_TRUE(b.empty());  // NOLINT: moved-from is empty by contract
  d = CompactId("");
  EXPECT_TRUE(d.empty());
}

TEST(RequestShapesTest, EqualRequestsShareAShapeAndUnusedOnesAreSwept) {
  RequestShapes shapes;
  SmallRes r;
  r.Set(0, 500);
  r.Set(1, 1 << 30);
  RequestRef a = shapes.Intern(r), b = shapes.Intern(r);
  EXPECT_EQ(a.shape_id(), b.shape_id());
  EXPECT_EQ(a.Get(0), 500);
  EXPECT_EQ(a.Get(1), 1 << 30);
  EXPECT_FALSE(a.Has(2));
  {
    // 1,000 one-off shapes, dropped at once: the table sweeps them instead of growing without end.
    for (int i = 0; i < 1000; i++) {
      SmallRes x;
      x.Set(0, 1000 + i);
      RequestRef once = shapes.Intern(x);
    }
  }
  EXPECT_LT(shapes.size(), 200u);
  RequestRef c = shapes.Intern(r);
  EXPECT_EQ(c.shape_id(), a.shape_id());  // held shapes survive sweeps
}

TEST(BlockTreeTest, MostFreeFollowsEveryChange) {
  engine::BlockTree tree;
  std::mt19937_64 rng(5);
  size_t blocks = 1;
  std::vector<int64_t> ref(5000, -1);
  tree.Resize(blocks, 1);
  for (int step = 0; step < 20000; step++) {
    if (step % 50 == 0 && blocks < ref.size()) tree.Resize(++blocks, 1);  // re-layouts on the way
    uint32_t b = static_cast<uint32_t>(rng() % blocks);
    int64_t v = static_cast<int64_t>(rng() % 1000) - 1;
    tree.SetBlockMaxFree(0, b, v);
    ref[b] = v;
    if (step % 101 == 0) {
      // Every tree node holds the most of the blocks below it.
      for (size_t l = 0; l < tree.levels(); l++) {
        uint64_t span = 1;
        for (size_t k = 0; k < l; k++) span *= engine::BlockTree::kFanout;
        for (uint32_t i = 0; i < tree.width(l); i++) {
          int64_t most = -1;
          for (uint64_t x = i * span; x < (i + 1) * span && x < blocks; x++) most = std::max(most, ref[x]);
          ASSERT_EQ(tree.max_free(l, 0, i), most) << "level " << l << " node " << i << " step " << step;
        }
      }
    }
  }
}

// The AVX2 and portable kernels give the same keys, and each key is an upper bound on the exact
// most-/least-allocated score that floors to it (checked here against kube-scheduler's integer formula).
TEST(BlockKeysTest, BothBuildsAgreeAndBoundTheIntegerScore) {
  std::mt19937_64 rng(11);
  constexpr uint32_t kN = engine::kKernelBlock * 4;
  std::vector<std::vector<int64_t>> free(3, std::vector<int64_t>(kN));
  std::vector<std::vector<double>> used(2, std::vector<double>(kN)), inv(2, std::vector<double>(kN));
  std::vector<int64_t> cap(2 * kN), use(2 * kN);
  std::vector<double> bias(kN);
  for (int round = 0; round < 200; round++) {
    for (uint32_t i = 0; i < kN; i++) {
      for (int k = 0; k < 2; k++) {
        cap[k * kN + i] = 1 + static_cast<int64_t>(rng() % 64000);
        use[k * kN + i] = static_cast<int64_t>(rng() % (cap[k * kN + i] + 1));
        used[k][i] = static_cast<double>(use[k * kN + i]);
        inv[k][i] = 100.0 / static_cast<double>(cap[k * kN + i]);
        free[k][i] = cap[k * kN + i] - use[k * kN + i];
      }
      free[2][i] = static_cast<int64_t>(rng() % 10);
      bias[i] = rng() % 10 == 0 ? engine::kExcludedBias : 0.0;
    }
    engine::KernelInput in;
    in.n_req = 3;
    int64_t pod[2] = {static_cast<int64_t>(rng() % 4000), static_cast<int64_t>(rng() % 4000)};
    for (int r = 0; r < 3; r++) {
      in.free[r] = free[r].data();
      in.need[r] = r < 2 ? pod[r] : 3;
    }
    in.n_dims = 2;
    int64_t w[2] = {1 + static_cast<int64_t>(rng() % 3), 1};
    for (int k = 0; k < 2; k++) {
      in.used[k] = used[k].data();
      in.inv[k] = inv[k].data();
      in.pod[k] = static_cast<double>(pod[k]);
      in.weight[k] = static_cast<double>(w[k]);
    }
    in.inv_wsum = 1.0 / static_cast<double>(w[0] + w[1]);
    in.packing = round % 2 == 0;
    in.bias = bias.data();
    for (uint32_t lo = 0; lo < kN; lo += engine::kKernelBlock) {
      double a[engine::kKernelBlock], b[engine::kKernelBlock];
      double ma = engine::BlockKeysPortable(in, lo, a);
      if (__builtin_cpu_supports("avx2")) {
        double mb = engine::BlockKeysAvx2(in, lo, b);
        EXPECT_EQ(ma, mb);
        for (uint32_t j = 0; j < engine::kKernelBlock; j++) EXPECT_EQ(a[j], b[j]) << j;
      }
      for (uint32_t j = 0; j < engine::kKernelBlock; j++) {
        uint32_t i = lo + j;
        bool fits = bias[i] == 0 && free[0][i] >= pod[0] && free[1][i] >= pod[1] && free[2][i] >= 3;
        if (!fits) {
          EXPECT_EQ(a[j], -1);
          continue;
        }
        int64_t sum = 0;
        for (int k = 0; k < 2; k++) {
          int64_t c = cap[k * kN + i], r = use[k * kN + i] + pod[k];
          sum += w[k] * (in.packing ? std::min(r, c) * 100 / c : (r > c ? 0 : (c - r) * 100 / c));
        }
        int64_t exact = sum / (w[0] + w[1]);
        EXPECT_EQ(static_cast<int64_t>(a[j] + 1e-9), exact) << "node " << i << " round " << round;
      }
    }
  }
}

}  // namespace
}  // namespace allot
