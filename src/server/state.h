// The server's shared state: the engine, the store and the server's own indexes (allocations it tracks,
// finished ones in their retention window, idempotency keys, node metadata, watches), with the one path
// by which a change becomes durable (Collect, then CommitThen) and the JSON views every handler answers
// with. The API handlers (src/server/api/) sit above it; restore.cc rebuilds it at start; pressure.cc
// (degradation levels, adaptive admission) and elastic_pools.cc keep their parts of it current from the
// timer.
// Thread-safety: everything below `mu` is guarded by it (the timer thread and the HTTP workers share it);
// the counters say which lock guards them. Commit callbacks run on the store's thread without `mu`.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/autoscale.h"
#include "allot/engine.h"
#include "allot/history.h"
#include "allot/http.h"
#include "allot/server.h"
#include "allot/store.h"
#include "allot/throttle/config.h"
#include "allot/throttle/degradation.h"
#include "server/auth.h"
#include "server/auth_guard.h"
#include "server/metrics.h"
#include "server/records.h"
#include "server/util.h"

namespace allot::server {

int64_t SteadyMicros();
int64_t ThreadCpuNs();  // CPU time of the calling thread (history.cc)
bool IsActive(AllocState s);
net::HttpResponse JsonResponse(int status, const Json& body);
// With unit warnings: a `warnings` array in the body and a Warning header each (none when empty).
net::HttpResponse JsonResponse(int status, Json body, const std::vector<std::string>& warnings);
// An answer whose body is JSON text already (JsonWriter).
net::HttpResponse JsonTextResponse(int status, std::string body);
net::HttpResponse ErrorResponse(const ApiError& e);
bool ValidName(const std::string& s);
Json NullableTime(int64_t ms);
const char* LevelName(int level);
int64_t Get(const ResourceMap& m, const std::string& k);
// Whether a line at `level` is written under `cfg.log_level`.
inline bool Logs(const ServerConfig& cfg, const std::string& level) {
  return LogLevelRank(level) >= LogLevelRank(cfg.log_level);
}
inline ApiError Forbidden(std::string msg) { return {403, "permission_denied", std::move(msg), ""}; }
// A writer asking for a tenant *above* its subtree still sees only its subtree.
inline bool InScope(const Principal& who, const std::string& tenant) {
  return who.role == "writer" && server::InSubtree(who.tenant, tenant);
}


struct State {
  ServerConfig cfg;
  std::unique_ptr<Store> store;
  std::unique_ptr<Engine> engine;
  // Replaced whole by Server::Reload: read it through Auth() (guarded by auth_mu).
  std::shared_ptr<const server::Authenticator> auth;
  mutable std::mutex auth_mu;
  std::shared_ptr<const server::Authenticator> Auth() const {
    std::lock_guard<std::mutex> l(auth_mu);
    return auth;
  }
  server::AuthFailureLog auth_failures;     // drained into the audit log by the timer
  server::PrincipalRateLimits rate_limits;  // auth.rate_limit per principal
  std::unique_ptr<net::HttpServer> http;
  std::vector<std::function<std::string()>> metric_sources;  // more families for /metrics (AddMetrics)

