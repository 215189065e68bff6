// The durable encoding of the history: one tier point of every series that changed (a row), in records
// of at most kPartBytes under keys "r/<step, 8 digits>/<t, 12 digits>/<part, 3 digits>", so key order is
// tier, then time, then part.
//
// A record: version byte (1), varints flags (bit 0: full row), step, t, prev_t (the tier's row before this
// one; 0 for a full row), part, parts, entries; then the entries, series ids increasing:
//   varint id (minus the previous entry's id in this record), varint h = changed << 2 | presence_changed << 1
//   | key_follows, the presence mask (one byte) if it changed, the series key if it was absent before
//   (key_follows: byte scope, varint length + name, varint length + resource), then for each field in
//   `changed` its value minus the previous row's, a zigzag varint.
// In a full row the previous row is taken as empty (every present series is listed, with its key); in a
// delta row a series not listed is unchanged and one listed with an empty presence mask is gone.
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "allot/history.h"

namespace allot::history::internal {

struct RowHead {
  int64_t step = 0, t = 0, prev_t = 0;
  bool full = false;
  uint32_t part = 0, parts = 1, entries = 0;
};

std::string RowKey(int64_t step, int64_t t, uint32_t part);
bool ParseRowKey(std::string_view key, int64_t* step, int64_t* t, uint32_t* part);

// A series key as rows carry it.
struct KeyRef {
  Scope scope = Scope::kCluster;
  std::string_view name, resource;
};

// Builds the records of one row.
class RowWriter {
 public:
  RowWriter(int64_t step, int64_t t, int64_t prev_t, bool full);
  // A series whose point changed from `before` (its previous row's; empty when absent) to `now` (empty:
  // gone). `key` is written when `before` is empty.
  void Add(uint32_t id, const Point& before, const Point& now, const KeyRef& key);
  // The records' keys and values, in part order.
  std::vector<std::pair<std::string, std::string>> Finish();

 private:
  void Close();
  RowHead head_;
  std::vector<std::pair<std::string, uint32_t>> parts_;  // body, entries
  std::string body_;
  uint32_t entries_ = 0, last_id_ = 0;
};

// One decoded entry of a row record.
struct RowEntry {
  uint32_t id = 0;
  bool has_key = false;
  KeyRef key;
  bool presence_changed = false;
  uint8_t presence = 0;
  uint8_t changed = 0;
  int64_t delta[kNumFields] = {};
};

// Reads a record's header; false when it is not one this version writes.
bool ReadRowHead(std::string_view value, RowHead* head, size_t* pos);
// Reads the next entry after *pos (ids as deltas from *last_id, which it updates); false at a malformed one.
bool ReadRowEntry(std::string_view value, size_t* pos, uint32_t* last_id, RowEntry* e);

}  // namespace allot::history::internal
