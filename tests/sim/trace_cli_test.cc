// `allot sim --trace`: a real trace simulated through the same runner as scenario files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot {
namespace {

using testing::RunAllot;
using testing::SharedDir;

TEST(SimTraceTest, NasaSwfUnderFcfsAndBackfill) {
  std::string trace = "swf:" + SharedDir() + "/data/traces/pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz";
  auto fcfs = RunAllot({"sim", "--trace", trace, "--json"});
  ASSERT_EQ(fcfs.exit_code, 0) << fcfs.err;
  auto easy = RunAllot({"sim", "--trace", trace, "--backfill", "--json"});
  ASSERT_EQ(easy.exit_code, 0) << easy.err;
  auto f = nlohmann::json::parse(fcfs.out)["summary"];
  auto e = nlohmann::json::parse(easy.out)["summary"];
  // The log has 18,239 jobs (trace README); every one runs to completion on the 128-processor machine.
  EXPECT_EQ(f["requests"].get<int>(), 18239);
  EXPECT_EQ(f["completed"].get<int>(), 18239);
  EXPECT_EQ(e["completed"].get<int>(), 18239);
  // EASY never makes the mean wait worse than FCFS on this log.
  EXPECT_LE(e["mean_wait"].get<double>(), f["mean_wait"].get<double>());
}

TEST(SimTraceTest, AlibabaPlacesGpuSharesOnDevices) {
  std::string dir = SharedDir() + "/data/traces/alibaba-gpu-v2023/";
  auto r = RunAllot({"sim", "--trace", "alibaba-gpu2023:" + dir + "openb_node_list_all_node.csv," + dir +
                                           "openb_pod_list_default.csv", "--limit", "300", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["requests"].size(), 300u);
  int with_devices = 0;
  for (const auto& q : j["requests"]) {
    if (q.contains("devices")) with_devices++;
  }
  EXPECT_GT(with_devices, 0);  // GPU pods report the devices they got
}

TEST(SimTraceTest, BadTraceIsAnInputError) {
  auto r = RunAllot({"sim", "--trace", "bogus:x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown format"), std::string::npos) << r.err;
  auto both = RunAllot({"sim", "x.yaml", "--trace", "swf:y"});
  EXPECT_EQ(both.exit_code, 2);
}

}  // namespace
}  // namespace allot
