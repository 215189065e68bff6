// An in-memory Store for tests: Commit is durable at once (there is nothing to lose).
#include <map>
#include <mutex>

#include "allot/store.h"

namespace allot {

const char* TableName(Table t) {
  switch (t) {
    case Table::kNodes:
      return "nodes";
    case Table::kTenants:
      return "tenants";
    case Table::kReservations:
      return "reservations";
    case Table::kAllocations:
      return "allocations";
    case Table::kIdempotency:
      return "idempotency";
    case Table::kMeta:
      return "meta";
    case Table::kHistory:
      return "history";
  }
  return "?";
}

Status Store::LoadEach(const LoadFn& fn) {
  auto snap = Load();
  if (!snap.ok()) return snap.error();
  for (int t = 0; t < kNumTables; t++) {
    for (const auto& [k, v] : snap->tables[t]) {
      if (Status st = fn(static_cast<Table>(t), k, v); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

namespace {

bool InSubtree(const std::string& tenant, const std::string& root) {
  return tenant == root || (tenant.size() > root.size() && tenant.compare(0, root.size(), root) == 0 &&
                            tenant[root.size()] == '/');
}

class MemoryStore final : public Store {
 public:
  Result<Snapshot> Load() override {
    std::lock_guard<std::mutex> l(mu_);
    Snapshot s;
    for (int t = 0; t < kNumTables; t++) s.tables[t].assign(tables_[t].begin(), tables_[t].end());
    s.last_event_seq = static_cast<int64_t>(events_.size());
    return s;
  }
  void Commit(Batch batch, std::function<void(const Status&)> done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_) {
        if (done) done(Status(Error{ErrorCode::kUnavailable, "the store is closed"}));
        return;
      }
      for (auto& m : batch.mutations) {
        auto& t = tables_[static_cast<int>(m.table)];
        if (m.op == Mutation::Op::kPut)
          t[m.key] = m.value;
        else
          t.erase(m.key);
      }
      for (auto& e : batch.events) {
        e.seq = static_cast<int64_t>(events_.size()) + 1;
        events_.push_back(e);
      }
      stats_.batches++;
      if (!batch.empty()) stats_.transactions++;
    }
    if (done) done(Status::Ok());
  }
  Status Flush() override { return Status::Ok(); }
  Result<std::vector<AuditEvent>> Events(const EventQuery& q) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<AuditEvent> out;
    for (const auto& e : events_) {
      if (out.size() >= q.limit) break;
      if (e.seq <= q.after_seq || e.at < q.since_ms || e.at < pruned_before_) continue;
      if (!q.id.empty() && e.id != q.id) continue;
      if (!q.tenants.empty()) {
        bool any = false;
        for (const auto& t : q.tenants) any |= InSubtree(e.tenant, t);
        if (!any) continue;
      }
      out.push_back(e);
    }
    return out;
  }
  Result<int64_t> PruneEvents(int64_t before_ms) override {
    std::lock_guard<std::mutex> l(mu_);
    int64_t n = 0;
    for (const auto& e : events_) n += (e.at < before_ms && e.at >= pruned_before_) ? 1 : 0;
    pruned_before_ = std::max(pruned_before_, before_ms);
    return n;
  }
  StoreStats Stats() const override {
    std::lock_guard<std::mutex> l(mu_);
    return stats_;
  }
  void Close() override {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> tables_[kNumTables];
  std::vector<AuditEvent> events_;
  int64_t pruned_before_ = 0;
  bool closed_ = false;
  StoreStats stats_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace allot
