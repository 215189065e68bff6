#include "allot/host/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace allot::host {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

void Answer(int cfd, const HttpHandler& handler) {
  std::string raw;
  char buf[4096];
  while (raw.find("\r\n\r\n") == std::string::npos && raw.size() < 65536) {
    pollfd p{cfd, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) return;
    ssize_t n = recv(cfd, buf, sizeof buf, 0);
    if (n <= 0) return;
    raw.append(buf, static_cast<size_t>(n));
  }
  size_t sp1 = raw.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : raw.find(' ', sp1 + 1);
  HttpResponse r;
  if (sp2 == std::string::npos) {
    r.status = 400;
    r.body = "bad request\n";
  } else {
    r = handler(raw.substr(0, sp1), raw.substr(sp1 + 1, sp2 - sp1 - 1));
  }
  std::string ct = r.headers.count("content-type") ? r.headers["content-type"] : "text/plain; charset=utf-8";
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\nContent-Type: " + ct +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(cfd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

Result<int> ListenTcp(std::string_view addr, int* port) {
  std::string host = "127.0.0.1";
  std::string_view port_text = addr;
  if (size_t colon = addr.rfind(':'); colon != std::string_view::npos) {
    if (colon > 0) host = std::string(addr.substr(0, colon));
    port_text = addr.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int p = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || p < 0 || p > 65535) {
    return InvalidArgument("listen address \"" + std::string(addr) + "\": expected HOST:PORT");
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string ps = std::to_string(p);
  if (int rc = getaddrinfo(host.c_str(), ps.c_str(), &hints, &res); rc != 0) {
    return InvalidArgument("listen address \"" + std::string(addr) + "\": " + gai_strerror(rc));
  }
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
    std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return Error{ErrorCode::kUnavailable, "listen on " + std::string(addr) + ": " + why};
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (port != nullptr) {
    *port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  return fd;
}

void ServeHttp(int fd, const HttpHandler& handler, const std::atomic<bool>* stop) {
  while (stop == nullptr || !stop->load()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) != 1) continue;
    int cfd = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) continue;
    Answer(cfd, handler);
    close(cfd);
  }
}

}  // namespace allot::host
