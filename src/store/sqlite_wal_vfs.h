// A SQLite VFS over the platform's default one whose write-ahead-log files gather the frames a transaction
// appends and hand them to the file system in one write when SQLite syncs the log (or before anything
// reads, sizes or truncates it). A group commit appends one frame per changed page (a dozen writes of
// 4 KiB each); on a machine where a system call costs microseconds that is a tenth of the commit.
// Every other file, and every other call, goes to the default VFS unchanged.
#pragma once

#include <cstdint>

namespace allot::store {

// Registers the VFS (once; thread-safe) and returns its name for sqlite3_open_v2, or nullptr when it could
// not be registered (then the default VFS serves).
const char* WalBatchingVfs();

// Writes issued by SQLite to the log files of this VFS, and writes the VFS issued to the file system for
// them, over the process's lifetime (all databases).
struct WalBatchingStats {
  uint64_t writes_in = 0;
  uint64_t writes_out = 0;
};
WalBatchingStats WalBatchingCounters();

}  // namespace allot::store
