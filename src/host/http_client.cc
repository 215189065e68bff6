#include "host/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "host/text.h"

namespace allot::host {
namespace {

Error Unavailable(std::string msg) { return {ErrorCode::kUnavailable, std::move(msg)}; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Connects with a deadline; returns the fd or -1 with *why set.
int Connect(const Url& url, int timeout_ms, std::string* why) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url.port);
  int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    *why = "resolve " + url.host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
      *why = std::string("connect: ") + (err != 0 ? std::strerror(err) : "timed out");
    } else {
      *why = std::string("connect: ") + std::strerror(errno);
    }
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

}  // namespace

Result<Url> ParseUrl(std::string_view text) {
  Url u;
  std::string_view t = text;
  if (t.substr(0, 8) == "https://") return InvalidArgument("server URL " + std::string(text) + ": https is not supported by the agent; use http:// (e.g. behind a local TLS proxy)");
  if (t.substr(0, 7) != "http://") return InvalidArgument("server URL \"" + std::string(text) + "\": expected http://HOST[:PORT][/PATH]");
  t.remove_prefix(7);
  size_t slash = t.find('/');
  std::string_view hostport = t.substr(0, slash);
  if (slash != std::string_view::npos) {
    u.base_path = std::string(t.substr(slash));
    while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  }
  std::string_view port;
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close_at = hostport.find(']');
    if (close_at == std::string_view::npos) return InvalidArgument("server URL \"" + std::string(text) + "\": unclosed [");
    u.host = std::string(hostport.substr(1, close_at - 1));
    if (close_at + 1 < hostport.size() && hostport[close_at + 1] == ':') port = hostport.substr(close_at + 2);
  } else {
    size_t colon = hostport.rfind(':');
    u.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (u.host.empty()) return InvalidArgument("server URL \"" + std::string(text) + "\": no host");
  if (!port.empty()) {
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
    if (ec != std::errc() || p != port.data() + port.size() || u.port <= 0 || u.port > 65535) {
      return InvalidArgument("server URL \"" + std::string(text) + "\": bad port \"" + std::string(port) + "\"");
    }
  }
  return u;
}

Result<HttpResponse> ParseHttpResponse(std::string_view raw) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return Unavailable("incomplete HTTP response head");
  std::string_view head = raw.substr(0, head_end);
  std::string_view rest = raw.substr(head_end + 4);
  HttpResponse r;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12) {
    return Unavailable("bad HTTP status line \"" + std::string(status_line.substr(0, 60)) + "\"");
  }
  size_t sp = status_line.find(' ');
  auto [p, ec] = std::from_chars(status_line.data() + sp + 1, status_line.data() + status_line.size(), r.status);
  if (ec != std::errc() || r.status < 100 || r.status > 999) return Unavailable("bad HTTP status code");
  (void)p;
  while (eol != std::string_view::npos) {
    size_t next = head.find("\r\n", eol + 2);
    std::string_view line = head.substr(eol + 2, next == std::string_view::npos ? std::string_view::npos : next - eol - 2);
    eol = next;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    r.headers[Lower(Trim(line.substr(0, colon)))] = std::string(Trim(line.substr(colon + 1)));
  }
  if (r.headers.count("transfer-encoding") && Lower(r.headers["transfer-encoding"]).find("chunked") != std::string::npos) {
    size_t at = 0;
    while (true) {
      size_t le = rest.find("\r\n", at);
      if (le == std::string_view::npos) return Unavailable("truncated chunked body");
      size_t size = 0;
      auto [q, e2] = std::from_chars(rest.data() + at, rest.data() + le, size, 16);
      (void)q;
      if (e2 != std::errc()) return Unavailable("bad chunk size");
      if (size == 0) break;
      if (le + 2 + size > rest.size()) return Unavailable("truncated chunk");
      r.body.append(rest.substr(le + 2, size));
      at = le + 2 + size + 2;
    }
  } else if (r.headers.count("content-length")) {
    size_t len = 0;
    const std::string& cl = r.headers["content-length"];
    auto [q, e2] = std::from_chars(cl.data(), cl.data() + cl.size(), len);
    (void)q;
    if (e2 != std::errc()) return Unavailable("bad Content-Length \"" + cl + "\"");
    if (rest.size() < len) return Unavailable("body shorter than Content-Length");
    r.body = std::string(rest.substr(0, len));
  } else {
    r.body = std::string(rest);
  }
  return r;
}

Result<HttpResponse> HttpRequest(const Url& url, std::string_view method, std::string_view path, std::string_view body,
                                 const HttpHeaders& headers, std::chrono::milliseconds timeout) {
  std::string server = url.host + ":" + std::to_string(url.port);
  int timeout_ms = static_cast<int>(timeout.count());
  std::string why;
  int fd = Connect(url, timeout_ms, &why);
  if (fd < 0) return Unavailable(server + ": " + why);
  std::string req = std::string(method) + " " + url.base_path + std::string(path) + " HTTP/1.1\r\nHost: " +
                    (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) + ":" +
                    std::to_string(url.port) + "\r\nUser-Agent: allot-agent\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  size_t sent = 0;
  auto fail = [&](const std::string& step) {
    close(fd);
    return Unavailable(server + ": " + step);
  };
  while (sent < req.size()) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, timeout_ms) != 1) return fail("send: timed out");
      continue;
    }
    return fail(std::string("send: ") + std::strerror(errno));
  }
  std::string raw;
  char buf[16384];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      // Stop early when a Content-Length body is complete (servers may keep the socket open).
      if (auto parsed = ParseHttpResponse(raw); parsed.ok() && parsed->headers.count("content-length")) {
        close(fd);
        return parsed;
      }
      if (raw.size() > (64u << 20)) return fail("receive: response larger than 64 MiB");
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) != 1) return fail("receive: timed out after " + std::to_string(timeout_ms) + " ms");
      continue;
    }
    return fail(std::string("receive: ") + std::strerror(errno));
  }
  close(fd);
  auto parsed = ParseHttpResponse(raw);
  if (!parsed.ok()) return Unavailable(server + ": " + parsed.error().message);
  return parsed;
}

}  // namespace allot::host
