// The replicas' registry under PREFIX/members/ (see MemberRegistry in include/allot/store.h).
//
// Each replica holds a lease of the leader lease's TTL and rewrites its entry under it every refresh:
// {"url", "role", "revision", "lag_seconds", "updated_ms", "echo"}. `echo` is the writer's steady clock
// when it sent the write: the replica's own follower, seeing the entry come back through its watch, knows
// that every change committed before that moment has reached it (StoreFollower::LagSeconds). The lease is
// kept alive every TTL/3 and granted afresh when etcd says it is gone (after a pause longer than the TTL).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "allot/store.h"
#include "store/etcd_client.h"

namespace allot {
namespace {

using nlohmann::json;
using store::Base64Decode;
using store::Base64Encode;
using store::JsonInt;

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class EtcdMemberRegistry final : public MemberRegistry {
 public:
  static Result<std::unique_ptr<MemberRegistry>> Open(const StoreConfig& config, int64_t refresh_ms) {
    auto r = std::unique_ptr<EtcdMemberRegistry>(new EtcdMemberRegistry());
    std::string prefix = config.etcd_prefix;
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    r->prefix_ = prefix;
    r->url_ = config.replica_id;
    r->key_ = prefix + "/members/" + config.replica_id;
    r->ttl_s_ = config.etcd_lease_ttl_s;
    r->refresh_ms_ = std::max<int64_t>(50, refresh_ms);
    auto writer = store::EtcdClient::Create({config.etcd_endpoints, 2000});
    if (!writer.ok()) return writer.error();
    r->writer_ = std::move(writer.value());
    auto reader = store::EtcdClient::Create({config.etcd_endpoints, 2000});
    if (!reader.ok()) return reader.error();
    r->reader_ = std::move(reader.value());
    r->thread_ = std::thread([p = r.get()] { p->Loop(); });
    return std::unique_ptr<MemberRegistry>(std::move(r));
  }

  ~EtcdMemberRegistry() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // The entry goes with its lease, at once.
    if (lease_ != 0) (void)writer_->Call("/v3/lease/revoke", {{"ID", std::to_string(lease_)}});
  }

  void Set(std::function<Report()> report) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      report_ = std::move(report);
      wake_ = true;
    }
    cv_.notify_all();
  }

  Result<std::vector<MemberInfo>> List() override {
    std::string from = prefix_ + "/members/";
    std::lock_guard<std::mutex> l(reader_mu_);
    auto r = reader_->Call(
        "/v3/kv/range", {{"key", Base64Encode(from)}, {"range_end", Base64Encode(store::PrefixEnd(from))}});
    if (!r.ok()) return r.error();
    std::vector<MemberInfo> out;
    if (!r->contains("kvs")) return out;
    std::string value;
    for (const auto& kv : (*r)["kvs"]) {
      if (!Base64Decode(kv.value("value", std::string()), &value)) continue;
      auto j = json::parse(value, nullptr, false);
      if (!j.is_object()) continue;
      MemberInfo m;
      m.url = j.value("url", std::string());
      m.role = j.value("role", std::string());
      m.revision = JsonInt(j, "revision");
      m.lag_seconds =
          j.contains("lag_seconds") && j["lag_seconds"].is_number() ? j["lag_seconds"].get<double>() : 0;
      m.updated_ms = JsonInt(j, "updated_ms");
      out.push_back(std::move(m));
    }
    return out;
  }

  Result<LeaderInfo> Leader() override {
    std::lock_guard<std::mutex> l(reader_mu_);
    auto r = reader_->Call("/v3/kv/range", {{"key", Base64Encode(prefix_ + "/leader")}});
    if (!r.ok()) return r.error();
    LeaderInfo info;
    if (r->contains("kvs") && !(*r)["kvs"].empty()) {
      std::string value;
      Base64Decode((*r)["kvs"][0].value("value", std::string()), &value);
      info = {store::LeaderUrlOf(value), JsonInt((*r)["kvs"][0], "create_revision")};
    }
    return info;
  }

 private:
  EtcdMemberRegistry() = default;

  void Loop() {
    int64_t next_keepalive = 0;
    for (;;) {
      Report rep;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait_for(l, std::chrono::milliseconds(refresh_ms_), [&] { return stopping_ || wake_; });
        if (stopping_) return;
        wake_ = false;
        if (!report_) continue;
        rep = report_();  // under the lock: Set waits for it, so what it refers to may go after Set
      }
      int64_t now = SteadyMs();
      if (lease_ != 0 && now >= next_keepalive) {
        auto k = writer_->Call("/v3/lease/keepalive", {{"ID", std::to_string(lease_)}});
        if (k.ok() && JsonInt(*k, "TTL") <= 0) lease_ = 0;  // expired while this replica was away
        if (k.ok()) next_keepalive = now + ttl_s_ * 1000 / 3;
      }
      if (lease_ == 0) {
        auto g = writer_->Call("/v3/lease/grant", {{"TTL", ttl_s_}});
        if (!g.ok() || JsonInt(*g, "ID") == 0) continue;
        lease_ = JsonInt(*g, "ID");
        next_keepalive = now + ttl_s_ * 1000 / 3;
      }
      json value = {{"url", url_},
                    {"role", rep.role},
                    {"revision", rep.revision},
                    {"lag_seconds", rep.lag_seconds},
                    {"updated_ms", UnixMs()},
                    {"echo", SteadyMs()}};
      auto p = writer_->Call("/v3/kv/put", {{"key", Base64Encode(key_)},
                                            {"value", Base64Encode(value.dump())},
                                            {"lease", std::to_string(lease_)}});
      if (!p.ok() && p.error().code == ErrorCode::kNotFound) lease_ = 0;  // "requested lease not found"
    }
  }

  std::string prefix_, url_, key_;
  int64_t ttl_s_ = 5, refresh_ms_ = 500;
  std::unique_ptr<store::EtcdClient> writer_;  // the loop's (then the destructor's)
  std::unique_ptr<store::EtcdClient> reader_;  // guarded by reader_mu_
  std::mutex reader_mu_;
  int64_t lease_ = 0;  // the loop's
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false, wake_ = false;
  std::function<Report()> report_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

namespace store {

Result<std::unique_ptr<MemberRegistry>> OpenMemberRegistry(const StoreConfig& config, int64_t refresh_ms) {
  if (config.kind != "etcd")
    return InvalidArgument("the members registry needs an etcd store, not " + config.kind);
  if (Status v = ValidateStoreConfig(config); !v.ok()) return v.error();
  return EtcdMemberRegistry::Open(config, refresh_ms);
}

}  // namespace store
}  // namespace allot
