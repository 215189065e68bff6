// HTTP/1.1 messages, an epoll-based server and a small blocking client.
//
// HttpServer: one I/O thread owns every socket (epoll, level-triggered); parsed requests go through a
// bounded admission queue to worker threads that call the handler. A handler answers through a Responder,
// at once or later from any thread (after a group commit, or when a long-poll watch fires); the I/O thread
// writes the answer. Past `max_queue` waiting requests the I/O thread itself answers 429 with Retry-After.
// Keep-alive, Expect: 100-continue, header/body size limits (431/413), read and idle timeouts; one request
// per connection is in flight at a time (pipelined requests wait in the socket). Shutdown() may be called
// from any thread (and RequestShutdown from a signal handler): the listener closes, in-flight requests
// finish and are written, then Run() returns.
//
// Per-connection memory is bounded: at most a read-ahead of input (more only for the request being read),
// and once the answers a client has not taken exceed `max_pending_output_bytes` no further request is read
// from it until they drain. A connection whose pending answers make no progress for `write_timeout_ms` (a
// client that sends and never reads) is closed. Past `max_connections_per_address` connections from one
// peer address, new ones are answered 503 with Connection: close. Singleton headers (Authorization, Host,
// Content-Type, ...) given twice, Transfer-Encoding with Content-Length, header names that are not tokens
// and control characters in header values are answered 400.
//
// TLS (OpenSSL, TLS 1.2 and 1.3 only): an HttpServer given TlsServerOptions speaks only HTTPS on its port;
// handshakes are non-blocking steps of the same state machine, and a plain-HTTP request that arrives
// there is answered 400 in plain text before the connection closes. With a client CA, a client
// certificate that verifies is passed to the handler (HttpRequest::peer_*); one that does not fails the
// handshake. ReloadTls re-reads the files: connections accepted after it use the new certificate.
//
// HttpClient: blocking, one keep-alive connection, reconnects once when the server closed it; https://
// URLs verify the server's certificate (TlsClientOptions::ca_file, else the system's CAs) and its name.
// FailoverClient: HttpClients to several replicas of one service, with redirects and fail-over.
// Thread-safety: HttpServer's public methods are thread-safe; an HttpClient is used by one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allot/result.h"

namespace allot::net {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path plus query
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;    // decoded; the last value of a repeated key wins
  std::map<std::string, std::string> headers;  // names lower-cased; repeated list headers joined by ", "
  std::string body;
  std::string remote;  // peer address
  // Over TLS with a client CA: the verified client certificate's subject (RFC 2253, "CN=a,O=b") and
  // common name; empty without one.
  std::string peer_subject;
  std::string peer_cn;

  // The header value, or "" when absent. `name` must be lower-case.
  std::string Header(const std::string& name) const;
  bool HasQuery(const std::string& name) const { return query.count(name) > 0; }
  std::string Query(const std::string& name, const std::string& fallback = "") const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

const char* HttpReason(int status);

// Percent-decodes `s` ('+' as space when `plus_is_space`). Returns false on a malformed escape.
bool PercentDecode(std::string_view s, std::string* out, bool plus_is_space);
std::string PercentEncode(std::string_view s);

class HttpServer;
struct ResponderState;
class ClientTls;

// Completes one request exactly once. Copies share the request; the first Send wins. When the last copy
// is dropped without a Send, the client gets a 500 (a handler bug must not hang a connection).
class Responder {
 public:
  Responder() = default;
  explicit Responder(std::shared_ptr<ResponderState> state) : state_(std::move(state)) {}
  void Send(HttpResponse response) const;
  // A label for the access log (the authenticated actor).
  void SetActor(const std::string& actor) const;
  bool valid() const { return state_ != nullptr; }

