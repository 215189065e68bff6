#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>

#include "allot/http.h"
#include "net/tls.h"

namespace allot::net {

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Status SplitHostPort(const std::string& s, std::string* host, int* port) {
  std::string h;
  std::string p;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return InvalidArgument("address \"" + s + "\": expected [IPv6]:PORT");
    }
    h = s.substr(1, close - 1);
    p = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos) return InvalidArgument("address \"" + s + "\": expected HOST:PORT");
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  int v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v < 0 || v > 65535 || p.empty()) {
    return InvalidArgument("address \"" + s + "\": invalid port \"" + p + "\"");
  }
  *host = h.empty() ? "0.0.0.0" : h;
  *port = v;
  return Status::Ok();
}

Result<HttpClient> HttpClient::Create(const std::string& base, int64_t timeout_ms,
                                      const TlsClientOptions& tls) {
  std::string rest = base;
  bool https = rest.rfind("https://", 0) == 0;
  if (https) rest = rest.substr(8);
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) {
    return InvalidArgument("server " + base + ": expected http://HOST:PORT or https://HOST:PORT");
  }
  HttpClient c;
  if (auto s = SplitHostPort(rest, &c.host_, &c.port_); !s.ok()) return s.error();
  c.timeout_ms_ = timeout_ms;
  if (https) {
    auto ctx = MakeClientContext(tls);
    if (!ctx.ok()) return ctx.error();
    c.tls_ = std::make_unique<ClientTls>(std::move(*ctx));
  }
  return c;
}

HttpClient::HttpClient(HttpClient&& o) noexcept
    : tls_(std::move(o.tls_)),
      host_(std::move(o.host_)),
      port_(o.port_),
      timeout_ms_(o.timeout_ms_),
      fd_(o.fd_),
      buf_(std::move(o.buf_)) {
  o.fd_ = -1;
}
HttpClient& HttpClient::operator=(HttpClient&& o) noexcept {
  if (this != &o) {
    Close();
    tls_ = std::move(o.tls_);
    host_ = std::move(o.host_);
    port_ = o.port_;
    timeout_ms_ = o.timeout_ms_;
    fd_ = o.fd_;
    buf_ = std::move(o.buf_);
    o.fd_ = -1;
  }
  return *this;
}
HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (tls_ && fd_ >= 0) tls_->Close();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  buf_.clear();
}

Status HttpClient::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(port_);
  int gai = getaddrinfo(host_.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return Error{ErrorCode::kUnavailable, "cannot resolve " + host_ + ": " + gai_strerror(gai)};
  std::string why = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
      break;
    }
    why = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0) {
    return Error{ErrorCode::kUnavailable, "cannot connect to " + host_ + ":" + port + ": " + why};
  }
  if (tls_) {
    if (auto s = tls_->Handshake(fd_, host_, NowMs() + timeout_ms_); !s.ok()) {
      close(fd_);
      fd_ = -1;
      return Error{s.code(), host_ + ":" + port + ": " + s.message()};
    }
  }
  return Status::Ok();
}

namespace {

// Reads what the socket (or, with `tls`, the session) has into *buf, waiting until `deadline` (steady ms)
// at most.
Status Fill(int fd, ClientTls* tls, std::string* buf, int64_t deadline) {
  if (tls != nullptr) return tls->Read(buf, deadline);
  char tmp[65536];
  for (;;) {
    int64_t left = deadline - NowMs();
    if (left <= 0) return Error{ErrorCode::kUnavailable, "timed out waiting for the server"};
    pollfd p{fd, POLLIN, 0};
    int pr = poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) continue;
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Error{ErrorCode::kUnavailable, n == 0 ? "the server closed the connection" : std::strerror(errno)};
    }
    buf->append(tmp, static_cast<size_t>(n));
    return Status::Ok();
  }
}

// Fills until *buf holds "\r\n" at or after `from`; returns its offset.
Result<size_t> FillToLineEnd(int fd, ClientTls* tls, std::string* buf, size_t from, int64_t deadline) {
  size_t eol;
  while ((eol = buf->find("\r\n", from)) == std::string::npos) {
    if (auto st = Fill(fd, tls, buf, deadline); !st.ok()) return st.error();
  }
  return eol;
}

// The status line and headers of a response head (without its blank line) into *r; the body's
// Content-Length, when given, into *length. False when the status line is malformed.
bool ParseHead(std::string_view head, ClientResponse* r, std::optional<size_t>* length) {
  size_t le = head.find("\r\n");
  std::string_view status_line = head.substr(0, le);
  size_t sp = status_line.find(' ');
  if (sp == std::string_view::npos) return false;
  std::from_chars(status_line.data() + sp + 1, status_line.data() + status_line.size(), r->status);
  size_t pos = le == std::string_view::npos ? head.size() : le + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view h = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(h.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view v = h.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    r->headers[name] = std::string(v);
    if (name == "content-length") {
      size_t n = 0;
      std::from_chars(v.data(), v.data() + v.size(), n);
      *length = n;
    }
  }
  return true;
}

