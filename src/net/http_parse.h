// The HTTP/1.1 request parser of HttpServer, apart from any socket: it reads one request from the front of
// a buffer, so it can be fed bytes directly (tests, fuzzing) and the server only moves them.
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "allot/http.h"

namespace allot::net {

struct ParseLimits {
  size_t max_header_bytes = 16 * 1024;  // request line + headers; past it: 431
  size_t max_body_bytes = 1024 * 1024;  // past it: 413
};

struct ParsedRequest {
  enum Outcome { kIncomplete, kDone, kError };
  Outcome outcome = kIncomplete;
  // kIncomplete: the bytes the whole request needs once its head is in (0 while it is not), and whether
  // the client waits for "100 Continue" before it sends the body.
  size_t need = 0;
  bool expect_continue = false;
  // kDone: the bytes the request took from the front of the input, and whether the connection stays open.
  size_t consumed = 0;
  bool keep_alive = true;
  // kError: the status to answer (400, 413, 431, 501) and why; the connection is closed after it.
  int error_status = 0;
  std::string error_message;
};

// Parses the request at the front of `in` into *req (method, target, path, query, headers, body; not
// remote). Singleton headers given twice, Transfer-Encoding, a bad Content-Length, header names that are
// not tokens, control characters in header values and malformed percent-escapes are errors; so is a TLS
// handshake (the first byte 0x16) sent to this plain-HTTP parser.
ParsedRequest ParseRequest(std::string_view in, const ParseLimits& limits, HttpRequest* req);

}  // namespace allot::net
