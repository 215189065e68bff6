// examples/grafana/allot.json against a real Prometheus (Debian's `prometheus`) scraping a real `allot
// serve` under some load: every panel's query is valid PromQL and returns data. Skipped when prometheus is
// not installed (scripts/install-deps.sh test installs it).
#include <gtest/gtest.h>

#include <regex>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

bool Installed(const std::string& program) {
  return RunProgram({"sh", "-c", "command -v " + program}).exit_code == 0;
}

// A Prometheus on a free loopback port with a temp config and data dir, stopped by its PID.
class PrometheusProcess {
 public:
  PrometheusProcess(const TempDir& dir, const std::string& target) : dir_(dir.path()) {
    port_ = FreePort();
    config_ = dir.Write("prometheus.yml",
                        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                        "scrape_configs:\n"
                        "  - job_name: allot\n"
                        "    static_configs: [{targets: ['" +
                            target + "']}]\n");
  }
  ~PrometheusProcess() { Stop(); }

  bool Start() {
    std::vector<std::string> argv = {
        "prometheus", "--config.file=" + config_, "--storage.tsdb.path=" + dir_ + "/tsdb",
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--storage.tsdb.retention.time=1h"};
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string log = dir_ + "/prometheus.log";
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawnp(&pid_, "prometheus", &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    for (int i = 0; i < 1500; i++) {  // up to ~15 s on a loaded machine
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      auto c = net::HttpClient::Create(url(), 1000);
      if (c.ok()) {
        auto r = c->Request("GET", "/-/ready");
        if (r.ok() && r->status == 200) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // An instant query; the `data` of the answer (null when it failed).
  json Query(const std::string& promql, std::string* error) {
    auto c = net::HttpClient::Create(url(), 10000);
    if (!c.ok()) return nullptr;
    auto r = c->Request("GET", "/api/v1/query?query=" + net::PercentEncode(promql));
    if (!r.ok()) {
      *error = r.error().message;
      return nullptr;
    }
    json j = json::parse(r->body, nullptr, false);
    if (r->status != 200 || !j.is_object() || j.value("status", "") != "success") {
      *error = "HTTP " + std::to_string(r->status) + ": " + r->body;
      return nullptr;
    }
    return j["data"];
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const { return ReadFile(dir_ + "/prometheus.log"); }

 private:
  std::string dir_, config_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Every (panel title, expr) of a dashboard, rows' nested panels included.
void Collect(const json& panels, std::vector<std::pair<std::string, std::string>>* out) {
  for (const auto& p : panels) {
    if (p.contains("panels")) Collect(p["panels"], out);
    for (const auto& t : p.value("targets", json::array()))
      out->emplace_back(p.value("title", ""), t.value("expr", ""));
  }
}

// Grafana's variables as a dashboard with every server selected would expand them.
std::string Expand(std::string expr) {
  for (auto [var, value] : {std::pair{"$__rate_interval", "10s"},
                            {"$__interval", "1s"},
                            {"$__range", "1m"},
                            {"$instance", ".+"}}) {
    for (size_t at; (at = expr.find(var)) != std::string::npos;)
      expr.replace(at, std::string(var).size(), value);
  }
  return expr;
}

TEST(GrafanaTest, EveryPanelQueryReturnsDataFromARealPrometheus) {
  if (!Installed("prometheus")) GTEST_SKIP() << "prometheus is not installed (scripts/install-deps.sh test)";
  json dash = json::parse(ReadFile(SourceDir() + "/examples/grafana/allot.json"), nullptr, false);
  ASSERT_TRUE(dash.is_object()) << "examples/grafana/allot.json is not JSON";
  EXPECT_EQ(dash["uid"], "allot-overview");
  EXPECT_TRUE(dash["schemaVersion"].is_number());
  std::vector<std::pair<std::string, std::string>> queries;
  Collect(dash["panels"], &queries);
  ASSERT_GE(queries.size(), 20u);

  TempDir dir;
  std::string cfg = dir.Write("allot.yaml", R"(
history: {interval: 1s, tiers: [{step: 1s, keep: 1h}, {step: 2s, keep: 1d, nodes: true}]}
nodes:
  - {name: n1, capacity: {cpu: "4", memory: 8Gi}, pool: p1}
  - {name: n2, capacity: {cpu: "4", memory: 8Gi}}
throttling:
  ratelimits:
    api/x: {rate: 1/m, burst: 1}
)");
  ServerProcess server(dir.path() + "/data", {"--dev", "--config", cfg});
  ASSERT_TRUE(server.Start()) << server.Log();
  Api api(server.url());
  // Load: placed and queued work, a refused request, an agent's usage report, allowed and denied acquires.
  ASSERT_EQ(
      api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "4"}}}}).status,
      201);
  ASSERT_EQ(
      api.Call("POST", "/v1/allocations", json{{"tenant", "org/b"}, {"requests", {{"cpu", "4"}}}}).status,
      201);
  ASSERT_EQ(
      api.Call("POST", "/v1/allocations", json{{"tenant", "org/b"}, {"requests", {{"cpu", "2"}}}}).status,
      202);
  EXPECT_EQ(
      api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "-1"}}}}).status,
      422);
  ASSERT_EQ(
      api.Call("POST", "/v1/nodes/n1/heartbeat", json{{"usage", {{"cpu", "3"}, {"memory", "1Gi"}}}}).status,
      200);
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(api.Call("POST", "/v1/ratelimits/api/x/acquire", json::object()).status, 200);

  PrometheusProcess prom(dir, "127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(prom.Start()) << prom.Log();
  // Keep deciding while Prometheus takes a few scrapes (rates need two samples in their window).
  std::string err;
  for (int i = 0; i < 200; i++) {
    auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/c"}, {"requests", {{"cpu", "100m"}}}});
    if (a.status == 201 || a.status == 202) api.Call("DELETE", "/v1/allocations/" + a.body.value("id", ""));
    json up = prom.Query("count_over_time(up{job=\"allot\"}[10s])", &err);
    if (up.is_object() && !up["result"].empty() &&
        std::stoi(up["result"][0]["value"][1].get<std::string>()) >= 6)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  json up = prom.Query("up{job=\"allot\"}", &err);
  ASSERT_TRUE(up.is_object() && !up["result"].empty()) << err << prom.Log();
  ASSERT_EQ(up["result"][0]["value"][1], "1") << "Prometheus cannot scrape allot:\n" << prom.Log();
  for (const auto& [title, expr] : queries) {
    std::string q = Expand(expr);
    EXPECT_EQ(q.find('$'), std::string::npos) << title << ": a variable the test does not expand: " << q;
    json data = prom.Query(q, &err);
    if (!data.is_object()) {
      ADD_FAILURE() << title << ": " << q << ": " << err;
      continue;
    }
    EXPECT_FALSE(data["result"].empty()) << title << ": no data for " << q;
  }
  prom.Stop();
}

}  // namespace
}  // namespace allot::testing