 private:
  std::shared_ptr<ResponderState> state_;
};

using Handler = std::function<void(HttpRequest&& request, const Responder& responder)>;

// One access-log record, given to HttpServerOptions::on_response on the thread that answered.
struct AccessRecord {
  std::string_view method, path, remote, actor;
  int status = 0;
  int64_t micros = 0;   // from the request's arrival to its answer
  size_t bytes = 0;     // response body size
};

// PEM files of an HttpServer's TLS. An empty cert_file: plain HTTP.
struct TlsServerOptions {
  std::string cert_file;       // the server's certificate (and its chain)
  std::string key_file;        // its private key
  std::string client_ca_file;  // optional: client certificates signed by these CAs are asked for and verified
};

// What a client trusts and presents over https://. Empty ca_file: the system's CA store.
struct TlsClientOptions {
  std::string ca_file;
  std::string cert_file;  // a client certificate (with key_file), for servers that map them to principals
  std::string key_file;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 7070;                          // 0: any free port (see HttpServer::port())
  size_t max_header_bytes = 16 * 1024;      // request line + headers; past it: 431
  size_t max_body_bytes = 1024 * 1024;      // past it: 413
  size_t max_queue = 4096;                  // requests waiting for a worker; past it: 429
  int retry_after_s = 1;                    // Retry-After of a 429
  size_t max_connections = 20000;           // past it new connections are closed at once
  int workers = 2;                          // handler threads
  int64_t request_timeout_ms = 10'000;      // a started request must arrive whole within this
  int64_t idle_timeout_ms = 120'000;        // a keep-alive connection with nothing to do is closed
  int64_t shutdown_grace_ms = 10'000;       // Shutdown waits this long for in-flight requests
  // Answers written but not yet taken by the client that make no progress this long: the connection is
  // closed (a client that pipelines and never reads). 0: never.
  int64_t write_timeout_ms = 10'000;
  // Past this many bytes of answers waiting for the client (beyond what the kernel buffers), no further
  // request is read or parsed from that connection until they drain. One answer may be larger.
  size_t max_pending_output_bytes = 64 * 1024;
  // Open connections from one peer address; past it a new one is answered 503 (Connection: close) and
  // closed. 0: no limit.
  size_t max_connections_per_address = 256;
  // SO_SNDBUF of accepted connections, which bounds what the kernel holds for a client that does not
  // read; 0: the kernel's default (autotuned, up to net.ipv4.tcp_wmem's maximum).
  int send_buffer_bytes = 0;
  std::function<void(const AccessRecord&)> on_response;  // access log / metrics hook (may be empty)
  // Called on every answer just before it is written, on the thread that answers (may be empty): headers
  // that every answer carries.
  std::function<void(HttpResponse*)> decorate;
  // Requests it accepts are handled on the I/O thread itself, skipping the admission queue and the hand-off
  // to a worker: only for handlers that answer from memory and never wait (rate-limit decisions).
  std::function<bool(const HttpRequest&)> run_inline;
  // Requests it accepts are handled on the I/O thread when no other request is in flight (none with a
  // worker, none queued, no long poll waiting): a lone client's request skips the hand-off to a worker and
  // back; under concurrency they go to the workers as usual. For handlers that never wait on I/O (they
  // may hand work to the store's committer, which answers later).
  std::function<bool(const HttpRequest&)> run_inline_when_idle;
  // run_inline_when_idle's requests run on the I/O thread even while others are in flight: for machines
  // where a worker has no core of its own, so that handing off costs wake-ups and buys no parallelism.
  bool run_inline_when_busy = false;
  TlsServerOptions tls;  // cert_file set: HTTPS only
};

// Connection counters of an HttpServer (read from any thread; each value is current but they are not one
// snapshot).
struct HttpServerStats {
  size_t connections = 0;               // open now
  uint64_t refused_max_connections = 0; // closed at accept: max_connections reached (or shutting down)
  uint64_t refused_per_address = 0;     // answered 503: max_connections_per_address reached
  uint64_t closed_write_timeout = 0;    // closed: pending answers made no progress for write_timeout_ms
  uint64_t tls_handshake_failures = 0;  // TLS connections closed before their handshake completed
};

class HttpServer {
 public:
  // Binds and listens (so port() is known), but serves nothing until Run(). Raises the process's soft
  // RLIMIT_NOFILE to its hard limit (so max_connections can be reached).
  static Result<std::unique_ptr<HttpServer>> Create(const HttpServerOptions& options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Serves until Shutdown(); returns after in-flight requests were answered (or the grace ran out).
  void Run();
  // Thread-safe; idempotent.
  void Shutdown();
  // Async-signal-safe variant of Shutdown (only writes to an eventfd).
  void RequestShutdown();
  bool ShutdownRequested() const;
  // Requests admitted but not yet answered.
  size_t InFlight() const;
  // Requests waiting for a worker.
  size_t QueueDepth() const;
  uint64_t Rejected429() const;
  HttpServerStats Stats() const;
  // Re-reads the TLS files of the options: connections accepted afterwards use them. On error (a file
  // missing, a key that does not match) the old ones stay. Any thread; an error without TLS.
  Status ReloadTls();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A blocking HTTP/1.1 client over one keep-alive TCP connection.
class HttpClient {
 public:
  // `base` is "http://host:port", "https://host:port" or "host:port" (http). `tls` is used for https
  // (its files are read here; errors name them).
  static Result<HttpClient> Create(const std::string& base, int64_t timeout_ms = 30'000,
                                   const TlsClientOptions& tls = {});
  HttpClient(HttpClient&& other) noexcept;
  HttpClient& operator=(HttpClient&& other) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  Result<ClientResponse> Request(const std::string& method, const std::string& target,
                                 const std::string& body = "",
                                 const std::vector<std::pair<std::string, std::string>>& headers = {});
  void Close();

 private:
  HttpClient() = default;
  Status Connect();
  Result<ClientResponse> TryOnce(const std::string& wire, bool* retryable);
  std::unique_ptr<ClientTls> tls_;  // https: the context and this connection's session; null for http
  std::string host_;
  int port_ = 0;
  int64_t timeout_ms_ = 30'000;
  int fd_ = -1;
  std::string buf_;
};

// A client of a service with several replicas (`allot serve` with standbys): one HttpClient per replica,
// given as a comma-separated list of URLs ("http://a:7070,http://b:7070"; each may carry a path prefix).
// Requests go to the replica that answered last (the first one at first).
// - Redirects: a 307/308 answer is followed to its Location, with the same method and body (at most
//   `max_redirects`), also to a replica the list does not name.
// - Fail-over: a request that was never sent (nothing accepted the connection) goes to the next replica.
//   A request that is safe to repeat (`idempotent`: GET, PUT, DELETE, a POST with an idempotency key)
//   also goes to the next replica after a connection that failed or timed out after sending, or a 503
//   whose error code is "unavailable" (a replica that is not ready: a standby while nobody leads, one
//   taking over). Once every replica failed in a row it pauses (`backoff_ms`, doubling to
//   `max_backoff_ms`) and goes round again, until `retry_for_ms` have passed since the request began, or
//   until every replica refused the connection in `refused_rounds` rounds (none of them runs).
// Thread-safety: one thread at a time.
struct FailoverOptions {
  int64_t timeout_ms = 30'000;  // one exchange with one replica
  int max_redirects = 5;
  int64_t retry_for_ms = 30'000;  // how long a request is retried across replicas
  int64_t backoff_ms = 50;
  int64_t max_backoff_ms = 1'000;
  int refused_rounds = 3;
  TlsClientOptions tls;  // for https:// replicas
};

class FailoverClient {
 public:
  // Errors name the entry of `servers` that is not a URL.
  static Result<FailoverClient> Create(const std::string& servers, const FailoverOptions& options = {});
  Result<ClientResponse> Request(const std::string& method, const std::string& target,
                                 const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 bool idempotent);
  // The replica that gave the last answer ("http://host:port").
  const std::string& answered_by() const { return answered_by_; }
  // What the last request went through before its answer: "URL: why" per redirect, failure and retry.
  const std::vector<std::string>& trail() const { return trail_; }
  const std::vector<std::string>& servers() const { return urls_; }

 private:
  FailoverClient() = default;
  // The client of `base` ("http://host:port"), made on first use.
  Result<HttpClient*> ClientOf(const std::string& base);
  // Sends to `base` and follows redirects; `*where` is the replica that answered.
  Result<ClientResponse> SendFollowing(std::string base, std::string target, const std::string& method,
                                       const std::string& body,
                                       const std::vector<std::pair<std::string, std::string>>& headers,
                                       std::string* where);
  FailoverOptions opt_;
  std::vector<std::string> urls_, bases_, prefixes_;  // per listed replica
  size_t current_ = 0;
  std::vector<std::pair<std::string, std::unique_ptr<HttpClient>>> clients_;
  std::string answered_by_;
  std::vector<std::string> trail_;
};

// Splits "host:port" (IPv4 or a name; "[::1]:80" for IPv6). Errors name the input.
Status SplitHostPort(const std::string& s, std::string* host, int* port);

}  // namespace allot::net
