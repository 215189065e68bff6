// Leader election among `allot serve` replicas that share one etcd cluster.
//
// A replica campaigns by granting an etcd lease of `ttl_s` seconds and creating the leader key with it in a
// transaction that succeeds only while the key is absent (create_revision == 0). The winner keeps the lease
// alive (every ttl/3) and checks each time that the key still holds its value; the others watch the key
// and try again once it is gone (the leader resigned, or its lease expired because it died).
// The value is `id` plus a random suffix, unique per campaign, and doubles as the fencing token of the etcd
// store (EtcdStoreOptions::fence_key/fence_value): a deposed leader's writes are refused by etcd itself.
// Loss: when etcd says the lease is gone, the key holds another value, or no keepalive succeeded within
// ttl minus a safety margin (the lease may have expired unseen), `on_lost` runs once, at once, on the
// keepalive thread — the caller stops serving there. A standby re-reads the key at least every 2 s besides
// (every `poll_ms` while etcd cannot be reached).
// Thread-safety: Campaign and Resign from one thread; IsLeader, value and key from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "allot/result.h"

namespace allot {

struct LeaderOptions {
  std::vector<std::string> endpoints;  // etcd client URLs
  std::string key = "/allot/leader";
  std::string id;                      // who: e.g. the replica's listen address (shown to the others)
  int64_t ttl_s = 5;                   // lease TTL: a dead leader is replaced after about this long
  int64_t poll_ms = 200;               // how often a standby looks at the leader key
  int64_t request_timeout_ms = 2000;   // one HTTP exchange with etcd
};

class LeaderElection {
 public:
  static Result<std::unique_ptr<LeaderElection>> Create(const LeaderOptions& options);
  ~LeaderElection();  // resigns
  LeaderElection(const LeaderElection&) = delete;
  LeaderElection& operator=(const LeaderElection&) = delete;

  // Blocks until this replica leads (Ok), or `stop()` returns true (kUnavailable "stopped"). While it waits,
  // `on_wait(current_leader_value)` is called whenever the observed leader changes (may be empty).
  // After Ok, `on_lost` runs once if the leadership is lost later (not after Resign).
  Status Campaign(const std::function<bool()>& stop, std::function<void()> on_lost,
                  const std::function<void(const std::string&)>& on_wait = nullptr);
  // Stops the keepalive, deletes the key if it is still ours and revokes the lease: a standby takes over
  // within one poll interval.
  void Resign();
  bool IsLeader() const { return leader_.load(); }
  // The fencing token: the leader key's value while this replica leads.
  const std::string& value() const { return value_; }
  const std::string& key() const { return opt_.key; }
  // The leader key's create revision once Campaign succeeded (the leader's term).
  int64_t term() const { return term_; }

  struct Impl;

 private:
  LeaderElection() = default;
  void KeepAlive();
  // Returns once the leader key changed after `revision` (or after a while, or when `stop` says so).
  void WaitForChange(int64_t revision, const std::function<bool()>& stop);
  LeaderOptions opt_;
  std::string value_;
  int64_t term_ = 0;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> leader_{false};
};

}  // namespace allot
