// Replay of a trace's time-ordered arrivals and departures through allot::Engine.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <queue>
#include <unordered_map>

#include "allot/trace.h"

namespace allot::trace {
namespace {

// The engine's state after one scheduling step at time t; step_alloc holds its allocated amounts.
struct Step {
  TimeMs t;
  size_t queued, running;
};

// Fills rep->timeline: time-weighted utilisation over `points` equal buckets of [start_time, end_time], and
// the queue and running counts at each bucket's start. `step_alloc` has res_names.size() amounts per step,
// allocated over [step t, next step t).
void Timeline(const std::vector<Step>& steps, const std::vector<double>& step_alloc,
              const std::vector<std::string>& res_names, const ResourceMap& cap, TimeMs start_time, TimeMs end_time,
              size_t timeline_points, ReplayReport* out) {
  ReplayReport& rep = *out;
  const size_t points = std::max<size_t>(1, timeline_points);
  const double bucket = std::max(1.0, static_cast<double>(end_time - start_time) / static_cast<double>(points));
  rep.timeline.resize(points);
  std::vector<std::vector<double>> acc(points, std::vector<double>(res_names.size(), 0.0));
  std::vector<double> weight(points, 0.0);
  for (size_t s = 0; s + 1 < steps.size(); s++) {
    double a = static_cast<double>(steps[s].t - start_time), b = static_cast<double>(steps[s + 1].t - start_time);
    while (a < b) {
      size_t k = std::min(points - 1, static_cast<size_t>(a / bucket));
      double edge = k + 1 == points ? b : std::min(b, static_cast<double>(k + 1) * bucket);
      double dt = edge - a;
      if (dt <= 0) break;
      for (size_t r = 0; r < res_names.size(); r++) acc[k][r] += step_alloc[s * res_names.size() + r] * dt;
      weight[k] += dt;
      a = edge;
    }
  }
  for (size_t k = 0; k < points; k++) {
    rep.timeline[k].t_s = (static_cast<double>(start_time) + static_cast<double>(k) * bucket) / 1000.0;
    for (size_t r = 0; r < res_names.size(); r++)
      rep.timeline[k].utilization[res_names[r]] =
          weight[k] > 0 ? acc[k][r] / weight[k] / static_cast<double>(cap.at(res_names[r])) : 0.0;
    // Queue and running counts at the bucket's start.
    TimeMs at = start_time + static_cast<TimeMs>(static_cast<double>(k) * bucket);
    auto it = std::upper_bound(steps.begin(), steps.end(), at, [](TimeMs x, const Step& s) { return x < s.t; });
    if (it != steps.begin()) {
      --it;
      rep.timeline[k].queued = it->queued;
      rep.timeline[k].running = it->running;
    }
  }
}

// Fills the wait figures of rep (mean, p50, p99, max, bounded slowdown) and the started, never-started and
// rejected counts from the engine's allocations of the trace's jobs.
void WaitStatistics(Engine& eng, const TraceWorkload& w, const std::unordered_map<std::string, size_t>& index,
                    ReplayReport* out) {
  ReplayReport& rep = *out;
  std::vector<double> waits;
  double slowdown = 0;
  eng.ForEachAllocation([&](const AllocationInfo& a) {
    if (a.state == AllocState::kRejected) rep.rejected++;
    auto it = index.find(a.id);
    if (it == index.end()) return;
    if (a.started < 0) {
      if (a.state != AllocState::kRejected) rep.never_started++;
      return;
    }
    double wait = static_cast<double>(a.started - a.submitted) / 1000.0;
    double run = static_cast<double>(w.jobs[it->second].run) / 1000.0;
    waits.push_back(wait);
    slowdown += std::max(1.0, (wait + run) / std::max(run, 10.0));
  });
  rep.started = waits.size();
  if (!waits.empty()) {
    std::sort(waits.begin(), waits.end());
    double sum = 0;
    for (double x : waits) sum += x;
    rep.mean_wait_s = sum / static_cast<double>(waits.size());
    auto pct = [&](double q) {
      size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(waits.size()))) - 1;
      return waits[std::min(k, waits.size() - 1)];
    };
    rep.p50_wait_s = pct(0.50);
    rep.p99_wait_s = pct(0.99);
    rep.max_wait_s = waits.back();
    rep.mean_bounded_slowdown = slowdown / static_cast<double>(waits.size());
  }
}

}  // namespace

