// ServeLoop: `allot serve` from the store's opening to the last flush (see include/allot/server.h).
#include <cstdio>

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

}  // namespace

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
    hooks.on_standby = [](const std::string& leader) { Log("standby", {{"leader", SafeUtf8(leader)}}); };
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
                      {"auth", !config_.dev}});
    Status s = (*server)->Run();
    server_ = nullptr;
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
