// Guard decisions on hand-made snapshots: levels, priorities, fits, GPUs, waiting and scoped guards.
#include "allot/guard.h"

#include <gtest/gtest.h>

#include <deque>

namespace allot::host {
namespace {

constexpr int64_t kGiB = 1LL << 30;

// 8 cores at 10 %, 16 GiB with 4 GiB used (25 %), one 100 GiB disk at /data with 50 GiB used.
HostSnapshot Quiet() {
  HostSnapshot s;
  s.cpu_capacity_milli = 8000;
  s.cpu = {1000, "stat-delta", 100};
  s.memory_capacity = s.memory_total = 16 * kGiB;
  s.memory_used = 4 * kGiB;
  s.disks.push_back({"/data", 100 * kGiB, 50 * kGiB, 50 * kGiB});
  return s;
}

TEST(GuardTest, DegradationLevelBoundaries) {
  // max 80 %: level 1 from 0.70 × 80 = 56 %, 2 from 68 %, 3 from 76 %, 4 from 80 %
  EXPECT_EQ(DegradationLevel(5599, 8000), 0);
  EXPECT_EQ(DegradationLevel(5600, 8000), 1);
  EXPECT_EQ(DegradationLevel(6799, 8000), 1);
  EXPECT_EQ(DegradationLevel(6800, 8000), 2);
  EXPECT_EQ(DegradationLevel(7600, 8000), 3);
  EXPECT_EQ(DegradationLevel(7999, 8000), 3);
  EXPECT_EQ(DegradationLevel(8000, 8000), 4);
  EXPECT_EQ(DegradationLevel(10000, 8000), 4);
}

TEST(GuardTest, ReportComputesShareHeadroomAndLevel) {
  auto reps = Report(Quiet(), GuardLimits{});
  ASSERT_EQ(reps.size(), 3u);
  EXPECT_EQ(reps[0].id, "cpu");
  EXPECT_EQ(reps[0].used, 800);      // 10 % of 8000m
  EXPECT_EQ(reps[0].headroom, 5600);  // 80 % of 8000m = 6400m, minus 800m
  EXPECT_EQ(reps[1].used_bp, 2500);   // 4 / 16 GiB
  EXPECT_EQ(reps[1].headroom, 16 * kGiB * 8 / 10 - 4 * kGiB);
  EXPECT_EQ(reps[2].id, "disk:/data");
  EXPECT_EQ(reps[2].used_bp, 5000);
  EXPECT_EQ(reps[2].level, 1);  // 50 / 70 = 71.4 % of the limit: level 1 (70-85 %)
}

TEST(GuardTest, GoWhenTheRequestFits) {
  GuardRequest r;
  r.memory = 8 * kGiB;  // 4 + 8 = 12 GiB = 75 % <= 80 %
  r.cpu_milli = 4000;   // 0.8 + 4 = 4.8 cores = 60 % <= 80 %
  auto d = Evaluate(Quiet(), GuardLimits{}, r);
  EXPECT_TRUE(d.go);
  EXPECT_TRUE(d.reasons.empty());
}

TEST(GuardTest, NoWhenMemoryWouldPassTheLimit) {
  GuardRequest r;
  r.memory = 9 * kGiB + 1;  // 4 GiB + 9 GiB + 1 B > 12.8 GiB (80 % of 16 GiB)
  auto d = Evaluate(Quiet(), GuardLimits{}, r);
  ASSERT_FALSE(d.go);
  ASSERT_EQ(d.waiting_for, std::vector<std::string>{"memory"});
  EXPECT_NE(d.reasons[0].find("over the 80.0 % limit"), std::string::npos) << d.reasons[0];
}

TEST(GuardTest, DiskIsCheckedOnlyOnTheRequestedPaths) {
  GuardRequest r;
  r.disk = 21 * kGiB;  // 50 + 21 = 71 GiB > 70 % of 100 GiB
  r.paths = {"/data"};
  EXPECT_FALSE(Evaluate(Quiet(), GuardLimits{}, r).go);
  r.disk = 20 * kGiB;  // exactly 70 GiB: allowed (<= limit)
  EXPECT_TRUE(Evaluate(Quiet(), GuardLimits{}, r).go);
  r.paths = {"/elsewhere"};  // not in the snapshot: nothing to compare with /data
  r.disk = 40 * kGiB;
  EXPECT_TRUE(Evaluate(Quiet(), GuardLimits{}, r).go);
}

TEST(GuardTest, LevelsGateAndScaleAsSeed004sTable) {
  // cpu limit 80 %: used 50 % is 62.5 % of it (level 0), 60 % -> 75 % (1), 70 % -> 87.5 % (2), 77 % -> 96.25 % (3),
  // 85 % -> 106 % (4). Level 0-2: everything starts; 3: normal and above; 4: nothing. Scale 1, 1, 0.5, 0.25, 0.
  struct Row {
    int64_t cpu_bp;
    int level;
    int64_t scale_bp;
    int lowest_that_starts;  // 5: none
    bool warns;
  };
  for (Row row : {Row{5000, 0, 10000, 0, false}, Row{6000, 1, 10000, 0, true}, Row{7000, 2, 5000, 0, true},
                  Row{7700, 3, 2500, 2, true}, Row{8500, 4, 0, 5, false}}) {
    HostSnapshot s = Quiet();
    s.cpu.used_bp = row.cpu_bp;
    GuardRequest r;
    for (int p : {0, 1, 2, 3, 4, 17}) {  // 17 counts as critical
      r.priority = p;
      Decision d = Evaluate(s, GuardLimits{}, r);
      EXPECT_EQ(d.go, std::min(p, 4) >= row.lowest_that_starts) << "cpu " << row.cpu_bp << " priority " << p;
      EXPECT_EQ(d.level, row.level) << "cpu " << row.cpu_bp;
      EXPECT_EQ(d.scale_bp, row.scale_bp) << "cpu " << row.cpu_bp;
      EXPECT_EQ(d.warnings.empty(), !(d.go && row.warns)) << "cpu " << row.cpu_bp << " priority " << p;
      if (!d.go && row.level == 3) {
        EXPECT_NE(d.reasons[0].find("only normal priority work and above starts"), std::string::npos) << d.reasons[0];
      }
      if (row.level == 4) {
        EXPECT_NE(d.reasons[0].find("nothing starts at this level"), std::string::npos) << d.reasons[0];
      }
    }
  }
}

TEST(GuardTest, LevelPolicyIsConfigurable) {
  HostSnapshot s = Quiet();
  s.cpu.used_bp = 8500;  // level 4
  GuardLimits limits;
  limits.levels.min_priority[4] = 4;  // critical work may still start at level 4
  limits.levels.scale_bp[4] = 1000;
  GuardRequest r;
  r.priority = 4;
  Decision d = Evaluate(s, limits, r);
  EXPECT_TRUE(d.go);
  EXPECT_EQ(d.scale_bp, 1000);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("cpu: at 85.0 % (level 4 critical"), std::string::npos) << d.warnings[0];
  r.priority = 3;
  EXPECT_FALSE(Evaluate(s, limits, r).go);
  EXPECT_TRUE(LevelAdmits(limits.levels, 9, 4));   // levels past 4 count as 4
  EXPECT_FALSE(LevelAdmits(LevelPolicy{}, 4, 4));  // the default: nothing at level 4
  EXPECT_STREQ(LevelName(2), "moderate");
}

TEST(GuardTest, TheGatingLevelIsThatOfTheTouchedResources) {
  HostSnapshot s = Quiet();
  s.disks[0].used = 69 * kGiB;  // 69 / 70 = 98.6 % of the disk limit: level 3
  GuardRequest r;
  r.priority = 1;
  EXPECT_TRUE(Evaluate(s, GuardLimits{}, r).go);  // disk not asked for: cpu and memory at level 0
  EXPECT_EQ(Evaluate(s, GuardLimits{}, r).level, 0);
  r.paths = {"/data"};
  Decision d = Evaluate(s, GuardLimits{}, r);
  EXPECT_FALSE(d.go);  // low priority waits at level 3
  EXPECT_EQ(d.level, 3);
  EXPECT_EQ(d.waiting_for, std::vector<std::string>{"disk:/data"});
  r.priority = 2;
  EXPECT_TRUE(Evaluate(s, GuardLimits{}, r).go);
}

TEST(GuardTest, CriticalMayUseCapacityBeyondTheLimitButNotMore) {
  GuardRequest r;
  r.priority = 4;
  r.memory = 12 * kGiB;  // 4 + 12 = 16 GiB: all of it
  EXPECT_TRUE(Evaluate(Quiet(), GuardLimits{}, r).go);
  r.memory = 12 * kGiB + 1;
  auto d = Evaluate(Quiet(), GuardLimits{}, r);
  ASSERT_FALSE(d.go);
  EXPECT_NE(d.reasons[0].find("more than there is"), std::string::npos);
}

TEST(GuardTest, GpuRequestNeedsOneDeviceWhereItFits) {
  HostSnapshot s = Quiet();
  GuardRequest r;
  r.gpu_memory = 4 * kGiB;
  auto d = Evaluate(s, GuardLimits{}, r);
  ASSERT_FALSE(d.go);  // no GPU at all
  EXPECT_NE(d.reasons[0].find("no GPU"), std::string::npos);
  s.gpus.push_back({0, "A", 80 * kGiB, 70 * kGiB, 30});  // 87.5 % memory: level 4
  s.gpus.push_back({1, "A", 80 * kGiB, 40 * kGiB, 95});  // 95 % busy: level 4
  EXPECT_FALSE(Evaluate(s, GuardLimits{}, r).go);
  s.gpus.push_back({2, "A", 80 * kGiB, 20 * kGiB, 10});  // 25 %: 20 + 4 = 24 GiB <= 64 GiB
  EXPECT_TRUE(Evaluate(s, GuardLimits{}, r).go);
  r.gpu_memory = 45 * kGiB;  // 20 + 45 = 65 GiB > 64 GiB
  EXPECT_FALSE(Evaluate(s, GuardLimits{}, r).go);
}

TEST(GuardTest, ReservedAmountsCount) {
  GuardRequest r, reserved;
  r.memory = 4 * kGiB;
  reserved.memory = 5 * kGiB;  // 4 used + 5 reserved + 4 = 13 GiB > 12.8 GiB
  EXPECT_FALSE(Evaluate(Quiet(), GuardLimits{}, r, reserved).go);
  reserved.memory = 4 * kGiB;  // 12 GiB <= 12.8 GiB
  EXPECT_TRUE(Evaluate(Quiet(), GuardLimits{}, r, reserved).go);
}

TEST(GuardTest, CgroupCpuQuotaCapsTheRequest) {
  HostSnapshot s = Quiet();
  s.cgroup.cpu_max_milli = 2000;
  GuardRequest r;
  r.cpu_milli = 2500;
  EXPECT_FALSE(Evaluate(s, GuardLimits{}, r).go);
  r.cpu_milli = 2000;
  EXPECT_TRUE(Evaluate(s, GuardLimits{}, r).go);
}

// Returns the queued snapshots in order (the last one forever), or an error when told to.
class FakeProber : public Prober {
 public:
  std::deque<HostSnapshot> queue;
  bool fail = false;
  int calls = 0;
  Result<HostSnapshot> Snapshot(const ProbeRequest&) override {
    calls++;
    if (fail) return InvalidArgument("/proc/meminfo: cannot read");
    HostSnapshot s = queue.front();
    if (queue.size() > 1) queue.pop_front();
    return s;
  }
};

struct FakeTime {
  std::chrono::steady_clock::time_point now{};
  std::vector<int64_t> sleeps;
  GuardOptions Options() {
    GuardOptions o;
    o.now = [this] { return now; };
    o.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d.count());
      now += d;
    };
    o.random = [] { return 0.0; };  // the lower end of the jitter: exactly half of each delay
    o.initial_backoff = std::chrono::milliseconds(1000);
    o.max_backoff = std::chrono::milliseconds(8000);
    return o;
  }
};

