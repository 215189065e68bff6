// Load generator and microbenchmarks for `allot serve` (driven by scripts/bench-server.sh).
//
//   bench_server pairs   --url U [--connections 16] [--seconds 5] [--generator epoll|threads] [--ca-cert F]
//                                                                    allocate+release pairs over keep-alive:
//                                                                    one epoll thread over every connection,
//                                                                    or a thread per connection (which also
//                                                                    speaks TLS: https:// with --ca-cert)
//   bench_server metrics --url U --nodes 10000                       registers nodes, times GET /metrics
//   bench_server seed    --data DIR --allocations 1000000            writes a store with N placed allocations
//   bench_server [google benchmark flags]                            record encode/decode microbenchmarks
// Each load mode prints one JSON object.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "allot/duration.h"
#include "allot/http.h"
#include "allot/store.h"
#include "epoll_load.h"
#include "server/records.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; i++) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

// Latency percentiles and the JSON line both designs print.
int ReportPairs(const char* design, int conns, double elapsed, uint64_t total, uint64_t errs,
                std::vector<double>& all) {
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(q * all.size()))];
  };
  std::printf(
      "{\"generator\": \"%s\", \"connections\": %d, \"seconds\": %.2f, \"pairs\": %llu, \"pairs_per_s\": "
      "%.0f, "
      "\"requests_per_s\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %llu}\n",
      design, conns, elapsed, static_cast<unsigned long long>(total), total / elapsed, 2 * total / elapsed,
      pct(0.5), pct(0.99), all.empty() ? 0.0 : all.back(), static_cast<unsigned long long>(errs));
  return 0;
}

// The allocation's id in a 201 answer's body, or "".
std::string AllocationId(std::string_view body) {
  size_t p = body.find("\"id\":\"");
  if (p == std::string_view::npos) return "";
  size_t end = body.find('"', p + 6);
  return end == std::string_view::npos ? "" : std::string(body.substr(p + 6, end - p - 6));
}

std::string PairsBody(int c) {
  return R"({"tenant":"bench/t)" + std::to_string(c % 8) + R"(","requests":{"cpu":"100m","memory":"64Mi"}})";
}

