// Loading the real manifests and compose files in ../shared/data, with totals computed by hand from the
// files (the arithmetic is in the comments), plus loader edge cases: Lists, directories, bad input.
#include <filesystem>

#include <gtest/gtest.h>

#include "allot/plan.h"
#include "plan_test_util.h"
#include "support.h"

namespace allot::plan {
namespace {

namespace fs = std::filesystem;
using testing::CountRule;
using testing::FindWorkload;
using testing::kGi;
using testing::kMi;
using testing::Of;

std::string Data(const std::string& rel) { return allot::testing::SharedDir() + "/data/" + rel; }

Plan PlanFile(const std::string& path, const LoadOptions& load = {}, const PlanOptions& options = {}) {
  auto m = Load({path}, load);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  if (!m.ok()) return {};
  return testing::PlanOrDie(*m, options);
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    if (ext == ".yaml" || ext == ".yml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LoadSharedTest, EveryManifestLoadsAndPlans) {
  auto files = FilesIn(Data("manifests"));
  ASSERT_GE(files.size(), 8u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    auto m = Load({f});
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_FALSE(m->workloads.empty());
    auto p = MakePlan(*m, {});
    ASSERT_TRUE(p.ok());
    EXPECT_GT(p->total_max.pods, 0);
  }
}

TEST(LoadSharedTest, EveryComposeFileLoadsAndPlans) {
  auto files = FilesIn(Data("compose"));
  ASSERT_GE(files.size(), 3u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    auto m = Load({f});
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_FALSE(m->workloads.empty());
    for (const auto& w : m->workloads) EXPECT_EQ(w.kind, "ComposeService");
    EXPECT_TRUE(MakePlan(*m, {}).ok());
  }
}

TEST(LoadSharedTest, WholeDataDirectoryLoadsAsOneInput) {
  // A directory is read recursively; README.md files are skipped.
  auto m = Load({Data("manifests"), Data("compose")});
  ASSERT_TRUE(m.ok()) << m.error().message;
  // 12 + 14 + 25 + 9 + 9 + 6 + 2 + 3 Kubernetes workloads and 20 + 11 + 13 compose services.
  EXPECT_EQ(m->workloads.size(), 12u + 14 + 25 + 9 + 9 + 6 + 2 + 3 + 20 + 11 + 13);
}

TEST(LoadSharedTest, OnlineBoutiqueTotals) {
  Plan p = PlanFile(Data("manifests/online-boutique-kubernetes-manifests.yaml"));
  EXPECT_EQ(p.workloads.size(), 12u);
  // cpu requests: frontend 100 + adservice 200 + currency 100 + cart 200 + redis-cart 70 + loadgenerator 300
  //   + recommendation 100 + checkout 100 + email 100 + payment 100 + shipping 100 + productcatalog 100 = 1570m.
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 1570);
  // memory requests: eight services at 64Mi = 512Mi, + adservice 180 + redis-cart 200 + loadgenerator 256
  //   + recommendation 220 = 1368Mi.
  EXPECT_EQ(Of(p.total_min.requests, "memory"), 1368 * kMi);
  // cpu limits: eight at 200m = 1600m, + adservice 300 + cart 300 + redis-cart 125 + loadgenerator 500 = 2825m.
  EXPECT_EQ(Of(p.total_min.limits, "cpu"), 2825);
  // memory limits: eight at 128Mi = 1024Mi, + adservice 300 + redis-cart 256 + loadgenerator 512
  //   + recommendation 450 = 2542Mi.
  EXPECT_EQ(Of(p.total_min.limits, "memory"), 2542 * kMi);
  // No HPAs: min and max are the same, 12 pods (every replicas is 1).
  EXPECT_EQ(p.total_max.pods, 12);
  EXPECT_EQ(Of(p.total_max.requests, "cpu"), 1570);
  // redis-cart lists limits before requests; requests 70m/200Mi, limits 125m/256Mi -> Burstable.
  const Workload& redis = FindWorkload(p, "redis-cart");
  EXPECT_EQ(Of(redis.pod_requests, "cpu"), 70);
  EXPECT_EQ(Of(redis.pod_limits, "memory"), 256 * kMi);
  EXPECT_EQ(redis.qos, Qos::kBurstable);
  // loadgenerator's init container sets nothing, so the pod's requests are the app container's.
  EXPECT_EQ(Of(FindWorkload(p, "loadgenerator").pod_requests, "cpu"), 300);
}

TEST(LoadSharedTest, SockShopTotalsAndBestEffortPods) {
  Plan p = PlanFile(Data("manifests/sock-shop-complete-demo.yaml"));
  EXPECT_EQ(p.workloads.size(), 14u);
  // cpu requests: carts 100 + catalogue 100 + front-end 100 + orders 100 + payment 99 + queue-master 100
  //   + shipping 100 + user 100 = 799m.
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 799);
  // memory requests: 200 + 100 + 300 + 300 + 100 + 300 + 300 + 100 = 1700Mi.
  EXPECT_EQ(Of(p.total_min.requests, "memory"), 1700 * kMi);
  // cpu limits: 300 + 200 + 300 + 500 + 200 + 300 + 300 + 300 = 2400m.
  EXPECT_EQ(Of(p.total_min.limits, "cpu"), 2400);
  // memory limits: 500 + 200 + 1000 + 500 + 200 + 500 + 500 + 200 = 3600Mi.
  EXPECT_EQ(Of(p.total_min.limits, "memory"), 3600 * kMi);
  int best_effort = 0;
  for (const auto& w : p.workloads) {
    EXPECT_EQ(w.ns, "sock-shop");
    if (w.qos == Qos::kBestEffort) best_effort++;
  }
  // carts-db, catalogue-db, orders-db, rabbitmq (two containers), session-db, user-db.
  EXPECT_EQ(best_effort, 6);
  EXPECT_EQ(CountRule(p, "besteffort-pod"), 6);
  EXPECT_EQ(FindWorkload(p, "rabbitmq").containers.size(), 2u);
}

TEST(LoadSharedTest, BankOfAnthosHpaRanges) {
  Plan p = PlanFile(Data("manifests/bank-of-anthos-postgres-hpa.yaml"));
  // HPAs: contacts 1-5, frontend 5-25, userservice 5-50; accounts-db-postgresql targets a missing StatefulSet.
  EXPECT_EQ(FindWorkload(p, "frontend").min_replicas, 5);
  EXPECT_EQ(FindWorkload(p, "frontend").max_replicas, 25);
  EXPECT_EQ(FindWorkload(p, "userservice").max_replicas, 50);
  EXPECT_EQ(CountRule(p, "hpa-target-missing"), 1);
  // Pods at min: balancereader 1 + contacts 1 + frontend 5 + ledgerwriter 1 + transactionhistory 1
  //   + userservice 5 = 14; at max: 1 + 5 + 25 + 1 + 1 + 50 = 83.
  EXPECT_EQ(p.total_min.pods, 14);
  EXPECT_EQ(p.total_max.pods, 83);
  // cpu at min: 250 + 250 + 5×250 + 250 + 250 + 5×500 = 4750m; at max: 250 + 5×250 + 25×250 + 250 + 250
  //   + 50×500 = 33250m. Every container has requests = limits.
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 4750);
  EXPECT_EQ(Of(p.total_max.requests, "cpu"), 33250);
  EXPECT_EQ(Of(p.total_max.limits, "cpu"), 33250);
  // memory: 512Mi per pod: 14 × 512Mi = 7Gi; 83 × 512Mi = 42496Mi.
  EXPECT_EQ(Of(p.total_min.requests, "memory"), 7 * kGi);
  EXPECT_EQ(Of(p.total_max.requests, "memory"), 42496 * kMi);
  for (const auto& w : p.workloads) EXPECT_EQ(w.qos, Qos::kGuaranteed) << w.name;
}

