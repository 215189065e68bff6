// The etcd StoreFollower: a mirror of the store's tables, read once at one revision and then brought
// forward by etcd's watch of the whole prefix (see include/allot/store.h).
//
// Keys under PREFIX: <table>/KEY are records (mirrored and returned as mutations), `leader` is the leader
// key (its value and create revision give Leader()), members/URL are registrations (this replica's own one
// measures the lag), events/ is the audit log (skipped: Events reads it from etcd). A watch message holds
// whole revisions, so every Follow leaves the mirror at a state the leader committed.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "allot/store.h"
#include "store/etcd_client.h"
#include "store/etcd_store.h"

namespace allot {
namespace {

using nlohmann::json;
using store::Base64Decode;
using store::Base64Encode;
using store::JsonInt;
using store::PrefixEnd;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class EtcdFollower final : public StoreFollower {
 public:
  static Result<std::unique_ptr<StoreFollower>> Open(const StoreConfig& config) {
    auto f = std::unique_ptr<EtcdFollower>(new EtcdFollower());
    f->prefix_ = config.etcd_prefix;
    while (f->prefix_.size() > 1 && f->prefix_.back() == '/') f->prefix_.pop_back();
    f->self_key_ = f->prefix_ + "/members/" + config.replica_id;
    EtcdStoreOptions so;
    so.endpoints = config.etcd_endpoints;
    so.prefix = f->prefix_;
    so.retry_ms = 0;
    auto reader = OpenEtcdStore(so);
    if (!reader.ok()) return reader.error();
    f->reader_ = std::move(reader.value());
    auto watch = store::EtcdClient::Create({config.etcd_endpoints, 5000});
    if (!watch.ok()) return watch.error();
    f->watch_ = std::move(watch.value());
    auto meta = store::EtcdClient::Create({config.etcd_endpoints, 5000});
    if (!meta.ok()) return meta.error();
    f->meta_ = std::move(meta.value());
    if (Status s = f->Reload(); !s.ok()) return s.error();
    return std::unique_ptr<StoreFollower>(std::move(f));
  }

  ~EtcdFollower() override { Close(); }

  Status Reload() override {
    int64_t t0 = SteadyMs();
    auto snap = reader_->Load();
    if (!snap.ok()) return snap.error();
    for (int t = 0; t < kNumTables; t++) {
      mirror_[t].clear();
      for (auto& [k, v] : snap->tables[t]) mirror_[t].emplace(std::move(k), std::move(v));
    }
    // The leader as of the same revision.
    auto r = meta_->Call("/v3/kv/range",
                         {{"key", Base64Encode(prefix_ + "/leader")}, {"revision", snap->revision}});
    if (!r.ok()) return r.error();
    LeaderInfo leader;
    if (r->contains("kvs") && !(*r)["kvs"].empty()) {
      std::string value;
      Base64Decode((*r)["kvs"][0].value("value", std::string()), &value);
      leader = {store::LeaderUrlOf(value), JsonInt((*r)["kvs"][0], "create_revision")};
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      leader_ = leader;
    }
    watch_->CloseStream();
    watching_ = false;
    revision_ = snap->revision;
    confirmed_ms_ = t0;
    return Status::Ok();
  }

  Result<Snapshot> Load() override {
    Snapshot snap;
    for (int t = 0; t < kNumTables; t++) {
      snap.tables[t].assign(mirror_[t].begin(), mirror_[t].end());
    }
    snap.revision = revision_.load();
    return snap;
  }

  Result<FollowUpdate> Follow(int64_t timeout_ms) override {
    int64_t deadline = SteadyMs() + timeout_ms;
    if (!watching_) {
      std::string from = prefix_ + "/";
      json create = {{"create_request",
                      {{"key", Base64Encode(from)},
                       {"range_end", Base64Encode(PrefixEnd(from))},
                       {"start_revision", revision_.load() + 1}}}};
      if (Status s = watch_->OpenStream("/v3/watch", create); !s.ok()) return s.error();
      watching_ = true;
    }
    FollowUpdate up;
    for (;;) {
      int64_t left = deadline - SteadyMs();
      auto msg = watch_->NextMessage(std::max<int64_t>(0, left));
      if (!msg.ok()) {
        watching_ = false;
        return msg.error();
      }
      if (!msg->has_value()) break;  // nothing more in time
      const json& m = **msg;
      if (m.value("canceled", false)) {
        watch_->CloseStream();
        watching_ = false;
        if (JsonInt(m, "compact_revision") > 0) {
          return Error{ErrorCode::kFailedPrecondition,
                       "etcd compacted the history past revision " + std::to_string(revision_.load())};
        }
        return Error{ErrorCode::kUnavailable,
                     "etcd cancelled the watch: " + m.value("cancel_reason", std::string())};
      }
      if (m.contains("events") && m["events"].is_array() && !m["events"].empty()) {
        Apply(m["events"], &up);
        break;  // one message (whole revisions) per call: the caller applies it at once
      }
      if (left <= 0) break;
    }
    up.revision = revision_.load();
    return up;
  }

  LeaderInfo Leader() const override {
    std::lock_guard<std::mutex> l(mu_);
    return leader_;
  }

  double LagSeconds() const override {
    return static_cast<double>(std::max<int64_t>(0, SteadyMs() - confirmed_ms_.load())) / 1000.0;
  }

  int64_t Revision() const override { return revision_.load(); }

  void Commit(Batch, std::function<void(const Status&)> done) override {
    if (done)
      done(Status(Error{ErrorCode::kFailedPrecondition, "a standby does not write; the leader does"}));
  }
  Status Flush() override { return Status::Ok(); }
  Result<std::vector<AuditEvent>> Events(const EventQuery& query) override { return reader_->Events(query); }
  Result<int64_t> PruneEvents(int64_t) override {
    return Error{ErrorCode::kFailedPrecondition, "a standby does not write; the leader does"};
  }
  StoreStats Stats() const override { return {}; }
  void Close() override {
    if (watch_) watch_->CloseStream();
    watching_ = false;
    if (reader_) reader_->Close();
  }

 private:
  EtcdFollower() = default;

  // One watch message's events into the mirror and `up`.
  void Apply(const json& events, FollowUpdate* up) {
    const std::string leader_key = prefix_ + "/leader";
    int64_t rev = revision_.load();
    std::string key, value;
    for (const auto& ev : events) {
      const json& kv = ev.contains("kv") ? ev["kv"] : json::object();
      int64_t mod = JsonInt(kv, "mod_revision");
      if (mod <= revision_.load()) continue;  // already in the snapshot
      rev = std::max(rev, mod);
      if (!Base64Decode(kv.value("key", std::string()), &key)) continue;
      bool del = ev.value("type", std::string()) == "DELETE";
      if (key.size() <= prefix_.size() + 1 || key.compare(0, prefix_.size() + 1, prefix_ + "/") != 0)
        continue;
      if (key == leader_key) {
        LeaderInfo info;
        if (!del && Base64Decode(kv.value("value", std::string()), &value)) {
          info = {store::LeaderUrlOf(value), JsonInt(kv, "create_revision")};
        }
        std::lock_guard<std::mutex> l(mu_);
        if (del) info.term = leader_.term;  // nobody leads; the last term stays the last one seen
        leader_ = info;
        up->leader_changed = true;
        continue;
      }
      if (key == self_key_) {
        if (!del && Base64Decode(kv.value("value", std::string()), &value)) {
          auto j = json::parse(value, nullptr, false);
          int64_t echo = JsonInt(j, "echo");
          if (echo > confirmed_ms_.load()) confirmed_ms_ = echo;
        }
        continue;
      }
      std::string_view rest = std::string_view(key).substr(prefix_.size() + 1);
      for (int t = 0; t < kNumTables; t++) {
        std::string_view name = TableName(static_cast<Table>(t));
        if (rest.size() <= name.size() || rest.compare(0, name.size(), name) != 0 || rest[name.size()] != '/')
          continue;
        std::string record(rest.substr(name.size() + 1));
        Mutation m;
        m.table = static_cast<Table>(t);
        m.key = record;
        if (del) {
          m.op = Mutation::Op::kDelete;
          mirror_[t].erase(record);
        } else {
          Base64Decode(kv.value("value", std::string()), &value);
          m.value = value;
          mirror_[t][record] = value;
        }
        up->mutations.push_back(std::move(m));
        break;
      }
    }
    revision_ = rev;
  }

  std::string prefix_, self_key_;
  std::unique_ptr<Store> reader_;             // the first snapshot and the audit log
  std::unique_ptr<store::EtcdClient> watch_;  // the watch stream (Follow's thread)
  std::unique_ptr<store::EtcdClient> meta_;   // the leader key at the snapshot's revision (Reload)
  bool watching_ = false;
  std::map<std::string, std::string> mirror_[kNumTables];  // Load/Follow's thread
  std::atomic<int64_t> revision_{0};
  std::atomic<int64_t> confirmed_ms_{0};  // steady ms: every change committed before it is applied
  mutable std::mutex mu_;
  LeaderInfo leader_;  // guarded by mu_
};

}  // namespace

namespace store {

Result<std::unique_ptr<StoreFollower>> OpenFollower(const StoreConfig& config) {
  if (config.kind != "etcd") return InvalidArgument("a standby follows an etcd store, not " + config.kind);
  if (Status v = ValidateStoreConfig(config); !v.ok()) return v.error();
  return EtcdFollower::Open(config);
}

std::string LeaderUrlOf(const std::string& leader_value) {
  size_t hash = leader_value.rfind('#');
  return hash == std::string::npos ? leader_value : leader_value.substr(0, hash);
}

}  // namespace store
}  // namespace allot