// One thread per connection, each with the blocking client (allot::net::HttpClient): the design that
// speaks TLS.
int PairsThreads(const std::string& url, int conns, double seconds, const allot::net::TlsClientOptions& tls) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(conns);
  std::vector<uint64_t> pairs(conns, 0), errors(conns, 0);
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int c = 0; c < conns; c++) {
    ts.emplace_back([&, c] {
      auto client = allot::net::HttpClient::Create(url, 10000, tls);
      if (!client.ok()) return;
      std::string body = PairsBody(c);
      while (!stop.load(std::memory_order_relaxed)) {
        auto s = Clock::now();
        auto r = client->Request("POST", "/v1/allocations", body);
        if (!r.ok() || r->status != 201) {
          errors[c]++;
          continue;
        }
        std::string id = AllocationId(r->body);
        auto m = Clock::now();
        auto d = client->Request("DELETE", "/v1/allocations/" + id);
        auto e = Clock::now();
        if (!d.ok() || d->status != 200) {
          errors[c]++;
          continue;
        }
        lat[c].push_back(std::chrono::duration<double, std::milli>(m - s).count());
        lat[c].push_back(std::chrono::duration<double, std::milli>(e - m).count());
        pairs[c]++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  uint64_t total = 0, errs = 0;
  for (int c = 0; c < conns; c++) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    total += pairs[c];
    errs += errors[c];
  }
  return ReportPairs("threads", conns, elapsed, total, errs, all);
}

// One thread, one epoll loop over every connection (bench/epoll_load.h): the generator takes a fraction
// of the CPU the threads do, and that CPU is the server's on a shared machine.
int PairsEpoll(const std::string& url, int conns, double seconds) {
  allot::bench::EpollLoad run;
  std::string hostport;
  if (!allot::bench::SetAddress(url, &run, &hostport)) {
    std::fprintf(stderr, "bench_server pairs: --url %s: no port\n", url.c_str());
    return 2;
  }
  struct Pair {
    std::string id;  // the allocation to release next, "" when the next request allocates
  };
  std::vector<Pair> state(static_cast<size_t>(conns));
  std::vector<std::string> post(static_cast<size_t>(conns));
  for (int c = 0; c < conns; c++) {
    std::string body = PairsBody(c);
    post[static_cast<size_t>(c)] =
        "POST /v1/allocations HTTP/1.1\r\nHost: " + hostport +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
        body;
  }
  std::vector<double> all;
  all.reserve(1 << 20);
  uint64_t total = 0, errs = 0;
  run.connections = conns;
  run.seconds = seconds;
  run.next = [&](allot::bench::LoadConn* c) {
    const Pair& p = state[c->index];
    if (p.id.empty())
      c->out = post[c->index];
    else
      c->out = "DELETE /v1/allocations/" + p.id + " HTTP/1.1\r\nHost: " + hostport + "\r\n\r\n";
  };
  run.answer = [&](allot::bench::LoadConn* c) {
    int status = 0;
    std::string_view body;
    size_t len = allot::bench::HttpAnswer(c->in, &status, &body);
    if (len == 0) return false;
    Pair& p = state[c->index];
    all.push_back(std::chrono::duration<double, std::milli>(Clock::now() - c->sent).count());
    if (p.id.empty()) {
      p.id = status == 201 ? AllocationId(body) : "";
      if (p.id.empty()) errs++;
      c->mid_sequence = !p.id.empty();  // released even when the time is up: the server keeps nothing
    } else {
      if (status == 200)
        total++;
      else
        errs++;
      p.id.clear();
      c->mid_sequence = false;
    }
    c->in.erase(0, len);
    return true;
  };
  if (!allot::bench::RunEpollLoad(&run)) {
    std::fprintf(stderr, "bench_server pairs: cannot connect to %s: %s\n", hostport.c_str(),
                 std::strerror(errno));
    return 1;
  }
  return ReportPairs("epoll", conns, run.elapsed, total, errs + run.broken, all);
}

int Metrics(const std::string& url, int nodes) {
  auto client = allot::net::HttpClient::Create(url, 60000);
  if (!client.ok()) return 1;
  for (int i = 0; i < nodes; i++) {
    std::string body = R"({"name":"node-)" + std::to_string(i) +
                       R"(","capacity":{"cpu":"64","memory":"256Gi","gpu":"8","ephemeral-storage":"2Ti"},"labels":{"zone":"z)" +
                       std::to_string(i % 4) + R"("}})";
    auto r = client->Request("POST", "/v1/nodes", body);
    if (!r.ok() || (r->status != 201 && r->status != 200)) {
      std::fprintf(stderr, "node %d: %s\n", i, r.ok() ? r->body.c_str() : r.error().message.c_str());
      return 1;
    }
  }
  std::vector<double> ms;
  size_t bytes = 0;
  for (int i = 0; i < 20; i++) {
    auto s = Clock::now();
    auto r = client->Request("GET", "/metrics");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    if (!r.ok() || r->status != 200) return 1;
    bytes = r->body.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"nodes\": %d, \"metrics_bytes\": %zu, \"min_ms\": %.2f, \"median_ms\": %.2f, \"max_ms\": %.2f}\n", nodes,
              bytes, ms.front(), ms[ms.size() / 2], ms.back());
  return 0;
}

int Seed(const std::string& dir, int64_t n) {
  auto store = allot::OpenSqliteStore(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  // 1,000 nodes of 1,024 cores; each allocation takes 1 core for a day.
  const int64_t kNodes = 1000;
  allot::Batch nodes;
  for (int64_t i = 0; i < kNodes; i++) {
    allot::server::NodeRecord r;
    r.spec.name = "node-" + std::to_string(i);
    r.spec.capacity = {{"cpu", 1024 * 1000}, {"memory", int64_t{4} << 40}};
    nodes.Put(allot::Table::kNodes, r.spec.name, allot::server::EncodeNode(r));
  }
  store.value()->Commit(std::move(nodes), nullptr);
  for (int64_t base = 0; base < n; base += 50000) {
    allot::Batch b;
    for (int64_t i = base; i < std::min(n, base + 50000); i++) {
      allot::server::AllocRecord r;
      r.info.id = "a-" + std::to_string(i);
      r.info.tenant = "bench/t" + std::to_string(i % 16);
      r.info.state = allot::AllocState::kPlaced;
      r.info.nodes = {"node-" + std::to_string(i % kNodes)};
      r.info.requests = {{"cpu", 1000}, {"memory", int64_t{1} << 30}};
      r.info.limits = r.info.requests;
      r.info.submitted = now;
      r.info.started = now;
      r.info.expires = now + 86400000;
      r.lease_ms = 86400000;
      r.spec.duration = 86400000;
      r.spec.ttl = true;
      b.Put(allot::Table::kAllocations, r.info.id, allot::server::EncodeAlloc(r));
    }
    store.value()->Commit(std::move(b), nullptr);
  }
  store.value()->Close();
  std::printf("{\"seeded_allocations\": %lld, \"nodes\": %lld}\n", static_cast<long long>(n), static_cast<long long>(kNodes));
  return 0;
}

void BM_EncodeAlloc(benchmark::State& state) {
  allot::server::AllocRecord r;
  r.info.id = "a-0123456789abcdef";
  r.info.tenant = "org/team/agent";
  r.info.nodes = {"node-17"};
  r.info.requests = {{"cpu", 500}, {"memory", 1 << 30}};
  for (auto _ : state) benchmark::DoNotOptimize(allot::server::EncodeAlloc(r));
}
BENCHMARK(BM_EncodeAlloc);

void BM_DecodeAlloc(benchmark::State& state) {
  allot::server::AllocRecord r;
  r.info.id = "a-0123456789abcdef";
  r.info.tenant = "org/team/agent";
  r.info.nodes = {"node-17"};
  r.info.requests = {{"cpu", 500}, {"memory", 1 << 30}};
  std::string bytes = allot::server::EncodeAlloc(r);
  for (auto _ : state) benchmark::DoNotOptimize(allot::server::DecodeAlloc(bytes));
}
BENCHMARK(BM_DecodeAlloc);

}  // namespace

