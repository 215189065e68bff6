// EtcdStore: tables as key prefixes, one group of whole batches = one etcd transaction, audit events under
// a sequence-numbered prefix. See etcd_store.h for the layout and the guarantees.
#include "store/etcd_store.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "store/etcd_client.h"

namespace allot {

namespace {

using nlohmann::json;
using store::Base64Decode;
using store::Base64Encode;
using store::EtcdClient;
using store::JsonInt;
using store::PrefixEnd;

bool InSubtree(const std::string& tenant, const std::string& root) {
  return tenant == root || (tenant.size() > root.size() && tenant.compare(0, root.size(), root) == 0 &&
                            tenant[root.size()] == '/');
}

std::string SeqKey(int64_t seq) {
  char b[32];
  std::snprintf(b, sizeof b, "%020lld", static_cast<long long>(seq));
  return b;
}

std::string EncodeEvent(const AuditEvent& e) {
  json j = {{"at", e.at}, {"type", e.type}};
  if (!e.id.empty()) j["id"] = e.id;
  if (!e.node.empty()) j["node"] = e.node;
  if (!e.tenant.empty()) j["tenant"] = e.tenant;
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (!e.by.empty()) j["by"] = e.by;
  if (!e.actor.empty()) j["actor"] = e.actor;
  return j.dump();
}

bool DecodeEventJson(const json& j, int64_t seq, AuditEvent* e) {
  if (!j.is_object()) return false;
  e->seq = seq;
  e->at = JsonInt(j, "at");
  auto s = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  e->type = s("type");
  e->id = s("id");
  e->node = s("node");
  e->tenant = s("tenant");
  e->reason = s("reason");
  e->by = s("by");
  e->actor = s("actor");
  return true;
}

// The events of one key: a single event (an object) or a transaction's events (an array), numbered from
// `first_seq`. False when the value is neither.
bool DecodeEvents(const std::string& text, int64_t first_seq, std::vector<AuditEvent>* out) {
  out->clear();
  auto j = json::parse(text, nullptr, false);
  if (j.is_object()) j = json::array({std::move(j)});
  if (!j.is_array()) return false;
  for (size_t i = 0; i < j.size(); i++) {
    AuditEvent e;
    if (!DecodeEventJson(j[i], first_seq + static_cast<int64_t>(i), &e)) return false;
    out->push_back(std::move(e));
  }
  return true;
}

class EtcdStore final : public Store {
 public:
  ~EtcdStore() override { Close(); }

  static Result<std::unique_ptr<Store>> Open(const EtcdStoreOptions& opt) {
    if (opt.max_txn_ops == 0 || opt.page_size == 0) return InvalidArgument("etcd store: limits must be positive");
    store::EtcdClientOptions co{opt.endpoints, opt.request_timeout_ms};
    auto writer = EtcdClient::Create(co);
    if (!writer.ok()) return writer.error();
    auto reader = EtcdClient::Create(co);
    if (!reader.ok()) return reader.error();
    auto s = std::unique_ptr<EtcdStore>(new EtcdStore());
    s->opt_ = opt;
    s->writer_ = std::move(writer.value());
    s->reader_ = std::move(reader.value());
    s->events_prefix_ = opt.prefix + "/events/";
    auto last = s->LastEventSeq();
    if (!last.ok()) return last.error();
    s->next_seq_ = *last + 1;
    s->thread_ = std::thread([p = s.get()] { p->Committer(); });
    return std::unique_ptr<Store>(std::move(s));
  }

  Result<Snapshot> Load() override {
    std::lock_guard<std::mutex> l(reader_mu_);
    Snapshot snap;
    int64_t revision = 0;  // every page at the first page's revision: one consistent snapshot
    for (int t = 0; t < kNumTables; t++) {
      std::string prefix = TablePrefix(static_cast<Table>(t));
      auto st = Scan(prefix, prefix, &revision, [&](std::string key, std::string value) {
        snap.tables[t].emplace_back(key.substr(prefix.size()), std::move(value));
        return true;
      });
      if (!st.ok()) return st.error();
    }
    std::lock_guard<std::mutex> l2(mu_);
    snap.last_event_seq = next_seq_ - 1;
    snap.revision = revision;
    if (revision_.load() < revision) revision_ = revision;
    return snap;
  }

  void Commit(Batch batch, std::function<void(const Status&)> done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!closed_) {
        bool wake = queue_.empty();
        queue_.push_back({std::move(batch), std::move(done)});
        if (wake) cv_.notify_one();
        return;
      }
    }
    if (done) done(Status(Error{ErrorCode::kUnavailable, "the store is closed"}));
  }

