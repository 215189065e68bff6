// `allot plan` end to end: the JSON contract, the seed-style matrix from examples/plan/seed, environments,
// exit codes (--fail-on, bad input), stdin, --emit patch and --emit quota.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot::plan {
namespace {

using allot::testing::RunAllot;
using json = nlohmann::json;
constexpr int64_t kMi = int64_t{1} << 20;
constexpr int64_t kGi = int64_t{1} << 30;

std::string Seed() { return allot::testing::SourceDir() + "/examples/plan/seed"; }

json RunJson(std::vector<std::string> args, int expect_exit = 0) {
  args.insert(args.begin(), "plan");
  args.push_back("--format");
  args.push_back("json");
  auto r = RunAllot(args);
  EXPECT_EQ(r.exit_code, expect_exit) << r.err;
  try {
    return json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out.substr(0, 500);
    return json::object();
  }
}

const json& Workload(const json& out, const std::string& name) {
  for (const auto& w : out["workloads"]) {
    if (w["name"] == name) return w;
  }
  ADD_FAILURE() << "no workload " << name;
  static const json kNone = json::object();
  return kNone;
}

TEST(PlanCliTest, JsonContractKeysAndUnits) {
  json out = RunJson({Seed()});
  ASSERT_TRUE(out.contains("workloads"));
  for (const auto& w : out["workloads"]) {
    for (const char* k : {"kind", "name", "namespace", "replicas", "min_replicas", "max_replicas", "qos", "containers", "pod"}) {
      EXPECT_TRUE(w.contains(k)) << k;
    }
    for (const auto& c : w["containers"]) {
      EXPECT_TRUE(c.contains("name"));
      EXPECT_TRUE(c["requests"]["cpu"].is_number_integer());
      EXPECT_TRUE(c.contains("limits"));
    }
    EXPECT_TRUE(w["pod"]["requests"]["memory"].is_number_integer());
  }
  for (const char* at : {"min", "max"}) {
    EXPECT_TRUE(out["totals"][at]["requests"]["cpu"].is_number_integer());
    EXPECT_TRUE(out["totals"][at]["limits"]["memory"].is_number_integer());
  }
  EXPECT_TRUE(out["findings"].is_array());
  EXPECT_TRUE(out.contains("sizing"));
  // Units: cpu in millicores, memory in bytes, gpu in devices.
  const json& ml = Workload(out, "ml-inference");
  EXPECT_EQ(ml["pod"]["requests"]["cpu"], 2000);
  EXPECT_EQ(ml["pod"]["requests"]["memory"], 8 * kGi);
  EXPECT_EQ(ml["pod"]["requests"]["gpu"], 1);
  EXPECT_EQ(ml["containers"][0]["limits"]["gpu"], 1);
}

// The seed's "Resource Allocation Matrix", recomputed from examples/plan/seed (see the header of shop.yaml).
TEST(PlanCliTest, SeedMatrixTotalsQosAndReplicas) {
  json out = RunJson({Seed()});
  ASSERT_EQ(out["workloads"].size(), 4u);
  EXPECT_EQ(Workload(out, "api-gateway")["min_replicas"], 3);
  EXPECT_EQ(Workload(out, "api-gateway")["max_replicas"], 10);
  EXPECT_EQ(Workload(out, "user-service")["max_replicas"], 6);
  EXPECT_EQ(Workload(out, "ml-inference")["max_replicas"], 4);
  EXPECT_EQ(Workload(out, "postgres")["qos"], "Guaranteed");
  EXPECT_EQ(Workload(out, "api-gateway")["qos"], "Burstable");
  const json& mn = out["totals"]["min"];
  const json& mx = out["totals"]["max"];
  // requests at min: 3 × 500m + 2 × 250m + 1 + 2 = 5000m; memory 3 × 512Mi + 2 × 256Mi + 2Gi + 8Gi = 12Gi; 1 GPU.
  EXPECT_EQ(mn["requests"]["cpu"], 5000);
  EXPECT_EQ(mn["requests"]["memory"], 12 * kGi);
  EXPECT_EQ(mn["requests"]["gpu"], 1);
  // requests at max: 10 × 500m + 6 × 250m + 1 + 4 × 2 = 15500m; memory 10 × 512 + 6 × 256 + 2048 + 4 × 8192
  //   = 41472Mi; 4 GPUs.
  EXPECT_EQ(mx["requests"]["cpu"], 15500);
  EXPECT_EQ(mx["requests"]["memory"], 41472 * kMi);
  EXPECT_EQ(mx["requests"]["gpu"], 4);
  // limits at min: 3 × 1 + 2 × 500m + 1 + 4 = 9000m; memory 3 × 1Gi + 2 × 512Mi + 2Gi + 16Gi = 22Gi.
  EXPECT_EQ(mn["limits"]["cpu"], 9000);
  EXPECT_EQ(mn["limits"]["memory"], 22 * kGi);
  // limits at max: 10 × 1 + 6 × 500m + 1 + 4 × 4 = 30000m; memory 10Gi + 3Gi + 2Gi + 64Gi = 79Gi.
  EXPECT_EQ(mx["limits"]["cpu"], 30000);
  EXPECT_EQ(mx["limits"]["memory"], 79 * kGi);
  // Pods: 3 + 2 + 1 + 1 = 7 at min, 10 + 6 + 1 + 4 = 21 at max.
  EXPECT_EQ(mn["pods"], 7);
  EXPECT_EQ(mx["pods"], 21);
  EXPECT_EQ(out["totals"]["by_namespace"]["shop"]["max"]["requests"]["cpu"], 15500);
}

TEST(PlanCliTest, SeedEnvironmentMultipliers) {
  // Default dev: 0.5× cpu and memory, 1× GPU: 5000m -> 2500m, 12Gi -> 6Gi, 1 GPU stays 1.
  json dev = RunJson({Seed(), "--env", "dev"});
  EXPECT_EQ(dev["env"], "dev");
  EXPECT_EQ(dev["totals"]["min"]["requests"]["cpu"], 2500);
  EXPECT_EQ(dev["totals"]["min"]["requests"]["memory"], 6 * kGi);
  EXPECT_EQ(dev["totals"]["min"]["requests"]["gpu"], 1);
  // Per workload too: api-gateway's 500m request becomes 250m.
  EXPECT_EQ(Workload(dev, "api-gateway")["pod"]["requests"]["cpu"], 250);
  // prod 1.5× at max: 15500m × 1.5 = 23250m; 41472Mi × 1.5 = 62208Mi.
  json prod = RunJson({Seed(), "--env", "prod"});
  EXPECT_EQ(prod["totals"]["max"]["requests"]["cpu"], 23250);
  EXPECT_EQ(prod["totals"]["max"]["requests"]["memory"], 62208 * kMi);
  // Every configured environment is reported without --env as well.
  json plain = RunJson({Seed()});
  EXPECT_EQ(plain["environments"]["staging"]["min"]["requests"]["cpu"], 5000);
  EXPECT_EQ(plain["environments"]["dev"]["max"]["limits"]["cpu"], 15000);  // 30000m × 0.5
  // A config file changes the multipliers: dev cpu 0.25× -> 5000m × 0.25 = 1250m; memory 0.5× -> 6Gi.
  std::string cfg = allot::testing::SourceDir() + "/examples/plan/environments.yaml";
  json custom = RunJson({Seed(), "--config", cfg, "--env", "dev"});
  EXPECT_EQ(custom["totals"]["min"]["requests"]["cpu"], 1250);
  EXPECT_EQ(custom["totals"]["min"]["requests"]["memory"], 6 * kGi);
  EXPECT_EQ(RunAllot({"plan", Seed(), "--env", "qa"}).exit_code, 2);
}

TEST(PlanCliTest, SeedSizingAndQuotaFit) {
  json out = RunJson({Seed(), "--node-shape", "cpu=8,memory=32Gi,name=cpu", "--node-shape",
                      "cpu=8,memory=64Gi,gpu=1,name=gpu"});
  const json& mx = out["sizing"]["max"];
  // At max: 4 GPU pods, one GPU each -> 4 GPU nodes; CPU pods 10 × 500m + 6 × 250m + 1 = 7500m and
  // 10 × 512Mi + 6 × 256Mi + 2Gi = 8.5Gi fit one 8-cpu node.
  std::map<std::string, int> by_shape;
  for (const auto& b : mx["by_shape"]) by_shape[b["shape"]] = b["nodes"];
  EXPECT_EQ(by_shape["gpu"], 4);
  EXPECT_EQ(by_shape["cpu"], 1);
  EXPECT_EQ(mx["nodes"], 5);
  // Lower bound: GPU nodes are reserved for GPU pods, so the groups add: 4 GPUs over 1 per node = 4, plus
  // ceil(7500m / 8000m) = 1 CPU node = 5: the packing is optimal.
  EXPECT_EQ(mx["lower_bound"], 5);
  EXPECT_EQ(out["sizing"]["min"]["nodes"], 2);
  // 20% headroom: 6400m usable per CPU node, so 7500m needs 2 CPU nodes.
  json headroom = RunJson({Seed(), "--node-shape", "cpu=8,memory=32Gi,name=cpu", "--node-shape",
                           "cpu=8,memory=64Gi,gpu=1,name=gpu", "--headroom", "20%"});
  EXPECT_EQ(headroom["sizing"]["max"]["nodes"], 6);
  // Quota: requests.cpu 12 < 15500m at max (over by 3500m, warning); limits.cpu 24 < 30 at max.
  int over = 0;
  for (const auto& q : out["quota"]) {
    if (q["checked"] && !q["fits_max"]) over++;
    if (q["key"] == "persistentvolumeclaims") {
      EXPECT_EQ(q["used_max"], 1);  // postgres' one claim template
    }
  }
  EXPECT_EQ(over, 2);
}

TEST(PlanCliTest, FailOnSeverityExitCodes) {
  std::string shared = allot::testing::SharedDir() + "/data/manifests/sock-shop-complete-demo.yaml";
  // sock-shop has BestEffort pods (warning) but no error findings.
  EXPECT_EQ(RunAllot({"plan", shared, "--fail-on", "warning"}).exit_code, 1);
  EXPECT_EQ(RunAllot({"plan", shared, "--fail-on", "error"}).exit_code, 0);
  EXPECT_EQ(RunAllot({"plan", shared}).exit_code, 0);
  EXPECT_EQ(RunAllot({"plan", shared, "--fail-on", "loud"}).exit_code, 2);
}

TEST(PlanCliTest, BadInputExitsTwoNamingFileAndLine) {
  allot::testing::TempDir dir;
  std::string f = dir.Write("bad.yaml", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [\n");
  auto r = RunAllot({"plan", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("allot: plan: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
  EXPECT_EQ(RunAllot({"plan"}).exit_code, 2);
  EXPECT_EQ(RunAllot({"plan", dir.path() + "/nope.yaml"}).exit_code, 2);
  EXPECT_EQ(RunAllot({"plan", Seed(), "--node-shape", "cpu=8"}).exit_code, 2);
  EXPECT_EQ(RunAllot({"plan", "--help"}).exit_code, 0);
}

TEST(PlanCliTest, StdinAndFormats) {
  std::string pod = "kind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n"
                    "    - {name: c, resources: {requests: {cpu: 300m, memory: 64Mi}}}\n";
  auto r = RunAllot({"plan", "-", "--format", "json"}, pod);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  EXPECT_EQ(out["totals"]["min"]["requests"]["cpu"], 300);
  auto table = RunAllot({"plan", Seed()});
  EXPECT_NE(table.out.find("ml-inference"), std::string::npos);
  EXPECT_NE(table.out.find("TOTAL"), std::string::npos);
  auto md = RunAllot({"plan", Seed(), "--format", "markdown"});
  EXPECT_NE(md.out.find("| shop | Deployment | api-gateway |"), std::string::npos) << md.out;
  EXPECT_EQ(RunAllot({"plan", Seed(), "--format", "xml"}).exit_code, 2);
}

TEST(PlanCliTest, EmitPatchAndQuota) {
  std::string shared = allot::testing::SharedDir() + "/data/manifests/sock-shop-complete-demo.yaml";
  auto r = RunAllot({"plan", shared, "--emit", "patch"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json patches = json::parse(r.out);
  ASSERT_TRUE(patches.is_array());
  bool carts_db = false;
  for (const auto& p : patches) {
    EXPECT_EQ(p["type"], "strategic");
    EXPECT_NE(p["command"].get<std::string>().find("kubectl patch"), std::string::npos);
    if (p["name"] == "carts-db" && p["rule"] == "besteffort-pod") {
      carts_db = true;
      EXPECT_TRUE(p["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].contains("cpu"));
    }
  }
  EXPECT_TRUE(carts_db);
  auto q = RunAllot({"plan", Seed(), "--emit", "quota", "--quota-headroom", "0.5"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  // requests.cpu: 15500m at max × 1.5 = 23250m.
  EXPECT_NE(q.out.find("requests.cpu: 23250m"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("kind: LimitRange"), std::string::npos);
  // What --emit quota writes loads back as a quota that the seed fits.
  allot::testing::TempDir dir;
  dir.Write("quota.yaml", q.out);
  json back = RunJson({Seed(), dir.path()});
  for (const auto& c : back["quota"]) {
    if (c["quota"] == "allot-quota" && c["checked"]) {
      EXPECT_TRUE(c["fits_max"]) << c.dump();
    }
  }
}

}  // namespace
}  // namespace allot::plan
