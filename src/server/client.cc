#include "allot/client.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>

#include "allot/quantity.h"

namespace allot::server {

Result<ApiClient> ApiClient::Create(const std::string& server, const std::string& token, bool verbose,
                                    const net::TlsClientOptions& tls) {
  std::string s = server;
  if (s.empty()) {
    const char* e = std::getenv("ALLOT_SERVER");
    s = e && *e ? e : "http://127.0.0.1:7070";
  }
  net::FailoverOptions options;
  options.tls = tls;
  auto http = net::FailoverClient::Create(s, options);
  if (!http.ok()) return http.error();
  ApiClient c(std::move(http.value()));
  c.verbose_ = verbose;
  c.token_ = token;
  if (c.token_.empty()) {
    const char* e = std::getenv("ALLOT_TOKEN");
    if (e) c.token_ = e;
  }
  return c;
}

Result<ApiResult> ApiClient::Call(const std::string& method, const std::string& path,
                                  const nlohmann::json& body, std::optional<bool> idempotent) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token_.empty()) headers.push_back({"Authorization", "Bearer " + token_});
  headers.push_back({"Accept", "application/json"});
  bool safe = idempotent.value_or(method != "POST" || (body.is_object() && body.contains("idempotency_key") &&
                                                       body["idempotency_key"].is_string()));
  auto r = http_.Request(method, path, body.is_null() ? "" : body.dump(), headers, safe);
  if (verbose_) {
    for (const auto& step : http_.trail())
      std::cerr << "allot: " << method << " " << path << ": " << step << "\n";
    if (r.ok()) {
      std::cerr << "allot: " << method << " " << path << ": answered by " << http_.answered_by() << " (HTTP "
                << r->status
                << (r->headers.count("x-allot-revision") ? ", revision " + r->headers["x-allot-revision"]
                                                         : "")
                << ")\n";
    }
  }
  if (!r.ok()) {
    Error e = r.error();
    // Nothing listens there: the first thing a new user meets, so say how to get a server.
    if (e.code == ErrorCode::kUnavailable && e.message.rfind("cannot connect to", 0) == 0) {
      e.message += "; no allot server answers there: start one with `allot serve --dev` (or `make run` in the "
                   "source tree), or point --server / ALLOT_SERVER at a running one";
    } else if (e.message.find("certificate is not trusted") != std::string::npos) {
      e.message += "; pass the CA that signed it with --ca-cert FILE (or ALLOT_CA_CERT)";
    } else if (e.message.find("TLS handshake failed") != std::string::npos) {
      e.message += "; does the server serve TLS there (allot serve --tls-cert)?";
    }
    return e;
  }
  ApiResult out;
  out.status = r->status;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  if (out.body.is_discarded()) out.body = r->body;
  // The server's warnings (a memory amount without a unit, ...) go to stderr, whatever the command prints.
  if (out.body.is_object() && out.body.contains("warnings") && out.body["warnings"].is_array()) {
    for (const auto& w : out.body["warnings"]) {
      if (w.is_string()) std::cerr << "allot: warning: " << w.get<std::string>() << "\n";
    }
  }
  return out;
}

std::string NewIdempotencyKey() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "cli-%08x%08x", rd(), rd());
  return buf;
}

int ReportApiError(const std::string& what, const ApiResult& r) {
  std::string msg;
  if (r.body.is_object() && r.body.contains("error") && r.body["error"].is_object()) {
    msg = r.body["error"].value("message", "");
  }
  if (msg.empty()) msg = r.body.is_string() ? r.body.get<std::string>() : r.body.dump();
  if (r.status == 401) msg += "; pass a token with --token TOKEN or the ALLOT_TOKEN environment variable";
  std::cerr << "allot: " << what << ": " << msg << " (HTTP " << r.status << ")\n";
  return r.status == 400 || r.status == 404 || r.status == 422 ? 2 : 1;
}

Result<nlohmann::json> ParseKeyValues(const std::vector<std::string>& items) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& item : items) {
    size_t i = 0;
    while (i <= item.size()) {
      size_t comma = item.find(',', i);
      if (comma == std::string::npos) comma = item.size();
      std::string kv = item.substr(i, comma - i);
      i = comma + 1;
      if (kv.empty()) continue;
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return InvalidArgument("\"" + kv + "\": expected KEY=VALUE");
      out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  return out;
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows) {
    if (w.size() < r.size()) w.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); i++) w[i] = std::max(w[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); i++) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string Human(const std::string& res, const nlohmann::json& amount) {
  if (!amount.is_number_integer()) return amount.is_null() ? "-" : amount.dump();
  int64_t v = amount.get<int64_t>();
  if (res == "cpu") return FormatMilli(v);
  if (res == "memory" || res == "ephemeral-storage" || res == "storage") return FormatBytesTable(v);
  return std::to_string(v);
}

std::string ResourcesText(const nlohmann::json& r) {
  if (!r.is_object()) return "-";
  std::string out;
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (it.key() == "gpu_milli") continue;
    std::string v = Human(it.key(), *it);
    if (it.key() == "gpu" && r.contains("gpu_milli") && r["gpu_milli"].is_number_integer() &&
        r["gpu_milli"].get<int64_t>() % 1000 != 0) {
      v = FormatMilli(r["gpu_milli"].get<int64_t>());
    }
    out += (out.empty() ? "" : ",") + it.key() + "=" + v;
  }
  return out.empty() ? "-" : out;
}

std::string PathEscape(const std::string& s) { return net::PercentEncode(s); }

}  // namespace allot::server
