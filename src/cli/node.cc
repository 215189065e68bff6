// allot node add|list|drain|remove
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

using nlohmann::json;

int RunNode(const Argv& argv) {
  ArgParser p("node", "add NAME [--cpu Q] [--memory Q] [--gpu Q] [--capacity k=v,...] [--label k=v] | list | drain NAME | remove NAME",
              "Registers, lists, drains and removes nodes on the server.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("cpu", "Q", "add: cpu capacity (cores, e.g. 8 or 7500m)");
  p.Option("memory", "Q", "add: memory capacity (e.g. 32Gi)");
  p.Option("gpu", "Q", "add: GPU devices");
  p.Option("disk", "Q", "add: ephemeral-storage capacity");
  p.Option("capacity", "k=v,...", "add: more capacity (repeatable)");
  p.Option("label", "k=v", "add: node label (repeatable)");
  p.Option("pool", "NAME", "add: pool");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty()) return Fail("node", "missing subcommand (add, list, drain, remove)");
  const std::string sub = args->positionals[0];
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("node", client.error());
  bool as_json = args->Has("json");
  Result<server::ApiResult> r = Error{};
  if (sub == "list") {
    r = client->Call("GET", "/v1/nodes");
    if (!r.ok()) return Fail("node list", r.error());
    if (!r->ok()) return server::ReportApiError("node list", *r);
    if (as_json) {
      std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "STATE", "CAPACITY", "ALLOCATED", "FREE", "ALLOCS"}};
    for (const auto& n : r->body["nodes"]) {
      rows.push_back({n.value("name", ""), n.value("state", ""), server::ResourcesText(n["capacity"]),
                      server::ResourcesText(n["allocated"]), server::ResourcesText(n["free"]),
                      std::to_string(n.value("allocations", 0))});
    }
    std::cout << server::Table(rows);
    return 0;
  }
  if (args->positionals.size() != 2) return Fail("node " + sub, "expected one node NAME");
  const std::string name = args->positionals[1];
  if (sub == "add") {
    std::vector<std::string> caps = args->GetAll("capacity");
    for (const char* k : {"cpu", "memory", "gpu", "disk"}) {
      if (args->Has(k)) caps.push_back(std::string(k) + "=" + args->Get(k));
    }
    auto cap = server::ParseKeyValues(caps);
    if (!cap.ok()) return Fail("node add", cap.error());
    auto labels = server::ParseKeyValues(args->GetAll("label"));
    if (!labels.ok()) return Fail("node add", labels.error());
    if (cap->empty()) return Fail("node add", "give the capacity (--cpu, --memory, --gpu, --capacity k=v)");
    json body = {{"name", name}, {"capacity", *cap}, {"labels", *labels}};
    if (args->Has("pool")) body["pool"] = args->Get("pool");
    r = client->Call("POST", "/v1/nodes", body,
                     /*idempotent=*/true);  // registration replaces the node's spec
  } else if (sub == "drain") {
    r = client->Call("POST", "/v1/nodes/" + server::PathEscape(name) + "/drain", nullptr,
                     /*idempotent=*/true);
  } else if (sub == "remove") {
    r = client->Call("DELETE", "/v1/nodes/" + server::PathEscape(name));
  } else {
    return Fail("node", "unknown subcommand \"" + sub + "\" (add, list, drain, remove)");
  }
  if (!r.ok()) return Fail("node " + sub, r.error());
  if (!r->ok()) return server::ReportApiError("node " + sub, *r);
  if (as_json) std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else std::cout << "node " << name << ": " << (sub == "add" ? "registered" : sub == "drain" ? "draining" : "removed") << "\n";
  return 0;
}

}  // namespace
ALLOT_COMMAND("node", "register, list, drain or remove nodes on the server", RunNode);
}  // namespace allot::cli
