// store::Open: the one place that turns a StoreConfig into a store (see include/allot/store.h).
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "allot/duration.h"
#include "allot/store.h"
#include "store/etcd_store.h"
#include "store/leader.h"

namespace allot::store {
namespace {

class EtcdLeadership : public Leadership {
 public:
  explicit EtcdLeadership(std::unique_ptr<LeaderElection> election) : election_(std::move(election)) {}
  bool IsLeader() const override { return election_->IsLeader(); }
  void Resign() override { election_->Resign(); }
  std::string value() const override { return election_->value(); }
  int64_t term() const override { return election_->term(); }

 private:
  std::unique_ptr<LeaderElection> election_;
};

Result<OpenedStore> OpenEtcd(const StoreConfig& config, const OpenHooks& hooks) {
  if (Status v = ValidateStoreConfig(config); !v.ok()) return v.error();
  std::string prefix = config.etcd_prefix;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  LeaderOptions lo;
  lo.endpoints = config.etcd_endpoints;
  lo.key = prefix + "/leader";
  lo.id = config.replica_id;
  lo.ttl_s = config.etcd_lease_ttl_s;
  auto election = LeaderElection::Create(lo);
  if (!election.ok()) return election.error();
  std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"campaigning for leadership\",\"key\":%s}\n",
               nlohmann::json(lo.key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  auto stop = hooks.stop ? hooks.stop : [] { return false; };
  auto on_lost = hooks.on_lost ? hooks.on_lost : [] {};
  Status st = (*election)->Campaign(stop, on_lost, hooks.on_standby);
  if (!st.ok()) return st.error();
  EtcdStoreOptions so;
  so.endpoints = config.etcd_endpoints;
  so.prefix = prefix;
  so.max_txn_ops = config.etcd_max_txn_ops;
  so.fence_key = (*election)->key();
  so.fence_value = (*election)->value();
  LeaderElection* e = election->get();
  so.keep_trying = [e, stop] { return e->IsLeader() && !stop(); };
  auto store = OpenEtcdStore(so);
  if (!store.ok()) return store.error();
  return OpenedStore{std::move(*store), std::make_unique<EtcdLeadership>(std::move(*election))};
}

// See WithSnapshot in include/allot/store.h.
class PreloadedStore final : public Store {
 public:
  PreloadedStore(std::unique_ptr<Store> inner, Snapshot snap)
      : inner_(std::move(inner)), snap_(std::move(snap)) {}
  Result<Snapshot> Load() override {
    if (!loaded_) {
      loaded_ = true;
      return std::move(snap_);
    }
    return inner_->Load();
  }
  void Commit(Batch batch, std::function<void(const Status&)> done) override {
    inner_->Commit(std::move(batch), std::move(done));
  }
  Status Flush() override { return inner_->Flush(); }
  Result<std::vector<AuditEvent>> Events(const EventQuery& q) override { return inner_->Events(q); }
  Result<int64_t> PruneEvents(int64_t before_ms) override { return inner_->PruneEvents(before_ms); }
  StoreStats Stats() const override { return inner_->Stats(); }
  void Close() override { inner_->Close(); }
  int64_t Revision() const override { return std::max(revision_, inner_->Revision()); }

 private:
  std::unique_ptr<Store> inner_;
  Snapshot snap_;
  bool loaded_ = false;
  int64_t revision_ = snap_.revision;
};

}  // namespace

std::unique_ptr<Store> WithSnapshot(std::unique_ptr<Store> inner, Snapshot snapshot) {
  return std::make_unique<PreloadedStore>(std::move(inner), std::move(snapshot));
}

const std::vector<std::string>& Kinds() {
  static const std::vector<std::string> kKinds = {"sqlite", "memory", "etcd"};
  return kKinds;
}

Result<OpenedStore> Open(const StoreConfig& config, const OpenHooks& hooks) {
  if (config.kind == "memory" || (config.kind == "sqlite" && config.data_dir == ":memory:")) {
    return OpenedStore{NewMemoryStore(), nullptr};
  }
  if (config.kind == "sqlite") {
    SqliteStoreOptions so;
    so.synchronous_full = config.sync_full;
    auto s = OpenSqliteStore(config.data_dir, so);
    if (!s.ok()) return s.error();
    return OpenedStore{std::move(*s), nullptr};
  }
  if (config.kind == "etcd") return OpenEtcd(config, hooks);
  return InvalidArgument("store \"" + config.kind + "\": expected sqlite, memory or etcd");
}

}  // namespace allot::store

namespace allot {

namespace {

// A whole number in [0, 2^62) or nothing; the caller's range check names the flag.
std::optional<int64_t> WholeNumber(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0 || v >= (int64_t{1} << 62)) return std::nullopt;
  return v;
}

}  // namespace

Status SetStoreFlag(std::string_view flag, const std::string& value, StoreConfig* config) {
  if (flag == "store") {
    config->kind = value;
  } else if (flag == "etcd-endpoints") {
    auto eps = ParseEtcdEndpoints(value);
    if (!eps.ok()) return eps.error();
    config->etcd_endpoints = *eps;
  } else if (flag == "etcd-prefix") {
    config->etcd_prefix = value;
  } else if (flag == "etcd-lease-ttl") {
    auto ms = ParseDurationMs(value);  // 5, 5s, 1m: etcd leases are whole seconds
    if (!ms || *ms % 1000 != 0)
      return InvalidArgument("--etcd-lease-ttl: expected whole seconds (5, 5s, 1m; 1s..1h)");
    config->etcd_lease_ttl_s = *ms / 1000;
  } else if (flag == "etcd-max-txn-ops") {
    auto v = WholeNumber(value);
    if (!v) return InvalidArgument("--etcd-max-txn-ops: expected a whole number (8..1048576)");
    config->etcd_max_txn_ops = static_cast<size_t>(*v);
  } else {
    return InvalidArgument("--" + std::string(flag) + ": not a store flag");
  }
  return Status::Ok();
}

const std::vector<std::string>& StoreFlags() {
  static const std::vector<std::string> kFlags = {"store", "etcd-endpoints", "etcd-prefix", "etcd-lease-ttl",
                                                  "etcd-max-txn-ops"};
  return kFlags;
}

Status ValidateStoreConfig(const StoreConfig& config) {
  if (config.kind != "sqlite" && config.kind != "memory" && config.kind != "etcd") {
    return InvalidArgument("--store \"" + config.kind + "\": expected sqlite, memory or etcd");
  }
  if (config.kind != "etcd") return Status::Ok();
  if (config.etcd_endpoints.empty()) return InvalidArgument("--store etcd needs --etcd-endpoints");
  if (config.etcd_prefix.empty() || config.etcd_prefix[0] != '/') return InvalidArgument("--etcd-prefix must start with /");
  if (config.etcd_lease_ttl_s < 1 || config.etcd_lease_ttl_s > 3600) {
    return InvalidArgument("--etcd-lease-ttl: expected 1..3600 seconds");
  }
  if (config.etcd_max_txn_ops < 8 || config.etcd_max_txn_ops > (1u << 20)) {
    return InvalidArgument("--etcd-max-txn-ops: expected 8..1048576");
  }
  return Status::Ok();
}

}  // namespace allot
