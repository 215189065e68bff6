// allot guard status|check|wait|run|recommend|metrics: the host resource guard.
// module: host
#include "allot/guard.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "allot/duration.h"
#include "allot/host/http_server.h"
#include "allot/host/report.h"
#include "allot/host/runner.h"
#include "allot/host/text.h"
#include "allot/resources.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

using host::GuardRequest;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

void CommonOptions(ArgParser& p) {
  p.Option("config", "FILE",
           "YAML: tier, limits.{cpu,memory,gpu,disk}.{max,warn}, paths, levels (docs/guard.md)")
      .Option("tier", "T", "none (default: the seed's limits), auto, large, medium, small, cpu-only")
      .Option("limit", "RES=PCT", "maximum for cpu, memory, gpu or disk, e.g. memory=75 (repeatable)")
      .Option("warn", "RES=PCT", "warn threshold, e.g. disk=60 (repeatable)")
      .Option("path", "DIR", "disk path to watch or check (repeatable)")
      .Option("proc-root", "DIR", "read /proc files from DIR (recorded roots for tests)")
      .Option("sys-root", "DIR", "read /sys files (cgroup v2) from DIR")
      .Option("gpus", "FILE", "read GPUs from a recorded JSON list instead of NVML")
      .Option("state-dir", "DIR",
              "where the last CPU sample is kept between calls (default $XDG_RUNTIME_DIR/allot or "
              "/tmp/allot-UID)")
      .Flag("no-state", "keep no CPU sample between calls")
      .Option("cpu-sample-ms", "D",
              "without a recent CPU sample, measure this long: 100ms, 1s (0: use the load average; a plain "
              "number is milliseconds)");
}

void RequestOptions(ArgParser& p) {
  p.Option("cpu", "N", "cores the job needs (2, 500m)")
      .Option("memory", "Q", "memory the job needs (2Gi)")
      .Option("disk", "Q", "disk space the job needs on each --path (default: the current directory)")
      .Option("gpu-memory", "Q", "GPU memory the job needs on one device (4Gi)")
      .Option("priority", "P", "critical, high, normal (default), low, background or 0-4");
}

struct Setup {
  std::shared_ptr<host::SystemProber> prober;
  host::GuardConfig config;
  std::vector<std::string> paths;  // config paths + --path
  std::string tier_name;
};

Result<Setup> MakeSetup(const ParsedArgs& a, int default_sample_ms) {
  Setup s;
  if (a.Has("config")) {
    auto c = host::LoadGuardConfig(a.Get("config"));
    if (!c.ok()) return c.error();
    s.config = *c;
  }
  if (a.Has("tier")) {
    auto t = host::ParseHostTier(a.Get("tier"));
    if (!t.ok()) return t.error();
    s.config.tier = *t;
  }
  for (const auto& l : a.GetAll("limit")) {
    if (auto st = host::ApplyLimitFlag(l, false, &s.config); !st.ok()) return InvalidArgument("--limit " + st.message());
  }
  for (const auto& l : a.GetAll("warn")) {
    if (auto st = host::ApplyLimitFlag(l, true, &s.config); !st.ok()) return InvalidArgument("--warn " + st.message());
  }
  s.paths = s.config.paths;
  for (const auto& p : a.GetAll("path")) s.paths.push_back(p);
  host::ProbeRoots roots;
  if (a.Has("proc-root")) roots.proc = a.Get("proc-root");
  if (a.Has("sys-root")) roots.sys = a.Get("sys-root");
  roots.gpu_file = a.Get("gpus");
  host::CpuSampleOptions cpu;
  cpu.state_dir = a.Has("no-state") ? "" : a.Get("state-dir", host::DefaultStateDir());
  cpu.sample_ms = default_sample_ms;
  if (a.Has("cpu-sample-ms")) {
    auto ms = ParseDurationFlag("cpu-sample-ms", a.Get("cpu-sample-ms"), 1, 0, 60'000);
    if (!ms.ok()) return ms.error();
    cpu.sample_ms = static_cast<int>(*ms);
  }
  s.prober = std::make_shared<host::SystemProber>(roots, cpu);
  s.tier_name = host::HostTierName(s.config.tier);
  return s;
}

Result<GuardRequest> MakeRequest(const ParsedArgs& a, const Setup& s) {
  GuardRequest r;
  struct Field {
    const char* flag;
    const char* resource;
    int64_t* out;
  } fields[] = {{"cpu", "cpu", &r.cpu_milli},
                {"memory", "memory", &r.memory},
                {"disk", "ephemeral-storage", &r.disk},
                {"gpu-memory", "memory", &r.gpu_memory}};
  for (const auto& f : fields) {
    if (!a.Has(f.flag)) continue;
    auto v = ParseResourceAmount(f.resource, a.Get(f.flag));
    if (!v.ok()) return InvalidArgument("--" + std::string(f.flag) + " " + v.error().message);
    *f.out = *v;
  }
  if (a.Has("priority")) {
    auto p = ParsePriority(a.Get("priority"));
    if (!p.ok()) return InvalidArgument("--priority: " + p.error().message);
    if (*p < 0) return InvalidArgument("--priority " + a.Get("priority") + ": must not be negative");
    r.priority = *p;
  }
  r.paths = a.GetAll("path");
  if (r.disk > 0 && r.paths.empty()) r.paths.push_back(".");
  (void)s;
  return r;
}

std::string JoinReasons(const host::Decision& d) {
  std::string s;
  for (const auto& r : d.reasons) s += (s.empty() ? "" : "; ") + r;
  return s;
}

// A scale factor in basis points as a decimal: 10000 -> "1", 2500 -> "0.25".
std::string FormatScale(int64_t bp) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(bp) / 10000.0);
  return buf;
}

