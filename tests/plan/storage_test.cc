// PVC storage in plan totals, by storage class: StatefulSet claim templates scale with replicas, claim
// objects count once; quota keys per class; the default StorageClass of the inputs names unclassed claims.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "plan_test_util.h"

namespace allot::plan {
namespace {

using testing::kGi;
using testing::LoadOrDie;
using testing::PlanOrDie;

// db: 2 claim templates per replica (data on "fast", 10Gi; logs without a class, 1Gi), 3 replicas, an HPA
// of 2-5. Two claim objects: "standard" 20Gi and an explicit "" (no class) 5Gi.
const char* kManifests = R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 3
  template:
    spec:
      containers: [{name: db, image: postgres, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {storageClassName: fast, accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}
  - metadata: {name: logs}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: db, namespace: data}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: data}
spec: {storageClassName: standard, resources: {requests: {storage: 20Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: archive, namespace: data}
spec: {storageClassName: "", resources: {requests: {storage: 5Gi}}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: data}
spec:
  hard:
    requests.storage: 100Gi
    persistentvolumeclaims: "10"
    fast.storageclass.storage.k8s.io/requests.storage: 40Gi
    standard.storageclass.storage.k8s.io/persistentvolumeclaims: "1"
)";

const QuotaCheck& Check(const Plan& p, const std::string& key) {
  for (const auto& q : p.quota) {
    if (q.key == key) return q;
  }
  ADD_FAILURE() << "no quota check " << key;
  static const QuotaCheck kNone;
  return kNone;
}

TEST(PlanStorageTest, TotalsByStorageClassAtMinAndMaxReplicas) {
  Plan p = PlanOrDie(LoadOrDie(kManifests));
  const StorageByClass& mn = p.total_min.storage;
  const StorageByClass& mx = p.total_max.storage;
  // Templates × replicas: fast 2 × 10Gi at min, 5 × 10Gi at max; unclassed 2 × 1Gi and 5 × 1Gi.
  EXPECT_EQ(mn.at("fast").claims, 2);
  EXPECT_EQ(mn.at("fast").bytes, 20 * kGi);
  EXPECT_EQ(mx.at("fast").claims, 5);
  EXPECT_EQ(mx.at("fast").bytes, 50 * kGi);
  EXPECT_EQ(mx.at(kDefaultStorageClass).bytes, 5 * kGi);
  // Claim objects once, at min and at max.
  EXPECT_EQ(mn.at("standard").bytes, 20 * kGi);
  EXPECT_EQ(mx.at("standard").claims, 1);
  EXPECT_EQ(mx.at(kNoStorageClass).bytes, 5 * kGi);
  EXPECT_EQ(mx.size(), 4u);
  EXPECT_EQ(p.by_namespace.at("data").second.storage.at("fast").bytes, 50 * kGi);
  // Environments do not scale storage: prod is 1.5× cpu and memory.
  EXPECT_EQ(p.by_env.at("prod").second.storage.at("fast").bytes, 50 * kGi);
}

TEST(PlanStorageTest, QuotaKeysPerStorageClass) {
  Plan p = PlanOrDie(LoadOrDie(kManifests));
  // All classes at max: 50 + 5 + 20 + 5 = 80Gi in 5 + 5 + 1 + 1 = 12 claims.
  EXPECT_EQ(Check(p, "requests.storage").used_max, 80 * kGi);
  EXPECT_EQ(Check(p, "requests.storage").used_min, (20 + 2 + 20 + 5) * kGi);
  EXPECT_EQ(Check(p, "persistentvolumeclaims").used_max, 12);
  const QuotaCheck& fast = Check(p, "fast.storageclass.storage.k8s.io/requests.storage");
  EXPECT_TRUE(fast.checked);
  EXPECT_EQ(fast.hard_value, 40 * kGi);
  EXPECT_EQ(fast.used_max, 50 * kGi);  // over the class's quota at max replicas
  EXPECT_EQ(fast.used_min, 20 * kGi);
  EXPECT_EQ(Check(p, "standard.storageclass.storage.k8s.io/persistentvolumeclaims").used_max, 1);
}

TEST(PlanStorageTest, TheInputsDefaultStorageClassNamesUnclassedClaims) {
  std::string yaml = std::string(kManifests) + R"(---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: gp3
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: ebs.csi.aws.com
)";
  Plan p = PlanOrDie(LoadOrDie(yaml));
  EXPECT_EQ(p.total_max.storage.count(kDefaultStorageClass), 0u);
  EXPECT_EQ(p.total_max.storage.at("gp3").bytes, 5 * kGi);
  EXPECT_EQ(p.total_max.storage.at(kNoStorageClass).bytes, 5 * kGi);  // "" stays without a class
}

TEST(PlanStorageTest, RenderedInTablesJsonAndSizedQuotas) {
  Plan p = PlanOrDie(LoadOrDie(kManifests));
  std::string table = RenderTable(p);
  EXPECT_NE(table.find("STORAGE (PersistentVolumeClaim requests by storage class)"), std::string::npos) << table;
  EXPECT_NE(table.find("fast"), std::string::npos);
  EXPECT_NE(table.find("50Gi"), std::string::npos) << table;
  auto json = nlohmann::json::parse(RenderJson(p));
  EXPECT_EQ(json["totals"]["max"]["storage"]["fast"]["claims"], 5);
  EXPECT_EQ(json["totals"]["max"]["storage"]["fast"]["bytes"], 50 * kGi);
  EXPECT_EQ(json["totals"]["min"]["storage"]["(default)"]["bytes"], 2 * kGi);
  EXPECT_EQ(json["totals"]["by_namespace"]["data"]["max"]["storage"]["standard"]["claims"], 1);
  EXPECT_NE(RenderMarkdown(p).find("## Storage by class"), std::string::npos);
  std::string quotas = RenderQuotas(p, 0);
  EXPECT_NE(quotas.find("requests.storage: 80Gi"), std::string::npos) << quotas;
  EXPECT_NE(quotas.find("fast.storageclass.storage.k8s.io/requests.storage: 50Gi"), std::string::npos) << quotas;
  EXPECT_EQ(quotas.find("(default).storageclass"), std::string::npos);
  // No claims: no storage section.
  Plan none = PlanOrDie(LoadOrDie("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]\n"));
  EXPECT_EQ(RenderTable(none).find("STORAGE"), std::string::npos);
}

TEST(PlanStorageTest, BadClaimsNameFileAndLine) {
  Manifests m;
  Status s = LoadText("kind: PersistentVolumeClaim\nmetadata: {name: c}\nspec:\n  storageClassName: [a]\n", "pvc.yaml", {}, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pvc.yaml:4"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("storageClassName"), std::string::npos) << s.message();
  s = LoadText("kind: PersistentVolumeClaim\nmetadata: {name: c}\nspec:\n  resources: {requests: {storage: 10Gx}}\n", "pvc.yaml", {},
               &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pvc.yaml:4"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace allot::plan