TEST(LoadSharedTest, BankOfAnthosFractionalEphemeralStorage) {
  Plan p = PlanFile(Data("manifests/bank-of-anthos-kubernetes-manifests.yaml"));
  // 0.5Gi and 0.25Gi are exact binary fractions: 536870912 and 268435456 bytes.
  bool half = false, quarter = false;
  for (const auto& w : p.workloads) {
    for (const auto& c : w.containers) {
      half = half || Of(c.requests, "ephemeral-storage") == kGi / 2;
      quarter = quarter || Of(c.requests, "ephemeral-storage") == kGi / 4;
    }
  }
  EXPECT_TRUE(half);
  EXPECT_TRUE(quarter);
  EXPECT_EQ(FindWorkload(p, "accounts-db").kind, "StatefulSet");
}

TEST(LoadSharedTest, AksStoreInitContainerIsMaxedNotSummed) {
  Plan p = PlanFile(Data("manifests/aks-store-demo-aks-store-all-in-one.yaml"));
  const Workload& order = FindWorkload(p, "order-service");
  // init wait-for-rabbitmq and app order-service both request 1m / 50Mi: max(1m, 1m) = 1m, not 2m.
  EXPECT_EQ(Of(order.pod_requests, "cpu"), 1);
  EXPECT_EQ(Of(order.pod_requests, "memory"), 50 * kMi);
  EXPECT_EQ(Of(order.pod_limits, "memory"), 256 * kMi);
}

