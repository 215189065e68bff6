// The allot placement engine: nodes, requests, quotas, fair share, preemption, backfill, reservations.
//
// An Engine is a deterministic state machine. It does no I/O and reads no clock: every call takes `now`
// (milliseconds on any monotonic scale the caller chooses; the simulator uses scenario time, the server
// wall-clock time). Mutations record EngineEvents that the caller drains with TakeEvents() to persist,
// audit or report them. Amounts are int64 in internal units (include/allot/resources.h): cpu and gpu in
// milli-units, everything else in base units.
//
// GPUs are devices: a node with `gpu: 4` has devices gpu0..gpu3 of 1000m each. A request for less than
// one GPU (`gpu: 500m`) takes a share of a single device and never spans two; a request for whole GPUs
// (1000m multiples) takes devices that are entirely free. `gpu_model` restricts the node label gpu_model.
//
// Scoring `gpu-fragmentation` (not a kube-scheduler strategy: the FGD idea of Weng et al., USENIX ATC '23)
// places a request where the node's expected GPU fragmentation grows least, and picks the device of a share
// the same way; see GpuFragmentation and EngineOptions::gpu_workload below.
//
// Scheduling: Submit() only enqueues; Schedule(now) first ends what is due (leases, waits, burst grace,
// reservation windows), then runs one pass over the queue in policy order (priority, then dominant
// share under DRF, then FIFO). A request is placed by filter (free capacity in every dimension, selector,
// taints, reservations) and score (kube-scheduler's strategies, integer 0-100; ties go to the node added
// first). Without backfill the queue is strict FCFS: the first request that cannot start for lack of
// capacity stops the pass. With backfill (EASY) later requests may start if they do not delay that head.
//
// Thread-safety: none; callers serialise access (the server holds one mutex around an Engine).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allot/result.h"

