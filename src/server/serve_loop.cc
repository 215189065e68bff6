// ServeLoop: `allot serve` from the store's opening to the last flush (see include/allot/server.h).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "allot/http.h"
#include "allot/server.h"
#include "allot/utf8.h"
#include "server/util.h"

namespace allot {
namespace {

void Log(const std::string& msg, const server::Json& extra = server::Json::object()) {
  server::Json j = {{"level", "info"}, {"msg", msg}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = *it;
  std::fprintf(stderr, "%s\n", server::Dump(j).c_str());
}

// systemd's readiness protocol (sd_notify): one datagram to $NOTIFY_SOCKET, a path or, with a leading '@',
// an abstract socket. Nothing when the variable is unset (not run by systemd with Type=notify).
void Notify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
               static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

}  // namespace

// A standby replica: follows the store and answers reads on a thread of its own until Stop (see
// ReplicaOptions::standby). While the store cannot be read it keeps trying, so a replica starts as a
// standby even before etcd answers.
class ServeLoop::Standby {
 public:
  Standby(ServeLoop* loop, StoreConfig sc, MemberRegistry* members)
      : loop_(loop), sc_(std::move(sc)), members_(members), thread_([this] { Loop(); }) {}
  ~Standby() { Stop(); }

  // Promotion: waits (up to `wait_ms`) until the standby's state is as of `revision`, stops it, and
  // returns its records when they are (nullopt otherwise: the leader then reads them from etcd).
  std::optional<Snapshot> Handoff(int64_t revision, int64_t wait_ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (server_ == nullptr || server_->Revision() >= revision) break;
      }
      if (std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      handoff_revision_ = revision;
    }
    Stop();
    return std::move(handoff_);
  }

  // Stops serving and returns once the listener is closed.
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      if (server_ != nullptr) server_->Shutdown();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  MemberRegistry::Report Report() {
    std::lock_guard<std::mutex> l(mu_);
    if (server_ != nullptr) {
      last_ = {"standby", server_->Revision(), server_->LagSeconds()};
    }
    return last_;
  }

 private:
  // Waits `ms` or until Stop; false when stopped.
  bool Pause(int64_t ms) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_ || loop_->stop_.load(); });
    return !stop_ && !loop_->stop_.load();
  }

  void Loop() {
    int64_t failures = 0;
    while (!loop_->stop_.load()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) return;
      }
      auto follower = store::OpenFollower(sc_);
      if (!follower.ok()) {
        if (failures++ % 20 == 0) {
          Log("standby: cannot read the store yet; retrying",
              {{"error", SafeUtf8(follower.error().message, 300)}});
        }
        if (!Pause(500)) return;
        continue;
      }
      ReplicaOptions ro;
      ro.self_url = sc_.replica_id;
      ro.standby = true;
      ro.members = members_;
      auto server = Server::Create(loop_->config_, std::move(*follower), ro);
      if (!server.ok()) {
        if (failures++ % 20 == 0)
          Log("standby: cannot serve; retrying", {{"error", SafeUtf8(server.error().message, 300)}});
        if (!Pause(500)) return;
        continue;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) return;
        server_ = server->get();
      }
      loop_->server_ = server->get();
      if (loop_->stop_) (*server)->RequestShutdown();
      Log("serving as a standby", {{"listen", loop_->config_.listen},
                                   {"port", (*server)->port()},
                                   {"advertise", sc_.replica_id},
                                   {"revision", (*server)->Revision()}});
      Notify("READY=1\nSTATUS=standby on " + SafeUtf8(loop_->config_.listen, 200));
      (void)(*server)->Run();
      {
        std::lock_guard<std::mutex> l(loop_->reload_mu_);  // a reload in progress finishes first
        Server* mine = server->get();
        loop_->server_.compare_exchange_strong(mine, nullptr);
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        last_ = {"standby", (*server)->Revision(), (*server)->LagSeconds()};
        server_ = nullptr;
        if (handoff_revision_ > 0) {
          auto records = (*server)->FollowedRecords();
          if (records.ok() && records->revision >= handoff_revision_) handoff_ = std::move(*records);
        }
      }
      server->reset();
    }
  }

  ServeLoop* loop_;
  StoreConfig sc_;
  MemberRegistry* members_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;         // guarded by mu_
  Server* server_ = nullptr;  // guarded by mu_: the standby server while it serves
  MemberRegistry::Report last_{"standby", 0, 0};
  int64_t handoff_revision_ = 0;     // guarded by mu_: set by Handoff
  std::optional<Snapshot> handoff_;  // the records Handoff returns
  std::thread thread_;  // last: starts once the rest is set
};

Status ServeLoop::Reload() {
  std::lock_guard<std::mutex> l(reload_mu_);
  Server* s = server_.load();
  if (s == nullptr) return Error{ErrorCode::kUnavailable, "reload: the server is not serving yet"};
  Status st = s->Reload();
  if (st.ok()) {
    Log("reloaded", {{"tls", !config_.tls.cert_file.empty()}, {"config", config_.config_files}});
  } else {
    std::fprintf(
        stderr,
        "{\"level\":\"warn\",\"msg\":\"reload failed; the old settings stay in force\",\"error\":%s}\n",
        server::Dump(SafeUtf8(st.message(), 500)).c_str());
  }
  return st;
}

void ServeLoop::RequestStop() {
  stop_ = true;
  if (Server* s = server_.load(); s != nullptr) s->RequestShutdown();
}

