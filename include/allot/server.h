// `allot serve`: the engine as an HTTP/JSON service with durable state, leases, an audit log, bearer-token
// auth and Prometheus metrics.
//
// A Server owns one Engine (behind one mutex), one Store and an HTTP server. Every mutation is applied to
// the engine, written to the store as one batch together with its audit events, and answered only once
// that batch is durable (group commit). On start the state is rebuilt from the store: nodes, tenants,
// reservations, then allocations (placed ones with Engine::Restore, queued ones re-submitted in their
// original order). A timer thread runs Engine::Schedule when something is due (lease ends, wait
// deadlines), marks nodes down whose heartbeats stopped, and answers long-poll watches that time out.
// Thread-safety: Create/Run on one thread; Shutdown and RequestShutdown from any thread (the latter from a
// signal handler).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/engine.h"
#include "allot/history.h"
#include "allot/result.h"
#include "allot/store.h"

namespace allot {

// A principal's request rate limit (config `auth.rate_limit` and per token `rate_limit`): a GCRA bucket
// of `burst` requests refilled at count per period_ns (throttle/rate.h). count 0: no limit.
struct RequestRateLimit {
  int64_t count = 0;
  int64_t period_ns = 0;
  int64_t burst = 0;
};

struct TokenConfig {
  std::string name;        // who: shown as the actor in logs and the audit log
  std::string role;        // admin | reader | writer | agent
  std::string tenant;      // writer: the subtree it may act on
  std::string sha256_hex;  // SHA-256 of the secret, lower-case hex (a plain `token:` is hashed on load)
  int64_t expires_ms = 0;  // Unix ms after which it is refused (401); 0: never. A duration counts from load.
  std::optional<RequestRateLimit> rate_limit = std::nullopt;  // unset: auth.rate_limit
};

// A client certificate mapped to a principal (config `auth.client_certs`): a request over TLS whose
// verified certificate matches `subject` (RFC 2253, "CN=agent-1,O=example"; exact) or `cn` (its common
// name) acts as this principal when it carries no bearer token.
struct ClientCertConfig {
  std::string name;     // the actor in logs and the audit log (default "cert:" + cn or subject)
  std::string subject;  // one of subject / cn
  std::string cn;
  std::string role;                                           // admin | reader | writer | agent
  std::string tenant;                                         // writer: the subtree it may act on
  std::optional<RequestRateLimit> rate_limit = std::nullopt;  // unset: auth.rate_limit
};

// TLS of `allot serve` (config `tls`, flags --tls-cert, --tls-key, --tls-client-ca): PEM files. An empty
// cert_file serves plain HTTP. SIGHUP (Server::Reload) re-reads the files.
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // client certificates signed by it are verified (and mapped by client_certs)
};

// An elastic pool (config `pools:`): nodes join it through NodeSpec.pool. The server sizes it every
// `pool_interval` with autoscale::DesiredPoolSize over `resource` (allocated, observed and queued demand
// that does not fit), and runs `command` (argv, no shell) with the pool name and the desired node count
// appended when the desired count changes (env ALLOT_POOL, ALLOT_DESIRED_NODES, ALLOT_CURRENT_NODES).
struct PoolConfig {
  std::string name;
  int32_t min_nodes = 0;
  int32_t max_nodes = 0;
  double target_utilization = 0.7;  // (0, 1]
  double tolerance = 0.1;
  int64_t scale_up_cooldown_ms = 60'000;
  int64_t scale_down_cooldown_ms = 300'000;
  int32_t max_scale_down_step = 1;
  std::string resource = "cpu";       // the amount the pool is sized by (canonical resource name)
  std::vector<std::string> command;   // empty: report only
  int64_t command_timeout_ms = 60'000;  // the command is killed after this long
};

