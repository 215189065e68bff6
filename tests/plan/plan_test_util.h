// Small helpers for the planner's tests: load YAML text, plan it, find workloads and findings by name.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "allot/plan.h"

namespace allot::plan::testing {

inline Manifests LoadOrDie(const std::string& yaml, const LoadOptions& options = {}) {
  Manifests m;
  Status s = LoadText(yaml, "test.yaml", options, &m);
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

inline Plan PlanOrDie(const Manifests& m, const PlanOptions& options = {}) {
  auto p = MakePlan(m, options);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return p.ok() ? std::move(*p) : Plan{};
}

// The workload named `name`; fails the test and returns an empty one when there is none.
inline const Workload& FindWorkload(const Plan& p, const std::string& name) {
  for (const auto& w : p.workloads) {
    if (w.name == name) return w;
  }
  ADD_FAILURE() << "no workload " << name;
  static const Workload kNone;
  return kNone;
}

inline int CountRule(const Plan& p, const std::string& rule, const std::string& name = "") {
  int n = 0;
  for (const auto& f : p.findings) {
    if (f.rule == rule && (name.empty() || f.name == name)) n++;
  }
  return n;
}

inline int64_t Of(const ResourceList& r, const std::string& k) {
  auto it = r.find(k);
  return it == r.end() ? 0 : it->second;
}

constexpr int64_t kMi = int64_t{1} << 20;
constexpr int64_t kGi = int64_t{1} << 30;

}  // namespace allot::plan::testing
