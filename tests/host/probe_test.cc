// Probes against the recorded roots in tests/host/data (see its README for the numbers).
#include "allot/host.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support.h"

namespace allot::host {
namespace {

ProbeRoots Root(const std::string& name) {
  ProbeRoots r;
  r.proc = std::string(ALLOT_HOST_DATA) + "/" + name + "/proc";
  r.sys = std::string(ALLOT_HOST_DATA) + "/" + name + "/sys";
  return r;
}

TEST(ProbeTest, CpuTimesSumTheFirstLine) {
  auto t = ReadCpuTimes(Root("idle"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->cores, 8);
  // busy = user 80000 + system 20000; total = busy + idle 880000 + iowait 20000
  EXPECT_EQ(t->busy, 100000u);
  EXPECT_EQ(t->total, 1000000u);
}

TEST(ProbeTest, CpuBusyBasisPointsOfADelta) {
  CpuTimes a{100, 1000, 2}, b{400, 1400, 2};
  // 300 busy ticks of 400 = 75 % = 7500 bp
  EXPECT_EQ(CpuBusyBasisPoints(a, b), 7500);
  EXPECT_EQ(CpuBusyBasisPoints(a, a), std::nullopt);  // no time passed
  EXPECT_EQ(CpuBusyBasisPoints(b, a), std::nullopt);  // counters went backwards (another root)
}

TEST(ProbeTest, MemInfoInBytes) {
  auto m = ReadMemInfo(Root("busy"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->total, 8388608LL * 1024);      // 8 GiB
  EXPECT_EQ(m->available, 1048576LL * 1024);  // 1 GiB
}

TEST(ProbeTest, LoadAverage) {
  auto l = ReadLoadAvg(Root("busy"));
  ASSERT_TRUE(l.ok());
  EXPECT_DOUBLE_EQ(l->one, 3.6);
}

TEST(ProbeTest, MissingOrMalformedFilesAreErrorsNamingTheFile) {
  auto m = ReadMemInfo(Root("broken"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("meminfo"), std::string::npos);
  EXPECT_NE(m.error().message.find("MemTotal"), std::string::npos);
  auto t = ReadCpuTimes(Root("nonexistent"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("nonexistent/proc/stat"), std::string::npos);
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
}

TEST(ProbeTest, CgroupV2LimitsTightestAlongThePath) {
  auto c = ReadCgroupLimits(Root("container"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->v2);
  EXPECT_EQ(c->path, "/kubepods/pod1");
  EXPECT_EQ(c->memory_max, 4294967296LL);
  // memory.current 3 GiB - inactive_file 1 GiB = 2 GiB
  EXPECT_EQ(c->memory_current, 2147483648LL);
  // cpu.max 200000 / 100000 = 2 cores = 2000m
  EXPECT_EQ(c->cpu_max_milli, 2000);
}

TEST(ProbeTest, NoCgroupV2IsNotAnError) {
  auto c = ReadCgroupLimits(Root("idle"));  // no sys/fs/cgroup/cgroup.controllers there
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->v2);
  EXPECT_FALSE(c->memory_max.has_value());
}

TEST(ProbeTest, DiskUsageOfARealDirectoryAndAMissingOne) {
  testing::TempDir dir;
  auto d = ProbeDisk(dir.path());
  ASSERT_TRUE(d.ok());
  EXPECT_GT(d->capacity, 0);
  EXPECT_EQ(d->capacity, d->used + d->available);
  auto missing = ProbeDisk(dir.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);
}

TEST(ProbeTest, RecordedGpus) {
  ProbeRoots r;
  r.gpu_file = std::string(ALLOT_HOST_DATA) + "/gpus.json";
  auto g = ProbeGpus(r);
  ASSERT_TRUE(g.ok()) << g.error().message;
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].model, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ((*g)[0].utilization, 95);
  EXPECT_EQ((*g)[1].memory_used, 8589934592LL);
}

TEST(ProbeTest, BadGpuFileIsAnError) {
  testing::TempDir dir;
  ProbeRoots r;
  r.gpu_file = dir.Write("g.json", R"([{"memory_total": 10, "memory_used": 20}])");
  auto g = ProbeGpus(r);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("[0]"), std::string::npos);
  r.gpu_file = dir.Write("h.json", "{not json");
  EXPECT_FALSE(ProbeGpus(r).ok());
}

TEST(ProbeTest, NvmlWithoutTheLibraryOrDeviceNeverFails) {
  // Whatever this machine has (no libnvidia-ml, no driver, or real GPUs), NVML probing answers a list.
  auto g = ProbeGpus(ProbeRoots{});
  ASSERT_TRUE(g.ok());
  for (const auto& gpu : *g) EXPECT_LE(gpu.memory_used, gpu.memory_total);
}

TEST(ProbeTest, HostnameFromTheRoot) { EXPECT_EQ(Hostname(Root("busy")), "node-b"); }

TEST(ProbeTest, SampleCpuFallsBackToLoadThenUsesTheStateFile) {
  testing::TempDir state;
  ProbeRoots r = Root("busy");
  CpuTimes first{1000, 10000, 4};
  auto a = SampleCpu(r, first, {state.path(), 0});
  ASSERT_TRUE(a.ok());
  // no previous sample: load 3.60 / 4 cores = 90 %
  EXPECT_EQ(a->source, "loadavg");
  EXPECT_EQ(a->used_bp, 9000);
  std::this_thread::sleep_for(std::chrono::milliseconds(25));  // past the 20 ms minimum window
  CpuTimes second{1600, 11000, 4};
  auto b = SampleCpu(r, second, {state.path(), 0});
  ASSERT_TRUE(b.ok());
  // (1600 - 1000) busy of (11000 - 10000) ticks = 60 %
  EXPECT_EQ(b->source, "stat-delta");
  EXPECT_EQ(b->used_bp, 6000);
}

TEST(ProbeTest, SampleCpuIgnoresAStateFileOfAnotherRoot) {
  testing::TempDir state;
  ASSERT_TRUE(SampleCpu(Root("busy"), {1000, 10000, 4}, {state.path(), 0}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
  auto b = SampleCpu(Root("idle"), {1600, 11000, 8}, {state.path(), 0});
  ASSERT_TRUE(b.ok());
  // idle root: load 0.80 / 8 cores = 10 %
  EXPECT_EQ(b->source, "loadavg");
  EXPECT_EQ(b->used_bp, 1000);
}

}  // namespace
}  // namespace allot::host
