// The state behind history::Db (allot/history.h): series by id and by key, per tier the rows in memory
// and in the store, and per series and tier its column, its point in the tier's last row and the sums of
// the samples of the tier's open step.
// Thread-safety: none.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "allot/history.h"
#include "history/column.h"
#include "history/rows.h"

namespace allot::history {

// The sums of one series' samples in the open step of a tier: each field's average is
// base + round(delta_sum / n), exact for a constant series.
struct Accumulator {
  int64_t bucket = INT64_MIN;  // the step's start; INT64_MIN: none
  std::array<int64_t, kNumFields> base{}, delta_sum{};
  std::array<int32_t, kNumFields> n{};
  void Add(const Point& p);
  Point Average() const;
};

struct SeriesState {
  uint32_t id = 0;
  Scope scope = Scope::kCluster;
  std::string name, resource;
  std::string key;  // KeyOf(scope, name, resource)
  struct PerTier {
    internal::Column column;
    Point row;  // in the tier's last row (present 0: absent)
    Accumulator acc;
  };
  std::vector<PerTier> tiers;
};

struct TierState {
  Tier tier;
  int64_t open_bucket = INT64_MIN;  // the step samples go to now
  std::deque<int64_t> row_times;    // t of each row in memory, oldest first
  int64_t row_base = 0;             // row index of row_times.front()
  int64_t next_row = 0;
  int64_t last_t = -1;     // the last row's t (the next delta row's prev_t); -1: none
  int64_t since_full = 0;  // rows since the last full row
  bool force_full = true;
  struct Stored {
    int64_t t = 0;
    uint32_t parts = 0;
    bool full = false;
    size_t bytes = 0;
  };
  std::deque<Stored> stored;  // rows in the store, oldest first
  // Row indices [lo, hi] of the rows with t in [from, to] (lo > hi: none).
  std::pair<int64_t, int64_t> Rows(int64_t from, int64_t to) const;
};

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Db::Impl {
  std::vector<TierState> tiers;
  std::map<uint32_t, SeriesState> series;  // by id: rows list series in id order
  std::unordered_map<std::string, SeriesState*, TransparentHash, std::equal_to<>> by_key;
  std::array<std::map<std::string, std::vector<uint32_t>, std::less<>>, kNumScopes> names;
  uint32_t next_id = 1;
  int64_t last_sample = INT64_MIN;
  std::vector<std::string> node_resources;
  bool any_nodes = false;  // some tier keeps node series

  static std::string KeyOf(Scope scope, std::string_view name, std::string_view resource);
  bool KeepsNode(std::string_view resource) const;
  SeriesState& Intern(Scope scope, std::string_view name, std::string_view resource, uint32_t id = 0);
  void Forget(std::map<uint32_t, SeriesState>::iterator it);
  // Closes tier i's open step: its row (store writes into *out), then retention as of `now`.
  void Flush(size_t i, int64_t now, std::vector<Write>* out);
  void Retain(size_t i, int64_t now, std::vector<Write>* out);
  // Drops series that hold nothing any more.
  void Collect();
  // Load: decodes one tier's rows (sorted by t) into the columns.
  void LoadTier(size_t i,
                std::map<int64_t, std::vector<std::pair<const std::string*, const std::string*>>>& rows,
                std::vector<Write>* fixes);
  bool ApplyRow(size_t i, const std::vector<std::pair<const std::string*, const std::string*>>& parts,
                std::vector<internal::RowHead>& heads);
};

}  // namespace allot::history
