#include "store/etcd_client.h"

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

namespace allot::store {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// gRPC status codes that mean "this member cannot answer now; another one may".
bool RetryElsewhere(int grpc_code) { return grpc_code == 4 || grpc_code == 14 || grpc_code == 1; }

}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool Base64Decode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      pad++;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    int v = B64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return pad <= 2;
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(prefix.back());
    if (c < 0xff) {
      c++;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means "to the end of the keyspace"
}

int64_t JsonInt(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (!it->is_string()) return 0;
  const std::string& s = it->get_ref<const std::string&>();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : 0;
}

struct EtcdClient::Endpoint {
  std::string url, host;
  int port = 0;
  int fd = -1;
  std::string buf;

  ~Endpoint() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    buf.clear();
  }

  Status Connect(int64_t timeout_ms) {
    Close();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0) return Error{ErrorCode::kUnavailable, url + ": " + gai_strerror(rc)};
    std::string why = "no address";
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int s = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (s < 0) continue;
      int r = ::connect(s, a->ai_addr, a->ai_addrlen);
      if (r < 0 && errno == EINPROGRESS) {
        pollfd p{s, POLLOUT, 0};
        r = poll(&p, 1, static_cast<int>(timeout_ms)) == 1 ? 0 : -1;
        int err = 0;
        socklen_t len = sizeof err;
        if (r == 0 && (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)) {
          errno = err;
          r = -1;
        } else if (r < 0) {
          errno = ETIMEDOUT;
        }
      }
      if (r == 0) {
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fd = s;
        freeaddrinfo(res);
        return Status::Ok();
      }
      why = std::strerror(errno);
      ::close(s);
    }
    freeaddrinfo(res);
    return Error{ErrorCode::kUnavailable, url + ": connect: " + why};
  }

  // Reads more bytes into buf before `deadline`.
  Status Fill(int64_t deadline) {
    char tmp[65536];
    for (;;) {
      int64_t left = deadline - NowMs();
      if (left <= 0) return Error{ErrorCode::kUnavailable, url + ": timed out"};
      pollfd p{fd, POLLIN, 0};
      int pr = poll(&p, 1, static_cast<int>(left));
      if (pr < 0 && errno == EINTR) continue;
      if (pr == 0) continue;
      ssize_t n = recv(fd, tmp, sizeof tmp, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return Error{ErrorCode::kUnavailable, url + (n == 0 ? ": connection closed" : ": recv: ") +
                                                            (n == 0 ? "" : std::strerror(errno))};
      buf.append(tmp, static_cast<size_t>(n));
      return Status::Ok();
    }
  }

  // Reads up to and including the next CRLF; returns the line without it.
  Result<std::string> Line(int64_t deadline) {
    size_t e;
    while ((e = buf.find("\r\n")) == std::string::npos) {
      if (buf.size() > (1u << 20)) return Error{ErrorCode::kUnavailable, url + ": malformed answer"};
      if (auto s = Fill(deadline); !s.ok()) return s.error();
    }
    std::string line = buf.substr(0, e);
    buf.erase(0, e + 2);
    return line;
  }

  // One request/response exchange. `sent` tells whether the request may have reached the server.
  Result<std::pair<int, std::string>> Exchange(const std::string& wire, int64_t timeout_ms, bool* stale) {
    *stale = false;
    bool fresh = fd < 0;
    if (fresh) {
      if (auto s = Connect(timeout_ms); !s.ok()) return s.error();
    }
    size_t off = 0;
    int64_t deadline = NowMs() + timeout_ms;
    while (off < wire.size()) {
      ssize_t n = send(fd, wire.data() + off, wire.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, static_cast<int>(std::max<int64_t>(1, deadline - NowMs()))) <= 0 && NowMs() >= deadline) {
          Close();
          return Error{ErrorCode::kUnavailable, url + ": send timed out"};
        }
        continue;
      }
      if (n <= 0) {
        std::string why = std::strerror(errno);
        Close();
        *stale = !fresh;
        return Error{ErrorCode::kUnavailable, url + ": send: " + why};
      }
      off += static_cast<size_t>(n);
    }
    auto status_line = Line(deadline);
    if (!status_line.ok()) {
      *stale = !fresh && buf.empty();
      Close();
      return status_line.error();
    }
    int status = 0;
    size_t sp = status_line->find(' ');
    if (sp != std::string::npos) {
      std::from_chars(status_line->data() + sp + 1, status_line->data() + status_line->size(), status);
    }
    size_t length = 0;
    bool has_length = false, chunked = false, close_after = false;
    for (;;) {
      auto h = Line(deadline);
      if (!h.ok()) {
        Close();
        return h.error();
      }
      if (h->empty()) break;
      size_t colon = h->find(':');
      if (colon == std::string::npos) continue;
      std::string name = h->substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string v = h->substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      if (name == "content-length") {
        std::from_chars(v.data(), v.data() + v.size(), length);
        has_length = true;
      } else if (name == "transfer-encoding" && v.find("chunked") != std::string::npos) {
        chunked = true;
      } else if (name == "connection" && v == "close") {
        close_after = true;
      }
    }
    std::string body;
    if (chunked) {
      for (;;) {
        auto sz = Line(deadline);
        if (!sz.ok()) {
          Close();
          return sz.error();
        }
        size_t n = 0;
        std::from_chars(sz->data(), sz->data() + sz->size(), n, 16);
        if (n == 0) {
          for (;;) {  // trailers up to the empty line
            auto t = Line(deadline);
            if (!t.ok()) {
              Close();
              return t.error();
            }
            if (t->empty()) break;
          }
          break;
        }
        while (buf.size() < n + 2) {
          if (auto s = Fill(deadline); !s.ok()) {
            Close();
            return s.error();
          }
        }
        body.append(buf, 0, n);
        buf.erase(0, n + 2);
      }
    } else if (has_length) {
      while (buf.size() < length) {
        if (auto s = Fill(deadline); !s.ok()) {
          Close();
          return s.error();
        }
      }
      body = buf.substr(0, length);
      buf.erase(0, length);
    } else {
      while (Fill(deadline).ok()) {
      }
      body = std::move(buf);
      close_after = true;
    }
    if (close_after) Close();
    return std::make_pair(status, std::move(body));
  }
};

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdClientOptions& options) {
  if (options.endpoints.empty()) return InvalidArgument("etcd: no endpoints given");
  auto c = std::unique_ptr<EtcdClient>(new EtcdClient());
  c->timeout_ms_ = options.timeout_ms;
  for (const auto& url : options.endpoints) {
    std::string rest = url;
    if (rest.rfind("https://", 0) == 0) return InvalidArgument("etcd endpoint " + url + ": https is not supported");
    if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    size_t colon = rest.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), port).ec != std::errc() || port <= 0 ||
        port > 65535 || rest.find('/') != std::string::npos) {
      return InvalidArgument("etcd endpoint \"" + url + "\": expected http://HOST:PORT");
    }
    auto ep = std::make_unique<Endpoint>();
    ep->url = url;
    ep->host = rest.substr(0, colon);
    if (ep->host.size() > 2 && ep->host.front() == '[') ep->host = ep->host.substr(1, ep->host.size() - 2);
    ep->port = port;
    c->endpoints_.push_back(std::move(ep));
  }
  return c;
}

