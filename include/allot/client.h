// The client side of the API for the `allot` client commands: server/token resolution (flags, then
// ALLOT_SERVER / ALLOT_TOKEN), one call per request, error reporting in the CLI's conventions, and
// small helpers for human tables.
// Thread-safety: an ApiClient is used by one thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/result.h"
#include "allot/http.h"

namespace allot::server {

struct ApiResult {
  int status = 0;
  nlohmann::json body;
  bool ok() const { return status >= 200 && status < 300; }
};

class ApiClient {
 public:
  // `server` / `token` from flags ("" = use the environment; default server http://127.0.0.1:7070); `tls`
  // for an https:// server.
  static Result<ApiClient> Create(const std::string& server, const std::string& token,
                                  const net::TlsClientOptions& tls = {});
  Result<ApiResult> Call(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr);

 private:
  explicit ApiClient(net::HttpClient http) : http_(std::move(http)) {}
  net::HttpClient http_;
  std::string token_;
};

// Prints `allot: what: message` for a failed call and returns the exit code (2 for bad input: 400, 404,
// 422; 1 otherwise).
int ReportApiError(const std::string& what, const ApiResult& r);

// "cpu=2,memory=4Gi" or repeated "k=v" into a JSON object of strings. Errors name the item.
Result<nlohmann::json> ParseKeyValues(const std::vector<std::string>& items);

// Renders rows as an aligned text table; the first row is the header.
std::string Table(const std::vector<std::vector<std::string>>& rows);
// A resource amount from API output (DESIGN units) in human form: "2500m" cpu as "2.5", bytes as "4Gi".
std::string Human(const std::string& resource, const nlohmann::json& amount);
std::string ResourcesText(const nlohmann::json& resources);
// Percent-encodes a path segment (tenant paths keep their '/').
std::string PathEscape(const std::string& s);

}  // namespace allot::server