std::string GoLine(const host::Decision& d) {
  std::string s = "go (" + PriorityName(d.priority) + ", level " + std::to_string(d.level) + " " + host::LevelName(d.level) +
                  ", scale " + FormatScale(d.scale_bp) + "):";
  for (const auto& r : d.resources) s += " " + r.id + " " + host::FormatPercent(r.used_bp) + "%/" + host::FormatPercent(r.threshold.max_bp) + "%";
  return s;
}

// A go at a level that warns (seed 004: level 1 logs a warning and continues) says so on stderr.
void PrintWarnings(const char* what, const host::Decision& d) {
  for (const auto& w : d.warnings) std::cerr << "allot: " << what << ": warning: " << w << "\n";
}

int Status(const Argv& argv) {
  ArgParser p("guard status", "[--json] [--path DIR]...", "Per resource: used, capacity, warn and limit, headroom, degradation level 0-4.");
  p.Flag("json", "print JSON (cpu in millicores, the rest in bytes)");
  CommonOptions(p);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (!a->positionals.empty()) return Fail("guard status", "unexpected argument " + a->positionals[0]);
  auto s = MakeSetup(*a, 100);
  if (!s.ok()) return Fail("guard status", s.error());
  std::vector<std::string> paths = s->paths.empty() ? std::vector<std::string>{"/"} : s->paths;
  host::Guard guard(s->prober, s->config);
  auto snap = s->prober->Snapshot({paths, true});
  if (!snap.ok()) return Fail("guard status", snap.error());
  auto limits = guard.Limits(*snap);
  if (!limits.ok()) return Fail("guard status", limits.error());
  auto reports = host::Report(*snap, *limits);
  std::string tier = s->tier_name;
  if (s->config.tier == host::HostTier::kAuto) {
    tier += ":" + std::string(host::HostTierName(host::ResolveTier(s->config.tier, snap->memory_total, !snap->gpus.empty())));
  }
  if (a->Has("json")) {
    std::cout << host::StatusJson(reports, &*snap, tier, limits->levels).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << host::StatusTable(reports);
    int level = host::HostLevel(reports);
    std::cout << "level " << level << " " << host::LevelName(level) << ", scale "
              << FormatScale(limits->levels.scale_bp[static_cast<size_t>(level)]) << " (tier " << tier << ", load " << snap->load.one << " "
              << snap->load.five << " " << snap->load.fifteen << (snap->gpus.empty() ? ", no GPU" : "") << ")\n";
  }
  return 0;
}

