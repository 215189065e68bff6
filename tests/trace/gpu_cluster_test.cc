// Device-level GPU sharing: placement rules and the fragmentation measure on hand-computed cases.
#include <gtest/gtest.h>

#include "allot/trace.h"

namespace allot::trace {
namespace {

GpuPodShape Share(int milli, int64_t cpu = 1000, int64_t mem = 100) { return {cpu, mem, 1, milli, {}}; }
GpuPodShape Whole(int n, int64_t cpu = 1000, int64_t mem = 100) { return {cpu, mem, n, 1000, {}}; }
GpuNode Node(int gpus, std::string model = "T4") { return {"n", std::move(model), 8000, 1000, gpus}; }

TEST(GpuCluster, SharesOfOneDeviceNeverExceed1000) {
  GpuCluster c({Node(1)}, {});
  uint64_t rng = 1;
  auto p = c.Choose(Share(600), "best-fit", &rng);
  ASSERT_TRUE(p);
  c.Apply(Share(600), *p);
  // 600 + 500 > 1000: the only device cannot take it.
  EXPECT_FALSE(c.Fits(0, Share(500)));
  EXPECT_FALSE(c.Choose(Share(500), "gpu-fragmentation", &rng));
  // 600 + 400 = 1000 fits exactly.
  auto q = c.Choose(Share(400), "least-allocated", &rng);
  ASSERT_TRUE(q);
  c.Apply(Share(400), *q);
  EXPECT_EQ(c.DeviceUsed(0)[0], 1000);
}

TEST(GpuCluster, WholeGpusTakeOnlyFreeDevices) {
  GpuCluster c({Node(2)}, {});
  uint64_t rng = 1;
  c.Apply(Share(300), GpuPlacement{0, {0}, 300});
  auto p = c.Choose(Whole(1), "most-allocated", &rng);
  ASSERT_TRUE(p);
  // Device 0 holds 300m, so a whole GPU must be device 1.
  ASSERT_EQ(p->devices, std::vector<int>{1});
  c.Apply(Whole(1), *p);
  EXPECT_FALSE(c.Fits(0, Whole(1)));  // 700m free on device 0 is not a whole GPU
  EXPECT_TRUE(c.Fits(0, Share(700)));
  EXPECT_EQ(c.GpuAllocatedMilli(), 1300);
}

TEST(GpuCluster, ModelConstraints) {
  GpuCluster c({Node(2, "T4"), Node(2, "V100M32")}, {});
  uint64_t rng = 1;
  GpuPodShape v100 = Whole(1);
  v100.gpu_spec = {"V100M16", "V100M32"};
  EXPECT_FALSE(c.Fits(0, v100));
  EXPECT_TRUE(c.Fits(1, v100));
  for (const auto& policy : GpuCluster::Policies()) {
    auto p = c.Choose(v100, policy, &rng);
    ASSERT_TRUE(p) << policy;
    EXPECT_EQ(p->node, 1) << policy;
  }
  GpuPodShape a10 = Share(100);
  a10.gpu_spec = {"A10"};
  EXPECT_FALSE(c.Choose(a10, "random", &rng));
}

TEST(GpuCluster, CpuAndMemoryMustFit) {
  GpuCluster c({Node(2)}, {});
  EXPECT_FALSE(c.Fits(0, Share(100, 9000, 1)));  // 9000m cpu > 8000m
  EXPECT_FALSE(c.Fits(0, Share(100, 1000, 2000)));  // 2000 MiB > 1000 MiB
  EXPECT_TRUE(c.Fits(0, Share(100, 8000, 1000)));
}

// Node: 2 T4 devices, 8000m cpu, 1000 MiB; device 0 holds 700m, so free = [300, 1000], 1300m in all.
class Fragmentation : public ::testing::Test {
 protected:
  void SetUp() override { c_.Apply(Share(700), GpuPlacement{0, {0}, 700}); }
  GpuCluster c_{{Node(2)}, {}};
};

TEST_F(Fragmentation, ShareClass) {
  // A 500m share cannot use device 0 (300 < 500): 300m is fragment.
  EXPECT_EQ(c_.NodeFragmentationFor(0, Share(500)), 300);
  // A 300m share can use both devices: nothing is fragment.
  EXPECT_EQ(c_.NodeFragmentationFor(0, Share(300)), 0);
}

TEST_F(Fragmentation, WholeClasses) {
  // One whole GPU: device 1 is free, device 0 (300m free) is not whole: 300m fragment.
  EXPECT_EQ(c_.NodeFragmentationFor(0, Whole(1)), 300);
  // Two whole GPUs do not fit at all: all 1300m free is fragment.
  EXPECT_EQ(c_.NodeFragmentationFor(0, Whole(2)), 1300);
}

TEST_F(Fragmentation, ClassesThatCannotRunHereSeeEverythingAsFragment) {
  EXPECT_EQ(c_.NodeFragmentationFor(0, Share(100, 9000)), 1300);  // cpu does not fit
  GpuPodShape v100 = Share(100);
  v100.gpu_spec = {"V100M16"};
  EXPECT_EQ(c_.NodeFragmentationFor(0, v100), 1300);              // wrong model
  EXPECT_EQ(c_.NodeFragmentationFor(0, GpuPodShape{1000, 100, 0, 0, {}}), 0);     // no GPU, fits
  EXPECT_EQ(c_.NodeFragmentationFor(0, GpuPodShape{9000, 100, 0, 0, {}}), 1300);  // no GPU, does not fit
}

TEST(FragmentationExpected, WeightsByGpuDemand) {
  // Workload: 3 pods of a 500m share (each counts as one GPU of demand), 1 pod of 2 whole GPUs (two):
  // demand 3 and 2 -> p = 0.6 and 0.4.
  auto w = BuildWorkload({Share(500), Share(500), Share(500), Whole(2)});
  ASSERT_EQ(w.size(), 2u);
  GpuCluster c({Node(2)}, w);
  EXPECT_DOUBLE_EQ(c.Fragmentation(), 0.0);  // empty: both classes fit wholly
  c.Apply(Share(700), GpuPlacement{0, {0}, 700});
  // 0.6 * 300 (share class) + 0.4 * 1300 (two whole GPUs no longer fit) = 180 + 520 = 700.
  EXPECT_DOUBLE_EQ(c.NodeFragmentation(0), 700.0);
  c.Remove(Share(700), GpuPlacement{0, {0}, 700});
  EXPECT_DOUBLE_EQ(c.Fragmentation(), 0.0);
}

TEST(FragmentationPolicy, FillsTheDeviceThatWouldOtherwiseStrand) {
  // Workload of 500m shares; devices hold [600, 0]. A 400m pod on device 0 leaves free [0, 1000]: F = 0.
  // On device 1 it leaves free [400, 600]: 400 < 500 is fragment, F = 400. FGD picks device 0.
  GpuCluster c({Node(2)}, BuildWorkload({Share(500)}));
  c.Apply(Share(600), GpuPlacement{0, {0}, 600});
  uint64_t rng = 1;
  auto p = c.Choose(Share(400), "gpu-fragmentation", &rng);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->devices, std::vector<int>{0});
  auto q = c.Choose(Share(400), "least-allocated", &rng);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->devices, std::vector<int>{1});
}

