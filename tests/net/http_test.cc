// The HTTP server and client over real loopback sockets.
#include "allot/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace allot::net {
namespace {

// Runs an HttpServer on a free port in a background thread for the duration of a test.
class Running {
 public:
  Running(HttpServerOptions opt, Handler h) {
    opt.host = "127.0.0.1";
    opt.port = 0;
    auto s = HttpServer::Create(opt, std::move(h));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    server_ = std::move(s.value());
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~Running() {
    server_->Shutdown();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  HttpServer& server() { return *server_; }
  std::thread::id io_thread() const { return thread_.get_id(); }  // Run() is the I/O loop

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

void Echo(HttpRequest&& req, const Responder& r) {
  HttpResponse resp;
  resp.content_type = "text/plain";
  resp.body = req.method + " " + req.path + " q=" + req.Query("q") + " body=" + req.body;
  r.Send(std::move(resp));
}

// Reads from a raw socket until `n` responses (by their status lines) have arrived or 5 s pass.
std::string ReadResponses(int fd, int n) {
  std::string got;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto count = [&] {
    int k = 0;
    for (size_t p = got.find("HTTP/1.1 "); p != std::string::npos; p = got.find("HTTP/1.1 ", p + 1)) k++;
    return k;
  };
  char buf[4096];
  while (count() < n || got.substr(got.rfind("HTTP/1.1 ")).find("\r\n\r\n") == std::string::npos) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
    if (count() >= n && got.substr(got.rfind("HTTP/1.1 ")).find("body=") != std::string::npos) {
      std::string last = got.substr(got.rfind("HTTP/1.1 "));
      size_t hdr = last.find("\r\n\r\n");
      size_t cl = last.find("Content-Length: ");
      if (hdr != std::string::npos && cl != std::string::npos &&
          last.size() - hdr - 4 >= std::stoul(last.substr(cl + 16)))
        break;
    }
  }
  return got;
}

// A raw loopback connection to `port`, from `source` (another 127/8 address) when given, with a small
// receive buffer when `rcvbuf` > 0 (so a client that does not read fills quickly). -1 on failure.
int Connect(int port, const char* source = nullptr, int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (source != nullptr) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      close(fd);
      return -1;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// An echoing server that runs requests for /fast... on its I/O thread (counting them), the rest on workers.
struct FastInline {
  static HttpServerOptions Options() {
    HttpServerOptions o;
    o.run_inline = [](const HttpRequest& r) { return r.path.rfind("/fast", 0) == 0; };
    return o;
  }
  std::atomic<int> inline_calls{0};
  Running s{Options(), [this](HttpRequest&& req, const Responder& r) {
              if (req.path.rfind("/fast", 0) == 0) inline_calls++;
              Echo(std::move(req), r);
            }};
};

TEST(HttpTest, InlineRequestsAnswerInOrderWithPipeliningAndWorkers) {
  FastInline f;
  std::atomic<int>& inline_calls = f.inline_calls;
  int fd = Connect(f.s.server().port());
  ASSERT_GE(fd, 0);
  // Three pipelined requests in one write: inline, worker, inline.
  std::string wire;
  for (const char* path : {"/fast/1", "/slow/2", "/fast/3"}) {
    wire += std::string("POST ") + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx";
  }
  ASSERT_EQ(send(fd, wire.data(), wire.size(), 0), static_cast<ssize_t>(wire.size()));
  std::string got = ReadResponses(fd, 3);
  size_t p1 = got.find("POST /fast/1"), p2 = got.find("POST /slow/2"), p3 = got.find("POST /fast/3");
  ASSERT_NE(p1, std::string::npos) << got;
  ASSERT_NE(p2, std::string::npos) << got;
  ASSERT_NE(p3, std::string::npos) << got;
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, p3);
  EXPECT_EQ(inline_calls.load(), 2);
  // And one at a time on the same connection (the direct write path).
  for (int i = 0; i < 20; i++) {
    std::string one = "POST /fast/x" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    ASSERT_EQ(send(fd, one.data(), one.size(), 0), static_cast<ssize_t>(one.size()));
    std::string r = ReadResponses(fd, 1);
    EXPECT_NE(r.find("POST /fast/x" + std::to_string(i) + " "), std::string::npos) << r;
  }
  close(fd);
}

// A long pipeline of inline requests is answered in runs (answers queued and written together, the rest
// taken up on a later turn after 32): every answer comes, in order, also with worker requests among them
// and past the run's end, and a request that asks to close ends the pipeline after its answer.
TEST(HttpTest, ALongPipelineOfInlineRequestsIsAnsweredWholeAndInOrder) {
  FastInline f;
  std::atomic<int>& inline_calls = f.inline_calls;
  int fd = Connect(f.s.server().port());
  ASSERT_GE(fd, 0);
  const int n = 150;
  std::string wire;
  std::vector<std::string> paths;
  for (int i = 0; i < n; i++) {
    std::string path = (i % 40 == 39 ? "/slow/" : "/fast/") + std::to_string(i);
    paths.push_back(path);
    wire += "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx";
  }
  // The last one asks to close: its answer is the last thing on the connection.
  wire += "POST /fast/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx";
  ASSERT_EQ(send(fd, wire.data(), wire.size(), 0), static_cast<ssize_t>(wire.size()));
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;  // the server closed after the last answer
    got.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  size_t at = 0;
  for (const auto& path : paths) {
    size_t p = got.find("POST " + path + " ", at);
    ASSERT_NE(p, std::string::npos) << path << " missing or out of order";
    at = p;
  }
  EXPECT_NE(got.find("POST /fast/last ", at), std::string::npos);
  size_t answers = 0;
  for (size_t p = got.find("HTTP/1.1 200"); p != std::string::npos; p = got.find("HTTP/1.1 200", p + 1))
    answers++;
  EXPECT_EQ(answers, static_cast<size_t>(n + 1));
  EXPECT_EQ(inline_calls.load(), n - n / 40 + 1);
}

// Answers made during one turn of the I/O loop are written when the turn ends: requests that arrive on
// many connections at once are each answered on their own connection, and a request pipelined behind an
// answer larger than the backpressure bound is taken up once that answer is written, with no further
// input from the client.
TEST(HttpTest, AnswersOfOneTurnAreWrittenAtItsEndAndPipelinedRequestsGoOn) {
  FastInline f;
  std::vector<int> fds;
  for (int i = 0; i < 20; i++) {
    int fd = Connect(f.s.server().port());
    ASSERT_GE(fd, 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fds.push_back(fd);
  }
  for (size_t i = 0; i < fds.size(); i++) {
    std::string one =
        "POST /fast/c" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    ASSERT_EQ(send(fds[i], one.data(), one.size(), 0), static_cast<ssize_t>(one.size()));
  }
  for (size_t i = 0; i < fds.size(); i++) {
    std::string r = ReadResponses(fds[i], 1);
    EXPECT_NE(r.find("POST /fast/c" + std::to_string(i) + " "), std::string::npos) << i << ": " << r;
    close(fds[i]);
  }

  // A 200 KiB answer (past the 64 KiB bound on pending output) with a small request pipelined behind it.
  HttpServerOptions o;
  o.run_inline = [](const HttpRequest&) { return true; };
  Running big(o, [](HttpRequest&& req, const Responder& r) {
    HttpResponse resp;
    resp.content_type = "text/plain";
    resp.body = req.path == "/big" ? std::string(200 * 1024, 'b') : "small answer";
    r.Send(std::move(resp));
  });
  int fd = Connect(big.server().port());
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string wire = "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, wire.data(), wire.size(), 0), static_cast<ssize_t>(wire.size()));
  std::string got;
  char buf[65536];
  while (got.find("small answer") == std::string::npos) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;  // closed, or 5 s without input: the second request was never taken up
    got.append(buf, static_cast<size_t>(r));
  }
  close(fd);
  EXPECT_GT(got.size(), 200u * 1024);
  EXPECT_NE(got.find("small answer"), std::string::npos) << "the pipelined request was not answered";
}

// A server with one worker whose handler records the thread each path ran on; /hold keeps the worker
// (and stays in flight) until Release. Requests under /idle are run_inline_when_idle's.
struct InlineProbe {
  explicit InlineProbe(bool when_busy) : released(release.get_future().share()) {
    HttpServerOptions o;
    o.workers = 1;
    o.run_inline_when_idle = [](const HttpRequest& r) { return r.path.rfind("/idle", 0) == 0; };
    o.run_inline_when_busy = when_busy;
    server = std::make_unique<Running>(o, [this](HttpRequest&& req, const Responder& r) {
      {
        std::lock_guard<std::mutex> l(mu);
        ran_on[req.path] = std::this_thread::get_id();
      }
      if (req.path == "/hold") {
        holding = true;
        released.wait();
      }
      Echo(std::move(req), r);
    });
  }
  ~InlineProbe() {
    if (holder.joinable()) Release();  // a test that failed half way
  }
  // Sends /hold from another thread and returns once its handler holds the worker.
  void Hold() {
    holder = std::thread([this] {
      auto h = HttpClient::Create(server->base());
      ASSERT_TRUE(h.ok());
      EXPECT_EQ(h->Request("GET", "/hold", "")->status, 200);
    });
    while (!holding) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void Release() {
    release.set_value();
    holder.join();
  }
  std::thread::id RanOn(const std::string& path) {
    std::lock_guard<std::mutex> l(mu);
    return ran_on.count(path) ? ran_on[path] : std::thread::id();
  }

  std::mutex mu;
  std::map<std::string, std::thread::id> ran_on;
  std::promise<void> release;
  std::shared_future<void> released;
  std::atomic<bool> holding{false};
  std::thread holder;
  std::unique_ptr<Running> server;  // last: stopped first, while the rest is still there
};

// run_inline_when_idle: an accepted request runs on the I/O thread while nothing else is in flight, and
// goes to a worker while another request is (here one that holds the only worker).
TEST(HttpTest, InlineWhenIdleRunsOnTheIoThreadOnlyWhenNothingElseIsInFlight) {
  InlineProbe p(false);
  auto c = HttpClient::Create(p.server->base());
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->Request("GET", "/idle/1", "")->status, 200);
  p.Hold();  // /idle/2 meanwhile is queued for the worker
  std::thread second([&] { EXPECT_EQ(c->Request("GET", "/idle/2", "")->status, 200); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(p.RanOn("/idle/2"), std::thread::id());  // not on the I/O thread: it waits for the busy worker
  p.Release();
  second.join();
  ASSERT_EQ(c->Request("GET", "/idle/3", "")->status, 200);
  EXPECT_EQ(p.RanOn("/idle/1"), p.server->io_thread());
  EXPECT_EQ(p.RanOn("/idle/3"), p.server->io_thread());
  EXPECT_EQ(p.RanOn("/idle/2"), p.RanOn("/hold"));  // the worker
  EXPECT_NE(p.RanOn("/hold"), p.server->io_thread());
}

// run_inline_when_busy: the same requests run on the I/O thread while another is in flight too (/idle/2
// and /idle/3 are answered while /hold keeps the only worker).
TEST(HttpTest, InlineWhenBusyRunsOnTheIoThreadWhileOthersAreInFlight) {
  InlineProbe p(true);
  p.Hold();
  auto c = HttpClient::Create(p.server->base());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Request("GET", "/idle/2", "")->status, 200);
  EXPECT_EQ(c->Request("GET", "/idle/3", "")->status, 200);
  EXPECT_TRUE(p.holding);
  p.Release();
  EXPECT_EQ(p.RanOn("/idle/2"), p.server->io_thread());
  EXPECT_EQ(p.RanOn("/idle/3"), p.server->io_thread());
  EXPECT_NE(p.RanOn("/hold"), p.server->io_thread());
}

TEST(HttpTest, KeepAliveRequestsReuseOneConnection) {
  Running s({}, Echo);
  auto c = HttpClient::Create(s.base());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 50; i++) {
    auto r = c->Request("POST", "/a%20b?q=x+y&z=1", "hello" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /a b q=x y body=hello" + std::to_string(i));
  }
}

TEST(HttpTest, AnswersFromAnotherThreadLater) {
  std::vector<std::thread> threads;
  std::mutex mu;
  Running s({}, [&](HttpRequest&& req, const Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    threads.emplace_back([r, path = req.path] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      HttpResponse resp;
      resp.status = 202;
      resp.body = path;
      r.Send(resp);
      r.Send(resp);  // a second Send is ignored
    });
  });
  auto c = HttpClient::Create(s.base());
  auto r = c->Request("GET", "/later");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 202);
  EXPECT_EQ(r->body, "/later");
  r = c->Request("GET", "/again");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "/again");
  std::lock_guard<std::mutex> l(mu);
  for (auto& t : threads) t.join();
}

TEST(HttpTest, DroppedResponderAnswers500) {
  Running s({}, [](HttpRequest&&, const Responder&) {});
  auto c = HttpClient::Create(s.base());
  auto r = c->Request("GET", "/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
}

TEST(HttpTest, BodyOverTheLimitIs413) {
  HttpServerOptions opt;
  opt.max_body_bytes = 100;
  Running s(opt, Echo);
  auto c = HttpClient::Create(s.base());
  auto r = c->Request("POST", "/", std::string(101, 'x'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
  r = c->Request("POST", "/", std::string(100, 'x'));  // reconnects
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST(HttpTest, HugeHeadersAre431) {
  HttpServerOptions opt;
  opt.max_header_bytes = 1024;
  Running s(opt, Echo);
  auto c = HttpClient::Create(s.base());
  auto r = c->Request("GET", "/", "", {{"X-Big", std::string(2000, 'a')}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 431);
}

TEST(HttpTest, FullAdmissionQueueAnswers429WithRetryAfter) {
  HttpServerOptions opt;
  opt.max_queue = 0;  // nothing may wait: every request is turned away
  opt.retry_after_s = 3;
  Running s(opt, Echo);
  auto c = HttpClient::Create(s.base());
  auto r = c->Request("GET", "/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->headers["retry-after"], "3");
  EXPECT_EQ(s.server().Rejected429(), 1u);
}

TEST(HttpTest, ShutdownFinishesInFlightRequests) {
  HttpServerOptions opt;
  opt.host = "127.0.0.1";
  opt.port = 0;
  std::atomic<bool> started{false};
  auto created = HttpServer::Create(opt, [&](HttpRequest&&, const Responder& r) {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    HttpResponse resp;
    resp.body = "done";
    r.Send(resp);
  });
  ASSERT_TRUE(created.ok());
  auto server = std::move(created.value());
  std::thread run([&] { server->Run(); });
  auto c = HttpClient::Create("127.0.0.1:" + std::to_string(server->port()));
  std::thread stopper([&] {
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server->Shutdown();
  });
  auto r = c->Request("GET", "/slow");
  stopper.join();
  run.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "done");
  auto again = c->Request("GET", "/slow");
  EXPECT_FALSE(again.ok());  // the listener is closed
}

TEST(HttpTest, MalformedRequestLineIs400) {
  Running s({}, Echo);
  // A raw client: the HttpClient always sends well-formed requests.
  auto c = HttpClient::Create(s.base());
  auto r = c->Request("GET", "/ has spaces");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
}

// Everything the server sends until it closes the connection (or 5 s pass).
std::string ReadUntilClosed(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string got;
  char buf[4096];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

// Sends one raw request on a fresh connection and returns the whole answer (the server closes after an
// error; the request asks it to close after a success).
std::string Exchange(int port, const std::string& wire) {
  int fd = Connect(port);
  if (fd < 0) return "connect failed";
  send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
  std::string got = ReadUntilClosed(fd);
  close(fd);
  return got;
}

int StatusOf(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

// Waits up to `ms` for `done()`.
template <typename F>
bool WaitFor(F done, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(HttpTest, RepeatedSingletonHeadersAre400NamingTheHeader) {
  Running s({}, Echo);
  int port = s.server().port();
  const std::string start = "POST /x HTTP/1.1\r\nConnection: close\r\n";
  struct Case {
    std::string headers;
    int status;
    std::string names;  // in the error message
  } cases[] = {
      {"Authorization: Bearer a\r\nauthorization: Bearer b\r\n", 400, "Authorization"},
      {"Authorization: Bearer a\r\nAuthorization: Bearer a\r\n", 400, "Authorization"},  // even the same value
      {"Host: a\r\nHost: b\r\n", 400, "Host"},
      {"Content-Type: application/json\r\nContent-Type: text/plain\r\n", 400, "Content-Type"},
      {"Content-Length: 1\r\nContent-Length: 2\r\n", 400, "Content-Length"},
      {"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n", 400, "Transfer-Encoding and Content-Length"},
      {"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", 400, "Transfer-Encoding and Content-Length"},
      {"Transfer-Encoding: chunked\r\n", 501, "Transfer-Encoding"},
      {"Host : a\r\n", 400, "malformed header line"},             // no space before the colon
      {" folded\r\n", 400, "malformed header line"},              // obsolete line folding
      {"X-A: one\x01two\r\n", 400, "header x-a"},                 // a control character
  };
  for (const auto& c : cases) {
    std::string got = Exchange(port, start + c.headers + "\r\nx");
    EXPECT_EQ(StatusOf(got), c.status) << c.headers << "\n" << got;
    EXPECT_NE(got.find(c.names), std::string::npos) << c.headers << "\n" << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  }
  // The same Content-Length twice is one length; list headers given twice are joined.
  std::string got = Exchange(port, start + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_NE(got.find("body=x"), std::string::npos) << got;
  std::string joined;
  Running s2({}, [&](HttpRequest&& req, const Responder& r) {
    joined = req.Header("x-list");
    r.Send(HttpResponse{});
  });
  got = Exchange(s2.server().port(), start + "X-List: a\r\nx-list: b\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_EQ(joined, "a, b");
}

// A client that pipelines requests and never reads: the server answers only until the answers waiting for
// it pass the bound (not all it was sent), and closes the connection once they made no progress for the
// write timeout.
TEST(HttpTest, PipeliningClientThatNeverReadsIsBoundedAndThenClosed) {
  HttpServerOptions o;
  o.write_timeout_ms = 500;
  o.max_pending_output_bytes = 16 * 1024;
  o.send_buffer_bytes = 8 * 1024;
  std::atomic<int> calls{0};
  Running s(o, [&](HttpRequest&&, const Responder& r) {
    calls++;
    HttpResponse resp;
    resp.body = std::string(1000, 'a');
    r.Send(std::move(resp));
  });
  int fd = Connect(s.server().port(), nullptr, 4096);
  ASSERT_GE(fd, 0);
  // 5,000 requests (about 200 KB of them, 5 MB of answers); the sender blocks once the server stops reading.
  std::thread sender([fd] {
    std::string one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string all;
    for (int i = 0; i < 5000; i++) all += one;
    size_t off = 0;
    while (off < all.size()) {
      ssize_t n = send(fd, all.data() + off, all.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed the connection
      off += static_cast<size_t>(n);
    }
  });
  ASSERT_TRUE(WaitFor([&] { return calls.load() > 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int answered = calls.load();
  // What the kernels hold (a few times 8 KiB each side, with bookkeeping) plus the 16 KiB bound, in
  // answers of about 1.1 KB: well under 200; without the bound all 5,000 would be answered.
  EXPECT_LT(answered, 200);
  EXPECT_EQ(s.server().Stats().connections, 1u);
  EXPECT_TRUE(WaitFor([&] { return s.server().Stats().connections == 0; })) << "a slow reader was not closed";
  EXPECT_EQ(s.server().Stats().closed_write_timeout, 1u);
  EXPECT_EQ(calls.load(), answered);  // nothing more was parsed meanwhile
  // It is reset (a FIN would queue behind the answers it never takes), so the client sees it at once.
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  EXPECT_NE(p.revents & (POLLERR | POLLHUP), 0) << p.revents;
  sender.join();
  close(fd);
}

// The bound pauses a pipelining client but loses nothing: once it reads, every answer comes, in order.
TEST(HttpTest, BackpressuredPipelineIsAnsweredWholeOnceTheClientReads) {
  HttpServerOptions o;
  o.max_pending_output_bytes = 4 * 1024;
  o.send_buffer_bytes = 8 * 1024;
  Running s(o, [](HttpRequest&& req, const Responder& r) {
    HttpResponse resp;
    resp.body = req.path + std::string(500, '.');
    r.Send(std::move(resp));
  });
  // The client keeps its default receive buffer: a tiny one makes the kernel send in window probes, slowly.
  int fd = Connect(s.server().port());
  ASSERT_GE(fd, 0);
  constexpr int kRequests = 1000;  // about 560 KB of answers: far more than the kernels hold
  std::thread sender([fd] {
    std::string all;
    for (int i = 0; i < kRequests; i++) all += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t off = 0;
    while (off < all.size()) {
      ssize_t n = send(fd, all.data() + off, all.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it stall first
  std::string got;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[65536];
  std::string last = "/" + std::to_string(kRequests - 1) + ".";
  while (got.find(last, got.size() > 1024 ? got.size() - 1024 : 0) == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  sender.join();
  close(fd);
  size_t pos = 0;
  for (int i = 0; i < kRequests; i++) {
    pos = got.find("\r\n\r\n/" + std::to_string(i) + ".", pos);
    ASSERT_NE(pos, std::string::npos) << "answer " << i << " missing or out of order";
  }
  EXPECT_EQ(s.server().Stats().closed_write_timeout, 0u);
}

// A client that reads slowly but steadily is not a stalled one: it gets its whole answer although that
// takes several write timeouts.
TEST(HttpTest, SlowButSteadyReaderIsNotClosed) {
  HttpServerOptions o;
  o.write_timeout_ms = 200;
  o.send_buffer_bytes = 8 * 1024;
  const std::string body(64 * 1024, 'b');
  Running s(o, [&](HttpRequest&&, const Responder& r) {
    HttpResponse resp;
    resp.body = body;
    r.Send(std::move(resp));
  });
  int fd = Connect(s.server().port(), nullptr, 4096);
  ASSERT_GE(fd, 0);
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[32 * 1024];
  auto start = std::chrono::steady_clock::now();
  for (;;) {  // a few KB (the small receive buffer) every 100 ms: about a second for the answer
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  EXPECT_EQ(StatusOf(got), 200);
  EXPECT_EQ(got.size() - got.find("\r\n\r\n") - 4, body.size());
  EXPECT_EQ(s.server().Stats().closed_write_timeout, 0u);
}

TEST(HttpTest, ConnectionsPastThePerAddressLimitAre503) {
  HttpServerOptions o;
  o.max_connections_per_address = 2;
  o.retry_after_s = 2;
  Running s(o, Echo);
  int port = s.server().port();
  auto a = HttpClient::Create(s.base());
  auto b = HttpClient::Create(s.base());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->Request("GET", "/a")->status, 200);  // both held open (keep-alive)
  ASSERT_EQ(b->Request("GET", "/b")->status, 200);
  std::string got = Exchange(port, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusOf(got), 503) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_NE(got.find("Retry-After: 2"), std::string::npos) << got;
  EXPECT_NE(got.find("too many connections"), std::string::npos) << got;
  EXPECT_EQ(s.server().Stats().refused_per_address, 1u);
  // Another address has its own count (any 127/8 address is loopback on Linux).
  int other = Connect(port, "127.0.0.2");
  if (other >= 0) {
    std::string req = "GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send(other, req.data(), req.size(), 0);
    EXPECT_EQ(StatusOf(ReadUntilClosed(other)), 200);
    close(other);
  }
  // A closed connection frees its place.
  a->Close();
  ASSERT_TRUE(WaitFor([&] { return s.server().Stats().connections <= 1; }));
  got = Exchange(port, "GET /e HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_EQ(s.server().Stats().refused_per_address, 1u);
}

// A client that half-closes while its request is with a worker still gets the answer, and the I/O thread
// does not spin on the half-close meanwhile (it is level-triggered).
// A handler that answers (an echo) after `ms` milliseconds on its worker.
Handler SlowEcho(int ms) {
  return [ms](HttpRequest&& req, const Responder& r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    Echo(std::move(req), r);
  };
}

// CPU time (user + system) this process has used, in microseconds: an I/O thread spinning shows in it.
int64_t ProcessCpuUs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1'000'000LL + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

TEST(HttpTest, HalfCloseWhileBusyIsAnsweredWithoutSpinning) {
  Running s({}, SlowEcho(400));
  int fd = Connect(s.server().port());
  ASSERT_GE(fd, 0);
  std::string req = "GET /late HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the request is with the worker
  int64_t before = ProcessCpuUs();
  shutdown(fd, SHUT_WR);
  std::string got = ReadUntilClosed(fd);
  int64_t used = ProcessCpuUs() - before;
  close(fd);
  EXPECT_EQ(StatusOf(got), 200) << got;
  EXPECT_NE(got.find("GET /late"), std::string::npos) << got;
  EXPECT_LT(used, 150'000);  // spinning would burn the whole ~350 ms wait on one core
}

// While a worker has the request, input stays asked for until some arrives (saving two epoll_ctl calls a
// request); a request pipelined behind it then waits in the kernel, without the I/O thread spinning on it,
// and is answered after the first.
TEST(HttpTest, InputWhileAWorkerHasTheRequestWaitsWithoutSpinning) {
  Running s({}, SlowEcho(300));
  int fd = Connect(s.server().port());
  ASSERT_GE(fd, 0);
  std::string first = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string second = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, first.data(), first.size(), 0), static_cast<ssize_t>(first.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the first is with the worker
  int64_t before = ProcessCpuUs();
  ASSERT_EQ(send(fd, second.data(), second.size(), 0), static_cast<ssize_t>(second.size()));
  std::string got = ReadResponses(fd, 2);
  int64_t used = ProcessCpuUs() - before;
  close(fd);
  size_t p1 = got.find("GET /first"), p2 = got.find("GET /second");
  ASSERT_NE(p1, std::string::npos) << got;
  ASSERT_NE(p2, std::string::npos) << got;
  EXPECT_LT(p1, p2);
  EXPECT_LT(used, 150'000);  // spinning on the unread input would burn most of the ~550 ms on one core
}

TEST(HttpTest, CreateRaisesTheDescriptorSoftLimit) {
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  if (original.rlim_max != RLIM_INFINITY && original.rlim_max <= 256) {
    GTEST_SKIP() << "hard limit too low";
  }
  rlimit lowered = original;
  lowered.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  {
    HttpServerOptions o;
    o.port = 0;
    auto server = HttpServer::Create(o, Echo);
    ASSERT_TRUE(server.ok());
  }
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_GT(now.rlim_cur, 256u);
  if (original.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(now.rlim_cur, original.rlim_max);
  }
  setrlimit(RLIMIT_NOFILE, &original);
}

TEST(HttpTest, SplitHostPortChecksThePort) {
  std::string h;
  int p = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:7070", &h, &p).ok());
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 7070);
  EXPECT_TRUE(SplitHostPort("[::1]:80", &h, &p).ok());
  EXPECT_EQ(h, "::1");
  EXPECT_FALSE(SplitHostPort("localhost", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort("a:99999", &h, &p).ok());
}

}  // namespace
}  // namespace allot::net
