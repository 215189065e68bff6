// SQLite in WAL mode with group commit: one committer thread turns every queued Batch into one
// transaction (one fsync for many requests).
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "allot/store.h"
#include "store/sqlite_wal_vfs.h"

namespace allot {

namespace {

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, const char* sql) {
    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  sqlite3_stmt* get() const { return s_; }
  explicit operator bool() const { return s_ != nullptr; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
// The column's bytes, valid until the statement steps again.
std::string_view ColumnView(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::string_view()
                      : std::string_view(static_cast<const char*>(p), static_cast<size_t>(n));
}

std::string ColumnText(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS kv (tbl INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                               PRIMARY KEY (tbl, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, type TEXT NOT NULL,
                                   id TEXT, node TEXT, tenant TEXT, reason TEXT, by_ TEXT, actor TEXT);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
)";

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override { Close(); }

  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const SqliteStoreOptions& opt) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Internal("data directory " + dir + ": " + ec.message());
    auto s = std::unique_ptr<SqliteStore>(new SqliteStore());
    s->opt_ = opt;
    s->path_ = (std::filesystem::path(dir) / "allot.db").string();
    if (auto st = s->OpenConn(&s->db_); !st.ok()) return st.error();
    std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                          (opt.synchronous_full ? "FULL" : "NORMAL") +
                          "; PRAGMA wal_autocheckpoint=4000; PRAGMA cache_size=-65536;";
    if (auto st = s->Exec(s->db_, pragmas); !st.ok()) return st.error();
    if (auto st = s->Exec(s->db_, kSchema); !st.ok()) return st.error();
    if (auto st = s->OpenConn(&s->reader_); !st.ok()) return st.error();
    s->put_ = Stmt(s->db_, "INSERT OR REPLACE INTO kv (tbl, key, value) VALUES (?1, ?2, ?3)");
    s->del_ = Stmt(s->db_, "DELETE FROM kv WHERE tbl = ?1 AND key = ?2");
    s->ev_ = Stmt(s->db_,
                  "INSERT INTO events (seq, at, type, id, node, tenant, reason, by_, actor) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    s->begin_ = Stmt(s->db_, "BEGIN IMMEDIATE");
    s->commit_ = Stmt(s->db_, "COMMIT");
    if (!s->put_ || !s->del_ || !s->ev_ || !s->begin_ || !s->commit_) {
      return Internal(s->path_ + ": " + sqlite3_errmsg(s->db_));
    }
    {
      Stmt max(s->db_, "SELECT COALESCE(MAX(seq), 0) FROM events");
      if (sqlite3_step(max.get()) == SQLITE_ROW) s->next_seq_ = sqlite3_column_int64(max.get(), 0) + 1;
    }
    s->thread_ = std::thread([p = s.get()] { p->Committer(); });
    return std::unique_ptr<Store>(std::move(s));
  }

  Result<Snapshot> Load() override {
    std::lock_guard<std::mutex> l(reader_mu_);
    Snapshot snap;
    Stmt q(reader_, "SELECT tbl, key, value FROM kv ORDER BY tbl, key");
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      int t = sqlite3_column_int(q.get(), 0);
      if (t < 0 || t >= kNumTables) continue;
      snap.tables[t].emplace_back(ColumnText(q.get(), 1), ColumnText(q.get(), 2));
    }
    if (rc != SQLITE_DONE) return Internal(path_ + ": load: " + sqlite3_errmsg(reader_));
    std::lock_guard<std::mutex> l2(mu_);
    snap.last_event_seq = next_seq_ - 1;
    return snap;
  }

  Status LoadEach(const LoadFn& fn) override {
    std::lock_guard<std::mutex> l(reader_mu_);
    Stmt q(reader_, "SELECT tbl, key, value FROM kv ORDER BY tbl, key");
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      int t = sqlite3_column_int(q.get(), 0);
      if (t < 0 || t >= kNumTables) continue;
      if (Status st = fn(static_cast<Table>(t), ColumnView(q.get(), 1), ColumnView(q.get(), 2)); !st.ok())
        return st;
    }
    if (rc != SQLITE_DONE) return Internal(path_ + ": load: " + sqlite3_errmsg(reader_));
    return Status::Ok();
  }

  size_t RowsHint(Table table) override {
    std::lock_guard<std::mutex> l(reader_mu_);
    Stmt q(reader_, "SELECT COUNT(*) FROM kv WHERE tbl = ?1");
    if (!q) return 0;
    sqlite3_bind_int(q.get(), 1, static_cast<int>(table));
    return sqlite3_step(q.get()) == SQLITE_ROW ? static_cast<size_t>(sqlite3_column_int64(q.get(), 0)) : 0;
  }

