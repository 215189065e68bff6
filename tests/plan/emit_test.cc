// `allot plan --emit hpa` and `--emit patch --targets` end to end with the real kubectl (offline, --local):
// generated HPAs are read back by `kubectl patch --local` and decided on by `allot autoscale eval`; JSON
// patches to a table of targets are applied by `kubectl patch --local --type=json` to the shared real
// manifests and give the same object as `kubectl set resources --local`, changing nothing else; seed 000's
// markdown tables work as written; bad tables exit 2 naming file:line:key with nothing on stdout.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "support.h"

namespace allot::plan {
namespace {

using allot::testing::RunAllot;
using allot::testing::RunProgram;
using allot::testing::TempDir;
using json = nlohmann::json;

bool Installed(const std::string& program) {
  return RunProgram({"sh", "-c", "command -v " + program + " >/dev/null"}).exit_code == 0;
}

std::string Manifest(const std::string& name) {
  return allot::testing::SharedDir() + "/data/manifests/" + name;
}
std::string Seed000() { return allot::testing::SharedDir() + "/seeds/000_fcbb851573945833.txt"; }

class EmitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Installed("kubectl")) GTEST_SKIP() << "kubectl is not installed (Debian package kubernetes-client)";
  }
};

// The text of the one document of `file` with that kind, name (and namespace when the document has one),
// cut out as written (documents are split at `---` lines).
std::string CutDocument(const std::string& file, const std::string& kind, const std::string& name) {
  const std::string text = allot::testing::ReadFile(file);
  std::vector<std::string> docs(1);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("---", 0) == 0) {
      docs.emplace_back();
    } else {
      docs.back() += line + "\n";
    }
  }
  for (const auto& d : docs) {
    YAML::Node n;
    try {
      n = YAML::Load(d);
    } catch (const YAML::Exception&) {
      continue;
    }
    if (n.IsMap() && n["kind"] && n["kind"].as<std::string>() == kind &&
        n["metadata"]["name"].as<std::string>() == name)
      return d;
  }
  ADD_FAILURE() << kind << "/" << name << " not in " << file;
  return "";
}