TEST(LoadSharedTest, OtelDemoNamespaceFlagAndMemoryOnlyLimits) {
  LoadOptions load;
  load.default_namespace = "otel-demo";
  Plan p = PlanFile(Data("manifests/opentelemetry-demo-opentelemetry-demo.yaml"), load);
  EXPECT_EQ(p.workloads.size(), 25u);
  ASSERT_EQ(p.by_namespace.size(), 1u);
  EXPECT_EQ(p.by_namespace.begin()->first, "otel-demo");
  // opensearch: cpu request 1 without a cpu limit, memory 100Mi request vs 1100Mi limit.
  const Workload& os = FindWorkload(p, "opensearch");
  EXPECT_EQ(Of(os.pod_requests, "cpu"), 1000);
  EXPECT_EQ(os.pod_limits.count("cpu"), 0u);
  EXPECT_EQ(Of(os.pod_requests, "memory"), 100 * kMi);
  EXPECT_EQ(Of(os.pod_limits, "memory"), 1100 * kMi);
  // A memory limit alone becomes the memory request (API defaulting): cart 160Mi.
  EXPECT_EQ(Of(FindWorkload(p, "cart").pod_requests, "memory"), 160 * kMi);
}

TEST(LoadSharedTest, ZabbixComposeDockerUnits) {
  Plan p = PlanFile(Data("compose/zabbix-docker-docker-compose_v3_alpine_pgsql_latest.yaml"));
  EXPECT_EQ(p.workloads.size(), 13u);
  // zabbix-server: limits cpus '0.70' = 700m, memory 1G = 1073741824 (docker: binary); reservations 500m, 512M.
  const Workload& server = FindWorkload(p, "zabbix-server");
  EXPECT_EQ(Of(server.pod_limits, "cpu"), 700);
  EXPECT_EQ(Of(server.pod_limits, "memory"), kGi);
  EXPECT_EQ(Of(server.pod_requests, "memory"), 512 * kMi);
  // The agent has deploy.mode: global: one per node (1 without sizing).
  EXPECT_TRUE(FindWorkload(p, "zabbix-agent").per_node);
  // Reserved cpu: server 500 + proxy-sqlite3 300 + proxy-mysql 300 + web-apache 500 + web-nginx 500 + agent 100
  //   + java-gateway 250 + snmptraps 250 + web-service 250 = 2950m.
  EXPECT_EQ(Of(p.total_min.requests, "cpu"), 2950);
  // Reserved memory: 512 + 256 + 256 + 256 + 256 + 64 + 256 + 128 + 256 = 2240Mi.
  EXPECT_EQ(Of(p.total_min.requests, "memory"), 2240 * kMi);
  // Four services set nothing (mysql-server, postgres-server, db_data_mysql, db_data_pgsql).
  EXPECT_EQ(CountRule(p, "besteffort-pod"), 4);
}

TEST(LoadSharedTest, RetailComposeLegacyMemLimit) {
  Plan p = PlanFile(Data("compose/retail-store-sample-app-docker-compose.yml"));
  // mem_limit (lowercase m = MiB): ui 512 + catalog 128 + catalog-db 128 + carts 256 + carts-db 256 + orders 512
  //   + orders-db 128 + checkout 256 + checkout-redis 128 + assets 64 = 2368Mi; rabbitmq has none.
  EXPECT_EQ(Of(p.total_max.limits, "memory"), 2368 * kMi);
  // Docker reserves nothing without a reservation: requests stay 0.
  EXPECT_EQ(Of(p.total_max.requests, "memory"), 0);
  EXPECT_EQ(FindWorkload(p, "rabbitmq").qos, Qos::kBestEffort);
}

