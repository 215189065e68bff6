// The HTTP/1.1 request parser of the server (src/net/http_parse.h), fed bytes as a connection would
// deliver them: requests one after another (pipelined), each parsed from what is left, with the limits
// of the first byte's choice. Checks what the server relies on: a parsed request consumed bytes that
// were there, an incomplete one asks for no fewer bytes than it has, an error has a status.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/http_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  allot::net::ParseLimits limits;
  if (data[0] & 1) {
    limits.max_header_bytes = 64 + (data[0] >> 1);
    limits.max_body_bytes = data[0];
  }
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!in.empty()) {
    allot::net::HttpRequest req;
    auto p = allot::net::ParseRequest(in, limits, &req);
    if (p.outcome == allot::net::ParsedRequest::kError) {
      if (p.error_status < 400 || p.error_message.empty()) std::abort();
      break;
    }
    if (p.outcome == allot::net::ParsedRequest::kIncomplete) {
      if (p.need != 0 && p.need <= in.size()) std::abort();
      break;
    }
    if (p.consumed == 0 || p.consumed > in.size() || req.body.size() > limits.max_body_bytes) std::abort();
    (void)req.Header("host");
    in.remove_prefix(p.consumed);
  }
  return 0;
}
