#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

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

Authenticator::Authenticator(const std::vector<TokenConfig>& tokens, bool dev) : dev_(dev) {
  for (const auto& t : tokens) {
    Entry e{};
    for (size_t i = 0; i < 32; i++) e.digest[i] = static_cast<unsigned char>(std::stoi(t.sha256_hex.substr(2 * i, 2), nullptr, 16));
    e.principal = {t.name, t.role, t.role == "writer" ? t.tenant : ""};
    entries_.push_back(std::move(e));
  }
}

std::optional<Principal> Authenticator::Authenticate(const std::string& authorization) const {
  if (dev_) return Principal{"dev", "admin", ""};
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.compare(0, kBearer.size(), kBearer) != 0) {
    return std::nullopt;
  }
  auto digest = Sha256(authorization.substr(kBearer.size()));
  const Entry* found = nullptr;
  for (const auto& e : entries_) {
    // Every entry is compared (no early exit) so the time does not depend on which one matches.
    if (CRYPTO_memcmp(digest.data(), e.digest.data(), digest.size()) == 0) found = &e;
  }
  if (found == nullptr) return std::nullopt;
  return found->principal;
}

}  // namespace server
}  // namespace allot
