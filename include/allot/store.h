// The state store behind `allot serve`: durable tables of opaque records plus an append-only audit log.
//
// The server keeps its live state in memory (the Engine) and writes every change through a Store before it
// answers. A Store knows nothing about allocations: it holds key -> value records in a few named tables
// (the server encodes the values) and audit events. Commit() queues a Batch and calls `done` once the
// whole batch is durable; batches become durable atomically and in the order they were committed, so a
// crash loses at most a suffix of unacknowledged batches and never half of one. Load() returns every
// record, to rebuild the state on start.
//
// Implementations: SQLite in WAL mode (the embedded default; a committer thread batches many Commit calls
// into one transaction and one fsync — group commit) and an in-memory store for tests. An etcd-backed
// store fits the same interface: a Batch maps to one etcd transaction, tables to key prefixes, audit
// events to a revision-ordered prefix. With etcd, standbys follow the leader's commits through a
// StoreFollower (etcd's watch) and every replica registers itself with a MemberRegistry.
// Thread-safety: every method of a Store may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allot/result.h"

namespace allot {

enum class Table : uint8_t {
  kNodes = 0,
  kTenants = 1,
  kReservations = 2,
  kAllocations = 3,
  kIdempotency = 4,
  kMeta = 5,
  kHistory = 6,  // amount history rows (allot/history.h)
};
inline constexpr int kNumTables = 7;
const char* TableName(Table t);

// One audit record: who (actor), what (type, id, node, tenant), when (at, ms since the Unix epoch), why.
struct AuditEvent {
  int64_t seq = 0;  // assigned by the store, increasing; 0 before Commit
  int64_t at = 0;
  std::string type, id, node, tenant, reason, by, actor;
};

struct Mutation {
  enum class Op : uint8_t { kPut, kDelete };
  Op op = Op::kPut;
  Table table = Table::kMeta;
  std::string key, value;
};

// What one request changed: applied atomically.
struct Batch {
  std::vector<Mutation> mutations;
  std::vector<AuditEvent> events;

