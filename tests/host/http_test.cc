// The agent's HTTP client: URLs, response parsing, and a round trip to a loopback listener.
#include "host/http_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "host/http_server.h"

namespace allot::host {
namespace {

TEST(HttpTest, ParseUrl) {
  auto u = ParseUrl("http://127.0.0.1:7070");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 7070);
  EXPECT_EQ(u->base_path, "");
  u = ParseUrl("http://allot.example/api/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->base_path, "/api");
  u = ParseUrl("http://[::1]:9000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  EXPECT_FALSE(ParseUrl("https://x").ok());
  EXPECT_FALSE(ParseUrl("ftp://x").ok());
  EXPECT_FALSE(ParseUrl("http://x:99999").ok());
  EXPECT_FALSE(ParseUrl("http://:80").ok());
}

TEST(HttpTest, ParsesContentLengthAndChunkedBodies) {
  auto r = ParseHttpResponse("HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{}");
  EXPECT_EQ(r->headers["x-a"], "b");
  r = ParseHttpResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "abc0123456789");
  EXPECT_FALSE(ParseHttpResponse("garbage\r\n\r\n").ok());
  EXPECT_FALSE(ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").ok());
}

TEST(HttpTest, RoundTripAndConnectionRefused) {
  int port = 0;
  auto fd = ListenTcp("127.0.0.1:0", &port);
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  std::atomic<bool> stop{false};
  std::string seen;
  std::thread server([&] {
    ServeHttp(*fd, [&](const std::string& method, const std::string& target) {
      seen = method + " " + target;
      HttpResponse r;
      r.status = 200;
      r.body = "pong";
      return r;
    }, &stop);
  });
  Url u{"127.0.0.1", port, ""};
  auto r = HttpRequest(u, "GET", "/ping", "", {});
  stop = true;
  server.join();
  close(*fd);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "pong");
  EXPECT_EQ(seen, "GET /ping");
  // Nothing listens there any more.
  auto refused = HttpRequest(u, "GET", "/ping", "", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message.find("connect"), std::string::npos);
}

}  // namespace
}  // namespace allot::host
