#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "allot/http.h"
#include "net/http_parse.h"
#include "net/tls.h"

namespace allot::net {

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr uint64_t kListenId = 1;
constexpr uint64_t kCompletionId = 2;
constexpr uint64_t kShutdownId = 3;
constexpr uint64_t kFirstConnId = 16;

std::string ErrorJson(std::string_view code, std::string_view message) {
  std::string out = R"({"error":{"code":")";
  out += code;
  out += R"(","message":")";
  out += message;  // callers pass text without quotes, backslashes or control characters
  out += "\"}}";
  return out;
}

std::string Serialize(const HttpResponse& r, bool close) {
  std::string out;
  out.reserve(r.body.size() + 160);
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += HttpReason(r.status);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  for (const auto& [k, v] : r.headers) {
    out += "\r\n";
    out += k;
    out += ": ";
    out += v;
  }
  out += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
  out += r.body;
  return out;
}

}  // namespace

// What Responders share with the server; outlives the server if a Responder does.
struct Shared {
  std::mutex mu;
  struct Completion {
    uint64_t conn;
    std::string wire;
    bool close;
  };
  std::vector<Completion> completions;
  int event_fd = -1;
  std::atomic<size_t> in_flight{0};
  std::function<void(const AccessRecord&)> on_response;
  std::function<void(HttpResponse*)> decorate;
  bool gone = false;  // the server was destroyed

  void Complete(uint64_t conn, std::string wire, bool close) {
    bool wake;
    {
      std::lock_guard<std::mutex> l(mu);
      if (gone) return;
      wake = completions.empty();
      completions.push_back({conn, std::move(wire), close});
    }
    if (wake) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(event_fd, &one, sizeof one);
    }
  }
};

struct ResponderState {
  std::shared_ptr<Shared> shared;
  uint64_t conn = 0;
  bool close = false;  // the client asked for Connection: close
  std::atomic<bool> done{false};
  std::string method, path, remote;
  std::mutex actor_mu;
  std::string actor;
  int64_t start_us = 0;
  // Set while an inline handler runs on the I/O thread: an answer given during the call lands here and is
  // written at once, without the completion queue.
  std::atomic<std::string*> sync_wire{nullptr};
  std::atomic<bool> sync_sent{false};
  bool sync_close = false;

  void Send(HttpResponse r) {
    if (done.exchange(true)) return;
    bool close_conn = close || r.status == 408 || r.status == 413 || r.status == 431;
    if (shared->decorate) shared->decorate(&r);
    std::string wire = Serialize(r, close_conn);
    if (shared->on_response) {
      std::lock_guard<std::mutex> l(actor_mu);
      AccessRecord rec{method, path, remote, actor, r.status, NowMicros() - start_us, r.body.size()};
      shared->on_response(rec);
    }
    shared->in_flight.fetch_sub(1);
    if (std::string* out = sync_wire.exchange(nullptr)) {
      *out = std::move(wire);
      sync_close = close_conn;
      sync_sent.store(true, std::memory_order_release);
      return;
    }
    shared->Complete(conn, std::move(wire), close_conn);
  }
  ~ResponderState() {
    if (!done.load()) {
      HttpResponse r;
      r.status = 500;
      r.body = R"({"error":{"code":"internal","message":"the request was dropped without an answer"}})";
      Send(std::move(r));
    }
  }
};

void Responder::Send(HttpResponse response) const {
  if (state_) state_->Send(std::move(response));
}
void Responder::SetActor(const std::string& actor) const {
  if (!state_) return;
  std::lock_guard<std::mutex> l(state_->actor_mu);
  state_->actor = actor;
}

struct HttpServer::Impl {
  HttpServerOptions opt;
  Handler handler;
  int listen_fd = -1;
  int epoll_fd = -1;
  int shutdown_fd = -1;
  int port = 0;
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();

