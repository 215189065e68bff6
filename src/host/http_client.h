// A tiny HTTP/1.1 client over POSIX sockets, for the node agent (plain http only; one request per
// connection, `Connection: close`). Reads Content-Length and chunked bodies.
// Thread-safety: reentrant; no shared state.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allot/result.h"

namespace allot::host {

struct Url {
  std::string host;
  int port = 80;
  std::string base_path;  // without a trailing slash ("" or "/prefix")
};

// http://host[:port][/base]; https is refused with a clear message; [v6]:port works.
Result<Url> ParseUrl(std::string_view text);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Sends one request to url.base_path + path and reads the whole answer. Errors (kUnavailable) name the
// server and the step that failed: resolve, connect, send, receive, parse.
Result<HttpResponse> HttpRequest(const Url& url, std::string_view method, std::string_view path,
                                 std::string_view body, const HttpHeaders& headers,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

// Parses a complete response (status line, headers, body by Content-Length, chunked or to the end).
Result<HttpResponse> ParseHttpResponse(std::string_view raw);

}  // namespace allot::host
