// `allot serve --store etcd` replicas for tests: spawned on a free port without waiting (a replica answers
// only once it has read the store), killed, frozen and thawed by PID.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/http.h"
#include "support.h"

extern char** environ;

namespace allot::testing {

class ReplicaProcess {
 public:
  // `extra` flags go after the store flags (e.g. --advertise).
  ReplicaProcess(const std::string& dir, const std::string& name, const std::string& etcd_urls,
                 std::vector<std::string> extra = {}, const std::string& prefix = "/ft")
      : port_(FreePort()) {
    log_ = dir + "/" + name + ".log";
    argv_ = {AllotBinary(),
             "serve",
             "--dev",
             "--quiet",
             "--listen",
             "127.0.0.1:" + std::to_string(port_),
             "--store",
             "etcd",
             "--etcd-endpoints",
             etcd_urls,
             "--etcd-prefix",
             prefix,
             "--etcd-lease-ttl",
             "2"};
    argv_.insert(argv_.end(), extra.begin(), extra.end());
    Start();
  }
  ~ReplicaProcess() { Kill(SIGKILL); }

  void Start() {
    std::vector<char*> cargv;
    for (auto& a : argv_) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  // Sends `sig` and reaps the process; returns its exit code (128 + signal when killed).
  int Kill(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGCONT);
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // What /readyz says its role is: "leader", "standby", or "" when it does not answer ready.
  std::string Role() const {
    auto c = net::HttpClient::Create(url(), 1000);
    if (!c.ok()) return "";
    auto r = c->Request("GET", "/readyz");
    if (!r.ok() || r->status != 200) return "";
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("role") && j["role"].is_string() ? j["role"].get<std::string>() : "";
  }
  bool Ready() const { return !Role().empty(); }
  bool Leads() const { return Role() == "leader"; }
  bool Alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string Log() const { return ReadFile(log_); }

 private:
  int port_;
  pid_t pid_ = -1;
  std::string log_;
  std::vector<std::string> argv_;
};

template <typename F>
bool WaitFor(F pred, int ms) {
  for (int i = 0; i < ms / 20; i++) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace allot::testing