EtcdClient::~EtcdClient() = default;

const std::string& EtcdClient::endpoint() const { return endpoints_[current_]->url; }

Result<nlohmann::json> EtcdClient::CallOne(Endpoint& ep, const std::string& path, const std::string& body,
                                           bool* next) {
  *next = true;
  std::string wire = "POST " + path + " HTTP/1.1\r\nHost: " + ep.host + ":" + std::to_string(ep.port) +
                     "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body;
  bool stale = false;
  auto r = ep.Exchange(wire, timeout_ms_, &stale);
  if (!r.ok() && stale) r = ep.Exchange(wire, timeout_ms_, &stale);  // a kept-alive connection etcd closed
  if (!r.ok()) return r.error();
  auto [status, text] = std::move(r.value());
  // A streaming answer is one JSON object per line; the first one is ours.
  size_t nl = text.find('\n');
  if (nl != std::string::npos && nl + 1 < text.size()) text.resize(nl);
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Error{ErrorCode::kUnavailable, ep.url + path + ": HTTP " + std::to_string(status) + ": not JSON"};
  }
  if (j.contains("result") && j["result"].is_object()) j = std::move(j["result"]);
  const nlohmann::json* err = nullptr;
  if (j.contains("error")) err = j["error"].is_object() ? &j["error"] : &j;
  if (status != 200 || err != nullptr) {
    const nlohmann::json& e = err != nullptr ? *err : j;
    std::string msg = e.value("message", std::string());
    if (msg.empty() && e.contains("error") && e["error"].is_string()) msg = e["error"].get<std::string>();
    int code = e.contains("code") && e["code"].is_number_integer() ? e["code"].get<int>() : 0;
    bool elsewhere = status >= 500 || RetryElsewhere(code) || msg.find("leader") != std::string::npos;
    *next = elsewhere;
    ErrorCode ec = elsewhere                               ? ErrorCode::kUnavailable
                   : code == 3 || code == 11              ? ErrorCode::kInvalidArgument
                   : code == 5                            ? ErrorCode::kNotFound
                                                          : ErrorCode::kInternal;
    return Error{ec, ep.url + path + ": " + (msg.empty() ? "HTTP " + std::to_string(status) : msg)};
  }
  *next = false;
  return j;
}

Result<nlohmann::json> EtcdClient::Call(const std::string& path, const nlohmann::json& body) {
  std::string text = body.dump();
  Error last{ErrorCode::kUnavailable, "etcd: no endpoint answered"};
  for (size_t i = 0; i < endpoints_.size(); i++) {
    Endpoint& ep = *endpoints_[current_];
    bool next = false;
    auto r = CallOne(ep, path, text, &next);
    if (r.ok() || !next) return r;
    last = r.error();
    ep.Close();
    current_ = (current_ + 1) % endpoints_.size();
  }
  return last;
}

}  // namespace allot::store

