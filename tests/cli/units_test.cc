// Units on the command line and in tables (issue 15): every flag that takes a time takes a duration
// (`--interval 2s`, `--timeout 1m30s`), a plain number keeping what it meant before; every flag that takes
// bytes takes a quantity (`--min-memory 250Mi`); memory shows in the unit it was given or the largest exact
// unit, rounded with '~' in tables once that would be longer than 4 digits, never as 14536037Ki.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../server/server_process.h"
#include "support.h"

namespace allot::testing {
namespace {

using nlohmann::json;

void ExpectUsageError(const RunResult& r, const std::string& message) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << "want: " << message << "\ngot: " << r.err;
}

TEST(Durations, TimeFlagsTakeUnitsAndPlainNumbersKeepTheirMeaning) {
  const std::string src = SourceDir();
  const std::string hpa = src + "/examples/autoscale/hpa.yaml",
                    series = src + "/examples/autoscale/usage-series.csv";
  auto simulate = [&](const std::string& period) {
    return RunAllot({"autoscale", "simulate", "--hpa", hpa, series, "--sync-period", period, "--json"});
  };
  // 1m is 60 seconds (it used to be read as 1 by std::stod, silently).
  auto minute = simulate("1m"), sixty = simulate("60"), one = simulate("1");
  ASSERT_EQ(minute.exit_code, 0) << minute.err;
  EXPECT_EQ(minute.out, sixty.out);
  EXPECT_NE(minute.out, one.out);
  EXPECT_EQ(simulate("30s").out, simulate("30").out);
  ExpectUsageError(simulate("30x"), "--sync-period \"30x\": unknown unit \"x\"");
  ExpectUsageError(simulate("0s"), "--sync-period \"0s\": must be at least 1ms");

  // guard: --timeout and --initial-delay take durations, --cpu-sample-ms too (a plain number is ms).
  for (const std::string t : {"0", "0s", "0.0"}) {
    auto w = RunAllot(
        {"guard", "wait", "--timeout", t, "--initial-delay", "250ms", "--memory", "1Mi", "--no-state"});
    EXPECT_TRUE(w.exit_code == 0 || w.exit_code == 1)
        << t << ": " << w.err;  // go, or not now (a busy machine)
  }
  ExpectUsageError(RunAllot({"guard", "wait", "--timeout", "5 minutes"}), "--timeout \"5 minutes\"");
  ExpectUsageError(RunAllot({"guard", "wait", "--timeout", "-1"}), "must not be negative");
  ExpectUsageError(RunAllot({"guard", "wait", "--timeout", "1s", "--initial-delay", "0s"}),
                   "--initial-delay \"0s\": must be at least 1ms");
  for (const std::string ms : {"20", "20ms", "0.02s"}) {
    auto g = RunAllot({"guard", "status", "--json", "--no-state", "--cpu-sample-ms", ms});
    EXPECT_EQ(g.exit_code, 0) << ms << ": " << g.err;
  }
  ExpectUsageError(RunAllot({"guard", "status", "--cpu-sample-ms", "2m"}),
                   "--cpu-sample-ms \"2m\": must be between 0s and 1m");

  // trace --tick: a plain number is milliseconds, as before.
  std::string nasa = "swf:" + SharedDir() + "/data/traces/pwa-nasa-ipsc/NASA-iPSC-1993-3.1-cln.swf.gz";
  auto tick = [&](const std::string& t) {
    auto r = RunAllot({"trace", "convert", nasa, "-o", "-", "--limit", "30", "--tick", t});
    EXPECT_EQ(r.exit_code, 0) << t << ": " << r.err;
    return r.out;
  };
  EXPECT_EQ(tick("1m"), tick("60000"));
  EXPECT_NE(tick("1m"), tick("60"));
  // The old spelling --o still works beside -o and --output.
  auto o = RunAllot({"trace", "convert", nasa, "--o", "-", "--limit", "30", "--tick", "1m"});
  EXPECT_EQ(o.out, tick("1m"));

  // recommend: durations everywhere.
  std::string usage = src + "/examples/autoscale/usage.csv";
  auto day = RunAllot({"recommend", usage, "--half-life", "1d", "--json"});
  auto secs = RunAllot({"recommend", usage, "--half-life", "86400", "--json"});
  ASSERT_EQ(day.exit_code, 0) << day.err;
  EXPECT_EQ(day.out, secs.out);
  ExpectUsageError(RunAllot({"recommend", usage, "--half-life", "a day"}), "--half-life \"a day\"");
  // --end is a point in time: RFC 3339 or Unix seconds, refused before Prometheus is asked
  // (tests/autoscale/prometheus_test.cc runs the accepted forms against a real one).
  for (const std::string bad : {"tomorrow", "2026-12-07", "2026-12-07T25:00:00Z", "1h"}) {
    ExpectUsageError(RunAllot({"recommend", "--prometheus", "http://127.0.0.1:1", "--end", bad}),
                     "--end \"" + bad + "\": not a time (use RFC 3339, 2026-12-07T10:00:00Z");
  }
}

TEST(Durations, ClientAndServerFlags) {
  TempDir dir;
  ServerProcess demo(dir.path() + "/demo", {"--dev", "--config", SourceDir() + "/examples/server/demo.yaml"});
  ASSERT_TRUE(demo.Start()) << demo.Log();
  // top and agent: --interval in units; a plain number is seconds.
  for (const std::string i : {"1m", "90", "1m30s"}) {
    auto top = RunAllot({"top", "--server", demo.url(), "--once", "--interval", i});
    EXPECT_EQ(top.exit_code, 0) << i << ": " << top.err;
  }
  ExpectUsageError(RunAllot({"top", "--server", demo.url(), "--once", "--interval", "10ms"}),
                   "--interval \"10ms\": must be at least 100ms");
  auto agent = RunAllot(
      {"agent", "--server", demo.url(), "--name", "units-test", "--interval", "1m30s", "--once", "--quiet"});
  EXPECT_EQ(agent.exit_code, 0) << agent.err;
  ExpectUsageError(RunAllot({"agent", "--server", demo.url(), "--interval", "10ms", "--once"}),
                   "--interval \"10ms\": must be between 50ms and 1d");
  // serve: the etcd lease TTL is whole seconds, now also as a duration (checked before any etcd is dialled).
  for (const std::string bad : {"1500ms", "2h"}) {
    auto r = RunAllot({"serve", "--store", "etcd", "--etcd-endpoints", "http://127.0.0.1:1",
                       "--etcd-lease-ttl", bad, "--data", dir.path() + "/etcd"});
    ExpectUsageError(r, "--etcd-lease-ttl");
  }
  // The client's durations go to the API, which reads them with the same parser.
  auto a = RunAllot({"alloc", "--server", demo.url(), "--tenant", "org/research", "--cpu", "1", "--duration",
                     "1h30m", "--json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_TRUE(json::parse(a.out, nullptr, false).contains("expires")) << a.out;
  auto b = RunAllot(
      {"alloc", "--server", demo.url(), "--tenant", "org/research", "--cpu", "1", "--duration", "1.5x"});
  EXPECT_EQ(b.exit_code, 2) << b.out;
  EXPECT_NE(b.err.find("duration"), std::string::npos) << b.err;
}

TEST(ByteSizes, ByteFlagsTakeQuantities) {
  std::string usage = SourceDir() + "/examples/autoscale/usage.csv";
  auto rec = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {"recommend", usage, "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = RunAllot(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    return j.is_object() ? j["containers"][0]["recommended"]["requests"] : json();
  };
  // The example's container wants 128m and 489Mi: minimums above that win.
  EXPECT_EQ(rec({"--min-memory", "1Gi"})["memory"], int64_t{1} << 30);
  EXPECT_EQ(rec({"--min-memory", "1073741824"})["memory"], int64_t{1} << 30);  // a plain number is bytes
  EXPECT_EQ(rec({"--min-memory", "1G"})["memory"], 1'000'000'000);
  EXPECT_EQ(rec({"--min-cpu", "500m"})["cpu"], 500);
  EXPECT_EQ(rec({"--min-cpu", "0.5"})["cpu"], 500);
  EXPECT_EQ(rec({"--min-cpu", "500"})["cpu"], 500);  // a plain integer is millicores, as before
  ExpectUsageError(RunAllot({"recommend", usage, "--min-memory", "lots"}), "--min-memory");
  ExpectUsageError(RunAllot({"recommend", usage, "--min-memory", "-1Gi"}), "--min-memory");
}

// Shows how `allot` prints memory in its tables for a cluster whose amounts are not round.
TEST(MemoryDisplay, TheUnitItWasGivenOrTheLargestExactOrRounded) {
  TempDir dir;
  std::string config =
      dir.Write("c.yaml",
                "tenants:\n  - {path: org/a, quota: {max: {memory: 64Gi}}}\n"
                "nodes:\n"
                "  - {name: odd, capacity: {cpu: \"8\", memory: 14536037Ki, ephemeral-storage: 100G}}\n"
                "  - {name: round, capacity: {cpu: \"8\", memory: 16Gi}}\n");
  ServerProcess s(dir.path() + "/data", {"--dev", "--config", config});
  ASSERT_TRUE(s.Start()) << s.Log();
  const std::string url = s.url();
  auto a = RunAllot(
      {"alloc", "--server", url, "--tenant", "org/a", "--memory", "1G", "--disk", "2G", "--cpu", "1"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = RunAllot({"alloc", "--server", url, "--tenant", "org/a", "--memory", "1000Mi", "--cpu", "1"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto nodes = RunAllot({"node", "list", "--server", url});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  // 14536037Ki = 13.86 GiB; 100G is decimal and shows so; 16Gi stays 16Gi.
  EXPECT_NE(nodes.out.find("memory=~13.86Gi"), std::string::npos) << nodes.out;
  EXPECT_NE(nodes.out.find("ephemeral-storage=100G"), std::string::npos) << nodes.out;
  EXPECT_NE(nodes.out.find("memory=16Gi"), std::string::npos) << nodes.out;
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"node", "list"}, {"status"}, {"top", "--once"}, {"quota", "list"}}) {
    std::vector<std::string> argv = cmd;
    argv.insert(argv.end(), {"--server", url});
    auto r = RunAllot(argv);
    ASSERT_EQ(r.exit_code, 0) << cmd[0] << ": " << r.err;
    EXPECT_EQ(r.out.find("14536037Ki"), std::string::npos) << cmd[0] << "\n" << r.out;
    EXPECT_EQ(r.out.find("Ki,"), std::string::npos) << cmd[0] << "\n" << r.out;
  }
  // The requests as given: 1G and 1000Mi, the disk as 2G.
  auto top = RunAllot({"top", "--once", "--server", url});
  EXPECT_NE(top.out.find("memory=1G"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("ephemeral-storage=2G"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("memory=1000Mi"), std::string::npos) << top.out;
  // JSON keeps integers (DESIGN: bytes).
  auto j = RunAllot({"node", "list", "--server", url, "--json"});
  EXPECT_NE(j.out.find("14884901888"), std::string::npos) << j.out;  // 14536037 × 1024
}

TEST(MemoryDisplay, PlanTablesShowExactAmountsOrSayTheyRound) {
  TempDir dir;
  // 3 replicas × 456Mi = 1368Mi (exact, 4 digits); 1000M × 3 = 3G.
  std::string m = dir.Write("m.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: web
          resources:
            requests: {cpu: 100m, memory: 456Mi}
            limits: {cpu: 200m, memory: 1000M}
)");
  auto r = RunAllot({"plan", m});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1368Mi"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3G"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("1.34Gi"), std::string::npos) << r.out;  // the old rounding, not marked as one
  // dev halves: 684Mi exact; 1500M for the limit.
  auto dev = RunAllot({"plan", m, "--env", "dev"});
  EXPECT_NE(dev.out.find("684Mi"), std::string::npos) << dev.out;
  EXPECT_NE(dev.out.find("1500M"), std::string::npos) << dev.out;
}

}  // namespace
}  // namespace allot::testing
