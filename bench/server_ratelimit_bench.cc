// Load generator for the rate-limit API of `allot serve` (driven by scripts/bench-ratelimit-api.sh).
//
//   bench_server_ratelimit --url U [--connections 50] [--seconds 5] [--keys 10000] [--prefix rl/] [--batch 1]
//
// Each connection is one thread with one keep-alive HTTP/1.1 connection that sends acquire requests back
// to back for keys chosen at random among PREFIX0 .. PREFIX{keys-1} (as redis-benchmark -r does):
// --batch 1 uses POST /v1/ratelimits/{key}/acquire, --batch B > 1 sends B acquires per
// POST /v1/ratelimits:acquire (the HTTP analogue of redis-benchmark -P B pipelining).
// Prints one JSON object: decisions/s, requests/s, allowed share, p50/p99 request latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allot/duration.h"
#include "allot/http.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: bench_server_ratelimit --url http://HOST:PORT [--connections 50] [--seconds 5] [--keys 10000]\n"
    "                              [--prefix rl/] [--batch 1]\n"
    "Sends rate-limit acquires to a running `allot serve` (scripts/bench-ratelimit-api.sh starts one on a\n"
    "free port) and prints one JSON object. --url has no default, so no server is loaded by accident.\n"
    "--seconds takes a duration (30s, 2m; a plain number is seconds).\n";

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; i++) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

// --help, unknown options and a missing --url are answered before any load starts: 0 after --help, 2 on
// a usage error, -1 to go on.
int CheckArgs(int argc, char** argv) {
  static const char* kOptions[] = {"--url", "--connections", "--seconds", "--keys", "--prefix", "--batch"};
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    bool known = std::any_of(std::begin(kOptions), std::end(kOptions), [&](const char* o) { return std::strcmp(argv[i], o) == 0; });
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "bench_server_ratelimit: %s %s\n%s", argv[i], known ? "needs a value" : "is not an option", kUsage);
      return 2;
    }
    i++;
  }
  if (Arg(argc, argv, "--url", "").empty()) {
    std::fprintf(stderr, "bench_server_ratelimit: --url is required\n%s", kUsage);
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (int rc = CheckArgs(argc, argv); rc >= 0) return rc;
  const std::string url = Arg(argc, argv, "--url", "");
  const int conns = std::max(1, std::atoi(Arg(argc, argv, "--connections", "50").c_str()));
  // --seconds: a duration (5s, 1m30s; a plain number is seconds), through the one parser.
  auto ms = allot::ParseDurationFlag("seconds", Arg(argc, argv, "--seconds", "5"), 1000, 1);
  if (!ms.ok()) {
    std::fprintf(stderr, "bench_server_ratelimit: %s\n", ms.error().message.c_str());
    return 2;
  }
  const double seconds = static_cast<double>(*ms) / 1000;
  const int keys = std::max(1, std::atoi(Arg(argc, argv, "--keys", "10000").c_str()));
  const int batch = std::max(1, std::atoi(Arg(argc, argv, "--batch", "1").c_str()));
  const std::string prefix = Arg(argc, argv, "--prefix", "rl/");

  std::atomic<bool> stop{false};
  std::vector<std::vector<float>> lat(static_cast<size_t>(conns));
  std::vector<uint64_t> decisions(conns, 0), allowed(conns, 0), requests(conns, 0), errors(conns, 0);
  std::vector<std::thread> ts;
  const auto t0 = Clock::now();
  for (int c = 0; c < conns; c++) {
    ts.emplace_back([&, c] {
      auto client = allot::net::HttpClient::Create(url, 10000);
      if (!client.ok()) {
        errors[c]++;
        return;
      }
      std::mt19937 rng(static_cast<uint32_t>(c) * 7919u + 1);
      std::uniform_int_distribution<int> pick(0, keys - 1);
      lat[c].reserve(1 << 16);
      std::string target, body;
      while (!stop.load(std::memory_order_relaxed)) {
        if (batch == 1) {
          target = "/v1/ratelimits/" + prefix + std::to_string(pick(rng)) + "/acquire";
          body = R"({"n":1})";
        } else {
          target = "/v1/ratelimits:acquire";
          body = R"({"requests":[)";
          for (int i = 0; i < batch; i++) {
            body += (i ? "," : "") + std::string(R"({"key":")") + prefix + std::to_string(pick(rng)) + R"(","n":1})";
          }
          body += "]}";
        }
        const auto s = Clock::now();
        auto r = client->Request("POST", target, body);
        const auto e = Clock::now();
        if (!r.ok() || r->status != 200) {
          errors[c]++;
          continue;
        }
        requests[c]++;
        decisions[c] += static_cast<uint64_t>(batch);
        // Count allowed decisions without a full JSON parse.
        for (size_t p = 0; (p = r->body.find("\"allowed\":true", p)) != std::string::npos; p += 14) allowed[c]++;
        lat[c].push_back(std::chrono::duration<float, std::milli>(e - s).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<float> all;
  uint64_t d = 0, a = 0, q = 0, err = 0;
  for (int c = 0; c < conns; c++) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    d += decisions[c];
    a += allowed[c];
    q += requests[c];
    err += errors[c];
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double x) {
    return all.empty() ? 0.0 : static_cast<double>(all[std::min(all.size() - 1, static_cast<size_t>(x * all.size()))]);
  };
  std::printf(
      "{\"connections\": %d, \"batch\": %d, \"keys\": %d, \"seconds\": %.2f, \"decisions\": %llu, "
      "\"decisions_per_s\": %.0f, \"requests_per_s\": %.0f, \"allowed_share\": %.3f, \"p50_ms\": %.3f, "
      "\"p99_ms\": %.3f, \"errors\": %llu}\n",
      conns, batch, keys, elapsed, static_cast<unsigned long long>(d), static_cast<double>(d) / elapsed,
      static_cast<double>(q) / elapsed, d ? static_cast<double>(a) / static_cast<double>(d) : 0.0, pct(0.5), pct(0.99),
      static_cast<unsigned long long>(err));
  return err > q / 100 + 1 ? 1 : 0;
}
