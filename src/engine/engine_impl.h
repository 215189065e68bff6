// Internal state of allot::Engine. Not part of the public API.
//
// Engine::Impl owns the data of state.h (node columns, allocations, tenants, reservations) and the two
// policies chosen by name through the registry (policy.cc): a Scorer (scorer.h, one file per strategy)
// and a QueueOrder (queue_order.h: fifo_order.cc, drf_order.cc). Its methods are spread by concern:
//   engine.cc     names, construction, requests, events     nodes.cc         nodes and their columns
//   quota.cc      quotas, DRF shares, reclaim                reservations.cc  reservations
//   schedule.cc   the pass: expiry, order, FCFS holds        placement.cc     admission, filter + score
//   devices.cc    GPU devices                                preemption.cc    preemption
//   backfill.cc   EASY backfill's shadow                     queries.cc       read-only queries
//   containers.cc the id index and per-unit request lists
#pragma once

#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "allot/engine.h"
#include "allot/resources.h"
#include "engine/block_keys.h"
#include "engine/placement_index.h"
#include "engine/queue_order.h"
#include "engine/scorer.h"
#include "engine/state.h"

namespace allot {

struct Engine::Impl {
  EngineOptions opts;
  std::unique_ptr<engine::Scorer> scorer;
  ResourceRegistry registry;
  std::vector<std::pair<uint16_t, int64_t>> score_resources;  // (slot, weight)

  // Nodes (structure of arrays).
  std::vector<NodeMeta> nodes;
  std::unordered_map<std::string, uint32_t> node_index;
  // Removed nodes' slots by name: a node added again under its old name takes its old slot back, so a
  // cluster whose nodes leave and come back (agents re-registering, churn) does not grow its columns.
  // Ended allocations that ran there still name it rightly. (Slots of names that never return stay.)
  std::unordered_map<std::string, uint32_t> removed_slots;
  std::vector<std::vector<int64_t>> cap, used;  // [slot][node]
  std::vector<int64_t> nz_cpu, nz_mem;           // non-zero-adjusted requested cpu/memory per node
  std::vector<uint8_t> schedulable;
  std::vector<int64_t> cluster_cap;  // per slot, over up nodes (kept current by node changes)
  // Per slot, what is allocated (managed + unmanaged) on up nodes, kept by usage and node changes so
  // that TotalAllocated costs O(resources). 128 bits: a sum of int64 amounts never wraps.
  std::vector<__int128> cluster_used;
  // Per slot, capacity and use over every node not removed (up or not), for AddNode's and UpdateNode's
  // check that no cluster-wide total passes 2^63-1 (summing the columns made adding N nodes O(N^2)).
  std::vector<__int128> present_cap, present_used;

  // Node blocks of kBlock consecutive nodes and the placement index over them (placement_index.h): per
  // tree node the most free per slot, and per request shape lazily kept score bounds.
  static constexpr uint32_t kBlock = engine::kKernelBlock;
  engine::BlockTree tree;
  engine::ShapeCache shapes;
  // Columns the bound kernel reads (block_keys.h), padded to whole blocks: free amount per slot (-1 on
  // nodes that are not schedulable), and per scored resource the amount the scorer counts as requested
  // (as double) and 100 / capacity. `bounded` nodes are schedulable with capacity in every scored
  // resource: the kernel's key bounds their score. `bias` is the kernel's per node input.
  std::vector<std::vector<int64_t>> free_col;   // [slot][node]
  // Free outside reservations for a request that may use none of them and has no end (so every live
  // reservation on the node holds capacity against it, NoReservationApplies): free_col minus what the
  // node's reservations hold back. Kept once a reservation was first booked (empty before: equal to
  // free_col). With it a node whose free capacity is reserved does not look like the best fit to every
  // such request only to be filtered out.
  std::vector<std::vector<int64_t>> free_out_col;  // [slot][node]
  std::vector<std::vector<double>> score_used;  // [k][node]
  std::vector<std::vector<double>> score_inv;   // [k][node]
  std::vector<uint8_t> bounded;
  std::vector<double> bias;  // 0 bounded, kUnboundedBias other schedulable, kExcludedBias
  std::vector<double> keys;  // scratch for the flat scan
  std::vector<std::pair<double, uint32_t>> cand_scratch;  // TryPlace: feasible blocks (not re-entrant)
  std::vector<uint32_t> placed_scratch;                    // TryPlace: units placed so far
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

