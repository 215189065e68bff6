// A minimal single-threaded HTTP/1.1 listener for `allot guard metrics --listen` (GET only, one request per
// connection). Not a general server: the real API server lives in src/server.
// Thread-safety: ServeHttp runs on the calling thread; `stop` may be set from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include <map>

#include "allot/result.h"

namespace allot::host {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Binds and listens on "HOST:PORT", ":PORT" or "PORT" (host defaults to 127.0.0.1). Returns the socket;
// *port gets the bound port (useful with port 0).
Result<int> ListenTcp(std::string_view addr, int* port);

using HttpHandler = std::function<HttpResponse(const std::string& method, const std::string& target)>;

// Accepts connections on `fd` until *stop is true (checked at least every 200 ms); answers each request with
// `handler`'s status, body and a "content-type" header from its headers map.
void ServeHttp(int fd, const HttpHandler& handler, const std::atomic<bool>* stop);

}  // namespace allot::host
