// A loopback HTTP listener for agent tests: records every request (method, path, headers, body) and
// answers with a status chosen per path by the test. One thread; one request per connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace allot::host::testing_fake {

struct Recorded {
  std::string method, path, head, body;
};

class FakeServer {
 public:
  // status_for(method, path, nth request to that path counting from 0) -> HTTP status.
  explicit FakeServer(std::function<int(const std::string&, const std::string&, int)> status_for =
                          [](const std::string&, const std::string&, int) { return 200; })
      : status_for_(std::move(status_for)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Recorded> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // Waits (up to ~10 s) until at least n requests arrived.
  bool WaitFor(size_t n) {
    for (int i = 0; i < 1000; i++) {
      if (requests().size() >= n) return true;
      usleep(10000);
    }
    return false;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string raw;
      char buf[4096];
      size_t need = std::string::npos;
      while (true) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<size_t>(n));
        size_t he = raw.find("\r\n\r\n");
        if (he == std::string::npos) continue;
        if (need == std::string::npos) {
          size_t cl = raw.find("Content-Length: ");
          need = he + 4 + (cl != std::string::npos && cl < he ? std::stoul(raw.substr(cl + 16)) : 0);
        }
        if (raw.size() >= need) break;
      }
      Recorded r;
      size_t he = raw.find("\r\n\r\n");
      r.head = raw.substr(0, he);
      r.body = he == std::string::npos ? "" : raw.substr(he + 4);
      size_t s1 = raw.find(' '), s2 = raw.find(' ', s1 + 1);
      r.method = raw.substr(0, s1);
      r.path = raw.substr(s1 + 1, s2 - s1 - 1);
      int nth = 0;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& q : requests_) nth += q.path == r.path ? 1 : 0;
        requests_.push_back(r);
      }
      int status = status_for_(r.method, r.path, nth);
      std::string body = status / 100 == 2 ? "{}" : R"({"error": {"code": "x", "message": "y"}})";
      std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      send(c, out.data(), out.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  std::function<int(const std::string&, const std::string&, int)> status_for_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Recorded> requests_;
  std::thread thread_;
};

}  // namespace allot::host::testing_fake