  void Commit(Batch batch, std::function<void(const Status&)> done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!closed_) {
        bool wake = queue_.empty();
        queue_.push_back({std::move(batch), std::move(done)});
        if (wake || queue_.size() == linger_for_) cv_.notify_one();
        return;
      }
    }
    if (done) done(Status(Error{ErrorCode::kUnavailable, "the store is closed"}));
  }

  Status Flush() override {
    std::unique_lock<std::mutex> l(mu_);
    uint64_t target = enqueued_total_ + queue_.size();
    idle_cv_.wait(l, [&] { return finished_total_ >= target || closed_; });
    return Status::Ok();
  }

  Result<std::vector<AuditEvent>> Events(const EventQuery& q) override {
    std::string sql =
        "SELECT seq, at, type, id, node, tenant, reason, by_, actor FROM events WHERE seq > ?1 AND at >= ?2";
    if (!q.id.empty()) sql += " AND id = ?3";
    if (!q.tenants.empty()) {
      sql += " AND (";
      for (size_t i = 0; i < q.tenants.size(); i++) {
        int a = 10 + static_cast<int>(2 * i);
        sql += (i ? " OR " : "") + std::string("tenant = ?") + std::to_string(a) +
               " OR substr(tenant, 1, length(?" + std::to_string(a + 1) + ")) = ?" + std::to_string(a + 1);
      }
      sql += ")";
    }
    sql += " ORDER BY seq LIMIT ?4";
    std::lock_guard<std::mutex> l(reader_mu_);
    Stmt s(reader_, sql.c_str());
    if (!s) return Internal(path_ + ": events query: " + sqlite3_errmsg(reader_));
    sqlite3_bind_int64(s.get(), 1, q.after_seq);
    sqlite3_bind_int64(s.get(), 2, q.since_ms);
    if (!q.id.empty()) BindText(s.get(), 3, q.id);
    sqlite3_bind_int64(s.get(), 4, static_cast<int64_t>(q.limit));
    std::vector<std::string> prefixes;
    prefixes.reserve(q.tenants.size());
    for (size_t i = 0; i < q.tenants.size(); i++) {
      int a = 10 + static_cast<int>(2 * i);
      prefixes.push_back(q.tenants[i] + "/");
      BindText(s.get(), a, q.tenants[i]);
      BindText(s.get(), a + 1, prefixes.back());
    }
    std::vector<AuditEvent> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      AuditEvent e;
      e.seq = sqlite3_column_int64(s.get(), 0);
      e.at = sqlite3_column_int64(s.get(), 1);
      e.type = ColumnText(s.get(), 2);
      e.id = ColumnText(s.get(), 3);
      e.node = ColumnText(s.get(), 4);
      e.tenant = ColumnText(s.get(), 5);
      e.reason = ColumnText(s.get(), 6);
      e.by = ColumnText(s.get(), 7);
      e.actor = ColumnText(s.get(), 8);
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return Internal(path_ + ": events query: " + sqlite3_errmsg(reader_));
    return out;
  }

  Result<int64_t> PruneEvents(int64_t before_ms) override {
    // Goes through the committer's connection, between transactions.
    std::lock_guard<std::mutex> l(write_mu_);
    if (db_ == nullptr) return Error{ErrorCode::kUnavailable, "the store is closed"};
    Stmt s(db_, "DELETE FROM events WHERE at < ?1");
    sqlite3_bind_int64(s.get(), 1, before_ms);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Internal(path_ + ": prune: " + sqlite3_errmsg(db_));
    return static_cast<int64_t>(sqlite3_changes(db_));
  }

  StoreStats Stats() const override {
    std::lock_guard<std::mutex> l(mu_);
    StoreStats s = stats_;
    s.pending = queue_.size();
    s.memory_bytes = sqlite3_memory_used();  // every connection's: this process has one store
    return s;
  }

  void Close() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_ && !thread_.joinable()) return;
      closed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    idle_cv_.notify_all();
    std::lock_guard<std::mutex> l(write_mu_);
    put_ = Stmt();
    del_ = Stmt();
    ev_ = Stmt();
    begin_ = Stmt();
    commit_ = Stmt();
    if (db_ != nullptr) {
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      sqlite3_close_v2(db_);
      db_ = nullptr;
    }
    std::lock_guard<std::mutex> l2(reader_mu_);
    if (reader_ != nullptr) sqlite3_close_v2(reader_);
    reader_ = nullptr;
  }

 private:
  SqliteStore() = default;

  struct Pending {
    Batch batch;
    std::function<void(const Status&)> done;
  };

  Status OpenConn(sqlite3** db) {
    // With a sync at every commit, the log's frames go to the file in one write (store/sqlite_wal_vfs.h).
    const char* vfs = opt_.synchronous_full ? store::WalBatchingVfs() : nullptr;
    int rc = sqlite3_open_v2(path_.c_str(), db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc != SQLITE_OK) return Internal("cannot open " + path_ + ": " + sqlite3_errstr(rc));
    sqlite3_busy_timeout(*db, 5000);
    return Status::Ok();
  }

  Status Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "unknown error";
      sqlite3_free(err);
      return Internal(path_ + ": " + m);
    }
    return Status::Ok();
  }

  Status Step(const Stmt& s) {
    int rc = sqlite3_step(s.get());
    sqlite3_reset(s.get());
    if (rc != SQLITE_DONE) return Internal(path_ + ": " + sqlite3_errmsg(db_));
    return Status::Ok();
  }

  Status Apply(Batch& b) {
    for (const auto& m : b.mutations) {
      const Stmt& s = m.op == Mutation::Op::kPut ? put_ : del_;
      sqlite3_bind_int(s.get(), 1, static_cast<int>(m.table));
      BindText(s.get(), 2, m.key);
      if (m.op == Mutation::Op::kPut) {
        sqlite3_bind_blob(s.get(), 3, m.value.data(), static_cast<int>(m.value.size()), SQLITE_STATIC);
      }
      if (auto st = Step(s); !st.ok()) return st;
    }
    for (auto& e : b.events) {
      e.seq = next_seq_++;
      sqlite3_bind_int64(ev_.get(), 1, e.seq);
      sqlite3_bind_int64(ev_.get(), 2, e.at);
      BindText(ev_.get(), 3, e.type);
      BindText(ev_.get(), 4, e.id);
      BindText(ev_.get(), 5, e.node);
      BindText(ev_.get(), 6, e.tenant);
      BindText(ev_.get(), 7, e.reason);
      BindText(ev_.get(), 8, e.by);
      BindText(ev_.get(), 9, e.actor);
      if (auto st = Step(ev_); !st.ok()) return st;
    }
    return Status::Ok();
  }

  // Group commit with fsync lingers: the batches a transaction made durable were answered as it ended, and
  // their clients (each waiting for its answer before sending the next) send again at once. Taking only what
  // queued meanwhile would split the clients into two groups whose transactions alternate, each half full
  // and each request waiting for two fsyncs; so the next transaction waits, up to half the last one's time
  // (at most kMaxLinger), until as many batches as were answered have come in beside those queued. A lone
  // client does not wait (its request is what the committer waits for anyway), and without fsync nothing
  // lingers.
  static constexpr auto kMaxLinger = std::chrono::microseconds(1000);

  void Committer() {
    std::vector<Pending> work;
    size_t answered = 0;       // batches the last transaction made durable
    size_t queued_at_end = 0;  // batches queued when it ended
    std::chrono::steady_clock::time_point ended{};
    std::chrono::nanoseconds took{0};
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return closed_ || !queue_.empty(); });
        if (opt_.synchronous_full && answered > 0 && !closed_) {
          size_t want = std::min(queued_at_end + answered, opt_.max_batches_per_transaction);
          if (queue_.size() < want) {
            linger_for_ = want;
            stats_.lingers++;
            cv_.wait_until(l, ended + std::min<std::chrono::nanoseconds>(took / 2, kMaxLinger),
                           [&] { return closed_ || queue_.size() >= want; });
            linger_for_ = 0;
          }
        }
        if (queue_.empty() && closed_) return;
        size_t n = std::min(queue_.size(), opt_.max_batches_per_transaction);
        for (size_t i = 0; i < n; i++) {
          work.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        enqueued_total_ += n;
      }
      Status st;
      bool wrote = false;
      auto began = std::chrono::steady_clock::now();
      {
        std::lock_guard<std::mutex> wl(write_mu_);
        for (auto& p : work) wrote |= !p.batch.empty();
        if (wrote) {
          int64_t seq_before = next_seq_;
          st = Step(begin_);
          for (size_t i = 0; st.ok() && i < work.size(); i++) st = Apply(work[i].batch);
          if (st.ok()) st = Step(commit_);
          if (!st.ok()) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            next_seq_ = seq_before;
          }
        }
      }
      {
        // What queued during the transaction, counted before its clients hear back (and send again).
        std::lock_guard<std::mutex> l(mu_);
        queued_at_end = queue_.size();
      }
      for (auto& p : work) {
        if (p.done) p.done(st);
      }
      ended = std::chrono::steady_clock::now();
      took = ended - began;
      answered = wrote ? work.size() : 0;
      {
        std::lock_guard<std::mutex> l(mu_);
        finished_total_ += work.size();
        if (wrote) stats_.transactions++;
        stats_.batches += work.size();
        if (!st.ok()) stats_.failures++;
      }
      idle_cv_.notify_all();
      work.clear();
    }
  }

  SqliteStoreOptions opt_;
  std::string path_;
  sqlite3* db_ = nullptr;      // the committer's connection (guarded by write_mu_)
  sqlite3* reader_ = nullptr;  // queries (guarded by reader_mu_)
  Stmt put_, del_, ev_, begin_, commit_;
  int64_t next_seq_ = 1;  // guarded by write_mu_ (and read under mu_ by Load before commits)
  std::mutex write_mu_;
  std::mutex reader_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Pending> queue_;
  size_t linger_for_ = 0;  // while the committer lingers: the queue length that wakes it (guarded by mu_)
  uint64_t enqueued_total_ = 0;  // taken by the committer
  uint64_t finished_total_ = 0;
  bool closed_ = false;
  StoreStats stats_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& dir, const SqliteStoreOptions& options) {
  return SqliteStore::Open(dir, options);
}

}  // namespace allot
