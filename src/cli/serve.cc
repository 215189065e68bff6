// allot serve [--config FILE] [--listen 127.0.0.1:7070] [--data DIR] [--dev]
// module: server
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "allot/server.h"
#include "cli/command.h"
#include "server/throttle_routes.h"

namespace allot::cli {
namespace {

Server* g_server = nullptr;

void OnSignal(int) {
  if (g_server != nullptr) g_server->RequestShutdown();
}

int RunServe(const Argv& argv) {
  ArgParser p("serve", "[--config FILE] [--listen HOST:PORT] [--data DIR] [--dev]",
              "Runs the allocation server: the HTTP/JSON API under /v1, durable state in DIR (SQLite, WAL),\n"
              "leases, audit log, bearer-token auth and Prometheus metrics at /metrics. SIGTERM stops it\n"
              "gracefully: no new connections, in-flight requests finish, the store is flushed.");
  p.Option("config", "FILE", "YAML config (listen, data, auth, policy, limits, tenants, nodes, ...)");
  p.Option("listen", "HOST:PORT", "address to listen on (default 127.0.0.1:7070, or the config's)");
  p.Option("data", "DIR", "data directory (default ./allot-data, or the config's)");
  p.Flag("dev", "no authentication; loopback only (for `make run` and experiments)");
  p.Flag("quiet", "no per-request log lines");
  p.Flag("no-fsync", "do not fsync each group commit (survives a crash of allot, not of the machine)");
  p.Option("hash-token", "SECRET", "print the sha256 of SECRET for the config's auth.tokens and exit");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty()) return Fail("serve", "unexpected argument \"" + args->positionals[0] + "\"");
  if (args->Has("hash-token")) {
    std::cout << HashToken(args->Get("hash-token")) << "\n";
    return 0;
  }
  ServerConfig cfg;
  if (args->Has("config")) {
    auto c = LoadServerConfig(args->Get("config"));
    if (!c.ok()) return Fail("serve", c.error());
    cfg = std::move(c.value());
  }
  if (args->Has("listen")) cfg.listen = args->Get("listen");
  if (args->Has("data")) cfg.data_dir = args->Get("data");
  if (args->Has("dev")) cfg.dev = true;
  if (args->Has("quiet")) cfg.log_requests = false;
  if (args->Has("no-fsync")) cfg.sync_full = false;
  if (cfg.dev) {
    std::fprintf(stderr,
                 "{\"level\":\"warn\",\"msg\":\"DEV MODE: authentication is OFF; every request acts as admin; "
                 "listening on loopback only\",\"listen\":\"%s\"}\n"
                 "allot: serve: WARNING: --dev runs WITHOUT AUTHENTICATION (loopback only). Do not use in production.\n",
                 cfg.listen.c_str());
  }
  auto server = Server::Create(cfg);
  if (!server.ok()) return Fail("serve", server.error());
  if (Status t = server::MountThrottleRoutes(**server, cfg); !t.ok()) return Fail("serve", t.error());  // /v1/ratelimits, pools, breakers
  g_server = server->get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"listening\",\"listen\":\"%s\",\"port\":%d,\"data\":\"%s\",\"auth\":%s}\n",
               cfg.listen.c_str(), (*server)->port(), cfg.data_dir.c_str(), cfg.dev ? "false" : "true");
  Status s = (*server)->Run();
  g_server = nullptr;
  if (!s.ok()) return Fail("serve", s.error());
  std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped; store flushed\"}\n");
  return 0;
}

}  // namespace
ALLOT_COMMAND("serve", "run the allocation server (HTTP API, durable store, leases, auth, metrics)", RunServe);
}  // namespace allot::cli
