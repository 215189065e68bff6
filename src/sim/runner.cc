// The discrete-event loop of `allot sim`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>

#include "allot/sim.h"
#include "sim/loader.h"

namespace allot::sim {

namespace {

// How often a run reports progress (SimOptions::progress): the reports stay well under 1% of the work.
constexpr size_t kEventsPerReport = 256;
constexpr uint64_t kPassesPerReport = 256;

// Applies one scenario event at time t. A bad submit, node or quota event fails the run (with the
// scenario file and line); a release, reservation or unreservation that does not apply becomes a note.
Status ApplyEvent(Engine& eng, const std::string& file, const Event& e, TimeMs t, SimResult* out) {
  Status st;
  switch (e.kind) {
    case Event::Kind::kSubmit: {
      auto r = eng.Submit(e.submit, t);
      if (!r.ok()) return Error{r.error().code, file + ":" + std::to_string(e.line) + ": " + r.error().message};
      break;
    }
    case Event::Kind::kRelease:
      st = eng.Release(e.name, t);
      if (!st.ok()) out->notes.emplace_back(e.name, "release at " + std::to_string(t / 1000.0) + "s ignored: " + st.message());
      break;
    case Event::Kind::kNodeUp:
      if (e.node) {
        auto existing = eng.Node(e.name);
        st = existing.ok() ? eng.UpdateNode(*e.node, t) : eng.AddNode(*e.node, t);
        if (st.ok() && existing.ok()) st = eng.SetNodeUp(e.name, t);
      } else {
        st = eng.SetNodeUp(e.name, t);
      }
      if (!st.ok()) return Error{st.code(), file + ":" + std::to_string(e.line) + ": " + st.message()};
      break;
    case Event::Kind::kNodeDown:
      st = eng.SetNodeDown(e.name, t);
      if (!st.ok()) return Error{st.code(), file + ":" + std::to_string(e.line) + ": " + st.message()};
      break;
    case Event::Kind::kDrain:
      st = eng.DrainNode(e.name, t);
      if (!st.ok()) return Error{st.code(), file + ":" + std::to_string(e.line) + ": " + st.message()};
      break;
    case Event::Kind::kReserve:
      st = eng.Reserve(*e.reserve, t);
      out->notes.emplace_back(e.reserve->id, st.ok() ? "reserved" : "rejected: " + st.message());
      break;
    case Event::Kind::kUnreserve:
      st = eng.Unreserve(e.name, t);
      if (!st.ok()) out->notes.emplace_back(e.name, "unreserve ignored: " + st.message());
      break;
    case Event::Kind::kQuota:
      st = eng.SetTenant(*e.quota, t);
      if (!st.ok()) return Error{st.code(), file + ":" + std::to_string(e.line) + ": quota: " + st.message()};
      break;
  }
  return Status::Ok();
}

// The event loop, fed one event at a time (Feed) so that a caller may stream a scenario's events into it
// instead of holding them all. All events that share one `at` are applied in order, then one pass runs;
// wakeups (lease ends, wait deadlines, reservation edges, burst grace ends) before the next event's time
// are passes of their own. The same sequence of passes as looping over a whole Scenario::events.
class Simulation {
 public:
  Simulation(Engine& eng, std::string file, const SimOptions& options) : eng_(eng), file_(std::move(file)), options_(options) {}

  // REQUIRES: events in non-decreasing `at` order (the loader checks it).
  Status Feed(const Event& e) {
    if (stopped_) return Status::Ok();
    if (open_ && e.at == cur_) return Apply(e);
    if (open_) EndPass();
    while (true) {
      auto wake = eng_.NextWakeup();
      TimeMs t = std::min(e.at, wake ? *wake : INT64_MAX);
      if (!first_ && t < prev_) t = prev_;  // never go back in time
      if (!first_ && t == prev_ && e.at != t) {  // nothing new is due: guard against a stuck wakeup
        stopped_ = true;
        return Status::Ok();
      }
      Integrate(t);
      cur_ = t;
      if (t == e.at) {
        open_ = true;
        return Apply(e);
      }
      EndPass();  // a wakeup before the event
    }
  }

  // Runs the passes still due after the last event and builds the result.
  SimResult Finish() {
    if (open_) EndPass();
    for (uint64_t passes = 0; !stopped_; passes++) {
      if (options_.progress && passes % kPassesPerReport == 0)
        options_.progress({"finishing", "passes", passes, 0});
      auto wake = eng_.NextWakeup();
      TimeMs t = wake ? *wake : INT64_MAX;
      if (t == INT64_MAX) break;
      if (!first_ && t < prev_) t = prev_;
      if (!first_ && t == prev_) break;
      Integrate(t);
      cur_ = t;
      EndPass();
    }
    Outcomes();
    Summarize();
    return std::move(out_);
  }

