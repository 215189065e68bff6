// Elastic node pools: sizing from the scan and queued demand, the scaling command, the JSON view.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "allot/autoscale.h"
#include "allot/resources.h"
#include "allot/utf8.h"
#include "server/state.h"

extern "C" char** environ;

namespace allot::server {

// Queued demand per pool, in each pool's resource. A queued request belongs to the pool its selector
// pins (allot.dev/pool=NAME), else to the first pool (config order) with a node matching its selector;
// one without a selector to the first pool below max_nodes (else the first pool). Requests held by
// quota ask for no nodes. REQUIRES: mu held.
std::vector<int64_t> State::QueuedDemand() {
  std::vector<int64_t> out(pools.size(), 0);
  std::vector<const RequestSpec*> waiting;
  bool need_nodes = false;
  for (const auto& [id, m] : active) {
    if (!m.spec) continue;
    auto info = engine->Get(id);
    if (!info.ok() || info->state != AllocState::kQueued) continue;
    // Held by quota: more nodes would not start it.
    if (info->reason_code == ReasonCode::kQuota || info->reason_code == ReasonCode::kQuotaBorrowing) continue;
    waiting.push_back(m.spec.get());
    need_nodes |= !m.spec->selector.empty();
  }
  std::vector<NodeInfo> nodes;
  if (need_nodes) nodes = engine->Nodes();
  for (const RequestSpec* q : waiting) {
    int target = -1;
    auto pin = q->selector.find("allot.dev/pool");
    for (size_t i = 0; i < pools.size() && target < 0; i++) {
      const PoolConfig& pc = pools[i].cfg;
      bool ok = false;
      if (pin != q->selector.end()) {
        ok = pin->second == pc.name;
      } else if (q->selector.empty()) {
        ok = pools[i].nodes < pc.max_nodes;
      } else {
        for (const auto& n : nodes) {
          if (n.pool != pc.name) continue;
          bool match = true;
          for (const auto& [k, v] : q->selector) {
            auto l = n.labels.find(k);
            match &= l != n.labels.end() && l->second == v;
          }
          if (match) {
            ok = true;
            break;
          }
        }
      }
      if (ok) target = static_cast<int>(i);
    }
    if (target < 0 && q->selector.empty() && !pools.empty()) target = 0;
    if (target < 0) continue;
    out[static_cast<size_t>(target)] += Get(q->requests, pools[static_cast<size_t>(target)].cfg.resource) * std::max(1, q->count);
  }
  return out;
}

// Sizes every pool from the latest scan. REQUIRES: mu held.
void State::EvaluatePools(int64_t now_ms, Batch* b) {
  last_pool_eval_ms = now_ms;
  if (pools.empty()) return;
  std::vector<int64_t> queued = QueuedDemand();
  const double now_s = static_cast<double>(now_ms) / 1000.0;
  for (size_t i = 0; i < pools.size(); i++) {
    PoolRuntime& p = pools[i];
    const PoolConfig& pc = p.cfg;
    int64_t cap = 0, alloc = 0, obs = 0, eff = 0;
    int32_t n = 0;
    auto sums = pool_sums.find(pc.name);
    if (sums != pool_sums.end()) {
      n = sums->second.nodes;
      for (size_t r = 0; r < scan_resources.size() && r < sums->second.capacity.size(); r++) {
        if (scan_resources[r] != pc.resource) continue;
        cap = sums->second.capacity[r];
        alloc = sums->second.allocated[r];
        obs = sums->second.observed[r];
        eff = sums->second.effective[r];
      }
    }
    if (n > 0 && cap > 0) p.node_capacity = static_cast<double>(cap) / n;  // remembered for scale-from-zero
    int32_t prev = p.evaluated ? p.desired : n;
    int32_t desired = prev;
    std::string reason;
    if (!(p.node_capacity > 0) && (n > 0 || eff > 0 || queued[i] > 0)) {
      desired = std::clamp<int32_t>(queued[i] > 0 || eff > 0 ? std::max(1, pc.min_nodes) : pc.min_nodes, pc.min_nodes,
                                    pc.max_nodes);
      reason = "no node of the pool has shown its " + pc.resource + " capacity yet";
      p.utilization = 0;
    } else {
      autoscale::PoolSpec spec;
      spec.min_nodes = pc.min_nodes;
      spec.max_nodes = pc.max_nodes;
      spec.target_utilization = pc.target_utilization;
      spec.tolerance = pc.tolerance;
      spec.scale_up_cooldown_seconds = static_cast<double>(pc.scale_up_cooldown_ms) / 1000.0;
      spec.scale_down_cooldown_seconds = static_cast<double>(pc.scale_down_cooldown_ms) / 1000.0;
      spec.max_scale_down_step = pc.max_scale_down_step;
      autoscale::PoolState st;
      st.current_nodes = n;
      st.node_capacity = p.node_capacity;
      st.allocated = static_cast<double>(alloc);
      st.observed = static_cast<double>(eff);  // per node max(allocated, observed), summed
      st.queued_demand = static_cast<double>(queued[i]);
      st.now = now_s;
      // The cool-downs apply to changes of the desired count (below), not to the nodes present: nodes
      // join later than the decision, and a pending scale-up must not read as a new one.
      auto d = autoscale::DesiredPoolSize(spec, st);
      if (!d.ok()) {
        reason = d.error().message;
      } else {
        p.utilization = d->utilization;
        reason = d->reason;
        desired = d->desired_nodes;
        auto left = [](double cooldown, double since) {
          char buf[48];
          std::snprintf(buf, sizeof buf, "%.0fs left", std::ceil(cooldown - since));
          return std::string(buf);
        };
        const double up_cd = spec.scale_up_cooldown_seconds, down_cd = spec.scale_down_cooldown_seconds;
        if (desired > prev && p.last_up && now_s - *p.last_up < up_cd) {
          reason += "; scale-up to " + std::to_string(desired) + " held by cool-down (" + left(up_cd, now_s - *p.last_up) + ")";
          desired = prev;
        } else if (desired < prev) {
          double since = 1e300;
          if (p.last_down) since = std::min(since, now_s - *p.last_down);
          if (p.last_up) since = std::min(since, now_s - *p.last_up);
          if (since < down_cd) {
            reason += "; scale-down to " + std::to_string(desired) + " held by cool-down (" + left(down_cd, since) + ")";
            desired = prev;
          }
        }
      }
    }
    p.evaluated = true;
    p.nodes = n;
    p.allocated = alloc;
    p.observed = obs;
    p.effective = eff;
    p.queued_demand = queued[i];
    p.reason = reason;
    p.evaluated_at = now_ms;
    p.desired = desired;
    if (desired != prev) {
      if (desired > prev) p.last_up = now_s;
      else p.last_down = now_s;
      p.changed_at = now_ms;
      AuditEvent a;
      a.at = now_ms;
      a.type = "pool_scale";
      a.id = pc.name;
      a.reason = "desired nodes " + std::to_string(prev) + " -> " + std::to_string(desired) + " (" +
                 std::to_string(n) + " present): " + reason;
      a.actor = "server";
      if (server::Logs(cfg, "info")) std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"pool desired nodes changed\",\"pool\":%s,\"reason\":%s}\n",
                   server::Dump(Json(pc.name)).c_str(), server::Dump(Json(a.reason)).c_str());
      b->events.push_back(std::move(a));
      if (!pc.command.empty()) StartCommand(p, now_ms, b);
    }
    // Demand for the forecast: what is in use (allocated or observed) plus what waits for room.
    p.demand.push_back(static_cast<double>(eff + queued[i]));
    while (p.demand.size() > 240) p.demand.pop_front();
    auto f = autoscale::HoltLinear(std::vector<double>(p.demand.begin(), p.demand.end()), cfg.forecast_alpha,
                                   cfg.forecast_beta, cfg.forecast_horizon);
    if (f.ok()) {
      p.forecast = std::move(*f);
      p.has_forecast = true;
    }
  }
}

