// Queue orders: the sequence in which a scheduling pass looks at the queued requests. One file per order
// (fifo_order.cc, drf_order.cc); the policy registry (policy.cc, allot/policy.h) builds the one named by
// EngineOptions::fair_share. An order only sequences: the pass decides what happens to each request.
//
// Thread-safety: none; the engine serialises access. An order keeps per-pass cursors, so one order
// serves one pass at a time (passes are not re-entrant).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "allot/engine.h"
#include "allot/result.h"
#include "engine/state.h"

namespace allot::engine {

// What an order reads: the wait queue (priority levels high to low, each in submission order), the
// allocations, and the tenant tree with its usage and the cluster capacity (for dominant shares). The
// usage moves during a pass as requests start, and an order may look at it again at every step.
struct QueueView {
  const RunQueue& queue;
  const ChunkedVector<Alloc>& allocs;
  const std::vector<Tenant>& tenants;
  const std::vector<int64_t>& cluster_cap;

  bool IsQueued(const RunQueue::Entry& e) const {
    const Alloc& a = allocs[e.first];
    return a.state == AllocState::kQueued && static_cast<uint32_t>(a.seq) == e.second;
  }
  double DominantShare(uint32_t tenant) const { return allot::DominantShare(tenants[tenant], cluster_cap); }
};

class QueueOrder {
 public:
  virtual ~QueueOrder() = default;
  virtual const char* name() const = 0;
  // Starts a pass over the queue as it is now.
  virtual void Begin(const QueueView& q) = 0;
  // The next allocation index to look at, or kNone when the pass has seen every queued request once.
  // A request that stopped being queued since Begin may still come; the pass skips it.
  virtual uint32_t Next(const QueueView& q) = 0;
  // The usage of `tenant`'s subtree changed (a placement or a preemption, during a pass or between
  // passes): an order that keeps shares between steps looks at them again.
  virtual void UsageChanged(uint32_t tenant) { (void)tenant; }
  // A note on the order's view of `ai` for --explain, appended to "queue position N (priority P".
  virtual std::string ExplainNote(const QueueView& q, uint32_t ai) const {
    (void)q;
    (void)ai;
    return {};
  }
};

// The order EngineOptions::fair_share names (see policy.cc, the registry); errors name the known orders.
Result<std::unique_ptr<QueueOrder>> MakeQueueOrder(const EngineOptions& options);

// One factory per order, for the registry.
Result<std::unique_ptr<QueueOrder>> MakeFifoOrder(const EngineOptions& options);
Result<std::unique_ptr<QueueOrder>> MakeDrfOrder(const EngineOptions& options);

}  // namespace allot::engine
