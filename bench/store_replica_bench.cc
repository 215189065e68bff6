// Load generators for replicated `allot serve` and for etcd itself (driven by scripts/bench-replicas.py):
//
//   bench_store_replica allocs --servers U1,U2,U3 [--connections 32] [--seconds 10]
//       durable allocations/s through the replicas: each connection is a FailoverClient given every
//       replica (it follows the standbys' redirects to the leader and stays there) and POSTs allocations
//       with an idempotency key; an allocation counts once it is answered 201/202 (durable in etcd).
//   bench_store_replica puts --endpoints E1,E2,E3 [--connections 32] [--seconds 10] [--batch 1]
//                           [--value-bytes 200]
//       raw etcd puts/s through the v3 JSON gateway (the same client allot's store uses), each request one
//       transaction of --batch puts.
// Each prints one JSON object.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "allot/duration.h"
#include "allot/http.h"
#include "allot/store.h"
#include "store/etcd_client.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; i++) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

struct Tally {
  std::vector<double> ms;
  uint64_t done = 0, errors = 0;
};

void Report(const char* what, int conns, double elapsed, std::vector<Tally>& per, uint64_t units_per_done,
            const std::string& extra) {
  std::vector<double> all;
  uint64_t done = 0, errors = 0;
  for (auto& t : per) {
    all.insert(all.end(), t.ms.begin(), t.ms.end());
    done += t.done;
    errors += t.errors;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(q * all.size()))];
  };
  std::printf(
      "{\"mode\": \"%s\", \"connections\": %d, \"seconds\": %.2f, \"requests\": %llu, \"requests_per_s\": "
      "%.0f, "
      "\"%s_per_s\": %.0f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %llu%s}\n",
      what, conns, elapsed, static_cast<unsigned long long>(done), done / elapsed,
      std::strcmp(what, "allocs") == 0 ? "allocations" : "keys", done * units_per_done / elapsed, pct(0.5),
      pct(0.99), all.empty() ? 0.0 : all.back(), static_cast<unsigned long long>(errors), extra.c_str());
}

