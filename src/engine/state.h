// The engine's internal data: allocations, nodes, tenants, reservations and the containers that hold
// them. Not part of the public API; Engine::Impl (engine_impl.h) owns one of each, and policies
// (scorer.h, queue_order.h) read them through small views.
//
// Layout: node columns are stored per resource slot (structure of arrays) so the filter+score scan over
// all nodes touches contiguous int64 arrays. Allocations live in a chunked vector (stable addresses)
// indexed by id; their per-unit requests are a small sparse list of (slot, amount). Tenants form a tree
// whose usage is kept per subtree.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/engine.h"

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

// A request's amounts shared by every allocation that asks for the same (RequestShapes interns them):
// most workloads repeat a few shapes, so an allocation holds a pointer instead of its own SmallRes, and
// the placement index keys its per-shape bounds by `id` (never reused, unlike the address).
struct RequestShape {
  SmallRes res;
  uint64_t id = 0;
  uint32_t refs = 0;  // allocations holding it; 0: garbage, swept by RequestShapes
};

// An allocation's handle on its RequestShape: reads like a SmallRes, counts the allocations that hold
// the shape. Move-only, like the allocation.
class RequestRef {
 public:
  RequestRef() = default;
  explicit RequestRef(RequestShape* s) : s_(s) { s_->refs++; }
  RequestRef(RequestRef&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  RequestRef& operator=(RequestRef&& o) noexcept {
    if (this != &o) {
      Drop();
      s_ = o.s_;
      o.s_ = nullptr;
    }
    return *this;
  }
  RequestRef(const RequestRef&) = delete;
  RequestRef& operator=(const RequestRef&) = delete;
  ~RequestRef() { Drop(); }

  const SmallRes& res() const { return s_ != nullptr ? s_->res : Empty(); }
  operator const SmallRes&() const { return res(); }  // NOLINT: reads like the SmallRes it points at
  uint64_t shape_id() const { return s_ != nullptr ? s_->id : 0; }
  int64_t Get(uint16_t slot) const { return res().Get(slot); }
  bool Has(uint16_t slot) const { return res().Has(slot); }
  size_t size() const { return res().size(); }
  uint16_t slot(size_t i) const { return res().slot(i); }
  int64_t amount(size_t i) const { return res().amount(i); }

 private:
  static const SmallRes& Empty() {
    static const SmallRes empty;
    return empty;
  }
  void Drop() {
    if (s_ != nullptr) s_->refs--;
    s_ = nullptr;
  }
  RequestShape* s_ = nullptr;
};

// The interned request shapes. Shapes no allocation holds are swept once the table has doubled since
// the last sweep, so it stays within twice the distinct shapes in use (plus a small floor).
class RequestShapes {
 public:
  RequestRef Intern(const SmallRes& r);
  size_t size() const { return table_.size(); }

 private:
  static size_t Hash(const SmallRes& r);
  static bool Equal(const SmallRes& a, const SmallRes& b);
  void Sweep();
  std::unordered_multimap<size_t, std::unique_ptr<RequestShape>> table_;
  size_t sweep_at_ = 64;
  uint64_t next_id_ = 1;
};

// An allocation id in 16 bytes: up to 15 characters inline (the usual "a-123" or "r1234567"), longer ones
// on the heap. Half a std::string: the allocation table is the engine's largest memory.
class CompactId {
 public:
  CompactId() { Clear(); }
  explicit CompactId(std::string_view s) { Set(s); }
  CompactId(CompactId&& o) noexcept {
    std::memcpy(buf_, o.buf_, sizeof buf_);
    o.Clear();
  }
  CompactId& operator=(CompactId&& o) noexcept {
    if (this != &o) {
      Free();
      std::memcpy(buf_, o.buf_, sizeof buf_);
      o.Clear();
    }
    return *this;
  }
  CompactId(const CompactId&) = delete;
  CompactId& operator=(const CompactId&) = delete;
  ~CompactId() { Free(); }

  std::string_view view() const {
    if (OnHeap()) {
      char* p;
      uint32_t n;
      std::memcpy(&p, buf_, sizeof p);
      std::memcpy(&n, buf_ + 8, sizeof n);
      return {p, n};
    }
    return {buf_, static_cast<size_t>(buf_[15])};
  }
  operator std::string_view() const { return view(); }  // NOLINT: an id reads as its text
  std::string str() const { return std::string(view()); }
  bool empty() const { return view().empty(); }