HostSnapshot Full() {
  HostSnapshot s = Quiet();
  s.memory_used = 15 * kGiB;  // 93.75 %: level 4
  return s;
}

TEST(GuardTest, WaitForBacksOffExponentiallyUntilGo) {
  auto prober = std::make_shared<FakeProber>();
  for (int i = 0; i < 5; i++) prober->queue.push_back(Full());
  prober->queue.push_back(Quiet());
  FakeTime t;
  Guard g(prober, {}, t.Options());
  std::vector<std::string> heard;
  auto d = g.WaitFor({}, std::chrono::seconds(300), [&](const Decision& dec, std::chrono::milliseconds) {
    heard.push_back(dec.waiting_for.at(0));
  });
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->go);
  // delays min(8000, 1000 × 2^k) × (0.5 + 0 / 2): 500, 1000, 2000, 4000, 4000 (capped at 8000 × 0.5)
  EXPECT_EQ(t.sleeps, (std::vector<int64_t>{500, 1000, 2000, 4000, 4000}));
  EXPECT_EQ(heard, std::vector<std::string>(5, "memory"));
  EXPECT_EQ(prober->calls, 6);
}

TEST(GuardTest, WaitForTimesOutWithoutSleepingPastTheDeadline) {
  auto prober = std::make_shared<FakeProber>();
  prober->queue.push_back(Full());
  FakeTime t;
  Guard g(prober, {}, t.Options());
  auto d = g.WaitFor({}, std::chrono::milliseconds(2000));
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->go);
  // 500, then 1000, then the 500 left of the 2000 ms (instead of 2000)
  EXPECT_EQ(t.sleeps, (std::vector<int64_t>{500, 1000, 500}));
}

