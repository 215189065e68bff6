// allot history [--tenant T] [--since 24h] [--id ID] [--limit N]
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

int RunHistory(const Argv& argv) {
  ArgParser p("history", "[--tenant T] [--since 24h] [--id ID] [--limit N]",
              "The audit log: who changed what, when and why.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("tenant", "PATH", "only events of this tenant subtree");
  p.Option("since", "WHEN", "a duration back from now (24h), an RFC 3339 time, or a sequence number");
  p.Option("id", "ID", "only events about this allocation, node or reservation");
  p.Option("limit", "N", "at most N events (default 1000)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty()) return Fail("history", "unexpected argument \"" + args->positionals[0] + "\"");
  std::string q = "/v1/events?limit=" + server::PathEscape(args->Get("limit", "1000"));
  for (const char* k : {"tenant", "since", "id"}) {
    if (args->Has(k)) q += std::string("&") + k + "=" + server::PathEscape(args->Get(k));
  }
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("history", client.error());
  auto r = client->Call("GET", q);
  if (!r.ok()) return Fail("history", r.error());
  if (!r->ok()) return server::ReportApiError("history", *r);
  if (args->Has("json")) {
    std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"SEQ", "TIME", "EVENT", "ID", "TENANT", "NODE", "ACTOR", "REASON"}};
  for (const auto& e : r->body["events"]) {
    rows.push_back({std::to_string(e.value("seq", 0)), e.value("at", ""), e.value("type", ""), e.value("id", ""),
                    e.value("tenant", ""), e.value("node", ""), e.value("actor", ""), e.value("reason", "")});
  }
  std::cout << server::Table(rows);
  return 0;
}

}  // namespace
ALLOT_COMMAND("history", "the audit log of changes (who, what, when, why)", RunHistory);
}  // namespace allot::cli
