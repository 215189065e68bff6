#include "store/leader.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "store/etcd_client.h"

namespace allot {

using nlohmann::json;
using store::Base64Decode;
using store::Base64Encode;
using store::JsonInt;

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct LeaderElection::Impl {
  std::unique_ptr<store::EtcdClient> client;  // Campaign's thread, then the keepalive thread, then Resign's
  std::unique_ptr<store::EtcdClient> watch;   // Campaign's: the leader key's watch while another leads
  int64_t lease = 0;
  std::thread keepalive;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::function<void()> on_lost;
};

Result<std::unique_ptr<LeaderElection>> LeaderElection::Create(const LeaderOptions& options) {
  if (options.ttl_s < 1) return InvalidArgument("leader election: the lease TTL must be at least 1 s");
  if (options.key.empty()) return InvalidArgument("leader election: empty key");
  auto c = store::EtcdClient::Create({options.endpoints, options.request_timeout_ms});
  if (!c.ok()) return c.error();
  auto e = std::unique_ptr<LeaderElection>(new LeaderElection());
  e->opt_ = options;
  e->impl_ = std::make_unique<Impl>();
  e->impl_->client = std::move(c.value());
  std::random_device rd;
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, "#%08x%08x", rd(), rd());
  e->value_ = options.id + suffix;
  return e;
}

LeaderElection::~LeaderElection() { Resign(); }

Status LeaderElection::Campaign(const std::function<bool()>& stop, std::function<void()> on_lost,
                                const std::function<void(const std::string&)>& on_wait) {
  auto& c = *impl_->client;
  const std::string key64 = Base64Encode(opt_.key);
  std::string seen = "\x01";  // the leader value last reported to on_wait (none yet)
  int64_t last_error_log = 0;
  for (;;) {
    if (stop && stop()) return Error{ErrorCode::kUnavailable, "leader election: stopped"};
    // Look first: granting a lease per poll would churn etcd while another replica leads.
    auto cur = c.Call("/v3/kv/range", {{"key", key64}});
    std::string holder;
    bool absent = false;
    if (cur.ok()) {
      absent = !cur->contains("kvs") || (*cur)["kvs"].empty();
      if (!absent) Base64Decode((*cur)["kvs"][0].value("value", std::string()), &holder);
    } else if (NowMs() - last_error_log > 5000) {
      last_error_log = NowMs();
      if (on_wait) on_wait("(etcd unreachable: " + cur.error().message + ")");
    }
    if (absent) {
      auto g = c.Call("/v3/lease/grant", {{"TTL", opt_.ttl_s}});
      if (g.ok() && JsonInt(*g, "ID") != 0) {
        int64_t lease = JsonInt(*g, "ID");
        json txn = {
            {"compare", json::array({{{"key", key64}, {"result", "EQUAL"}, {"target", "CREATE"}, {"create_revision", 0}}})},
            {"success", json::array({{{"request_put",
                                       {{"key", key64}, {"value", Base64Encode(value_)}, {"lease", std::to_string(lease)}}}}})}};
        auto t = c.Call("/v3/kv/txn", txn);
        if (t.ok() && t->value("succeeded", false)) {
          term_ = JsonInt((*t)["header"], "revision");  // the revision that created the key
          impl_->lease = lease;
          impl_->on_lost = std::move(on_lost);
          {
            std::lock_guard<std::mutex> l(impl_->mu);
            impl_->stopping = false;
          }
          leader_ = true;
          impl_->keepalive = std::thread([this] { KeepAlive(); });
          return Status::Ok();
        }
        (void)c.Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}});  // lost the race
      }
    } else if (cur.ok() && holder != seen) {
      seen = holder;
      if (on_wait) on_wait(holder);
    }
    if (cur.ok() && !absent) {
      WaitForChange(JsonInt((*cur)["header"], "revision"), stop);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(opt_.poll_ms));
    }
  }
}

