// The discrete-event loop of `allot sim`.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "allot/sim.h"

namespace allot::sim {

namespace {

// Applies one scenario event at time t. A bad submit, node or quota event fails the run (with the
// scenario file and line); a release, reservation or unreservation that does not apply becomes a note.
Status ApplyEvent(Engine& eng, const Scenario& sc, const Event& e, TimeMs t, SimResult* out) {
  Status st;
  switch (e.kind) {
    case Event::Kind::kSubmit: {
      auto r = eng.Submit(e.submit, t);
      if (!r.ok()) return Error{r.error().code, sc.file + ":" + std::to_string(e.line) + ": " + r.error().message};
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
      if (!st.ok()) return Error{st.code(), sc.file + ":" + std::to_string(e.line) + ": " + st.message()};
      break;
    case Event::Kind::kNodeDown:
      st = eng.SetNodeDown(e.name, t);
      if (!st.ok()) return Error{st.code(), sc.file + ":" + std::to_string(e.line) + ": " + st.message()};
      break;
    case Event::Kind::kDrain:
      st = eng.DrainNode(e.name, t);
      if (!st.ok()) return Error{st.code(), sc.file + ":" + std::to_string(e.line) + ": " + st.message()};
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
      if (!st.ok()) return Error{st.code(), sc.file + ":" + std::to_string(e.line) + ": quota: " + st.message()};
      break;
  }
  return Status::Ok();
}

}  // namespace

Result<SimResult> Run(const Scenario& sc, const SimOptions& options) {
  auto created = Engine::Create(sc.policy);
  if (!created.ok()) return Error{created.error().code, sc.file + ": policy: " + created.error().message};
  Engine& eng = *created.value();
  eng.SetExplain(options.explain);
  SimResult out;
  for (const auto& n : sc.nodes) {
    if (auto st = eng.AddNode(n, 0); !st.ok()) return Error{st.code(), sc.file + ": nodes: " + st.message()};
  }
  if (!sc.tenants.empty()) {
    if (auto st = eng.SetTenants(sc.tenants, 0); !st.ok()) return Error{st.code(), sc.file + ": tenants: " + st.message()};
  }
  std::vector<std::string> order;  // submission order of request ids
  std::set<std::string> used_nodes;
  std::map<std::string, double> cap_integral, alloc_integral, share_integral;
  std::set<std::string> demand_tenants;
  size_t preemptions = 0;
  size_t i = 0;
  TimeMs prev = 0;
  bool first = true;
  ResourceMap cap_now, alloc_now;
  std::vector<TenantUsage> tenants_now;
  while (true) {
    TimeMs next_event = i < sc.events.size() ? sc.events[i].at : INT64_MAX;
    auto wake = eng.NextWakeup();
    TimeMs t = std::min(next_event, wake ? *wake : INT64_MAX);
    if (t == INT64_MAX) break;
    if (!first && t < prev) t = prev;  // never go back in time
    if (!first && t == prev && next_event != t) break;  // nothing new is due: guard against a stuck wakeup
    // Integrate the state that held over [prev, t).
    double dt = first ? 0 : static_cast<double>(t - prev) / 1000.0;
    for (const auto& [k, v] : cap_now) cap_integral[k] += static_cast<double>(v) * dt;
    for (const auto& [k, v] : alloc_now) alloc_integral[k] += static_cast<double>(v) * dt;
    for (const auto& tu : tenants_now)
      if (demand_tenants.count(tu.path)) share_integral[tu.path] += tu.dominant_share * dt;
    for (; i < sc.events.size() && sc.events[i].at == t; i++) {
      const Event& e = sc.events[i];
      if (auto st = ApplyEvent(eng, sc, e, t, &out); !st.ok()) return st.error();
      if (e.kind == Event::Kind::kSubmit) {
        order.push_back(e.submit.id);
        demand_tenants.insert(e.submit.tenant);
      }
    }
    eng.Schedule(t);
    for (const auto& ev : eng.TakeEvents()) {
      if (ev.type == EventType::kPlaced) {
        size_t start = 0;
        while (start <= ev.node.size()) {
          size_t comma = ev.node.find(',', start);
          if (comma == std::string::npos) comma = ev.node.size();
          used_nodes.insert(ev.node.substr(start, comma - start));
          start = comma + 1;
        }
      }
      if (ev.type == EventType::kPreempted) preemptions++;
    }
    if (options.explain) {
      for (auto& x : eng.TakeExplanations()) out.explain.push_back(std::move(x));
    }
    cap_now = eng.TotalCapacity();
    alloc_now = eng.TotalAllocated();
    tenants_now = eng.Tenants();
    prev = t;
    first = false;
  }
  // Outcomes in submission order.
  std::vector<double> waits;
  for (const auto& id : order) {
    auto info = eng.Get(id);
    if (!info.ok()) continue;
    out.requests.push_back(*info);
    out.summary.states[AllocStateName(info->state)]++;
    if (info->started >= 0) waits.push_back(static_cast<double>(info->started - info->submitted) / 1000.0);
  }
  Summary& s = out.summary;
  s.started = waits.size();
  if (!waits.empty()) {
    double sum = 0;
    for (double w : waits) sum += w;
    s.mean_wait_s = sum / static_cast<double>(waits.size());
    std::sort(waits.begin(), waits.end());
    size_t idx = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(waits.size()))) - 1;
    s.p99_wait_s = waits[std::min(idx, waits.size() - 1)];
  }
  for (const auto& [k, c] : cap_integral) {
    if (c > 0) s.utilization[k] = alloc_integral[k] / c;
  }
  if (cap_integral.empty() || std::all_of(cap_integral.begin(), cap_integral.end(), [](auto& p) { return p.second == 0; })) {
    // A run with no elapsed time: report the instantaneous utilisation.
    for (const auto& [k, c] : cap_now)
      if (c > 0) s.utilization[k] = static_cast<double>(alloc_now[k]) / static_cast<double>(c);
  }
  s.nodes_used = used_nodes.size();
  s.preemptions = preemptions;
  s.end_time_s = static_cast<double>(prev) / 1000.0;
  s.tenants = eng.Tenants();
  double duration = s.end_time_s;
  double sum = 0, sum_sq = 0;
  size_t n = 0;
  for (const auto& t : demand_tenants) {
    double avg = duration > 0 ? share_integral[t] / duration : 0;
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
  return out;
}

}  // namespace allot::sim
