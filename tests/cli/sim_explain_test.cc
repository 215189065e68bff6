// `allot sim --explain` shows where each score comes from (issue 15): per node, each scored resource as
// what the node would hold with the request of what it has, and that resource's score; the README's tour
// prints exactly that (readme_tour_test checks the sample), and --json carries it as `score_terms`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

TEST(SimExplain, EachScoreShowsItsResources) {
  const std::string basic = SourceDir() + "/examples/sim/basic.yaml";
  auto text = RunAllot({"sim", basic, "--explain"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  // most-allocated, weights cpu 1 and memory 1, web-1 (2 cpu, 4Gi) at t=0 on empty nodes:
  // n1: cpu 2/8 -> 2*100/8 = 25, memory 4Gi/16Gi -> 25, mean 25; n3: 2/4 -> 50 and 4Gi/8Gi -> 50.
  EXPECT_NE(text.out.find("      score n1 = 25 (cpu 2/8 -> 25, memory 4Gi/16Gi -> 25)\n"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("      score n3 = 50 (cpu 2/4 -> 50, memory 4Gi/8Gi -> 50)\n"), std::string::npos)
      << text.out;
  // web-2 then finds web-1 on n3: 4/4 -> 100 and 8Gi/8Gi -> 100.
  EXPECT_NE(text.out.find("      score n3 = 100 (cpu 4/4 -> 100, memory 8Gi/8Gi -> 100)\n"),
            std::string::npos)
      << text.out;

  auto j = RunAllot({"sim", basic, "--explain", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  json doc = json::parse(j.out);
  const json& first = doc["explain"][0];
  ASSERT_EQ(first["id"], "web-1");
  const json& n1 = first["score_terms"]["n1"];
  ASSERT_EQ(n1.size(), 2u) << first.dump();
  EXPECT_EQ(n1[0], json({{"resource", "cpu"}, {"requested", 2000}, {"allocatable", 8000}, {"score", 25}}));
  EXPECT_EQ(n1[1], json({{"resource", "memory"},
                         {"requested", int64_t{4} << 30},
                         {"allocatable", int64_t{16} << 30},
                         {"score", 25}}));
}

TEST(SimExplain, BalancedAllocationShowsFractionsWithoutPerResourceScores) {
  TempDir dir;
  std::string s = dir.Write("b.yaml", R"(policy: {scoring: balanced-allocation}
nodes:
  - {name: a, capacity: {cpu: "4", memory: 8Gi}}
events:
  - {at: 0, submit: {id: p, tenant: t, requests: {cpu: "1", memory: 4Gi}}}
)");
  auto r = RunAllot({"sim", s, "--explain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // fractions 1/4 and 4Gi/8Gi: std = |0.25 - 0.5| / 2 = 0.125, score int((1 - 0.125) * 100) = 87.
  EXPECT_NE(r.out.find("      score a = 87 (cpu 1/4, memory 4Gi/8Gi)\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace allot::testing