json Kubectl(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"kubectl"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = RunProgram(a);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Several objects come out one after the other: gather them as a List.
  std::vector<json> objects;
  try {
    std::istringstream in(r.out);
    while (in >> std::ws && in.peek() != EOF) {
      json o;
      in >> o;
      objects.push_back(std::move(o));
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "kubectl gave no JSON: " << e.what() << "\n" << r.out << r.err;
    return json::object();
  }
  if (objects.size() == 1) return objects[0];
  return {{"kind", "List"}, {"items", objects}};
}

json PatchesFor(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"plan"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = RunAllot(a);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

const json& Entry(const json& patches, const std::string& name) {
  for (const auto& p : patches) {
    if (p["name"] == name) return p;
  }
  ADD_FAILURE() << "no patch for " << name;
  static const json kNone = json::object();
  return kNone;
}

// Applies the entry's JSON patch to its document with kubectl; also returns the unpatched object as kubectl
// prints it, for comparison.
std::pair<json, json> Apply(const TempDir& dir, const json& entry) {
  const std::string doc = dir.Write(entry["name"].get<std::string>() + ".yaml",
                                    CutDocument(entry["file"], entry["kind"], entry["name"]));
  json before = Kubectl({"patch", "--local", "-f", doc, "--type=json", "-p", "[]", "-o", "json"});
  json after =
      Kubectl({"patch", "--local", "-f", doc, "--type=json", "-p", entry["patch"].dump(), "-o", "json"});
  // The command line allot prints carries the same patch.
  const std::string cmd = entry["command"];
  EXPECT_NE(cmd.find("--type=json -p '" + entry["patch"].dump() + "'"), std::string::npos) << cmd;
  return {before, after};
}

TEST_F(EmitTest, TargetPatchesApplyWithKubectlAndMatchKubectlSetResources) {
  TempDir dir;
  const std::string targets =
      dir.Write("targets.yaml",
                "targets:\n"
                "  # no resources at all: one add of the whole map (seed 002's ai-gateway)\n"
                "  - workload: carts-db\n"
                "    requests: {cpu: 250m, memory: 512Mi}\n"
                "    limits: {memory: 1Gi}\n"
                "  # requests and limits there: replace the named values only\n"
                "  - workload: Deployment/front-end\n"
                "    namespace: sock-shop\n"
                "    requests: {memory: 400Mi}\n"
                "    limits: {cpu: 500m, memory: 1Gi}\n"
                "  # two containers: name the one\n"
                "  - workload: rabbitmq\n"
                "    container: rabbitmq-exporter\n"
                "    requests: {cpu: 50m, memory: 64Mi}\n"
                "    limits: {cpu: 100m, memory: 128Mi}\n");
  json patches =
      PatchesFor({Manifest("sock-shop-complete-demo.yaml"), "--emit", "patch", "--targets", targets});
  ASSERT_EQ(patches.size(), 3u) << patches.dump(2);

  struct Want {
    std::string name, container, requests, limits;  // --requests / --limits of kubectl set resources
  };
  const std::vector<Want> wants = {
      {"carts-db", "carts-db", "cpu=250m,memory=512Mi", "memory=1Gi"},
      {"front-end", "front-end", "memory=400Mi", "cpu=500m,memory=1Gi"},
      {"rabbitmq", "rabbitmq-exporter", "cpu=50m,memory=64Mi", "cpu=100m,memory=128Mi"}};
  for (const auto& w : wants) {
    SCOPED_TRACE(w.name);
    const json& e = Entry(patches, w.name);
    EXPECT_EQ(e["type"], "json");
    EXPECT_EQ(e["namespace"], "sock-shop");
    auto [before, after] = Apply(dir, e);
    json by_kubectl =
        Kubectl({"set", "resources", "--local", "-f", dir.path() + "/" + w.name + ".yaml", "-c", w.container,
                 "--requests=" + w.requests, "--limits=" + w.limits, "-o", "json"});
    // kubectl set resources goes through the typed object (adding status: {}, resources: {} elsewhere, ...):
    // compare the container it set.
    auto resources = [&](const json& o) {
      for (const auto& c : o["spec"]["template"]["spec"]["containers"]) {
        if (c["name"] == w.container) return c["resources"];
      }
      return json();
    };
    EXPECT_EQ(resources(after), resources(by_kubectl)) << after.dump(2) << "\n" << by_kubectl.dump(2);
    EXPECT_FALSE(resources(after).is_null());
    // Nothing but that container's resources changed.
    json cleared_before = before, cleared_after = after;
    for (json* o : {&cleared_before, &cleared_after}) {
      for (auto& c : (*o)["spec"]["template"]["spec"]["containers"]) {
        if (c["name"] == w.container) c.erase("resources");
      }
    }
    EXPECT_EQ(cleared_before, cleared_after);
  }
  // The paths: an add of the whole map where there was none, replace where a value was there.
  EXPECT_EQ(
      Entry(patches, "carts-db")["patch"],
      json::parse(R"([{"op":"add","path":"/spec/template/spec/containers/0/resources",)"
                  R"("value":{"requests":{"cpu":"250m","memory":"512Mi"},"limits":{"memory":"1Gi"}}}])"));
  EXPECT_EQ(
      Entry(patches, "front-end")["patch"][0],
      json::parse(R"({"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/memory",)"
                  R"("value":"400Mi"})"));
  EXPECT_EQ(Entry(patches, "rabbitmq")["patch"][0]["path"], "/spec/template/spec/containers/1/resources");
}

TEST_F(EmitTest, TargetPatchesAddMissingRequestsAndReachInitContainers) {
  // opentelemetry-demo: containers set only a memory limit (no requests map); cart has an init container.
  TempDir dir;
  const std::string targets = dir.Write("t.yaml",
                                        "- workload: cart\n"
                                        "  requests: {cpu: 100m, memory: 128Mi}\n"
                                        "- workload: cart\n"
                                        "  container: wait-for-valkey-cart\n"
                                        "  limits: {cpu: 50m, memory: 32Mi}\n"
                                        "- workload: flagd\n"
                                        "  container: flagd-ui\n"
                                        "  limits: {memory: 300Mi}\n");
  json patches = PatchesFor({Manifest("opentelemetry-demo-opentelemetry-demo.yaml"), "--namespace",
                             "otel-demo", "--emit", "patch", "--targets", targets});
  ASSERT_EQ(patches.size(), 2u) << patches.dump(2);
  const json& cart = Entry(patches, "cart");
  EXPECT_EQ(cart["patch"][0]["op"], "add");
  EXPECT_EQ(cart["patch"][0]["path"], "/spec/template/spec/containers/0/resources/requests");
  EXPECT_EQ(cart["patch"][1]["path"], "/spec/template/spec/initContainers/0/resources");
  auto [before, after] = Apply(dir, cart);
  const json& spec = after["spec"]["template"]["spec"];
  EXPECT_EQ(spec["containers"][0]["resources"],
            json::parse(R"({"limits":{"memory":"160Mi"},"requests":{"cpu":"100m","memory":"128Mi"}})"));
  EXPECT_EQ(spec["initContainers"][0]["resources"],
            json::parse(R"({"limits":{"cpu":"50m","memory":"32Mi"}})"));

  const json& flagd = Entry(patches, "flagd");
  auto [fb, fa] = Apply(dir, flagd);
  EXPECT_EQ(fa["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["memory"], "300Mi");
  EXPECT_EQ(fa["spec"]["template"]["spec"]["containers"][0], fb["spec"]["template"]["spec"]["containers"][0]);
}

// Seed 000's services as Deployments without resources, for its tables.
std::string SeedServices(const TempDir& dir) {
  std::string text;
  for (const char* name : {"constitutional-trainer", "policy-engine", "audit-engine", "redis"}) {
    text += std::string("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ") + name +
            "\n  namespace: acgs\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: " + name +
            "}}\n  template:\n    metadata: {labels: {app: " + name +
            "}}\n    spec:\n      containers:\n      - name: main\n" + "        image: example/" + name +
            ":1\n";
  }
  return dir.Write("acgs.yaml", text);
}

TEST_F(EmitTest, SeedResourceMatrixAsWrittenBecomesPatches) {
  TempDir dir;
  const std::string manifests = SeedServices(dir);
  json patches = PatchesFor({manifests, "--emit", "patch", "--targets", Seed000()});
  ASSERT_EQ(patches.size(), 4u) << patches.dump(2);  // the TOTAL row is not a service
  const json& trainer = Entry(patches, "constitutional-trainer");
  auto [before, after] = Apply(dir, trainer);
  // | Constitutional Trainer | 500m | 2000m | 2Gi | 8Gi | 1 |: a GPU request is also its limit.
  EXPECT_EQ(after["spec"]["template"]["spec"]["containers"][0]["resources"],
            json::parse(R"({"requests":{"cpu":"500m","memory":"2Gi","nvidia.com/gpu":"1"},)"
                        R"("limits":{"cpu":"2000m","memory":"8Gi","nvidia.com/gpu":"1"}})"));
  const json& redis = Entry(patches, "redis");
  auto [rb, ra] = Apply(dir, redis);
  // | Redis | 100m | 200m | 256Mi | 512Mi | 0 |: no GPU key at all.
  EXPECT_EQ(ra["spec"]["template"]["spec"]["containers"][0]["resources"],
            json::parse(
                R"({"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"cpu":"200m","memory":"512Mi"}})"));
  // Planned with the patched resources, the namespace total is the seed's TOTAL row at one replica each.
  std::string patched;
  for (const auto& p : patches) {
    auto [b, a] = Apply(dir, p);
    patched += "---\n" + a.dump() + "\n";
  }
  auto plan = RunAllot({"plan", dir.Write("patched.yaml", patched), "--format", "json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  json out = json::parse(plan.out);
  EXPECT_EQ(out["totals"]["min"]["requests"]["cpu"], 900);           // **900m**
  EXPECT_EQ(out["totals"]["min"]["limits"]["cpu"], 2900);            // **2900m**
  EXPECT_EQ(out["totals"]["min"]["requests"]["memory"], 3LL << 30);  // **3Gi**
  EXPECT_EQ(out["totals"]["min"]["limits"]["memory"], 10LL << 30);   // **10Gi**
}

TEST_F(EmitTest, HpasFromAScalingTableAreReadByKubectlAndAutoscaleEval) {
  TempDir dir;
  const std::string scaling = dir.Write("scaling.yaml",
                                        "autoscaling:\n"
                                        "  behavior:                      # for every row without its own\n"
                                        "    scaleDown:\n"
                                        "      stabilizationWindowSeconds: 300\n"
                                        "      policies: [{type: Percent, value: 50, periodSeconds: 60}]\n"
                                        "  workloads:\n"
                                        "    frontend: {min: 2, max: 8, cpu: 70%, memory: 80%}\n"
                                        "    cartservice:\n"
                                        "      min: 1\n"
                                        "      max: 3\n"
                                        "      memory: 85%\n"
                                        "      name: cartservice-hpa\n"
                                        "      behavior:\n"
                                        "        scaleUp:\n"
                                        "          policies: [{type: Pods, value: 1, periodSeconds: 60}]\n");
  auto r = RunAllot(
      {"plan", Manifest("online-boutique-kubernetes-manifests.yaml"), "--emit", "hpa", "--scaling", scaling});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // every container has the requests the targets need
  const std::string hpas = dir.Write("hpas.yaml", r.out);
  json back = Kubectl({"patch", "--local", "-f", hpas, "--type=merge", "-p", "{}", "-o", "json"});
  ASSERT_EQ(back["kind"], "List") << back.dump(2);
  ASSERT_EQ(back["items"].size(), 2u);
  const json& frontend = back["items"][0];
  EXPECT_EQ(frontend["apiVersion"], "autoscaling/v2");
  EXPECT_EQ(frontend["kind"], "HorizontalPodAutoscaler");
  EXPECT_EQ(frontend["metadata"]["name"], "frontend");
  EXPECT_EQ(frontend["metadata"]["namespace"], "default");
  EXPECT_EQ(frontend["spec"]["scaleTargetRef"],
            json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","name":"frontend"})"));
  EXPECT_EQ(frontend["spec"]["minReplicas"], 2);
  EXPECT_EQ(frontend["spec"]["maxReplicas"], 8);
  EXPECT_EQ(frontend["spec"]["metrics"][1]["resource"],
            json::parse(R"({"name":"memory","target":{"type":"Utilization","averageUtilization":80}})"));
  EXPECT_EQ(frontend["spec"]["behavior"]["scaleDown"]["policies"][0]["value"], 50);
  const json& cart = back["items"][1];
  EXPECT_EQ(cart["metadata"]["name"], "cartservice-hpa");
  EXPECT_FALSE(cart["spec"]["behavior"].contains("scaleDown"));  // its own behavior replaces the default

  // allot autoscale eval on what kubectl gave back. frontend: 2 pods requesting 100m cpu / 64Mi, using
  // 140m (140 % of request, target 70 %: 2 x 140 / 70 = 4) and 32Mi (50 %, target 80 %: ceil(2 x 50 / 80) =
  // 2); the larger proposal, 4, is within max 8 and the default scale-up policies.
  json input = {{"hpa", frontend},
                {"current_replicas", 2},
                {"pods", json::array({{{"name", "a"},
                                       {"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}},
                                       {"usage", {{"cpu", "140m"}, {"memory", "32Mi"}}}},
                                      {{"name", "b"},
                                       {"requests", {{"cpu", "100m"}, {"memory", "64Mi"}}},
                                       {"usage", {{"cpu", "140m"}, {"memory", "32Mi"}}}}})}};
  auto eval = RunAllot({"autoscale", "eval", dir.Write("eval.json", input.dump())});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  json decision = json::parse(eval.out);
  EXPECT_EQ(decision["desired_replicas"], 4) << decision.dump(2);
  EXPECT_EQ(decision["path"], "behavior");
  // cartservice: 1 pod at 192Mi of 64Mi (300 %, target 85 %: ceil(300 / 85) = 4), capped at max 3 and by its
  // scaleUp policy of 1 pod a minute: 2.
  input = {{"hpa", cart},
           {"current_replicas", 1},
           {"pods", json::array({{{"name", "a"},
                                  {"requests", {{"cpu", "200m"}, {"memory", "64Mi"}}},
                                  {"usage", {{"cpu", "100m"}, {"memory", "192Mi"}}}}})}};
  eval = RunAllot({"autoscale", "eval", dir.Write("eval2.json", input.dump())});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  decision = json::parse(eval.out);
  EXPECT_EQ(decision["desired_replicas"], 2) << decision.dump(2);
  EXPECT_EQ(decision["limited_by"], "ScaleUpLimit") << decision.dump(2);
}

TEST_F(EmitTest, SeedScalingTableAsWrittenBecomesHpas) {
  TempDir dir;
  const std::string manifests = SeedServices(dir);
  auto r = RunAllot({"plan", manifests, "--emit", "hpa", "--scaling", Seed000()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The seed's services set no requests: Utilization targets cannot be computed until they do.
  EXPECT_NE(r.err.find("warning: " + Seed000() +
                       ":103: Deployment/constitutional-trainer container main has no cpu request"),
            std::string::npos)
      << r.err;
  json back = Kubectl(
      {"patch", "--local", "-f", dir.Write("hpas.yaml", r.out), "--type=merge", "-p", "{}", "-o", "json"});
  ASSERT_EQ(back["items"].size(), 4u);
  // | Constitutional Trainer | 2 | 8 | CPU: 70%, Memory: 80% |
  EXPECT_EQ(back["items"][0]["metadata"]["name"], "constitutional-trainer");
  EXPECT_EQ(back["items"][0]["metadata"]["namespace"], "acgs");
  EXPECT_EQ(back["items"][0]["spec"]["minReplicas"], 2);
  EXPECT_EQ(back["items"][0]["spec"]["maxReplicas"], 8);
  EXPECT_EQ(back["items"][0]["spec"]["metrics"].size(), 2u);
  // | Redis | 1 | 3 | Memory: 85% |
  const json& redis = back["items"][3];
  EXPECT_EQ(redis["spec"]["maxReplicas"], 3);
  ASSERT_EQ(redis["spec"]["metrics"].size(), 1u);
  EXPECT_EQ(redis["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 85);
  EXPECT_FALSE(redis["spec"].contains("behavior"));
  // The same table from the plan config's autoscaling: section.
  const std::string cfg = dir.Write("plan.yaml",
                                    "environments: {dev: {cpu: 0.5}}\n"
                                    "autoscaling:\n"
                                    "  workloads:\n"
                                    "    acgs/redis: {min: 1, max: 3, memory: 85%}\n");
  r = RunAllot({"plan", manifests, "--emit", "hpa", "--config", cfg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  YAML::Node hpa = YAML::Load(r.out);
  EXPECT_EQ(hpa["spec"]["scaleTargetRef"]["name"].as<std::string>(), "redis");
  EXPECT_EQ(hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"].as<int>(), 85);
}

TEST(EmitBadInputTest, TablesAnswerFileLineKeyAndExitTwoWithNothingWritten) {
  TempDir dir;
  const std::string boutique = Manifest("online-boutique-kubernetes-manifests.yaml");
  const std::string sock = Manifest("sock-shop-complete-demo.yaml");
  struct Bad {
    std::string input, flag, table, expect;
  };
  const std::vector<Bad> cases = {
      {boutique, "--scaling", "autoscaling:\n  workloads:\n    nosuch: {max: 3}\n",
       "t.yaml:3: nosuch: no workload of that name"},
      {boutique, "--scaling", "autoscaling:\n  workloads:\n    frontend: {min: 5, max: 3}\n",
       "t.yaml:3: autoscaling.workloads.frontend: min 5 is above max 3"},
      {boutique, "--scaling", "autoscaling:\n  workloads:\n    frontend: {max: 3, cpu: lots}\n",
       "t.yaml:3: autoscaling.workloads.frontend.cpu: \"lots\" is neither a percent"},
      {boutique, "--scaling", "autoscaling:\n  workloads:\n    frontend: {max: 3, gpu: 50%}\n",
       "t.yaml:3: autoscaling.workloads.frontend.gpu: unknown key"},
      {boutique, "--scaling", "autoscaling:\n  workloads:\n    frontend: {min: 2}\n",
       "t.yaml:3: autoscaling.workloads.frontend: missing max"},
      {boutique, "--scaling",
       "autoscaling:\n  workloads:\n    frontend:\n      max: 3\n      behavior: {scaleUp: {policies: "
       "[{type: Pods, value: 1, periodSeconds: 4000}]}}\n",
       "t.yaml:5: autoscaling.workloads.frontend.behavior.scaleUp.policies[0].periodSeconds: \"4000\" is not "
       "an integer in 1-1800"},
      {boutique, "--scaling",
       "| Service | Min Replicas | Max Replicas |\n|---|---|---|\n| Frontend | two | 3 |\n",
       "t.yaml:3: Min Replicas: \"two\" is not a replica count"},
      {boutique, "--targets", "targets:\n  - workload: nosuch\n    requests: {cpu: 1}\n",
       "t.yaml:2: nosuch: no workload"},
      {boutique, "--targets", "targets:\n  - workload: frontend\n    requests: {memory: 8}\n",
       "t.yaml:3: targets[0].requests.memory: \"8\" has no unit and would be 8 bytes"},
      {boutique, "--targets",
       "targets:\n  - workload: frontend\n    requests: {cpu: 1}\n    limitz: {cpu: 2}\n",
       "t.yaml:4: targets[0].limitz: unknown key"},
      {boutique, "--targets", "targets:\n  - workload: frontend\n    requests: {cpu: 500m}\n",
       "t.yaml:2: Deployment/frontend container server: request cpu 500m would be above its limit 200m"},
      {boutique, "--targets",
       "targets:\n  - workload: frontend\n    container: sidecar\n    requests: {cpu: 1}\n",
       "t.yaml:2: Deployment/frontend has no container named sidecar"},
      {sock, "--targets", "targets:\n  - workload: rabbitmq\n    requests: {cpu: 1}\n",
       "t.yaml:2: Deployment/rabbitmq has 2 containers (rabbitmq, rabbitmq-exporter); name one with "
       "container:"},
      {sock, "--targets",
       "targets:\n  - {workload: carts-db, requests: {cpu: 1}}\n  - {workload: carts-db, limits: {cpu: 2}}\n",
       "t.yaml:3: Deployment/carts-db container carts-db is targeted twice"},
      {boutique, "--targets", "| Service | CPU Request |\n|---|---|\n| Frontend | fast |\n",
       "t.yaml:3: CPU Request: \"fast\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.table);
    TempDir d;
    d.Write("t.yaml", c.table);
    auto r =
        RunProgram({"sh", "-c",
                    "cd " + d.path() + " && " + allot::testing::AllotBinary() + " plan " + c.input +
                        " --emit " + (c.flag == "--scaling" ? "hpa" : "patch") + " " + c.flag + " t.yaml"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("allot: plan: " + c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_EQ(RunAllot({"plan", boutique, "--emit", "hpa"}).exit_code, 2);  // no table
  EXPECT_EQ(RunAllot({"plan", boutique, "--targets", dir.Write("x.yaml", "[]")}).exit_code,
            2);  // without --emit patch
}

}  // namespace
}  // namespace allot::plan
