// DRF queue order (fair_share: drf): priority first; within a priority the request whose tenant has the
// smaller weighted dominant share goes first, compared hierarchically: at each level of the tenant tree
// the subtree (or the tenant's own requests, at the tenant's own share) with the smaller share, equal
// shares to the older request; within a tenant, submission order. Shares are looked at again at every
// step, so a tenant that just started a request falls back behind the others.
//
// A tournament over the tenant tree keeps that order under updates: every tenant with queued requests
// below it holds a binary heap of its entries (its own next request, and each child subtree's best) keyed
// by (priority, share of the entry's branch, submission). A step takes the root's best; a usage change
// (a placement, a preemption) re-keys only the path from its tenant to the root. So a step costs
// O(depth x log fan-out) instead of a comparison with every tenant that has requests queued.
#include <tuple>
#include <utility>

#include "engine/queue_order.h"

namespace allot::engine {
namespace {

class DrfOrder final : public QueueOrder {
 public:
  const char* name() const override { return "drf"; }

  // One tournament node per tenant with queued requests in its subtree, its own requests in FIFO order
  // (the queue's order: priority, then submission).
  void Begin(const QueueView& q) override {
    used_ = 0;
    dirty_.clear();
    last_ = kNone;
    stamp_++;
    if (node_of_.size() < q.tenants.size()) {
      node_of_.resize(q.tenants.size(), 0);
      node_stamp_.resize(q.tenants.size(), 0);
    }
    for (const auto& [prio, v] : q.queue.levels()) {
      for (const auto& e : v) {
        if (!q.IsQueued(e)) continue;
        nodes_[NodeFor(q, q.allocs[e.first].tenant)].own.push_back(e.first);
      }
    }
    active_ = used_ > 0;
    // Children were created after their parents: settle bottom-up.
    for (uint32_t n = used_; n-- > 0;) Settle(q, n);
  }

  uint32_t Next(const QueueView& q) override {
    if (!active_) return kNone;
    // What changed since the previous step: the tenant whose request was taken (its next one), and the
    // usage of every tenant that a placement or preemption touched.
    if (last_ != kNone) RefreshPath(q, last_);
    for (uint32_t t : dirty_)
      for (uint32_t x = t; x != kNone; x = q.tenants[x].parent)
        if (Has(x)) {
          RefreshPath(q, node_of_[x]);
          break;
        }
    dirty_.clear();
    last_ = kNone;
    if (used_ == 0 || nodes_[0].best == kNone) {
      active_ = false;
      return kNone;
    }
    uint32_t ai = nodes_[0].best;
    last_ = node_of_[q.allocs[ai].tenant];
    nodes_[last_].cursor++;
    return ai;
  }

  void UsageChanged(uint32_t tenant) override {
    if (active_) dirty_.push_back(tenant);
  }

  std::string ExplainNote(const QueueView& q, uint32_t ai) const override {
    return ", dominant share " + std::to_string(q.DominantShare(q.allocs[ai].tenant)).substr(0, 6);
  }

 private:
  // An entry's key: higher priority first, then the smaller share of its branch, then the older request.
  using Key = std::tuple<int32_t, double, uint64_t>;
  struct Entry {
    uint32_t node;  // own entry: the node itself; child entry: the child
    Key key;
  };
  struct Node {
    uint32_t tenant = kNone;
    uint32_t parent = kNone;      // tournament node, kNone for the root
    std::vector<uint32_t> own;    // own queued requests, FIFO
    size_t cursor = 0;            // own[cursor] is the next
    std::vector<Entry> heap;      // min-heap by key
    uint32_t best = kNone;        // the subtree's first request
    uint32_t own_pos = kNone;     // where its own entry is in `heap`
    uint32_t parent_pos = kNone;  // where its entry is in the parent's heap
  };

  bool Has(uint32_t tenant) const { return tenant < node_stamp_.size() && node_stamp_[tenant] == stamp_; }

  // The tournament node of `tenant`, created with its ancestors' (the root first).
  uint32_t NodeFor(const QueueView& q, uint32_t tenant) {
    if (Has(tenant)) return node_of_[tenant];
    uint32_t parent = q.tenants[tenant].parent == kNone ? kNone : NodeFor(q, q.tenants[tenant].parent);
    uint32_t n = used_++;
    if (n == nodes_.size()) nodes_.emplace_back();
    Node& nd = nodes_[n];  // reused across passes: its vectors keep their capacity
    nd.tenant = tenant;
    nd.parent = parent;
    nd.own.clear();
    nd.cursor = 0;
    nd.heap.clear();
    nd.best = kNone;
    nd.own_pos = nd.parent_pos = kNone;
    node_of_[tenant] = n;
    node_stamp_[tenant] = stamp_;
    return n;
  }