TEST(GuardTest, WaitJitterStaysBetweenHalfAndAllOfTheDelay) {
  auto prober = std::make_shared<FakeProber>();
  prober->queue.push_back(Full());
  prober->queue.push_back(Quiet());
  FakeTime t;
  GuardOptions o = t.Options();
  o.random = [] { return 0.999; };
  Guard g(prober, {}, o);
  ASSERT_TRUE(g.WaitFor({}, std::chrono::seconds(10)).ok());
  // 1000 × (0.5 + 0.999 / 2) = 999.5 -> 999 ms
  EXPECT_EQ(t.sleeps, (std::vector<int64_t>{999}));
}

TEST(GuardTest, AProbeFailureIsAnErrorNeverAGo) {
  auto prober = std::make_shared<FakeProber>();
  prober->fail = true;
  Guard g(prober, {});
  auto d = g.CanProceed({});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(g.ShouldProceed(4).ok());
  EXPECT_FALSE(g.WaitFor({}, std::chrono::seconds(1)).ok());
  GuardRequest neg;
  neg.memory = -1;
  prober->fail = false;
  prober->queue.push_back(Quiet());
  EXPECT_FALSE(g.CanProceed(neg).ok());
}

TEST(GuardTest, ShouldProceedCurrentLevelAndScale) {
  auto prober = std::make_shared<FakeProber>();
  HostSnapshot s = Quiet();
  s.memory_used = 12 * kGiB + kGiB / 2;  // 12.5 / 16 = 78.1 % -> 97.7 % of 80 %: level 3
  prober->queue.push_back(s);
  Guard g(prober, {});
  EXPECT_EQ(*g.CurrentLevel(), 3);
  EXPECT_EQ(*g.ScaleFactorBp(), 2500);
  EXPECT_FALSE(*g.ShouldProceed(1));  // level 3 blocks low-priority spawns
  EXPECT_TRUE(*g.ShouldProceed(2));
  s.memory_used = 4 * kGiB;
  s.disks[0].used = 71 * kGiB;  // the disk alone over its 70 % limit: the host is at level 4
  prober->queue = {s};
  EXPECT_EQ(*g.CurrentLevel(), 4);
  EXPECT_EQ(*g.ScaleFactorBp(), 0);
  EXPECT_FALSE(*g.ShouldProceed(4));  // level 4 blocks all spawns
}

TEST(GuardTest, ScopedGuardReservesUntilDestroyed) {
  auto prober = std::make_shared<FakeProber>();
  prober->queue.push_back(Quiet());
  FakeTime t;
  Guard g(prober, {}, t.Options());
  GuardRequest r;
  r.memory = 5 * kGiB;  // 4 + 5 = 9 GiB fits; a second one would be 14 GiB > 12.8 GiB
  {
    auto first = ScopedGuard::Acquire(g, r, std::chrono::milliseconds(0));
    ASSERT_TRUE(first.ok());
    auto second = ScopedGuard::Acquire(g, r, std::chrono::milliseconds(0));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, ErrorCode::kResourceExhausted);
    ScopedGuard moved = std::move(*first);  // moving keeps one reservation
    EXPECT_FALSE(ScopedGuard::Acquire(g, r, std::chrono::milliseconds(0)).ok());
  }
  EXPECT_TRUE(ScopedGuard::Acquire(g, r, std::chrono::milliseconds(0)).ok());
}

}  // namespace
}  // namespace allot::host