 private:
  static constexpr char kHeap = static_cast<char>(0x80);
  bool OnHeap() const { return buf_[15] == kHeap; }
  void Clear() { std::memset(buf_, 0, sizeof buf_); }
  void Set(std::string_view s) {
    Clear();
    if (s.size() <= 15) {
      std::memcpy(buf_, s.data(), s.size());
      buf_[15] = static_cast<char>(s.size());
      return;
    }
    char* p = new char[s.size()];
    std::memcpy(p, s.data(), s.size());
    uint32_t n = static_cast<uint32_t>(s.size());
    std::memcpy(buf_, &p, sizeof p);
    std::memcpy(buf_ + 8, &n, sizeof n);
    buf_[15] = kHeap;
  }
  void Free() {
    if (!OnHeap()) return;
    char* p;
    std::memcpy(&p, buf_, sizeof p);
    delete[] p;
    Clear();
  }
  alignas(8) char buf_[16];
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
  CompactId id;
  RequestRef req;
  uint64_t seq = 0;
  TimeMs submitted = 0, started = -1, duration = -1;
  // One time whose meaning follows the state (the three never matter at once): while queued the wait
  // deadline, while placed when the lease ends, once ended when it ended; -1 for none.
  TimeMs when = -1;
  uint32_t tenant = 0;
  uint32_t node = kNone;  // first unit's node
  int32_t priority = 2;
  uint16_t count = 1;
  ReasonCode reason_code = ReasonCode::kNone;  // with extra->reason (in the padding after count)
  AllocState state = AllocState::kQueued;
  bool preemptible = false, ttl = false, spread = false, live = true;
  int32_t reservation = -1;  // index into reservations_ the allocation draws from
  uint32_t blocked_epoch = 0;  // capacity_epoch (low bits) at which it last failed for capacity alone
  std::unique_ptr<AllocExtra> extra;

  AllocExtra& X() {
    if (!extra) extra = std::make_unique<AllocExtra>();
    return *extra;
  }
  TimeMs wait_deadline() const { return state == AllocState::kQueued ? when : -1; }
  TimeMs expires() const { return state == AllocState::kPlaced ? when : -1; }
  TimeMs ended() const { return state != AllocState::kQueued && state != AllocState::kPlaced ? when : -1; }
  bool HasSelectorOrTolerations() const {
    return extra && (!extra->selector.empty() || !extra->tolerations.empty() || !extra->gpu_model.empty());
  }
};

// The allocation table is the engine's largest memory (README: bytes per queued request); keep it small.
static_assert(sizeof(Alloc) <= 104, "Alloc grew: check the per-request memory figure");

// A ResourceMap that costs one pointer while empty, as a node's unmanaged and observed usage mostly are.
class LazyResourceMap {
 public:
  LazyResourceMap& operator=(const ResourceMap& m) {
    if (m.empty())
      p_.reset();
    else
      p_ = std::make_unique<ResourceMap>(m);
    return *this;
  }
  const ResourceMap& get() const { return p_ ? *p_ : Empty(); }
  operator const ResourceMap&() const { return get(); }  // NOLINT: reads as the map
  ResourceMap::const_iterator begin() const { return get().begin(); }
  ResourceMap::const_iterator end() const { return get().end(); }
  ResourceMap::const_iterator find(const std::string& k) const { return get().find(k); }

 private:
  static const ResourceMap& Empty() {
    static const ResourceMap empty;
    return empty;
  }
  std::unique_ptr<ResourceMap> p_;
};

struct NodeMeta {
  std::string name, pool;
  Labels labels;
  std::vector<Taint> taints;
  bool up = true, draining = false, removed = false, hard_taint = false;
  std::vector<uint32_t> allocs;        // allocation indices with a unit here (one entry per unit)
  std::vector<int32_t> reservations;   // reservation indices held here
  LazyResourceMap unmanaged;           // `allocated` in the spec
  LazyResourceMap observed;
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
  uint32_t reservations_owned = 0;  // live reservations it holds (usable by its subtree)
  // Time-weighted dominant share integral (for the fairness index).
  double share_integral = 0;
};

// Tenant `t`'s dominant share: the largest share over resources of its subtree's use in the cluster's
// capacity (resources without capacity count 0), divided by its weight.
double DominantShare(const Tenant& t, const std::vector<int64_t>& cluster_cap);

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

// Open-addressing hash set of allocation indices keyed by the allocation's id (8 bytes a slot), linear
// probing with backward-shift deletion: no tombstones, so churn at a steady size keeps probes short.
class IdIndex {
 public:
  using IdOf = std::string_view (*)(const void* ctx, uint32_t ai);
  IdIndex(const void* ctx, IdOf id_of) : ctx_(ctx), id_of_(id_of) {}
  uint32_t Find(std::string_view id) const;
  void Insert(uint32_t ai);
  void Erase(std::string_view id);
  size_t size() const { return size_; }

 private:
  // A slot holds (low 32 bits of the id's hash << 32) | allocation index: most mismatches are rejected
  // without touching the allocation, and the slot's home position is its hash bits & mask.
  static constexpr uint32_t kEmpty = 0xffffffffu;
  size_t Hash(std::string_view id) const { return std::hash<std::string_view>()(id); }
  static uint32_t Index(uint64_t slot) { return static_cast<uint32_t>(slot); }
  static uint64_t Make(size_t h, uint32_t ai) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(h)) << 32) | ai;
  }
  static constexpr uint64_t kEmptySlot = kEmpty;  // hash bits 0, index kEmpty
  void Grow();
  const void* ctx_;
  IdOf id_of_;
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
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

// Why a request did not start, as a code and the text shown to users.
struct Reason {
  ReasonCode code = ReasonCode::kNone;
  std::string text;
  void Set(ReasonCode c, std::string t) {
    code = c;
    text = std::move(t);
  }
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
