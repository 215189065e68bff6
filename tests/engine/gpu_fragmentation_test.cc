// gpu-fragmentation: the measure by hand, the learned workload model, and placements through the engine
// where most-allocated or least-allocated strand GPU capacity and gpu-fragmentation does not.
#include "engine/gpu_fragmentation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "engine_fixture.h"

namespace allot::testing {
namespace {

GpuWorkloadClass Class(int64_t gpu, int64_t cpu = 1000, int64_t memory = kGi, double weight = 1) {
  GpuWorkloadClass c;
  c.gpu = gpu;
  c.cpu = cpu;
  c.memory = memory;
  c.weight = weight;
  return c;
}

double F(std::vector<int32_t> free, const std::vector<GpuWorkloadClass>& classes,
         std::vector<uint8_t> allowed = {}) {
  return GpuFragmentation(free, 4000, 8 * kGi, classes, allowed);  // 4 cpu and 8Gi free
}

// ---- the measure ----

// Devices with 300m, 1000m and 0m free: 1300m free in all, one device wholly free.
TEST(GpuFragmentationMeasure, OneClassAtATime) {
  std::vector<int32_t> n{300, 1000, 0};
  EXPECT_EQ(F(n, {Class(500)}), 300);                   // devices below 500m free: 300 + 0
  EXPECT_EQ(F(n, {Class(300)}), 0);                     // 300m is exactly enough
  EXPECT_EQ(F(n, {Class(1000)}), 300);                  // every device not wholly free: 300 + 0
  EXPECT_EQ(F(n, {Class(2000)}), 1300);                 // two whole devices do not exist: all of it
  EXPECT_EQ(F(n, {Class(100, 9000)}), 1300);            // cpu does not fit: all of it
  EXPECT_EQ(F(n, {Class(100, 1000, 16 * kGi)}), 1300);  // memory does not fit
  EXPECT_EQ(F(n, {Class(100)}, {0}), 1300);             // not allowed here (GPU model, selector)
  EXPECT_EQ(F(n, {Class(0)}), 0);                       // no GPU, fits: nothing stranded for it
  EXPECT_EQ(F(n, {Class(0, 8000)}), 1300);              // no GPU, does not fit
}

TEST(GpuFragmentationMeasure, WeighsTheClasses) {
  std::vector<int32_t> n{300, 1000, 0};
  // 0.5 * 300 (500m share) + 0.25 * 1300 (2 whole GPUs) + 0.25 * 0 (cpu only, fits) = 150 + 325 = 475
  EXPECT_DOUBLE_EQ(
      F(n, {Class(500, 1000, kGi, 0.5), Class(2000, 1000, kGi, 0.25), Class(0, 1000, kGi, 0.25)}), 475);
  EXPECT_EQ(F({}, {Class(500)}), 0);      // no devices
  EXPECT_EQ(F({0, 0}, {Class(500)}), 0);  // nothing free
}

// ---- the learned workload ----

using engine::GpuWorkloadModel;

TEST(GpuWorkloadModel, BucketsRoundUpToFourSignificantBits) {
  EXPECT_EQ(GpuWorkloadModel::Bucket(0), 0);
  EXPECT_EQ(GpuWorkloadModel::Bucket(16), 16);
  EXPECT_EQ(GpuWorkloadModel::Bucket(17), 18);        // unit 2
  EXPECT_EQ(GpuWorkloadModel::Bucket(1000), 1024);    // unit 64: 16 * 64
  EXPECT_EQ(GpuWorkloadModel::Bucket(12000), 12288);  // unit 1024: 12 * 1024
  EXPECT_EQ(GpuWorkloadModel::Bucket(4 * kGi), 4 * kGi);
}

TEST(GpuWorkloadModel, WeighsUnitsByGpusAndNormalises) {
  GpuWorkloadModel m;
  m.Observe(500, 1000, kGi, 0, 3);   // three shares: 3
  m.Observe(8000, 1000, kGi, 0, 1);  // one 8-GPU unit: 8
  m.Observe(0, 1000, kGi, 0, 1);     // cpu only: 1
  ASSERT_EQ(m.classes().size(), 3u);
  EXPECT_DOUBLE_EQ(m.total(), 12);
  // Ordered by gpu: 1/12, 3/12, 8/12.
  EXPECT_EQ(m.classes()[0].gpu, 0);
  EXPECT_DOUBLE_EQ(m.classes()[0].weight, 1.0 / 12);
  EXPECT_DOUBLE_EQ(m.classes()[1].weight, 3.0 / 12);
  EXPECT_DOUBLE_EQ(m.classes()[2].weight, 8.0 / 12);
  EXPECT_EQ(m.classes()[2].cpu, 1024);  // bucketed
}

TEST(GpuWorkloadModel, RetakesTheSnapshotWhenASixteenthIsNew) {
  GpuWorkloadModel m;
  m.Observe(8000, 1000, kGi, 0, 20);  // 160 GPUs
  uint64_t g = m.generation();
  // Shares of weight 1: the snapshot is retaken once 160 + k >= 16 k, at the 11th (171 / 16 = 10.7).
  for (int k = 1; k <= 10; k++) EXPECT_FALSE(m.Observe(500, 1000, kGi, 0, 1)) << k;
  EXPECT_EQ(m.generation(), g);
  EXPECT_DOUBLE_EQ(m.classes().back().weight, 1.0);  // still only the 8-GPU class
  EXPECT_TRUE(m.Observe(500, 1000, kGi, 0, 1));
  EXPECT_EQ(m.generation(), g + 1);
  EXPECT_DOUBLE_EQ(m.classes()[0].weight, 11.0 / 171);
}

TEST(GpuWorkloadModel, KeepsAtMost256Classes) {
  GpuWorkloadModel m;
  for (int g = 1; g <= 300; g++) m.Observe(g, 1000, kGi, 0, 1);
  EXPECT_EQ(m.size(), GpuWorkloadModel::kMaxClasses);
  EXPECT_DOUBLE_EQ(m.total(), 300);  // Space-Saving keeps the total
  // A class that keeps coming is kept: it replaced the lightest (weight 1) and inherited it.
  for (int i = 0; i < 40; i++) m.Observe(999, 1000, kGi, 0, 1);
  // (The snapshot is retaken at least every 340 / 16 observations, so it has seen many of them.)
  double w999 = 0, heaviest = 0, sum = 0;
  for (const auto& c : m.classes()) {
    sum += c.weight;
    heaviest = std::max(heaviest, c.weight);
    if (c.gpu == 999) w999 = c.weight;
  }
  EXPECT_NEAR(sum, 1, 1e-12);
  EXPECT_GT(w999, 0);
  EXPECT_EQ(w999, heaviest);
}

TEST(GpuWorkloadModel, HalvesOldDemand) {
  GpuWorkloadModel m;
  m.Observe(8000, 1000, kGi, 0, 1000);  // 8000 GPUs
  m.Observe(500, 1000, kGi, 0, 600);    // 8600 > 8192: everything halves to 4300
  EXPECT_DOUBLE_EQ(m.total(), 4300);
  EXPECT_DOUBLE_EQ(m.classes()[0].weight, 600.0 / 8600);  // shares stay proportional
}

// ---- through the engine ----

class GpuFragmentationTest : public EngineTest {
 protected:
  // Mostly 500m shares (weight 8), some whole GPUs (weight 2).
  static EngineOptions Options(const std::string& scoring, bool fixed = true) {
    EngineOptions o;
    o.scoring = scoring;
    if (fixed) o.gpu_workload = {Class(500, 1000, 4 * kGi, 8), Class(1000, 2000, 8 * kGi, 2)};
    return o;
  }
  static ResourceMap Gpu(int64_t milli, int64_t cpu = 1000) {
    return {{"cpu", cpu}, {"memory", 4 * kGi}, {"gpu", milli}};
  }
  // `busy` has a whole free device and 24 of 32 cpu in use (unmanaged); `shared` has a 600m share in use.
  void BusyAndShared(const EngineOptions& o) {
    Make(o);
    ResourceMap cap{{"cpu", 32000}, {"memory", 128 * kGi}, {"gpu", 1000}};
    AddNode("busy", cap, {}, {}, CpuMem(24000, 96 * kGi));
    AddNode("shared", cap, {{"role", "shared"}});
    auto s = Req("s600", Gpu(600));
    s.selector = {{"role", "shared"}};
    SubmitAndSchedule(s);
    ASSERT_EQ(NodeOf("s600"), "shared");
  }
  std::vector<std::string> Devices(const std::string& id) { return Get(id).devices; }
};

TEST_F(GpuFragmentationTest, FillsTheFragmentThatMostAllocatedStrands) {
  BusyAndShared(Options("gpu-fragmentation"));
  SubmitAndSchedule(Req("q", Gpu(400)), 1);
  // shared: 400m free, stranded for both classes: F = 0.8 * 400 + 0.2 * 400 = 400; after q nothing is free:
  //   dF = -400, score 50 + round(50 * 400 / 1400) = 50 + 14 = 64.
  // busy: F = 0 (a whole free device); after q 600m free, fine for 500m but not whole: F = 0.2 * 600 = 120:
  //   dF = 120, score 50 - round(50 * 120 / 1120) = 50 - 5 = 45.
  EXPECT_EQ(Scores("q"), (ScoreMap{{"busy", 45}, {"shared", 64}}));
  EXPECT_EQ(Devices("q"), (std::vector<std::string>{"shared/gpu0"}));
  SubmitAndSchedule(Req("whole", Gpu(1000)), 2);
  EXPECT_EQ(Devices("whole"), (std::vector<std::string>{"busy/gpu0"}));

  // most-allocated prefers busy (more cpu in use): two fragments, and the whole GPU finds no device.
  explain_.clear();
  BusyAndShared(Options("most-allocated"));
  SubmitAndSchedule(Req("q", Gpu(400)), 1);
  EXPECT_EQ(NodeOf("q"), "busy");
  SubmitAndSchedule(Req("whole", Gpu(1000)), 2);
  EXPECT_EQ(State("whole"), "queued");
}

TEST_F(GpuFragmentationTest, FillsTheFragmentThatLeastAllocatedStrands) {
  for (const char* scoring : {"least-allocated", "gpu-fragmentation"}) {
    SCOPED_TRACE(scoring);
    explain_.clear();
    Make(Options(scoring));
    ResourceMap cap{{"cpu", 32000}, {"memory", 128 * kGi}, {"gpu", 1000}};
    AddNode("idle", cap, {{"role", "idle"}});
    AddNode("shared", cap, {{"role", "shared"}});
    auto s = Req("s600", Gpu(600, 16000));  // a cpu-heavy share: shared looks busy to least-allocated
    s.selector = {{"role", "shared"}};
    SubmitAndSchedule(s);
    SubmitAndSchedule(Req("q", Gpu(400)), 1);
    SubmitAndSchedule(Req("whole", Gpu(1000)), 2);
    bool fgd = std::string(scoring) == "gpu-fragmentation";
    EXPECT_EQ(NodeOf("q"), fgd ? "shared" : "idle");
    EXPECT_EQ(State("whole"), fgd ? "placed" : "queued");
  }
}

TEST_F(GpuFragmentationTest, PicksTheDeviceThatKeepsSharesWhole) {
  for (const char* scoring : {"most-allocated", "gpu-fragmentation"}) {
    SCOPED_TRACE(scoring);
    EngineOptions o = Options(scoring);
    o.gpu_workload = {Class(500)};
    Make(o);
    AddNode("n", {{"cpu", 32000}, {"memory", 128 * kGi}, {"gpu", 2000}});
    SubmitAndSchedule(Req("a", Gpu(400)));
    ASSERT_EQ(Devices("a"), (std::vector<std::string>{"n/gpu0"}));
    SubmitAndSchedule(Req("b", Gpu(300)), 1);
    // Free [600, 1000]. Best fit takes gpu0: [300, 1000], 300m stranded for 500m shares (F = 300).
    // gpu1 leaves [600, 700]: both hold a 500m share (F = 0), so gpu-fragmentation takes it.
    bool fgd = std::string(scoring) == "gpu-fragmentation";
    EXPECT_EQ(Devices("b"), (std::vector<std::string>{fgd ? "n/gpu1" : "n/gpu0"}));
  }
}

TEST_F(GpuFragmentationTest, LearnsTheWorkloadFromSubmissions) {
  for (const char* scoring : {"most-allocated", "gpu-fragmentation"}) {
    SCOPED_TRACE(scoring);
    explain_.clear();
    BusyAndShared(Options(scoring, false));  // nothing given: the engine learns
    // q first (higher priority), then six 500m shares, all submitted before the pass.
    Submit(Req("q", Gpu(400), 3), 1);
    for (int i = 0; i < 6; i++) Submit(Req("h" + std::to_string(i), Gpu(500), 1), 1);
    Schedule(1);
    // Learned: 600m, 400m and 6 x 500m, each unit one GPU of demand: p = 1/8, 1/8, 6/8.
    // shared: F = 400 * (1/8 + 6/8) = 350 (the 400m class fits there), 0 after q: dF = -350,
    //   score 50 + round(50 * 350 / 1350) = 50 + 13 = 63.
    // busy: the 600m class (pinned to shared by its selector) cannot run there, so all free milli count for
    //   it: F = 1000 / 8 = 125, after q 600 / 8 = 75: dF = -50, score 50 + round(50 * 50 / 1050) = 52.
    bool fgd = std::string(scoring) == "gpu-fragmentation";
    EXPECT_EQ(NodeOf("q"), fgd ? "shared" : "busy");
    if (fgd) {
      EXPECT_EQ(Scores("q"), (ScoreMap{{"busy", 52}, {"shared", 63}}));
    }
    // Then busy's free device holds two shares under gpu-fragmentation, one (its 600m) otherwise.
    int placed = 0;
    for (int i = 0; i < 6; i++) placed += State("h" + std::to_string(i)) == "placed";
    EXPECT_EQ(placed, fgd ? 2 : 1);
  }
}

TEST_F(GpuFragmentationTest, CpuWorkLeavesGpuNodesOnlyWhereItWouldStrandGpus) {
  EngineOptions o = Options("gpu-fragmentation");
  o.gpu_workload = {Class(1000, 4000, kGi)};  // whole GPUs with 4 cpu each
  Make(o);
  AddNode("g", {{"cpu", 8000}, {"memory", 32 * kGi}, {"gpu", 1000}});
  AddNode("c", CpuMem(32000, 128 * kGi));
  SubmitAndSchedule(Req("small", CpuMem(2000, kGi)));
  // g keeps 6 cpu, enough for the class: dF = 0, score 50, as on the cpu node; ties go to g (added first).
  EXPECT_EQ(Scores("small"), (ScoreMap{{"g", 50}, {"c", 50}}));
  EXPECT_EQ(NodeOf("small"), "g");
  SubmitAndSchedule(Req("big", CpuMem(4000, kGi)), 1);
  // On g it would leave 2 cpu: the whole GPU strands, dF = 1000, score 50 - round(50 * 1000 / 2000) = 25.
  EXPECT_EQ(Scores("big"), (ScoreMap{{"g", 25}, {"c", 50}}));
  EXPECT_EQ(NodeOf("big"), "c");
}

TEST_F(GpuFragmentationTest, SharesNeverExceedADeviceAndWholeGpusTakeFreeDevices) {
  Make(Options("gpu-fragmentation", false));
  ResourceMap cap{{"cpu", 64000}, {"memory", 256 * kGi}};
  std::map<std::string, int64_t> device_cap;  // "node/gpuN" -> milli
  for (auto [name, gpu] :
       std::vector<std::pair<std::string, int64_t>>{{"a", 2000}, {"b", 4000}, {"c", 1500}}) {
    cap["gpu"] = gpu;
    AddNode(name, cap);
    for (int64_t d = 0; d * 1000 < gpu; d++)
      device_cap[name + "/gpu" + std::to_string(d)] = std::min<int64_t>(1000, gpu - d * 1000);
  }
  std::mt19937 rng(7);
  const std::vector<int64_t> sizes{100, 250, 300, 400, 500, 600, 750, 900, 1000, 2000};
  std::vector<std::string> live;
  int shares_placed = 0, whole_placed = 0, rejected = 0;
  for (int step = 0; step < 400; step++) {
    double t = step;
    for (int n = 0; n < 2 && !live.empty() && rng() % 2 == 0; n++) {
      size_t k = rng() % live.size();
      ASSERT_TRUE(eng().Release(live[k], Sec(t)).ok());
      live.erase(live.begin() + static_cast<long>(k));
    }
    std::string id = "r" + std::to_string(step);
    auto r = Req(id, Gpu(sizes[rng() % sizes.size()], 500));
    r.wait = Sec(0);
    SubmitAndSchedule(r, t);
    if (State(id) == "placed") {
      live.push_back(id);
      (r.requests.at("gpu") < 1000 ? shares_placed : whole_placed)++;
    } else {
      rejected++;
    }
    // Invariants over everything placed.
    std::map<std::string, int64_t> share_use;
    std::set<std::string> whole_held;
    eng().ForEachAllocation([&](const AllocationInfo& a) {
      if (a.state != AllocState::kPlaced) return;
      int64_t g = a.requests.at("gpu");
      if (g < 1000) {
        ASSERT_EQ(a.devices.size(), 1u);
        share_use[a.devices[0]] += g;
      } else {
        ASSERT_EQ(static_cast<int64_t>(a.devices.size()), g / 1000);
        for (const auto& d : a.devices) {
          EXPECT_EQ(device_cap.at(d), 1000) << d << " is a partial device";
          EXPECT_TRUE(whole_held.insert(d).second) << d << " held whole twice";
        }
      }
    });
    for (const auto& [d, used] : share_use) {
      EXPECT_LE(used, device_cap.at(d)) << d << " at step " << step;
      EXPECT_EQ(whole_held.count(d), 0u) << d << " shared and held whole at step " << step;
    }
  }
  // The run exercised all three outcomes (seed 7: 256 shares and 34 whole placed, 110 rejected).
  EXPECT_GT(shares_placed, 50);
  EXPECT_GT(whole_placed, 10);
  EXPECT_GT(rejected, 10);
}

TEST(GpuFragmentationOptions, RejectsABadWorkload) {
  EngineOptions o;
  o.scoring = "gpu-fragmentation";
  EXPECT_TRUE(Engine::Create(o).ok());
  o.gpu_workload = {Class(1500)};  // neither a share nor whole devices
  EXPECT_FALSE(Engine::Create(o).ok());
  o.gpu_workload = {Class(500, 1000, kGi, 0)};
  EXPECT_FALSE(Engine::Create(o).ok());
  o.gpu_workload = {Class(500, -1)};
  EXPECT_FALSE(Engine::Create(o).ok());
  o.gpu_workload = {Class(2000)};
  EXPECT_TRUE(Engine::Create(o).ok());
}

}  // namespace
}  // namespace allot::testing
