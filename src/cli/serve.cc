// allot serve [--config FILE] [--listen 127.0.0.1:7070] [--data DIR] [--dev] [--store sqlite|memory|etcd ...]
// module: server
// Flags into a ServerConfig, then ServeLoop (include/allot/server.h) does the rest.
#include <signal.h>

#include <atomic>
#include <ctime>
#include <iostream>
#include <thread>

#include "allot/server.h"
#include "allot/store.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

std::atomic<ServeLoop*> g_loop{nullptr};
void OnSignal(int) {
  if (ServeLoop* l = g_loop.load(); l != nullptr) l->RequestStop();
}

// SIGHUP reloads (certificates, tokens): a thread waits for it, so the reload runs as ordinary code.
// REQUIRES: SIGHUP blocked in every thread (the caller blocks it before any thread starts).
class HangupReloader {
 public:
  explicit HangupReloader(ServeLoop* loop)
      : thread_([this, loop] {
          sigset_t hup;
          sigemptyset(&hup);
          sigaddset(&hup, SIGHUP);
          timespec tick{0, 200'000'000};
          while (!done_.load()) {
            if (sigtimedwait(&hup, nullptr, &tick) == SIGHUP) (void)loop->Reload();
          }
        }) {}
  ~HangupReloader() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

int RunServe(const Argv& argv) {
  ArgParser p(
      "serve", "[--config FILE] [--listen HOST:PORT] [--data DIR] [--dev]",
      "Runs the allocation server: the HTTP/JSON API under /v1, durable state in DIR (SQLite, WAL),\n"
      "leases, audit log, bearer-token auth and Prometheus metrics at /metrics. SIGTERM stops it\n"
      "gracefully: no new connections, in-flight requests finish, the store is flushed. SIGHUP re-reads\n"
      "the TLS files and the auth section of the config files (tokens, client certificates).");
  p.Option("config", "FILE", "YAML config (listen, data, auth, policy, limits, tenants, nodes, ...); repeatable: merged in order");
  p.Option("listen", "HOST:PORT", "address to listen on (default 127.0.0.1:7070, or the config's)");
  p.Option("advertise", "URL",
           "this replica's URL for clients and the other replicas (--store etcd; default http://LISTEN)");
  p.Option("data", "DIR", "data directory (default ./allot-data, or the config's)");
  p.Flag("dev", "no authentication; loopback only (for `make run` and experiments)");
  p.Option("dashboard-dir", "DIR",
           "the built web dashboard served at / (default: dashboard/ beside this binary, then "
           "../share/allot/dashboard; config dashboard.dir)");
  p.Flag("quiet", "no per-request log lines");
  p.Option("log-level", "LEVEL", "debug, info (default) or warn: lines below it are not written (config log.level)");
  p.Flag("no-fsync", "do not fsync each group commit (survives a crash of allot, not of the machine)");
  p.Flag("strict-units", "refuse memory/disk amounts without a unit below 1 MiB (\"memory: 8\") instead of warning");
  p.Option("store", "NAME", "sqlite (default: embedded, in --data), memory, or etcd (replicas, leader election)");
  p.Option("etcd-endpoints", "URLS", "etcd client URLs, comma-separated (--store etcd), e.g. http://127.0.0.1:2379");
  p.Option("etcd-prefix", "PREFIX", "key prefix in etcd (default /allot; the leader key is PREFIX/leader)");
  p.Option("etcd-lease-ttl", "D",
           "leader lease TTL, whole seconds: 5s (default), 10s, 1m; a dead leader is replaced after about "
           "this long");
  p.Option("etcd-max-txn-ops", "N", "keys per etcd transaction; match etcd's --max-txn-ops (default 128)");
  p.Option("hash-token", "SECRET", "print the sha256 of SECRET for the config's auth.tokens and exit");
  p.Option("tls-cert", "FILE",
           "serve HTTPS (TLS 1.2+) with this PEM certificate (chain); with --tls-key (config tls.cert)");
  p.Option("tls-key", "FILE", "the PEM private key of --tls-cert (config tls.key)");
  p.Option("tls-client-ca", "FILE",
           "verify client certificates signed by these CAs; auth.client_certs maps them to roles (config "
           "tls.client_ca)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty()) return Fail("serve", "unexpected argument \"" + args->positionals[0] + "\"");
  if (args->Has("hash-token")) return std::cout << HashToken(args->Get("hash-token")) << "\n" ? 0 : 1;
  ServerConfig cfg;
  if (args->Has("config")) {
    auto c = LoadServerConfigs(args->GetAll("config"));
    if (!c.ok()) return Fail("serve", c.error());
    cfg = std::move(c.value());
  }
  if (args->Has("listen")) cfg.listen = args->Get("listen");
  if (args->Has("advertise")) {
    cfg.advertise = args->Get("advertise");
    if (auto u = AdvertisedUrl(cfg); !u.ok()) return Fail("serve", "--" + u.error().message);
  }
  if (args->Has("data")) cfg.data_dir = args->Get("data");
  cfg.dev |= args->Has("dev");
  if (args->Has("dashboard-dir")) cfg.dashboard_dir = args->Get("dashboard-dir");
  cfg.log_requests &= !args->Has("quiet");
  if (args->Has("log-level")) {
    cfg.log_level = args->Get("log-level");
    if (cfg.log_level != "debug" && cfg.log_level != "info" && cfg.log_level != "warn") {
      return Fail("serve", "--log-level must be debug, info or warn, not \"" + cfg.log_level + "\"");
    }
  }
  cfg.sync_full &= !args->Has("no-fsync");
  cfg.strict_units |= args->Has("strict-units");
  for (const std::string& flag : StoreFlags()) {
    if (!args->Has(flag)) continue;
    if (auto st = SetStoreFlag(flag, args->Get(flag), &cfg.store); !st.ok()) return Fail("serve", st.error());
  }
  if (auto st = ValidateStoreConfig(cfg.store); !st.ok()) return Fail("serve", st.error());
  if (args->Has("tls-cert")) cfg.tls.cert_file = args->Get("tls-cert");
  if (args->Has("tls-key")) cfg.tls.key_file = args->Get("tls-key");
  if (args->Has("tls-client-ca")) cfg.tls.client_ca_file = args->Get("tls-client-ca");
  if (cfg.tls.cert_file.empty() != cfg.tls.key_file.empty()) {
    return Fail("serve", "--tls-cert and --tls-key go together (or tls.cert and tls.key in the config)");
  }
  if (!cfg.tls.client_ca_file.empty() && cfg.tls.cert_file.empty()) {
    return Fail("serve", "--tls-client-ca needs TLS: give --tls-cert and --tls-key too");
  }
  if (args->Has("config")) cfg.config_files = args->GetAll("config");
  ServeLoop loop(std::move(cfg));
  g_loop = &loop;
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);  // before any thread starts, so only the reloader takes it
  HangupReloader reloader(&loop);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Status s = loop.Run();
  g_loop = nullptr;
  return s.ok() ? 0 : Fail("serve", s.error());
}

}  // namespace

ALLOT_COMMAND("serve", "run the allocation server (HTTP API, durable store, leases, auth, metrics)", RunServe);

}  // namespace allot::cli
