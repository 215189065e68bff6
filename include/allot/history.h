// Amount history: time series of capacity, allocated, used and queued amounts per scope (cluster, pool,
// node, tenant), name and resource, sampled at a fixed interval and averaged into tiers of coarser
// resolution and longer retention (by default 15 s points kept 24 h and 5 min points kept 30 days).
//
// A Db keeps every tier in memory, compressed per series in blocks of kBlockRows tier points (each point a
// delta against the one before it, and a run of unchanged points one token, so a series that does not
// change costs a few bytes per block). It tells its caller what to persist: each point of a tier is one
// "row", stored as the series that changed since the tier's previous row (every kKeyframeRows rows, and
// after Resync, a full row), split into records of at most kPartBytes under keys of one store table
// (Table::kHistory). Load rebuilds the Db from those records; a delta row whose predecessor is missing (a
// failed commit) is skipped up to the next full row. Retention drops whole groups of rows (a full row and
// its deltas), so the store keeps up to kKeyframeRows points of a tier beyond its `keep`.
//
// Amounts are int64 in internal units (allot/resources.h); the averages are exact for constant series
// and rounded half away from zero otherwise. Time is Unix seconds. The Db does no I/O and reads no clock.
// Thread-safety: none; callers serialise access (the server holds a lock around its Db).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/result.h"

namespace allot::history {

enum class Scope : uint8_t { kCluster = 0, kPool = 1, kNode = 2, kTenant = 3 };
inline constexpr int kNumScopes = 4;
const char* ScopeName(Scope s);  // "cluster", "pool", "node", "tenant"
std::optional<Scope> ParseScope(std::string_view name);

// The four amounts of a point, in this order.
enum Field : int { kCapacity = 0, kAllocated = 1, kUsed = 2, kQueued = 3 };
inline constexpr int kNumFields = 4;
const char* FieldName(int field);  // "capacity", "allocated", "used", "queued"

// One observation of one series: each field has a value or is absent (its value is then 0).
struct Point {
  std::array<int64_t, kNumFields> value{};
  uint8_t present = 0;  // bit f: field f has a value
  bool has(int f) const { return (present >> f) & 1; }
  void set(int f, int64_t v) {
    value[static_cast<size_t>(f)] = v;
    present = static_cast<uint8_t>(present | (1 << f));
  }
  bool operator==(const Point&) const = default;
};

// A tier: points of `step_s` seconds (averages of the samples in them), kept `keep_s` seconds. Node series
// are kept only in tiers with `nodes`.
struct Tier {
  int64_t step_s = 15;
  int64_t keep_s = 86400;
  bool nodes = false;
};

// Config `history:` (docs/server-config.md).
struct Options {
  int64_t interval_s = 15;  // how often the server samples; 0: no history
  std::vector<Tier> tiers{{15, 86400, false}, {300, 30 * 86400, true}};
  std::vector<std::string> node_resources{"cpu", "memory", "gpu"};  // canonical names; empty: every resource
};
// Tiers: 1-8 of them, steps increasing, each a multiple of the interval and of the step before it, keep at
// least the step and at most 10 years; interval 1 s - 1 day (or 0). Errors name the key as the config does.
Status ValidateOptions(const Options& options);

inline constexpr int64_t kBlockRows = 720;       // tier points per in-memory block
inline constexpr int64_t kKeyframeRows = 720;    // rows from one full row to the next
inline constexpr size_t kPartBytes = 128 << 10;  // largest record of a row
inline constexpr int64_t kMaxSteps = 10'080;     // (to - from) / step of one read: 7 days of minutes
inline constexpr int64_t kNull = INT64_MIN;      // "no value" in read answers

// One sample of every series, built by the sampler and given to Db::Add.
class Frame {
 public:
  void Add(Scope scope, std::string_view name, std::string_view resource, const Point& point);
  void Clear();
  size_t size() const { return entries_.size(); }

 private:
  friend class Db;
  struct Entry {
    size_t offset = 0, length = 0;  // the series key in keys_
    Point point;
  };
  std::string keys_;
  std::vector<Entry> entries_;
};

// A change of the history table: a put, or a delete when `del`.
struct Write {
  std::string key, value;
  bool del = false;
};

struct Query {
  Scope scope = Scope::kCluster;
  std::string name;
  std::string resource;  // "": every resource of the series
  int64_t from = 0, to = 0;
  int64_t step = 0;  // 0: the resolution of the tier read
};

struct SeriesData {
  std::string resource;
  std::vector<int64_t> t;                               // step starts with at least one point
  std::array<std::vector<int64_t>, kNumFields> values;  // kNull where no point of the step had the field
};

struct Answer {
  int64_t from = 0, to = 0, step = 0, resolution = 0;
  std::vector<SeriesData> series;  // in resource order (cpu, memory, gpu, ephemeral-storage, network, others)
};

// Why a read was refused: the query parameter at fault and the error (kInvalidArgument or kNotFound).
struct ReadError {
  std::string field;
  Error error;
};

// Sums over a window of one series, for averages and ratios (Db::Summarize).
struct Totals {
  std::array<double, kNumFields> sum{};
  std::array<int64_t, kNumFields> count{};
  double used_paired = 0, allocated_paired = 0;  // over the points that have both used and allocated
  int64_t paired = 0;
};

struct Stats {
  size_t series = 0;
  size_t memory_bytes = 0;  // encoded blocks and per-series state (an estimate of the heap it holds)
  size_t stored_bytes = 0;  // keys and values of the records the store keeps
  size_t records = 0;
  std::vector<int64_t> points;  // per tier: rows held in memory
};

class Db {
 public:
  // REQUIRES: ValidateOptions(options).ok()
  explicit Db(Options options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  const Options& options() const { return options_; }

  // Rebuilds the history from the records of its table (any order), as of `now`. Records it cannot use
  // (unknown keys, rows of steps no tier has, incomplete or broken chains, past retention) are appended to
  // *fixes as deletes.
  void Load(const std::vector<std::pair<std::string, std::string>>& records, int64_t now,
            std::vector<Write>* fixes);

  // Adds the sample taken at `t` (later than the previous one; an earlier or equal one is ignored). A tier
  // whose step `t` leaves gets its point (a row), and retention runs; the store writes, in the order they
  // must be committed, are appended to *out.
  void Add(int64_t t, const Frame& frame, std::vector<Write>* out);

  // After writes were lost (a failed commit): the next row of every tier is a full one.
  void Resync();

  // The points of q.scope / q.name in [q.from, q.to], averaged per q.step, as of `now` (docs/http-api.md,
  // GET /v1/history, says which tier is read and what is refused).
  Result<Answer> Read(const Query& q, int64_t now, ReadError* error) const;

  // For every series of `scope`: its sums over the points in [from, to] of the coarsest tier whose
  // retention reaches `from` (as of `now`) and that has at least 100 points in the window, else of the
  // finest that reaches `from`. Returns that tier's step.
  int64_t Summarize(Scope scope, int64_t from, int64_t to, int64_t now,
                    const std::function<void(const std::string& name, const std::string& resource,
                                             const Totals& totals)>& fn) const;

  // Whether `name` has any series in `scope`.
  bool Known(Scope scope, std::string_view name) const;

  Stats stats() const;

  struct Impl;

 private:
  Options options_;
  std::unique_ptr<Impl> impl_;
};

// The unit of a resource's amounts in API answers: millicores, bytes, devices, bits_per_second or count.
const char* UnitOf(std::string_view resource);
// Sort rank of a resource in answers: cpu, memory, gpu, ephemeral-storage, network, then the others.
int ResourceRank(std::string_view resource);

}  // namespace allot::history
