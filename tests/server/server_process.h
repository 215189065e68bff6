// A real `allot serve` process for end-to-end tests: started on a free loopback port with a temp data dir,
// stopped by its PID (SIGTERM, or SIGKILL for crash tests).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/http.h"
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
      auto c = net::HttpClient::Create(url(), 1000, tls_);
      if (c.ok()) {
        auto r = c->Request("GET", "/readyz");
        if (r.ok() && r->status == 200) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // For a server started with --tls-cert: url() is https://, and Start checks readiness trusting `ca`.
  void UseTls(const std::string& ca) { tls_.ca_file = ca; }

  // Sends `sig` and reaps the process; returns its exit status (or 128+signal).
  int Kill(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string url() const {
    return (tls_.ca_file.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port_);
  }
  int port() const { return port_; }
  std::string Log() const { return ReadFile(log_); }
  pid_t pid() const { return pid_; }

 private:
  std::string data_;
  std::vector<std::string> extra_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  net::TlsClientOptions tls_;
};

// One keep-alive connection with JSON in and out.
class Api {
 public:
  explicit Api(const std::string& url, std::string token = "", const net::TlsClientOptions& tls = {})
      : client_(std::move(net::HttpClient::Create(url, 15000, tls).value())), token_(std::move(token)) {}
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

// An `allot serve` with its access log on (ServerProcess passes --quiet), for tests of what reaches the
// log: the path and method of every request are written there. stderr goes to Log().
class LoggedServerProcess {
 public:
  // `extra` args go after `serve --listen ... --data ...`.
  LoggedServerProcess(std::string data_dir, std::vector<std::string> extra)
      : data_(std::move(data_dir)), extra_(std::move(extra)) {}
  ~LoggedServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  LoggedServerProcess(const LoggedServerProcess&) = delete;
  LoggedServerProcess& operator=(const LoggedServerProcess&) = delete;

  // Starts the server and waits until /readyz answers. Returns false if it exited instead.
  bool Start() {
    port_ = FreePort();
    std::vector<std::string> argv = {AllotBinary(), "serve", "--listen", "127.0.0.1:" + std::to_string(port_), "--data",
                                     data_};
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
    if (rc != 0) {
      pid_ = -1;
      return false;
    }
    for (int i = 0; i < 2000; i++) {  // up to ~20 s on a loaded machine
      if (!Running()) return false;
      auto c = net::HttpClient::Create(url(), 1000);
      if (c.ok()) {
        auto r = c->Request("GET", "/readyz");
        if (r.ok() && r->status == 200) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Whether the process is still running; once it is not, ExitText() says how it ended.
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    pid_ = -1;
    exit_ = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                              : "signal " + std::to_string(WTERMSIG(status));
    return false;
  }
  const std::string& ExitText() const { return exit_; }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string Log() const { return ReadFile(log_); }

 private:
  std::string data_;
  std::vector<std::string> extra_;
  std::string log_;
  std::string exit_ = "running";
  pid_t pid_ = -1;
  int port_ = 0;
};

// What a raw exchange got back: the status line's code (0: no answer), the headers (names lower-cased)
// and the body.
struct RawReply {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// Writes `bytes` as they are to a new connection to 127.0.0.1:`port` (for request lines and headers no
// client would send) and reads one answer: until its Content-Length is in, the server closes, or
// `timeout_ms` passes.
inline RawReply RawExchange(int port, const std::string& bytes, int timeout_ms = 5000) {
  RawReply out;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return out;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[8192];
  size_t head_end = std::string::npos, want = std::string::npos;
  while (want == std::string::npos || in.size() < want) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
      std::string head = in.substr(0, head_end);
      size_t line_end = head.find("\r\n");
      for (size_t pos = line_end == std::string::npos ? head.size() : line_end + 2; pos < head.size();) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string h = head.substr(pos, e - pos);
        pos = e + 2;
        size_t colon = h.find(':');
        if (colon == std::string::npos) continue;
        std::string name = h.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t v = h.find_first_not_of(' ', colon + 1);
        out.headers[name] = v == std::string::npos ? "" : h.substr(v);
      }
      auto cl = out.headers.find("content-length");
      want = head_end + 4 + (cl == out.headers.end() ? 0 : std::strtoull(cl->second.c_str(), nullptr, 10));
    }
  }
  close(fd);
  if (in.rfind("HTTP/1.", 0) == 0 && in.size() >= 12) out.status = std::atoi(in.c_str() + 9);
  if (head_end != std::string::npos) out.body = in.substr(head_end + 4);
  return out;
}

// Whether `body` is the API's error shape: {"error": {"code": string, "message": string, "field"?: string}}.
inline bool IsErrorBody(const nlohmann::json& body) {
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return false;
  const auto& e = body["error"];
  return e.contains("code") && e["code"].is_string() && e.contains("message") && e["message"].is_string() &&
         (!e.contains("field") || e["field"].is_string());
}

}  // namespace allot::testing
