// A small fixture around allot::Engine for tests: nodes and requests in readable units, explanations
// collected per request id. Time is in seconds here and converted to the engine's milliseconds.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "allot/engine.h"

namespace allot::testing {

inline constexpr int64_t kGi = 1LL << 30;
inline constexpr int64_t kMi = 1LL << 20;
inline TimeMs Sec(double s) { return static_cast<TimeMs>(s * 1000); }

// cpu in millicores, memory in bytes.
inline ResourceMap Cpu(int64_t milli) { return {{"cpu", milli}}; }
inline ResourceMap CpuMem(int64_t milli, int64_t bytes) { return {{"cpu", milli}, {"memory", bytes}}; }

class EngineTest : public ::testing::Test {
 protected:
  void Make(const EngineOptions& options) {
    auto e = Engine::Create(options);
    ASSERT_TRUE(e.ok()) << e.error().message;
    engine_ = std::move(e.value());
    engine_->SetExplain(true);
  }
  Engine& eng() { return *engine_; }

  void AddNode(const std::string& name, ResourceMap capacity, Labels labels = {}, std::vector<Taint> taints = {},
               ResourceMap allocated = {}) {
    NodeSpec n;
    n.name = name;
    n.capacity = std::move(capacity);
    n.labels = std::move(labels);
    n.taints = std::move(taints);
    n.allocated = std::move(allocated);
    Status st = engine_->AddNode(n, 0);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  RequestSpec Req(const std::string& id, ResourceMap requests, int priority = 2) {
    RequestSpec r;
    r.id = id;
    r.requests = std::move(requests);
    r.priority = priority;
    return r;
  }

  // Submits at `at` seconds (no scheduling pass).
  void Submit(const RequestSpec& r, double at = 0) {
    auto st = engine_->Submit(r, Sec(at));
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  // Runs a pass at `at` seconds and keeps its explanations.
  void Schedule(double at) {
    engine_->Schedule(Sec(at));
    for (auto& x : engine_->TakeExplanations()) explain_.push_back(std::move(x));
  }
  // Submits and schedules at once.
  void SubmitAndSchedule(const RequestSpec& r, double at = 0) {
    Submit(r, at);
    Schedule(at);
  }
  // Runs passes at every wakeup until nothing is due or `until` seconds pass.
  void RunUntil(double until) {
    for (int i = 0; i < 10000; i++) {
      auto w = engine_->NextWakeup();
      if (!w || *w > Sec(until)) break;
      Schedule(static_cast<double>(*w) / 1000.0);
    }
  }

  AllocationInfo Get(const std::string& id) {
    auto r = engine_->Get(id);
    EXPECT_TRUE(r.ok()) << id;
    return r.ok() ? *r : AllocationInfo{};
  }
  std::string State(const std::string& id) { return AllocStateName(Get(id).state); }
  std::string NodeOf(const std::string& id) {
    auto i = Get(id);
    return i.nodes.empty() ? "" : i.nodes.front();
  }
  // The first explanation about `id`.
  Explanation FirstExplain(const std::string& id) {
    for (const auto& x : explain_)
      if (x.id == id) return x;
    ADD_FAILURE() << "no explanation for " << id;
    return {};
  }
  std::map<std::string, int64_t> Scores(const std::string& id) {
    std::map<std::string, int64_t> m;
    for (const auto& [n, s] : FirstExplain(id).scores) m[n] = s;
    return m;
  }
  std::map<std::string, std::string> Filtered(const std::string& id) {
    std::map<std::string, std::string> m;
    for (const auto& [n, s] : FirstExplain(id).filtered) m[n] = s;
    return m;
  }

  std::unique_ptr<Engine> engine_;
  std::vector<Explanation> explain_;
};

using ScoreMap = std::map<std::string, int64_t>;

}  // namespace allot::testing