// Runs `body(connection, tally, stop)` on `conns` threads for `seconds`; returns the elapsed time.
template <typename F>
double Run(int conns, double seconds, std::vector<Tally>* per, F body) {
  std::atomic<bool> stop{false};
  per->assign(conns, {});
  std::vector<std::thread> ts;
  auto t0 = Clock::now();
  for (int c = 0; c < conns; c++) ts.emplace_back([&, c] { body(c, (*per)[c], stop); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int Allocs(const std::string& servers, int conns, double seconds) {
  std::vector<Tally> per;
  double elapsed = Run(conns, seconds, &per, [&](int c, Tally& t, std::atomic<bool>& stop) {
    allot::net::FailoverOptions o;
    o.timeout_ms = 10'000;
    auto client = allot::net::FailoverClient::Create(servers, o);
    if (!client.ok()) {
      t.errors++;
      return;
    }
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      std::string body = R"({"tenant":"bench/t)" + std::to_string(c % 8) +
                         R"(","requests":{"cpu":"1m"},"idempotency_key":"b)" + std::to_string(c) + "-" +
                         std::to_string(n++) + "\"}";
      auto s = Clock::now();
      auto r = client->Request("POST", "/v1/allocations", body, {}, true);
      if (!r.ok() || (r->status != 201 && r->status != 202)) {
        t.errors++;
        continue;
      }
      t.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      t.done++;
    }
  });
  Report("allocs", conns, elapsed, per, 1, "");
  return 0;
}

int Puts(const std::string& endpoints, int conns, double seconds, int batch, int value_bytes) {
  auto eps = allot::ParseEtcdEndpoints(endpoints);
  if (!eps.ok()) {
    std::fprintf(stderr, "%s\n", eps.error().message.c_str());
    return 2;
  }
  std::string value = allot::store::Base64Encode(std::string(static_cast<size_t>(value_bytes), 'v'));
  std::vector<Tally> per;
  double elapsed = Run(conns, seconds, &per, [&](int c, Tally& t, std::atomic<bool>& stop) {
    auto client = allot::store::EtcdClient::Create({*eps, 10'000});
    if (!client.ok()) {
      t.errors++;
      return;
    }
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      nlohmann::json ops = nlohmann::json::array();
      for (int k = 0; k < batch; k++) {
        std::string key = "/bench-puts/" + std::to_string(c) + "/" + std::to_string(n++);
        ops.push_back({{"request_put", {{"key", allot::store::Base64Encode(key)}, {"value", value}}}});
      }
      auto s = Clock::now();
      auto r = (*client)->Call("/v3/kv/txn", {{"success", std::move(ops)}});
      if (!r.ok()) {
        t.errors++;
        continue;
      }
      t.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      t.done++;
    }
  });
  Report("puts", conns, elapsed, per, static_cast<uint64_t>(batch), ", \"batch\": " + std::to_string(batch));
  return 0;
}

constexpr const char* kUsage =
    "usage: bench_store_replica allocs --servers URL,URL,... [--connections 32] [--seconds 10]\n"
    "       bench_store_replica puts --endpoints URL,URL,... [--connections 32] [--seconds 10] [--batch 1]\n"
    "                                [--value-bytes 200]\n"
    "allocs loads running replicas of `allot serve --store etcd`; puts loads etcd (keys under "
    "/bench-puts/).\n"
    "scripts/bench-replicas.py starts both on free ports. Each prints one JSON object.\n"
    "--seconds takes a duration (30s, 2m; a plain number is seconds).\n";

int CheckArgs(int argc, char** argv, std::initializer_list<const char*> options, const char* required) {
  for (int i = 2; i < argc; i++) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    bool known = std::any_of(options.begin(), options.end(),
                             [&](const char* o) { return std::strcmp(argv[i], o) == 0; });
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "bench_store_replica %s: %s %s\n%s", argv[1], argv[i],
                   known ? "needs a value" : "is not an option", kUsage);
      return 2;
    }
    i++;
  }
  if (Arg(argc, argv, required, "").empty()) {
    std::fprintf(stderr, "bench_store_replica %s: %s is required\n%s", argv[1], required, kUsage);
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  int conns = std::stoi(Arg(argc, argv, "--connections", "32"));
  // --seconds: a duration (10s, 1m30s; a plain number is seconds), through the one parser; read once the
  // options are known to be right.
  auto seconds = [&]() -> double {
    auto ms = allot::ParseDurationFlag("seconds", Arg(argc, argv, "--seconds", "10"), 1000, 1);
    if (!ms.ok()) {
      std::fprintf(stderr, "bench_store_replica %s: %s\n", mode.c_str(), ms.error().message.c_str());
      return -1;
    }
    return static_cast<double>(*ms) / 1000;
  };
  if (mode == "allocs") {
    if (int rc = CheckArgs(argc, argv, {"--servers", "--connections", "--seconds"}, "--servers"); rc >= 0)
      return rc;
    double s = seconds();
    if (s < 0) return 2;
    return Allocs(Arg(argc, argv, "--servers", ""), conns, s);
  }
  if (mode == "puts") {
    if (int rc =
            CheckArgs(argc, argv, {"--endpoints", "--connections", "--seconds", "--batch", "--value-bytes"},
                      "--endpoints");
        rc >= 0) {
      return rc;
    }
    double s = seconds();
    if (s < 0) return 2;
    return Puts(Arg(argc, argv, "--endpoints", ""), conns, s, std::stoi(Arg(argc, argv, "--batch", "1")),
                std::stoi(Arg(argc, argv, "--value-bytes", "200")));
  }
  std::fputs(kUsage, mode == "--help" || mode == "-h" ? stdout : stderr);
  return mode == "--help" || mode == "-h" ? 0 : 2;
}