// Runs the pool's command: argv from the config plus the pool name and the desired count, no shell.
// REQUIRES: mu held.
void State::StartCommand(PoolRuntime& p, int64_t now_ms, Batch* b) {
  if (p.pid > 0) {
    p.command_pending = true;  // once the running one ends
    return;
  }
  std::vector<std::string> args = p.cfg.command;
  args.push_back(p.cfg.name);
  args.push_back(std::to_string(p.desired));
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; e++) {
    std::string_view v(*e);
    if (v.rfind("ALLOT_POOL=", 0) == 0 || v.rfind("ALLOT_DESIRED_NODES=", 0) == 0 ||
        v.rfind("ALLOT_CURRENT_NODES=", 0) == 0) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("ALLOT_POOL=" + p.cfg.name);
  env.push_back("ALLOT_DESIRED_NODES=" + std::to_string(p.desired));
  env.push_back("ALLOT_CURRENT_NODES=" + std::to_string(p.nodes));
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, 2, 1);  // its output goes to the server's log
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, dflt;
  sigemptyset(&none);
  sigemptyset(&dflt);
  sigaddset(&dflt, SIGPIPE);
  sigaddset(&dflt, SIGTERM);
  sigaddset(&dflt, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dflt);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  p.command_pending = false;
  p.command_desired = p.desired;
  if (rc != 0) {
    p.last_command = {{"desired", p.desired}, {"started", server::FormatTime(now_ms)},
                      {"error", std::string("cannot start ") + args[0] + ": " + std::strerror(rc)}};
    AuditCommand(p, now_ms, "cannot start " + args[0] + ": " + std::strerror(rc), b);
    return;
  }
  p.pid = pid;
  p.command_started = now_ms;
}

