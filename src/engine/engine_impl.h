// Internal state of allot::Engine. Not part of the public API.
//
// Layout: node columns are stored per resource slot (structure of arrays) so the filter+score scan over
// all nodes touches contiguous int64 arrays. Allocations live in a deque (stable addresses) indexed by
// id; their per-unit requests are a small sparse list of (slot, amount). Tenants form a tree whose
// usage is kept per subtree.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <algorithm>
#include <functional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "allot/engine.h"
#include "allot/resources.h"
#include "engine/gpu_fragmentation.h"
#include "engine/scorer.h"

namespace allot {

inline constexpr uint32_t kNone = 0xffffffffu;
inline constexpr TimeMs kForever = INT64_MAX;

// A request's per-unit amounts: up to 6 inline (slot, amount) pairs, more on the heap. Explicit zeros are
// kept (an explicit `cpu: 0` differs from no cpu request in kube-scheduler's non-zero defaults).
class SmallRes {
 public:
  void Set(uint16_t slot, int64_t amount);
  int64_t Get(uint16_t slot) const;  // 0 if absent
  bool Has(uint16_t slot) const;
  size_t size() const { return n_ + (more_ ? more_->size() : 0); }
  uint16_t slot(size_t i) const { return i < n_ ? slots_[i] : (*more_)[i - n_].first; }
  int64_t amount(size_t i) const { return i < n_ ? amounts_[i] : (*more_)[i - n_].second; }

 private:
  uint16_t slots_[6] = {};
  int64_t amounts_[6] = {};
  uint8_t n_ = 0;
  std::unique_ptr<std::vector<std::pair<uint16_t, int64_t>>> more_;
};

struct AllocExtra {
  std::string workflow, reason, preempted_by, reservation;
  ResourceMap limits;
  Labels selector;
  std::vector<Toleration> tolerations;
  std::vector<uint32_t> nodes;  // gang units beyond the first
  std::string gpu_model;
  std::vector<std::pair<uint32_t, uint8_t>> gpu_devices;  // (node, device) held, every unit
  bool gpu_released = false;  // devices given back (kept in gpu_devices for reporting)
  uint64_t eligible_epoch = 0;  // topology_epoch of eligible_count
  size_t eligible_count = 0;    // schedulable nodes it could ever use (for FCFS holds)
};

struct Alloc {
  std::string id;
  SmallRes req;
  uint64_t seq = 0;
  TimeMs submitted = 0, started = -1, ended = -1, expires = -1, duration = -1, wait_deadline = -1;
  uint32_t tenant = 0;
  uint32_t node = kNone;  // first unit's node
  int32_t priority = 2;
  uint16_t count = 1;
  AllocState state = AllocState::kQueued;
  bool preemptible = false, ttl = false, spread = false, live = true;
  int32_t reservation = -1;  // index into reservations_ the allocation draws from
  uint32_t blocked_epoch = 0;  // capacity_epoch (low bits) at which it last failed for capacity alone
  std::unique_ptr<AllocExtra> extra;