namespace allot {

using TimeMs = int64_t;
using ResourceMap = std::map<std::string, int64_t>;  // canonical resource name -> internal units
using Labels = std::map<std::string, std::string>;

struct Taint {
  std::string key, value;
  std::string effect = "NoSchedule";  // NoSchedule | PreferNoSchedule | NoExecute
};
struct Toleration {
  std::string key, value;
  std::string op = "Equal";  // Equal | Exists
  std::string effect;        // empty: tolerates every effect
};

struct NodeSpec {
  std::string name;
  ResourceMap capacity;   // allocatable
  ResourceMap allocated;  // in use by work allot does not manage; counted in filtering and scoring
  Labels labels;
  std::vector<Taint> taints;
  std::string pool;
};

struct RequestSpec {
  std::string id;  // unique; empty: the engine assigns one
  std::string tenant = "default";
  std::string workflow;
  int priority = 2;
  ResourceMap requests;
  ResourceMap limits;                // empty: equal to requests
  std::optional<TimeMs> duration;    // lease length; nullopt: held until released
  bool ttl = false;                  // the duration is a lease TTL: its end is `expired`, not `completed`
  Labels selector;                   // node labels that must match
  std::vector<Toleration> tolerations;
  bool preemptible = false;          // may be evicted for higher-priority work or quota reclaim
  int count = 1;                     // gang: all `count` units at once, or none
  bool spread = false;               // gang units on distinct nodes
  std::optional<TimeMs> wait;        // how long it may queue before it is rejected
  std::string reservation;           // use this reservation's capacity
  std::string gpu_model;             // allowed GPU models, `|`-separated (node label gpu_model)
};

enum class AllocState { kQueued, kPlaced, kCompleted, kReleased, kExpired, kPreempted, kRejected };
const char* AllocStateName(AllocState s);  // "queued", "placed", ...

// Why an allocation waits, was rejected, was preempted or ended: a closed set, each with a stable
// snake_case name (ReasonCodeName) for metrics labels and API error codes. AllocationInfo::reason and
// EngineEvent::reason carry the human text beside the code; the text may change between versions, the
// code and its name do not.
enum class ReasonCode : uint8_t {
  kNone,                // "none": placed, or not looked at yet (queued behind a request that stopped the pass)
  // Queued (kQuota also rejected, under QuotaMode::kStrict).
  kQuota,               // "quota": it would take its tenant or an ancestor over max
  kQuotaBorrowing,      // "quota_borrowing": past its tenant's guaranteed share, and the cohort has nothing to lend
  kNoCapacity,          // "no_capacity": no node has room for it (or for all units of a gang) now
  kHeldForEarlier,      // "held_for_earlier": strict FCFS: the nodes with room are held for earlier requests
  kBehindQueueHead,     // "behind_queue_head": backfill: starting it now would delay the queue head
  kInfeasible,          // "infeasible": no node could ever hold it (capacity, selector, taints, GPU model)
  kReservationPending,  // "reservation_pending": the reservation it names has not started
  kReservationEnded,    // "reservation_ended": the reservation it names has ended
  // Rejected.
  kWaitExpired,         // "wait_expired": it queued longer than its `wait`
  // Preempted.
  kPreempted,           // "preempted": evicted for a higher-priority request or one reclaiming its guarantee
  kQuotaReclaim,        // "quota_reclaim": its tenant went over max (burst cap or a lowered max)
  kBurstGraceExpired,   // "burst_grace_expired": its tenant stayed over max past the burst grace
  kNodeRemoved,         // "node_removed": its node was removed
  kNodeDown,            // "node_down": its node went down
  // Ended.
  kDurationElapsed,     // "duration_elapsed": completed
  kLeaseExpired,        // "lease_expired": a TTL lease that was not renewed
  kReleased,            // "released": released by its holder (placed or queued)
  // Reservations (EngineEvent only).
  kWindowEnded,         // "window_ended": a reservation's window passed
};
inline constexpr int kReasonCodeCount = static_cast<int>(ReasonCode::kWindowEnded) + 1;
const char* ReasonCodeName(ReasonCode c);
// The code named `name` (ReasonCodeName's inverse), or nullopt.
std::optional<ReasonCode> ReasonCodeFromName(std::string_view name);

// Kubernetes QoS class from requests and limits (cpu and memory, per Kubernetes' rules).
enum class QosClass { kGuaranteed, kBurstable, kBestEffort };
const char* QosClassName(QosClass q);
QosClass ComputeQos(const ResourceMap& requests, const ResourceMap& limits);

struct AllocationInfo {
  std::string id, tenant, workflow;
  int priority = 2;
  AllocState state = AllocState::kQueued;
  std::vector<std::string> nodes;  // one per gang unit
  ResourceMap requests, limits;    // per unit
  int count = 1;
  bool preemptible = false;
  TimeMs submitted = 0;
  TimeMs started = -1;
  TimeMs ended = -1;
  TimeMs expires = -1;  // lease end while placed; -1 if none
  std::string reason;   // why it waits, or why it ended (human text)
  ReasonCode reason_code = ReasonCode::kNone;  // the same as a code
  std::string preempted_by;
  std::string reservation;
  bool ttl = false;  // the lease ends as `expired` (a holder that stopped renewing), not `completed`
  std::vector<std::string> devices;  // GPU devices held, "node/gpuN" (a share of one device, or whole devices)
  QosClass qos = QosClass::kBestEffort;
};

// A queued request's place in the queue and when it is expected to start (Engine::QueueEstimates).
struct QueueEstimate {
  std::string id, tenant;
  int priority = 2;
  TimeMs submitted = 0;
  int64_t position = 0;         // 1-based, overall, in the order of the next scheduling pass
  int64_t tenant_position = 0;  // 1-based among the requests of its tenant
  // When it is expected to start, from the leases that will end and the requests ahead of it; -1 when
  // unknown (infeasible, waiting for quota, behind a request that never ends, past max_estimated).
  TimeMs estimated_start = -1;
  ReasonCode reason_code = ReasonCode::kNone;
  std::string reason;
};

struct QueueEstimateOptions {
  // Requests past this position get no estimate (each one costs O(nodes × leases ending on them)).
  size_t max_estimated = 1000;
};

enum class EventType {
  kSubmitted, kPlaced, kCompleted, kReleased, kExpired, kPreempted, kRejected, kRenewed,
  kNodeAdded, kNodeUpdated, kNodeRemoved, kNodeDown, kNodeUp, kNodeDrained,
  kReserved, kUnreserved, kQuotaChanged,
};
const char* EventTypeName(EventType t);

struct EngineEvent {
  EventType type;
  TimeMs at = 0;
  std::string id;      // allocation, node, reservation or tenant the event is about
  std::string node;    // node(s), comma-separated, where relevant
  std::string tenant;
  std::string reason;
  ReasonCode reason_code = ReasonCode::kNone;  // `reason` as a code
  std::string by;      // the preemptor, for kPreempted
};

struct TenantSpec {
  std::string path;  // "org/team/agent"; parents are implied
  double weight = 1.0;
  ResourceMap guaranteed, max, lending_limit;
  double burst = 1.0;   // may go to burst × max ...
  TimeMs grace = 0;     // ... for at most this long
};

struct ReservationSpec {
  std::string id, tenant;
  TimeMs start = 0, end = 0;  // [start, end)
  ResourceMap requests;
  std::vector<std::string> nodes;  // candidate nodes; empty: any node (of `pool` if set)
  std::string pool;
};

struct ReservationInfo {
  ReservationSpec spec;
  std::string node;   // where it is held
  ResourceMap used;   // capacity of it in use by allocations
  bool active = false;
};

struct NodeInfo {
  std::string name, pool;
  Labels labels;
  std::vector<Taint> taints;
  ResourceMap capacity, allocated, free, observed;  // allocated includes unmanaged work
  bool up = true, draining = false;
  size_t allocations = 0;
};

// A light row per node for bulk reporting (metrics): amounts are indexed like Engine::ResourceNames().
struct NodeRow {
  std::string_view name;
  uint32_t slot = 0;  // the node's place in the engine's table (a caller may index its own data by it)
  bool up = true, draining = false;
  size_t allocations = 0;
  std::vector<int64_t> capacity, allocated;  // allocated includes unmanaged work
};

struct TenantUsage {
  std::string path;
  ResourceMap used, guaranteed, max, borrowed;
  double dominant_share = 0;
  size_t running = 0, queued = 0;
};

// One scored resource of a node in a decision, for --explain: what the node would hold with the request
// placed (`requested`, kube-scheduler's non-zero defaults included where the strategy counts them) of
// what it has (`allocatable`), in internal units, and that resource's own score 0-100 (-1 where the
// strategy scores the node as a whole: balanced-allocation). "cpu 2/8 -> 25".
struct ScoreTerm {
  std::string resource;
  int64_t requested = 0, allocatable = 0;
  int64_t score = -1;
};

// One placement decision, for --explain.
struct Explanation {
  std::string id;
  TimeMs at = 0;
  std::vector<std::pair<std::string, int64_t>> scores;      // feasible node -> score 0-100
  // Feasible node -> its scored resources (same order as `scores`; empty for gpu-fragmentation).
  std::vector<std::pair<std::string, std::vector<ScoreTerm>>> score_terms;
  std::vector<std::pair<std::string, std::string>> filtered;  // node -> why it was filtered out
  std::string chosen;    // node(s), empty if not placed
  std::string outcome;   // placed | queued | preempted victims ... | backfilled | rejected
  std::string detail;    // order position, quota, reservation, backfill notes
};

enum class QuotaMode { kQueue, kStrict };

// One class of the workload the gpu-fragmentation scorer expects: what one unit of a request asks for.
struct GpuWorkloadClass {
  int64_t gpu = 0;        // milli: a share of one device (1-999), whole devices (multiples of 1000), or 0
  int64_t cpu = 0;        // milli
  int64_t memory = 0;     // bytes (GpuFragmentation: any unit, as long as the node's free memory uses it too)
  std::string gpu_model;  // allowed GPU models, `|`-separated (node label gpu_model); empty: any
  double weight = 1;      // the class's share of the expected GPU demand (relative; normalised by the engine)
};

// The fragmentation measure (the same one `allot trace inflate` uses). For a node n with free milli f_g on
// its devices (1000: wholly free) and a class m:
//   F_n(m) = sum of f_g                   if m cannot run on n at all: its cpu or memory does not fit, it is
//                                          not `allowed` there (GPU model, selector), or too few devices suit;
//          = sum of f_g over f_g < gpu_m  for a share (devices it could not use are stranded for it);
//          = sum of f_g over f_g < 1000   for whole devices (every device not wholly free);
//          = 0                            for a class without GPU that fits.
// Returns F_n = sum_m weight_m * F_n(m) in milli; 0 for a node without devices or without free GPU.
// `allowed` is empty (every class may run on the node) or has one entry per class.
double GpuFragmentation(std::span<const int32_t> device_free, int64_t cpu_free, int64_t memory_free,
                        std::span<const GpuWorkloadClass> classes, std::span<const uint8_t> allowed = {});

// Policy: mechanism is fixed, these choose the scorer and ordering. Defaults follow kube-scheduler.
// Policy names are those of allot/policy.h (PolicyNames lists them for help and errors).
struct EngineOptions {
  std::string scoring = "least-allocated";  // least-allocated | most-allocated |
                                            // requested-to-capacity-ratio | balanced-allocation |
                                            // gpu-fragmentation
  ResourceMap weights;                      // resource -> weight; empty: {cpu: 1, memory: 1}
  std::vector<std::pair<int64_t, int64_t>> shape;  // requested-to-capacity-ratio (utilization 0-100, score 0-10)
  std::string fair_share = "none";          // the queue order: none (alias fifo) | drf
  bool preemption = false;
  bool backfill = false;
  QuotaMode quota_mode = QuotaMode::kQueue;
  TimeMs preemption_grace = 0;              // victims keep running this long after notice (not modelled in sim)
  // gpu-fragmentation: the expected workload (classes of request units and their shares of the GPU demand).
  // Empty (the default): learned online from the submitted requests. Given: used as is, nothing is learned.
  //
  // The strategy scores a feasible node by dF = F_n(after) - F_n(before) (GpuFragmentation, over the
  // expected workload; the device of a share is the one that minimises F_n(after), ties to the fullest
  // device, and whole GPUs take wholly free devices, which all leave the same F): score = 50 -
  // round(50 dF / (|dF| + 1000)), so 50 when the placement strands nothing, above 50 when it fills a
  // fragment, and the smallest dF has the highest score (about 20 milli of dF per point near 0). A node
  // without GPUs has F = 0, so it scores 50 like a GPU node where a request strands nothing: CPU-only
  // work goes to the first such node, and leaves GPU nodes only where it would use up the cpu or memory
  // that their free GPUs need. Filters, reservations and ties (the node added first) are as for the others.
  //
  // Learning: every Submit adds its units to a histogram of classes keyed by (gpu milli, cpu, memory,
  // selector and gpu_model), cpu and memory rounded up to 4 significant bits (at most 12.5 % over), a unit
  // weighing its GPUs (below one GPU or none: one). The histogram keeps the 256 heaviest classes
  // (Space-Saving: a new class replaces the lightest and inherits its weight) and halves every weight when
  // the total passes 8192 GPUs, so it follows roughly the last 4096-8192 GPUs of demand. The classes used
  // for scoring are a snapshot, retaken when the demand submitted since the last one reaches 1/16 of the
  // total (every submit at first). Node constraints beyond 63 distinct (selector, gpu_model) pairs count
  // as unconstrained; taints and reservations are not part of a class.
  std::vector<GpuWorkloadClass> gpu_workload;
};

class Engine {
 public:
  // Validates the options (unknown scorer or queue order, bad shape or GPU workload) and builds an engine
  // with the policies they name (allot/policy.h).
  static Result<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Nodes.
  Status AddNode(const NodeSpec& node, TimeMs now);
  Status UpdateNode(const NodeSpec& node, TimeMs now);  // new capacity/labels; never strands allocations
  Status RemoveNode(const std::string& name, TimeMs now);  // its allocations are preempted
  Status SetNodeDown(const std::string& name, TimeMs now);  // likewise, but the node stays known
  Status SetNodeUp(const std::string& name, TimeMs now);
  Status DrainNode(const std::string& name, TimeMs now);   // no new placements; running work stays
  Status SetObservedUsage(const std::string& name, const ResourceMap& usage, TimeMs now);