int Check(const Argv& argv) {
  ArgParser p("guard check",
              "[--memory Q] [--disk Q --path DIR] [--gpu-memory Q] [--cpu N] [--priority P] [--json]",
              "Exits 0 when the work may start now, 1 when not (reasons on stderr), 2 on bad input or a "
              "failed probe.");
  RequestOptions(p);
  CommonOptions(p);
  p.Flag("quiet", "print nothing when the answer is go");
  p.Flag("json", "print the decision as JSON on stdout, go or not (the exit code is the same)");
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (!a->positionals.empty()) return Fail("guard check", "unexpected argument " + a->positionals[0]);
  auto s = MakeSetup(*a, 0);
  if (!s.ok()) return Fail("guard check", s.error());
  auto req = MakeRequest(*a, *s);
  if (!req.ok()) return Fail("guard check", req.error());
  host::Guard guard(s->prober, s->config);
  auto d = guard.CanProceed(*req);
  if (!d.ok()) return Fail("guard check", d.error());
  if (a->Has("json")) {
    std::cout << host::DecisionJson(*d).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (!d->go) {
    for (const auto& r : d->reasons) std::cerr << "allot: guard check: no: " << r << "\n";
    return 1;
  }
  PrintWarnings("guard check", *d);
  if (!a->Has("quiet") && !a->Has("json")) std::cout << GoLine(*d) << "\n";
  return 0;
}

// Shared by wait and run: waits, printing what it waits for. Returns 0 go, 1 timed out, 2 error.
int WaitUntilGo(const char* what, const ParsedArgs& a, const Setup& s, const GuardRequest& req) {
  auto timeout = ParseDurationFlag("timeout", a.Get("timeout", "300"));
  if (!timeout.ok()) return Fail(what, timeout.error());
  host::GuardOptions opts;
  if (a.Has("initial-delay")) {
    auto d = ParseDurationFlag("initial-delay", a.Get("initial-delay"), 1000, 1);
    if (!d.ok()) return Fail(what, d.error());
    opts.initial_backoff = std::chrono::milliseconds(*d);
  }
  host::Guard guard(s.prober, s.config, opts);
  auto start = std::chrono::steady_clock::now();
  auto d = guard.WaitFor(req, std::chrono::milliseconds(*timeout),
                         [&](const host::Decision& dec, std::chrono::milliseconds next) {
                           char secs[32];
                           std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(next.count()) / 1000);
                           std::cerr << "allot: " << what << ": waiting for " << JoinReasons(dec)
                                     << " (retry in " << secs << " s)\n";
                         });
  if (!d.ok()) return Fail(what, d.error());
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", waited);
  if (!d->go) {
    std::cerr << "allot: " << what << ": timed out after " << secs << " s: " << JoinReasons(*d) << "\n";
    return 1;
  }
  PrintWarnings(what, *d);
  std::cerr << "allot: " << what << ": " << GoLine(*d) << " after " << secs << " s\n";
  // `guard run` hands the level and its scale factor to the command (seed 004: reduce work by 50 % at level
  // 2, 75 % at level 3): ALLOT_GUARD_LEVEL=2, ALLOT_GUARD_SCALE=0.5.
  setenv("ALLOT_GUARD_LEVEL", std::to_string(d->level).c_str(), 1);
  setenv("ALLOT_GUARD_SCALE", FormatScale(d->scale_bp).c_str(), 1);
  return 0;
}

int Wait(const Argv& argv) {
  ArgParser p("guard wait", "[--timeout D] [REQUEST OPTIONS]",
              "Re-checks with exponential backoff and jitter until the work may start (exit 0) or --timeout "
              "passes (exit 1).");
  p.Option("timeout", "D", "give up after D: 5m (default 300, seconds), 90s, 1h30m");
  p.Option("initial-delay", "D", "first retry delay before doubling: 500ms (default), 2s (at most 30s)");
  RequestOptions(p);
  CommonOptions(p);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (!a->positionals.empty()) return Fail("guard wait", "unexpected argument " + a->positionals[0]);
  auto s = MakeSetup(*a, 0);
  if (!s.ok()) return Fail("guard wait", s.error());
  auto req = MakeRequest(*a, *s);
  if (!req.ok()) return Fail("guard wait", req.error());
  return WaitUntilGo("guard wait", *a, *s, *req);
}

