// A real `allot serve` process for end-to-end tests: started on a free loopback port with a temp data dir,
// stopped by its PID (SIGTERM, or SIGKILL for crash tests).
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

#include "net/http.h"
#include "support.h"

extern char** environ;

namespace allot::testing {

struct Reply {
  int status = 0;
  nlohmann::json body;
  std::map<std::string, std::string> headers;
};

class ServerProcess {
 public:
  // `extra` args go after `serve --listen ... --data ...`.
  ServerProcess(std::string data_dir, std::vector<std::string> extra)
      : data_(std::move(data_dir)), extra_(std::move(extra)) {}
  ~ServerProcess() { Kill(SIGKILL); }

  // Starts the server and waits until /healthz answers. Returns false if it exited instead.
  bool Start() {
    port_ = FreePort();
    std::vector<std::string> argv = {AllotBinary(), "serve", "--listen", "127.0.0.1:" + std::to_string(port_), "--data",
                                     data_, "--quiet"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    log_ = data_ + ".log";
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    for (int i = 0; i < 2000; i++) {  // waits for readiness, up to ~20 s on a loaded machine
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      auto c = net::HttpClient::Create(url(), 1000);
      if (c.ok()) {
        auto r = c->Request("GET", "/readyz");
        if (r.ok() && r->status == 200) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Sends `sig` and reaps the process; returns its exit status (or 128+signal).
  int Kill(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const { return ReadFile(log_); }
  pid_t pid() const { return pid_; }

 private:
  std::string data_;
  std::vector<std::string> extra_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// One keep-alive connection with JSON in and out.
class Api {
 public:
  explicit Api(const std::string& url, std::string token = "")
      : client_(std::move(net::HttpClient::Create(url, 15000).value())), token_(std::move(token)) {}
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    std::vector<std::pair<std::string, std::string>> h;
    if (!token_.empty()) h.push_back({"Authorization", "Bearer " + token_});
    auto r = client_.Request(method, path, body, h);
    Reply out;
    if (!r.ok()) return out;  // status 0: no answer
    out.status = r->status;
    out.headers = r->headers;
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    if (out.body.is_discarded()) out.body = r->body;
    return out;
  }
  Reply Call(const std::string& method, const std::string& path, const nlohmann::json& body) {
    return Call(method, path, body.dump());
  }

 private:
  net::HttpClient client_;
  std::string token_;
};

}  // namespace allot::testing
