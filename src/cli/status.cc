// allot status
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

using nlohmann::json;

int RunStatus(const Argv& argv) {
  ArgParser p("status", "[--json]",
              "Cluster summary: nodes, capacity, allocated, observed, free, allocations, queue, degradation level,\n"
              "and elastic pools with their desired node counts and demand forecast (Holt's linear trend).");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty())
    return Fail("status", "unexpected argument \"" + args->positionals[0] + "\"");
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("status", client.error());
  auto r = client->Call("GET", "/v1/utilization");
  if (!r.ok()) return Fail("status", r.error());
  if (!r->ok()) return server::ReportApiError("status", *r);
  json u = r->body;
  auto pools = client->Call("GET", "/v1/nodepools");  // older servers have none: the summary goes on without
  json pool_list = pools.ok() && pools->ok() ? pools->body.value("pools", json::array()) : json::array();
  if (args->Has("json")) {
    u["pools"] = pool_list;
    std::cout << u.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  const json& n = u["nodes"];
  std::cout << "nodes: " << n.value("total", 0) << " (" << n.value("up", 0) << " up, " << n.value("draining", 0)
            << " draining, " << n.value("down", 0) << " down)\n";
  std::cout << "allocations: " << u["allocations"].value("placed", 0) << " placed, "
            << u["allocations"].value("queued", 0) << " queued\n\n";
  if (u.contains("degradation") && u["degradation"].is_object()) {
    const json& d = u["degradation"];
    std::cout << "degradation: level " << d.value("level", 0) << " (" << d.value("name", std::string("normal"))
              << "), scale factor " << d.value("scale_factor", 1.0);
    if (!d.value("worst", std::string()).empty()) {
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.1f", d.value("worst_percent", 0.0));
      std::cout << "; worst " << d.value("worst", std::string()) << " at " << pct << " %";
    }
    std::cout << "\n";
  }
  std::cout << "\n";
  bool observed = u.contains("observed") && u["observed"].is_object() && !u["observed"].empty();
  std::vector<std::string> head = {"RESOURCE", "CAPACITY", "ALLOCATED", "FREE", "USED%"};
  if (observed) {
    head.push_back("OBSERVED");
    head.push_back("OBS%");
  }
  std::vector<std::vector<std::string>> rows = {head};
  for (auto it = u["capacity"].begin(); it != u["capacity"].end(); ++it) {
    if (it.key() == "gpu_milli") continue;
    const std::string& k = it.key();
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", u["utilization_percent"].value(k, 0.0));
    std::vector<std::string> row = {k, server::Human(k, *it), server::Human(k, u["allocated"].value(k, json(0))),
                                    server::Human(k, u["free"].value(k, json(0))), pct};
    if (observed) {
      bool has = u["observed"].contains(k);
      char opct[32] = "-";
      if (u["observed_percent"].contains(k)) std::snprintf(opct, sizeof opct, "%.1f", u["observed_percent"].value(k, 0.0));
      row.push_back(has ? server::Human(k, u["observed"][k]) : "-");
      row.push_back(opct);
    }
    rows.push_back(std::move(row));
  }
  std::cout << server::Table(rows);
  if (!pool_list.empty()) {
    // Forecast: demand (allocated or observed, plus queued) by Holt's linear trend, at the horizon.
    std::vector<std::vector<std::string>> prow = {
        {"POOL", "NODES", "DESIRED", "MIN-MAX", "UTIL%", "QUEUED", "FORECAST", "NODES@FORECAST", "REASON"}};
    for (const auto& pl : pool_list) {
      const std::string res = pl.value("resource", std::string("cpu"));
      char util[32];
      std::snprintf(util, sizeof util, "%.1f", pl.value("utilization", 0.0) * 100);
      std::string fc = "-", fn = "-";
      if (pl.contains("forecast") && pl["forecast"].is_object() && !pl["forecast"]["demand"].empty()) {
        const json& f = pl["forecast"];
        char steps[64];
        std::snprintf(steps, sizeof steps, " in %gs", f.value("step_seconds", 0.0) * static_cast<double>(f["demand"].size()));
        fc = server::Human(res, f["demand"].back()) + steps;
        if (!f["nodes_needed"].back().is_null()) fn = std::to_string(f["nodes_needed"].back().get<int64_t>());
      }
      prow.push_back({pl.value("name", std::string()), std::to_string(pl.value("nodes", 0)),
                      std::to_string(pl.value("desired", 0)),
                      std::to_string(pl.value("min_nodes", 0)) + "-" + std::to_string(pl.value("max_nodes", 0)), util,
                      server::Human(res, pl.value("queued_demand", json(0))), fc, fn, pl.value("reason", std::string())});
    }
    std::cout << "\n" << server::Table(prow);
  }
  return 0;
}

}  // namespace
ALLOT_COMMAND("status", "cluster summary from the server", RunStatus);
}  // namespace allot::cli
