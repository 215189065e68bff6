// The load generators' one design, as redis-benchmark's and wrk's: one thread with one epoll loop over
// every connection, each connection with one round trip in flight at a time that starts the next as soon
// as the answer is in. Next and Answer say what a connection sends and when its answer is complete; the
// loop does the sockets. (bench_server pairs and bench_server_ratelimit use it.)
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::bench {

using LoadClock = std::chrono::steady_clock;

struct LoadConn {
  size_t index = 0;  // in the loop's connections, 0 .. connections-1
  int fd = -1;
  std::string out, in;
  size_t out_off = 0;
  LoadClock::time_point sent;  // when the round trip in flight started (set by the loop)
  // Set by `answer` while the connection is inside a sequence it must finish (an allocation to release):
  // the loop starts its next round trip even when the run's time is up.
  bool mid_sequence = false;
};

struct EpollLoad {
  std::string host, port;
  int connections = 1;
  double seconds = 5;
  // Fills c->out with the connection's next round trip (c->out is empty, c->in holds what came after the
  // last answer).
  std::function<void(LoadConn* c)> next;
  // Consumes one complete answer from the front of c->in: true when it was there, false while it is
  // incomplete (the loop reads more).
  std::function<bool(LoadConn* c)> answer;
  uint64_t broken = 0;  // connections lost, sends that failed
  double elapsed = 0;   // seconds from the first request to the last answer
};

// The HOST:PORT of a scheme://HOST:PORT[/...] address into load->host and load->port: false without a port.
// Returns HOST:PORT (an HTTP Host header).
inline bool SetAddress(const std::string& url, EpollLoad* load, std::string* hostport) {
  std::string hp = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  if (size_t slash = hp.find('/'); slash != std::string::npos) hp.resize(slash);
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) return false;
  load->host = hp.substr(0, colon);
  load->port = hp.substr(colon + 1);
  *hostport = hp;
  return true;
}

// An HTTP/1.1 answer at the front of `s` (status line, headers, Content-Length body): its length, or 0
// while it is incomplete; its status and body go to *status and *body.
inline size_t HttpAnswer(std::string_view s, int* status, std::string_view* body) {
  size_t head = s.find("\r\n\r\n");
  if (head == std::string_view::npos) return 0;
  size_t len = 0;
  for (size_t p = s.find("\r\n"); p < head; p = s.find("\r\n", p + 2)) {
    constexpr std::string_view kName = "content-length:";
    std::string_view line = s.substr(p + 2, kName.size());
    if (line.size() == kName.size() &&
        std::equal(line.begin(), line.end(), kName.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
      len = std::strtoull(std::string(s.substr(p + 2 + kName.size(), 24)).c_str(), nullptr, 10);
      break;
    }
  }
  if (s.size() < head + 4 + len) return 0;
  *status = s.size() >= 12 ? std::atoi(std::string(s.substr(9, 3)).c_str()) : 0;
  *body = s.substr(head + 4, len);
  return head + 4 + len;
}

// A TCP connection with Nagle off, or -1.
inline int ConnectTcp(const std::string& host, const std::string& port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return -1;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Writes what it can of c->out; false on a broken connection.
inline bool FlushLoad(LoadConn* c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c->out_off += static_cast<size_t>(n);
  }
  return true;
}

// Connects, runs the load for load->seconds, then waits (up to 10 s) for the answers in flight. False,
// with errno set, when a connection cannot be made.
inline bool RunEpollLoad(EpollLoad* load) {
  const int conns = std::max(1, load->connections);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<LoadConn> cs(static_cast<size_t>(conns));
  auto watch = [&](LoadConn& c, int op, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<uint32_t>(c.index);
    epoll_ctl(ep, op, c.fd, &ev);
  };
  for (size_t i = 0; i < cs.size(); i++) {
    cs[i].index = i;
    cs[i].fd = ConnectTcp(load->host, load->port);
    if (cs[i].fd < 0) {
      int e = errno;
      for (auto& c : cs) ::close(c.fd);
      ::close(ep);
      errno = e;
      return false;
    }
    watch(cs[i], EPOLL_CTL_ADD, EPOLLIN);
  }
  auto start = [&](LoadConn& c) {
    c.out.clear();
    c.out_off = 0;
    load->next(&c);
    c.sent = LoadClock::now();
    if (!FlushLoad(&c)) load->broken++;
    if (c.out_off < c.out.size()) watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
  };
  const auto t0 = LoadClock::now();
  const auto until =
      t0 + std::chrono::duration_cast<LoadClock::duration>(std::chrono::duration<double>(load->seconds));
  for (auto& c : cs) start(c);
  std::vector<epoll_event> evs(static_cast<size_t>(conns));
  char buf[65536];
  bool stopping = false;
  int in_flight = conns;
  while (in_flight > 0) {
    int n = epoll_wait(ep, evs.data(), conns, 1000);
    if (n < 0 && errno != EINTR) break;
    if (!stopping && LoadClock::now() >= until) stopping = true;
    for (int k = 0; k < n; k++) {
      const epoll_event& e = evs[static_cast<size_t>(k)];
      LoadConn& c = cs[e.data.u32];
      if (e.events & EPOLLOUT) {
        if (!FlushLoad(&c)) load->broken++;
        if (c.out_off == c.out.size()) watch(c, EPOLL_CTL_MOD, EPOLLIN);
      }
      if (!(e.events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        load->broken++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        in_flight--;
        continue;
      }
      c.in.append(buf, static_cast<size_t>(got));
      if (!load->answer(&c)) continue;
      if (stopping && !c.mid_sequence) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        in_flight--;
        continue;
      }
      start(c);
    }
    if (stopping && LoadClock::now() > until + std::chrono::seconds(10)) break;  // answers that never come
  }
  load->elapsed = std::chrono::duration<double>(LoadClock::now() - t0).count();
  for (auto& c : cs) ::close(c.fd);
  ::close(ep);
  return true;
}

}  // namespace allot::bench