int Run(const Argv& argv) {
  ArgParser p(
      "guard run", "[--timeout D] [--cgroup] [REQUEST OPTIONS] -- CMD ARGS...",
      "Waits like `guard wait`, then runs CMD and exits with its status (128+N when signal N ended it).\n"
      "With --cgroup, CMD runs in a new cgroup v2 with memory.max = --memory and cpu.max = --cpu when the\n"
      "hierarchy is writable; otherwise it says so and runs CMD without limits.");
  p.Option("timeout", "D", "give up after D without running CMD, exit 1: 5m (default 300, seconds), 90s, 1h");
  p.Option("initial-delay", "D", "first retry delay before doubling: 500ms (default), 2s (at most 30s)");
  p.Flag("cgroup", "run CMD in its own cgroup v2 with the requested memory/cpu limits");
  RequestOptions(p);
  CommonOptions(p);
  p.StopAtFirstPositional();
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  std::vector<std::string> cmd = a->positionals;
  if (!cmd.empty() && cmd[0] == "--") cmd.erase(cmd.begin());
  if (cmd.empty()) return Fail("guard run", "no command given (usage: allot guard run [REQUEST OPTIONS] -- CMD ARGS...)");
  auto s = MakeSetup(*a, 0);
  if (!s.ok()) return Fail("guard run", s.error());
  auto req = MakeRequest(*a, *s);
  if (!req.ok()) return Fail("guard run", req.error());
  int rc = WaitUntilGo("guard run", *a, *s, *req);
  if (rc != 0) return rc;
  host::RunOptions ro;
  ro.cgroup = a->Has("cgroup");
  ro.memory_max = req->memory;
  ro.cpu_milli = req->cpu_milli;
  if (a->Has("sys-root")) ro.roots.sys = a->Get("sys-root");
  if (a->Has("proc-root")) ro.roots.proc = a->Get("proc-root");
  ro.err = &std::cerr;
  std::cout.flush();
  return host::RunGuarded(cmd, ro);
}