  // Allocations (the shapes first: allocations hand theirs back when they go).
  RequestShapes request_shapes;
  ChunkedVector<Alloc> allocs;
  std::vector<uint32_t> free_slots;
  IdIndex alloc_index{this, [](const void* ctx, uint32_t ai) -> std::string_view {
                        return static_cast<const Impl*>(ctx)->allocs[ai].id;
                      }};
  uint64_t next_seq = 1;
  uint64_t next_auto_id = 1;
  std::string last_id;
  RunQueue queue;
  // Lease ends and wait deadlines (lazy: checked against the allocation when popped).
  using TimedItem = std::pair<TimeMs, uint32_t>;
  // mutable: NextWakeup (const) drops the stale entries it finds on top, which changes no answer.
  mutable std::priority_queue<TimedItem, std::vector<TimedItem>, std::greater<>> lease_heap, wait_heap;
  size_t running = 0;
  bool IsQueuedEntry(const RunQueue::Entry& e) const { return queue_view().IsQueued(e); }

  // Tenants.
  std::vector<Tenant> tenants;
  std::unordered_map<std::string, uint32_t> tenant_index;

  // Reservations.
  std::vector<Reservation> reservations;
  size_t live_reservations = 0;
  TimeMs reservation_end_min = kForever;  // no live reservation ends before this
  std::unordered_map<std::string, int32_t> reservation_index;

  std::vector<EngineEvent> events;
  bool explain = false;
  std::vector<Explanation> explanations;
  TimeMs last_share_update = 0;

  // Policies (policy.cc builds them by name) and what they read.
  std::unique_ptr<engine::QueueOrder> order;
  engine::ScoreBound bound = engine::ScoreBound::kNone;  // scorer->bound(), fixed at Create
  bool score_nonzero = true;                             // scorer->UsesNonZeroRequests(), fixed at Create
  engine::NodeView node_view{&cap, &used, &nz_cpu, &nz_mem, &nodes, &topology_epoch, &score_resources};
  engine::QueueView queue_view() const { return {queue, allocs, tenants, cluster_cap}; }

  // engine.cc
  void EnsureSlots();
  Result<uint16_t> Slot(const std::string& name);
  void Emit(EventType t, TimeMs at, std::string_view id, std::string_view node = {}, std::string_view tenant = {},
            ReasonCode code = ReasonCode::kNone, std::string_view reason = {}, std::string_view by = {});
  uint32_t TenantFor(const std::string& path);
  // A request's fields as Submit and Restore take them (by reference: Restore has an AllocationInfo, not
  // a RequestSpec, and copying one into the other was a third of a restore's cost).
  struct Admission {
    std::string_view id;  // not empty
    const std::string* tenant;
    const std::string* workflow;
    int priority = 2;
    const ResourceMap* requests;
    const ResourceMap* limits;
    int count = 1;
    bool preemptible = false, ttl = false, spread = false;
    std::optional<TimeMs> duration, wait;
    const std::string* reservation;
    const Labels* selector = nullptr;                      // null: none
    const std::vector<Toleration>* tolerations = nullptr;  // null: none
    const std::string* gpu_model = nullptr;                // null: any
  };
  // Checks a request and records it as a new allocation (not yet queued, no event): its slot, or why
  // not. Submit and Restore go on from there.
  Result<uint32_t> Admit(const Admission& r, TimeMs now);
  void AddUsage(Alloc& a, uint32_t node, int sign);
  void Unplace(uint32_t ai, AllocState to, TimeMs at, ReasonCode code, const std::string& reason);
  std::string NodeList(const Alloc& a) const;
  AllocationInfo Info(const Alloc& a) const;
  void SetReason(Alloc& a, ReasonCode code, const std::string& r) {
    a.reason_code = code;
    if (!r.empty() || a.extra) a.X().reason = r;
  }
  void SetReason(Alloc& a, const Reason& r) { SetReason(a, r.code, r.text); }
  // Ends a request as rejected at `at` and records the event (the caller takes it off the queue).
  void Reject(Alloc& a, TimeMs at, const Reason& why);
  void RecomputeScoreResources();