 private:
  Status Apply(const Event& e) {
    if (auto st = ApplyEvent(eng_, file_, e, cur_, &out_); !st.ok()) return st;
    if (e.kind == Event::Kind::kSubmit) {
      order_.push_back(e.submit.id);
      if (demand_seen_.insert(e.submit.tenant).second) {
        demand_tenants_.insert(e.submit.tenant);
        share_demand_.clear();  // recomputed for the new tenant at the next Integrate
      }
    }
    if (e.kind == Event::Kind::kNodeUp || e.kind == Event::Kind::kNodeDown || e.kind == Event::Kind::kDrain) nodes_changed_ = true;
    if (e.kind != Event::Kind::kSubmit) other_events_ = true;
    return Status::Ok();
  }

  // Integrates the state that held over [prev_, t).
  void Integrate(TimeMs t) {
    double dt = first_ ? 0 : static_cast<double>(t - prev_) / 1000.0;
    if (dt == 0) return;
    for (const auto& [k, v] : cap_now_) cap_integral_[k] += static_cast<double>(v) * dt;
    for (const auto& [k, v] : alloc_now_) alloc_integral_[k] += static_cast<double>(v) * dt;
    if (share_demand_.size() != share_paths_.size()) {  // which engine tenants have demand, by index
      share_demand_.resize(share_paths_.size());
      for (size_t i = 0; i < share_paths_.size(); i++) share_demand_[i] = demand_seen_.count(share_paths_[i]) ? 1 : 0;
    }
    for (size_t i = 0; i < shares_now_.size(); i++) {
      if (share_demand_[i]) share_integral_[share_paths_[i]] += shares_now_[i] * dt;
    }
  }

  // The scheduling pass at cur_, then the state that holds until the next pass.
  void EndPass() {
    open_ = false;
    eng_.Schedule(cur_);
    auto events = eng_.TakeEvents();
    bool engine_events = false;
    for (const auto& ev : events) {
      engine_events |= ev.type != EventType::kSubmitted;
      if (ev.type == EventType::kPlaced) {
        size_t start = 0;
        while (start <= ev.node.size()) {
          size_t comma = ev.node.find(',', start);
          if (comma == std::string::npos) comma = ev.node.size();
          std::string_view name = std::string_view(ev.node).substr(start, comma - start);
          if (used_nodes_.find(name) == used_nodes_.end()) used_nodes_.emplace(name);
          start = comma + 1;
        }
      }
      if (ev.type == EventType::kPreempted) preemptions_++;
    }
    if (options_.explain) {
      for (auto& x : eng_.TakeExplanations()) out_.explain.push_back(std::move(x));
    }
    // Capacity changes only with node events (the engine neither adds nor removes nodes by itself);
    // allocations and shares only with what the engine reports or with an event other than a submit
    // (a submit that only queues changes neither).
    if (first_ || nodes_changed_) cap_now_ = eng_.TotalCapacity();
    if (first_ || nodes_changed_ || other_events_ || engine_events) {
      alloc_now_ = eng_.TotalAllocated();
      eng_.ForEachDominantShare([&](size_t i, std::string_view path, double share) {
        if (i >= share_paths_.size()) {
          share_paths_.emplace_back(path);
          shares_now_.push_back(0);
        }
        shares_now_[i] = share;
      });
    }
    nodes_changed_ = other_events_ = false;
    prev_ = cur_;
    first_ = false;
  }

  // Outcomes in submission order.
  void Outcomes() {
    out_.requests.reserve(order_.size());
    for (const auto& id : order_) {
      auto info = eng_.Get(id);
      if (!info.ok()) continue;
      out_.summary.states[AllocStateName(info->state)]++;
      if (info->started >= 0) waits_.push_back(static_cast<double>(info->started - info->submitted) / 1000.0);
      out_.requests.push_back(RequestOutcome::From(std::move(*info)));
    }
    std::vector<std::string>().swap(order_);
  }

  void Summarize() {
    Summary& s = out_.summary;
    s.started = waits_.size();
    if (!waits_.empty()) {
      double sum = 0;
      for (double w : waits_) sum += w;
      s.mean_wait_s = sum / static_cast<double>(waits_.size());
      std::sort(waits_.begin(), waits_.end());
      size_t idx = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(waits_.size()))) - 1;
      s.p99_wait_s = waits_[std::min(idx, waits_.size() - 1)];
    }
    for (const auto& [k, c] : cap_integral_) {
      if (c > 0) s.utilization[k] = alloc_integral_[k] / c;
    }
    if (cap_integral_.empty() ||
        std::all_of(cap_integral_.begin(), cap_integral_.end(), [](auto& p) { return p.second == 0; })) {
      // A run with no elapsed time: report the instantaneous utilisation.
      for (const auto& [k, c] : cap_now_)
        if (c > 0) s.utilization[k] = static_cast<double>(alloc_now_[k]) / static_cast<double>(c);
    }
    s.nodes_used = used_nodes_.size();
    s.preemptions = preemptions_;
    s.end_time_s = static_cast<double>(prev_) / 1000.0;
    s.tenants = eng_.Tenants();
    double duration = s.end_time_s;
    double sum = 0, sum_sq = 0;
    size_t n = 0;
    for (const auto& t : demand_tenants_) {
      double avg = duration > 0 ? share_integral_[t] / duration : 0;
      if (duration <= 0) {
        for (const auto& tu : s.tenants)
          if (tu.path == t) avg = tu.dominant_share;
      }
      s.mean_dominant_share[t.empty() ? "default" : t] = avg;
      sum += avg;
      sum_sq += avg * avg;
      n++;
    }
    s.jain_index = (n == 0 || sum_sq == 0) ? 1.0 : (sum * sum) / (static_cast<double>(n) * sum_sq);
  }