// A chunked body starting at buf[p]: size line in hex, data, CRLF; a zero-size chunk and optional
// trailers end it. Appends the data to *body and erases the response from *buf.
Status ReadChunked(int fd, ClientTls* tls, std::string* buf, size_t p, int64_t deadline, std::string* body) {
  for (;;) {
    auto eol = FillToLineEnd(fd, tls, buf, p, deadline);
    if (!eol.ok()) return eol.error();
    size_t size = 0;
    auto [ptr, ec] = std::from_chars(buf->data() + p, buf->data() + *eol, size, 16);
    if (ec != std::errc() || ptr == buf->data() + p) {
      return Error{ErrorCode::kUnavailable, "malformed chunked response from the server"};
    }
    p = *eol + 2;
    if (size == 0) {
      // Trailer lines up to the empty one.
      for (;;) {
        auto trailer_end = FillToLineEnd(fd, tls, buf, p, deadline);
        if (!trailer_end.ok()) return trailer_end.error();
        if (*trailer_end == p) break;
        p = *trailer_end + 2;
      }
      buf->erase(0, p + 2);
      return Status::Ok();
    }
    while (buf->size() < p + size + 2) {
      if (auto st = Fill(fd, tls, buf, deadline); !st.ok()) return st;
    }
    body->append(*buf, p, size);
    p += size + 2;
  }
}

// Writes all of `wire` to the socket (or, with `tls`, the session).
Status SendAll(int fd, ClientTls* tls, const std::string& wire, int64_t deadline) {
  if (tls != nullptr) return tls->Write(wire, deadline);
  size_t off = 0;
  while (off < wire.size()) {
    ssize_t n = send(fd, wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{ErrorCode::kUnavailable, std::string("send: ") + std::strerror(errno)};
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<ClientResponse> HttpClient::TryOnce(const std::string& wire, bool* retryable) {
  *retryable = false;
  bool fresh = fd_ < 0;
  if (fresh) {
    if (auto s = Connect(); !s.ok()) return s.error();
  }
  if (auto s = SendAll(fd_, tls_.get(), wire, NowMs() + timeout_ms_); !s.ok()) {
    Close();
    *retryable = !fresh;
    return s.error();
  }
  int64_t deadline = NowMs() + timeout_ms_;
  auto fail = [&](Error e) -> Result<ClientResponse> {
    Close();
    return e;
  };
  for (;;) {
    size_t end = buf_.find("\r\n\r\n");
    while (end == std::string::npos) {
      if (auto s = Fill(fd_, tls_.get(), &buf_, deadline); !s.ok()) {
        *retryable = !fresh && buf_.empty();
        return fail(s.error());
      }
      end = buf_.find("\r\n\r\n");
    }
    ClientResponse r;
    std::optional<size_t> length;
    if (!ParseHead(std::string_view(buf_.data(), end), &r, &length)) {
      return fail(Error{ErrorCode::kUnavailable, "malformed response from the server"});
    }
    if (r.status == 100) {
      buf_.erase(0, end + 4);
      continue;
    }
    bool close_after = r.headers["connection"] == "close";
    std::string te = r.headers["transfer-encoding"];
    for (char& c : te) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (te.find("chunked") != std::string::npos) {
      if (auto st = ReadChunked(fd_, tls_.get(), &buf_, end + 4, deadline, &r.body); !st.ok())
        return fail(st.error());
      if (close_after) Close();
      return r;
    }
    if (!length) {
      // Read to EOF.
      buf_.erase(0, end + 4);
      while (Fill(fd_, tls_.get(), &buf_, deadline).ok()) {
      }
      r.body = std::move(buf_);
      Close();
      return r;
    }
    while (buf_.size() < end + 4 + *length) {
      if (auto s = Fill(fd_, tls_.get(), &buf_, deadline); !s.ok()) return fail(s.error());
    }
    r.body = buf_.substr(end + 4, *length);
    buf_.erase(0, end + 4 + *length);
    if (close_after) Close();
    return r;
  }
}

Result<ClientResponse> HttpClient::Request(const std::string& method, const std::string& target,
                                           const std::string& body,
                                           const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string wire = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + ":" + std::to_string(port_) + "\r\n";
  for (const auto& [k, v] : headers) wire += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    wire += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  wire += "\r\n";
  wire += body;
  bool retryable = false;
  auto r = TryOnce(wire, &retryable);
  // A kept-alive connection the server closed in the meantime: the request never arrived, send it again.
  if (!r.ok() && retryable) r = TryOnce(wire, &retryable);
  return r;
}

}  // namespace allot::net
