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

// manifest_fuzz: an init container requesting memory at the top of the range (a quantity of 120 digits
// of Mi, read as 2^63-1 bytes) beside an app container requesting 33Mi: the QoS class sums every
// container's requests, and that sum overflowed (UBSan: signed integer overflow in ComputeWorkload). It
// saturates now, as the pod totals already did; the class is unchanged (requests without limits:
// Burstable).
TEST(PlanFuzzRegression, QosSumsOfHugeRequestsSaturate) {
  std::string huge(120, '8');
  std::string text =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: orders}\nspec:\n  replicas: 1\n  template:\n"
      "    spec:\n"
      "      initContainers: [{name: wait, resources: {requests: {memory: " +
      huge +
      "Mi}}}]\n"
      "      containers: [{name: app, resources: {requests: {cpu: 1m, memory: 33Mi}, limits: {cpu: 100m, "
      "memory: 256Mi}}}]\n";
  Manifests m;
  Status s = LoadText(text, "m.yaml", {}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  auto plan = MakePlan(m, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->workloads.size(), 1u);
  const Workload& w = plan->workloads[0];
  EXPECT_EQ(w.qos, Qos::kBurstable);
  EXPECT_EQ(w.pod_requests.at("memory"), INT64_MAX);  // the init container's, the larger phase
}

// compose_fuzz's reach (found reading the loader for the QoS finding above): a GPU device count past the
// int64 range of milli-GPUs (count × 1000 overflowed), or negative, or not a number. Each is now an error
// naming the line; "all" and whole numbers still load.
TEST(PlanFuzzRegression, AComposeGpuCountMustBeAWholeNumberOfDevices) {
  auto compose = [](const std::string& count) {
    return "services:\n  train:\n    image: trainer\n    deploy:\n      resources:\n        reservations:\n"
           "          devices:\n            - capabilities: [gpu]\n              count: " +
           count + "\n";
  };
  for (const char* bad : {"99999999999999999", "-2", "two", "1.5", "99999999999999999999999"}) {
    Manifests m;
    Status s = LoadText(compose(bad), "docker-compose.yml", {}, &m);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("docker-compose.yml:9"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("expected a whole number of devices"), std::string::npos) << s.message();
  }
  for (const auto& [count, milli] :
       std::vector<std::pair<std::string, int64_t>>{{"2", 2000}, {"all", 1000}}) {
    Manifests m;
    Status s = LoadText(compose(count), "docker-compose.yml", {}, &m);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(m.workloads.size(), 1u);
    EXPECT_EQ(m.workloads[0].containers[0].requests.at("gpu"), milli) << count;
  }
}

}  // namespace
}  // namespace allot::plan
