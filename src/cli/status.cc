// allot status
// module: server
#include <iostream>

#include "cli/command.h"
#include "server/client.h"

namespace allot::cli {
namespace {

using nlohmann::json;

int RunStatus(const Argv& argv) {
  ArgParser p("status", "[--json]", "Cluster summary: nodes, capacity, allocated, free, allocations, queue.");
  p.Option("server", "URL", "server (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("json", "print the server's JSON");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"));
  if (!client.ok()) return Fail("status", client.error());
  auto r = client->Call("GET", "/v1/utilization");
  if (!r.ok()) return Fail("status", r.error());
  if (!r->ok()) return server::ReportApiError("status", *r);
  const json& u = r->body;
  if (args->Has("json")) {
    std::cout << u.dump(2) << "\n";
    return 0;
  }
  const json& n = u["nodes"];
  std::cout << "nodes: " << n.value("total", 0) << " (" << n.value("up", 0) << " up, " << n.value("draining", 0)
            << " draining, " << n.value("down", 0) << " down)\n";
  std::cout << "allocations: " << u["allocations"].value("placed", 0) << " placed, "
            << u["allocations"].value("queued", 0) << " queued\n\n";
  std::vector<std::vector<std::string>> rows = {{"RESOURCE", "CAPACITY", "ALLOCATED", "FREE", "USED%"}};
  for (auto it = u["capacity"].begin(); it != u["capacity"].end(); ++it) {
    if (it.key() == "gpu_milli") continue;
    const std::string& k = it.key();
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", u["utilization_percent"].value(k, 0.0));
    rows.push_back({k, server::Human(k, *it), server::Human(k, u["allocated"].value(k, json(0))),
                    server::Human(k, u["free"].value(k, json(0))), pct});
  }
  std::cout << server::Table(rows);
  return 0;
}

}  // namespace
ALLOT_COMMAND("status", "cluster summary from the server", RunStatus);
}  // namespace allot::cli