  // Everything below is guarded by mu.
  std::mutex mu;
  struct Meta {
    std::string tenant, idem, actor;
    std::string agent;  // agent_id of the request ("" if none)
    int64_t lease_ms = 0;
    std::unique_ptr<RequestSpec> spec;  // kept while queued: a restart re-submits it
  };
  std::unordered_map<std::string, Meta> active;
  struct Finished {
    AllocationInfo info;
    std::string idem, actor;
    int64_t at = 0;
    std::string agent;
  };
  std::unordered_map<std::string, Finished> finished;
  std::deque<std::string> finished_order;
  std::unordered_map<std::string, std::string> idem_index;  // tenant '\n' key -> id
  std::unordered_map<std::string, size_t> tenant_active;
  // cpu and memory of each agent_id's active allocations, for limits.global.max_*_per_agent.
  struct AgentUsage {
    int64_t cpu = 0, memory = 0;
  };
  std::unordered_map<std::string, AgentUsage> agent_usage;
  void AddAgentUsage(const std::string& agent, const ResourceMap& requests, int count, int sign);
  struct NodeMeta {
    bool agent = false, down_by_heartbeat = false, draining = false, down = false;
    std::string owner;  // the agent token that registered the node ("": an admin or the config)
    int64_t last_heartbeat = 0;
    int64_t heartbeat_due = 0;  // when its entry in heartbeat_queue falls due (0: it has none)
    std::string pool;
    ResourceMap observed;       // the last heartbeat's usage (empty: never reported)
    Json gpus = Json::array();  // the agent's GPU list (registration, then heartbeats)
  };
  std::unordered_map<std::string, NodeMeta> node_meta;
  uint64_t node_meta_erased = 0;  // entries taken out of node_meta, ever (Scan's cache below)
  // Scan's node_meta entry of each engine slot (NodeRow::slot), found once rather than looked up per node
  // and scan: an entry's address holds until it is erased. Valid while node_meta has the size and erasures
  // it had when the cache was started (a slot keeps its node; a name added again takes its old slot).
  struct ScanMetaCache {
    std::vector<const NodeMeta*> meta;
    std::vector<uint8_t> known;
    size_t size = 0;
    uint64_t erased = ~uint64_t{0};
  } scan_meta;
  // Agent nodes by when their heartbeats run out (a heartbeat's time + the timeout), earliest first: the
  // timer looks at the front only, so a quiet second costs nothing however many nodes there are. One live
  // entry per node (NodeMeta::heartbeat_due); an entry whose node has another due time, or is gone, is
  // dropped when it comes up.
  std::priority_queue<std::pair<int64_t, std::string>, std::vector<std::pair<int64_t, std::string>>,
                      std::greater<>>
      heartbeat_queue;
  // After m.last_heartbeat was set: queues the node's check unless one is queued. REQUIRES: mu held.
  void WatchHeartbeat(const std::string& name, NodeMeta& m);
  // Marks down the agent nodes whose heartbeats ran out by `now`. REQUIRES: mu held.
  void CheckHeartbeats(int64_t now, Batch* b);
  std::map<std::string, TenantSpec> tenant_specs;
  std::map<std::string, ReservationSpec> reservations;
  struct Watch {
    net::Responder responder;
    AllocState from;
    int64_t deadline;
  };
  std::unordered_multimap<std::string, Watch> watches;
  std::mt19937_64 rng{std::random_device{}()};

  // Counters (guarded by mu).
  uint64_t lease_expiries = 0, preemptions = 0, placements = 0, submissions = 0;
  std::mutex rejections_mu;  // a leaf lock: taken with or without mu
  std::map<std::string, uint64_t> rejections;
  server::Histogram decision_latency{{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1, 0.25, 1}};
  // HTTP counters (guarded by stats_mu; updated from any thread).
  std::mutex stats_mu;
  std::map<int, uint64_t> responses_by_code;
  server::Histogram request_latency{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}};

  int64_t metrics_nodes_us = 0;  // time of the last Engine::Nodes() call for /metrics (guarded by mu)
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  std::thread timer;
  std::condition_variable timer_cv;
  int64_t last_prune_ms = 0;

  // Pressure (guarded by mu): the cluster's monitor gates submissions; pools have their own.
  throttle::DegradationOptions degradation_options = throttle::DegradationOptions::Defaults();
  std::unique_ptr<throttle::DegradationMonitor> degradation;
  std::map<std::string, std::unique_ptr<throttle::DegradationMonitor>> pool_degradation;
  uint64_t degradation_refusals = 0;
  int64_t last_pressure_ms = 0;
  // One pass over the schedulable nodes: per resource (indexed like `scan_resources`) capacity,
  // allocated, observed (reports only) and effective (max of allocated and observed per node).
  struct Sums {
    std::vector<int64_t> capacity, allocated, observed, effective;
    int32_t nodes = 0;  // schedulable (up, not draining)
    std::vector<int32_t> reporting;  // per resource: of those, the nodes whose agent reports its usage
    void Resize(size_t n) {
      reporting.resize(n);
      capacity.resize(n);
      allocated.resize(n);
      observed.resize(n);
      effective.resize(n);
    }
  };
  std::vector<std::string> scan_resources;
  Sums cluster_sums;
  std::map<std::string, Sums> pool_sums;