  // nodes.cc
  void EvictNode(uint32_t ni, TimeMs now, ReasonCode code, const std::string& why);
  void UpdateBlock(uint32_t block);     // refreshes every node column of the block and its summaries
  void RefreshNode(uint32_t ni);        // one node's columns and its block's summaries, after a usage change
  // Between Engine::BeginRestore and EndRestore, AddUsage lists the nodes it changed (once each) instead
  // of refreshing them; EndRestore refreshes each once.
  bool defer_refresh = false;
  std::vector<TimedItem> restored_leases;  // Restore's leases meanwhile, heaped by EndRestore
  std::vector<uint8_t> refresh_due;
  std::vector<uint32_t> refresh_list;
  void ResizeColumns();                 // after nodes or slots were added
  void BlockMaxFree(uint32_t block);    // the block's most free per slot, into the index
  void CountNode(uint32_t ni, int sign);  // adds/removes a node's capacity and usage to/from cluster_cap/_used
  void CountPresent(uint32_t ni, int sign);  // the same for present_cap/_used

  // quota.cc
  Status ValidateTenantTree(const std::vector<TenantSpec>& specs) const;
  void ApplyTenantSpec(const TenantSpec& spec);
  // OK, or why not: kQuotaWait (borrowing not possible now) or kQuotaReject (over max).
  TryResult CheckQuota(const Alloc& a, std::string* why) const;
  double DominantShare(uint32_t t) const { return allot::DominantShare(tenants[t], cluster_cap); }
  bool IsBorrowing(uint32_t t) const;
  bool WithinGuaranteed(uint32_t t, const Alloc& a) const;
  void ReclaimOverMax(TimeMs now, bool burst_only);
  bool TenantIsAncestor(uint32_t ancestor, uint32_t t) const;

  // schedule.cc: one pass over the queue in the order's sequence.
  void ExpireDue(TimeMs now);
  void Pass(TimeMs now);
  void RejectExpiredWaits(TimeMs now);
  struct PassState;  // the pass's backfill head and FCFS holds (schedule.cc)
  // Tries `ai` (or answers without trying, when nothing it needs can have changed) and says why not.
  TryResult Attempt(PassState& ps, uint32_t ai, TimeMs now, Reason* why, Explanation* ex);
  // What the pass does with a request that could not start for capacity; true to end the pass.
  bool OnNoCapacity(PassState& ps, uint32_t ai, TimeMs now, const Reason& why, Explanation* ex);
  // Strict FCFS: holds the nodes `a` could use for it; true to end the pass.
  bool HoldNodesFor(PassState& ps, Alloc& a, Explanation* ex);
  // Marks the nodes where `a` could ever run (static match, capacity); returns how many were newly marked.
  size_t MarkEligible(const Alloc& a, std::vector<uint8_t>* mask) const;