void LeaderElection::WaitForChange(int64_t revision, const std::function<bool()>& stop) {
  // A watch of the key from the revision just read: its deletion (a resignation, or the lease of a dead
  // leader running out) ends the wait at once. Polled in slices so that `stop` is seen.
  if (!impl_->watch) {
    auto w = store::EtcdClient::Create({opt_.endpoints, opt_.request_timeout_ms});
    if (!w.ok()) return std::this_thread::sleep_for(std::chrono::milliseconds(opt_.poll_ms));
    impl_->watch = std::move(w.value());
  }
  auto& w = *impl_->watch;
  json create = {{"create_request", {{"key", Base64Encode(opt_.key)}, {"start_revision", revision + 1}}}};
  if (!w.OpenStream("/v3/watch", create).ok())
    return std::this_thread::sleep_for(std::chrono::milliseconds(opt_.poll_ms));
  int64_t until = NowMs() + std::max<int64_t>(opt_.poll_ms, 2000);
  while (NowMs() < until && !(stop && stop())) {
    auto m = w.NextMessage(opt_.poll_ms);
    if (!m.ok()) break;
    if (m->has_value() && (**m).contains("events")) break;
  }
  w.CloseStream();
}

void LeaderElection::KeepAlive() {
  auto& c = *impl_->client;
  const int64_t ttl_ms = opt_.ttl_s * 1000;
  const int64_t interval_ms = std::max<int64_t>(100, ttl_ms / 3);
  // etcd restarts the TTL when it receives a keepalive, never before we sent it: so the lease lives at
  // least until (last successful send + ttl). Give up a margin before that.
  const int64_t margin_ms = std::min<int64_t>(1000, ttl_ms / 4);
  int64_t valid_until = NowMs() + ttl_ms - margin_ms;
  const std::string lease = std::to_string(impl_->lease);
  const std::string key64 = Base64Encode(opt_.key);
  std::string why;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(impl_->mu);
      int64_t wait = std::min(interval_ms, std::max<int64_t>(0, valid_until - NowMs()));
      impl_->cv.wait_for(l, std::chrono::milliseconds(wait), [&] { return impl_->stopping; });
      if (impl_->stopping) return;
    }
    if (NowMs() >= valid_until) {
      why = "no keepalive succeeded in time";
      break;
    }
    int64_t sent = NowMs();
    auto r = c.Call("/v3/lease/keepalive", {{"ID", lease}});
    if (r.ok()) {
      if (JsonInt(*r, "TTL") <= 0) {
        why = "etcd says the lease expired";
        break;
      }
      auto k = c.Call("/v3/kv/range", {{"key", key64}});
      if (k.ok()) {
        std::string v;
        if (k->contains("kvs") && !(*k)["kvs"].empty()) Base64Decode((*k)["kvs"][0].value("value", std::string()), &v);
        if (v != value_) {
          why = "the leader key no longer holds this replica's value";
          break;
        }
        valid_until = sent + ttl_ms - margin_ms;
      }
    }
  }
  leader_ = false;
  std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"leadership lost\",\"why\":\"%s\"}\n", why.c_str());
  if (impl_->on_lost) impl_->on_lost();
}

void LeaderElection::Resign() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->keepalive.joinable()) impl_->keepalive.join();
  if (impl_->lease != 0) {
    auto& c = *impl_->client;
    if (leader_) {
      const std::string key64 = Base64Encode(opt_.key);
      json txn = {{"compare", json::array({{{"key", key64}, {"result", "EQUAL"}, {"target", "VALUE"},
                                            {"value", Base64Encode(value_)}}})},
                  {"success", json::array({{{"request_delete_range", {{"key", key64}}}}})}};
      (void)c.Call("/v3/kv/txn", txn);
    }
    (void)c.Call("/v3/lease/revoke", {{"ID", std::to_string(impl_->lease)}});
    impl_->lease = 0;
  }
  leader_ = false;
}

}  // namespace allot
