// The log-batching VFS: a transaction's frames reach the file in few writes, another connection sees a
// commit as soon as it returns, and the database stays whole for the plain VFS, also when SQLite rewrites
// frames in place (a transaction larger than the page cache).
#include "store/sqlite_wal_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "support.h"

namespace allot::store {
namespace {

sqlite3* OpenDb(const std::string& path, const char* vfs) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
  return db;
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
  sqlite3_free(err);
}

int64_t Scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

std::string Text(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string v;
  if (sqlite3_step(s) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  return v;
}

TEST(WalBatchingVfsTest, FramesGoOutTogetherAndAreSeenAtOnceAndTheFileStaysWhole) {
  const char* vfs = WalBatchingVfs();
  ASSERT_NE(vfs, nullptr);
  testing::TempDir dir;
  const std::string path = dir.path() + "/t.db";
  sqlite3* w = OpenDb(path, vfs);
  Exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
  sqlite3* r = OpenDb(path, vfs);  // a second connection, as the store's reader

  // One transaction of 200 rows of 1 KiB: some 50 pages, each a frame of the log.
  WalBatchingStats before = WalBatchingCounters();
  Exec(w,
       "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
       "INSERT INTO t SELECT i, randomblob(1024) FROM n; COMMIT");
  WalBatchingStats after = WalBatchingCounters();
  EXPECT_GE(after.writes_in - before.writes_in, 40u);
  // The frames (~210 KiB) in writes of at most 128 KiB, and perhaps the log's header.
  EXPECT_LE(after.writes_out - before.writes_out, 4u);
  EXPECT_EQ(Scalar(r, "SELECT count(*) FROM t"), 200);

  // Many small commits, each seen by the other connection as soon as it returns.
  for (int i = 0; i < 100; i++) {
    Exec(w, "INSERT INTO t VALUES (" + std::to_string(1000 + i) + ", randomblob(100))");
    ASSERT_EQ(Scalar(r, "SELECT count(*) FROM t"), 201 + i);
  }

  // A transaction larger than a tiny page cache: pages spill to the log before the commit and are written
  // again in place (frames rewritten: writes that do not append).
  Exec(w,
       "PRAGMA cache_size=2; BEGIN; UPDATE t SET v = randomblob(900) WHERE k <= 200; "
       "UPDATE t SET v = zeroblob(800) WHERE k % 2 = 0; COMMIT");
  EXPECT_EQ(Scalar(r, "SELECT count(*) FROM t WHERE length(v) = 800"), 150);
  EXPECT_EQ(Text(r, "PRAGMA integrity_check"), "ok");
  // A checkpoint reads the log through the writer's own file.
  EXPECT_EQ(Scalar(w, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
  Exec(w, "INSERT INTO t VALUES (5000, x'00')");
  sqlite3_close(r);
  sqlite3_close(w);

  // The plain VFS reads it all back.
  sqlite3* plain = OpenDb(path, nullptr);
  EXPECT_EQ(Scalar(plain, "SELECT count(*) FROM t"), 301);
  EXPECT_EQ(Scalar(plain, "SELECT count(*) FROM t WHERE length(v) = 800"), 150);
  EXPECT_EQ(Text(plain, "PRAGMA integrity_check"), "ok");
  sqlite3_close(plain);
}

}  // namespace
}  // namespace allot::store
