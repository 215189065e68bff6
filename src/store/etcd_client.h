// A small client of etcd v3's JSON gateway (POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant, ...) over
// plain HTTP/1.1, with keep-alive, chunked responses and fail-over across several endpoints.
//
// Keys and values travel base64-encoded; int64 fields come back as JSON strings (see JsonInt). Call() sends
// one request to the current endpoint and, when that endpoint cannot be reached or answers 5xx/"not leader",
// tries the next ones (each once per call); an answer with a gRPC error code becomes an Error value.
// A client may instead hold one stream (POST /v3/watch): OpenStream sends the request and NextMessage reads
// the answer's messages one by one as etcd sends them; no Call while a stream is open.
// Thread-safety: an EtcdClient is used by one thread at a time (callers hold their own lock).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/result.h"

namespace allot::store {

std::string Base64Encode(std::string_view in);
// Returns false on malformed input.
bool Base64Decode(std::string_view in, std::string* out);
// The smallest key greater than every key that starts with `prefix` (etcd's range_end of a prefix).
std::string PrefixEnd(std::string prefix);
// An int64 field of an etcd JSON answer: a string ("12") or a number; 0 when absent or malformed.
int64_t JsonInt(const nlohmann::json& obj, const char* key);

struct EtcdClientOptions {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379", ...
  int64_t timeout_ms = 5000;           // per HTTP exchange
};

class EtcdClient {
 public:
  // Errors name the bad endpoint.
  static Result<std::unique_ptr<EtcdClient>> Create(const EtcdClientOptions& options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // POSTs `body` to `path` (e.g. "/v3/kv/txn") and returns the decoded answer. For a streaming path
  // (/v3/lease/keepalive) the first message's "result" object is returned.
  Result<nlohmann::json> Call(const std::string& path, const nlohmann::json& body);
  const std::string& endpoint() const;

  // Sends `body` to `path` on the current endpoint (the next ones when it cannot be reached or refuses)
  // and keeps the connection for NextMessage.
  Status OpenStream(const std::string& path, const nlohmann::json& body);
  // The next message of the open stream (its "result" object), waiting up to `timeout_ms`; nullopt when
  // none arrived in time. An error closes the stream.
  Result<std::optional<nlohmann::json>> NextMessage(int64_t timeout_ms);
  void CloseStream();

 private:
  struct Endpoint;
  EtcdClient() = default;
  Result<nlohmann::json> CallOne(Endpoint& ep, const std::string& path, const std::string& body, bool* next);
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  size_t current_ = 0;
  int64_t timeout_ms_ = 5000;
  // The open stream: its endpoint (null when none), the bytes left of the current chunk, decoded text.
  Endpoint* stream_ = nullptr;
  size_t chunk_left_ = 0;
  std::string stream_text_;
};

}  // namespace allot::store
