// allot top [--interval D] [--once]
// module: server
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/command.h"
#include "allot/client.h"
#include "allot/clock.h"

namespace allot::cli {
namespace {

using nlohmann::json;

int RunTop(const Argv& argv) {
  ArgParser p("top", "[--interval 2s] [--once]", "Live view of nodes and allocations, refreshed until interrupted.");
  p.Option("server", "URL", "server (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("json", "print one frame as JSON ({utilization, nodes, allocations}) and exit");
  p.Flag("once", "print one frame and exit");
  p.Option("interval", "D", "refresh interval (default 2s)");
  p.Option("tenant", "PATH", "only this tenant subtree's allocations");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  auto interval = server::ParseDurationMs(args->Get("interval", "2s"));
  if (!interval || *interval < 100) return Fail("top", "--interval must be a duration of at least 100ms");
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"));
  if (!client.ok()) return Fail("top", client.error());
  bool once = args->Has("once") || args->Has("json");
  bool tty = isatty(1) != 0;
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
             std::to_string(uj["allocations"].value("queued", 0)) + "\n\n";
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
    std::this_thread::sleep_for(std::chrono::milliseconds(*interval));
  }
}

}  // namespace
ALLOT_COMMAND("top", "live view of nodes and allocations (refreshing; --once for one frame)", RunTop);
}  // namespace allot::cli
