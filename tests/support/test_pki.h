// A throwaway PKI for TLS tests, made on the fly with the `openssl` command (Debian's openssl) in a temp
// directory: certificate authorities and the server and client certificates they sign (P-256 keys, two
// days of validity). Server certificates name 127.0.0.1, ::1 and localhost.
#pragma once

#include <string>

namespace allot::testing {

struct CertFiles {
  std::string cert, key;  // PEM paths
};

class TestCa {
 public:
  // Makes DIR/NAME-ca.crt and its key. ok() says whether openssl succeeded (error() says why not).
  TestCa(std::string dir, std::string name);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& cert() const { return cert_; }
  // Issues DIR/FILE.crt and DIR/FILE.key for `subject` ("/CN=agent-1/O=example"); a server certificate
  // carries the names `san` (by default the loopback ones), a client one the clientAuth usage. Empty
  // paths (and error()) on failure.
  CertFiles Issue(const std::string& file, const std::string& subject, bool server,
                  const std::string& san = "IP:127.0.0.1,IP:::1,DNS:localhost");

 private:
  std::string dir_, name_, cert_, key_, error_;
};

}  // namespace allot::testing