namespace allot::store {

Status EtcdClient::OpenStream(const std::string& path, const nlohmann::json& body) {
  CloseStream();
  std::string text = body.dump();
  Error last{ErrorCode::kUnavailable, "etcd: no endpoint answered"};
  for (size_t i = 0; i < endpoints_.size(); i++, current_ = (current_ + 1) % endpoints_.size()) {
    Endpoint& ep = *endpoints_[current_];
    if (auto s = ep.Connect(timeout_ms_); !s.ok()) {
      last = s.error();
      continue;
    }
    std::string wire =
        "POST " + path + " HTTP/1.1\r\nHost: " + ep.host + ":" + std::to_string(ep.port) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) + "\r\n\r\n" +
        text;
    if (send(ep.fd, wire.data(), wire.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(wire.size())) {
      last = Error{ErrorCode::kUnavailable, ep.url + path + ": send failed"};
      ep.Close();
      continue;
    }
    int64_t deadline = NowMs() + timeout_ms_;
    auto status_line = ep.Line(deadline);
    bool chunked = false;
    Status head = status_line.ok() ? Status::Ok() : Status(status_line.error());
    while (head.ok()) {
      auto h = ep.Line(deadline);
      if (!h.ok()) {
        head = h.error();
        break;
      }
      if (h->empty()) break;
      std::string lower = *h;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.rfind("transfer-encoding:", 0) == 0 && lower.find("chunked") != std::string::npos)
        chunked = true;
    }
    if (!head.ok()) {
      last = head.error();
      ep.Close();
      continue;
    }
    if (status_line->find(" 200 ") == std::string::npos || !chunked) {
      last = Error{ErrorCode::kUnavailable, ep.url + path + ": " + *status_line};
      ep.Close();
      continue;
    }
    stream_ = &ep;
    chunk_left_ = 0;
    stream_text_.clear();
    return Status::Ok();
  }
  return last;
}

void EtcdClient::CloseStream() {
  if (stream_ != nullptr) stream_->Close();
  stream_ = nullptr;
  chunk_left_ = 0;
  stream_text_.clear();
}

Result<std::optional<nlohmann::json>> EtcdClient::NextMessage(int64_t timeout_ms) {
  if (stream_ == nullptr) return Error{ErrorCode::kUnavailable, "etcd: no stream is open"};
  Endpoint& ep = *stream_;
  int64_t deadline = NowMs() + timeout_ms;
  auto fail = [&](const Error& e) -> Result<std::optional<nlohmann::json>> {
    CloseStream();
    return e;
  };
  for (;;) {
    // A whole message (one JSON object per line) in the decoded text?
    size_t nl = stream_text_.find('\n');
    if (nl != std::string::npos) {
      auto j = nlohmann::json::parse(std::string_view(stream_text_).substr(0, nl), nullptr, false);
      stream_text_.erase(0, nl + 1);
      if (j.is_discarded() || !j.is_object())
        return fail(Error{ErrorCode::kUnavailable, ep.url + ": malformed stream message"});
      if (j.contains("error")) {
        const auto& e = j["error"];
        std::string msg = e.is_object() ? e.value("message", std::string("error")) : e.dump();
        return fail(Error{ErrorCode::kUnavailable, ep.url + ": " + msg});
      }
      if (j.contains("result") && j["result"].is_object())
        return std::optional<nlohmann::json>(std::move(j["result"]));
      return std::optional<nlohmann::json>(std::move(j));
    }
    // Chunk framing: a hex size line, the data, CRLF.
    if (chunk_left_ == 0) {
      size_t e = ep.buf.find("\r\n");
      if (e != std::string::npos) {
        size_t n = 0;
        auto [p, ec] = std::from_chars(ep.buf.data(), ep.buf.data() + e, n, 16);
        if (ec != std::errc() || p == ep.buf.data()) {
          // The CRLF that ends a chunk's data, when it arrived after the data.
          if (e == 0) {
            ep.buf.erase(0, 2);
            continue;
          }
          return fail(Error{ErrorCode::kUnavailable, ep.url + ": malformed chunk"});
        }
        if (n == 0) return fail(Error{ErrorCode::kUnavailable, ep.url + ": the stream ended"});
        ep.buf.erase(0, e + 2);
        chunk_left_ = n;
        continue;
      }
    } else if (!ep.buf.empty()) {
      size_t take = std::min(chunk_left_, ep.buf.size());
      stream_text_.append(ep.buf, 0, take);
      ep.buf.erase(0, take);
      chunk_left_ -= take;
      if (chunk_left_ == 0 && ep.buf.size() >= 2 && ep.buf.compare(0, 2, "\r\n") == 0) ep.buf.erase(0, 2);
      continue;
    }
    int64_t left = deadline - NowMs();
    if (left <= 0) return std::optional<nlohmann::json>();
    pollfd p{ep.fd, POLLIN, 0};
    int pr = poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return std::optional<nlohmann::json>();
    if (auto s = ep.Fill(deadline + 1); !s.ok()) return fail(s.error());
  }
}

}  // namespace allot::store
