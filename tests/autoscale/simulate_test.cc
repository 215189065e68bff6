// The HPA simulator: timeline over a usage series, bad series, and the CLI with --plot.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "allot/autoscale.h"
#include "support.h"

namespace allot::autoscale {
namespace {

const char* kHpa =
    "spec: {minReplicas: 1, maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
    "Utilization, averageUtilization: 50}}}], behavior: {scaleDown: {stabilizationWindowSeconds: 60}}}\n";

TEST(Simulate, Timeline) {
  auto spec = ParseHpaSpecText(kHpa, "hpa.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  auto series = ParseUsageSeries("time,cpu\n0,1\n60,3\n120,2\n", "u.csv");
  ASSERT_TRUE(series.ok()) << series.error().message;
  SimulationOptions opt;
  opt.sync_period_seconds = 60;
  auto steps = Simulate(*spec, *series, opt);
  ASSERT_TRUE(steps.ok()) << steps.error().message;
  ASSERT_EQ(steps->size(), 3u);
  // t=0: 1 core on 1 pod of 1 cpu: 100 % vs 50 %, ratio 2; ceil(2·1) = 2.
  EXPECT_EQ((*steps)[0].desired, 2);
  // t=60: 3 cores on 2 pods: 150 %, ratio 3; ceil(3·2) = 6; default scale-up policies allow max(2+4, 4) = 6.
  EXPECT_EQ((*steps)[1].desired, 6);
  // t=120: 2 cores on 6 pods: 2000/6 = 333m each, 2000·100/6000 = 33 %, ratio 0.66; ceil(0.66·6) = 4; the 60 s
  // window sees the recommendation of 6 made at t=60 only while its age < 60, so 4.
  EXPECT_EQ((*steps)[2].desired, 4);
}

TEST(Simulate, BadSeries) {
  EXPECT_FALSE(ParseUsageSeries("time,cpu\n", "u.csv").ok());
  auto r = ParseUsageSeries("time,cpu\n10,1\n5,1\n", "u.csv");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("u.csv:3"), std::string::npos) << r.error().message;
  EXPECT_FALSE(ParseUsageSeries("time,cpu\n10,1\n10,1\n", "u.csv").ok());
  EXPECT_FALSE(ParseUsageSeries("cpu,time\n1,1\n", "u.csv").ok());
}

TEST(SimulateCli, TableJsonAndPlot) {
  testing::TempDir dir;
  auto hpa = dir.Write("hpa.yaml", kHpa);
  auto csv = dir.Write("u.csv", "time,cpu\n0,1\n60,3\n120,2\n");
  auto svg = dir.path() + "/out.svg";
  auto r = testing::RunAllot({"autoscale", "simulate", "--hpa", hpa, csv, "--sync-period", "60", "--plot", svg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["final_replicas"], 4);
  EXPECT_EQ(j["timeline"].size(), 3u);
  std::string plot = testing::ReadFile(svg);
  EXPECT_EQ(plot.rfind("<svg", 0), 0u);
  EXPECT_NE(plot.find("<polyline"), std::string::npos);
  EXPECT_NE(plot.find("</svg>"), std::string::npos);
  r = testing::RunAllot({"autoscale", "simulate", "--hpa", hpa, dir.Write("e.csv", "time,cpu\n"), "--format", "table"});
  EXPECT_EQ(r.exit_code, 2);
  r = testing::RunAllot({"autoscale", "simulate", "--hpa", hpa, dir.Write("n.csv", "time,cpu\n5,1\n1,1\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("strictly increasing"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace allot::autoscale
