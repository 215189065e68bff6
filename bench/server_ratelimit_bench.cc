// Load generator for rate-limit decisions, one design for both sides of the comparison (driven by
// scripts/bench-ratelimit-api.sh):
//
//   bench_server_ratelimit --url http://HOST:PORT [--connections 50] [--seconds 5] [--keys 10000]
//                          [--prefix rl/] [--batch 1] [--pipeline 1]
//   bench_server_ratelimit --url redis://HOST:PORT --sha SHA [--connections 50] [--seconds 5] [--keys 10000]
//                          [--prefix rl:] [--batch 1]
//
// Like redis-benchmark, it is one thread with one epoll loop over every connection (bench/epoll_load.h);
// each connection has one round trip in flight at a time and starts the next as soon as the answer is in.
// Keys are chosen at random among PREFIX0 .. PREFIX{keys-1} (as redis-benchmark -r does), rate 1000/s, burst
// 100, cost 1.
//   http://  allot serve: --batch 1 sends POST /v1/ratelimits/{key}/acquire; --batch B > 1 sends B acquires
//            in one POST /v1/ratelimits:acquire (the HTTP analogue of pipelining B commands); --pipeline P
//            sends P such requests back to back per round trip (HTTP/1.1 pipelining, as Redis' -P does).
//   redis:// Redis with a GCRA script loaded (SHA, e.g. ../shared/peers/redis-ratelimit.sh's): --batch B
//            pipelines B EVALSHA commands per round trip (redis-benchmark -P B).
// Prints one JSON object: decisions/s, round trips/s, allowed share, p50/p99 round-trip latency.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "allot/duration.h"
#include "epoll_load.h"

namespace {

using allot::bench::LoadConn;

constexpr const char* kUsage =
    "usage: bench_server_ratelimit --url http://HOST:PORT | redis://HOST:PORT [--sha SHA] [--connections "
    "50]\n"
    "                              [--seconds 5] [--keys 10000] [--prefix rl/] [--batch 1] [--pipeline 1]\n"
    "Sends rate-limit decisions to a running `allot serve` (http://) or to Redis with a GCRA script loaded\n"
    "(redis://, --sha: its SHA1) from one epoll thread, and prints one JSON object. --url has no default,\n"
    "so nothing is loaded by accident (scripts/bench-ratelimit-api.sh starts both on free ports).\n"
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
  static const char* kOptions[] = {"--url",    "--connections", "--seconds", "--keys",
                                   "--prefix", "--batch",       "--sha",     "--pipeline"};
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    bool known = std::any_of(std::begin(kOptions), std::end(kOptions),
                             [&](const char* o) { return std::strcmp(argv[i], o) == 0; });
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "bench_server_ratelimit: %s %s\n%s", argv[i],
                   known ? "needs a value" : "is not an option", kUsage);
      return 2;
    }
    i++;
  }
  std::string url = Arg(argc, argv, "--url", "");
  if (url.empty()) {
    std::fprintf(stderr, "bench_server_ratelimit: --url is required\n%s", kUsage);
    return 2;
  }
  if (url.rfind("http://", 0) != 0 && url.rfind("redis://", 0) != 0) {
    std::fprintf(stderr, "bench_server_ratelimit: --url %s: expected http://HOST:PORT or redis://HOST:PORT\n",
                 url.c_str());
    return 2;
  }
  if (url.rfind("redis://", 0) == 0 && Arg(argc, argv, "--sha", "").size() != 40) {
    std::fprintf(stderr,
                 "bench_server_ratelimit: redis:// needs --sha, the 40-digit SHA1 of the loaded script\n");
    return 2;
  }
  return -1;
}

// One complete RESP reply at `p` (any type, arrays nested): its end, or npos while it is incomplete. The
// first integer seen (the GCRA script's "allowed") goes to *first_int when it is still -1.
size_t RespReply(std::string_view s, size_t p, long long* first_int) {
  if (p >= s.size()) return std::string_view::npos;
  size_t eol = s.find("\r\n", p);
  if (eol == std::string_view::npos) return eol;
  char type = s[p];
  long long n = std::atoll(std::string(s.substr(p + 1, eol - p - 1)).c_str());
  size_t next = eol + 2;
  switch (type) {
    case ':':
      if (*first_int < 0) *first_int = n;
      return next;
    case '+':
    case '-':
      return next;
    case '$':
      if (n < 0) return next;
      if (s.size() < next + static_cast<size_t>(n) + 2) return std::string_view::npos;
      return next + static_cast<size_t>(n) + 2;
    case '*':
      for (long long i = 0; i < n; i++) {
        next = RespReply(s, next, first_int);
        if (next == std::string_view::npos) return next;
      }
      return next;
    default:
      return std::string_view::npos;
  }
}

struct Load {
  bool redis = false;
  std::string host_header, sha, prefix;
  int batch = 1, keys = 10000;
  int pipeline = 1;  // http://: requests sent back to back per round trip (HTTP/1.1 pipelining)
  std::mt19937 rng{1};
  uint64_t decisions = 0, allowed = 0, round_trips = 0, errors = 0;
  std::vector<float> latency_ms;

  std::string Key() { return prefix + std::to_string(std::uniform_int_distribution<int>(0, keys - 1)(rng)); }