TEST(FragmentationPolicy, PrefersTheNodeWhereFragmentationGrowsLeast) {
  // Two nodes of 1 device; node 0 holds 500m, node 1 is empty; the workload is 500m shares.
  // A 500m pod: on node 0 F goes 0 -> 0 (full device); on node 1 F goes 0 -> 0 too (500 free still fits a
  // 500m share): a tie, so the first node wins. A 600m pod fits only node 1.
  GpuCluster c({Node(1), Node(1)}, BuildWorkload({Share(500)}));
  c.Apply(Share(500), GpuPlacement{0, {0}, 500});
  uint64_t rng = 1;
  auto p = c.Choose(Share(500), "gpu-fragmentation", &rng);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->node, 0);
  // A 300m pod: node 0 -> free 200 < 500: F rises by 200; node 1 -> free 700 >= 500: F stays 0. Node 1.
  auto q = c.Choose(Share(300), "gpu-fragmentation", &rng);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->node, 1);
}

TEST(GpuCluster, InvariantsHoldUnderEveryPolicy) {
  std::vector<GpuNode> nodes;
  for (int i = 0; i < 20; i++) nodes.push_back({"n" + std::to_string(i), i % 3 ? "T4" : "P100", 16000, 64000, i % 5 == 0 ? 0 : 1 << (i % 4)});
  std::vector<GpuPodShape> pods;
  uint64_t s = 7;
  for (int i = 0; i < 200; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    int kind = static_cast<int>((s >> 33) % 6);
    GpuPodShape p{static_cast<int64_t>((s >> 20) % 4000), static_cast<int64_t>((s >> 40) % 8000), 0, 0, {}};
    if (kind == 1 || kind == 2) p = Share(static_cast<int>(100 + (s >> 13) % 900), p.cpu_milli, p.memory_mib);
    if (kind == 3) p = Whole(1 << ((s >> 17) % 3), p.cpu_milli, p.memory_mib);
    if (kind == 4) p.gpu_spec = {"P100"}, p.num_gpu = 1, p.gpu_milli = 250;
    pods.push_back(p);
  }
  for (const auto& policy : GpuCluster::Policies()) {
    GpuCluster c(nodes, BuildWorkload(pods));
    uint64_t rng = 3;
    for (const auto& pod : pods) {
      auto p = c.Choose(pod, policy, &rng);
      if (!p) continue;
      const GpuNode& n = c.nodes()[p->node];
      if (!pod.gpu_spec.empty()) {
        EXPECT_EQ(n.model, pod.gpu_spec[0]) << policy;
      }
      if (pod.num_gpu > 1 || (pod.num_gpu == 1 && pod.gpu_milli == 1000)) {
        ASSERT_EQ(p->devices.size(), static_cast<size_t>(pod.num_gpu));
        for (int g : p->devices) EXPECT_EQ(c.DeviceUsed(p->node)[g], 0) << policy << ": whole GPU on a used device";
      }
      c.Apply(pod, *p);
      for (size_t k = 0; k < c.nodes().size(); k++) {
        for (int32_t u : c.DeviceUsed(static_cast<int>(k))) EXPECT_LE(u, 1000) << policy;
        EXPECT_LE(c.CpuUsed(static_cast<int>(k)), c.nodes()[k].cpu_milli);
        EXPECT_LE(c.MemoryUsed(static_cast<int>(k)), c.nodes()[k].memory_mib);
      }
    }
  }
}

}  // namespace
}  // namespace allot::trace
