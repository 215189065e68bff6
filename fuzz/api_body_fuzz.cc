// Every JSON body decoder of the API, through the real handlers: an in-process `allot serve` (--dev, an
// in-memory store, one node) on a loopback port, and one keep-alive client. The first byte picks the
// route, the rest is the body (or, for the GET routes, the query string). The oracle beyond the
// sanitizers: every request gets an answer, and never a 500 (a handler that threw: input must be
// answered 4xx, not crash or escape as an exception). The server is rebuilt every 20,000 inputs so that
// what the fuzzer creates (nodes, reservations, limits) does not pile up.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "allot/http.h"
#include "allot/server.h"

namespace {

struct Route {
  const char* method;
  const char* path;  // ending in '?': the input is the query string
};

constexpr Route kRoutes[] = {
    {"POST", "/v1/nodes"},
    {"POST", "/v1/nodes/n1/heartbeat"},
    {"POST", "/v1/allocations"},
    {"POST", "/v1/allocations/a-none/renew"},
    {"POST", "/v1/reservations"},
    {"PUT", "/v1/quotas/org/a"},
    {"PUT", "/v1/ratelimits/k1"},
    {"POST", "/v1/ratelimits/k1/acquire"},
    {"POST", "/v1/ratelimits:acquire"},
    {"POST", "/v1/ratelimits/k1/reservations"},
    {"PUT", "/v1/pools/p1"},
    {"POST", "/v1/pools/p1/acquire"},
    {"POST", "/v1/pools/p1/release"},
    {"POST", "/v1/pools/p1/renew"},
    {"PUT", "/v1/breakers/b1"},
    {"POST", "/v1/breakers/b1/report"},
    {"POST", "/v1/breakers/b1/acquire"},
    {"GET", "/v1/allocations?"},
    {"GET", "/v1/events?"},
    {"GET", "/v1/queue?"},
    {"DELETE", "/v1/reservations?"},
};
constexpr size_t kRouteCount = sizeof kRoutes / sizeof kRoutes[0];

class InProcess {
 public:
  InProcess() {
    allot::ServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.dev = true;
    cfg.data_dir = ":memory:";
    cfg.sync_full = false;
    cfg.log_requests = false;
    cfg.log_level = "warn";
    cfg.workers = 1;
    cfg.auto_create_tenants = true;
    cfg.max_concurrent_allocations = 1000;
    allot::NodeSpec n;
    n.name = "n1";
    n.capacity = {{"cpu", 64000}, {"memory", int64_t{256} << 30}, {"gpu", 8000}};
    cfg.nodes.push_back(n);
    auto s = allot::Server::Create(cfg);
    if (!s.ok()) {
      std::fprintf(stderr, "api_body_fuzz: %s\n", s.error().message.c_str());
      std::abort();
    }
    server_ = std::move(*s);
    thread_ = std::thread([this] { (void)server_->Run(); });
    auto client =
        allot::net::HttpClient::Create("http://127.0.0.1:" + std::to_string(server_->port()), 30'000);
    if (!client.ok()) {
      std::fprintf(stderr, "api_body_fuzz: %s\n", client.error().message.c_str());
      std::abort();
    }
    client_ = std::make_unique<allot::net::HttpClient>(std::move(*client));
  }
  ~InProcess() {
    client_.reset();
    server_->Shutdown();
    thread_.join();
  }
  allot::net::HttpClient& client() { return *client_; }

 private:
  std::unique_ptr<allot::Server> server_;
  std::thread thread_;
  std::unique_ptr<allot::net::HttpClient> client_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<InProcess> server;
  static uint64_t runs = 0;
  if (size == 0) return 0;
  if (!server || ++runs % 20'000 == 0) {
    server.reset();
    server = std::make_unique<InProcess>();
  }
  const Route& route = kRoutes[data[0] % kRouteCount];
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string path = route.path, body;
  if (path.back() == '?') {
    path += allot::net::PercentEncode(input);
  } else {
    body = std::move(input);
  }
  auto r = server->client().Request(route.method, path, body);
  if (!r.ok()) {
    std::fprintf(stderr, "api_body_fuzz: %s %s: no answer: %s\n", route.method, path.c_str(),
                 r.error().message.c_str());
    std::abort();
  }
  if (r->status >= 500) {
    std::fprintf(stderr, "api_body_fuzz: %s %s answered %d: %s\n", route.method, path.c_str(), r->status,
                 r->body.c_str());
    std::abort();
  }
  return 0;
}
