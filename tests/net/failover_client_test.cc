// FailoverClient against real HTTP servers on loopback that play replicas: one that redirects, one that is
// not ready (503 unavailable), one that never answers, one that is not there at all.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "allot/http.h"

namespace allot::net {
namespace {

// An HttpServer on a free port answering with `answer` (which may keep the Responder and never answer).
class Replica {
 public:
  explicit Replica(std::function<void(HttpRequest&&, const Responder&)> answer) {
    HttpServerOptions opt;
    opt.host = "127.0.0.1";
    opt.port = 0;
    opt.shutdown_grace_ms = 100;
    auto s =
        HttpServer::Create(opt, [this, answer = std::move(answer)](HttpRequest&& req, const Responder& r) {
          hits++;
          answer(std::move(req), r);
        });
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    server_ = std::move(s.value());
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~Replica() {
    server_->Shutdown();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::atomic<int> hits{0};

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

HttpResponse Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// Answers "METHOD TARGET BODY" (what arrived).
void Echo(HttpRequest&& req, const Responder& r) {
  r.Send(Text(200, req.method + " " + req.target + " " + req.body));
}

void NotReady(HttpRequest&&, const Responder& r) {
  r.Send(Text(
      503,
      R"({"error":{"code":"unavailable","message":"this replica is a standby and no replica leads now"}})"));
}

// A loopback URL where nothing listens (a port bound and closed at once).
std::string Nobody() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

FailoverOptions Quick() {
  FailoverOptions o;
  o.timeout_ms = 2000;
  o.retry_for_ms = 3000;
  o.backoff_ms = 10;
  o.max_backoff_ms = 50;
  return o;
}

TEST(FailoverClientTest, AListNamesItsBadEntry) {
  auto c = FailoverClient::Create("http://127.0.0.1:1, 127.0.0.1:x");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("127.0.0.1:x"), std::string::npos) << c.error().message;
  EXPECT_FALSE(FailoverClient::Create(" , ").ok());
  auto ok = FailoverClient::Create("http://127.0.0.1:1,127.0.0.1:2/prefix/");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->servers(), (std::vector<std::string>{"http://127.0.0.1:1", "http://127.0.0.1:2/prefix"}));
}

TEST(FailoverClientTest, ARequestNothingAcceptedGoesToTheNextReplicaWhateverItIs) {
  Replica b(Echo);
  auto c = FailoverClient::Create(Nobody() + "," + b.url(), Quick());
  ASSERT_TRUE(c.ok());
  // A POST without an idempotency key: it never left, so another replica may take it.
  auto r = c->Request("POST", "/v1/allocations", R"({"requests":{"cpu":1}})", {}, /*idempotent=*/false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, R"(POST /v1/allocations {"requests":{"cpu":1}})");
  EXPECT_EQ(c->answered_by(), b.url());
  ASSERT_EQ(c->trail().size(), 1u);
  EXPECT_NE(c->trail()[0].find("cannot connect"), std::string::npos) << c->trail()[0];
  // It stays with the replica that answered.
  ASSERT_TRUE(c->Request("GET", "/x", "", {}, true).ok());
  EXPECT_TRUE(c->trail().empty());
  EXPECT_EQ(b.hits.load(), 2);
}

TEST(FailoverClientTest, A307IsFollowedWithTheSameMethodBodyAndHeaders) {
  Replica leader([](HttpRequest&& req, const Responder& r) {
    r.Send(
        Text(201, req.method + " " + req.target + " " + req.body + " auth=" + req.Header("authorization")));
  });
  std::string to = leader.url();
  Replica standby([to](HttpRequest&& req, const Responder& r) {
    HttpResponse resp = Text(307, "{}");
    resp.headers.push_back({"Location", to + req.target});
    r.Send(std::move(resp));
  });
  auto c = FailoverClient::Create(standby.url(), Quick());
  ASSERT_TRUE(c.ok());
  auto r = c->Request("POST", "/v1/allocations?x=1", "BODY", {{"Authorization", "Bearer t"}}, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "POST /v1/allocations?x=1 BODY auth=Bearer t");
  EXPECT_EQ(c->answered_by(), leader.url());
  ASSERT_EQ(c->trail().size(), 1u);
  EXPECT_NE(c->trail()[0].find("HTTP 307 to " + leader.url() + "/v1/allocations?x=1"), std::string::npos);
}

TEST(FailoverClientTest, RedirectsAreBounded) {
  Replica loop([](HttpRequest&& req, const Responder& r) {
    HttpResponse resp = Text(308, "{}");
    resp.headers.push_back({"Location", req.target});  // a path on the same replica
    r.Send(std::move(resp));
  });
  FailoverOptions o = Quick();
  o.max_redirects = 3;
  auto c = FailoverClient::Create(loop.url(), o);
  ASSERT_TRUE(c.ok());
  auto r = c->Request("GET", "/a", "", {}, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 3 redirects"), std::string::npos) << r.error().message;
  EXPECT_EQ(loop.hits.load(), 4);
}

TEST(FailoverClientTest, A503UnavailableMovesOnlyARequestSafeToRepeat) {
  Replica a(NotReady), b(Echo);
  auto c = FailoverClient::Create(a.url() + "," + b.url(), Quick());
  ASSERT_TRUE(c.ok());
  auto once = c->Request("POST", "/v1/allocations", "{}", {}, /*idempotent=*/false);
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->status, 503);  // the caller learns it; nothing was retried
  EXPECT_EQ(b.hits.load(), 0);
  auto again = c->Request("POST", "/v1/allocations", R"({"idempotency_key":"k"})", {}, /*idempotent=*/true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(c->answered_by(), b.url());
  ASSERT_EQ(c->trail().size(), 1u);
  EXPECT_EQ(c->trail()[0], a.url() + ": HTTP 503 (not ready)");
}

TEST(FailoverClientTest, A503ThatIsADeliberateAnswerIsNotRetried) {
  Replica a([](HttpRequest&&, const Responder& r) {
    r.Send(Text(503, R"({"error":{"code":"degraded","message":"x"}})"));
  });
  Replica b(Echo);
  auto c = FailoverClient::Create(a.url() + "," + b.url(), Quick());
  ASSERT_TRUE(c.ok());
  auto r = c->Request("GET", "/v1/nodes", "", {}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(b.hits.load(), 0);
}

TEST(FailoverClientTest, ATimeoutAfterSendingMovesOnlyARequestSafeToRepeat) {
  std::mutex mu;
  std::vector<Responder> held;  // a replica that took the request and never answers (frozen)
  Replica frozen([&](HttpRequest&&, const Responder& r) {
    std::lock_guard<std::mutex> l(mu);
    held.push_back(r);
  });
  Replica b(Echo);
  FailoverOptions o = Quick();
  o.timeout_ms = 200;
  auto c = FailoverClient::Create(frozen.url() + "," + b.url(), o);
  ASSERT_TRUE(c.ok());
  auto r = c->Request("POST", "/v1/allocations", "{}", {}, false);
  ASSERT_FALSE(r.ok());  // it may have happened: the caller must know it does not know
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  EXPECT_EQ(b.hits.load(), 0);
  auto g = c->Request("GET", "/v1/allocations/a1", "", {}, true);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(c->answered_by(), b.url());
  std::lock_guard<std::mutex> l(mu);
  for (auto& h : held) h.Send(Text(200, "late"));
}

TEST(FailoverClientTest, RetriesEndWhenTheirTimeIsUp) {
  Replica a(NotReady), b(NotReady);
  FailoverOptions o = Quick();
  o.retry_for_ms = 300;
  auto c = FailoverClient::Create(a.url() + "," + b.url(), o);
  ASSERT_TRUE(c.ok());
  auto r = c->Request("GET", "/v1/nodes", "", {}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);    // the last answer, once no replica became ready in time
  EXPECT_GE(a.hits.load(), 2);  // round after round (10, 20, 40 ms pauses ...)
  EXPECT_GE(b.hits.load(), 2);
}

TEST(FailoverClientTest, WhenNothingListensAnywhereItGivesUpAfterAFewRounds) {
  FailoverOptions o = Quick();
  o.retry_for_ms = 60'000;  // not what ends it
  auto c = FailoverClient::Create(Nobody() + "," + Nobody(), o);
  ASSERT_TRUE(c.ok());
  auto r = c->Request("GET", "/v1/nodes", "", {}, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("cannot connect to", 0), 0u) << r.error().message;
  EXPECT_EQ(c->trail().size(), 2u * static_cast<size_t>(o.refused_rounds));
}

}  // namespace
}  // namespace allot::net
