// A real single-member etcd for tests: started on free loopback ports with a data dir under a TempDir,
// stopped by its PID (never by name). Tests skip when the `etcd` binary is not installed.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd_client.h"
#include "support.h"

extern char** environ;

namespace allot::testing {

// The etcd binary on PATH, or "" when absent.
inline std::string EtcdBinary() {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t c = p.find(':', pos);
    if (c == std::string::npos) c = p.size();
    std::string cand = p.substr(pos, c - pos) + "/etcd";
    if (access(cand.c_str(), X_OK) == 0) return cand;
    pos = c + 1;
  }
  return "";
}

class EtcdProcess {
 public:
  // `dir`: where the data and the log go. `extra`: more etcd flags (e.g. --max-request-bytes).
  explicit EtcdProcess(std::string dir, std::vector<std::string> extra = {})
      : dir_(std::move(dir)), extra_(std::move(extra)) {}
  ~EtcdProcess() { Stop(SIGKILL); }

  // Starts etcd (on new ports the first time, the same ones after a Stop) and waits until it answers.
  bool Start() {
    if (client_port_ == 0) {
      client_port_ = FreePort();
      do peer_port_ = FreePort();
      while (peer_port_ == client_port_);
    }
    std::string c = "http://127.0.0.1:" + std::to_string(client_port_);
    std::string p = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> argv = {EtcdBinary(), "--name", "t", "--data-dir", dir_ + "/etcd-data",
                                     "--listen-client-urls", c, "--advertise-client-urls", c,
                                     "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
                                     "--initial-cluster", "t=" + p, "--logger", "zap",
                                     "--log-outputs", dir_ + "/etcd.log"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    auto client = store::EtcdClient::Create({{c}, 1000});
    for (int i = 0; i < 1500; i++) {  // up to ~15 s on a loaded machine
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (client.ok() && (*client)->Call("/v3/kv/range", {{"key", "AA=="}}).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  void Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int client_port_ = 0, peer_port_ = 0;
};

}  // namespace allot::testing
