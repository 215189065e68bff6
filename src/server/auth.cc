#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "allot/clock.h"
#include "server/util.h"

namespace allot {

namespace {
std::array<unsigned char, 32> Sha256(const std::string& s) {
  std::array<unsigned char, 32> d{};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}
}  // namespace

std::string HashToken(const std::string& secret) {
  static const char* kHex = "0123456789abcdef";
  auto d = Sha256(secret);
  std::string out;
  for (unsigned char c : d) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace server {

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool Principal::CoversTenant(const std::string& t) const {
  if (role == "admin" || role == "reader") return true;
  if (role == "writer") return InSubtree(t, tenant);
  return false;
}

const char* AuthFailureName(AuthFailure f) {
  switch (f) {
    case AuthFailure::kNone:
      return "none";
    case AuthFailure::kMissing:
      return "missing_token";
    case AuthFailure::kMalformed:
      return "malformed";
    case AuthFailure::kWrong:
      return "wrong_token";
    case AuthFailure::kExpired:
      return "expired_token";
  }
  return "unknown";
}

Authenticator::Authenticator(const std::vector<TokenConfig>& tokens, bool dev,
                             const std::vector<ClientCertConfig>& certs, RequestRateLimit default_limit)
    : certs_(certs), dev_(dev) {
  auto limit = [&](const std::string& name, const std::optional<RequestRateLimit>& own) {
    RequestRateLimit l = own.value_or(default_limit);
    if (l.count > 0) limits_[name] = l;
  };
  for (const auto& t : tokens) {
    Entry e{};
    for (size_t i = 0; i < 32; i++) e.digest[i] = static_cast<unsigned char>(std::stoi(t.sha256_hex.substr(2 * i, 2), nullptr, 16));
    e.principal = {t.name, t.role, t.role == "writer" ? t.tenant : ""};
    e.expires_ms = t.expires_ms;
    entries_.push_back(std::move(e));
    limit(t.name, t.rate_limit);
  }
  for (const auto& c : certs_) limit(c.name, c.rate_limit);
}

AuthResult Authenticator::Check(const std::string& authorization, int64_t now_ms) const {
  AuthResult out;
  if (dev_) {
    out.principal = Principal{"dev", "admin", ""};
    return out;
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    out.failure = AuthFailure::kMissing;
    return out;
  }
  if (authorization.size() <= kBearer.size() || authorization.compare(0, kBearer.size(), kBearer) != 0) {
    out.failure = AuthFailure::kMalformed;
    return out;
  }
  auto digest = Sha256(authorization.substr(kBearer.size()));
  const Entry* found = nullptr;
  for (const auto& e : entries_) {
    // Every entry is compared (no early exit) so the time does not depend on which one matches.
    if (CRYPTO_memcmp(digest.data(), e.digest.data(), digest.size()) == 0) found = &e;
  }
  if (found == nullptr) {
    out.failure = AuthFailure::kWrong;
  } else if (found->expires_ms != 0 && now_ms >= found->expires_ms) {
    out.failure = AuthFailure::kExpired;
    out.token_name = found->principal.name;
    out.expired_at_ms = found->expires_ms;
  } else {
    out.principal = found->principal;
  }
  return out;
}

std::optional<Principal> Authenticator::Authenticate(const std::string& authorization) const {
  return Check(authorization, WallNowMs()).principal;
}

std::optional<Principal> Authenticator::AuthenticateCert(const std::string& subject,
                                                         const std::string& cn) const {
  if (subject.empty() && cn.empty()) return std::nullopt;
  for (const auto& c : certs_) {
    if ((!c.subject.empty() && c.subject == subject) || (!c.cn.empty() && c.cn == cn)) {
      return Principal{c.name, c.role, c.role == "writer" ? c.tenant : ""};
    }
  }
  return std::nullopt;
}

}  // namespace server
}  // namespace allot