  // placement.cc: filter + score for every unit of one request.
  // `held_bias` (with `held`): `bias` with the held nodes excluded, so the kernel's bounds skip them.
  TryResult TryPlace(uint32_t ai, TimeMs now, const Shadow* shadow, const std::vector<uint8_t>* held, Reason* why,
                     Explanation* ex, const double* held_bias = nullptr);
  // Reservation and quota checks ahead of the node search; kPlaced when the search may go on.
  TryResult Admit(const Alloc& a, TimeMs now, const Reservation** named, Reason* why, Explanation* ex);
  struct UnitSearch;  // one unit's search for the best node (placement.cc)
  void Consider(UnitSearch& s, uint32_t ni);
  // The search through the placement index (placement_index.h) for scorers with a ScoreBound or that
  // score from node columns alone: visits the subtrees whose bound could beat the best node found so far.
  void SearchIndex(UnitSearch& s);
  struct ShapeQuery;  // one search's kernel input and needs (placement.cc)
  double ShapeBound(const ShapeQuery& q, size_t level, uint32_t i);
  void SearchSubtree(UnitSearch& s, const ShapeQuery& q, size_t level, uint32_t i);
  void VisitBlock(UnitSearch& s, const ShapeQuery& q, uint32_t block);
  // The flat bounded scan (ScoreBound) over every block, for strict FCFS's held nodes (excluded by
  // `node_bias`, which the index's bounds do not know of).
  void ScanBounded(UnitSearch& s, const double* node_bias);
  // Every node below the index's subtrees where each resource it needs is free on some node.
  void ScanFeasibleBlocks(UnitSearch& s, size_t level, uint32_t i);
  // Undoes the units placed so far and says why the request cannot start.
  TryResult Unwind(uint32_t ai, const std::vector<uint32_t>& placed, std::string last_filter, Reason* why);
  void DrawReservation(Alloc& a, uint32_t ni, TimeMs now);  // from one of its tenant's active on `ni`
  bool NodeStaticOk(const Alloc& a, uint32_t ni, std::string* why) const;
  bool FitsNow(const Alloc& a, uint32_t ni, TimeMs now, TimeMs end, std::string* why) const;
  bool EverFits(const Alloc& a) const;
  int64_t ScoreNode(const Alloc& a, uint32_t ni) { return scorer->Score(node_view, a, ni); }
  // --explain: the resources behind node ni's score for `a`, named, into ex->score_terms.
  void ExplainScore(const Alloc& a, uint32_t ni, Explanation* ex) {
    std::vector<ScoreTerm> terms;
    for (const auto& t : scorer->Explain(node_view, a, ni)) {
      terms.push_back({registry.Name(t.slot), t.requested, t.allocatable, t.score});
    }
    ex->score_terms.emplace_back(nodes[ni].name, std::move(terms));
  }
  void PlaceUnit(uint32_t ai, uint32_t ni);
  void Finalize(uint32_t ai, TimeMs now);
  // Starts the burst grace clock of every ancestor that a placement took over its max.
  void NoteBurst(const Alloc& a, TimeMs now);

  // reservations.cc
  bool UsableBy(const Reservation& r, const Alloc& a) const;
  // True when no reservation can be used by `a` and every live one would hold capacity against it.
  bool NoReservationApplies(const Alloc& a) const;
  // What `ni`'s live reservations hold back of `slot` from a request NoReservationApplies to.
  int64_t HeldOnNode(uint32_t ni, size_t slot) const;
  // A reservation was booked on `ni` or left it: its columns again (free_out_col kept from now on).
  void HoldsChanged(uint32_t ni);
  // Reservation `ri` ends (unreserved or its window over): off its node, no longer live.
  void EndReservation(int32_t ri);
  int64_t ReservedAgainst(const Alloc& a, uint32_t ni, uint16_t slot, TimeMs now, TimeMs end) const;
  // True when `a` fits entirely in the unused part of an active reservation on `ni` that it may use:
  // capacity that was never available to earlier requests, so FCFS holds and backfill shadows don't apply.
  bool CoveredByReservation(const Alloc& a, uint32_t ni, TimeMs now) const;

  // devices.cc: GPU devices, capacity from cap[gpu] (1000m each, a remainder makes one partial device).
  void InitDevices(uint32_t ni);
  bool GpuFits(uint32_t ni, int64_t gpu, bool ever) const;
  void GpuTake(uint32_t ai, uint32_t ni);
  void GpuRelease(Alloc& a);

  // preemption.cc
  bool TryPreempt(uint32_t ai, TimeMs now, Explanation* ex);

  // backfill.cc
  bool ComputeShadow(uint32_t ai, TimeMs now, Shadow* out) const;
};

}  // namespace allot
