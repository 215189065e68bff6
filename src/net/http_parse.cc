#include "net/http_parse.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <utility>

namespace allot::net {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar: what a header name may be made of.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == 0) return false;
  }
  return true;
}

// A header value without control characters (HTAB aside); bytes >= 0x80 are left to the application.
bool IsFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// Headers a request may carry once: a second one is ambiguous (which credential, which host, how to read
// the body), so it is refused rather than one of them silently winning. Content-Length is checked apart
// (a repeat of the same value is allowed).
const char* SingletonHeader(std::string_view lower_name) {
  static constexpr std::pair<std::string_view, const char*> kSingletons[] = {
      {"authorization", "Authorization"},
      {"proxy-authorization", "Proxy-Authorization"},
      {"host", "Host"},
      {"content-type", "Content-Type"},
      {"expect", "Expect"},
      {"transfer-encoding", "Transfer-Encoding"},
  };
  for (const auto& [name, display] : kSingletons) {
    if (name == lower_name) return display;
  }
  return nullptr;
}

ParsedRequest Fail(int status, std::string message) {
  ParsedRequest p;
  p.outcome = ParsedRequest::kError;
  p.error_status = status;
  p.error_message = std::move(message);
  return p;
}

// The path and query of req->target, percent-decoded; an error message or "".
const char* DecodeTarget(HttpRequest* req) {
  size_t q = req->target.find('?');
  std::string_view raw_path = std::string_view(req->target).substr(0, q);
  if (!PercentDecode(raw_path, &req->path, false)) return "malformed percent-escape in the path";
  if (q == std::string::npos) return "";
  std::string_view qs = std::string_view(req->target).substr(q + 1);
  while (!qs.empty()) {
    size_t amp = qs.find('&');
    std::string_view kv = qs.substr(0, amp);
    qs = amp == std::string_view::npos ? std::string_view() : qs.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string k, v;
    if (!PercentDecode(kv.substr(0, eq), &k, true) ||
        !PercentDecode(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1), &v, true)) {
      return "malformed percent-escape in the query";
    }
    req->query[k] = v;
  }
  return "";
}

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpRequest::Query(const std::string& name, const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

const char* HttpReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

bool PercentDecode(std::string_view s, std::string* out, bool plus_is_space) {
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec != std::errc() || p != s.data() + i + 3) return false;
      out->push_back(static_cast<char>(v));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ParsedRequest ParseRequest(std::string_view in, const ParseLimits& limits, HttpRequest* req) {
  ParsedRequest out;
  if (!in.empty() && in[0] == '\x16') {
    return Fail(
        400, "a TLS handshake arrived at a plain-HTTP port: use an http:// URL, or serve TLS (--tls-cert)");
  }
  size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > limits.max_header_bytes) return Fail(431, "request headers are too large");
    return out;
  }
  if (end + 4 > limits.max_header_bytes) return Fail(431, "request headers are too large");
  std::string_view head(in.data(), end);
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return Fail(400, "malformed request line");
  *req = HttpRequest();
  req->method = std::string(line.substr(0, sp1));
  req->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Fail(400, "unsupported HTTP version");
  bool keep_alive = version == "HTTP/1.1";
  size_t content_length = 0;
  bool has_length = false, has_transfer_encoding = false;
  size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view h = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = h.find(':');
    // A name must be a token: "Host : x" or a folded line is refused, not read as some other header.
    if (colon == std::string_view::npos || !IsToken(h.substr(0, colon)))
      return Fail(400, "malformed header line");
    std::string name = Lower(h.substr(0, colon));
    std::string_view value = Trim(h.substr(colon + 1));
    if (!IsFieldValue(value))
      return Fail(400, "a control character in the value of header " + name.substr(0, 64));
    if (name == "content-length") {
      size_t v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || p != value.data() + value.size()) return Fail(400, "invalid Content-Length");
      if (has_length) {
        if (v != content_length) return Fail(400, "Content-Length is given twice with different values");
        continue;  // the same length again says nothing new
      }
      has_length = true;
      content_length = v;
    } else if (name == "transfer-encoding") {
      has_transfer_encoding = true;
    } else if (name == "connection") {
      std::string v = Lower(value);
      if (v.find("close") != std::string::npos) keep_alive = false;
      if (v.find("keep-alive") != std::string::npos) keep_alive = true;
    }
    auto [it, inserted] = req->headers.try_emplace(std::move(name), value);
    if (!inserted) {
      if (const char* display = SingletonHeader(it->first)) {
        return Fail(400, std::string(display) + " is given more than once");
      }
      it->second += ", ";  // a list header: repeated lines are one comma-separated value (RFC 9110 5.3)
      it->second += value;
    }
  }
  if (has_transfer_encoding) {
    // Both framings at once is how requests are smuggled past proxies: refuse it outright.
    if (has_length) return Fail(400, "Transfer-Encoding and Content-Length are both given");
    return Fail(501, "Transfer-Encoding is not supported; send Content-Length");
  }
  if (content_length > limits.max_body_bytes) {
    return Fail(413, "request body is larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  }
  size_t total = end + 4 + content_length;
  if (in.size() < total) {
    out.need = total;
    out.expect_continue = Lower(req->Header("expect")) == "100-continue";
    return out;
  }
  req->body = std::string(in.substr(end + 4, content_length));
  if (const char* e = DecodeTarget(req); *e != '\0') return Fail(400, e);
  out.outcome = ParsedRequest::kDone;
  out.consumed = total;
  out.keep_alive = keep_alive;
  return out;
}

}  // namespace allot::net