TEST(LoadSharedTest, OtelComposeMegabytesAreBinary) {
  Plan p = PlanFile(Data("compose/opentelemetry-demo-compose.yaml"));
  // `memory: 300M` in compose is 300 × 2^20 bytes, not 300 × 10^6.
  EXPECT_EQ(Of(FindWorkload(p, "ad").pod_limits, "memory"), 300 * kMi);
}

TEST(LoadTest, ListObjectsAndEmptyDocuments) {
  Manifests m = testing::LoadOrDie(R"(
# licence header
---
---
apiVersion: v1
kind: List
items:
  - {kind: Pod, metadata: {name: a}, spec: {containers: [{name: c, resources: {requests: {cpu: 1}}}]}}
  - {kind: ConfigMap, metadata: {name: cfg}}
---
kind: PodList
items:
  - {kind: Pod, metadata: {name: b}, spec: {containers: [{name: c}]}}
)");
  EXPECT_EQ(m.workloads.size(), 2u);
  EXPECT_EQ(m.ignored_kinds["ConfigMap"], 1);
}

TEST(LoadTest, MalformedYamlNamesFileAndLine) {
  Manifests m;
  Status s = LoadText("kind: Pod\nmetadata:\n  name: [unclosed\n", "bad.yaml", {}, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad.yaml:"), std::string::npos) << s.message();
}

TEST(LoadTest, BadQuantityNamesLineAndField) {
  Manifests m;
  Status s = LoadText("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      resources:\n"
                      "        requests: {cpu: lots}\n",
                      "q.yaml", {}, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("q.yaml:7"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("requests.cpu"), std::string::npos) << s.message();
}

TEST(LoadTest, StructuralErrorsAreReportedNotThrown) {
  Manifests m;
  EXPECT_FALSE(LoadText("kind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: many\n", "r.yaml", {}, &m).ok());
  EXPECT_FALSE(LoadText("kind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n", "c.yaml", {}, &m).ok());
  EXPECT_FALSE(LoadText("kind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec: {minReplicas: 5, maxReplicas: 2}\n",
                        "h.yaml", {}, &m).ok());
  Status s = LoadText("services:\n  web:\n    mem_limit: 12parsecs\n", "compose.yaml", {}, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("compose.yaml:3"), std::string::npos) << s.message();
}

TEST(LoadTest, DirectoryIsReadInSortedOrder) {
  allot::testing::TempDir dir;
  dir.Write("b.yaml", "kind: Pod\nmetadata: {name: second}\nspec: {containers: [{name: c}]}\n");
  dir.Write("a.yml", "kind: Pod\nmetadata: {name: first}\nspec: {containers: [{name: c}]}\n");
  dir.Write("notes.txt", "not yaml: [");
  auto m = Load({dir.path()});
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->workloads.size(), 2u);
  EXPECT_EQ(m->workloads[0].name, "first");
  EXPECT_FALSE(Load({dir.path() + "/missing.yaml"}).ok());
}

TEST(LoadTest, ComposeInterpolationAndGpuDevices) {
  setenv("ALLOT_TEST_MEM", "2g", 1);
  Manifests m = testing::LoadOrDie(R"(
name: shop
services:
  api:
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "${API_CPUS:-1.5}", memory: "${ALLOT_TEST_MEM}"}
        reservations:
          cpus: '0.25'
          memory: 256m
          devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]
)");
  ASSERT_EQ(m.workloads.size(), 1u);
  const Workload& w = m.workloads[0];
  EXPECT_EQ(w.ns, "shop");
  EXPECT_EQ(w.replicas, 3);
  const Container& c = w.containers[0];
  EXPECT_EQ(Of(c.limits, "cpu"), 1500);
  EXPECT_EQ(Of(c.limits, "memory"), 2 * kGi);
  EXPECT_EQ(Of(c.requests, "memory"), 256 * kMi);
  EXPECT_EQ(Of(c.requests, "gpu"), 2000);
}

}  // namespace
}  // namespace allot::plan