  // Tenants and quotas. SetTenants validates the whole tree first and applies nothing on error.
  Status SetTenants(const std::vector<TenantSpec>& tenants, TimeMs now);
  Status SetTenant(const TenantSpec& tenant, TimeMs now);

  // Requests.
  Result<AllocState> Submit(const RequestSpec& request, TimeMs now);  // returns the id via LastId()
  const std::string& LastId() const;
  Status Release(const std::string& id, TimeMs now);
  // Drops an ended allocation (completed, released, expired, preempted, rejected) from memory; its id may
  // be used again. Callers that keep history elsewhere (the server's store) call it to bound memory.
  Status Forget(const std::string& id);
  Status Renew(const std::string& id, TimeMs extend_to, TimeMs now);  // new lease end (absolute)
  // Puts an allocation back as it was (recovery from a store): placed on its nodes, or queued.
  Status Restore(const AllocationInfo& info, TimeMs now);
  // Many Restores at once: between BeginRestore and EndRestore the placement index is not kept up to date
  // on each one (its upkeep is a third of a placed allocation's restore); EndRestore brings it up to date,
  // once per node touched. In between, call only Restore and the calls that do not place or score.
  void BeginRestore();
  void EndRestore();

  // Reservations.
  Status Reserve(const ReservationSpec& r, TimeMs now);
  Status Unreserve(const std::string& id, TimeMs now);