  // Adaptive admission (guarded by admission_mu; the commit callback runs on the store's thread).
  std::mutex admission_mu;
  std::unique_ptr<throttle::AimdLimiter> admission;
  uint64_t admission_refusals = 0;

  // Elastic pools (guarded by mu).
  struct PoolRuntime {
    PoolConfig cfg;
    bool evaluated = false;
    int32_t nodes = 0, desired = 0;
    std::string reason;
    double utilization = 0, node_capacity = 0;
    int64_t allocated = 0, observed = 0, effective = 0, queued_demand = 0;
    std::optional<double> last_up, last_down;  // seconds: when the desired count last rose / fell
    int64_t evaluated_at = 0, changed_at = 0;
    std::deque<double> demand;                 // one point per evaluation
    autoscale::HoltForecast forecast;
    bool has_forecast = false;
    // The scaling command.
    pid_t pid = -1;
    int64_t command_started = 0;
    bool command_pending = false;              // the desired count changed while it ran
    int32_t command_desired = 0;
    Json last_command = nullptr;
  };
  std::vector<PoolRuntime> pools;
  int64_t last_pool_eval_ms = 0;
  std::unordered_map<std::string, ResourceMap> registered_allocated;  // unmanaged use as registered, per node

  // Adaptive admission: one ticket per submission, from arrival to the durable answer.
  struct AdmissionTicket {
    State* impl = nullptr;
    int64_t t0_us = 0;
    bool acquired = false;
    bool live = true;
    ~AdmissionTicket() {
      if (live && impl != nullptr) impl->AdmissionDone(acquired, t0_us);
    }
    // Hands the release over to the commit callback.
    std::function<void()> Handoff() {
      live = false;
      return [p = impl, a = acquired, t0 = t0_us] { p->AdmissionDone(a, t0); };
    }
  };

  // ---------------------------------------------------------------------------------------------------
  // Persistence of engine changes (state.cc), pressure (pressure.cc), elastic pools (elastic_pools.cc),
  // startup (restore.cc).

  // Turns the engine's pending events into one store batch (records + audit events), updates the server's
  // own indexes, and returns the watches that the change answers.
  std::vector<std::pair<net::Responder, Json>> Collect(const std::string& actor, Batch* batch);

  std::string EncodeRecord(const AllocationInfo& info, const Meta& m);

  void Finish(const std::string& id, const AllocationInfo& info, const Meta& m, Batch* batch);

  // Drops finished allocations past the retention (age or count), from memory and, through `batch`, from
  // the store.
  void PruneFinished(int64_t now, Batch* batch);

  // Queues `batch`; answers `resp` to `responder` (and fires `watches`) once it is durable.
  // REQUIRES: mu held (so batches reach the store in engine order).
  void CommitThen(Batch batch, net::Responder responder, net::HttpResponse resp,
                  std::vector<std::pair<net::Responder, Json>> fire = {}, std::function<void()> done = nullptr);

  // Schedules, then persists what changed. REQUIRES: mu held.
  void ScheduleAndCommit(int64_t now, const std::string& actor, Batch batch, net::Responder responder,
                         net::HttpResponse resp);

  // The API's view of an allocation; its idempotency key when given, its agent_id from the indexes.
  Json AllocJson(const AllocationInfo& i, const std::string* idem) const;
  // The same fields written to `w` (inside an object the caller opens and closes, so that it may add its
  // own keys): the one place an allocation's JSON is spelled. AllocJson reads this text back.
  void WriteAllocFields(server::JsonWriter& w, const AllocationInfo& i, const std::string* idem) const;
  // {allocation fields} as text; "null" for an unknown id. REQUIRES: mu held.
  std::string AllocTextById(const std::string& id);
  // The agent_id an allocation was submitted with ("" if none or unknown).
  const std::string& AgentOf(const std::string& id) const;

  Json AllocJsonById(const std::string& id);

  // The allocation's current info: the engine's, or the finished copy. REQUIRES: mu held.
  std::optional<AllocationInfo> Lookup(const std::string& id);

  // The API's view of a node (docs/http-api.md, "Nodes"), with what node_meta knows of it.
  Json NodeJson(const NodeInfo& n) const;
  // The same as an object written to `w`, keys in the order NodeJson's had: the one place a node's JSON
  // is spelled (GET /v1/nodes writes 10,000 of them). NodeJson reads this text back. REQUIRES: mu held.
  void WriteNode(server::JsonWriter& w, const NodeInfo& n) const;