  void Put(Table t, std::string key, std::string value) {
    mutations.push_back({Mutation::Op::kPut, t, std::move(key), std::move(value)});
  }
  void Delete(Table t, std::string key) { mutations.push_back({Mutation::Op::kDelete, t, std::move(key), {}}); }
  bool empty() const { return mutations.empty() && events.empty(); }
};

struct Snapshot {
  std::vector<std::pair<std::string, std::string>> tables[kNumTables];  // key -> value, by key
  int64_t last_event_seq = 0;
  int64_t revision = 0;  // etcd: the store revision these records are as of; 0 for the other stores
  const std::vector<std::pair<std::string, std::string>>& rows(Table t) const {
    return tables[static_cast<int>(t)];
  }
};

struct EventQuery {
  int64_t after_seq = 0;   // only events with seq > after_seq
  int64_t since_ms = 0;    // only events with at >= since_ms
  std::vector<std::string> tenants;  // if non-empty: events of these tenants or their subtrees only
  std::string id;          // if non-empty: events about this id only
  size_t limit = 1000;
};

struct StoreStats {
  uint64_t transactions = 0;  // durable commits (fsyncs)
  uint64_t batches = 0;       // Commit() calls made durable
  uint64_t failures = 0;
  uint64_t lingers = 0;       // transactions that waited for the clients just answered (sqlite, fsync on)
  size_t pending = 0;         // queued, not yet durable
  int64_t memory_bytes = 0;  // heap the store's library holds (SQLite: page caches, statements); 0 if unknown
};

class Store {
 public:
  virtual ~Store() = default;
  // Every record, for a restart. Call before the first Commit.
  virtual Result<Snapshot> Load() = 0;
  // Every record without holding them all at once: table by table in Table order, each table's keys in
  // order, each row given to `fn` once (its key and value live only during the call). An error from `fn`
  // stops the scan and is returned. The default walks Load()'s snapshot; SQLite reads row by row. Call
  // before the first Commit.
  using LoadFn = std::function<Status(Table table, std::string_view key, std::string_view value)>;
  virtual Status LoadEach(const LoadFn& fn);
  // About how many records `table` holds, for presizing before a LoadEach; 0 when the store cannot say
  // (the default). SQLite counts the rows: a scan of the table (~150 ms for a million allocations).
  virtual size_t RowsHint(Table table) { return static_cast<void>(table), 0; }
  // Queues `batch`; `done` runs once it is durable (Status ok) or failed. `done` may run on the store's
  // thread and must not block. An empty batch is a barrier: done runs once everything before it is durable.
  virtual void Commit(Batch batch, std::function<void(const Status&)> done) = 0;
  // Blocks until every queued batch is durable (or failed).
  virtual Status Flush() = 0;
  virtual Result<std::vector<AuditEvent>> Events(const EventQuery& query) = 0;
  // Drops audit events older than `before_ms` (retention). Returns how many.
  virtual Result<int64_t> PruneEvents(int64_t before_ms) = 0;
  virtual StoreStats Stats() const = 0;
  // Flushes and releases the store; later Commits fail.
  virtual void Close() = 0;
  // The store revision the last durable commit (or Load) brought it to: etcd's revision, which orders
  // every change; 0 for stores without one.
  virtual int64_t Revision() const { return 0; }
};

struct SqliteStoreOptions {
  bool synchronous_full = true;   // fsync the WAL on every commit (durable across power loss)
  size_t max_batches_per_transaction = 8192;
};

// Opens (creating if needed) DIR/allot.db. Errors name the path.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir, const SqliteStoreOptions& options = {});
std::unique_ptr<Store> NewMemoryStore();

// Where a server's state lives: `allot serve --store`, and the flags and config keys beside it.
struct StoreConfig {
  std::string kind = "sqlite";           // sqlite (embedded, in data_dir) | memory | etcd (replicated)
  std::string data_dir = "./allot-data"; // sqlite: the directory of allot.db; ":memory:" means kind memory
  bool sync_full = true;                 // sqlite: fsync every group commit
  // etcd: members' client URLs, the key prefix (the leader key is PREFIX/leader), the leader lease TTL
  // (a dead leader is replaced after about this long), keys per transaction (etcd's --max-txn-ops) and
  // this replica's name in the leader key and the members registry (its advertised URL).
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/allot";
  int64_t etcd_lease_ttl_s = 5;          // 1..3600
  size_t etcd_max_txn_ops = 128;         // 8..1048576
  std::string replica_id;
};

// Leadership that an opened store holds (etcd: the leader key under a lease).
class Leadership {
 public:
  virtual ~Leadership() = default;
  virtual bool IsLeader() const = 0;
  // Gives the leadership up at once (deletes the key, revokes the lease): a standby takes over.
  virtual void Resign() = 0;
  // The fencing token (the leader key's value) while this replica leads.
  virtual std::string value() const = 0;
  // The leader key's create revision: larger for every new leader (its term).
  virtual int64_t term() const = 0;
};

struct OpenedStore {
  std::unique_ptr<Store> store;
  std::unique_ptr<Leadership> leadership;  // null for stores that are not replicated
};

// What store::Open reports while it waits to lead, and how it is stopped.
struct OpenHooks {
  std::function<bool()> stop;                          // polled while campaigning: true gives up
  std::function<void()> on_lost;                       // leadership lost after Open returned (once)
  std::function<void(const std::string&)> on_standby;  // the current leader, whenever it changes
};

// ---------------------------------------------------------------------------------------------------
// Replication (etcd): standbys that follow the leader's commits, and the replicas' registry.

// The leader as the leader key names it: its advertised URL (the key's value up to its last '#') and its
// term (the key's create revision, larger for every new leader). `url` is empty while nobody leads.
struct LeaderInfo {
  std::string url;
  int64_t term = 0;
};

// What a follower read: the records changed by the revisions committed since the last call, in commit
// order (a later change of a key replaces an earlier one). Revisions are never split.
struct FollowUpdate {
  int64_t revision = 0;             // the store revision the follower's records are as of now
  std::vector<Mutation> mutations;  // table records put or deleted
  bool leader_changed = false;      // see StoreFollower::Leader()
};

// A standby's read-only view of a replicated store. Load returns every record the follower holds, at
// Revision(); Follow brings them forward by whole committed revisions. Commit and PruneEvents fail (a
// standby never writes); Events reads the audit log from the store.
// Thread-safety: Load and Follow from one thread; Leader, LagSeconds, Revision, Events from any.
class StoreFollower : public Store {
 public:
  // Waits up to `timeout_ms` for revisions committed after Revision() and returns their changes (none
  // when nothing came in time). kUnavailable when the store cannot be reached (the next call reconnects);
  // kFailedPrecondition when the store no longer keeps the history after Revision() (etcd compacted it):
  // Reload, then Follow again.
  virtual Result<FollowUpdate> Follow(int64_t timeout_ms) = 0;
  // Reads every record afresh from the store (after kFailedPrecondition); Load returns them next.
  virtual Status Reload() = 0;
  virtual LeaderInfo Leader() const = 0;
  // How stale the records may be: seconds since the follower last saw this replica's own registration
  // (MemberRegistry) come back from the store, which proves that every change committed before that
  // write was applied. It grows while the store cannot be reached.
  virtual double LagSeconds() const = 0;
};

// A replica as it registered itself (MemberRegistry).
struct MemberInfo {
  std::string url;         // its advertised URL
  std::string role;        // leader | standby
  int64_t revision = 0;    // the store revision its state was as of
  double lag_seconds = 0;  // its replica lag then
  int64_t updated_ms = 0;  // when it wrote this (Unix ms, by its clock)
};

// This replica's entry under PREFIX/members/ (its key is the advertised URL), held by a lease of its own
// (the entry disappears about one lease TTL after the replica dies) and rewritten every `refresh_ms` with
// what `report` says. A standby's follower measures its lag by these rewrites.
// Thread-safety: every method from any thread.
class MemberRegistry {
 public:
  struct Report {
    std::string role;
    int64_t revision = 0;
    double lag_seconds = 0;
  };
  virtual ~MemberRegistry() = default;
  // What the rewrites report from now on (an empty function: the entry is left alone). `report` must be
  // quick; once Set returns, the previous one never runs again.
  virtual void Set(std::function<Report()> report) = 0;
  virtual Result<std::vector<MemberInfo>> List() = 0;
  // The leader key, read now.
  virtual Result<LeaderInfo> Leader() = 0;
};

// Splits "http://a:1,http://b:2" into etcd endpoints; errors name the bad entry.
Result<std::vector<std::string>> ParseEtcdEndpoints(const std::string& list);
// Sets one setting of `config` from text, as `allot serve`'s flags spell them: "store", "etcd-endpoints",
// "etcd-prefix", "etcd-lease-ttl", "etcd-max-txn-ops". Numbers must be whole numbers; ranges are checked
// by ValidateStoreConfig. Errors name the flag.
Status SetStoreFlag(std::string_view flag, const std::string& value, StoreConfig* config);
// The flags SetStoreFlag knows, in help order.
const std::vector<std::string>& StoreFlags();
// Whether `config` can be opened as written (kind known; for etcd: members, prefix, TTL and transaction
// size in range); errors name the setting as its flag does.
Status ValidateStoreConfig(const StoreConfig& config);

namespace store {

// Chooses and opens the store `config` names. For etcd it first campaigns for the leader key and returns
// only once this replica leads (a fenced store: its writes fail once the leadership is lost), or with
// kUnavailable when `hooks.stop` said so. Errors name the setting.
Result<OpenedStore> Open(const StoreConfig& config, const OpenHooks& hooks = {});

// A follower of the etcd store `config` names (config.replica_id: this replica's advertised URL, whose
// registration measures the lag). Reads the first snapshot before it returns; errors name the setting.
Result<std::unique_ptr<StoreFollower>> OpenFollower(const StoreConfig& config);
// Registers config.replica_id under config.etcd_prefix; the entry is written from a thread of its own
// (while etcd is unreachable it keeps trying) and removed when the registry is destroyed.
Result<std::unique_ptr<MemberRegistry>> OpenMemberRegistry(const StoreConfig& config,
                                                           int64_t refresh_ms = 500);
// A store whose first Load returns `snapshot` instead of reading the records, and that is `inner` for
// everything else; Revision() is at least the snapshot's. For records known to equal the store's: a
// standby's, once its follower passed the revision that made this replica the leader (every commit of the
// previous leader came before it, and none can come after), which spares the new leader reading them.
std::unique_ptr<Store> WithSnapshot(std::unique_ptr<Store> inner, Snapshot snapshot);
// The advertised URL in a leader key's value ("URL#random").
std::string LeaderUrlOf(const std::string& leader_value);

// The store kinds Open knows, for help texts and errors.
const std::vector<std::string>& Kinds();

}  // namespace store

}  // namespace allot