// Every key of the config file (YAML). Unknown keys are errors naming the key.
struct ServerConfig {
  std::string listen = "127.0.0.1:7070";
  // This replica's URL as clients reach it (config `advertise`, --advertise): where standbys redirect
  // writes, and its name in the leader key and GET /v1/cluster/members. Empty: http:// + listen (the
  // host name when listening on every address).
  std::string advertise;
  std::string data_dir = "./allot-data";   // ":memory:" keeps nothing (tests)
  StoreConfig store;                       // which store (sqlite, memory, etcd) and etcd's settings; the
                                           // data_dir and sync_full here are the ones that count
  bool dev = false;                        // no auth, loopback only
  // The web dashboard at GET / (config dashboard.enabled, dashboard.dir; --dashboard-dir): its built
  // files, read at start. "" looks beside the binary, then in ../share/allot/dashboard
  // (src/server/dashboard.h).
  bool dashboard = true;
  std::string dashboard_dir;
  std::vector<TokenConfig> tokens;
  std::vector<ClientCertConfig> client_certs;
  RequestRateLimit rate_limit;  // auth.rate_limit: every principal's unless it sets its own (count 0: none)
  TlsConfig tls;
  // The files the config came from (`--config`): Server::Reload re-reads their `auth` section.
  std::vector<std::string> config_files;
  EngineOptions policy;
  // Global limits (0: none). Active = queued + placed.
  size_t max_allocations_per_tenant = 0;
  size_t max_concurrent_allocations = 0;
  // Seed 001's per-agent caps (limits.global): one agent_id's active allocations together (0: none).
  int64_t max_cpu_per_agent = 0;     // millicores
  int64_t max_memory_per_agent = 0;  // bytes
  int64_t max_lease_ms = 366LL * 86400 * 1000;
  int64_t heartbeat_timeout_ms = 30'000;   // agent nodes silent this long are marked down
  int64_t finished_retention_ms = 3'600'000;  // finished allocations stay visible to GET this long ...
  size_t finished_retention_count = 100'000;  // ... and at most this many
  int64_t events_retention_ms = 30LL * 86400 * 1000;
  std::vector<TenantSpec> tenants;
  // Config `tenants: {auto_create: true}`: work may name any tenant, which the engine creates with no
  // quota. Off (the default), outside --dev a tenant must be declared (tenants, PUT /v1/quotas, a
  // token's subtree) and a POST naming another one is answered 422 with the closest declared tenant.
  bool auto_create_tenants = false;
  std::vector<NodeSpec> nodes;             // registered at start unless the store already knows them
  // A memory or disk amount written without a unit and below 1 MiB ("memory: 8": 8 bytes) is answered
  // with a warning; strict_units (config `units: strict`, --strict-units) refuses it with 422.
  bool strict_units = false;
  // HTTP limits.
  size_t max_body_bytes = 1 << 20;
  int max_json_depth = 16;
  size_t max_queue = 4096;
  size_t max_connections = 20000;
  int workers = 2;
  // Where submit, renew and release run (limits.allocations_on_io_thread): kWhenIdle, on the I/O thread
  // when no other request is in flight and else on a worker; kAlways, on the I/O thread (a worker only
  // adds a hand-off and a wake-up each way unless it has a core of its own); kAuto, kAlways where the
  // process may run on at most 2 CPUs, else kWhenIdle.
  enum class IoThreadAllocations { kAuto, kAlways, kWhenIdle };
  IoThreadAllocations allocations_on_io_thread = IoThreadAllocations::kAuto;
  // What allocations_on_io_thread comes to on this machine: true when they run on the I/O thread also
  // under load.
  bool AllocationsOnIoThreadUnderLoad() const;
  int64_t request_timeout_ms = 10'000;
  int64_t idle_timeout_ms = 120'000;
  int64_t write_timeout_ms = 10'000;       // answers a client does not take for this long: closed (0: never)
  size_t max_connections_per_address = 256;  // past it: 503 (0: no limit)
  size_t max_pending_output_bytes = 64 * 1024;  // answers waiting per connection before it is read no more
  int send_buffer_bytes = 0;               // SO_SNDBUF per connection (0: the kernel's autotuning)
  int64_t max_watch_ms = 300'000;          // longest long-poll
  bool sync_full = true;                   // fsync every group commit
  bool log_requests = true;                // one JSON line per request on stderr
  // Lines below log_level are not written (config log.level, --log-level): debug < info < warn.
  // Request lines are written at request_log_level (config `log.requests: debug`, as the demo does).
  // Warnings, errors and the lifecycle lines (listening, stopped, leadership) are always written.
  std::string log_level = "info";
  std::string request_log_level = "info";
  std::string throttling_yaml;             // the `throttling:` section, passed through (see throttle/)
  // Degradation levels and adaptive admission come from throttling.degradation / throttling.admission.
  // Each is enforced (priority gate / 429 overloaded) only when its section is present; otherwise it is
  // computed and reported (answers, /v1/utilization, metrics) but refuses nothing, and a full cluster
  // queues requests as before.
  bool degradation_enforced = false;
  bool admission_enforced = false;
  std::vector<PoolConfig> pools;
  int64_t pool_interval_ms = 15'000;       // how often pools are sized
  double forecast_alpha = 0.5, forecast_beta = 0.3;  // Holt's linear trend over per-interval demand
  int forecast_horizon = 10;               // forecast steps (of pool_interval) ahead
  // Amount history (config `history:`): the sampling interval, the tiers, the node resources kept.
  history::Options history;
  // Analytics (config `analytics:`): prices per resource-hour (cpu per core, gpu per device, memory and
  // ephemeral-storage per GiB, network per Gbit/s, any other resource per unit) in `currency`.
  std::map<std::string, double> prices;
  std::string currency = "USD";
};

