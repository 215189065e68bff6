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

// manifest_fuzz: a memory request at the top of the range ("8Ei", capped at 2^63-1 bytes) and no memory
// limit: the missing-limits finding suggested request × the minimum ratio, cast from a double past int64
// (UBSan: "outside the range of representable values"; in practice INT64_MIN, a negative limit). The
// suggestion now saturates at the last whole Mi below 2^63.
TEST(PlanFuzzRegression, ALimitSuggestedForAHugeRequestSaturates) {
  std::string text =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n"
      "    spec:\n      containers: [{name: app, resources: {requests: {cpu: 100m, memory: 8Ei}}}]\n";
  Manifests m;
  Status s = LoadText(text, "m.yaml", {}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  auto plan = MakePlan(m, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  bool found = false;
  for (const Finding& f : plan->findings) {
    if (f.rule != "missing-limits" || f.message.find("memory") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(f.fix.find('-'), std::string::npos) << f.fix;  // no negative amount
    // 2^63 - 2^20 bytes: the last whole Mi below 2^63.
    EXPECT_NE(f.fix.find("limits.memory: 8796093022207Mi"), std::string::npos) << f.fix;
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace allot::plan