  Engine& eng_;
  std::string file_;  // for error messages
  const SimOptions& options_;
  SimResult out_;
  std::vector<std::string> order_;  // submission order of request ids
  // Hashed with string_view lookups: a pass looks names up without building strings.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_set<std::string, NameHash, std::equal_to<>> used_nodes_, demand_seen_;
  std::set<std::string> demand_tenants_;  // demand_seen_ in order, for the summary
  std::vector<char> share_demand_;        // by engine tenant index: has it submitted anything
  std::map<std::string, double> cap_integral_, alloc_integral_, share_integral_;
  ResourceMap cap_now_, alloc_now_;
  std::vector<std::string> share_paths_;  // tenants by engine index (ForEachDominantShare)
  std::vector<double> shares_now_;        // their dominant shares over the current interval
  std::vector<double> waits_;
  size_t preemptions_ = 0;
  TimeMs prev_ = 0, cur_ = 0;
  bool first_ = true, open_ = false, stopped_ = false, nodes_changed_ = false, other_events_ = false;
};

// The engine for a scenario's policy, nodes and tenants at t = 0.
Result<std::unique_ptr<Engine>> StartEngine(const Scenario& sc, const SimOptions& options) {
  auto created = Engine::Create(sc.policy);
  if (!created.ok()) return Error{created.error().code, sc.file + ": policy: " + created.error().message};
  std::unique_ptr<Engine> eng = std::move(created.value());
  eng->SetExplain(options.explain);
  for (const auto& n : sc.nodes) {
    if (auto st = eng->AddNode(n, 0); !st.ok()) return Error{st.code(), sc.file + ": nodes: " + st.message()};
  }
  if (!sc.tenants.empty()) {
    if (auto st = eng->SetTenants(sc.tenants, 0); !st.ok()) return Error{st.code(), sc.file + ": tenants: " + st.message()};
  }
  return eng;
}

}  // namespace

RequestOutcome RequestOutcome::From(AllocationInfo&& a) {
  RequestOutcome o;
  o.id = std::move(a.id);
  o.tenant = std::move(a.tenant);
  o.priority = a.priority;
  o.state = a.state;
  o.count = a.count;
  o.nodes = std::move(a.nodes);
  o.submitted = a.submitted;
  o.started = a.started;
  o.ended = a.ended;
  o.reason = std::move(a.reason);
  o.preempted_by = std::move(a.preempted_by);
  o.devices = std::move(a.devices);
  return o;
}

Result<SimResult> Run(const Scenario& sc, const SimOptions& options) {
  auto eng = StartEngine(sc, options);
  if (!eng.ok()) return eng.error();
  Simulation sim(**eng, sc.file, options);
  for (size_t i = 0; i < sc.events.size(); i++) {
    if (options.progress && i % kEventsPerReport == 0)
      options.progress({"simulating", "events", i, sc.events.size()});
    if (auto st = sim.Feed(sc.events[i]); !st.ok()) return st.error();
  }
  return sim.Finish();
}

Result<SimResult> RunText(const std::string& text, const std::string& file, const SimOptions& options) {
  // One pass: each event runs as soon as it is validated. Errors keep their precedence: a load error
  // anywhere wins over any run error (the run's first error is kept while loading goes on).
  auto t0 = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration in_run{};
  std::unique_ptr<Engine> eng;
  std::unique_ptr<Simulation> sim;
  std::optional<Error> run_error;
  size_t fed = 0;
  auto feed = [&](const Scenario& head, const Event& e, size_t pos) {
    if (run_error) return;
    if (options.progress && fed++ % kEventsPerReport == 0)
      options.progress({"simulating", "bytes", pos, text.size()});
    auto t = std::chrono::steady_clock::now();
    if (!sim) {
      auto started = StartEngine(head, options);
      if (started.ok()) {
        eng = std::move(*started);
        sim = std::make_unique<Simulation>(*eng, head.file, options);
      } else {
        run_error = started.error();
      }
    }
    if (sim) {
      if (auto st = sim->Feed(e); !st.ok()) run_error = st.error();
    }
    in_run += std::chrono::steady_clock::now() - t;
  };
  auto loaded = LoadStreamed(text, file, feed);
  if (!loaded.ok()) return loaded.error();
  double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0 - in_run).count();
  Result<SimResult> res = InvalidArgument("not run");
  if (loaded->streamed && (sim || run_error)) {
    if (run_error) return *run_error;
    res = sim->Finish();
  } else {
    res = Run(loaded->scenario, options);  // no event, or a layout that could not stream: a fresh run
  }
  if (res.ok()) res->summary.load_seconds = load;
  return res;
}

}  // namespace allot::sim
