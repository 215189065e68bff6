// ServeLoop: `allot serve` from the store's opening to the last flush (see include/allot/server.h).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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
  StoreConfig sc = config_.store;
  sc.data_dir = config_.data_dir;
  sc.sync_full = config_.sync_full;
  sc.replica_id = config_.listen;
  for (;;) {
    std::atomic<bool> lost{false};
    OpenHooks hooks;
    hooks.stop = [this] { return stop_.load(); };
    hooks.on_lost = [this, &lost] {
      lost = true;
      if (Server* s = server_.load(); s != nullptr) s->Shutdown();
    };
    hooks.on_standby = [](const std::string& leader) {
      Log("standby", {{"leader", SafeUtf8(leader)}});
      // A standby is up and doing its job (waiting to lead): ready for systemd, with its state.
      Notify("READY=1\nSTATUS=standby; the leader is " + SafeUtf8(leader, 200));
    };
    auto opened = store::Open(sc, hooks);
    if (!opened.ok()) return stop_ ? Status::Ok() : Status(opened.error());
    Leadership* leader = opened->leadership.get();
    if (leader != nullptr) Log("elected leader; loading state from etcd", {{"value", SafeUtf8(leader->value())}});
    auto server = Server::Create(config_, std::move(opened->store));
    if (!server.ok()) return server.error();
    server_ = server->get();
    // A signal, or the loss of the leadership, while the state was loading.
    if (stop_ || (leader != nullptr && !leader->IsLeader())) (*server)->RequestShutdown();
    Log("listening", {{"listen", config_.listen},
                      {"port", (*server)->port()},
                      {"store", sc.kind == "sqlite" && sc.data_dir == ":memory:" ? "memory" : sc.kind},
                      {"data", sc.kind == "etcd" ? sc.etcd_prefix : sc.data_dir},
                      {"auth", !config_.dev},
                      {"tls", !config_.tls.cert_file.empty()}});
    Notify("READY=1\nSTATUS=serving on " + SafeUtf8(config_.listen, 200));
    Status s = (*server)->Run();
    Notify("STOPPING=1");
    {
      std::lock_guard<std::mutex> l(reload_mu_);  // a reload in progress finishes first
      server_ = nullptr;
    }
    if (leader != nullptr) leader->Resign();  // joins the keepalive before the server goes away
    server->reset();
    if (leader == nullptr || !lost || stop_) {
      if (!s.ok() && !lost) return s;
      Log(leader != nullptr ? "stopped; leadership released" : "stopped; store flushed");
      return Status::Ok();
    }
    Log("leadership lost; stopped serving, campaigning again");
  }
}

}  // namespace allot
