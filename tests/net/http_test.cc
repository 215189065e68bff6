// The HTTP server and client over real loopback sockets.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "net/http.h"

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

TEST(HttpTest, InlineRequestsAnswerInOrderWithPipeliningAndWorkers) {
  HttpServerOptions o;
  o.run_inline = [](const HttpRequest& r) { return r.path.rfind("/fast", 0) == 0; };
  std::atomic<int> inline_calls{0};
  Running s(o, [&](HttpRequest&& req, const Responder& r) {
    if (req.path.rfind("/fast", 0) == 0) inline_calls++;
    Echo(std::move(req), r);
  });
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(s.server().port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
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