int Recommend(const Argv& argv) {
  ArgParser p("guard recommend", "[--path DIR]... [--json]",
              "Actionable lines for every resource at or above its warn threshold.");
  p.Flag("json", "print JSON: {level, level_name, recommendations: [lines]}");
  CommonOptions(p);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (!a->positionals.empty()) return Fail("guard recommend", "unexpected argument " + a->positionals[0]);
  auto s = MakeSetup(*a, 100);
  if (!s.ok()) return Fail("guard recommend", s.error());
  std::vector<std::string> paths = s->paths.empty() ? std::vector<std::string>{"/"} : s->paths;
  host::Guard guard(s->prober, s->config);
  auto snap = s->prober->Snapshot({paths, true});
  if (!snap.ok()) return Fail("guard recommend", snap.error());
  auto limits = guard.Limits(*snap);
  if (!limits.ok()) return Fail("guard recommend", limits.error());
  auto reports = host::Report(*snap, *limits);
  auto lines = host::Recommendations(reports, snap->load);
  if (a->Has("json")) {
    int level = host::HostLevel(reports);
    nlohmann::ordered_json j = {
        {"level", level}, {"level_name", host::LevelName(level)}, {"recommendations", lines}};
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  for (const auto& line : lines) std::cout << line << "\n";
  return 0;
}

int Metrics(const Argv& argv) {
  ArgParser p("guard metrics", "[--listen ADDR] [--path DIR]...",
              "Prints the guard's gauges in Prometheus text format (for node_exporter's textfile collector),\n"
              "or serves them at http://ADDR/metrics with --listen.");
  p.Option("listen", "ADDR", "serve GET /metrics on HOST:PORT (default host 127.0.0.1)");
  CommonOptions(p);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (!a->positionals.empty()) return Fail("guard metrics", "unexpected argument " + a->positionals[0]);
  auto s = MakeSetup(*a, a->Has("listen") ? 0 : 100);
  if (!s.ok()) return Fail("guard metrics", s.error());
  std::vector<std::string> paths = s->paths.empty() ? std::vector<std::string>{"/"} : s->paths;
  host::Guard guard(s->prober, s->config);
  auto render = [&]() -> Result<std::string> {
    auto snap = s->prober->Snapshot({paths, true});
    if (!snap.ok()) return snap.error();
    auto limits = guard.Limits(*snap);
    if (!limits.ok()) return limits.error();
    return host::MetricsText(host::Report(*snap, *limits), snap->load, limits->levels);
  };
  if (!a->Has("listen")) {
    auto text = render();
    if (!text.ok()) return Fail("guard metrics", text.error());
    std::cout << *text;
    return 0;
  }
  auto first = render();  // fail fast on bad roots before listening
  if (!first.ok()) return Fail("guard metrics", first.error());
  int port = 0;
  auto fd = host::ListenTcp(a->Get("listen"), &port);
  if (!fd.ok()) return Fail("guard metrics", fd.error());
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  std::cerr << "allot: guard metrics: serving http://" << a->Get("listen") << "/metrics (port " << port << ")\n";
  host::ServeHttp(*fd, [&](const std::string& method, const std::string& target) {
    host::HttpResponse r;
    if (method != "GET") {
      r.status = 405;
      r.body = "only GET\n";
    } else if (target != "/metrics" && target.rfind("/metrics?", 0) != 0) {
      r.status = 404;
      r.body = "try /metrics\n";
    } else if (auto text = render(); !text.ok()) {
      r.status = 500;
      r.body = text.error().message + "\n";
    } else {
      r.status = 200;
      r.body = *text;
      r.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
    }
    return r;
  }, &g_stop);
  return 0;
}

int RunGuard(const Argv& argv) {
  static const char* kUsage =
      "usage: allot guard <status|check|wait|run|recommend|metrics> [options]\n\n"
      "  status      per resource: used, capacity, warn, limit, headroom, degradation level 0-4 (--json)\n"
      "  check       exit 0 when the work may start now, 1 when not (reason on stderr)\n"
      "  wait        back off until the work may start (exit 0) or --timeout passes (exit 1)\n"
      "  run         wait, then run -- CMD ARGS... and exit with its status (--cgroup for limits)\n"
      "  recommend   what to do about resources above their warn threshold\n"
      "  metrics     Prometheus gauges (--listen ADDR to serve them)\n\n"
      "Limits default to cpu 80 % (warn 70), memory 80 % (70), gpu 80 % (70), disk 70 % (65).\n"
      "Levels (used / limit): 0 < 70 %, 1 < 85 %, 2 < 95 %, 3 < 100 %, 4 beyond. Levels 0-2 let all work start\n"
      "(1 and up with a warning), 3 normal priority and above, 4 nothing; scale factor 1, 1, 0.5, 0.25, 0\n"
      "(`guard run` sets ALLOT_GUARD_LEVEL and ALLOT_GUARD_SCALE for CMD). docs/guard.md has the config.\n"
      "Run `allot guard <command> --help` for options.\n";
  if (argv.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& sub = argv[0];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << kUsage;
    return 0;
  }
  Argv rest(argv.begin() + 1, argv.end());
  if (sub == "status") return Status(rest);
  if (sub == "check") return Check(rest);
  if (sub == "wait") return Wait(rest);
  if (sub == "run") return Run(rest);
  if (sub == "recommend") return Recommend(rest);
  if (sub == "metrics") return Metrics(rest);
  return Fail("guard", "unknown subcommand \"" + sub + "\" (status, check, wait, run, recommend, metrics)");
}

}  // namespace
ALLOT_COMMAND("guard", "host resource guard: status, check, wait, run, recommend, metrics", RunGuard);
}  // namespace allot::cli
