// Hostile traces through the real `allot trace convert` and `allot sim --trace` (issue 13): text fields
// that are not UTF-8 (they end up in scenarios and JSON), values that would overflow once scaled, and a
// capacity marginal asking for billions of machines exit 2 naming file, line and field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot::testing {
namespace {

const char* kNodesHead = "sn,cpu_milli,memory_mib,gpu,model\n";
const char* kPodsHead =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n";

void ExpectRejected(const RunResult& r, const std::string& want) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(want), std::string::npos) << "want " << want << "\ngot " << r.err;
}

TEST(TraceHardening, InvalidUtf8InATextFieldIsABadRow) {
  TempDir dir;
  std::string nodes = dir.Write("nodes.csv", std::string(kNodesHead) + "node-0,32000,262144,0,\n");
  std::string pods = dir.Write("pods.csv", std::string(kPodsHead) +
                                               "pod-0,1000,1024,0,0,,LS,Running,0,100,0\n"
                                               "pod\xff-1,1000,1024,0,0,,LS,Running,0,100,0\n");
  std::string spec = "alibaba-gpu2023:" + nodes + "," + pods;
  ExpectRejected(RunAllot({"trace", "convert", spec, "-o", "-"}), pods + ":3: field 1: invalid UTF-8 at byte 3");
  ExpectRejected(RunAllot({"sim", "--trace", spec, "--json"}), pods + ":3: field 1: invalid UTF-8 at byte 3");
  // --skip-bad drops the row and says so; what is written is then valid UTF-8 throughout.
  RunResult r = RunAllot({"trace", "convert", spec, "-o", "-", "--skip-bad"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 1 bad rows"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("pod-0"), std::string::npos);
  EXPECT_EQ(r.out.find("\xff"), std::string::npos);
  // In the node model column of the other file, and in a header.
  std::string bad_nodes = dir.Write("bad-nodes.csv", std::string(kNodesHead) + "node-0,32000,262144,1,V100\xc3\n");
  ExpectRejected(RunAllot({"trace", "convert", "alibaba-gpu2023:" + bad_nodes + "," + pods, "-o", "-"}),
                 bad_nodes + ":2: field 5: invalid UTF-8 at byte 4");
  std::string bad_head = dir.Write("bad-head.csv", "sn\xff,cpu_milli,memory_mib,gpu,model\n");
  ExpectRejected(RunAllot({"trace", "convert", "alibaba-gpu2023:" + bad_head + "," + pods, "-o", "-"}),
                 bad_head + ":1: header: unknown column 'sn\\xFF'");
}

TEST(TraceHardening, ValuesThatWouldOverflowAreOutOfRange) {
  TempDir dir;
  // 2^53 MiB of memory would overflow bytes; an SWF submit time of 10^15 s would overflow milliseconds.
  std::string nodes = dir.Write("nodes.csv", std::string(kNodesHead) + "node-0,32000,9007199254740992,0,\n");
  std::string pods = dir.Write("pods.csv", std::string(kPodsHead) + "pod-0,1000,1024,0,0,,LS,Running,0,100,0\n");
  ExpectRejected(RunAllot({"trace", "convert", "alibaba-gpu2023:" + nodes + "," + pods, "-o", "-"}),
                 nodes + ":2: memory_mib: 9007199254740992 is out of range");
  std::string swf = dir.Write("log.swf", "; MaxProcs: 8\n1 1000000000000000 0 10 1 -1 -1 1 10 -1 1 1 -1 -1 -1 -1 -1 -1\n");
  ExpectRejected(RunAllot({"trace", "convert", "swf:" + swf, "-o", "-"}), swf + ":2: field 2: 1000000000000000 is out of range");
  swf = dir.Write("avg.swf", "; MaxProcs: 8\n1 0 0 10 1 1e300 -1 1 10 -1 1 1 -1 -1 -1 -1 -1 -1\n");
  ExpectRejected(RunAllot({"trace", "convert", "swf:" + swf, "-o", "-"}), swf + ":2: field 6: 1e300 is out of range");
}

TEST(TraceHardening, AMarginalWithBillionsOfMachinesIsRefused) {
  // Was: 10^12 machines pushed one by one (memory exhausted, or minutes of work).
  TempDir dir;
  std::string events = dir.Write("events.csv", "0,,1,0,,0,u,0,0,0.1,0.1,0,0\n");
  std::string cpu = dir.Write("cpu.csv", "cpu_capacity,number_of_machines\n0.5,1000000000000\n");
  std::string mem = dir.Write("mem.csv", "memory_capacity,number_of_machines\n0.5,1\n");
  ExpectRejected(RunAllot({"trace", "convert", "google2011:" + events + "," + cpu + "," + mem, "-o", "-"}),
                 cpu + ":2: more than 10000000 machines in all");
}

}  // namespace
}  // namespace allot::testing