Status ServeLoop::Run() {
  if (config_.dev) {
    std::fprintf(stderr,
                 "{\"level\":\"warn\",\"msg\":\"DEV MODE: authentication is OFF; every request acts as admin; "
                 "listening on loopback only\",\"listen\":%s}\n"
                 "allot: serve: WARNING: --dev runs WITHOUT AUTHENTICATION (loopback only). Do not use in production.\n",
                 server::Dump(SafeUtf8(config_.listen)).c_str());
  }
  // A listen address that cannot work is refused before the store is opened (or created) for nothing.
  {
    std::string host;
    int port = 0;
    if (auto s = net::SplitHostPort(config_.listen, &host, &port); !s.ok())
      return Error{s.code(), "listen: " + s.message()};
  }
  StoreConfig sc = config_.store;
  sc.data_dir = config_.data_dir;
  sc.sync_full = config_.sync_full;
  if (sc.kind == "etcd") return RunReplicated(std::move(sc));
  auto opened = store::Open(sc);
  if (!opened.ok()) return opened.error();
  auto server = Server::Create(config_, std::move(opened->store));
  if (!server.ok()) return server.error();
  server_ = server->get();
  if (stop_) (*server)->RequestShutdown();  // a signal while the state was loading
  Log("listening",
      {{"listen", config_.listen},
       {"port", (*server)->port()},
       {"store", sc.kind == "sqlite" && sc.data_dir == ":memory:" ? "memory" : sc.kind},
       {"data", sc.data_dir},
       {"auth", !config_.dev},
       {"tls", !config_.tls.cert_file.empty()},
       {"allocations_on_io_thread", config_.AllocationsOnIoThreadUnderLoad() ? "always" : "when_idle"}});
  Notify("READY=1\nSTATUS=serving on " + SafeUtf8(config_.listen, 200));
  Status s = (*server)->Run();
  Notify("STOPPING=1");
  {
    std::lock_guard<std::mutex> l(reload_mu_);  // a reload in progress finishes first
    server_ = nullptr;
  }
  server->reset();
  if (!s.ok()) return s;
  Log("stopped; store flushed");
  return Status::Ok();
}

Status ServeLoop::RunReplicated(StoreConfig sc) {
  auto url = AdvertisedUrl(config_);
  if (!url.ok()) return url.error();
  sc.replica_id = *url;
  auto members = store::OpenMemberRegistry(sc);
  if (!members.ok()) return members.error();
  for (;;) {
    std::atomic<bool> lost{false};
    OpenHooks hooks;
    hooks.stop = [this] { return stop_.load(); };
    hooks.on_lost = [this, &lost] {
      lost = true;
      if (Server* s = server_.load(); s != nullptr) s->Shutdown();
    };
    hooks.on_standby = [](const std::string& leader) { Log("standby", {{"leader", SafeUtf8(leader)}}); };
    Result<OpenedStore> opened = Error{ErrorCode::kUnavailable, "not opened"};
    std::optional<Snapshot> records;
    {
      // Serve reads as a standby while campaigning; stop (and free the port) once elected.
      Standby standby(this, sc, members->get());
      (*members)->Set([&standby] { return standby.Report(); });
      opened = store::Open(sc, hooks);
      MemberRegistry::Report last = standby.Report();
      (*members)->Set([last] { return last; });
      // The state is what etcd holds once the standby's follower passed the revision that made this
      // replica the leader: it hands its records over, and the leader need not read them again.
      if (opened.ok()) records = standby.Handoff(opened->leadership->term(), 2000);
      standby.Stop();
    }
    if (!opened.ok()) return stop_ ? Status::Ok() : Status(opened.error());
    Leadership* leader = opened->leadership.get();
    Log(records ? "elected leader; loading state from the standby's records"
                : "elected leader; loading state from etcd",
        {{"value", SafeUtf8(leader->value())}, {"term", leader->term()}});
    if (records) opened->store = store::WithSnapshot(std::move(opened->store), std::move(*records));
    ReplicaOptions ro;
    ro.self_url = sc.replica_id;
    ro.term = leader->term();
    ro.members = members->get();
    auto t0 = std::chrono::steady_clock::now();
    auto server = Server::Create(config_, std::move(opened->store), ro);
    if (!server.ok()) return server.error();
    server_ = server->get();
    (*members)->Set([s = server->get()] { return MemberRegistry::Report{"leader", s->Revision(), 0}; });
    // A signal, or the loss of the leadership, while the state was loading.
    if (stop_ || !leader->IsLeader()) (*server)->RequestShutdown();
    Log("listening", {{"listen", config_.listen},
                      {"port", (*server)->port()},
                      {"store", "etcd"},
                      {"data", sc.etcd_prefix},
                      {"role", "leader"},
                      {"advertise", sc.replica_id},
                      {"revision", (*server)->Revision()},
                      {"promotion_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - t0)
                                           .count()},
                      {"auth", !config_.dev},
                      {"tls", !config_.tls.cert_file.empty()}});
    Notify("READY=1\nSTATUS=leader on " + SafeUtf8(config_.listen, 200));
    Status s = (*server)->Run();
    Notify("STOPPING=1");
    {
      std::lock_guard<std::mutex> l(reload_mu_);  // a reload in progress finishes first
      server_ = nullptr;
    }
    MemberRegistry::Report last{"leader", (*server)->Revision(), 0};
    (*members)->Set([last] { return last; });
    leader->Resign();  // joins the keepalive before the server goes away
    server->reset();
    if (!lost || stop_) {
      if (!s.ok() && !lost) return s;
      Log("stopped; leadership released");
      return Status::Ok();
    }
    Log("leadership lost; stopped serving, a standby again");
  }
}

}  // namespace allot
