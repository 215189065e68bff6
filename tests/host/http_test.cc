// The guard's metrics listener (`allot guard metrics --listen`), reached with allot's HTTP client.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "allot/host/http_server.h"
#include "allot/http.h"

namespace allot::host {
namespace {

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
  auto client = net::HttpClient::Create("http://127.0.0.1:" + std::to_string(port), 2000);
  ASSERT_TRUE(client.ok());
  auto r = client->Request("GET", "/ping");
  stop = true;
  server.join();
  close(*fd);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "pong");
  EXPECT_EQ(seen, "GET /ping");
  // Nothing listens there any more.
  auto again = net::HttpClient::Create("http://127.0.0.1:" + std::to_string(port), 2000);
  ASSERT_TRUE(again.ok());
  auto refused = again->Request("GET", "/ping");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace allot::host
