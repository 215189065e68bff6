#include "net/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace allot::net {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

SslCtxPtr Wrap(SSL_CTX* ctx) {
  return SslCtxPtr(ctx, [](SSL_CTX* c) { SSL_CTX_free(c); });
}

// Settings both sides share: TLS 1.2 at least, no renegotiation (a server-initiated one would let a read
// need a write at any time, and client-initiated ones are a denial-of-service lever).
Result<SslCtxPtr> NewContext(const SSL_METHOD* method) {
  ERR_clear_error();
  SslCtxPtr ctx = Wrap(SSL_CTX_new(method));
  if (!ctx) return Error{ErrorCode::kInternal, "TLS: " + TlsErrors("cannot create a context")};
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  return ctx;
}

Status UseCertificate(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                      const std::string& what) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return InvalidArgument(what + " certificate " + cert + ": " + TlsErrors("cannot be read"));
  }
  if (key.empty()) return InvalidArgument(what + " certificate " + cert + ": no private key file is given");
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string why = TlsErrors("cannot be read");
    if (why.find("mismatch") != std::string::npos) {
      return InvalidArgument(what + " key " + key + " does not match the certificate " + cert);
    }
    return InvalidArgument(what + " key " + key + ": " + why);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument(what + " key " + key + " does not match the certificate " + cert);
  }
  return Status::Ok();
}

}  // namespace

std::string TlsErrors(const std::string& fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(e));
    if (out.find(text) != std::string::npos) continue;
    out += (out.empty() ? "" : "; ") + text;
  }
  return out.empty() ? fallback : out;
}

Result<SslCtxPtr> MakeServerContext(const TlsServerOptions& o) {
  auto ctx = NewContext(TLS_server_method());
  if (!ctx.ok()) return ctx.error();
  SSL_CTX* c = ctx->get();
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their buffers back; answers may be written in parts from a buffer that moves.
  SSL_CTX_set_mode(
      c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (auto s = UseCertificate(c, o.cert_file, o.key_file, "TLS"); !s.ok()) return s.error();
  if (!o.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, o.client_ca_file.c_str(), nullptr) != 1) {
      return InvalidArgument("TLS client CA " + o.client_ca_file + ": " + TlsErrors("cannot be read"));
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names == nullptr) {
      return InvalidArgument("TLS client CA " + o.client_ca_file + ": " + TlsErrors("holds no certificate"));
    }
    SSL_CTX_set_client_CA_list(c, names);
    // Asked for, verified when given; a connection without one authenticates with a token instead.
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    static const unsigned char kSessionContext[] = "allot";
    SSL_CTX_set_session_id_context(c, kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

Result<SslCtxPtr> MakeClientContext(const TlsClientOptions& o) {
  auto ctx = NewContext(TLS_client_method());
  if (!ctx.ok()) return ctx.error();
  SSL_CTX* c = ctx->get();
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, o.ca_file.c_str(), nullptr) != 1) {
      return InvalidArgument("CA certificate " + o.ca_file + ": " + TlsErrors("cannot be read"));
    }
  } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
    return Error{ErrorCode::kInternal, "TLS: the system's CA certificates: " + TlsErrors("cannot be read")};
  }
  if (!o.cert_file.empty() || !o.key_file.empty()) {
    if (o.cert_file.empty())
      return InvalidArgument("client key " + o.key_file + ": no client certificate is given");
    if (auto s = UseCertificate(c, o.cert_file, o.key_file, "client"); !s.ok()) return s.error();
  }
  return ctx;
}

void PeerIdentity(SSL* ssl, std::string* subject, std::string* cn) {
  subject->clear();
  cn->clear();
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  X509_NAME* name = X509_get_subject_name(cert);
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) subject->assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return;
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n > 0) cn->assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
}

bool ClientTls::Wait(bool want_write, int64_t deadline_ms) const {
  for (;;) {
    int64_t left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd p{fd_, static_cast<short>(want_write ? POLLOUT : POLLIN), 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let the next call report the socket's error
  }
}

Status ClientTls::Handshake(int fd, const std::string& host, int64_t deadline_ms) {
  fd_ = fd;
  broken_ = false;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  ERR_clear_error();
  ssl_.reset(SSL_new(ctx_.get()));
  if (!ssl_) return Error{ErrorCode::kInternal, "TLS: " + TlsErrors("cannot create a session")};
  SSL_set_fd(ssl_.get(), fd);
  in6_addr ip{};
  bool is_ip = inet_pton(AF_INET, host.c_str(), &ip) == 1 || inet_pton(AF_INET6, host.c_str(), &ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
    SSL_set1_host(ssl_.get(), host.c_str());
  }
  for (;;) {
    int r = SSL_connect(ssl_.get());
    if (r == 1) return Status::Ok();
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!Wait(err == SSL_ERROR_WANT_WRITE, deadline_ms)) {
        return Error{ErrorCode::kUnavailable, "timed out in the TLS handshake"};
      }
      continue;
    }
    std::string why;
    long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) {
      why = std::string("the server's certificate is not trusted: ") + X509_verify_cert_error_string(verify);
      ERR_clear_error();
    } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      why = errno != 0 ? std::strerror(errno) : "the server closed the connection";
    } else {
      why = TlsErrors("the handshake failed");
    }
    ssl_.reset();
    return Error{ErrorCode::kUnavailable, "TLS handshake failed: " + why};
  }
}

Status ClientTls::Write(std::string_view data, int64_t deadline_ms) {
  size_t off = 0;
  while (off < data.size()) {
    ERR_clear_error();
    int r = SSL_write(ssl_.get(), data.data() + off,
                      static_cast<int>(std::min<size_t>(data.size() - off, 1 << 30)));
    if (r > 0) {
      off += static_cast<size_t>(r);
      continue;
    }
    int err = SSL_get_error(ssl_.get(), r);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) &&
        Wait(err == SSL_ERROR_WANT_WRITE, deadline_ms)) {
      continue;
    }
    bool timed_out = err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ;
    broken_ = true;
    return Error{ErrorCode::kUnavailable,
                 timed_out ? "timed out sending to the server"
                           : "send: " + TlsErrors(std::strerror(errno != 0 ? errno : EPIPE))};
  }
  return Status::Ok();
}

Status ClientTls::Read(std::string* buf, int64_t deadline_ms) {
  char tmp[16384];
  for (;;) {
    ERR_clear_error();
    int r = SSL_read(ssl_.get(), tmp, sizeof tmp);
    if (r > 0) {
      buf->append(tmp, static_cast<size_t>(r));
      return Status::Ok();
    }
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!Wait(err == SSL_ERROR_WANT_WRITE, deadline_ms)) {
        return Error{ErrorCode::kUnavailable, "timed out waiting for the server"};
      }
      continue;
    }
    broken_ = err != SSL_ERROR_ZERO_RETURN;
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
      return Error{ErrorCode::kUnavailable, "the server closed the connection"};
    }
    return Error{ErrorCode::kUnavailable, "TLS: " + TlsErrors("the connection failed")};
  }
}

void ClientTls::Close() {
  if (ssl_ && !broken_) SSL_shutdown(ssl_.get());  // close_notify, if the socket takes it at once
  ssl_.reset();
  fd_ = -1;
  broken_ = false;
}

}  // namespace allot::net
