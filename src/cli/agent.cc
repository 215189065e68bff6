// allot agent --server URL: registers this node with an allot server and reports its usage.
// module: host
#include "allot/host/agent.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>

#include "allot/duration.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

std::atomic<bool> g_agent_stop{false};
void OnAgentSignal(int) { g_agent_stop = true; }

int RunAgentCommand(const Argv& argv) {
  ArgParser p(
      "agent", "--server URL [--name N] [--label k=v]... [--interval D] [--once]",
      "Discovers this node (cores, memory, disks, GPUs, labels), registers it with POST /v1/nodes and\n"
      "reports observed usage with POST /v1/nodes/{name}/heartbeat every --interval.");
  p.Option("server", "URL",
           "allot server (default $ALLOT_SERVER), http://HOST:PORT or https://HOST:PORT, or several\n"
           "replicas' URLs comma-separated")
      .Option("token", "T", "bearer token (default $ALLOT_TOKEN)")
      .Option("name", "N", "node name (default: the host name)")
      .Option("label", "K=V", "node label (repeatable)")
      .Option("interval", "D", "time between heartbeats: 10s (default), 500ms, 1m; a plain number is seconds")
      .Option("disk", "PATH", "filesystem to report as ephemeral-storage (repeatable; default /)")
      .Option("proc-root", "DIR", "read /proc files from DIR (recorded roots for tests)")
      .Option("sys-root", "DIR", "read /sys files (cgroup v2) from DIR")
      .Option("gpus", "FILE", "read GPUs from a recorded JSON list instead of NVML")
      .Flag("once", "register, send one heartbeat and exit (0 when both succeeded)")
      .Flag("quiet", "print only errors");
  AddTlsClientOptions(p);
  int code = 0;
  auto a = p.Parse(argv, &code);
  if (!a) return code;
  if (!a->positionals.empty()) return Fail("agent", "unexpected argument " + a->positionals[0]);
  host::AgentOptions o;
  const char* env_server = std::getenv("ALLOT_SERVER");
  o.server = a->Get("server", env_server != nullptr ? env_server : "");
  if (o.server.empty()) return Fail("agent", "no server: give --server URL or set ALLOT_SERVER");
  const char* env_token = std::getenv("ALLOT_TOKEN");
  o.token = a->Get("token", env_token != nullptr ? env_token : "");
  o.tls = TlsClientFromArgs(*a);
  o.name = a->Get("name");
  for (const auto& l : a->GetAll("label")) {
    if (auto st = host::AddLabel(l, &o.labels); !st.ok()) return Fail("agent", st.error());
  }
  if (a->Has("interval")) {
    auto ms = ParseDurationFlag("interval", a->Get("interval"), 1000, 50, 86'400'000);
    if (!ms.ok()) return Fail("agent", ms.error());
    o.interval = std::chrono::milliseconds(*ms);
  }
  if (a->Has("disk")) o.disks = a->GetAll("disk");
  if (a->Has("proc-root")) o.roots.proc = a->Get("proc-root");
  if (a->Has("sys-root")) o.roots.sys = a->Get("sys-root");
  o.roots.gpu_file = a->Get("gpus");
  o.once = a->Has("once");
  o.stop = &g_agent_stop;
  if (!a->Has("quiet")) o.log = &std::cerr;
  signal(SIGINT, OnAgentSignal);
  signal(SIGTERM, OnAgentSignal);
  int rc = host::RunAgent(o);
  if (rc != 0 && a->Has("quiet")) std::cerr << "allot: agent: failed (run without --quiet for details)\n";
  return rc;
}

}  // namespace
ALLOT_COMMAND("agent", "register this node with an allot server and report its usage", RunAgentCommand);
}  // namespace allot::cli