  struct Conn {
    int fd = -1;
    std::string in;
    std::string out;
    size_t out_off = 0;
    bool busy = false;          // a request is with the handler
    bool close_after = false;   // close once `out` is written
    bool sent_continue = false;
    bool lingering = false;     // answered and half-closed: unread input is drained, then closed
    bool in_unread = false;     // rejected while the client may still be sending
    bool inline_queued = false; // busy only until an inline answer comes back through the completion queue
    bool parse_on = false;      // an inline answer was queued with pipelined requests behind it
    bool peer_closed = false;   // the client half-closed (EPOLLRDHUP seen); no longer asked for
    bool hold_input = false;    // input arrived while a worker has the request: not asked for until answered
    bool refused = false;       // over the per-address limit: answered 503, then closed
    bool flush_due = false;     // answers wait in `out` for the end of this turn of the loop (see Flush)
    int64_t started_us = 0;     // first byte of the current request; 0: none
    int64_t last_us = 0;
    int64_t write_since_us = 0; // while answers are pending: when they last made progress
    size_t in_need = 0;         // bytes the request being read needs in `in` (0: just the read-ahead)
    uint32_t events = 0;
    std::string remote;
    SslPtr ssl;                   // TLS: the session (null for plain HTTP)
    bool handshaking = false;     // TLS: the handshake is not done yet
    bool tls_checked = false;     // TLS: the first byte was looked at (a plain-HTTP request is answered 400)
    bool tls_want_write = false;  // TLS: the handshake or a read waits until the socket takes output
    std::string peer_subject, peer_cn;  // TLS: the verified client certificate, once the handshake is done
  };
  std::unordered_map<uint64_t, Conn> conns;
  uint64_t next_id = kFirstConnId;
  bool deferring = false;     // a turn's events are being handled: Flush queues instead of writing
  std::vector<uint64_t> due;  // connections whose answers wait for the end of the turn
  // Open connections per peer address (refused ones apart: they only wait for their 503 to be read).
  struct AddressCount {
    size_t open = 0;
    size_t refusing = 0;
  };
  std::unordered_map<std::string, AddressCount> per_address;
  // Input read ahead of the parser: enough for the largest header block plus its terminator, so a block
  // that is too large is always seen whole enough to be refused (431).
  size_t read_ahead = 0;
  ParseLimits limits;
  // TLS: the context new connections get (ReloadTls swaps it; sessions keep the one they began with).
  bool tls = false;
  std::mutex tls_mu;
  SslCtxPtr tls_ctx;
  std::atomic<uint64_t> tls_failures{0};
  std::atomic<size_t> open_conns{0};
  std::atomic<uint64_t> refused_max{0}, refused_address{0}, closed_write_timeout{0};

  // A refused connection lingers (so the client reads its 503); past this many per address they are closed
  // at once, so refusing stays cheap under a flood.
  static constexpr size_t kMaxRefusingPerAddress = 16;
  // Buffers whose capacity grew past this are released once empty (an idle connection keeps little).
  static constexpr size_t kKeepCapacity = 64 * 1024;

  // Admission queue.
  std::mutex qmu;
  std::condition_variable qcv;
  struct Work {
    HttpRequest req;
    Responder responder;
  };
  std::deque<Work> queue;
  bool stop_workers = false;
  std::vector<std::thread> workers;
  std::atomic<size_t> queue_depth{0};
  std::atomic<uint64_t> rejected{0};

  std::atomic<bool> shutdown_requested{false};
  bool draining = false;
  int64_t drain_deadline_us = 0;

  ~Impl() {
    {
      std::lock_guard<std::mutex> l(shared->mu);
      shared->gone = true;
    }
    for (auto& [id, c] : conns) close(c.fd);
    if (listen_fd >= 0) close(listen_fd);
    if (epoll_fd >= 0) close(epoll_fd);
    if (shutdown_fd >= 0) close(shutdown_fd);
    if (shared->event_fd >= 0) close(shared->event_fd);
  }

