// allot top [--interval D] [--once]
// module: server
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include "cli/command.h"
#include "allot/client.h"
#include "allot/clock.h"

namespace allot::cli {
namespace {

using nlohmann::json;

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal = sig; }

// While a live view runs on a terminal: stdin without line buffering or echo, so a single `q` quits;
// SIGINT/SIGTERM only set a flag (the wait below wakes up), so every way out restores the terminal.
class KeyReader {
 public:
  KeyReader() {
    if (isatty(0) == 0 || tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(0, TCSANOW, &raw) == 0;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~KeyReader() {
    if (!active_) return;
    tcsetattr(0, TCSANOW, &saved_);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  KeyReader(const KeyReader&) = delete;
  KeyReader& operator=(const KeyReader&) = delete;
  bool active() const { return active_; }

  // Waits up to `ms`; true when the user asked to quit (q, Q, or a signal), false at the timeout.
  bool WaitForQuit(int64_t ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      if (g_signal != 0) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return false;
      if (!active_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 100)));
        continue;
      }
      pollfd p{0, POLLIN, 0};
      int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (n < 0 && errno != EINTR) return false;
      if (n <= 0) continue;
      char buf[64];
      ssize_t got = read(0, buf, sizeof buf);
      if (got == 0) active_ = false;  // the terminal went away: wait the old way
      for (ssize_t i = 0; i < got; i++) {
        if (buf[i] == 'q' || buf[i] == 'Q') return true;
      }
    }
  }

 private:
  termios saved_{};
  struct sigaction old_int_ {}, old_term_ {};
  bool active_ = false;
};

int RunTop(const Argv& argv) {
  ArgParser p("top", "[--interval 2s] [--once]",
              "Live view of nodes and allocations, refreshed until q (on a terminal) or Ctrl-C.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print one frame as JSON ({utilization, nodes, allocations}) and exit");
  p.Flag("once", "print one frame and exit");
  p.Option("interval", "D", "refresh interval: 2s (default), 500ms, 1m; a plain number is seconds");
  p.Option("tenant", "PATH", "only this tenant subtree's allocations");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty()) return Fail("top", "unexpected argument \"" + args->positionals[0] + "\"");
  auto interval = ParseDurationFlag("interval", args->Get("interval", "2s"), 1000, 100);
  if (!interval.ok()) return Fail("top", interval.error());
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("top", client.error());
  bool once = args->Has("once") || args->Has("json");
  bool tty = isatty(1) != 0;
  std::optional<KeyReader> keys;
  if (!once) keys.emplace();
  for (;;) {
    auto u = client->Call("GET", "/v1/utilization");
    if (!u.ok()) return Fail("top", u.error());
    if (!u->ok()) return server::ReportApiError("top", *u);
    auto n = client->Call("GET", "/v1/nodes");
    if (!n.ok()) return Fail("top", n.error());
    if (!n->ok()) return server::ReportApiError("top", *n);
    std::string q = "/v1/allocations?limit=20&state=placed";
    if (args->Has("tenant")) q += "&tenant=" + server::PathEscape(args->Get("tenant"));
    auto a = client->Call("GET", q);
    if (!a.ok()) return Fail("top", a.error());
    if (!a->ok()) return server::ReportApiError("top", *a);
    if (args->Has("json")) {
      std::cout << json{{"utilization", u->body}, {"nodes", n->body["nodes"]}, {"allocations", a->body["allocations"]}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return 0;
    }
    std::string frame;
    if (!once && tty) frame += "\x1b[H\x1b[2J";
    const json& uj = u->body;
    frame += "allot top — " + server::FormatTime(server::WallNowMs()) + "   nodes " +
             std::to_string(uj["nodes"].value("up", 0)) + "/" + std::to_string(uj["nodes"].value("total", 0)) +
             " up   placed " + std::to_string(uj["allocations"].value("placed", 0)) + "   queued " +
             std::to_string(uj["allocations"].value("queued", 0)) +
             (keys && keys->active() ? "   (q to quit)" : "") + "\n\n";
    std::vector<std::vector<std::string>> rows = {{"NODE", "STATE", "CPU", "MEMORY", "GPU", "ALLOCS"}};
    for (const auto& nd : n->body["nodes"]) {
      auto pct = [&](const char* res) -> std::string {
        int64_t cap = nd["capacity"].value(res, int64_t{0});
        if (cap == 0) return "-";
        int64_t used = nd["allocated"].value(res, int64_t{0});
        return std::to_string(used * 100 / cap) + "%";
      };
      rows.push_back({nd.value("name", ""), nd.value("state", ""), pct("cpu"), pct("memory"), pct("gpu"),
                      std::to_string(nd.value("allocations", 0))});
    }
    frame += server::Table(rows) + "\n";
    std::vector<std::vector<std::string>> arows = {{"ALLOCATION", "TENANT", "NODE", "REQUESTS", "EXPIRES"}};
    for (const auto& al : a->body["allocations"]) {
      arows.push_back({al.value("id", ""), al.value("tenant", ""), al["node"].is_string() ? al["node"].get<std::string>() : "-",
                       server::ResourcesText(al["requests"]), al["expires"].is_string() ? al["expires"].get<std::string>() : "-"});
    }
    frame += server::Table(arows);
    std::cout << frame << std::flush;
    if (once) return 0;
    if (keys->WaitForQuit(*interval)) return g_signal != 0 ? 128 + g_signal.load() : 0;
  }
}

}  // namespace
ALLOT_COMMAND("top", "live view of nodes and allocations (refreshing; --once for one frame)", RunTop);
}  // namespace allot::cli