  // Ends what is due at `now`, then runs one scheduling pass.
  void Schedule(TimeMs now);
  // The next time something is due (lease end, wait deadline, reservation edge, grace end), if any.
  std::optional<TimeMs> NextWakeup() const;

  std::vector<EngineEvent> TakeEvents();
  // Moves the pending events into *out (cleared first) and keeps *out's old buffer for the next events:
  // no allocation per call once buffers have grown.
  void DrainEvents(std::vector<EngineEvent>* out);
  void SetExplain(bool on);
  std::vector<Explanation> TakeExplanations();

  // Queries.
  Result<AllocationInfo> Get(const std::string& id) const;
  void ForEachAllocation(const std::function<void(const AllocationInfo&)>& fn) const;
  std::vector<NodeInfo> Nodes() const;  // in the order nodes were added
  std::vector<std::string> ResourceNames() const;
  // Calls fn for every node in the order they were added, reusing one row (cheap: no maps).
  void ForEachNodeRow(const std::function<void(const NodeRow&)>& fn) const;
  // The same over the node slots [from, from + slots): returns the slot to go on from, or 0 once the last
  // was visited. A node keeps its slot while it is there and takes its old slot back when added again, so
  // a caller that lets changes in between parts still visits each node at most once per pass.
  size_t ForEachNodeRow(size_t from, size_t slots, const std::function<void(const NodeRow&)>& fn) const;
  Result<NodeInfo> Node(const std::string& name) const;
  std::vector<TenantUsage> Tenants() const;
  // Each tenant's dominant share now, as Tenants() reports it, without building its maps: fn(index, path,
  // share) for every tenant in creation order (an index keeps its tenant).
  void ForEachDominantShare(const std::function<void(size_t, std::string_view, double)>& fn) const;
  std::vector<ReservationInfo> Reservations() const;
  ResourceMap TotalCapacity() const;   // schedulable nodes
  ResourceMap TotalAllocated() const;  // managed + unmanaged on schedulable nodes
  // The same totals for every resource the engine knows (zeros included), in ResourceNames() order,
  // without building maps: fn(name, capacity, allocated). O(resources).
  void ForEachResourceTotal(const std::function<void(std::string_view, int64_t, int64_t)>& fn) const;
  size_t QueueDepth() const;
  // The submit time of the longest-waiting queued request, or -1 when none waits. O(queue length).
  TimeMs OldestQueuedSubmitted() const;
  // Every queued request in the order the next scheduling pass looks at them, with its position and an
  // estimated start (estimate.cc says how it is computed and what it cannot know).
  std::vector<QueueEstimate> QueueEstimates(TimeMs now, const QueueEstimateOptions& options = {}) const;
  size_t RunningCount() const;
  const EngineOptions& options() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot
