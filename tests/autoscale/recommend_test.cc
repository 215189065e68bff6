// Recommender on synthetic usage with answers worked out by hand from the bucket formula:
// bucket i of the CPU histogram starts at 0.01 × (1.05^i − 1) / 0.05 cores, of the memory histogram at
// 1e7 × (1.05^i − 1) / 0.05 bytes; a percentile answers the end of its bucket.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "allot/autoscale.h"
#include "support.h"

namespace allot::autoscale {
namespace {

std::vector<UsageSample> Constant(int minutes, int64_t cpu_milli, int64_t mem_bytes) {
  std::vector<UsageSample> v;
  for (int i = 0; i < minutes; i++) v.push_back({1.7e9 + i * 60.0, "shop", "web", "app", cpu_milli, mem_bytes});
  return v;
}

TEST(Recommend, ConstantUsageKnownAnswer) {
  // 8 days at one sample a minute: 200m cpu, 300Mi memory.
  auto recs = Recommend(Constant(8 * 1440, 200, 300ll << 20), {}, RecommendOptions{});
  ASSERT_EQ(recs.size(), 1u);
  const auto& r = recs[0];
  // cpu 0.2: bucket floor(ln(0.2·0.05/0.01 + 1)/ln 1.05) = floor(ln 2/ln 1.05) = floor(14.2) = 14; its end
  // is the start of 15: 0.2 × (1.05^15 − 1) = 0.2 × 1.0789282 = 0.2157856 cores -> 216m; × 1.15 = 248.4 -> 249m.
  EXPECT_EQ(r.cpu_percentile_milli, 216);
  EXPECT_EQ(r.cpu_request_milli, 249);
  // memory 314572800: floor(ln(314572800·0.05/1e7 + 1)/ln 1.05) = floor(ln 2.5728640/ln 1.05) = floor(19.37) = 19;
  // end = 2e8 × (1.05^20 − 1) = 2e8 × 1.6532977 = 330659540 bytes; × 1.15 = 380258471 -> 363 MiB = 380633088.
  EXPECT_NEAR(static_cast<double>(r.memory_peak_bytes), 330659540.0, 2.0);
  EXPECT_EQ(r.memory_request_bytes, 363ll << 20);
  // 8 days and 11520 samples (= 8 sample-days): min(8, 8) >= 7 -> high, score 1.
  EXPECT_EQ(r.confidence, "high");
  EXPECT_DOUBLE_EQ(r.confidence_score, 1.0);
  EXPECT_EQ(r.samples, 8 * 1440);
}

TEST(Recommend, PercentileChoosesTheBucket) {
  // 90 % of samples at 100m, 10 % at 1000m, interleaved; no decay (huge half-life).
  std::vector<UsageSample> v;
  for (int i = 0; i < 1000; i++) v.push_back({i * 60.0, "ns", "w", "c", i % 10 == 0 ? 1000 : 100, 100ll << 20});
  RecommendOptions opt;
  opt.half_life_seconds = 1e15;
  opt.cpu_percentile = 0.85;
  // p85 falls among the 100m samples: bucket floor(ln 1.5/ln 1.05) = 8, end 0.2 × (1.05^9 − 1) = 0.1102656 -> 111m.
  EXPECT_EQ(Recommend(v, {}, opt)[0].cpu_percentile_milli, 111);
  opt.cpu_percentile = 0.95;
  // p95 needs the 1000m samples: bucket floor(ln 6/ln 1.05) = 36, end 0.2 × (1.05^37 − 1) = 0.2 × 5.0814 = 1.01628 -> 1017m.
  EXPECT_EQ(Recommend(v, {}, opt)[0].cpu_percentile_milli, 1017);
}

TEST(Recommend, DecayFavoursRecentSamples) {
  // First half at 1000m, second half at 100m, one sample a minute over 10 days; half-life 24 h.
  // The old half weighs about 2^-5 of the new: p50 lands in the 100m bucket (111m).
  std::vector<UsageSample> v;
  for (int i = 0; i < 14400; i++) v.push_back({i * 60.0, "ns", "w", "c", i < 7200 ? 1000 : 100, 100ll << 20});
  RecommendOptions opt;
  opt.cpu_percentile = 0.5;
  EXPECT_EQ(Recommend(v, {}, opt)[0].cpu_percentile_milli, 111);
  opt.half_life_seconds = 1e15;  // no decay: p50 is exactly at the boundary of the halves -> still 111m
  opt.cpu_percentile = 0.51;     // just past half: the 1000m bucket (1017m, as above)
  EXPECT_EQ(Recommend(v, {}, opt)[0].cpu_percentile_milli, 1017);
}

TEST(Recommend, MinimumsMemoryPeakAndLowConfidence) {
  // One hour of 1m cpu and 1Mi memory, with one 900Mi spike: cpu at the 25m minimum; memory from the peak.
  auto v = Constant(60, 1, 1 << 20);
  v[30].memory_bytes = 900ll << 20;
  auto r = Recommend(v, {}, RecommendOptions{})[0];
  EXPECT_EQ(r.cpu_request_milli, 25);
  // 943718400: floor(ln(943718400·0.05/1e7 + 1)/ln 1.05) = floor(ln 5.7185920/ln 1.05) = floor(35.74) = 35; end
  // 2e8 × (1.05^36 − 1) = 2e8 × 4.7918161 = 958363220; × 1.15 = 1102117703 -> 1052 MiB.
  EXPECT_EQ(r.memory_request_bytes, 1052ll << 20);
  // 59 minutes, 60 samples: min(0.041, 0.042) days < 1 -> low.
  EXPECT_EQ(r.confidence, "low");
}

TEST(Recommend, ChangeSavingsAndLimitsFromManifests) {
  testing::TempDir dir;
  std::string path = dir.Write("web.yaml",
                               "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
                               "spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n"
                               "        - name: app\n          resources:\n"
                               "            requests: {cpu: '1', memory: 1Gi}\n            limits: {cpu: '2', memory: 1Gi}\n");
  auto cur = LoadManifestResources({path});
  ASSERT_TRUE(cur.ok()) << cur.error().message;
  ASSERT_EQ(cur->count("shop/web/app"), 1u);
  EXPECT_EQ(cur->at("shop/web/app").replicas, 2);
  auto r = Recommend(Constant(8 * 1440, 200, 300ll << 20), *cur, RecommendOptions{})[0];
  ASSERT_TRUE(r.current.has_value());
  // Limits keep today's ratios: cpu 249m × 2/1 = 498m; memory 363Mi × 1Gi/1Gi = 363Mi.
  EXPECT_EQ(r.cpu_limit_milli.value_or(-1), 498);
  EXPECT_EQ(r.memory_limit_bytes.value_or(-1), 363ll << 20);
  // Savings: cpu (1000 − 249)/1000 × 0.031611 × 730 × 2 = 34.66; memory (1024 − 363)/1024 × 0.004237 × 730 × 2
  // = 3.99; total 38.65.
  EXPECT_NEAR(r.monthly_savings, 38.65, 0.01);
  std::string patch = RecommendationsToPatch({r});
  EXPECT_NE(patch.find("kubectl patch deployment web -n shop --type strategic"), std::string::npos) << patch;
  EXPECT_NE(patch.find("\"cpu\":\"249m\""), std::string::npos) << patch;
  EXPECT_NE(patch.find("\"memory\":\"363Mi\""), std::string::npos) << patch;
}

TEST(Recommend, SharedManifestsLoad) {
  // Real manifests from ../shared/data must load without errors.
  auto cur = LoadManifestResources({testing::SharedDir() + "/data/manifests"});
  ASSERT_TRUE(cur.ok()) << cur.error().message;
  EXPECT_FALSE(cur->empty());
}

TEST(Recommend, BadCsv) {
  EXPECT_FALSE(ParseUsageSamples("time,namespace,workload,container,cpu\n1,a,b,c,1\n", "u.csv").ok());
  auto r = ParseUsageSamples("time,namespace,workload,container,cpu,memory\n1,a,b,c,1x,1Mi\n", "u.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("u.csv:2: cpu"), std::string::npos) << r.error().message;
  EXPECT_FALSE(ParseUsageSamples("time,namespace,workload,container,cpu,memory\n", "u.csv").ok());
  auto t = ParseUsageSamples("time,namespace,workload,container,cpu,memory\n2024-01-01T00:01:00Z,a,b,c,1,1Mi\n", "u.csv");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_DOUBLE_EQ((*t)[0].time, 1704067260.0);  // 2024-01-01T00:00:00Z is 1704067200
}

// The times the usage CSV and `recommend --end` take (issue 15): Unix seconds or RFC 3339.
TEST(Recommend, TimesAreUnixSecondsOrRfc3339) {
  // 2026-12-07: 20,794 days after 1970-01-01; × 86400 = 1,796,601,600; + 10 h = 1,796,637,600.
  EXPECT_EQ(ParseTimeSeconds("2026-12-07T10:00:00Z"), 1796637600.0);
  EXPECT_EQ(ParseTimeSeconds("2026-12-07T10:00:00"), 1796637600.0);  // no offset: UTC
  EXPECT_EQ(ParseTimeSeconds("2026-12-07T11:30:00+01:30"), 1796637600.0);
  EXPECT_EQ(ParseTimeSeconds("2026-12-07T05:00:00-05:00"), 1796637600.0);
  EXPECT_EQ(ParseTimeSeconds("2026-12-07T10:00:00.250Z"), 1796637600.25);
  EXPECT_EQ(ParseTimeSeconds("1796637600"), 1796637600.0);
  EXPECT_EQ(ParseTimeSeconds("1796637600.5"), 1796637600.5);
  for (const char* bad : {"", "tomorrow", "2026-12-07", "2026-13-07T10:00:00Z", "2026-12-07T24:00:00Z",
                          "2026-12-07T10:60:00Z", "2026-12-07T10:00:00 UTC", "2026-12-07T10:00:00+0100"}) {
    EXPECT_FALSE(ParseTimeSeconds(bad).has_value()) << bad;
  }
}

TEST(Recommend, WorkloadFromPodName) {
  EXPECT_EQ(WorkloadFromPodName("web-7d4b9c8f6-x2x9z"), "web");
  EXPECT_EQ(WorkloadFromPodName("db-0"), "db");
  EXPECT_EQ(WorkloadFromPodName("agent-x2x9z"), "agent");
  EXPECT_EQ(WorkloadFromPodName("plain"), "plain");
}

}  // namespace
}  // namespace allot::autoscale