  Status Flush() override {
    std::unique_lock<std::mutex> l(mu_);
    uint64_t target = enqueued_total_ + queue_.size();
    idle_cv_.wait(l, [&] { return finished_total_ >= target || (closed_ && !running_); });
    return Status::Ok();
  }

  Result<std::vector<AuditEvent>> Events(const EventQuery& q) override {
    std::lock_guard<std::mutex> l(reader_mu_);
    std::vector<AuditEvent> out;
    if (q.limit == 0) return out;
    // The key holding seq after_seq + 1 may start before it (a transaction's events share one key).
    auto from = GroupKeyAtOrBefore(q.after_seq + 1);
    if (!from.ok()) return from.error();
    int64_t revision = 0;
    std::vector<AuditEvent> group;
    auto st = Scan(events_prefix_, *from, &revision, [&](std::string key, std::string value) {
      int64_t first = std::strtoll(key.c_str() + events_prefix_.size(), nullptr, 10);
      if (!DecodeEvents(value, first, &group)) return true;  // not ours: skip
      for (auto& e : group) {
        if (e.seq <= q.after_seq || e.at < q.since_ms) continue;
        if (!q.id.empty() && e.id != q.id) continue;
        if (!q.tenants.empty()) {
          bool in = false;
          for (const auto& t : q.tenants) in = in || InSubtree(e.tenant, t);
          if (!in) continue;
        }
        out.push_back(std::move(e));
        if (out.size() >= q.limit) return false;
      }
      return true;
    });
    if (!st.ok()) return st.error();
    return out;
  }

