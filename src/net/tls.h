// TLS through OpenSSL for the HTTP server and client (include/allot/http.h): contexts made from PEM files
// (TLS 1.2 at least, no renegotiation), the verified identity of a server-side peer, and the client's
// session over a socket it drives with poll (blocking calls with a deadline).
// Thread-safety: an SSL_CTX is shared (OpenSSL locks it); an SSL and a ClientTls belong to one thread.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "allot/http.h"
#include "allot/result.h"

namespace allot::net {

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::shared_ptr<SSL_CTX>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// The OpenSSL error queue of this thread as one line ("certificate verify failed; ..."), emptied; `fallback`
// when it holds nothing.
std::string TlsErrors(const std::string& fallback);

// A server context: certificate chain and key (checked to match), TLS 1.2+, and with a client CA file,
// client certificates asked for and verified (a connection without one is still accepted).
Result<SslCtxPtr> MakeServerContext(const TlsServerOptions& options);
// A client context: verifies the server against options.ca_file (or the system's CAs), TLS 1.2+, with an
// optional client certificate.
Result<SslCtxPtr> MakeClientContext(const TlsClientOptions& options);

// After a server-side handshake: the verified peer certificate's subject (RFC 2253) and common name; both
// empty when the peer sent none.
void PeerIdentity(SSL* ssl, std::string* subject, std::string* cn);

// The client side of one connection: the shared context and the current session.
class ClientTls {
 public:
  explicit ClientTls(SslCtxPtr ctx) : ctx_(std::move(ctx)) {}
  // Handshakes over the connected socket `fd` (made non-blocking) and verifies that the certificate names
  // `host` (a DNS name or an IP address). Errors say why the server was not accepted.
  Status Handshake(int fd, const std::string& host, int64_t deadline_ms);
  // Writes all of `data` by `deadline_ms` (steady clock, milliseconds).
  Status Write(std::string_view data, int64_t deadline_ms);
  // Appends at least one byte to *buf, waiting until `deadline_ms` at most.
  Status Read(std::string* buf, int64_t deadline_ms);
  // Ends the session (the socket is the caller's to close).
  void Close();

 private:
  // Waits for `fd_` to become readable (want_write false) or writable; false at the deadline.
  bool Wait(bool want_write, int64_t deadline_ms) const;
  SslCtxPtr ctx_;
  SslPtr ssl_;
  int fd_ = -1;
  bool broken_ = false;  // a fatal error: no close_notify may follow
};

}  // namespace allot::net
