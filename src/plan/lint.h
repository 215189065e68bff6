// Lint rules of the planner. Each finding carries a rule id, a severity, the workload and container, a
// message with the numbers and a concrete fix (and, where one applies, a strategic-merge patch).
//
// Rules (ids are stable; `lint.disable` in the config turns any off):
//   missing-requests        warning  a container sets no cpu or no memory request (the scheduler then
//                                    counts 0 for it); fix: set requests (defaults 100m / 128Mi).
//   missing-limits          warning  no memory limit (a leak can take the node's memory);
//                           info     no cpu limit (throttling-free by choice is fine, but say so).
//   limit-ratio             info     limit/request outside the guidance: cpu 2-4×, memory 1.5-2×
//                                    (1× is always fine: it is the Guaranteed pattern); warning above
//                                    the memory maximum, since overcommitted memory is reclaimed by OOM kills.
//   limit-below-request     error    a limit below its request: the API server rejects the pod.
//   besteffort-pod          warning  no container sets cpu or memory: first to be evicted under pressure.
//   guaranteed-not-met      warning  the pod asks for Guaranteed QoS (annotation allot.dev/qos: Guaranteed,
//                                    or a PriorityClass of value ≥ 1000000) but its QoS is lower.
//   gpu-without-limits      error    a GPU request without an equal limit: extended resources must have
//                                    limits equal to requests, or the API server rejects the pod.
//   replicas-above-hpa-max  warning  spec.replicas above the HPA's maxReplicas (the HPA scales it down).
//   replicas-below-hpa-min  info     spec.replicas below the HPA's minReplicas (planned at the HPA minimum).
//   hpa-target-missing      info     an HPA whose scaleTargetRef matches no loaded workload.
//   namespace-without-quota info     a namespace with workloads and no ResourceQuota.
//   quota-exceeded          error    namespace totals at minimum replicas exceed a ResourceQuota hard limit;
//                           warning  only at maximum replicas (the HPA will be unable to scale out).
//   limitrange-violation    error    a container outside its namespace's LimitRange min/max (rejected).
//   jvm-heap-over-limit     error    a JVM -Xmx at or above the container's memory limit (OOM kill on a full
//                                    heap); warning above 75% of it, since metaspace, thread stacks, code
//                                    cache and direct buffers need the rest (the JVM's own default heap is 25%).
//   unplaceable             error    a pod larger than every node shape given to sizing.
// Thread-safety: pure function.
#pragma once

#include <vector>

#include "allot/plan.h"

namespace allot::plan::internal {

void Lint(const Manifests& manifests, const std::vector<Hpa>& hpas, const Plan& plan, const PlanOptions& options,
          std::vector<Finding>* out);

}  // namespace allot::plan::internal