  Json TenantJson(const std::string& path) const;
  // The same with the tenant's usage given (nullptr: none), for lists: Tenants() once, not once per tenant.
  Json TenantJson(const std::string& path, const TenantUsage* usage) const;
  // Outside --dev and without tenants.auto_create, new work must name a declared tenant: one of
  // tenant_specs (config, PUT /v1/quotas), a token's subtree, a path under one of those or above one
  // (an inner node of the tree), or "default". Otherwise a 422 naming the closest declared tenant.
  // REQUIRES: mu held.
  std::optional<ApiError> UndeclaredTenant(const std::string& tenant) const;

  Json ReservationJson(const ReservationInfo& r) const;

  static int64_t Ns(int64_t ms) { return ms * 1'000'000; }

  static Json LevelJson(const throttle::DegradationMonitor* m);

  Json DegradationJson() const { return LevelJson(degradation.get()); }

  // Walks the node table once: sums over schedulable nodes, cluster-wide and per pool; with `history_nodes`,
  // every node's amounts go into it too (history.cc). REQUIRES: mu held. With `lock` (which holds mu), a
  // cluster of more than kScanSlice nodes is walked a slice at a time, mu let go in between: at 100,000
  // nodes a whole walk holds it for tens of milliseconds, every request waiting behind it. The sums then
  // mix moments a millisecond or so apart (each node counted once), and are published at the end.
  void Scan(std::unique_lock<std::mutex>* lock, history::Frame* history_nodes = nullptr);
  static constexpr size_t kScanSlice = 4096;

  // An audit event (and a log line) when a monitor's level moved. REQUIRES: mu held.
  void AuditLevel(const std::string& scope, const throttle::DegradationMonitor& m, int before, int64_t now_ms,
                  Batch* b);

  // Feeds every monitor from a fresh scan (which also samples the nodes into `history_nodes` if given).
  // REQUIRES: mu held.
  void RefreshPressure(std::unique_lock<std::mutex>* lock, int64_t now_ms, Batch* b,
                       history::Frame* history_nodes = nullptr);

  // The allocated totals (kept incrementally by the engine): fresh at every submission. REQUIRES: mu held.
  void ObserveAllocated(int64_t now_ms, Batch* b);

  void AdmissionDone(bool acquired, int64_t t0_us);

  // Queued demand per pool, in each pool's resource. A queued request belongs to the pool its selector
  // pins (allot.dev/pool=NAME), else to the first pool (config order) with a node matching its selector;
  // one without a selector to the first pool below max_nodes (else the first pool). Requests held by
  // quota ask for no nodes. REQUIRES: mu held.
  std::vector<int64_t> QueuedDemand();

  // Sizes every pool from the latest scan. REQUIRES: mu held.
  void EvaluatePools(int64_t now_ms, Batch* b);

  // Runs the pool's command: argv from the config plus the pool name and the desired count, no shell.
  // REQUIRES: mu held.
  void StartCommand(PoolRuntime& p, int64_t now_ms, Batch* b);

  void AuditCommand(const PoolRuntime& p, int64_t now_ms, const std::string& what, Batch* b);

  // Collects finished commands, kills those past their timeout. REQUIRES: mu held.
  void ReapCommands(int64_t now_ms, Batch* b);

  Json PoolJson(const PoolRuntime& p) const;

  // Rebuilds the state from the store: tenants, nodes, reservations, then allocations (restore.cc). The
  // store's rows stream through once; only the first three tables and the allocations that are not placed
  // are held until their turn.
  Status Restore();
  using Rows = std::vector<std::pair<std::string, std::string>>;
  Status RestoreHead(const Rows* tables, int64_t now, Batch* fixes);
  Status RestoreNodes(const Rows& rows, int64_t now, std::set<std::string>* known, Batch* fixes);
  // One allocation back into the engine and the indexes; false (with a "lost" audit event in `fixes`)
  // when the engine refused it.
  bool RestoreAlloc(server::AllocRecord& r, int64_t now, Batch* fixes);
  // A store row for Restore: nodes, tenants, reservations and history as they are stored, allocations
  // decoded (`alloc` empty when one does not decode; then `key` names it).
  struct RestoreRow {
    Table table = Table::kNodes;
    std::string key, value;
    std::optional<server::AllocRecord> alloc;
  };
  // reader_cpu_ns: the CPU time the reader thread used (for the restore's log line).
  Status ReadRowsAside(const std::function<Status(RestoreRow&)>& apply, size_t* expected,
                       int64_t* reader_cpu_ns);

