// Bearer-token authentication and role checks.
//
// Secrets are kept only as SHA-256 digests; a presented token is hashed and compared against every known
// digest in constant time (CRYPTO_memcmp), so neither a match's position nor a prefix leaks through timing.
// Roles: admin (everything), reader (every GET), writer (allocations and reservations inside its tenant
// subtree, reads of that subtree), agent (node registration and heartbeats). In dev mode every request
// acts as admin "dev".
// Thread-safety: an Authenticator is immutable after construction.
#pragma once

#include <array>
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

class Authenticator {
 public:
  Authenticator(const std::vector<TokenConfig>& tokens, bool dev);
  // The principal for an Authorization header value, or nullopt (401).
  std::optional<Principal> Authenticate(const std::string& authorization) const;
  bool dev() const { return dev_; }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    Principal principal;
  };
  std::vector<Entry> entries_;
  bool dev_;
};

}  // namespace allot::server