Result<ReplayReport> Replay(const TraceWorkload& w, const ReplayOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  auto created = Engine::Create(options.policy);
  if (!created.ok()) return Error{created.error().code, "policy: " + created.error().message};
  Engine& eng = **created;
  for (const auto& n : w.nodes)
    if (auto st = eng.AddNode(n, 0); !st.ok()) return Error{st.code(), "node " + n.name + ": " + st.message()};
  const ResourceMap cap = eng.TotalCapacity();
  std::vector<std::string> res_names;
  std::map<std::string, int64_t> max_node;  // largest capacity of one node, per resource (lower bound)
  for (const auto& [k, v] : cap)
    if (v > 0) res_names.push_back(k);
  for (const auto& n : w.nodes)
    for (const auto& [k, v] : n.capacity) max_node[k] = std::max(max_node[k], v);

  std::unordered_map<std::string, size_t> index;
  index.reserve(w.jobs.size() * 2);
  for (size_t i = 0; i < w.jobs.size(); i++) index.emplace(w.jobs[i].id, i);
  using Rel = std::pair<TimeMs, size_t>;
  std::priority_queue<Rel, std::vector<Rel>, std::greater<>> releases;

  std::vector<Step> steps;
  std::vector<double> step_alloc;  // res_names.size() per step: allocated over [t, next t)
  std::vector<double> integral(res_names.size(), 0.0);
  ReplayReport rep;
  size_t i = 0;
  TimeMs prev = w.jobs.empty() ? 0 : w.jobs.front().submit;
  const TimeMs start_time = prev;
  bool first = true;
  ResourceMap alloc_now;
  size_t step_no = 0;
  const size_t node_sample_every = std::max<size_t>(1, w.jobs.size() * 2 / 64);
  while (true) {
    TimeMs next_sub = i < w.jobs.size() ? w.jobs[i].submit : INT64_MAX;
    TimeMs next_rel = releases.empty() ? INT64_MAX : releases.top().first;
    auto wake = eng.NextWakeup();
    TimeMs t = std::min({next_sub, next_rel, wake ? *wake : INT64_MAX});
    if (t == INT64_MAX) break;
    if (!first && t < prev) t = prev;
    if (!first && t == prev && next_sub != t && next_rel != t) break;  // nothing new is due
    double dt = first ? 0 : static_cast<double>(t - prev) / 1000.0;
    for (size_t r = 0; r < res_names.size(); r++) {
      auto it = alloc_now.find(res_names[r]);
      integral[r] += (it == alloc_now.end() ? 0.0 : static_cast<double>(it->second)) * dt;
    }
    while (!releases.empty() && releases.top().first <= t) {
      (void)eng.Release(w.jobs[releases.top().second].id, t);  // may have ended already: nothing to do
      releases.pop();
    }
    for (; i < w.jobs.size() && w.jobs[i].submit <= t; i++) {
      const TraceJob& j = w.jobs[i];
      RequestSpec r;
      r.id = j.id;
      r.requests = j.requests;
      r.duration = j.estimate;
      r.count = j.count;
      r.selector = j.selector;
      r.wait = j.wait;
      auto s = eng.Submit(r, t);
      if (!s.ok()) return Error{s.error().code, "job " + j.id + ": " + s.error().message};
    }
    eng.Schedule(t);
    if (options.progress && step_no % 64 == 0) {
      options.progress(
          {options.policy.backfill ? "replaying (backfill)" : "replaying", "jobs", i, w.jobs.size()});
    }
    for (const auto& ev : eng.TakeEvents()) {
      if (ev.type != EventType::kPlaced) continue;
      auto it = index.find(ev.id);
      if (it == index.end()) continue;
      const TraceJob& j = w.jobs[it->second];
      if (j.run < j.estimate) releases.emplace(t + j.run, it->second);
    }
    alloc_now = eng.TotalAllocated();
    steps.push_back(Step{t, eng.QueueDepth(), eng.RunningCount()});
    for (const auto& name : res_names) {
      auto it = alloc_now.find(name);
      step_alloc.push_back(it == alloc_now.end() ? 0.0 : static_cast<double>(it->second));
    }
    if (step_no++ % node_sample_every == 0) {
      size_t used = 0;
      for (const auto& n : eng.Nodes()) used += n.allocations > 0 ? 1 : 0;
      if (used > rep.peak_nodes_used) {
        rep.peak_nodes_used = used;
        size_t lb = 0;
        for (const auto& [k, v] : alloc_now) {
          auto m = max_node.find(k);
          if (m != max_node.end() && m->second > 0 && v > 0)
            lb = std::max(lb, static_cast<size_t>((v + m->second - 1) / m->second));
        }
        rep.nodes_lower_bound = lb;
      }
    }
    prev = t;
    first = false;
  }
  const TimeMs end_time = prev;
  rep.makespan_s = static_cast<double>(end_time - start_time) / 1000.0;
  rep.scoring = options.policy.scoring;
  rep.backfill = options.policy.backfill;
  rep.description = w.description;
  rep.jobs = w.jobs.size();
  double span = std::max(1e-9, rep.makespan_s);
  for (size_t r = 0; r < res_names.size(); r++)
    rep.utilization[res_names[r]] = integral[r] / span / static_cast<double>(cap.at(res_names[r]));

  Timeline(steps, step_alloc, res_names, cap, start_time, end_time, options.timeline_points, &rep);
  WaitStatistics(eng, w, index, &rep);
  rep.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace allot::trace
