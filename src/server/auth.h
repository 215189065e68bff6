// Bearer-token authentication and role checks.
//
// Secrets are kept only as SHA-256 digests; a presented token is hashed and compared against every known
// digest in constant time (CRYPTO_memcmp), so neither a match's position nor a prefix leaks through timing.
// Roles: admin (everything), reader (every GET), writer (allocations and reservations inside its tenant
// subtree, reads of that subtree), agent (node registration and heartbeats). In dev mode every request
// acts as admin "dev". A verified TLS client certificate maps to a principal through auth.client_certs
// (by exact subject or common name; the first entry that matches). A token past its `expires` is refused
// (and told apart from a wrong one). Each principal may carry a request rate limit (Limits()), which the
// server enforces per principal name (server/auth_guard.h).
// Thread-safety: an Authenticator is immutable after construction.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "allot/server.h"

namespace allot::server {

bool IsSha256Hex(const std::string& s);

struct Principal {
  std::string name;
  std::string role;    // admin | reader | writer | agent
  std::string tenant;  // writer: its subtree; "" = all tenants
  bool admin() const { return role == "admin"; }
  bool CanRead() const { return true; }
  // True if this principal may act on (or see) `tenant`'s allocations and reservations.
  bool CoversTenant(const std::string& t) const;
};

// Why a request was not authenticated (the audit log's auth_failed reasons).
enum class AuthFailure {
  kNone,
  kMissing,    // no Authorization header
  kMalformed,  // not "Bearer TOKEN"
  kWrong,      // matches no token
  kExpired,    // matches a token past its expiry
};
const char* AuthFailureName(AuthFailure f);  // "missing_token", "malformed", "wrong_token", "expired_token"

struct AuthResult {
  std::optional<Principal> principal;
  AuthFailure failure = AuthFailure::kNone;
  std::string token_name;  // kExpired: which token (the caller holds its secret)
  int64_t expired_at_ms = 0;
};

class Authenticator {
 public:
  // `default_limit`: auth.rate_limit, for principals without their own.
  Authenticator(const std::vector<TokenConfig>& tokens, bool dev,
                const std::vector<ClientCertConfig>& certs = {}, RequestRateLimit default_limit = {});
  // The principal for an Authorization header value at `now_ms` (Unix ms), or why there is none.
  AuthResult Check(const std::string& authorization, int64_t now_ms) const;
  // Check at the wall clock's now; nullopt: 401.
  std::optional<Principal> Authenticate(const std::string& authorization) const;
  // The principal a verified client certificate maps to, or nullopt.
  std::optional<Principal> AuthenticateCert(const std::string& subject, const std::string& cn) const;
  bool dev() const { return dev_; }
  // The request rate limit of each principal that has one, by name.
  const std::map<std::string, RequestRateLimit>& Limits() const { return limits_; }
  size_t token_count() const { return entries_.size(); }
  size_t cert_count() const { return certs_.size(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Principal principal;
    int64_t expires_ms = 0;
  };
  std::vector<Entry> entries_;
  std::vector<ClientCertConfig> certs_;
  std::map<std::string, RequestRateLimit> limits_;
  bool dev_;
};

}  // namespace allot::server
