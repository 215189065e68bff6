// Bad scenarios through `allot sim`: exit 2, nothing on stdout, and an `allot: sim: FILE:LINE:COL: key.path:
// problem` message on stderr.
#include <gtest/gtest.h>

#include "sim_helpers.h"

namespace allot::testing {
namespace {

struct BadCase {
  const char* name;
  std::string body;      // appended after a one-node `nodes:` section
  std::string location;  // "LINE:COL: key.path" expected after the file name
  std::string problem;   // a fragment of the message
};

const char* kNodes = "nodes:\n  - {name: n1, capacity: {cpu: \"4\"}}\n";

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, ExitsTwoNamingFileLineAndKey) {
  const BadCase& c = GetParam();
  TempDir dir;
  std::string file = dir.Write("bad.yaml", std::string(kNodes) + c.body);
  for (bool json : {false, true}) {
    std::vector<std::string> args{"sim", file};
    if (json) args.push_back("--json");
    RunResult r = RunAllot(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    std::string want = "allot: sim: " + file + ":" + c.location;
    EXPECT_NE(r.err.find(want), std::string::npos) << "want " << want << "\ngot " << r.err;
    EXPECT_NE(r.err.find(c.problem), std::string::npos) << "want " << c.problem << "\ngot " << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, BadInput,
    ::testing::Values(
        BadCase{"UnknownKey", "events:\n  - {at: 0, submit: {id: a, requests: {cpu: 1}, colour: red}}\n",
                "4:49: events[0].submit", "unknown key \"colour\""},
        BadCase{"UnknownTopLevelKey", "nodez: []\n", "3:1", "unknown key \"nodez\""},
        BadCase{"NegativeQuantity", "events:\n  - {at: 0, submit: {id: a, requests: {cpu: \"-1\"}}}\n",
                "4:45: events[0].submit.requests.cpu", "negative"},
        BadCase{"UnparsableQuantity", "events:\n  - {at: 0, submit: {id: a, requests: {cpu: \"1.2.3\"}}}\n",
                "4:45: events[0].submit.requests.cpu", "invalid quantity \"1.2.3\""},
        BadCase{"DuplicateId",
                "events:\n  - {at: 0, submit: {id: a, requests: {cpu: \"1\"}}}\n"
                "  - {at: 1, submit: {id: a, requests: {cpu: \"1\"}}}\n",
                "5:26: events[1].submit.id", "duplicate id \"a\""},
        BadCase{"ReleaseOfUnknownId", "events:\n  - {at: 0, release: zz}\n", "4:22: events[0].release",
                "release of unknown id \"zz\""},
        BadCase{"EventOutOfTimeOrder",
                "events:\n  - {at: 5, submit: {id: a, requests: {cpu: \"1\"}}}\n"
                "  - {at: 2, submit: {id: b, requests: {cpu: \"1\"}}}\n",
                "5:10: events[1].at", "events must be in time order"},
        BadCase{"QuotaCycle", "tenants:\n  - {name: a, parent: b}\n  - {name: b, parent: a}\n", "4:5: tenants",
                "cycle"},
        BadCase{"UnknownParent", "tenants:\n  - {name: a, parent: ghost}\n", "4:23: tenants",
                "unknown parent \"ghost\""},
        BadCase{"GuaranteedAboveMax", "tenants:\n  - {path: a, quota: {guaranteed: {cpu: \"4\"}, max: {cpu: \"2\"}}}\n",
                "4:35: tenants[0].quota.guaranteed.cpu", "guaranteed (4) is above max (2)"},
        BadCase{"ChildrenGuaranteeAboveParentMax",
                "tenants:\n  - {path: org, quota: {max: {cpu: \"4\"}}}\n"
                "  - {path: org/a, quota: {guaranteed: {cpu: \"3\"}}}\n  - {path: org/b, quota: {guaranteed: {cpu: \"2\"}}}\n",
                "4:5: tenants", "children of org guarantee 5 cpu, above its max 4"},
        BadCase{"ReservationEndNotAfterStart",
                "events:\n  - {at: 0, reserve: {id: r, start: 100, end: 100, requests: {cpu: \"1\"}}}\n",
                "4:47: events[0].reserve.end", "must be after start"},
        BadCase{"UnknownStrategy", "policy: {scoring: nope}\n", "3:19: policy.scoring", "unknown strategy \"nope\""},
        BadCase{"UnknownNodeInEvent", "events:\n  - {at: 0, node_down: ghost}\n", "4:24: events[0].node_down",
                "unknown node \"ghost\""}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return std::string(i.param.name); });

// Regression (issue 13 item 6): a scenario without nodes crashed `allot sim` (SIGSEGV in the placement
// scan). It is valid input: the request stays queued because no node can ever fit it.
TEST(BadInputCli, ScenarioWithoutNodesRunsAndQueues) {
  for (std::string scoring : {"least-allocated", "most-allocated", "balanced-allocation", "gpu-fragmentation"}) {
    SimRun r = RunSim("policy: {scoring: " + scoring + "}\nevents: [{at: 0, submit: {id: h, requests: {cpu: \"1\"}}}]\n");
    ASSERT_EQ(r.exit_code, 0) << scoring << ": " << r.err;
    EXPECT_EQ(StateOf(r.out, "h"), "queued") << scoring;
    EXPECT_EQ(Request(r.out, "h")["reason"], "no node can ever fit it") << scoring;
  }
  SimRun bare = RunSim("events: [{at: 0, submit: {id: h, requests: {cpu: \"1\"}}}]\n");
  EXPECT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_EQ(StateOf(bare.out, "h"), "queued");
}

TEST(BadInputCli, MissingFileAndUsage) {
  RunResult r = RunAllot({"sim", "/nonexistent/scenario.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("allot: sim: "), std::string::npos) << r.err;
  r = RunAllot({"sim"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunAllot({"sim", "--help"});
  EXPECT_EQ(r.exit_code, 0);
}

}  // namespace
}  // namespace allot::testing
