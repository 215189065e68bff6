// The client side of the API for the `allot` client commands: server/token resolution (flags, then
// ALLOT_SERVER / ALLOT_TOKEN; the server may be a list of replicas), one call per request, error
// reporting in the CLI's conventions, and small helpers for human tables.
// Thread-safety: an ApiClient is used by one thread.
#pragma once

#include <map>
#include <optional>
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
  // `server` / `token` from flags ("" = use the environment; default server http://127.0.0.1:7070). The
  // server may be a comma-separated list of replicas (net::FailoverClient says how they are used).
  // `verbose`: each call says on stderr which replica answered, and every redirect and retry on the way.
  // `tls` for https:// servers.
  static Result<ApiClient> Create(const std::string& server, const std::string& token, bool verbose = false,
                                  const net::TlsClientOptions& tls = {});
  // A call is repeated on another replica only when it is safe to repeat: GET, PUT, DELETE, and a POST
  // whose body carries an idempotency_key (or `idempotent` says so, e.g. a renewal).
  Result<ApiResult> Call(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr, std::optional<bool> idempotent = std::nullopt);

 private:
  explicit ApiClient(net::FailoverClient http) : http_(std::move(http)) {}
  net::FailoverClient http_;
  std::string token_;
  bool verbose_ = false;
};

// A fresh random idempotency key ("cli-" and 16 hex digits), for commands that submit work.
std::string NewIdempotencyKey();

// Prints `allot: what: message` for a failed call and returns the exit code (2 for bad input: 400, 404,
// 422; 1 otherwise).
int ReportApiError(const std::string& what, const ApiResult& r);

// "cpu=2,memory=4Gi" or repeated "k=v" into a JSON object of strings. Errors name the item.
Result<nlohmann::json> ParseKeyValues(const std::vector<std::string>& items);

// Renders rows as an aligned text table; the first row is the header.
std::string Table(const std::vector<std::vector<std::string>>& rows);
// A resource amount from API output (DESIGN units) for a table: cpu as a quantity ("2500m", "4"), bytes as
// FormatBytesTable ("4Gi", "1G", "~13.86Gi" where the exact form would be longer than 4 digits).
std::string Human(const std::string& resource, const nlohmann::json& amount);
// "cpu=2,memory=4Gi": every amount of a resources object through Human.
std::string ResourcesText(const nlohmann::json& resources);
// Percent-encodes a path segment (tenant paths keep their '/').
std::string PathEscape(const std::string& s);

}  // namespace allot::server
