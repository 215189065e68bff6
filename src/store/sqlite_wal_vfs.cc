// A VFS over the default one that gathers a log file's appended frames into one write (see the header).
//
// Why it is safe with synchronous=FULL (the only way the store uses it): SQLite makes frames visible to
// other connections by updating the log's index after syncing the log at commit, and here a sync writes
// the gathered frames first; reads, size queries, truncation, file controls and close of the log also
// write them first, so the connection that wrote them reads them back. Without a sync at every commit
// (synchronous=NORMAL or OFF) the index would name frames not yet written: the store does not use the VFS
// then.
#include "store/sqlite_wal_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <new>
#include <string>

namespace allot::store {
namespace {

constexpr const char* kName = "allot-wal-batching";
// The most one write may carry: the default unix VFS writes at most 128 KiB - 1 bytes a call (it masks the
// count with 0x1ffff), so a larger write would come back short, as if the disk were full.
constexpr size_t kMaxGathered = 0x1ffff;

sqlite3_vfs* g_base = nullptr;  // the default VFS, which does the I/O
sqlite3_vfs g_vfs;
std::atomic<uint64_t> g_writes_in{0}, g_writes_out{0};

struct Gathered {
  std::string bytes;
  sqlite3_int64 at = 0;  // file offset of bytes[0]
};

// A log file. Every other file is the default VFS's own object, opened in place (see Open).
struct LogFile {
  sqlite3_file base;   // pMethods = &kLogMethods
  sqlite3_file* real;  // the default VFS's file, in the same allocation after this struct
  Gathered* gathered;
};

int Flush(LogFile* f) {
  Gathered& g = *f->gathered;
  if (g.bytes.empty()) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, g.bytes.data(), static_cast<int>(g.bytes.size()), g.at);
  g_writes_out.fetch_add(1, std::memory_order_relaxed);
  g.bytes.clear();  // on failure too: SQLite fails the transaction, and its frames are never read
  return rc;
}

LogFile* Log(sqlite3_file* f) { return reinterpret_cast<LogFile*>(f); }

int LogClose(sqlite3_file* pf) {
  LogFile* f = Log(pf);
  int rc = Flush(f);
  int rc2 = f->real->pMethods->xClose(f->real);
  delete f->gathered;
  f->gathered = nullptr;
  return rc != SQLITE_OK ? rc : rc2;
}

int LogRead(sqlite3_file* pf, void* out, int n, sqlite3_int64 at) {
  LogFile* f = Log(pf);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xRead(f->real, out, n, at);
}

int LogWrite(sqlite3_file* pf, const void* data, int n, sqlite3_int64 at) {
  LogFile* f = Log(pf);
  Gathered& g = *f->gathered;
  g_writes_in.fetch_add(1, std::memory_order_relaxed);
  // Not an append (what came before goes first), or more than one write may carry: written out first.
  if (!g.bytes.empty() && (at != g.at + static_cast<sqlite3_int64>(g.bytes.size()) ||
                           g.bytes.size() + static_cast<size_t>(n) > kMaxGathered)) {
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  }
  if (g.bytes.empty()) g.at = at;
  g.bytes.append(static_cast<const char*>(data), static_cast<size_t>(n));
  return SQLITE_OK;
}

int LogTruncate(sqlite3_file* pf, sqlite3_int64 size) {
  LogFile* f = Log(pf);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xTruncate(f->real, size);
}

int LogSync(sqlite3_file* pf, int flags) {
  LogFile* f = Log(pf);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xSync(f->real, flags);
}

int LogFileSize(sqlite3_file* pf, sqlite3_int64* size) {
  LogFile* f = Log(pf);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

int LogLock(sqlite3_file* pf, int level) { return Log(pf)->real->pMethods->xLock(Log(pf)->real, level); }
int LogUnlock(sqlite3_file* pf, int level) { return Log(pf)->real->pMethods->xUnlock(Log(pf)->real, level); }
int LogCheckReservedLock(sqlite3_file* pf, int* out) {
  return Log(pf)->real->pMethods->xCheckReservedLock(Log(pf)->real, out);
}

int LogFileControl(sqlite3_file* pf, int op, void* arg) {
  LogFile* f = Log(pf);
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;  // some (size hints, chunking) touch the file
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int LogSectorSize(sqlite3_file* pf) { return Log(pf)->real->pMethods->xSectorSize(Log(pf)->real); }
int LogDeviceCharacteristics(sqlite3_file* pf) {
  return Log(pf)->real->pMethods->xDeviceCharacteristics(Log(pf)->real);
}

// Version 1: SQLite maps memory (xFetch) and shares memory (xShm*) through the database file, never the log.
const sqlite3_io_methods kLogMethods = {
    1,
    LogClose,
    LogRead,
    LogWrite,
    LogTruncate,
    LogSync,
    LogFileSize,
    LogLock,
    LogUnlock,
    LogCheckReservedLock,
    LogFileControl,
    LogSectorSize,
    LogDeviceCharacteristics,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* pf, int flags, int* out_flags) {
  if ((flags & SQLITE_OPEN_WAL) == 0) return g_base->xOpen(g_base, name, pf, flags, out_flags);
  LogFile* f = Log(pf);
  f->base.pMethods = nullptr;  // until the real file is open: SQLite then closes nothing
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  int rc = g_base->xOpen(g_base, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  f->gathered = new (std::nothrow) Gathered();
  if (f->gathered == nullptr) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_NOMEM;
  }
  f->base.pMethods = &kLogMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_base->xDelete(g_base, name, sync_dir); }
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_base->xAccess(g_base, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_base->xFullPathname(g_base, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_base->xDlOpen(g_base, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_base->xDlError(g_base, n, out); }
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) { return g_base->xDlSym(g_base, h, sym); }
void DlClose(sqlite3_vfs*, void* h) { g_base->xDlClose(g_base, h); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_base->xRandomness(g_base, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_base->xSleep(g_base, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_base->xCurrentTime(g_base, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) { return g_base->xGetLastError(g_base, n, out); }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) { return g_base->xCurrentTimeInt64(g_base, out); }

}  // namespace

const char* WalBatchingVfs() {
  static const char* name = []() -> const char* {
    g_base = sqlite3_vfs_find(nullptr);
    if (g_base == nullptr || g_base->iVersion < 2 || g_base->xCurrentTimeInt64 == nullptr) return nullptr;
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 2;
    // Room for a log file (this VFS's part, then the default VFS's file); other files use the front only.
    g_vfs.szOsFile = static_cast<int>(sizeof(LogFile)) + g_base->szOsFile;
    g_vfs.mxPathname = g_base->mxPathname;
    g_vfs.zName = kName;
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xDlOpen = DlOpen;
    g_vfs.xDlError = DlError;
    g_vfs.xDlSym = DlSym;
    g_vfs.xDlClose = DlClose;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    return sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK ? kName : nullptr;
  }();
  return name;
}

WalBatchingStats WalBatchingCounters() {
  return {g_writes_in.load(std::memory_order_relaxed), g_writes_out.load(std::memory_order_relaxed)};
}

}  // namespace allot::store
