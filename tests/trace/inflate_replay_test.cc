// Inflation on the real Alibaba trace, replay through the engine, and the `allot trace` CLI.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "allot/sim.h"
#include "allot/trace.h"
#include "support.h"

namespace allot::trace {
namespace {

using allot::testing::RunAllot;
using allot::testing::SharedDir;
using allot::testing::TempDir;

std::string Traces() { return SharedDir() + "/data/traces"; }
std::string Alibaba(const char* pods = "openb_pod_list_default.csv") {
  return "alibaba-gpu2023:" + Traces() + "/alibaba-gpu-v2023/openb_node_list_all_node.csv," + Traces() +
         "/alibaba-gpu-v2023/" + pods;
}
std::string Nasa() { return "swf:" + Traces() + "/pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz"; }

TEST(Inflation, DeterministicBySeed) {
  auto spec = ParseTraceSpec(Alibaba());
  ASSERT_TRUE(spec.ok());
  InflationOptions o;
  o.policies = {"gpu-fragmentation", "random"};
  o.seed = 5;
  auto a = InflateTrace(*spec, o);
  auto b = InflateTrace(*spec, o);
  ASSERT_TRUE(a.ok()) << a.error().message;
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(a->runs.size(), 2u);
  for (size_t i = 0; i < a->runs.size(); i++) {
    EXPECT_EQ(a->runs[i].first_failure.pods_arrived, b->runs[i].first_failure.pods_arrived);
    EXPECT_EQ(a->runs[i].end.pods_placed, b->runs[i].end.pods_placed);
    EXPECT_DOUBLE_EQ(a->runs[i].end.fragmented_gpus, b->runs[i].end.fragmented_gpus);
  }
  o.seed = 6;
  auto c = InflateTrace(*spec, o);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->runs[0].end.pods_arrived, c->runs[0].end.pods_arrived);  // another seed, other arrivals
  // Cluster totals from the README.
  EXPECT_EQ(a->gpus, 6212u);
  EXPECT_EQ(a->nodes, 1523u);
}

TEST(Inflation, FragmentationAwareLeavesFewerGpusUnallocatedThanBestFit) {
  // Measured over 10 seeds: gpu-fragmentation leaves ~296 GPUs unallocated at the first failed pod and
  // ~292 when arrivals reach the capacity; best-fit ~463 and ~458 (36 % fewer). Over these 3 seeds the
  // test asks for at least 20 % fewer at both points (the target, 25 %, is over 10 seeds).
  auto spec = ParseTraceSpec(Alibaba());
  ASSERT_TRUE(spec.ok());
  InflationOptions o;
  o.policies = {"gpu-fragmentation", "best-fit"};
  o.seed = 1;
  o.seeds = 3;
  auto r = InflateTrace(*spec, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  double fgd_first = 0, bf_first = 0, fgd_end = 0, bf_end = 0;
  for (const auto& run : r->runs) {
    bool bf = run.policy == "best-fit";
    (bf ? bf_first : fgd_first) += run.first_failure.unallocated_gpus / 3;
    (bf ? bf_end : fgd_end) += run.end.unallocated_gpus / 3;
  }
  EXPECT_LE(fgd_first, 0.8 * bf_first) << "first failure: fgd " << fgd_first << " best-fit " << bf_first;
  EXPECT_LE(fgd_end, 0.8 * bf_end) << "end: fgd " << fgd_end << " best-fit " << bf_end;
  for (const auto& run : r->runs) {
    // Every snapshot is consistent: allocated + unallocated = capacity; fragment <= unallocated.
    EXPECT_NEAR(run.end.allocated_share * 6212 + run.end.unallocated_gpus, 6212, 1e-6);
    EXPECT_LE(run.end.fragmented_gpus, run.end.unallocated_gpus + 1e-9);
  }
}

TEST(Replay, NasaFcfsVersusEasy) {
  auto spec = ParseTraceSpec(Nasa());
  ASSERT_TRUE(spec.ok());
  auto w = LoadWorkload(*spec);
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_EQ(w->jobs.size(), 18239u);
  ASSERT_EQ(w->nodes.size(), 1u);
  EXPECT_EQ(w->nodes[0].capacity.at("cpu"), 128000);  // MaxProcs 128, 1 processor = 1 cpu
  ReplayOptions o;
  auto fcfs = Replay(*w, o);
  o.policy.backfill = true;
  auto easy = Replay(*w, o);
  ASSERT_TRUE(fcfs.ok()) << fcfs.error().message;
  ASSERT_TRUE(easy.ok()) << easy.error().message;
  EXPECT_EQ(fcfs->started, 18239u);
  EXPECT_EQ(easy->started, 18239u);
  // Measured: FCFS mean wait ~8.0 s, bounded slowdown ~1.026; EASY ~4.0 s and ~1.012.
  EXPECT_LE(easy->mean_wait_s, fcfs->mean_wait_s);
  EXPECT_LE(easy->mean_bounded_slowdown, fcfs->mean_bounded_slowdown);
  EXPECT_GE(fcfs->mean_bounded_slowdown, 1.0);
  EXPECT_GT(fcfs->utilization.at("cpu"), 0.0);
  EXPECT_LE(fcfs->utilization.at("cpu"), 1.0);
}

TEST(Replay, AlibabaWholeTrace) {
  auto spec = ParseTraceSpec(Alibaba("openb_pod_list_gpuspec33.csv"));
  ASSERT_TRUE(spec.ok());
  auto w = LoadWorkload(*spec);
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_EQ(w->jobs.size(), 8152u);
  auto r = Replay(*w, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  // At most 56 pods run at once in the real trace, so every scheduled pod starts; the 897 never-scheduled
  // ones may start or give up.
  EXPECT_GE(r->started, 8152u - 897u);
  EXPECT_EQ(r->started + r->rejected + r->never_started, 8152u);
  EXPECT_GE(r->peak_nodes_used, r->nodes_lower_bound);
}

TEST(Cli, ConvertThenSim) {
  TempDir d;
  std::string out = d.path() + "/nasa.yaml";
  auto r = RunAllot({"trace", "convert", Nasa(), "-o", out, "--limit", "40", "--backfill"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto sc = sim::LoadScenario(out);
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  EXPECT_EQ(sc->nodes.size(), 1u);
  EXPECT_EQ(sc->events.size(), 40u);
  EXPECT_TRUE(sc->policy.backfill);
  auto s = RunAllot({"sim", out, "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto j = nlohmann::json::parse(s.out);
  EXPECT_EQ(j["requests"].size(), 40u);
}

TEST(Cli, ReplayJsonAndBadInput) {
  auto r = RunAllot({"trace", "replay", Nasa(), "--compare", "--json", "--limit", "500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0]["backfill"], false);
  EXPECT_EQ(j["runs"][1]["backfill"], true);
  EXPECT_EQ(j["runs"][0]["jobs"], 500);

  auto bad = RunAllot({"trace", "replay", "swf:/nonexistent.swf"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("allot: trace replay: /nonexistent.swf: cannot open"), std::string::npos) << bad.err;
  EXPECT_EQ(RunAllot({"trace", "bogus"}).exit_code, 2);
  EXPECT_EQ(RunAllot({"trace", "replay", "--help"}).exit_code, 0);

  TempDir d;
  std::string nodes = d.Write("n.csv", "sn,cpu_milli,memory_mib,gpu,model\nn1,1000,1000,1,T4\n");
  std::string pods = d.Write("p.csv",
                             "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
                             "deletion_time,scheduled_time\np1,100,100,1,500,A10,LS,Running,0,10,0\n");
  auto nomodel = RunAllot({"trace", "replay", "alibaba-gpu2023:" + nodes + "," + pods});
  EXPECT_EQ(nomodel.exit_code, 2);
  EXPECT_NE(nomodel.err.find("pod p1: no node has a GPU of model A10"), std::string::npos) << nomodel.err;
}

TEST(Cli, InflateTableJsonAndPlot) {
  TempDir d;
  std::string svg = d.path() + "/p.svg";
  auto r = RunAllot({"trace", "inflate", Alibaba(), "--policies", "gpu-fragmentation,best-fit", "--seed", "2",
                     "--json", "--plot", svg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["summary"].size(), 2u);
  EXPECT_EQ(j["summary"][0]["policy"], "gpu-fragmentation");
  std::string plot = allot::testing::ReadFile(svg);
  EXPECT_NE(plot.find("<svg"), std::string::npos);
  EXPECT_NE(plot.find("best-fit"), std::string::npos);
  EXPECT_EQ(RunAllot({"trace", "inflate", Alibaba(), "--policies", "tetris"}).exit_code, 2);
}

}  // namespace
}  // namespace allot::trace
