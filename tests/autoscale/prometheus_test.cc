// `allot recommend --prometheus` against a real Prometheus (Debian package): the test writes cAdvisor-style
// samples as OpenMetrics, turns them into a TSDB block with `promtool tsdb create-blocks-from openmetrics`,
// starts prometheus on a free loopback port with that data, queries it through the allot binary, and stops
// prometheus by PID. Skipped only when the prometheus binaries are absent.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "allot/autoscale.h"
#include "support.h"

extern char** environ;

namespace allot::testing {
namespace {

class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

bool Installed(const char* path) { return access(path, X_OK) == 0; }

TEST(RecommendPrometheus, RealServer) {
  if (!Installed("/usr/bin/prometheus") || !Installed("/usr/bin/promtool")) GTEST_SKIP() << "prometheus is not installed";
  TempDir dir;
  // Two hours of samples ending ten minutes ago (inside the default retention), one a minute:
  // web/app uses 0.25 cores (a counter growing 0.25 s per s) and 300Mi; db/main 0.5 cores and 1Gi.
  int64_t now = std::time(nullptr), t0 = now - 7200, end = now - 600;
  std::ostringstream om;
  om.precision(15);
  om << "# TYPE container_cpu_usage_seconds_total counter\n";
  for (auto [pod, container, rate] : {std::tuple{"web-7d4b9c8f6-abcde", "app", 0.25}, {"db-0", "main", 0.5}})
    for (int64_t t = t0; t <= end; t += 60)
      om << "container_cpu_usage_seconds_total{namespace=\"shop\",pod=\"" << pod << "\",container=\"" << container
         << "\"} " << rate * static_cast<double>(t - t0) << " " << t << "\n";
  om << "# TYPE container_memory_working_set_bytes gauge\n";
  for (auto [pod, container, bytes] : {std::tuple{"web-7d4b9c8f6-abcde", "app", 300ll << 20}, {"db-0", "main", 1ll << 30}})
    for (int64_t t = t0; t <= end; t += 60)
      om << "container_memory_working_set_bytes{namespace=\"shop\",pod=\"" << pod << "\",container=\"" << container
         << "\"} " << bytes << " " << t << "\n";
  om << "# EOF\n";
  std::string data = dir.path() + "/data";
  auto created = RunProgram({"promtool", "tsdb", "create-blocks-from", "openmetrics", dir.Write("samples.om", om.str()), data});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;

  int port = FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  Process prom({"prometheus", "--config.file=" + dir.Write("prometheus.yml", "global:\n  scrape_interval: 1m\n"),
                "--storage.tsdb.path=" + data, "--storage.tsdb.retention.time=30d",
                "--web.listen-address=127.0.0.1:" + std::to_string(port)},
               dir.path() + "/prometheus.log");
  ASSERT_GT(prom.pid(), 0);
  bool ready = false;
  for (int i = 0; i < 600 && !ready; i++) {  // up to a minute for startup on a loaded machine
    auto r = autoscale::HttpGet(url + "/-/ready", 1000);
    ready = r.ok() && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << ReadFile(dir.path() + "/prometheus.log");

  auto r = RunAllot({"recommend", "--prometheus", url, "--end", std::to_string(end), "--range", "2h", "--step", "1m",
                     "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["containers"].size(), 2u) << r.out;
  for (const auto& c : j["containers"]) {
    EXPECT_EQ(c["namespace"], "shop");
    if (c["workload"] == "web") {
      EXPECT_EQ(c["container"], "app");
      // rate 0.25: bucket floor(ln 2.25/ln 1.05) = 16, end 0.2 × (1.05^17 − 1) = 0.2584 -> 259m; × 1.15 -> 298m.
      EXPECT_EQ(c["observed"]["cpu_percentile"], 259);
      EXPECT_EQ(c["recommended"]["requests"]["cpu"], 298);
      // 300Mi: bucket end 330659541 bytes; × 1.15 -> 363Mi.
      EXPECT_EQ(c["recommended"]["requests"]["memory"], 363ll << 20);
    } else {
      EXPECT_EQ(c["workload"], "db");  // StatefulSet pod db-0
      // rate 0.5: bucket floor(ln 3.5/ln 1.05) = 25, end 0.2 × (1.05^26 − 1) = 0.51113 -> 512m; × 1.15 -> 589m.
      EXPECT_EQ(c["observed"]["cpu_percentile"], 512);
      EXPECT_EQ(c["recommended"]["requests"]["cpu"], 589);
    }
    EXPECT_GT(c["samples"].get<int>(), 100);
  }
  // --end as RFC 3339 (issue 15): the same instant in UTC and with an offset asks for the same range.
  auto rfc3339 = [](int64_t t, int offset_minutes) {
    std::time_t local = static_cast<std::time_t>(t + offset_minutes * 60);
    std::tm tm{};
    gmtime_r(&local, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (offset_minutes == 0) return std::string(buf) + "Z";
    char off[32];
    std::snprintf(off, sizeof off, "+%02d:%02d", offset_minutes / 60, offset_minutes % 60);
    return std::string(buf) + off;
  };
  for (int offset : {0, 90}) {
    auto t = RunAllot({"recommend", "--prometheus", url, "--end", rfc3339(end, offset), "--range", "2h",
                       "--step", "1m", "--format", "json"});
    ASSERT_EQ(t.exit_code, 0) << rfc3339(end, offset) << ": " << t.err;
    EXPECT_EQ(t.out, r.out) << rfc3339(end, offset);
  }
  auto bad_end = RunAllot({"recommend", "--prometheus", url, "--end", "yesterday"});
  EXPECT_EQ(bad_end.exit_code, 2);
  EXPECT_NE(bad_end.err.find("--end \"yesterday\": not a time (use RFC 3339"), std::string::npos)
      << bad_end.err;
  // A non-loopback address is refused by the client.
  auto refused = RunAllot({"recommend", "--prometheus", "http://10.1.2.3:9090", "--range", "1h"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("loopback"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace allot::testing
