// allot reserve [--tenant T] --start TIME --end TIME|--duration D --cpu Q ... | reserve list | reserve delete ID
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

using nlohmann::json;

int RunReserve(const Argv& argv) {
  ArgParser p("reserve", "[--id ID] [--tenant T] [--start T] (--end T | --duration D) --cpu Q ... | list | delete ID",
              "Books capacity for a future window. Times: RFC 3339, or a duration from now (30m).");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("id", "ID", "reservation id (default: assigned)");
  p.Option("tenant", "PATH", "tenant");
  p.Option("start", "TIME", "window start (default now)");
  p.Option("end", "TIME", "window end");
  p.Option("duration", "D", "window length");
  p.Option("cpu", "Q", "cpu");
  p.Option("memory", "Q", "memory");
  p.Option("gpu", "Q", "GPUs");
  p.Option("request", "k=v,...", "more resources (repeatable)");
  p.Option("node", "NAME", "candidate node (repeatable)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("reserve", client.error());
  bool as_json = args->Has("json");
  const std::string sub = args->positionals.empty() ? "" : args->positionals[0];
  if (sub == "list") {
    auto r = client->Call("GET", "/v1/reservations");
    if (!r.ok()) return Fail("reserve list", r.error());
    if (!r->ok()) return server::ReportApiError("reserve list", *r);
    if (as_json) {
      std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"ID", "TENANT", "START", "END", "NODE", "REQUESTS", "ACTIVE"}};
    for (const auto& x : r->body["reservations"]) {
      rows.push_back({x.value("id", ""), x.value("tenant", ""), x.value("start", ""), x.value("end", ""),
                      x.value("node", ""), server::ResourcesText(x["requests"]), x.value("active", false) ? "yes" : "no"});
    }
    std::cout << server::Table(rows);
    return 0;
  }
  if (sub == "delete") {
    if (args->positionals.size() != 2) return Fail("reserve delete", "give one reservation ID");
    auto r = client->Call("DELETE", "/v1/reservations/" + server::PathEscape(args->positionals[1]));
    if (!r.ok()) return Fail("reserve delete", r.error());
    if (!r->ok()) return server::ReportApiError("reserve delete", *r);
    std::cout << (as_json ? r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) : args->positionals[1] + "  removed") << "\n";
    return 0;
  }
  if (!sub.empty()) return Fail("reserve", "unknown subcommand \"" + sub + "\" (list, delete, or options to book)");
  if (!args->Has("end") && !args->Has("duration"))
    return Fail("reserve", "give the window's --end TIME or --duration D");
  std::vector<std::string> reqs = args->GetAll("request");
  for (const char* k : {"cpu", "memory", "gpu"}) {
    if (args->Has(k)) reqs.push_back(std::string(k) + "=" + args->Get(k));
  }
  auto requests = server::ParseKeyValues(reqs);
  if (!requests.ok()) return Fail("reserve", requests.error());
  json body = {{"requests", *requests}};
  for (const char* k : {"id", "tenant", "start", "end", "duration"}) {
    if (args->Has(k)) body[k] = args->Get(k);
  }
  if (args->Has("node")) body["nodes"] = args->GetAll("node");
  auto r = client->Call("POST", "/v1/reservations", body);
  if (!r.ok()) return Fail("reserve", r.error());
  if (!r->ok()) return server::ReportApiError("reserve", *r);
  if (as_json) std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else std::cout << r->body.value("id", "") << "  " << r->body.value("node", "") << "  " << r->body.value("start", "") << " - " << r->body.value("end", "") << "\n";
  return 0;
}

}  // namespace
ALLOT_COMMAND("reserve", "book capacity for a future window; list or delete reservations", RunReserve);
}  // namespace allot::cli
