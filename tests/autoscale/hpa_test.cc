// HPA arithmetic: a table of cases with the controller's arithmetic in comments. Several cases are the
// scenarios of kubernetes/pkg/controller/podautoscaler/replica_calculator_test.go and horizontal_test.go
// restated in allot's input format (names in parentheses).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allot/autoscale.h"

namespace allot::autoscale {
namespace {

struct Case {
  const char* name;
  std::string yaml;
  int expected;
  const char* limited_by = nullptr;  // expected limited_by ("" = none), nullptr = not checked
};

// Three pods with 1 cpu requested each and the given usage (milli), all Running and Ready.
std::string Cpu3(int a, int b, int c) {
  return "  - {name: a, requests: {cpu: '1'}, usage: {cpu: " + std::to_string(a) + "m}}\n"
         "  - {name: b, requests: {cpu: '1'}, usage: {cpu: " + std::to_string(b) + "m}}\n"
         "  - {name: c, requests: {cpu: '1'}, usage: {cpu: " + std::to_string(c) + "m}}\n";
}

const char* kCpu30 =
    "hpa: {spec: {minReplicas: 1, maxReplicas: 20, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
    "Utilization, averageUtilization: 30}}}]}}\n";

std::vector<Case> Cases() {
  std::vector<Case> c;
  // (TestReplicaCalcScaleUp) utilization = (300+500+700)*100/3000 = 50; ratio 50/30 = 1.667; ceil(1.667*3) = 5.
  c.push_back({"scale up", std::string(kCpu30) + "current_replicas: 3\npods:\n" + Cpu3(300, 500, 700), 5, ""});
  // (TestReplicaCalcScaleUpUnreadyLessScale) a is unready: utilization 1200*100/2000 = 60, ratio 2 > 1 with an
  // unready pod, so a counts as 0: 1200*100/3000 = 40, ratio 1.333; ceil(1.333*3) = 4.
  c.push_back({"unready pod counts as zero on scale-up",
               std::string(kCpu30) +
                   "current_replicas: 3\npods:\n"
                   "  - {name: a, ready: false, requests: {cpu: '1'}, usage: {cpu: 300m}}\n"
                   "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 500m}}\n"
                   "  - {name: c, requests: {cpu: '1'}, usage: {cpu: 700m}}\n",
               4});
  // (TestReplicaCalcScaleUpUnreadyNoScale) only a is ready: 400*100/1000 = 40, ratio 1.333; with b, c as 0:
  // 400*100/3000 = 13, ratio 0.433 < 1 flips the direction, so the count stays 3.
  c.push_back({"unready pods would flip direction",
               std::string(kCpu30) +
                   "current_replicas: 3\npods:\n"
                   "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 400m}}\n"
                   "  - {name: b, ready: false, requests: {cpu: '1'}, usage: {cpu: 500m}}\n"
                   "  - {name: c, cpu_initializing: true, requests: {cpu: '1'}, usage: {cpu: 700m}}\n",
               3});
  // (TestReplicaCalcScaleUpIgnoresFailedPods) failed and deleting pods are ignored:
  // 1200*100/2000 = 60, ratio 2; ceil(2*2) = 4.
  c.push_back({"failed and deleting pods ignored",
               std::string(kCpu30) +
                   "current_replicas: 2\npods:\n"
                   "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 500m}}\n"
                   "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 700m}}\n"
                   "  - {name: c, phase: Failed, requests: {cpu: '1'}, usage: {cpu: 100m}}\n"
                   "  - {name: d, deleting: true, requests: {cpu: '1'}, usage: {cpu: 100m}}\n",
               4});
  // (TestReplicaCalcScaleDown) 5 pods: (100+300+500+250+250)*100/5000 = 28; 28/50 = 0.56; ceil(0.56*5) = 3.
  c.push_back({"scale down",
               "hpa: {spec: {maxReplicas: 6, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 50}}}]}}\ncurrent_replicas: 5\nrecommendations: []\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 100m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 300m}}\n"
               "  - {name: c, requests: {cpu: '1'}, usage: {cpu: 500m}}\n"
               "  - {name: d, requests: {cpu: '1'}, usage: {cpu: 250m}}\n"
               "  - {name: e, requests: {cpu: '1'}, usage: {cpu: 250m}}\n",
               3});
  // (TestReplicaCalcScaleDownExcludeUnreadyPods) d, e unready: 900*100/3000 = 30, ratio 0.6 (no rebalancing on
  // scale-down); ceil(0.6*3) = ceil(1.8) = 2.
  c.push_back({"scale down excludes unready pods",
               "hpa: {spec: {maxReplicas: 6, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 50}}}]}}\ncurrent_replicas: 5\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 100m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 300m}}\n"
               "  - {name: c, requests: {cpu: '1'}, usage: {cpu: 500m}}\n"
               "  - {name: d, ready: false, requests: {cpu: '1'}, usage: {cpu: 250m}}\n"
               "  - {name: e, ready: false, requests: {cpu: '1'}, usage: {cpu: 250m}}\n",
               2});
  // (TestReplicaCalcTolerance) requests 900m+1+1100m = 3000m, usage 3060m: 102 %, ratio 1.02 within 0.1: 3.
  c.push_back({"within tolerance",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 100}}}]}}\ncurrent_replicas: 3\npods:\n"
               "  - {name: a, requests: {cpu: 900m}, usage: {cpu: 1010m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 1030m}}\n"
               "  - {name: c, requests: {cpu: 1100m}, usage: {cpu: 1020m}}\n",
               3});
  // A tolerance of 0.01 makes the same 1.02 count: ceil(1.02*3) = ceil(3.06) = 4.
  c.push_back({"configured tolerance",
               "tolerance: 0.01\nhpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: "
               "{type: Utilization, averageUtilization: 100}}}]}}\ncurrent_replicas: 3\npods:\n"
               "  - {name: a, requests: {cpu: 900m}, usage: {cpu: 1010m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 1030m}}\n"
               "  - {name: c, requests: {cpu: 1100m}, usage: {cpu: 1020m}}\n",
               4});
  // behavior.scaleUp.tolerance (HPAConfigurableTolerance) 0.5: ratio 1.333 is within [0.9, 1.5]: stays 3.
  c.push_back({"per-direction tolerance from behavior",
               "hpa: {spec: {maxReplicas: 20, behavior: {scaleUp: {tolerance: '0.5'}}, metrics: [{type: Resource, resource: "
               "{name: cpu, target: {type: Utilization, averageUtilization: 30}}}]}}\ncurrent_replicas: 3\npods:\n" +
                   Cpu3(300, 400, 500),
               3});
  // (TestReplicaCalcMissingMetrics) c, d have no sample: 495*100/2000 = 24, ratio 0.24 < 1, so missing pods count
  // as 100 % of request: 2495*100/4000 = 62, ratio 0.62; ceil(0.62*4) = ceil(2.48) = 3.
  c.push_back({"missing metrics on scale-down count as full request",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 100}}}]}}\ncurrent_replicas: 4\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 400m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 95m}}\n"
               "  - {name: c, requests: {cpu: '1'}}\n"
               "  - {name: d, requests: {cpu: '1'}}\n",
               3});
  // Missing on scale-up count as 0: 5800*100/2000 = 290, ratio 2.9; then 5800*100/4000 = 145, ratio 1.45;
  // ceil(1.45*4) = ceil(5.8) = 6.
  c.push_back({"missing metrics on scale-up count as zero",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 100}}}]}}\ncurrent_replicas: 4\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 3000m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 2800m}}\n"
               "  - {name: c, requests: {cpu: '1'}}\n"
               "  - {name: d, requests: {cpu: '1'}}\n",
               6});
  // Missing on scale-up that lands within tolerance: 3800*100/2000 = 190 -> with zeros 3800*100/4000 = 95,
  // ratio 0.95 within tolerance: stays 4.
  c.push_back({"missing metrics pull the ratio into tolerance",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 100}}}]}}\ncurrent_replicas: 4\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 2000m}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 1800m}}\n"
               "  - {name: c, requests: {cpu: '1'}}\n"
               "  - {name: d, requests: {cpu: '1'}}\n",
               4});
  // A target above 100 %: missing pods count as the target. 200*100/1000 = 20, ratio 20/150 = 0.133 < 1;
  // b counts 1000*150/100 = 1500: 1700*100/2000 = 85, ratio 0.567; ceil(0.567*2) = 2 (no change).
  // (Counting b at 100 % instead would give 1200*100/2000 = 60, ratio 0.4, ceil(0.8) = 1.)
  c.push_back({"missing metric with target above 100 %",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 150}}}]}}\ncurrent_replicas: 2\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 200m}}\n"
               "  - {name: b, requests: {cpu: '1'}}\n",
               2});
  // Pending pods are unready for every metric: a alone is at 300 %, ratio 6; b (Pending) counts 0 on a
  // scale-up: (3Gi*100)/(2Gi) = 150, ratio 3; ceil(3*2) = 6, then the legacy limit max(2*2, 4) = 4.
  c.push_back({"pending pod on memory scale-up",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: memory, target: {type: "
               "Utilization, averageUtilization: 50}}}]}}\ncurrent_replicas: 2\npods:\n"
               "  - {name: a, requests: {memory: 1Gi}, usage: {memory: 3Gi}}\n"
               "  - {name: b, phase: Pending, requests: {memory: 1Gi}}\n",
               4});
  // (TestReplicaCalcScaleUpCM) Pods metric: (20+10+30)/3 = 20 per pod vs 15: ratio 1.333; ceil(1.333*3) = 4.
  c.push_back({"pods metric",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Pods, pods: {metric: {name: qps}, target: {type: "
               "AverageValue, averageValue: '15'}}}]}}\ncurrent_replicas: 3\npods:\n"
               "  - {name: a, metrics: {qps: '20'}}\n  - {name: b, metrics: {qps: '10'}}\n  - {name: c, metrics: {qps: '30'}}\n",
               4});
  // Resource AverageValue: per-pod average (300m+500m+700m)/3 = 500m vs 250m: ratio 2; ceil(2*3) = 6.
  c.push_back({"resource average value",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
               "AverageValue, averageValue: 250m}}}]}}\ncurrent_replicas: 3\npods:\n" +
                   Cpu3(300, 500, 700),
               6});
  // (TestReplicaCalcScaleUpCMObject) Object Value 10 vs 6.666: ratio 1.50015; 3 ready pods: ceil(4.50045) = 5.
  c.push_back({"object value",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Object, object: {metric: {name: qps}, describedObject: {kind: "
               "Ingress, name: web}, target: {type: Value, value: 6666m}}}]}}\ncurrent_replicas: 3\n"
               "object_metrics: {qps: '10'}\npods:\n" +
                   Cpu3(1, 1, 1),
               5});
  // Object AverageValue: 20 over 5 replicas vs 2 per pod: ratio 20/(2*5) = 2; ceil(20/2) = 10 (the legacy
  // limit is max(2*5, 4) = 10).
  c.push_back({"object average value",
               "hpa: {spec: {maxReplicas: 20, metrics: [{type: Object, object: {metric: {name: queue}, describedObject: "
               "{kind: Service, name: q}, target: {type: AverageValue, averageValue: '2'}}}]}}\ncurrent_replicas: 5\n"
               "object_metrics: {queue: '20'}\n",
               10, ""});
  // External Value, summed over series: 4.3+4.3 = 8.6 vs 4.4: ratio 1.9545; 3 ready: ceil(5.86) = 6.
  c.push_back({"external value summed",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: External, external: {metric: {name: lag}, target: {type: "
               "Value, value: 4400m}}}]}}\ncurrent_replicas: 3\nexternal_metrics: {lag: ['4300m', '4300m']}\npods:\n" +
                   Cpu3(1, 1, 1),
               6});
  // External AverageValue: 86 / (22*3) = 1.303 outside tolerance; ceil(86/22) = ceil(3.909) = 4.
  c.push_back({"external average value",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: External, external: {metric: {name: lag}, target: {type: "
               "AverageValue, averageValue: '22'}}}]}}\ncurrent_replicas: 3\nexternal_metrics: {lag: '86'}\n",
               4});
  // Scale from zero (minReplicas 0 behind HPAScaleToZero, External Value): ceil(ratio) = ceil(2.5/1) = 3,
  // ignoring pods.
  c.push_back({"scale from zero",
               "feature_gates: {HPAScaleToZero: true}\n"
               "hpa: {spec: {minReplicas: 0, maxReplicas: 10, metrics: [{type: External, external: {metric: {name: lag}, "
               "target: {type: Value, value: '1'}}}]}}\ncurrent_replicas: 0\nexternal_metrics: {lag: 2500m}\n",
               3});
  // Multiple metrics: cpu proposes 5 (first case), qps (20+10+30)/3=20 vs 15 proposes 4: the max is 5.
  c.push_back({"max over metrics",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
               "Utilization, averageUtilization: 30}}}, {type: Pods, pods: {metric: {name: qps}, target: {type: AverageValue, "
               "averageValue: '15'}}}]}}\ncurrent_replicas: 3\npods:\n"
               "  - {name: a, requests: {cpu: '1'}, usage: {cpu: 300m}, metrics: {qps: '20'}}\n"
               "  - {name: b, requests: {cpu: '1'}, usage: {cpu: 500m}, metrics: {qps: '10'}}\n"
               "  - {name: c, requests: {cpu: '1'}, usage: {cpu: 700m}, metrics: {qps: '30'}}\n",
               5});
  // (TestScaleUpOneMetricInvalid) one metric fails, the other scales up: 5 is used.
  c.push_back({"one invalid metric on scale-up",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
               "Utilization, averageUtilization: 30}}}, {type: External, external: {metric: {name: gone}, target: {type: "
               "Value, value: '1'}}}]}}\ncurrent_replicas: 3\npods:\n" +
                   Cpu3(300, 500, 700),
               5});
  // (TestNoScaleDownOneMetricInvalid) one metric fails and the other would scale down: no change.
  c.push_back({"one invalid metric on scale-down",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
               "Utilization, averageUtilization: 90}}}, {type: External, external: {metric: {name: gone}, target: {type: "
               "Value, value: '1'}}}]}}\ncurrent_replicas: 3\npods:\n" +
                   Cpu3(100, 100, 100),
               3});
  // Legacy scale-up limit: 5 proposed... here cpu 2000m x3 vs 30 %: 6000*100/3000 = 200, ratio 6.67, ceil(20) = 20;
  // the limit is max(2*3, 4) = 6 < maxReplicas 20.
  c.push_back({"legacy scale-up limit", std::string(kCpu30) + "current_replicas: 3\npods:\n" + Cpu3(2000, 2000, 2000), 6,
               "ScaleUpLimit"});
  // maxReplicas 5 below the rate limit: TooManyReplicas.
  c.push_back({"max replicas",
               "hpa: {spec: {maxReplicas: 5, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
               "averageUtilization: 30}}}]}}\ncurrent_replicas: 3\npods:\n" +
                   Cpu3(2000, 2000, 2000),
               5, "TooManyReplicas"});
  // Proposed 1 (ceil(0.033*3)) below minReplicas 2: TooFewReplicas.
  c.push_back({"min replicas",
               "hpa: {spec: {minReplicas: 2, maxReplicas: 5, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
               "Utilization, averageUtilization: 90}}}]}}\ncurrent_replicas: 3\npods:\n" +
                   Cpu3(10, 10, 10),
               2, "TooFewReplicas"});
  // Legacy downscale stabilisation: a recommendation of 5 made 300 s ago (age <= window) holds the
  // proposal 2 at max(2, 5) = 5.
  c.push_back({"legacy stabilization keeps a recommendation at the window edge",
               "hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 5\ndesired_replicas: 2\n"
               "recommendations: [{age_seconds: 300, replicas: 5}]\n",
               5});
  c.push_back({"legacy stabilization drops an older recommendation",
               "hpa: {spec: {maxReplicas: 10}}\ncurrent_replicas: 5\ndesired_replicas: 2\n"
               "recommendations: [{age_seconds: 301, replicas: 5}]\n",
               2});
  // behavior: {} fills scaleDown's window with 300 s, but behavior windows keep only age < window.
  c.push_back({"behavior stabilization excludes the window edge",
               "hpa: {spec: {maxReplicas: 10, behavior: {}}}\ncurrent_replicas: 5\ndesired_replicas: 2\n"
               "recommendations: [{age_seconds: 300, replicas: 5}]\n",
               2});
  c.push_back({"behavior {} defaults: 300 s down window",
               "hpa: {spec: {maxReplicas: 10, behavior: {}}}\ncurrent_replicas: 5\ndesired_replicas: 2\n"
               "recommendations: [{age_seconds: 120, replicas: 4}]\n",
               4});
  // Behavior down stabilization: max(4, 8) = 8, then min(current 10, 8) = 8.
  c.push_back({"behavior scale-down stabilization",
               "hpa: {spec: {maxReplicas: 20, behavior: {scaleDown: {stabilizationWindowSeconds: 300}}}}\n"
               "current_replicas: 10\ndesired_replicas: 4\nrecommendations: [{age_seconds: 100, replicas: 8}]\n",
               8});
  // Behavior up stabilization (window 60): min(12, 6) = 6, then max(current 5, 6) = 6.
  c.push_back({"behavior scale-up stabilization",
               "hpa: {spec: {maxReplicas: 20, behavior: {scaleUp: {stabilizationWindowSeconds: 60}}}}\n"
               "current_replicas: 5\ndesired_replicas: 12\nrecommendations: [{age_seconds: 30, replicas: 6}]\n",
               6});
  // Default scale-up policies: max(10+4, ceil(10*2)) = 20.
  c.push_back({"behavior default scale-up policies",
               "hpa: {spec: {maxReplicas: 100, behavior: {}}}\ncurrent_replicas: 10\ndesired_replicas: 30\n", 20,
               "ScaleUpLimit"});
  // With 5 replicas added 10 s ago, the period started at 10-5 = 5: max(5+4, ceil(5*2)) = 10 = current.
  c.push_back({"behavior scale-up events use the period start",
               "hpa: {spec: {maxReplicas: 100, behavior: {}}}\ncurrent_replicas: 10\ndesired_replicas: 30\n"
               "scale_events: [{age_seconds: 10, change: 5}]\n",
               10, "ScaleUpLimit"});
  // An event 15 s old is outside the 15 s period (age < period counts): back to 20.
  c.push_back({"behavior scale event at period edge",
               "hpa: {spec: {maxReplicas: 100, behavior: {}}}\ncurrent_replicas: 10\ndesired_replicas: 30\n"
               "scale_events: [{age_seconds: 15, change: 5}]\n",
               20, "ScaleUpLimit"});
  // selectPolicy Min: min(10+4, ceil(10*2)) = 14.
  c.push_back({"behavior selectPolicy Min",
               "hpa: {spec: {maxReplicas: 100, behavior: {scaleUp: {selectPolicy: Min, policies: [{type: Pods, value: 4, "
               "periodSeconds: 60}, {type: Percent, value: 100, periodSeconds: 60}]}}}}\ncurrent_replicas: 10\n"
               "desired_replicas: 30\n",
               14, "ScaleUpLimit"});
  // Percent scale-up rounds up: ceil(3*1.5) = ceil(4.5) = 5.
  c.push_back({"behavior percent scale-up rounds up",
               "hpa: {spec: {maxReplicas: 100, behavior: {scaleUp: {policies: [{type: Percent, value: 50, periodSeconds: "
               "60}]}}}}\ncurrent_replicas: 3\ndesired_replicas: 9\n",
               5, "ScaleUpLimit"});
  // Percent scale-down truncates: int32(10*(1-0.5)) = 5.
  c.push_back({"behavior percent scale-down",
               "hpa: {spec: {maxReplicas: 100, behavior: {scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: "
               "Percent, value: 50, periodSeconds: 60}]}}}}\ncurrent_replicas: 10\ndesired_replicas: 2\n",
               5, "ScaleDownLimit"});
  // 2 removed 30 s ago: period start 10+2 = 12; Pods 3 -> 12-3 = 9; Percent 50 -> int32(12*0.5) = 6; Max
  // (the largest change) selects min(9, 6) = 6.
  c.push_back({"behavior scale-down events and selectPolicy Max",
               "hpa: {spec: {maxReplicas: 100, behavior: {scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: Pods, "
               "value: 3, periodSeconds: 60}, {type: Percent, value: 50, periodSeconds: 60}]}}}}\ncurrent_replicas: 10\n"
               "desired_replicas: 2\nscale_events: [{age_seconds: 30, change: -2}]\n",
               6, "ScaleDownLimit"});
  // selectPolicy Disabled for scale-down: the limit is the current count.
  c.push_back({"behavior scale-down disabled",
               "hpa: {spec: {maxReplicas: 100, behavior: {scaleDown: {selectPolicy: Disabled}}}}\ncurrent_replicas: 10\n"
               "desired_replicas: 2\n",
               10, "ScaleDownLimit"});
  // Early branches of reconcileAutoscaler.
  c.push_back({"current above max", "hpa: {spec: {maxReplicas: 4}}\ncurrent_replicas: 7\n", 4});
  c.push_back({"current below min", "hpa: {spec: {minReplicas: 3, maxReplicas: 4}}\ncurrent_replicas: 1\n", 3});
  c.push_back({"scaling disabled at zero", "hpa: {spec: {maxReplicas: 4}}\ncurrent_replicas: 0\n", 0});
  // CPU readiness with timings: started 60 s ago (inside the 300 s initialisation period) and ready for
  // only 10 s: the sample (age 0) is earlier than transition + window (−10 + 30 = 20 > 0) so it is
  // unready; a (ready long ago) alone: 2000*100/1000 = 200, ratio 6.67 -> b counted 0: 2000*100/2000 = 100,
  // ratio 3.33; ceil(3.33*2) = 7 -> limited to max(2*2, 4) = 4.
  c.push_back({"cpu initialization period",
               std::string(kCpu30) +
                   "current_replicas: 2\npods:\n"
                   "  - {name: a, start_age_seconds: 3600, ready_transition_age_seconds: 3500, requests: {cpu: '1'}, usage: "
                   "{cpu: 2000m}}\n"
                   "  - {name: b, start_age_seconds: 60, ready_transition_age_seconds: 10, requests: {cpu: '1'}, usage: {cpu: "
                   "2000m}}\n",
               4});
  // Past the initialisation period, a pod that was ready once and is unready now keeps its sample:
  // both count: 3000*100/2000 = 150, ratio 1.5; ceil(1.5*2) = 3. (Dropping b would leave a at 100 %,
  // ratio 1.0: no change.)
  c.push_back({"unready after having been ready keeps its sample",
               "hpa: {spec: {maxReplicas: 20, metrics: [{type: Resource, resource: {name: cpu, target: {type: "
               "Utilization, averageUtilization: 100}}}]}}\ncurrent_replicas: 2\npods:\n"
               "  - {name: a, start_age_seconds: 3600, requests: {cpu: '1'}, usage: {cpu: 1000m}}\n"
               "  - {name: b, ready: false, start_age_seconds: 3600, ready_transition_age_seconds: 100, requests: {cpu: '1'}, "
               "usage: {cpu: 2000m}}\n",
               3});
  // ContainerResource: only container `app` counts: (600+900)*100/(1000+1000) = 75 vs 50: ratio 1.5;
  // ceil(1.5*2) = 3.
  c.push_back({"container resource",
               "hpa: {spec: {maxReplicas: 10, metrics: [{type: ContainerResource, containerResource: {name: cpu, container: "
               "app, target: {type: Utilization, averageUtilization: 50}}}]}}\ncurrent_replicas: 2\npods:\n"
               "  - {name: a, containers: [{name: app, requests: {cpu: '1'}, usage: {cpu: 600m}}, {name: side, requests: "
               "{cpu: '1'}, usage: {cpu: 10m}}]}\n"
               "  - {name: b, containers: [{name: app, requests: {cpu: '1'}, usage: {cpu: 900m}}, {name: side, requests: "
               "{cpu: '1'}, usage: {cpu: 10m}}]}\n",
               3});
  return c;
}

TEST(HpaTable, ExpectedReplicas) {
  for (const auto& c : Cases()) {
    SCOPED_TRACE(c.name);
    // Like the controller's own tests, the table starts from an empty recommendation history unless a
    // case gives one (an absent list means "first pass": see FirstPassRecordsCurrentReplicas).
    std::string yaml = c.yaml;
    if (yaml.find("recommendations") == std::string::npos) yaml += "recommendations: []\n";
    auto in = ParseHpaInput(yaml, "case.yaml");
    ASSERT_TRUE(in.ok()) << in.error().message;
    auto d = EvaluateHpa(*in);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->desired_replicas, c.expected) << HpaDecisionToJson(*d);
    if (c.limited_by) {
      EXPECT_EQ(d->limited_by, c.limited_by);
    }
  }
}

TEST(HpaTable, FirstPassRecordsCurrentReplicas) {
  // No `recommendations` key: the controller records the current count (5) first, so inside the 300 s
  // legacy downscale window the stabilized result is max(5, 2) = 5. With `recommendations: []` the metric
  // result stands: 100m per pod against a 500m average target gives ratio 0.2, ceil(0.2 * 5) = 1, raised
  // to minReplicas 2.
  std::string base =
      "hpa: {spec: {minReplicas: 2, maxReplicas: 10, metrics: [{type: Resource, resource: {name: cpu, target: "
      "{type: AverageValue, averageValue: 500m}}}]}}\ncurrent_replicas: 5\npods:\n";
  for (int i = 0; i < 5; i++) base += "  - {name: p" + std::to_string(i) + ", requests: {cpu: '1'}, usage: {cpu: 100m}}\n";
  auto first = ParseHpaInput(base, "first.yaml");
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto d1 = EvaluateHpa(*first);
  ASSERT_TRUE(d1.ok()) << d1.error().message;
  EXPECT_EQ(d1->desired_replicas, 5);
  auto empty = ParseHpaInput(base + "recommendations: []\n", "empty.yaml");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  auto d2 = EvaluateHpa(*empty);
  ASSERT_TRUE(d2.ok()) << d2.error().message;
  EXPECT_EQ(d2->desired_replicas, 2);
}

TEST(HpaTable, PendingMemoryArithmetic) {
  // Documents the pending-pod case above: utilization (3Gi*100)/(1Gi) = 300 on a alone, ratio 6;
  // b (Pending) counts 0: (3Gi*100)/(2Gi) = 150, ratio 3; ceil(3*2) = 6, legacy limit max(2*2, 4) = 4.
  auto in = ParseHpaInput(
      "hpa: {spec: {maxReplicas: 10, metrics: [{type: Resource, resource: {name: memory, target: {type: Utilization, "
      "averageUtilization: 50}}}]}}\ncurrent_replicas: 2\npods:\n"
      "  - {name: a, requests: {memory: 1Gi}, usage: {memory: 3Gi}}\n"
      "  - {name: b, phase: Pending, requests: {memory: 1Gi}}\n",
      "x");
  ASSERT_TRUE(in.ok());
  auto d = EvaluateHpa(*in);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->metric_replicas.value_or(-1), 6);
  EXPECT_EQ(*d->metrics[0].current_utilization, 300);
  EXPECT_EQ(d->desired_replicas, 4);
  EXPECT_EQ(d->limited_by, "ScaleUpLimit");
}

TEST(HpaInvalid, RejectedLikeTheApiServer) {
  struct Bad {
    const char* yaml;
    const char* needle;
  };
  std::vector<Bad> bad = {
      {"hpa: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, spec: {maxReplicas: 3}}\ncurrent_replicas: 1\n",
       "scaleTargetRef"},
      {"hpa: {spec: {minReplicas: 5, maxReplicas: 3}}\ncurrent_replicas: 1\n", "minReplicas"},
      {"hpa: {spec: {maxReplicas: 3, metrics: [{type: Magic}]}}\ncurrent_replicas: 1\n", "unsupported metric type"},
      {"hpa: {spec: {maxReplicas: 3, metrics: [{type: Resource, resource: {name: cpu, target: {type: Value, value: "
       "'1'}}}]}}\ncurrent_replicas: 1\n",
       "Utilization or AverageValue"},
      {"hpa: {spec: {maxReplicas: 3, behavior: {scaleUp: {policies: []}}}}\ncurrent_replicas: 1\n", "at least one Policy"},
      {"hpa: {spec: {maxReplicas: 3, behavior: {scaleUp: {selectPolicy: Fastest}}}}\ncurrent_replicas: 1\n", "selectPolicy"},
      {"hpa: {spec: {maxReplicas: 3, behavior: {scaleDown: {policies: [{type: Pods, value: 1, periodSeconds: 0}]}}}}\n"
       "current_replicas: 1\n",
       "periodSeconds"},
      {"hpa: {spec: {maxReplicas: 3}}\n", "current_replicas"},
      {"hpa: {spec: {maxReplicas: 3}}\ncurrent_replicas: 1\npods: [{name: a}, {name: a}]\n", "duplicate pod"},
      {"hpa: {spec: {maxReplicas: 3, metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, "
       "averageUtilization: 50}}}]}}\ncurrent_replicas: 1\npods: [{name: a, usage: {cpu: 1x}}]\n",
       "pods[0].usage.cpu"},
      {"hpa: [1, 2\n", "case.yaml"},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.yaml);
    auto in = ParseHpaInput(b.yaml, "case.yaml");
    ASSERT_FALSE(in.ok());
    EXPECT_NE(in.error().message.find(b.needle), std::string::npos) << in.error().message;
    EXPECT_EQ(in.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(HpaInvalid, NoUsableMetric) {
  // No pod carries a cpu request: calculateRequests fails, the only metric is invalid.
  auto in = ParseHpaInput(
      "hpa: {spec: {maxReplicas: 3}}\ncurrent_replicas: 1\npods: [{name: a, usage: {cpu: 100m}}]\n", "case.yaml");
  ASSERT_TRUE(in.ok()) << in.error().message;
  auto d = EvaluateHpa(*in);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("no usable metric"), std::string::npos) << d.error().message;
  EXPECT_NE(d.error().message.find("missing request for cpu"), std::string::npos) << d.error().message;
}

}  // namespace
}  // namespace allot::autoscale
