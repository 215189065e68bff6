// allot serve [--config FILE] [--listen 127.0.0.1:7070] [--data DIR] [--dev] [--store sqlite|etcd ...]
// module: server
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "allot/server.h"
#include "cli/command.h"
#include "server/throttle_routes.h"
#include "store/etcd_store.h"
#include "store/leader.h"

namespace allot::cli {
namespace {

std::atomic<Server*> g_server{nullptr};
std::atomic<bool> g_stop{false};

void OnSignal(int) {
  g_stop = true;
  if (Server* s = g_server.load(); s != nullptr) s->RequestShutdown();
}

void Log(const std::string& msg, const std::string& extra = "") {
  std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"%s\"%s}\n", msg.c_str(), extra.c_str());
}

// --store etcd: campaign for the leader key; only the leader binds and serves (a standby does not listen,
// so clients and load balancers only ever reach the leader). Losing the lease shuts the server down at
// once (its store is fenced too) and the replica campaigns again.
int ServeOnEtcd(const ServerConfig& cfg, EtcdStoreOptions so, LeaderOptions lo) {
  for (;;) {
    auto el = LeaderElection::Create(lo);
    if (!el.ok()) return Fail("serve", el.error());
    Log("campaigning for leadership", ",\"key\":\"" + lo.key + "\"");
    std::atomic<bool> lost{false};
    Status st = (*el)->Campaign([] { return g_stop.load(); },
                                [&lost] {
                                  lost = true;
                                  if (Server* s = g_server.load(); s != nullptr) s->Shutdown();
                                },
                                [](const std::string& leader) {
                                  Log("standby", ",\"leader\":" + nlohmann::json(leader).dump());
                                });
    if (!st.ok()) return g_stop ? 0 : Fail("serve", st.error());
    Log("elected leader; loading state from etcd", ",\"value\":" + nlohmann::json((*el)->value()).dump());
    so.fence_key = (*el)->key();
    so.fence_value = (*el)->value();
    so.keep_trying = [e = el->get()] { return e->IsLeader() && !g_stop; };
    auto store = OpenEtcdStore(so);
    if (!store.ok()) return Fail("serve", store.error());
    auto server = Server::Create(cfg, std::move(store.value()));
    if (!server.ok()) return Fail("serve", server.error());
    if (Status t = server::MountThrottleRoutes(**server, cfg); !t.ok()) return Fail("serve", t.error());
    g_server = server->get();
    if (!(*el)->IsLeader() || g_stop) (*server)->RequestShutdown();  // lost or stopped while loading
    std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"listening\",\"listen\":\"%s\",\"port\":%d,\"store\":\"etcd\",\"auth\":%s}\n",
                 cfg.listen.c_str(), (*server)->port(), cfg.dev ? "false" : "true");
    Status s = (*server)->Run();
    g_server = nullptr;
    (*el)->Resign();  // joins the keepalive thread before the server goes away
    server->reset();
    if (!lost || g_stop) {
      if (!s.ok() && !lost) return Fail("serve", s.error());
      Log("stopped; leadership released");
      return 0;
    }
    Log("leadership lost; stopped serving, campaigning again");
  }
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
  p.Option("store", "NAME", "sqlite (default: embedded, in --data) or etcd (replicas with leader election)");
  p.Option("etcd-endpoints", "URLS", "etcd client URLs, comma-separated (--store etcd), e.g. http://127.0.0.1:2379");
  p.Option("etcd-prefix", "PREFIX", "key prefix in etcd (default /allot; the leader key is PREFIX/leader)");
  p.Option("etcd-lease-ttl", "SECONDS", "leader lease TTL: a dead leader is replaced after about this long (default 5)");
  p.Option("etcd-max-txn-ops", "N", "keys per etcd transaction; match etcd's --max-txn-ops (default 128)");
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
  std::string store_kind = args->Has("store") ? args->Get("store") : "sqlite";
  if (store_kind != "sqlite" && store_kind != "etcd") {
    return Fail("serve", "--store \"" + store_kind + "\": expected sqlite or etcd");
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (store_kind == "etcd") {
    if (!args->Has("etcd-endpoints")) return Fail("serve", "--store etcd needs --etcd-endpoints");
    auto eps = ParseEtcdEndpoints(args->Get("etcd-endpoints"));
    if (!eps.ok()) return Fail("serve", eps.error());
    EtcdStoreOptions so;
    so.endpoints = *eps;
    if (args->Has("etcd-prefix")) so.prefix = args->Get("etcd-prefix");
    while (so.prefix.size() > 1 && so.prefix.back() == '/') so.prefix.pop_back();
    if (so.prefix.empty() || so.prefix[0] != '/') return Fail("serve", "--etcd-prefix must start with /");
    LeaderOptions lo;
    lo.endpoints = so.endpoints;
    lo.key = so.prefix + "/leader";
    lo.id = cfg.listen;
    auto number = [&](const char* name, int64_t lo_v, int64_t hi_v, int64_t* out) -> bool {
      if (!args->Has(name)) return true;
      std::string v = args->Get(name);
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo_v || n > hi_v) return false;
      *out = n;
      return true;
    };
    int64_t ops = static_cast<int64_t>(so.max_txn_ops);
    if (!number("etcd-lease-ttl", 1, 3600, &lo.ttl_s)) return Fail("serve", "--etcd-lease-ttl: expected 1..3600 seconds");
    if (!number("etcd-max-txn-ops", 8, 1 << 20, &ops)) return Fail("serve", "--etcd-max-txn-ops: expected 8..1048576");
    so.max_txn_ops = static_cast<size_t>(ops);
    return ServeOnEtcd(cfg, so, lo);
  }
  auto server = Server::Create(cfg);
  if (!server.ok()) return Fail("serve", server.error());
  if (Status t = server::MountThrottleRoutes(**server, cfg); !t.ok()) return Fail("serve", t.error());  // /v1/ratelimits, pools, breakers
  g_server = server->get();
  if (g_stop) (*server)->RequestShutdown();  // a signal came while the state was loading
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