  Result<int64_t> PruneEvents(int64_t before_ms) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (fenced_) return Error{ErrorCode::kUnavailable, "etcd store: this replica is not the leader any more"};
    }
    // Events are appended in time order: every key before the first one holding a kept event goes; that
    // key, when some of its events go too, is rewritten under the seq of its first kept event.
    std::string first_kept, rewrite_key;
    json rewrite = json::array();
    int64_t dropped = 0;
    {
      std::lock_guard<std::mutex> l(reader_mu_);
      int64_t revision = 0;
      std::vector<AuditEvent> group;
      auto st = Scan(events_prefix_, events_prefix_, &revision, [&](std::string key, std::string value) {
        int64_t first = std::strtoll(key.c_str() + events_prefix_.size(), nullptr, 10);
        if (!DecodeEvents(value, first, &group)) return true;
        size_t old = 0;
        while (old < group.size() && group[old].at < before_ms) old++;
        dropped += static_cast<int64_t>(old);
        if (old == group.size()) return true;
        first_kept = std::move(key);
        if (old > 0) {
          rewrite_key = events_prefix_ + SeqKey(group[old].seq);
          for (size_t i = old; i < group.size(); i++) rewrite.push_back(json::parse(EncodeEvent(group[i])));
        }
        return false;
      });
      if (!st.ok()) return st.error();
    }
    std::string end = first_kept.empty() ? PrefixEnd(events_prefix_) : first_kept;
    json ops = json::array({{{"request_delete_range",
                              {{"key", Base64Encode(events_prefix_)}, {"range_end", Base64Encode(end)}}}}});
    if (!rewrite_key.empty()) {
      ops.push_back({{"request_delete_range", {{"key", Base64Encode(first_kept)}}}});
      std::string v = rewrite.size() == 1 ? rewrite[0].dump() : rewrite.dump();
      ops.push_back({{"request_put", {{"key", Base64Encode(rewrite_key)}, {"value", Base64Encode(v)}}}});
    }
    json txn = {{"success", std::move(ops)}};
    AddFence(&txn);
    std::lock_guard<std::mutex> l(reader_mu_);
    auto r = reader_->Call("/v3/kv/txn", txn);
    if (!r.ok()) return r.error();
    if (!r->value("succeeded", false)) return Error{ErrorCode::kUnavailable, "etcd store: not the leader any more"};
    return dropped;
  }

  StoreStats Stats() const override {
    std::lock_guard<std::mutex> l(mu_);
    StoreStats s = stats_;
    s.pending = queue_.size();
    return s;
  }

  int64_t Revision() const override { return revision_.load(); }

  void Close() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    {
      std::lock_guard<std::mutex> l(mu_);
      running_ = false;
    }
    idle_cv_.notify_all();
  }

 private:
  struct Pending {
    Batch batch;
    std::function<void(const Status&)> done;
  };

  // The operations of one transaction under construction: the last write of each key.
  struct Txn {
    std::vector<json> ops;
    std::unordered_map<std::string, size_t> index;  // key -> position in ops
    size_t bytes = 0;
    json events = json::array();  // the audit events, numbered from first_seq: one key at the end
    int64_t first_seq = 0;

    void Put(const std::string& key, const std::string& value) {
      json op = {{"request_put", {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}}}};
      Set(key, std::move(op), key.size() + value.size());
    }
    void Delete(const std::string& key) {
      json op = {{"request_delete_range", {{"key", Base64Encode(key)}}}};
      Set(key, std::move(op), key.size());
    }
    void Set(const std::string& key, json op, size_t raw) {
      bytes += raw * 4 / 3 + 64;
      auto [it, fresh] = index.emplace(key, ops.size());
      if (fresh) {
        ops.push_back(std::move(op));
      } else {
        ops[it->second] = std::move(op);
      }
    }
  };

  EtcdStore() = default;

  std::string TablePrefix(Table t) const { return opt_.prefix + "/" + TableName(t) + "/"; }

  void AddFence(json* txn) const {
    if (opt_.fence_key.empty()) return;
    (*txn)["compare"] = json::array({{{"key", Base64Encode(opt_.fence_key)},
                                      {"result", "EQUAL"},
                                      {"target", "VALUE"},
                                      {"value", Base64Encode(opt_.fence_value)}}});
  }

  // Calls fn(key, value) for each key in [from, PrefixEnd(prefix)) in key order, page by page at one
  // revision, until fn returns false. REQUIRES: reader_mu_ held.
  Status Scan(const std::string& prefix, std::string from, int64_t* revision,
              const std::function<bool(std::string, std::string)>& fn) {
    std::string end = PrefixEnd(prefix);
    for (;;) {
      json req = {{"key", Base64Encode(from)},
                  {"range_end", Base64Encode(end)},
                  {"limit", static_cast<int64_t>(opt_.page_size)}};
      if (*revision > 0) req["revision"] = *revision;
      auto r = reader_->Call("/v3/kv/range", req);
      if (!r.ok()) return r.error();
      if (*revision == 0) *revision = JsonInt((*r)["header"], "revision");
      const json& kvs = r->contains("kvs") ? (*r)["kvs"] : json::array();
      std::string key, value;
      for (const auto& kv : kvs) {
        if (!Base64Decode(kv.value("key", std::string()), &key) ||
            !Base64Decode(kv.value("value", std::string()), &value)) {
          return Internal("etcd store: malformed key or value under " + prefix);
        }
        from = key;
        if (!fn(std::move(key), std::move(value))) return Status::Ok();
      }
      if (!r->value("more", false) || kvs.empty()) return Status::Ok();
      from.push_back('\0');  // the next key after the last one seen
    }
  }

  Result<int64_t> LastEventSeq() {
    json req = {{"key", Base64Encode(events_prefix_)},
                {"range_end", Base64Encode(PrefixEnd(events_prefix_))},
                {"limit", 1},
                {"sort_order", "DESCEND"},
                {"sort_target", "KEY"}};
    std::lock_guard<std::mutex> l(reader_mu_);
    auto r = reader_->Call("/v3/kv/range", req);
    if (!r.ok()) return r.error();
    if (!r->contains("kvs") || (*r)["kvs"].empty()) return int64_t{0};
    std::string key, value;
    Base64Decode((*r)["kvs"][0].value("key", std::string()), &key);
    Base64Decode((*r)["kvs"][0].value("value", std::string()), &value);
    int64_t first = std::strtoll(key.c_str() + events_prefix_.size(), nullptr, 10);
    std::vector<AuditEvent> group;
    return DecodeEvents(value, first, &group) && !group.empty() ? group.back().seq : first;
  }

  // The key of the events group that holds `seq` or the last one before it (the prefix when none).
  // REQUIRES: reader_mu_ held.
  Result<std::string> GroupKeyAtOrBefore(int64_t seq) {
    json req = {{"key", Base64Encode(events_prefix_)},
                {"range_end", Base64Encode(events_prefix_ + SeqKey(seq) + std::string(1, '\0'))},
                {"limit", 1},
                {"sort_order", "DESCEND"},
                {"sort_target", "KEY"},
                {"keys_only", true}};
    auto r = reader_->Call("/v3/kv/range", req);
    if (!r.ok()) return r.error();
    if (!r->contains("kvs") || (*r)["kvs"].empty()) return events_prefix_;
    std::string key;
    Base64Decode((*r)["kvs"][0].value("key", std::string()), &key);
    return key;
  }

  // Adds `b` to `txn` unless that would pass the limits of a non-empty transaction.
  bool Fits(const Txn& txn, const Batch& b) const {
    if (txn.ops.empty()) return true;  // a lone batch always goes (etcd answers if it is too big)
    // A transaction's events share one key.
    size_t events_key = !txn.events.empty() || !b.events.empty() ? 1 : 0;
    size_t ops = txn.ops.size() + b.mutations.size() + events_key;
    size_t bytes = txn.bytes;
    for (const auto& m : b.mutations) bytes += (m.key.size() + m.value.size()) * 4 / 3 + 64;
    for (const auto& e : b.events) bytes += (e.type.size() + e.id.size() + e.tenant.size() + e.reason.size()) * 2 + 128;
    return ops <= opt_.max_txn_ops && bytes <= opt_.max_txn_bytes;
  }

  void Add(Txn* txn, Batch& b) {
    for (const auto& m : b.mutations) {
      std::string key = TablePrefix(m.table) + m.key;
      if (m.op == Mutation::Op::kPut) {
        txn->Put(key, m.value);
      } else {
        txn->Delete(key);
      }
    }
    for (auto& e : b.events) {
      e.seq = next_seq_++;
      if (txn->events.empty()) txn->first_seq = e.seq;
      txn->events.push_back(json::parse(EncodeEvent(e)));
    }
  }

  // Sends one transaction, retrying while etcd is unavailable (the writes are idempotent).
  Status Send(Txn& txn) {
    json body = {{"success", std::move(txn.ops)}};
    AddFence(&body);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.retry_ms);
    for (;;) {
      auto r = writer_->Call("/v3/kv/txn", body);
      if (r.ok()) {
        if (r->value("succeeded", false)) {
          revision_ = JsonInt((*r)["header"], "revision");
          return Status::Ok();
        }
        std::lock_guard<std::mutex> l(mu_);
        fenced_ = true;
        return Error{ErrorCode::kUnavailable, "etcd store: this replica is not the leader any more"};
      }
      if (r.error().code != ErrorCode::kUnavailable || std::chrono::steady_clock::now() >= deadline) {
        return r.error();
      }
      if (opt_.keep_trying && !opt_.keep_trying()) return r.error();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void Committer() {
    std::vector<Pending> work;
    for (;;) {
      Txn txn;
      int64_t seq_before = 0;
      bool fenced = false;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty() && closed_) return;
        seq_before = next_seq_;
        fenced = fenced_;
        while (!queue_.empty() && (fenced || Fits(txn, queue_.front().batch))) {
          if (!fenced) Add(&txn, queue_.front().batch);
          work.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (!txn.events.empty()) {
          std::string v = txn.events.size() == 1 ? txn.events[0].dump() : txn.events.dump();
          txn.Put(events_prefix_ + SeqKey(txn.first_seq), v);
        }
        enqueued_total_ += work.size();
      }
      Status st;
      bool sent = false;
      if (fenced) {
        st = Error{ErrorCode::kUnavailable, "etcd store: this replica is not the leader any more"};
      } else if (!txn.ops.empty()) {
        st = Send(txn);
        sent = true;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        if (sent && !st.ok()) next_seq_ = seq_before;  // nothing of this transaction exists in etcd
      }
      for (auto& p : work) {
        if (p.done) p.done(st);
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        finished_total_ += work.size();
        if (sent && st.ok()) stats_.transactions++;
        stats_.batches += work.size();
        if (!st.ok()) stats_.failures++;
      }
      idle_cv_.notify_all();
      work.clear();
    }
  }

  EtcdStoreOptions opt_;
  std::string events_prefix_;
  std::unique_ptr<EtcdClient> writer_;  // the committer's (and only its)
  std::unique_ptr<EtcdClient> reader_;  // guarded by reader_mu_
  std::mutex reader_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Pending> queue_;
  int64_t next_seq_ = 1;         // guarded by mu_
  bool fenced_ = false;          // guarded by mu_; set once a fenced transaction was refused
  uint64_t enqueued_total_ = 0;  // taken by the committer
  uint64_t finished_total_ = 0;
  bool closed_ = false;
  bool running_ = true;
  StoreStats stats_;
  std::atomic<int64_t> revision_{0};  // of the last successful transaction (or Load)
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options) { return EtcdStore::Open(options); }

Result<std::vector<std::string>> ParseEtcdEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    std::string e = list.substr(pos, comma - pos);
    while (!e.empty() && e.front() == ' ') e.erase(0, 1);
    while (!e.empty() && e.back() == ' ') e.pop_back();
    if (e.empty()) return InvalidArgument("etcd endpoints \"" + list + "\": empty entry");
    if (e.find("://") == std::string::npos) e = "http://" + e;
    if (e.rfind("http://", 0) != 0) return InvalidArgument("etcd endpoint \"" + e + "\": only http:// is supported");
    out.push_back(e);
    pos = comma + 1;
  }
  return out;
}

}  // namespace allot