  void NextRequest(LoadConn* c) {
    if (redis) {
      for (int i = 0; i < batch; i++) {
        std::string key = Key();
        c->out += "*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + sha + "\r\n$1\r\n1\r\n$" + std::to_string(key.size()) +
                  "\r\n" + key + "\r\n$4\r\n1000\r\n$3\r\n100\r\n$1\r\n1\r\n";
      }
    } else {
      for (int k = 0; k < pipeline; k++) {
        std::string target, body;
        if (batch == 1) {
          target = "/v1/ratelimits/" + Key() + "/acquire";
          body = R"({"n":1})";
        } else {
          target = "/v1/ratelimits:acquire";
          body = R"({"requests":[)";
          for (int i = 0; i < batch; i++)
            body += (i ? "," : "") + std::string(R"({"key":")") + Key() + R"(","n":1})";
          body += "]}";
        }
        c->out += "POST " + target + " HTTP/1.1\r\nHost: " + host_header +
                  "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\n\r\n" + body;
      }
    }
  }

  // Consumes a complete answer from c->in: true when one was there (counted), false while incomplete.
  bool TakeAnswer(LoadConn* c) {
    std::string_view s = c->in;
    if (redis) {
      size_t p = 0;
      uint64_t ok = 0;
      for (int i = 0; i < batch; i++) {
        long long first = -1;
        p = RespReply(s, p, &first);
        if (p == std::string_view::npos) return false;
        if (first == 1) ok++;
        if (first < 0) errors++;
      }
      allowed += ok;
      c->in.erase(0, p);
    } else {
      // All `pipeline` answers, or none consumed yet.
      size_t at = 0;
      uint64_t ok = 0, bad = 0;
      for (int k = 0; k < pipeline; k++) {
        int status = 0;
        std::string_view body;
        size_t len = allot::bench::HttpAnswer(s.substr(at), &status, &body);
        if (len == 0) return false;
        if (status != 200) bad++;
        for (size_t p = 0; (p = body.find("\"allowed\":true", p)) != std::string_view::npos; p += 14) ok++;
        at += len;
      }
      allowed += ok;
      errors += bad;
      c->in.erase(0, at);
    }
    decisions += static_cast<uint64_t>(batch) * static_cast<uint64_t>(redis ? 1 : pipeline);
    round_trips++;
    latency_ms.push_back(
        std::chrono::duration<float, std::milli>(allot::bench::LoadClock::now() - c->sent).count());
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (int rc = CheckArgs(argc, argv); rc >= 0) return rc;
  const std::string url = Arg(argc, argv, "--url", "");
  Load load;
  load.redis = url.rfind("redis://", 0) == 0;
  const int conns = std::max(1, std::atoi(Arg(argc, argv, "--connections", "50").c_str()));
  // --seconds: a duration (5s, 1m30s; a plain number is seconds), through the one parser.
  auto ms = allot::ParseDurationFlag("seconds", Arg(argc, argv, "--seconds", "5"), 1000, 1);
  if (!ms.ok()) {
    std::fprintf(stderr, "bench_server_ratelimit: %s\n", ms.error().message.c_str());
    return 2;
  }
  const double seconds = static_cast<double>(*ms) / 1000;
  load.keys = std::max(1, std::atoi(Arg(argc, argv, "--keys", "10000").c_str()));
  load.batch = std::max(1, std::atoi(Arg(argc, argv, "--batch", "1").c_str()));
  load.pipeline = std::max(1, std::atoi(Arg(argc, argv, "--pipeline", "1").c_str()));
  load.prefix = Arg(argc, argv, "--prefix", load.redis ? "rl:" : "rl/");
  load.sha = Arg(argc, argv, "--sha", "");
  allot::bench::EpollLoad run;
  std::string hostport;
  if (!allot::bench::SetAddress(url, &run, &hostport)) {
    std::fprintf(stderr, "bench_server_ratelimit: --url %s: no port\n", url.c_str());
    return 2;
  }
  load.host_header = hostport;
  load.latency_ms.reserve(1 << 20);

  run.connections = conns;
  run.seconds = seconds;
  run.next = [&](LoadConn* c) { load.NextRequest(c); };
  run.answer = [&](LoadConn* c) { return load.TakeAnswer(c); };
  if (!allot::bench::RunEpollLoad(&run)) {
    std::fprintf(stderr, "bench_server_ratelimit: cannot connect to %s: %s\n", hostport.c_str(),
                 std::strerror(errno));
    return 1;
  }
  load.errors += run.broken;
  const double elapsed = run.elapsed;
  auto& all = load.latency_ms;
  std::sort(all.begin(), all.end());
  auto pct = [&](double x) {
    return all.empty() ? 0.0 : static_cast<double>(all[std::min(all.size() - 1, static_cast<size_t>(x * all.size()))]);
  };
  std::printf(
      "{\"protocol\": \"%s\", \"connections\": %d, \"batch\": %d, \"pipeline\": %d, \"keys\": %d, "
      "\"seconds\": %.2f, "
      "\"decisions\": %llu, \"decisions_per_s\": %.0f, \"requests_per_s\": %.0f, \"allowed_share\": %.3f, "
      "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"errors\": %llu}\n",
      load.redis ? "resp" : "http", conns, load.batch, load.redis ? load.batch : load.pipeline, load.keys,
      elapsed, static_cast<unsigned long long>(load.decisions), static_cast<double>(load.decisions) / elapsed,
      static_cast<double>(load.round_trips) / elapsed,
      load.decisions ? static_cast<double>(load.allowed) / static_cast<double>(load.decisions) : 0.0,
      pct(0.5), pct(0.99), static_cast<unsigned long long>(load.errors));
  return load.errors > load.round_trips / 100 + 1 ? 1 : 0;
}