// Parses a config file; errors name the file, line and key.
Result<ServerConfig> LoadServerConfig(const std::string& path);
// Several files merged in order (`allot serve --config A --config B`): mappings merge key by key, a later
// file's value wins, lists are replaced. Each file is checked alone first, so errors name its lines.
// Seed 001's config/resource_limits.yaml and config/allocation_policies.yaml load as written.
Result<ServerConfig> LoadServerConfigs(const std::vector<std::string>& paths);
Result<ServerConfig> ParseServerConfig(const std::string& yaml_text, const std::string& origin);
// Lower-case hex SHA-256 of a token secret, as `sha256:` in the config expects.
std::string HashToken(const std::string& secret);

// Transparent huge pages for the server's heap. A server holds millions of small records (a restart with a
// million allocations builds ~350 MB of them); on 4 KiB pages every one of ~90,000 pages is a page fault,
// and on virtual machines a page fault is dear (a fifth of that restart's time on the machine this was
// measured on). glibc's malloc backs its heap with huge pages when asked by the tunable
// glibc.malloc.hugetlb=1, which is read only when a process starts.
//
// The GLIBC_TUNABLES value to re-execute with: `current` (the variable's value, null if unset) with
// glibc.malloc.hugetlb=1 added; nullopt when nothing is to be done: the kernel gives huge pages to no one
// (`thp_mode`, the selected word of /sys/kernel/mm/transparent_hugepage/enabled, is "never" or unknown),
// or `current` already says something of glibc.malloc.hugetlb (a setting of the user's, =0 included, wins).
std::optional<std::string> HugePageMallocTunables(const char* current, std::string_view thp_mode);
// Before any thread starts (`allot serve` calls it first): re-executes this program (its path, read from
// /proc/self/exe, so the process keeps its name; the same argv) with GLIBC_TUNABLES from
// HugePageMallocTunables. Returns only when it does not re-execute:
// nothing to do, a build with sanitizers (their allocator is not glibc's), not glibc, or exec failed.
void ReexecWithHugePageMalloc(char** argv);

// An extension route (e.g. /v1/ratelimits/{key+}/acquire) that another module serves through this server.
struct ApiCall {
  std::string method, path, body;
  std::vector<std::pair<std::string, std::string>> query;
  std::string actor, role, tenant_scope;  // who is calling; tenant_scope "" = all tenants
  std::vector<std::pair<std::string, std::string>> params;  // the route pattern's path parameters
  // A path parameter's value ("" when the pattern has none of that name).
  const std::string& Param(std::string_view name) const {
    static const std::string kEmpty;
    for (const auto& [k, v] : params) {
      if (k == name) return v;
    }
    return kEmpty;
  }
};
struct ApiAnswer {
  int status = 200;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;
};