void State::AuditCommand(const PoolRuntime& p, int64_t now_ms, const std::string& what, Batch* b) {
  AuditEvent a;
  a.at = now_ms;
  a.type = "pool_command";
  a.id = p.cfg.name;
  a.reason = "desired " + std::to_string(p.command_desired) + ": " + what;
  a.actor = "server";
  if (server::Logs(cfg, "info")) std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"pool command\",\"pool\":%s,\"result\":%s}\n",
               server::Dump(Json(p.cfg.name)).c_str(), server::Dump(Json(a.reason)).c_str());
  b->events.push_back(std::move(a));
}

// Collects finished commands, kills those past their timeout. REQUIRES: mu held.
void State::ReapCommands(int64_t now_ms, Batch* b) {
  for (auto& p : pools) {
    if (p.pid <= 0) continue;
    int status = 0;
    pid_t r = waitpid(p.pid, &status, WNOHANG);
    bool timed_out = false;
    if (r == 0) {
      if (now_ms - p.command_started <= p.cfg.command_timeout_ms) continue;
      kill(p.pid, SIGKILL);
      r = waitpid(p.pid, &status, 0);
      timed_out = true;
    }
    int code = -1;
    if (r == p.pid) code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    p.last_command = {{"desired", p.command_desired},
                      {"started", server::FormatTime(p.command_started)},
                      {"seconds", static_cast<double>(now_ms - p.command_started) / 1000.0},
                      {"exit_code", code},
                      {"timed_out", timed_out}};
    AuditCommand(p, now_ms, timed_out ? "killed after its timeout" : "exit " + std::to_string(code), b);
    p.pid = -1;
    if (p.command_pending && p.desired != p.command_desired) StartCommand(p, now_ms, b);
    p.command_pending = false;
  }
}

Json State::PoolJson(const PoolRuntime& p) const {
  const PoolConfig& pc = p.cfg;
  auto amount = [](double v) { return static_cast<int64_t>(std::llround(v)); };
  Json j = {{"name", pc.name},
            {"resource", pc.resource},
            {"nodes", p.nodes},
            {"desired", p.desired},
            {"min_nodes", pc.min_nodes},
            {"max_nodes", pc.max_nodes},
            {"target_utilization", pc.target_utilization},
            {"utilization", p.utilization},
            {"allocated", p.allocated},
            {"observed", p.observed},
            {"effective", p.effective},
            {"queued_demand", p.queued_demand},
            {"node_capacity", amount(p.node_capacity)},
            {"reason", p.reason},
            {"evaluated", p.evaluated_at > 0 ? Json(server::FormatTime(p.evaluated_at)) : Json(nullptr)},
            {"last_change", p.changed_at > 0 ? Json(server::FormatTime(p.changed_at)) : Json(nullptr)},
            {"scale_up_cooldown_seconds", static_cast<double>(pc.scale_up_cooldown_ms) / 1000.0},
            {"scale_down_cooldown_seconds", static_cast<double>(pc.scale_down_cooldown_ms) / 1000.0}};
  auto mon = pool_degradation.find(pc.name);
  j["degradation"] = LevelJson(mon == pool_degradation.end() ? nullptr : mon->second.get());
  if (!pc.command.empty()) {
    j["command"] = {{"running", p.pid > 0}, {"last", p.last_command}};
  }
  if (p.has_forecast) {
    Json demand = Json::array(), nodes = Json::array();
    double per_node = p.node_capacity * pc.target_utilization;
    for (double f : p.forecast.forecast) {
      double v = std::max(0.0, f);
      demand.push_back(amount(v));
      nodes.push_back(per_node > 0 ? Json(static_cast<int64_t>(std::ceil(v / per_node - 1e-9))) : Json(nullptr));
    }
    j["forecast"] = {{"method", "holt-linear"},
                     {"alpha", cfg.forecast_alpha},
                     {"beta", cfg.forecast_beta},
                     {"step_seconds", static_cast<double>(cfg.pool_interval_ms) / 1000.0},
                     {"samples", p.demand.size()},
                     {"level", amount(p.forecast.level)},
                     {"trend", p.forecast.trend},
                     {"demand", demand},
                     {"nodes_needed", nodes}};
  } else {
    j["forecast"] = nullptr;
  }
  return j;
}

}  // namespace allot::server