  void SetEvents(uint64_t id, Conn& c, uint32_t ev) {
    if (c.events == ev) return;
    epoll_event e{};
    e.events = ev;
    e.data.u64 = id;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &e);
    c.events = ev;
  }

  // The events a connection waits for, from its state: output while answers are pending; input while
  // nothing is pending and the read-ahead has room; the half-close until seen. While a worker has the
  // request, input stays asked for until some arrives (hold_input): a client that waits for its answer
  // sends nothing meanwhile, and not switching input off and on saves two epoll_ctl calls a request.
  void Arm(uint64_t id, Conn& c) {
    if (c.flush_due) return;  // FlushDue arms it once its answers are written
    uint32_t ev = c.peer_closed ? 0u : static_cast<uint32_t>(EPOLLRDHUP);
    if (c.tls_want_write) ev |= EPOLLOUT;
    if (c.handshaking) {
      if (!c.tls_want_write) ev |= EPOLLIN;
    } else if (c.lingering) {
      ev |= EPOLLIN;
    } else if (c.out_off < c.out.size()) {
      ev |= EPOLLOUT;
    } else if ((!c.busy || c.inline_queued || ((c.events & EPOLLIN) && !c.hold_input)) && !c.close_after &&
               c.in.size() < ReadWant(c)) {
      ev |= EPOLLIN;
    }
    SetEvents(id, c, ev);
  }

  size_t ReadWant(const Conn& c) const { return std::max(read_ahead, c.in_need); }

  // Queues an answer for writing (moved, not copied, when nothing else is waiting).
  static void Append(Conn& c, std::string&& wire) {
    if (c.out.empty()) {
      c.out = std::move(wire);
    } else {
      c.out += wire;
    }
  }
  size_t Pending(const Conn& c) const { return c.out.size() - c.out_off; }

  void CloseConn(uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Conn& c = it->second;
    auto pa = per_address.find(c.remote);
    if (pa != per_address.end()) {
      size_t& n = c.refused ? pa->second.refusing : pa->second.open;
      if (n > 0) n--;
      if (pa->second.open == 0 && pa->second.refusing == 0) per_address.erase(pa);
    }
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    conns.erase(it);
    open_conns.store(conns.size(), std::memory_order_relaxed);
  }

  void Accept() {
    for (;;) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN or a transient error (EMFILE): try again on the next event
      if (conns.size() >= opt.max_connections || draining) {
        close(fd);
        refused_max.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      char host[INET6_ADDRSTRLEN] = "?";
      if (addr.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, host, sizeof host);
      } else if (addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, host, sizeof host);
      }
      AddressCount& count = per_address[host];
      bool refuse = opt.max_connections_per_address > 0 && count.open >= opt.max_connections_per_address;
      if (refuse) {
        refused_address.fetch_add(1, std::memory_order_relaxed);
        if (count.refusing >= kMaxRefusingPerAddress) {
          close(fd);
          continue;
        }
        count.refusing++;
      } else {
        count.open++;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (opt.send_buffer_bytes > 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.send_buffer_bytes, sizeof opt.send_buffer_bytes);
      }
      uint64_t id = next_id++;
      Conn& c = conns[id];
      c.fd = fd;
      c.last_us = NowMicros();
      c.remote = host;
      c.refused = refuse;
      if (tls && !StartTls(c)) {
        CloseConn(id);
        continue;
      }
      epoll_event e{};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.u64 = id;
      c.events = e.events;
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &e);
      open_conns.store(conns.size(), std::memory_order_relaxed);
      if (refuse) {
        HttpResponse r;
        r.status = 503;
        r.headers.push_back({"Retry-After", std::to_string(opt.retry_after_s)});
        r.body = ErrorJson("resource_exhausted", "too many connections from this address (at most " +
                                                     std::to_string(opt.max_connections_per_address) + ")");
        if (shared->decorate) shared->decorate(&r);
        c.out = Serialize(r, true);
        c.close_after = true;
        c.in_unread = true;  // its request may be arriving: linger so the 503 is not lost to a reset
        Flush(id, c);
      }
    }
  }

  // A TLS session for a new connection, from the current context; false when none could be made.
  bool StartTls(Conn& c) {
    SslCtxPtr ctx;
    {
      std::lock_guard<std::mutex> l(tls_mu);
      ctx = tls_ctx;
    }
    c.ssl.reset(SSL_new(ctx.get()));
    if (!c.ssl || SSL_set_fd(c.ssl.get(), c.fd) != 1) return false;
    SSL_set_accept_state(c.ssl.get());
    c.handshaking = true;
    return true;
  }

  // Takes the next step of a TLS handshake on an event with `events`; false if the connection was closed
  // (or handed to a lingering close). Once done, answers queued meanwhile (a refused connection's 503)
  // are written.
  bool Handshake(uint64_t id, Conn& c, uint32_t events) {
    if (!c.tls_checked) {
      // A TLS record starts with 0x16 (a handshake); a letter is a plain-HTTP request line, which gets a
      // plain answer saying so rather than a TLS alert the client cannot read.
      char first = 0;
      ssize_t n = recv(c.fd, &first, 1, MSG_PEEK);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        CloseConn(id);
        return false;
      }
      if (n < 0) return true;
      c.tls_checked = true;
      if (std::isalpha(static_cast<unsigned char>(first)) != 0) {
        tls_failures.fetch_add(1, std::memory_order_relaxed);
        c.ssl.reset();
        c.handshaking = false;
        Reject(id, c, 400, "this port speaks HTTPS (TLS): use an https:// URL");
        return false;
      }
    }
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl.get());
    if (r == 1) {
      c.handshaking = false;
      c.tls_want_write = false;
      PeerIdentity(c.ssl.get(), &c.peer_subject, &c.peer_cn);
      return Flush(id, c);
    }
    int err = SSL_get_error(c.ssl.get(), r);
    // A client that closed its side cannot finish a handshake (it has to send its Finished).
    bool hung_up = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    if ((err == SSL_ERROR_WANT_READ && !hung_up) || err == SSL_ERROR_WANT_WRITE) {
      c.tls_want_write = err == SSL_ERROR_WANT_WRITE;
      Arm(id, c);
      return true;
    }
    tls_failures.fetch_add(1, std::memory_order_relaxed);
    ERR_clear_error();
    CloseConn(id);
    return false;
  }

  // One read: > 0 bytes; 0 when nothing can be read now (the next event says when); -1 at the end of the
  // stream or on an error (the connection is to be closed).
  ssize_t Receive(Conn& c, char* buf, size_t n) {
    if (!c.ssl) {
      for (;;) {
        ssize_t r = recv(c.fd, buf, n, 0);
        if (r > 0) return r;
        if (r < 0 && errno == EINTR) continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
      }
    }
    ERR_clear_error();
    int r = SSL_read(c.ssl.get(), buf, static_cast<int>(n));
    if (r > 0) return r;
    int err = SSL_get_error(c.ssl.get(), r);
    if (err == SSL_ERROR_WANT_READ) return 0;
    if (err == SSL_ERROR_WANT_WRITE) {  // a TLS 1.3 key update to answer while the socket is full
      c.tls_want_write = true;
      return 0;
    }
    ERR_clear_error();
    return -1;
  }

  // One write: > 0 bytes taken; 0 when the socket is full; -1 on an error.
  ssize_t Transmit(Conn& c, const char* data, size_t n) {
    if (!c.ssl) {
      for (;;) {
        ssize_t r = send(c.fd, data, n, MSG_NOSIGNAL);
        if (r > 0) return r;
        if (r < 0 && errno == EINTR) continue;
        return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
      }
    }
    ERR_clear_error();
    int r = SSL_write(c.ssl.get(), data, static_cast<int>(std::min<size_t>(n, 1 << 30)));
    if (r > 0) return r;
    // Without renegotiation a write never needs to read first, so only a full socket waits.
    if (SSL_get_error(c.ssl.get(), r) == SSL_ERROR_WANT_WRITE) return 0;
    ERR_clear_error();
    return -1;
  }

  // Writes what it can and re-arms the connection's events; returns false if the connection was closed
  // (or handed to a lingering close), and then it must not be touched.
  bool Flush(uint64_t id, Conn& c) {
    if (c.handshaking) {  // written once the handshake is done
      Arm(id, c);
      return true;
    }
    if (deferring && c.out_off < c.out.size() && !c.close_after) {
      // While a turn's events are handled, answers are only queued; they are written together when the
      // turn ends (FlushDue), as Redis does: a client woken by the first answer then finds the others
      // there too, instead of going back to sleep between them (on a VM each wake-up is costly).
      if (!c.flush_due) {
        c.flush_due = true;
        due.push_back(id);
      }
      return true;
    }
    size_t before = c.out_off;
    while (c.out_off < c.out.size()) {
      ssize_t n = Transmit(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
      if (n > 0) {
        c.out_off += static_cast<size_t>(n);
        continue;
      }
      if (n == 0) {
        // The write timeout counts from the last progress (or from when answers started to wait).
        if (c.out_off != before || c.write_since_us == 0) c.write_since_us = NowMicros();
        // Drop what was written once it is most of the buffer, so a client that reads slowly but never
        // catches up does not grow it.
        if (c.out_off >= 16 * 1024 && 2 * c.out_off >= c.out.size()) {
          c.out.erase(0, c.out_off);
          c.out_off = 0;
        }
        Arm(id, c);
        return true;
      }
      CloseConn(id);
      return false;
    }
    if (c.out.capacity() > kKeepCapacity) {
      std::string().swap(c.out);
    } else {
      c.out.clear();
    }
    c.out_off = 0;
    c.write_since_us = 0;
    if (c.close_after) {
      if (c.ssl) {  // close_notify, so that the client knows the answer is whole
        ERR_clear_error();
        SSL_shutdown(c.ssl.get());
      }
      if (c.in_unread) {
        // Lingering close (as web servers do): closing a socket with unread input makes the kernel send
        // a reset, and a client still sending its body (a 413) would lose the answer. Half-close, then
        // read and discard until the client closes or a short deadline passes.
        shutdown(c.fd, SHUT_WR);
        c.lingering = true;
        c.last_us = NowMicros();
        Arm(id, c);
        return false;
      }
      CloseConn(id);
      return false;
    }
    if (draining && !c.busy) {
      CloseConn(id);
      return false;
    }
    Arm(id, c);
    return true;
  }

  // Answers from the I/O thread itself (errors found while parsing); closes after writing.
  void Reject(uint64_t id, Conn& c, int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = ErrorJson(status == 413 || status == 431 ? "resource_exhausted" : status == 408 ? "timeout" : "invalid_argument",
                       message);
    if (shared->decorate) shared->decorate(&r);
    c.out += Serialize(r, true);
    c.close_after = true;
    c.in_unread = true;
    c.in.clear();
    Flush(id, c);
  }

  void Read(uint64_t id, Conn& c) {
    char buf[65536];
    if (c.lingering) {
      for (;;) {
        ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) continue;  // discarded
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        CloseConn(id);  // EOF or error
        return;
      }
    }
    // Reads no further than the read-ahead (or the request being read): what a client sends beyond it
    // waits in the kernel, which then stops the client. Over TLS a read takes a whole record (at most
    // 16 KiB past the bound), so that no input waits inside the session, where epoll cannot see it.
    for (;;) {
      size_t want = ReadWant(c);
      if (c.in.size() >= want && !(c.ssl && SSL_pending(c.ssl.get()) > 0)) break;
      size_t room = c.ssl ? sizeof buf : std::min(sizeof buf, want - c.in.size());
      ssize_t n = Receive(c, buf, room);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        c.last_us = NowMicros();
        if (c.started_us == 0) c.started_us = c.last_us;
        if (!c.ssl && static_cast<size_t>(n) < room) break;
        continue;
      }
      if (n == 0) break;
      CloseConn(id);  // EOF or error
      return;
    }
    Parse(id, c);
  }

  // Parses and dispatches the next request if one is whole, then re-arms the connection's events. Returns
  // false if the connection was closed (or handed to a lingering close), and then it must not be touched.
  // Pipelined requests answered inline are answered in a run: each answer is queued and the next request
  // parsed at once, and the run's answers go out in one write. After kInlineRun answers the rest wait for
  // a later turn of the loop (through the completion queue), so that other connections get theirs.
  static constexpr int kInlineRun = 32;
  bool Parse(uint64_t id, Conn& c) {
    bool queued = false;
    for (int run = 1;; run++) {
      c.parse_on = false;
      if (!ParseOne(id, c)) return false;
      if (!c.parse_on) break;
      queued = true;
      if (run == kInlineRun) {
        c.busy = true;
        c.inline_queued = true;
        shared->Complete(id, std::string(), false);
        break;
      }
    }
    if (queued) return Flush(id, c);  // writes the run's answers and re-arms
    Arm(id, c);
    return true;
  }

  bool ParseOne(uint64_t id, Conn& c) {
    // Backpressure: while more answers wait for this client than allowed, its next request waits.
    if (c.busy || c.close_after || c.in.empty() || Pending(c) > opt.max_pending_output_bytes) return true;
    if (c.started_us == 0) c.started_us = NowMicros();
    HttpRequest req;
    ParsedRequest p = ParseRequest(c.in, limits, &req);
    if (p.outcome == ParsedRequest::kError) {
      Reject(id, c, p.error_status, p.error_message);
      return false;
    }
    if (p.outcome == ParsedRequest::kIncomplete) {
      c.in_need = p.need;
      if (p.expect_continue && !c.sent_continue) {
        c.sent_continue = true;
        c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        return Flush(id, c);
      }
      return true;
    }
    c.in.erase(0, p.consumed);
    if (c.in.empty() && c.in.capacity() > kKeepCapacity) std::string().swap(c.in);
    c.in_need = 0;
    c.sent_continue = false;
    req.remote = c.remote;
    req.peer_subject = c.peer_subject;
    req.peer_cn = c.peer_cn;
    return Dispatch(id, c, std::move(req), p.keep_alive);
  }

  // Returns false if the connection was closed (see Flush).
  bool Dispatch(uint64_t id, Conn& c, HttpRequest&& req, bool keep_alive) {
    c.busy = true;
    c.hold_input = false;
    bool inline_run = !draining && ((opt.run_inline && opt.run_inline(req)) ||
                                    (opt.run_inline_when_idle &&
                                     (opt.run_inline_when_busy || shared->in_flight.load() == 0) &&
                                     opt.run_inline_when_idle(req)));
    // A worker answers later: nothing is read meanwhile (see Arm). Inline, the answer is queued before the
    // next read.
    if (!inline_run) Arm(id, c);
    auto st = std::make_shared<ResponderState>();
    st->shared = shared;
    st->conn = id;
    st->close = !keep_alive || draining;
    st->method = req.method;
    st->path = req.path;
    st->remote = c.remote;
    st->start_us = c.started_us;
    c.started_us = 0;
    shared->in_flight.fetch_add(1);
    ResponderState* state = st.get();
    Responder responder(std::move(st));
    if (inline_run) {
      std::string wire;
      state->sync_wire.store(&wire);
      handler(std::move(req), responder);
      if (state->sync_wire.exchange(nullptr) != nullptr) {  // not answered yet: the queue brings it
        Arm(id, c);
        return true;
      }
      while (!state->sync_sent.load(std::memory_order_acquire)) {
      }  // answered (perhaps from another thread that took the slot): wait for the write to finish
      c.busy = false;
      c.last_us = NowMicros();
      if (state->sync_close) c.close_after = true;
      Append(c, std::move(wire));
      if (!c.in.empty() && !c.close_after) {  // pipelined requests follow: Parse goes on to the next
        c.parse_on = true;
        return true;
      }
      return Flush(id, c);
    }
    {
      std::unique_lock<std::mutex> l(qmu);
      if (queue.size() < opt.max_queue) {
        bool was_empty = queue.empty();
        queue.push_back({std::move(req), responder});
        queue_depth.store(queue.size());
        l.unlock();
        if (was_empty) qcv.notify_one();
        return true;
      }
    }
    rejected.fetch_add(1);
    HttpResponse r;
    r.status = 429;
    r.headers.push_back({"Retry-After", std::to_string(opt.retry_after_s)});
    r.body = R"({"error":{"code":"resource_exhausted","message":"the admission queue is full; retry later"}})";
    responder.Send(std::move(r));
    return true;
  }

  void Completions() {
    uint64_t v;
    [[maybe_unused]] ssize_t n = read(shared->event_fd, &v, sizeof v);
    std::vector<Shared::Completion> done;
    {
      std::lock_guard<std::mutex> l(shared->mu);
      done.swap(shared->completions);
    }
    for (auto& d : done) {
      auto it = conns.find(d.conn);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      c.busy = false;
      c.inline_queued = false;
      c.last_us = NowMicros();
      if (d.close) c.close_after = true;
      Append(c, std::move(d.wire));
      if (Flush(d.conn, c)) Parse(d.conn, c);
    }
  }

  static constexpr int64_t kLingerUs = 2'000'000;  // how long a lingering close waits for the client

  void Sweep() {
    int64_t now = NowMicros();
    std::vector<uint64_t> idle, slow, stalled;
    for (auto& [id, c] : conns) {
      if (c.handshaking) {  // a TLS handshake must finish within the request timeout
        if (now - c.last_us > opt.request_timeout_ms * 1000 || draining) idle.push_back(id);
        continue;
      }
      if (c.lingering) {
        if (now - c.last_us > kLingerUs || draining) idle.push_back(id);
        continue;
      }
      if (!c.out.empty()) {
        // Answers the client does not take: nothing more can be done for it (it is not reading).
        if (opt.write_timeout_ms > 0 && c.write_since_us != 0 && now - c.write_since_us > opt.write_timeout_ms * 1000) {
          stalled.push_back(id);
        }
        continue;
      }
      if (c.busy) continue;
      if (c.started_us != 0 && !c.in.empty()) {
        if (now - c.started_us > opt.request_timeout_ms * 1000) slow.push_back(id);
      } else if (now - c.last_us > opt.idle_timeout_ms * 1000 || draining) {
        idle.push_back(id);
      }
    }
    for (uint64_t id : idle) CloseConn(id);
    for (uint64_t id : stalled) {
      // Reset rather than close: a FIN would wait behind the answers the client does not take, and the
      // kernel would keep them (an orphaned socket) until its own timeouts.
      linger reset{1, 0};
      setsockopt(conns[id].fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      CloseConn(id);
    }
    closed_write_timeout.fetch_add(stalled.size(), std::memory_order_relaxed);
    for (uint64_t id : slow) {
      auto it = conns.find(id);
      if (it != conns.end()) Reject(id, it->second, 408, "the request did not arrive in time");
    }
  }

  void WorkerLoop() {
    std::vector<Work> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(qmu);
        qcv.wait(l, [&] { return stop_workers || !queue.empty(); });
        if (queue.empty() && stop_workers) return;
        // Take a few at a time so several workers share a burst.
        size_t take = std::max<size_t>(1, std::min<size_t>(queue.size() / static_cast<size_t>(std::max(1, opt.workers)), 64));
        for (size_t i = 0; i < take && !queue.empty(); i++) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        queue_depth.store(queue.size());
        if (!queue.empty()) qcv.notify_one();
      }
      for (auto& w : batch) handler(std::move(w.req), w.responder);
      batch.clear();
    }
  }

  void BeginDrain() {
    if (draining) return;
    draining = true;
    drain_deadline_us = NowMicros() + opt.shutdown_grace_ms * 1000;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
    close(listen_fd);
    listen_fd = -1;
    Sweep();
  }

  // Writes the answers queued during the turn (see Flush), then goes on with requests pipelined behind
  // them, as a write that made room does.
  void FlushDue() {
    deferring = false;
    for (size_t i = 0; i < due.size(); i++) {  // (Parse below may queue no more: deferring is off)
      auto it = conns.find(due[i]);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      c.flush_due = false;
      if (Flush(due[i], c) && !c.busy && !c.in.empty()) Parse(due[i], c);
    }
    due.clear();
  }

  void Loop() {
    for (int i = 0; i < std::max(1, opt.workers); i++) workers.emplace_back([this] { WorkerLoop(); });
    epoll_event evs[256];
    int64_t last_sweep = NowMicros();
    for (;;) {
      int n = epoll_wait(epoll_fd, evs, 256, 200);
      deferring = true;
      for (int i = 0; i < n; i++) {
        uint64_t id = evs[i].data.u64;
        if (id == kListenId) {
          Accept();
        } else if (id == kCompletionId) {
          Completions();
        } else if (id == kShutdownId) {
          uint64_t v;
          [[maybe_unused]] ssize_t r = read(shutdown_fd, &v, sizeof v);
          BeginDrain();
        } else {
          auto it = conns.find(id);
          if (it == conns.end()) continue;
          Conn& c = it->second;
          if (c.handshaking) {
            if (Handshake(id, c, evs[i].events) && !c.handshaking) Read(id, c);
            continue;
          }
          if ((evs[i].events & EPOLLOUT) && c.tls_want_write) {  // a TLS read waited for room to write
            c.tls_want_write = false;
            Read(id, c);
            continue;
          }
          if (evs[i].events & EPOLLOUT) {
            // Written down below the backpressure bound: the next pipelined request may go on.
            if (!Flush(id, c) || !Parse(id, c)) continue;
          }
          if ((evs[i].events & EPOLLIN) && !(evs[i].events & EPOLLERR) && c.busy && !c.inline_queued) {
            // Input (or the half-close) while a worker has the request: it waits in the kernel, and the
            // connection stops asking for it, until the answer is written (see Arm).
            c.hold_input = true;
            if (evs[i].events & (EPOLLRDHUP | EPOLLHUP)) c.peer_closed = true;
            Arm(id, c);
          } else if (evs[i].events & (EPOLLIN | EPOLLERR)) {
            Read(id, c);
          } else if (evs[i].events & (EPOLLRDHUP | EPOLLHUP)) {
            if (!c.busy && c.out.empty()) {
              Read(id, c);  // reads the EOF and closes
            } else if (!c.peer_closed) {
              // Half-closed while an answer is due: stop asking (level-triggered, it would fire on every
              // wait); the answer is still written, and the EOF read once it is.
              c.peer_closed = true;
              Arm(id, c);
            }
          }
        }
      }
      FlushDue();
      int64_t now = NowMicros();
      if (now - last_sweep > 200'000) {
        last_sweep = now;
        Sweep();
      }
      if (shutdown_requested.load() && !draining) BeginDrain();
      if (draining) {
        bool pending_writes = false;
        for (auto& [cid, c] : conns) pending_writes |= !c.out.empty();
        if ((shared->in_flight.load() == 0 && !pending_writes) || now > drain_deadline_us) break;
      }
    }
    {
      std::lock_guard<std::mutex> l(qmu);
      stop_workers = true;
    }
    qcv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->read_ahead = std::max<size_t>(16 * 1024, options.max_header_bytes + 4);
  impl->limits.max_header_bytes = options.max_header_bytes;
  impl->limits.max_body_bytes = options.max_body_bytes;
  if (!options.tls.cert_file.empty()) {
    auto ctx = MakeServerContext(options.tls);
    if (!ctx.ok()) return ctx.error();
    impl->tls = true;
    impl->tls_ctx = std::move(*ctx);
  }
  impl->handler = std::move(handler);
  // Each connection is a descriptor: the soft limit (often 1024) would cap connections long before
  // max_connections, and accept would fail with EMFILE.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    rlimit raised = nofile;
    raised.rlim_cur = nofile.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && nofile.rlim_max == RLIM_INFINITY) {
      raised.rlim_cur = 1 << 20;  // the usual fs.nr_open, which caps an unlimited hard limit
      setrlimit(RLIMIT_NOFILE, &raised);
    }
  }
  impl->shared->on_response = options.on_response;
  impl->shared->decorate = options.decorate;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(options.port);
  int gai = getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return Error{ErrorCode::kInvalidArgument, "listen address " + options.host + ": " + gai_strerror(gai)};
  }
  std::string last_error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 4096) == 0) {
      impl->listen_fd = fd;
      break;
    }
    last_error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  if (impl->listen_fd < 0) {
    return Error{ErrorCode::kUnavailable,
                 "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + last_error};
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  impl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl->shared->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  impl->shutdown_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->shared->event_fd < 0 || impl->shutdown_fd < 0) {
    return Error{ErrorCode::kInternal, std::string("epoll/eventfd: ") + std::strerror(errno)};
  }
  auto add = [&](int fd, uint64_t id) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = id;
    epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, fd, &e);
  };
  add(impl->listen_fd, kListenId);
  add(impl->shared->event_fd, kCompletionId);
  add(impl->shutdown_fd, kShutdownId);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }
