// Readers on the real traces in ../shared/data/traces and on small bad inputs.
#include <zlib.h>

#include <gtest/gtest.h>

#include <set>

#include "allot/trace.h"
#include "support.h"

namespace allot::trace {
namespace {

using allot::testing::SharedDir;
using allot::testing::TempDir;

std::string Traces() { return SharedDir() + "/data/traces"; }

TEST(Readers, AlibabaNodesMatchTheReadme) {
  size_t gpus = 0, gpu_nodes = 0;
  auto st = ReadAlibabaNodes(Traces() + "/alibaba-gpu-v2023/openb_node_list_all_node.csv", [&](const AlibabaNode& n) {
    gpus += static_cast<size_t>(n.gpus);
    gpu_nodes += n.gpus > 0 ? 1 : 0;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  // README: 1523 nodes, 1213 of them with GPUs, 6212 GPUs in total.
  EXPECT_EQ(st->rows, 1523u);
  EXPECT_EQ(gpu_nodes, 1213u);
  EXPECT_EQ(gpus, 6212u);
}

TEST(Readers, AlibabaPodsMatchTheReadme) {
  size_t pending = 0, constrained = 0;
  auto st = ReadAlibabaPods(Traces() + "/alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv", [&](const AlibabaPod& p) {
    pending += p.scheduled ? 0 : 1;
    constrained += p.gpu_spec.empty() ? 0 : 1;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  // README: 8152 pods, 897 never scheduled, 2388 constrained in gpuspec33.
  EXPECT_EQ(st->rows, 8152u);
  EXPECT_EQ(pending, 897u);
  EXPECT_EQ(constrained, 2388u);
}

TEST(Readers, GoogleFirstHundredJobs) {
  std::set<int64_t> jobs;
  auto st = ReadGoogleTaskEvents(Traces() + "/google-2011/task_events-part-00000-first-100-jobs.csv",
                                 [&](const GoogleTaskEvent& e) { jobs.insert(e.job_id); });
  ASSERT_TRUE(st.ok()) << st.error().message;
  // README: 16262 rows of the first 100 distinct job ids.
  EXPECT_EQ(st->rows, 16262u);
  EXPECT_EQ(jobs.size(), 100u);
}

TEST(Readers, GoogleGzipShardStreams) {
  std::set<int64_t> jobs;
  size_t max_type = 0;
  auto st = ReadGoogleTaskEvents(Traces() + "/google-2011/task_events-part-00000-of-00500.csv.gz",
                                 [&](const GoogleTaskEvent& e) {
                                   jobs.insert(e.job_id);
                                   max_type = std::max(max_type, static_cast<size_t>(e.type));
                                 });
  ASSERT_TRUE(st.ok()) << st.error().message;
  // README: shard 0 holds 450146 rows and 4895 jobs, event types 0-5 only.
  EXPECT_EQ(st->rows, 450146u);
  EXPECT_EQ(jobs.size(), 4895u);
  EXPECT_EQ(max_type, 5u);
}

TEST(Readers, SwfNasaLog) {
  SwfHeader h;
  int64_t first_submit = -1, max_procs = 0;
  auto st = ReadSwf(Traces() + "/pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz", [&](const SwfJob& j) {
    if (first_submit < 0) first_submit = j.submit_s;
    max_procs = std::max(max_procs, j.allocated_procs);
  }, {}, &h);
  ASSERT_TRUE(st.ok()) << st.error().message;
  // README: 18239 jobs on a 128-node machine.
  EXPECT_EQ(st->rows, 18239u);
  EXPECT_EQ(h.max_procs, 128);
  EXPECT_EQ(first_submit, 0);
  EXPECT_LE(max_procs, 128);
}

TEST(Readers, LimitStopsEarly) {
  ReadOptions o;
  o.limit = 10;
  size_t n = 0;
  auto st = ReadGoogleTaskEvents(Traces() + "/google-2011/task_events-part-00000-of-00500.csv.gz",
                                 [&](const GoogleTaskEvent&) { n++; }, o);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(n, 10u);
}

constexpr const char* kPodHeader =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n";

TEST(Readers, BadRowsNameFileAndLine) {
  TempDir d;
  std::string path = d.Write("pods.csv", std::string(kPodHeader) +
                                             "p0,1000,1024,1,500,,LS,Running,0,10,0\n"
                                             "p1,-5,1024,0,0,,LS,Running,0,10,0\n"
                                             "p2,1000,1024\n"
                                             "p3,1000,1024,3,1000,,LS,Running,0,10,0\n");
  auto st = ReadAlibabaPods(path, [](const AlibabaPod&) {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(path + ":3: cpu_milli: negative value -5"), std::string::npos) << st.error().message;

  ReadOptions skip;
  skip.skip_bad = true;
  size_t good = 0;
  auto st2 = ReadAlibabaPods(path, [&](const AlibabaPod&) { good++; }, skip);
  ASSERT_TRUE(st2.ok());
  // Rows 3 (negative), 4 (truncated) and 5 (num_gpu 3) are bad; row 2 is good.
  EXPECT_EQ(good, 1u);
  EXPECT_EQ(st2->skipped, 3u);
}

TEST(Readers, UnknownColumnIsAnError) {
  TempDir d;
  std::string path = d.Write("nodes.csv", "sn,cpu_milli,memory_mib,gpu,model,colour\nn,1,1,0,,red\n");
  auto st = ReadAlibabaNodes(path, [](const AlibabaNode&) {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(":1: header: unknown column 'colour'"), std::string::npos) << st.error().message;
}

TEST(Readers, SwfCommentsSkippedAndBadFieldsReported) {
  TempDir d;
  std::string path = d.Write("x.swf", "; MaxProcs: 4\n;comment\n"
                                      "1 0 -1 10 2 -1 -1 2 20 -1 1 1 1 -1 -1 -1 -1 -1\n"
                                      "2 5 -1 abc 2 -1 -1 2 20 -1 1 1 1 -1 -1 -1 -1 -1\n");
  SwfHeader h;
  auto st = ReadSwf(path, [](const SwfJob&) {}, {}, &h);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(path + ":4: field 4: not an integer: 'abc'"), std::string::npos) << st.error().message;
  EXPECT_EQ(h.max_procs, 4);
}

TEST(Readers, GzipOfOwnFileAndTruncatedGzip) {
  TempDir d;
  std::string path = d.path() + "/e.csv.gz";
  std::string rows;
  for (int i = 0; i < 1000; i++) rows += std::to_string(600000000 + i) + ",,7," + std::to_string(i) + ",,0,u,0,1,0.1,0.2,0.0,0\n";
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, rows.data(), static_cast<unsigned>(rows.size()));
  gzclose(f);
  size_t n = 0;
  double cpu = 0;
  auto st = ReadGoogleTaskEvents(path, [&](const GoogleTaskEvent& e) {
    n++;
    cpu += e.cpu.value_or(0);
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(n, 1000u);
  // 1000 rows of cpu 0.1 each.
  EXPECT_NEAR(cpu, 100.0, 1e-9);

  std::string data = allot::testing::ReadFile(path);
  std::string cut = d.Write("cut.csv.gz", data.substr(0, data.size() / 2));
  auto st2 = ReadGoogleTaskEvents(cut, [](const GoogleTaskEvent&) {});
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.error().message.find("cut.csv.gz"), std::string::npos) << st2.error().message;
}

TEST(Readers, MissingFileNamesThePath) {
  auto st = ReadSwf("/nonexistent/x.swf", [](const SwfJob&) {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("/nonexistent/x.swf: cannot open"), std::string::npos);
}

TEST(TraceSpec, Parses) {
  auto s = ParseTraceSpec("alibaba-gpu2023:a.csv,b.csv");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->paths.size(), 2u);
  EXPECT_FALSE(ParseTraceSpec("alibaba-gpu2023:a.csv").ok());
  EXPECT_FALSE(ParseTraceSpec("azure:x").ok());
  EXPECT_FALSE(ParseTraceSpec("swf").ok());
}

TEST(GoogleNodeModel, PairsTheMarginals) {
  std::string g = Traces() + "/google-2011";
  auto nodes = GoogleNodeModel(g + "/machine-capacity-marginal-cpu.csv", g + "/machine-capacity-marginal-memory.csv", {});
  ASSERT_TRUE(nodes.ok()) << nodes.error().message;
  // 12583 machines minus 32 of capacity 0.
  ASSERT_EQ(nodes->size(), 12551u);
  // Largest with largest: the first machine is 1.0 cpu (64 cores) and 1.0 memory (256 GiB).
  EXPECT_EQ(nodes->front().capacity.at("cpu"), 64000);
  EXPECT_EQ(nodes->front().capacity.at("memory"), int64_t{256} << 30);
  // The last of the 123 machines of cpu 0.25 has the smallest memory, 0.03085 * 256 GiB.
  EXPECT_EQ(nodes->back().capacity.at("cpu"), 16000);
}

}  // namespace
}  // namespace allot::trace