  AllocExtra& X() {
    if (!extra) extra = std::make_unique<AllocExtra>();
    return *extra;
  }
  bool HasSelectorOrTolerations() const {
    return extra && (!extra->selector.empty() || !extra->tolerations.empty() || !extra->gpu_model.empty());
  }
};

struct NodeMeta {
  std::string name, pool;
  Labels labels;
  std::vector<Taint> taints;
  bool up = true, draining = false, removed = false, hard_taint = false;
  std::vector<uint32_t> allocs;        // allocation indices with a unit here (one entry per unit)
  std::vector<int32_t> reservations;   // reservation indices held here
  ResourceMap unmanaged;               // `allocated` in the spec
  ResourceMap observed;
  std::vector<int16_t> gpu_cap, gpu_free;  // per device, milli
};

struct Tenant {
  std::string path;
  uint32_t parent = kNone;
  std::vector<uint32_t> children;
  double weight = 1.0;
  double burst = 1.0;
  TimeMs grace = 0;
  bool has_quota = false;
  std::vector<int64_t> used;        // per slot, subtree
  std::vector<int64_t> guaranteed;  // per slot, -1 unset
  std::vector<int64_t> max;         // per slot, -1 unset
  std::vector<int64_t> lending;     // per slot, -1 unset
  std::vector<int64_t> children_guaranteed;  // per slot: sum of children's set guaranteed
  TimeMs burst_since = -1;
  size_t running = 0, queued = 0;   // own requests (not subtree)
  // Time-weighted dominant share integral (for the fairness index).
  double share_integral = 0;
  bool had_demand = false;
};

struct Reservation {
  ReservationSpec spec;
  SmallRes amount;
  std::vector<int64_t> used;  // per slot
  uint32_t node = kNone;
  uint32_t tenant = kNone;
  bool live = true;
};

// A vector with stable element addresses, grown in chunks of 4096 (std::deque wastes most of its
// 512-byte blocks on elements of this size).
template <typename T>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = 4096;
  T& operator[](size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const T& operator[](size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  size_t size() const { return size_; }
  void push_back(T&& v) {
    if (size_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
    (*this)[size_++] = std::move(v);
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

// Open-addressing hash set of allocation indices keyed by the allocation's id (4 bytes a slot).
class IdIndex {
 public:
  using IdOf = const std::string& (*)(const void* ctx, uint32_t ai);
  IdIndex(const void* ctx, IdOf id_of) : ctx_(ctx), id_of_(id_of) {}
  uint32_t Find(std::string_view id) const;
  void Insert(uint32_t ai);
  void Erase(std::string_view id);
  size_t size() const { return size_; }

 private:
  // A slot holds (32-bit hash fingerprint << 32) | allocation index, so most mismatches are rejected
  // without touching the allocation.
  static constexpr uint32_t kEmpty = 0xffffffffu, kTomb = 0xfffffffeu;
  size_t Hash(std::string_view id) const { return std::hash<std::string_view>()(id); }
  static uint32_t Index(uint64_t slot) { return static_cast<uint32_t>(slot); }
  static uint64_t Make(size_t h, uint32_t ai) { return (static_cast<uint64_t>(h >> 32) << 32) | ai; }
  void Grow();
  const void* ctx_;
  IdOf id_of_;
  std::vector<uint64_t> slots_;
  size_t size_ = 0, used_ = 0;  // live entries; live + tombstones
};

// The wait queue: one FIFO array of allocation indices per priority, highest priority first. Removal
// is lazy (the allocation's state says whether an entry is live); arrays are compacted when half stale.
class RunQueue {
 public:
  // An entry is (allocation index, low 32 bits of its seq): a slot reused after Forget never matches a
  // stale entry.
  using Entry = std::pair<uint32_t, uint32_t>;
  void Push(int32_t priority, uint32_t ai, uint64_t seq) {
    levels_[priority].emplace_back(ai, static_cast<uint32_t>(seq));
    live_++;
  }
  void Removed() { live_--; }
  size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }
  template <typename IsQueued>
  void Compact(IsQueued is_queued) {
    for (auto it = levels_.begin(); it != levels_.end();) {
      auto& v = it->second;
      v.erase(std::remove_if(v.begin(), v.end(), [&](const Entry& e) { return !is_queued(e); }), v.end());
      it = v.empty() ? levels_.erase(it) : std::next(it);
    }
  }
  size_t Entries() const {
    size_t n = 0;
    for (const auto& [p, v] : levels_) n += v.size();
    return n;
  }
  const std::map<int32_t, std::vector<Entry>, std::greater<>>& levels() const { return levels_; }

 private:
  std::map<int32_t, std::vector<Entry>, std::greater<>> levels_;
  size_t live_ = 0;
};

enum class TryResult { kPlaced, kQuotaWait, kQuotaReject, kNoCapacity, kNeverFits, kWaitReservation };

struct Engine::Impl {
  EngineOptions opts;
  std::unique_ptr<engine::Scorer> scorer;
  ResourceRegistry registry;
  std::vector<std::pair<uint16_t, int64_t>> score_resources;  // (slot, weight)

  // Nodes (structure of arrays).
  std::vector<NodeMeta> nodes;
  std::unordered_map<std::string, uint32_t> node_index;
  std::vector<std::vector<int64_t>> cap, used;  // [slot][node]
  std::vector<int64_t> nz_cpu, nz_mem;           // non-zero-adjusted requested cpu/memory per node
  std::vector<uint8_t> schedulable;
  std::vector<int64_t> cluster_cap;  // per slot, over up nodes (kept current by node changes)

  // Pruning index over blocks of kBlock consecutive nodes: per slot the largest free amount, so that a
  // block where no node could hold a request is skipped without looking at its nodes.
  static constexpr uint32_t kBlock = 32;
  std::vector<std::vector<int64_t>> block_max_free;  // [slot][block]
  std::vector<uint8_t> block_complex;                // schedulable nodes of the block that are not `simple`
  // Fast-path columns, refreshed per block: free amount per slot, and per scored resource the amount the
  // scorer counts as requested (as double) and 100 / capacity. `simple` nodes are schedulable, untainted,
  // unreserved and have capacity in every scored resource; others are always scored exactly.
  std::vector<std::vector<int64_t>> free_col;   // [slot][node]
  std::vector<std::vector<double>> score_used;  // [k][node]
  std::vector<std::vector<double>> score_inv;   // [k][node]
  std::vector<uint8_t> simple;
  std::vector<double> simple_bias;              // 0 for simple nodes, -1e300 for the others (kernel input)
  std::vector<double> keys;                     // scratch for the fast path
  std::vector<std::pair<double, uint32_t>> cand_scratch;  // TryPlace: feasible blocks (not re-entrant)
  std::vector<uint32_t> placed_scratch;                    // TryPlace: units placed so far
  std::vector<const std::vector<std::pair<uint32_t, uint32_t>>*> levels_scratch;  // Pass: queue levels
  void UpdateBlock(uint32_t block);     // refreshes every node column of the block and its summaries
  void RefreshNode(uint32_t ni);        // one node's columns and its block's summaries, after a usage change
  void ResizeColumns();                 // after nodes or slots were added
  void BlockSummaries(uint32_t block);
  void CountNode(uint32_t ni, int sign);  // adds/removes a node's capacity to/from cluster_cap
  size_t bursting = 0;                // tenants with burst_since set
  // Capacity can only grow when capacity_epoch moves (a release, a node added, changed or back up, a
  // reservation gone): a request that failed for capacity alone at the current epoch still cannot fit.
  uint64_t capacity_epoch = 1;
  uint64_t topology_epoch = 1;        // moves whenever the node set or a node's state changes
  size_t schedulable_count = 0;
  uint64_t schedulable_epoch = 0;
  size_t SchedulableCount() {
    if (schedulable_epoch != topology_epoch) {
      schedulable_count = 0;
      for (uint8_t s : schedulable) schedulable_count += s;
      schedulable_epoch = topology_epoch;
    }
    return schedulable_count;
  }

  // Allocations.
  ChunkedVector<Alloc> allocs;
  std::vector<uint32_t> free_slots;
  IdIndex alloc_index{this, [](const void* ctx, uint32_t ai) -> const std::string& {
    return static_cast<const Impl*>(ctx)->allocs[ai].id;
  }};
  uint64_t next_seq = 1;
  uint64_t next_auto_id = 1;
  std::string last_id;
  RunQueue queue;
  // Lease ends and wait deadlines (lazy: checked against the allocation when popped).
  using TimedItem = std::pair<TimeMs, uint32_t>;
  std::priority_queue<TimedItem, std::vector<TimedItem>, std::greater<>> lease_heap, wait_heap;
  size_t running = 0;
  bool IsQueuedEntry(const RunQueue::Entry& e) const {
    return allocs[e.first].state == AllocState::kQueued && static_cast<uint32_t>(allocs[e.first].seq) == e.second;
  }

  // Tenants.
  std::vector<Tenant> tenants;
  std::unordered_map<std::string, uint32_t> tenant_index;

  // Reservations.
  std::vector<Reservation> reservations;
  std::unordered_map<std::string, int32_t> reservation_index;

  std::vector<EngineEvent> events;
  bool explain = false;
  std::vector<Explanation> explanations;
  TimeMs last_share_update = 0;

  // engine.cc
  void EnsureSlots();
  Result<uint16_t> Slot(const std::string& name);
  void Emit(EventType t, TimeMs at, std::string_view id, std::string_view node = {}, std::string_view tenant = {},
            std::string_view reason = {}, std::string_view by = {});
  uint32_t TenantFor(const std::string& path);
  void AddUsage(Alloc& a, uint32_t node, int sign);
  void Unplace(uint32_t ai, AllocState to, TimeMs at, const std::string& reason);
  void EvictNode(uint32_t ni, TimeMs now, const std::string& why);
  std::string NodeList(const Alloc& a) const;
  AllocationInfo Info(const Alloc& a) const;
  void SetReason(Alloc& a, const std::string& r) {
    if (!r.empty() || a.extra) a.X().reason = r;
  }
  void RecomputeScoreResources();

  // quota.cc
  Status ValidateTenantTree(const std::vector<TenantSpec>& specs) const;
  void ApplyTenantSpec(const TenantSpec& spec);
  // OK, or why not: kQuotaWait (borrowing not possible now) or kQuotaReject (over max).
  TryResult CheckQuota(const Alloc& a, std::string* why) const;
  double DominantShare(uint32_t t) const;
  bool IsBorrowing(uint32_t t) const;
  bool WithinGuaranteed(uint32_t t, const Alloc& a) const;
  void ReclaimOverMax(TimeMs now, bool burst_only);

  bool TenantIsAncestor(uint32_t ancestor, uint32_t t) const;

  // schedule.cc
  void ExpireDue(TimeMs now);
  void Pass(TimeMs now);
  // `held_bias` (with `held`): simple_bias with the held nodes excluded, so the kernel's bounds skip them.
  TryResult TryPlace(uint32_t ai, TimeMs now, const struct Shadow* shadow, const std::vector<uint8_t>* held,
                     std::string* why, Explanation* ex, const double* held_bias = nullptr);
  // Marks the nodes where `a` could ever run (static match, capacity); returns how many were newly marked.
  size_t MarkEligible(const Alloc& a, std::vector<uint8_t>* mask) const;
  bool TryPreempt(uint32_t ai, TimeMs now, Explanation* ex);
  bool NodeStaticOk(const Alloc& a, uint32_t ni, std::string* why) const;
  int64_t ReservedAgainst(const Alloc& a, uint32_t ni, uint16_t slot, TimeMs now, TimeMs end) const;
  void PlaceUnit(uint32_t ai, uint32_t ni);
  // GPU devices: capacity from cap[gpu] (1000m each, a remainder makes one partial device).
  void InitDevices(uint32_t ni);
  bool GpuFits(uint32_t ni, int64_t gpu, bool ever) const;
  void GpuTake(uint32_t ai, uint32_t ni);
  void GpuRelease(Alloc& a);
  void Finalize(uint32_t ai, TimeMs now);
  int64_t ScoreNode(const Alloc& a, uint32_t ni) const;
  bool FitsNow(const Alloc& a, uint32_t ni, TimeMs now, TimeMs end, std::string* why) const;
  bool EverFits(const Alloc& a) const;
  bool UsableBy(const Reservation& r, const Alloc& a) const;
  // True when `a` fits entirely in the unused part of an active reservation on `ni` that it may use:
  // capacity that was never available to earlier requests, so FCFS holds and backfill shadows don't apply.
  bool CoveredByReservation(const Alloc& a, uint32_t ni, TimeMs now) const;
  // Starts the burst grace clock of every ancestor that a placement took over its max.
  void NoteBurst(const Alloc& a, TimeMs now);
  void RejectExpiredWaits(TimeMs now);
  bool ComputeShadow(uint32_t ai, TimeMs now, struct Shadow* out) const;

  // gpu_fragmentation.cc: the gpu-fragmentation scorer (fgd is set only under it; its memo and masks are
  // caches, so the const methods below update them through the pointer).
  std::unique_ptr<engine::GpuFragmentationState> fgd;
  Status InitGpuFragmentation();       // validates and applies opts.gpu_workload
  void FgdObserve(const Alloc& a);     // learns a submitted request's class
  uint64_t FgdNodeMask(uint32_t ni) const;  // bit c: node constraint c allows the node (bit 0 always)
  // F after - F before of one unit of `a` on `ni`, and in *device the device a share takes (-1 if none).
  // REQUIRES: the unit fits on `ni` now.
  double FgdDelta(const Alloc& a, uint32_t ni, int* device) const;
  int64_t FgdScore(const Alloc& a, uint32_t ni) const;  // 0-100 from FgdDelta (see engine.h)
};

// EASY backfill's protection of the queue head: the head (all units of a gang) is expected to start at
// `time` on `nodes`; a later request may use one of those nodes before then only if it ends by `time` or
// leaves that node's `spare` capacity for the head.
struct Shadow {
  bool valid = false;
  TimeMs time = kForever;
  std::vector<uint32_t> nodes;
  std::vector<std::vector<int64_t>> spare;  // per shadow node, per slot: left at `time` after the head's unit
  const std::vector<int64_t>* SpareFor(uint32_t ni) const {
    for (size_t i = 0; i < nodes.size(); i++)
      if (nodes[i] == ni) return &spare[i];
    return nullptr;
  }
};

}  // namespace allot