// A server that is one replica of several (store etcd), as ServeLoop creates it.
struct ReplicaOptions {
  std::string self_url;  // this replica's advertised URL; empty: the server is not replicated
  // A standby: the store given to Server::Create is a StoreFollower. Reads of the replicated state (nodes,
  // allocations, reservations, quotas, queue, events, metrics, cluster members) are answered from its
  // records, which a thread keeps following the leader's commits; every other request, and reads with
  // ?consistent=true, are answered 307 with the leader's URL (503 while nobody leads).
  bool standby = false;
  int64_t term = 0;                   // a leader's term (the leader key's create revision)
  MemberRegistry* members = nullptr;  // GET /v1/cluster/members; outlives the server (may be null)
};

// The advertised URL of `config` (ServerConfig::advertise, or its default from `listen`); errors name the
// setting.
Result<std::string> AdvertisedUrl(const ServerConfig& config);

class Server {
 public:
  // Opens the store (unless one is given: store::Open of config.store, not etcd, which needs the leader
  // election of ServeLoop), rebuilds the state, mounts every route (the core API and the throttling API)
  // and binds the listener. `replica`: see ReplicaOptions.
  static Result<std::unique_ptr<Server>> Create(const ServerConfig& config,
                                                std::unique_ptr<Store> store = nullptr,
                                                const ReplicaOptions& replica = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds `method` + `pattern` to the server's one route table: `fn` answers matching requests after
  // authentication. Patterns are paths with "{name}" (one segment) and "{name+}" (one or more segments)
  // parameters, e.g. "/v1/breakers/{key+}/report"; routes are tried in the order added. Call before Run().
  void AddRoute(std::string method, std::string pattern, std::function<ApiAnswer(const ApiCall&)> fn);
  // Appends `fn`'s text to every GET /metrics: whole Prometheus families (HELP, TYPE, samples) under names
  // the server does not use itself. `fn` runs on an HTTP worker without any of the server's locks held,
  // so it may call Audit. Call before Run().
  void AddMetrics(std::function<std::string()> fn);
  // Appends audit events that are no engine change (a circuit breaker's transitions) to the event log
  // and returns once they are durable, or with the store's error. Any thread; also from a route.
  Status Audit(std::vector<AuditEvent> events);
  int port() const;
  // The store revision this server's state is as of (what X-Allot-Revision says), and how stale it may be
  // (0 on a leader); both 0 when the server is not replicated.
  int64_t Revision() const;
  double LagSeconds() const;
  // A standby's records as its follower holds them (StoreFollower::Load), for its promotion.
  // REQUIRES: a standby whose Run has returned.
  Result<Snapshot> FollowedRecords();
  // Re-reads what changes without a restart: the TLS files (connections accepted afterwards use them) and
  // the `auth` section of config.config_files (tokens, client certificates). On error the old ones stay
  // in force. Any thread (SIGHUP, POST /v1/admin/reload).
  Status Reload();
  // Serves until Shutdown; then finishes in-flight requests and flushes the store.
  Status Run();
  void Shutdown();
  void RequestShutdown();  // async-signal-safe

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `allot serve`'s life: store::Open, Server::Create, Run. With etcd every replica registers itself
// (MemberRegistry) and serves as a standby (ReplicaOptions::standby) while it campaigns for the leader key;
// once elected it stops the standby, reloads the whole state from etcd and serves as the leader; a leader
// that loses the leadership stops serving at once and becomes a standby again. Logs one JSON line per step
// on stderr.
// Thread-safety: Run on one thread; RequestStop from any thread or a signal handler.
class ServeLoop {
 public:
  explicit ServeLoop(ServerConfig config) : config_(std::move(config)) {}
  // Serves until RequestStop (Ok), or until the store or the server fails to open or run.
  Status Run();
  void RequestStop();  // async-signal-safe
  // Server::Reload of the server now serving, with a log line (an error when none is serving). Any thread
  // but a signal handler.
  Status Reload();

 private:
  class Standby;
  // With etcd: a standby (serving reads on a thread of its own) while campaigning, then the leader.
  Status RunReplicated(StoreConfig sc);
  ServerConfig config_;
  std::atomic<bool> stop_{false};
  std::atomic<Server*> server_{nullptr};
  std::mutex reload_mu_;  // held while a reload runs and while the server is taken down
};

}  // namespace allot