void HttpServer::Run() { impl_->Loop(); }
void HttpServer::Shutdown() { RequestShutdown(); }
void HttpServer::RequestShutdown() {
  impl_->shutdown_requested.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(impl_->shutdown_fd, &one, sizeof one);
}
bool HttpServer::ShutdownRequested() const { return impl_->shutdown_requested.load(); }
size_t HttpServer::InFlight() const { return impl_->shared->in_flight.load(); }
size_t HttpServer::QueueDepth() const { return impl_->queue_depth.load(); }
uint64_t HttpServer::Rejected429() const { return impl_->rejected.load(); }
HttpServerStats HttpServer::Stats() const {
  HttpServerStats s;
  s.connections = impl_->open_conns.load(std::memory_order_relaxed);
  s.refused_max_connections = impl_->refused_max.load(std::memory_order_relaxed);
  s.refused_per_address = impl_->refused_address.load(std::memory_order_relaxed);
  s.closed_write_timeout = impl_->closed_write_timeout.load(std::memory_order_relaxed);
  s.tls_handshake_failures = impl_->tls_failures.load(std::memory_order_relaxed);
  return s;
}

Status HttpServer::ReloadTls() {
  if (!impl_->tls) return InvalidArgument("this server does not serve TLS");
  auto ctx = MakeServerContext(impl_->opt.tls);
  if (!ctx.ok()) return ctx.error();
  std::lock_guard<std::mutex> l(impl_->tls_mu);
  impl_->tls_ctx = std::move(*ctx);
  return Status::Ok();
}

}  // namespace allot::net