  Key KeyOf(const QueueView& q, uint32_t ai, uint32_t branch_tenant) const {
    const Alloc& a = q.allocs[ai];
    return {-a.priority, q.DominantShare(branch_tenant), a.seq};
  }

  // Puts node n's own entry and best right (after its own requests or share changed), then its entry
  // in the parent's heap.
  void Settle(const QueueView& q, uint32_t n) {
    Node& nd = nodes_[n];
    // Skip own requests that stopped being queued (placed earlier in the pass, released).
    while (nd.cursor < nd.own.size() && q.allocs[nd.own[nd.cursor]].state != AllocState::kQueued) nd.cursor++;
    if (nd.cursor < nd.own.size())
      Put(n, Entry{n, KeyOf(q, nd.own[nd.cursor], nd.tenant)});
    else
      Remove(n, n);
    nd.best = Top(n);
    if (nd.parent == kNone) return;
    if (nd.best != kNone)
      Put(nd.parent, Entry{n, KeyOf(q, nd.best, nd.tenant)});
    else
      Remove(nd.parent, n);
  }

  // Node n changed: settle it and every ancestor (their branches' keys changed with it).
  void RefreshPath(const QueueView& q, uint32_t n) {
    for (uint32_t x = n; x != kNone; x = nodes_[x].parent) Settle(q, x);
  }

  uint32_t Top(uint32_t n) const {
    const auto& h = nodes_[n].heap;
    if (h.empty()) return kNone;
    uint32_t e = h.front().node;
    return e == n ? nodes_[n].own[nodes_[n].cursor] : nodes_[e].best;
  }

  // Heap of node n: insert or re-key the entry for `e.node` (n itself: its own entry; a child: the
  // child's), or remove it. Every entry's position is kept in its node (own_pos, parent_pos).
  uint32_t& PosOf(uint32_t n, uint32_t node) {
    return node == n ? nodes_[n].own_pos : nodes_[node].parent_pos;
  }
  void Put(uint32_t n, Entry e) {
    auto& h = nodes_[n].heap;
    uint32_t i = PosOf(n, e.node);
    if (i == kNone) {
      h.push_back(e);
      PosOf(n, e.node) = static_cast<uint32_t>(h.size() - 1);
      SiftUp(n, h.size() - 1);
      return;
    }
    bool up = e.key < h[i].key;
    h[i] = e;
    if (up)
      SiftUp(n, i);
    else
      SiftDown(n, i);
  }
  void Remove(uint32_t n, uint32_t node) {
    auto& h = nodes_[n].heap;
    uint32_t i = PosOf(n, node);
    if (i == kNone) return;
    PosOf(n, node) = kNone;
    if (i + 1 == h.size()) {
      h.pop_back();
      return;
    }
    h[i] = h.back();
    h.pop_back();
    PosOf(n, h[i].node) = i;
    if (i > 0 && h[i].key < h[(i - 1) / 2].key)
      SiftUp(n, i);
    else
      SiftDown(n, i);
  }
  void Swap(uint32_t n, size_t i, size_t j) {
    auto& h = nodes_[n].heap;
    std::swap(h[i], h[j]);
    PosOf(n, h[i].node) = static_cast<uint32_t>(i);
    PosOf(n, h[j].node) = static_cast<uint32_t>(j);
  }
  void SiftUp(uint32_t n, size_t i) {
    auto& h = nodes_[n].heap;
    while (i > 0 && h[i].key < h[(i - 1) / 2].key) {
      Swap(n, i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void SiftDown(uint32_t n, size_t i) {
    auto& h = nodes_[n].heap;
    for (;;) {
      size_t m = i, l = 2 * i + 1, r = l + 1;
      if (l < h.size() && h[l].key < h[m].key) m = l;
      if (r < h.size() && h[r].key < h[m].key) m = r;
      if (m == i) return;
      Swap(n, i, m);
      i = m;
    }
  }

  std::vector<Node> nodes_;  // the first used_ are this pass's; nodes_[0] is the root tenant's
  uint32_t used_ = 0;
  std::vector<uint32_t> node_of_;  // by tenant, valid where node_stamp_ == stamp_
  std::vector<uint64_t> node_stamp_;
  uint64_t stamp_ = 0;
  std::vector<uint32_t> dirty_;  // tenants whose usage changed since the previous step
  uint32_t last_ = kNone;        // the node whose request the previous step took
  bool active_ = false;
};

}  // namespace

Result<std::unique_ptr<QueueOrder>> MakeDrfOrder(const EngineOptions&) {
  return std::unique_ptr<QueueOrder>(std::make_unique<DrfOrder>());
}

}  // namespace allot::engine
