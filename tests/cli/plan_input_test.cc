// `allot plan` on inputs that are not what it expects (issue 15): a file without workloads (a CI
// workflow) and a misspelled key under a container's resources are bad input, not empty tables.
#include <gtest/gtest.h>

#include <string>

#include "support.h"

namespace allot::testing {
namespace {

TEST(PlanInput, ACiWorkflowHasNoWorkloads) {
  TempDir dir;
  std::string ci = dir.Write("ci.yml",
                             "name: CI\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
                             "    steps:\n      - uses: actions/checkout@v4\n      - run: make test\n");
  for (const char* format : {"table", "json", "markdown"}) {
    auto r = RunAllot({"plan", ci, "--format", format});
    EXPECT_EQ(r.exit_code, 2) << format << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("no workloads found"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("1 (no kind)"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "no empty tables";
  }
  // A ConfigMap alone is no workload either.
  auto cm = RunAllot({"plan", dir.Write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")});
  EXPECT_EQ(cm.exit_code, 2) << cm.out;
  EXPECT_NE(cm.err.find("1 ConfigMap"), std::string::npos) << cm.err;
}

TEST(PlanInput, AMisspelledResourcesKeyIsNamedWithItsLine) {
  TempDir dir;
  std::string deploy =
      "apiVersion: apps/v1\n"                     // 1
      "kind: Deployment\n"                        // 2
      "metadata: {name: web}\n"                   // 3
      "spec:\n"                                   // 4
      "  template:\n"                             // 5
      "    spec:\n"                               // 6
      "      containers:\n"                       // 7
      "        - name: app\n"                     // 8
      "          image: nginx\n"                  // 9
      "          resources:\n"                    // 10
      "            limits: {memory: 1Gi}\n"       // 11
      "            request: {cpu: 500m}\n";       // 12
  std::string path = dir.Write("web.yaml", deploy);
  auto r = RunAllot({"plan", path});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(path + ":12:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("resources.request: unknown key (did you mean requests?)"), std::string::npos) << r.err;
  std::string limit = deploy.substr(0, deploy.find("            limits")) + "            limit: {memory: 1Gi}\n";
  auto l = RunAllot({"plan", dir.Write("limit.yaml", limit)});
  EXPECT_EQ(l.exit_code, 2) << l.out;
  EXPECT_NE(l.err.find(":11:"), std::string::npos) << l.err;
  EXPECT_NE(l.err.find("resources.limit: unknown key (did you mean limits?)"), std::string::npos) << l.err;
  // Spelled right, the same file plans.
  std::string fixed = deploy.substr(0, deploy.find("            request:")) + "            requests: {cpu: 500m}\n";
  auto ok = RunAllot({"plan", dir.Write("fixed.yaml", fixed), "--format", "json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("\"web\""), std::string::npos) << ok.out;
}

}  // namespace
}  // namespace allot::testing