  // Safe with or without mu held.
  void CountRejection(const std::string& reason);

  void Reject(const net::Responder& r, const ApiError& e, const std::string& reason);

  void NotFound(const net::Responder& r, const std::string& msg);

  void MethodNotAllowed(const net::Responder& r);

  void Invalid(const net::Responder& r, const ApiError& e) { Reject(r, e, "invalid"); }

  NodeSpec SpecOf(const NodeInfo& n);

  void PersistNode(const std::string& name, Batch* b, const NodeSpec* spec_override = nullptr);

  Json AdmissionJson();

  void TimerLoop();

  // Amount history (history.cc). The Db is guarded by history_mu, a leaf lock taken with or without mu;
  // the sampler's state by mu. Null when history.interval is 0.
  std::mutex history_mu;
  std::unique_ptr<history::Db> history;
  history::Frame history_frame;
  int64_t next_history_ms = 0;
  std::atomic<uint64_t> history_samples{0}, history_cpu_ns{0}, history_failures{0};
  std::atomic<bool> history_resync{false};  // a history commit failed: the next rows are full
  bool HistoryDue(int64_t now_ms) const { return history != nullptr && now_ms >= next_history_ms; }
  // Adds the node amounts of one scan to `f`. REQUIRES: mu held.
  void HistoryNode(const NodeRow& n, const NodeMeta* meta, const std::vector<std::string>& resources,
                   history::Frame* f);
  // Completes history_frame with the sample due at now_ms (the nodes are in it from the scan before);
  // `cpu0_ns` is this thread's CPU time before that scan. REQUIRES: mu held.
  void TakeHistorySample(int64_t now_ms, int64_t cpu0_ns);
  // Adds history_frame to the Db and persists what it asks for. Timer thread only, without mu.
  void StoreHistorySample();
  int64_t history_sample_t = 0, history_cpu0_ns = 0;  // the sample TakeHistorySample prepared
  // Loads the history table (Restore).
  void RestoreHistory(const Rows& rows, int64_t now_ms);
  // Commits history writes in batches small enough for every store (etcd's transaction limits).
  void CommitHistory(std::vector<history::Write> writes);

  void OnResponse(const net::AccessRecord& rec);

  // ---------------------------------------------------------------------------------------------------
  // Replication (store etcd; standby.cc). `replica.self_url` is empty when the server is not replicated.
  ReplicaOptions replica;
  StoreFollower* follower = nullptr;  // a standby's store (the object `store` owns)
  // A store revision whose every change the state holds: set under mu (by CommitThen on a leader, by the
  // follower's thread on a standby), so an answer computed under mu never claims more than it shows.
  std::atomic<int64_t> read_revision{0};
  uint64_t standby_applied = 0, standby_rebuilds = 0;  // guarded by mu

  // What X-Allot-Revision says on a read: read_revision (0 when not replicated). An answer sent once a
  // change is durable (CommitThen) carries the store's revision then, which includes that change.
  int64_t Revision() const;
  double LagSeconds() const;
  // On a standby, answers a request it does not serve from its own state (writes, long-polls, reads with
  // ?consistent=true, routes whose state is not replicated): 307 to the leader, 503 while nobody leads.
  // Returns whether it answered.
  bool RedirectIfStandby(const net::HttpRequest& req, const net::Responder& r);
  // A standby's thread (instead of TimerLoop): follows the leader's commits until `stopping`.
  void FollowLoop();
  // One batch of followed changes into the state: allocation records one by one, anything else (nodes,
  // tenants, reservations) by rebuilding the whole state from the follower's records. REQUIRES: mu held.
  void ApplyFollowed(const FollowUpdate& up);
  // Rebuilds the state from the follower's records. REQUIRES: mu held.
  Status Rebuild();
  // The replica's families for /metrics (allot_replica_*).
  std::string ReplicaMetrics();
};

}  // namespace allot::server
