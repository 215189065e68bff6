// Inputs the fuzzers (fuzz/, docs/fuzzing.md) found in the manifest and compose loaders. manifest_fuzz
// and compose_fuzz: a stray "," where a YAML document should start never returned from yaml-cpp 0.7's
// LoadAll (an endless loop that grew memory by gigabytes a minute); it is now a malformed-YAML error
// naming the line (allot::YamlLoadAll). Before the fix these tests hang until CTest's timeout.
#include <gtest/gtest.h>

#include <string>

#include "allot/plan.h"
#include "support.h"

namespace allot::plan {
namespace {

void ExpectMalformedAt(const std::string& text, const std::string& source, const std::string& where) {
  Manifests m;
  Status s = LoadText(text, source, {}, &m);
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_NE(s.message().find(where + ": malformed YAML"), std::string::npos) << s.message();
}

TEST(PlanFuzzRegression, AStrayCommaWhereADocumentStartsIsAnErrorNotAHang) {
  ExpectMalformedAt(",", "m.yaml", "m.yaml:1");
  ExpectMalformedAt("--- ,\n", "m.yaml", "m.yaml:1");
  // After a good document, and after an explicit document end.
  std::string deployment =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n"
      "    spec:\n      containers: [{name: app, resources: {requests: {cpu: 100m}}}]\n";
  ExpectMalformedAt(deployment + "---\n,\n", "m.yaml", "m.yaml:10");
  ExpectMalformedAt(deployment + "...\n  ,\n", "m.yaml", "m.yaml:10");
  // The compose file the fuzzer reduced to it.
  ExpectMalformedAt("services:\n  web: {image: nginx}\n---\n  ,cartsM}\n", "docker-compose.yml",
                    "docker-compose.yml:4");
  // Documents that are fine still load.
  Manifests m;
  Status s = LoadText("---\n" + deployment + "---\n---\n", "m.yaml", {}, &m);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m.documents, 3);
}

// The same through the binary, which is where the hang was seen: exit 2 and the file's line.
TEST(PlanFuzzRegression, PlanOnAStrayCommaExitsTwo) {
  allot::testing::TempDir dir;
  std::string f = dir.Write("m.yaml", "# Source: a chart\n,\n");
  auto r = allot::testing::RunAllot({"plan", f});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(f + ":2: malformed YAML"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace allot::plan