static constexpr const char* kUsage =
    "usage: bench_server pairs   --url http(s)://HOST:PORT [--connections 16] [--seconds 5]\n"
    "                            [--generator epoll|threads] [--ca-cert FILE]\n"
    "       bench_server metrics --url http://HOST:PORT [--nodes 10000]\n"
    "       bench_server seed    [--data /tmp/allot-bench] [--allocations 1000000]\n"
    "       bench_server [Google Benchmark flags, e.g. --benchmark_filter=.]\n"
    "--seconds takes a duration (30s, 2m; a plain number is seconds). pairs' --generator: epoll (the\n"
    "default for http://) drives every connection from one thread; threads gives each its own thread and\n"
    "blocking client, and is the one that speaks https://.\n"
    "pairs and metrics load a running `allot serve` (scripts/bench-server.sh starts one on a free port);\n"
    "--url has no default, so no server is loaded by accident. Each load mode prints one JSON object.\n";

// For a load mode: --help, unknown options and a missing --url are answered before any load starts (0
// after --help, 2 on a usage error, -1 to go on).
static int CheckArgs(int argc, char** argv, std::initializer_list<const char*> options, bool needs_url) {
  for (int i = 2; i < argc; i++) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    bool known = std::any_of(options.begin(), options.end(), [&](const char* o) { return std::strcmp(argv[i], o) == 0; });
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "bench_server %s: %s %s\n%s", argv[1], argv[i], known ? "needs a value" : "is not an option", kUsage);
      return 2;
    }
    i++;
  }
  if (needs_url && Arg(argc, argv, "--url", "").empty()) {
    std::fprintf(stderr, "bench_server %s: --url is required\n%s", argv[1], kUsage);
    return 2;
  }
  return -1;
}

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--help" || mode == "-h" || mode == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (mode == "pairs") {
    if (int rc =
            CheckArgs(argc, argv, {"--url", "--connections", "--seconds", "--generator", "--ca-cert"}, true);
        rc >= 0)
      return rc;
    // --seconds: a duration (5s, 1m30s; a plain number is seconds), through the one parser.
    auto ms = allot::ParseDurationFlag("seconds", Arg(argc, argv, "--seconds", "5"), 1000, 1);
    if (!ms.ok()) {
      std::fprintf(stderr, "bench_server pairs: %s\n", ms.error().message.c_str());
      return 2;
    }
    const std::string url = Arg(argc, argv, "--url", "");
    const bool tls = url.rfind("https://", 0) == 0;
    const std::string generator = Arg(argc, argv, "--generator", tls ? "threads" : "epoll");
    if (generator != "epoll" && generator != "threads") {
      std::fprintf(stderr, "bench_server pairs: --generator %s: expected epoll or threads\n",
                   generator.c_str());
      return 2;
    }
    if (tls && generator == "epoll") {
      std::fprintf(stderr,
                   "bench_server pairs: --generator epoll speaks plain http://; https:// needs threads\n");
      return 2;
    }
    const int conns = std::max(1, std::stoi(Arg(argc, argv, "--connections", "16")));
    const double seconds = static_cast<double>(*ms) / 1000;
    if (generator == "epoll") return PairsEpoll(url, conns, seconds);
    return PairsThreads(url, conns, seconds, {Arg(argc, argv, "--ca-cert", ""), "", ""});
  }
  if (mode == "metrics") {
    if (int rc = CheckArgs(argc, argv, {"--url", "--nodes"}, true); rc >= 0) return rc;
    return Metrics(Arg(argc, argv, "--url", ""), std::stoi(Arg(argc, argv, "--nodes", "10000")));
  }
  if (mode == "seed") {
    if (int rc = CheckArgs(argc, argv, {"--data", "--allocations"}, false); rc >= 0) return rc;
  }
  if (mode == "seed") return Seed(Arg(argc, argv, "--data", "/tmp/allot-bench"), std::stoll(Arg(argc, argv, "--allocations", "1000000")));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
