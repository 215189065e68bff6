// allot renew ID [--duration D]
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

int RunRenew(const Argv& argv) {
  ArgParser p("renew", "ID [--duration D]", "Extends an allocation's lease by its TTL (or by --duration from now).");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("duration", "D", "new TTL from now (90s, 10m, 1h)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.size() != 1) return Fail("renew", "give one allocation ID");
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("renew", client.error());
  nlohmann::json body = nlohmann::json::object();
  if (args->Has("duration")) body["duration"] = args->Get("duration");
  auto r =
      client->Call("POST", "/v1/allocations/" + server::PathEscape(args->positionals[0]) + "/renew", body,
                   /*idempotent=*/true);  // a renewal sets the lease's end: repeating it is harmless
  if (!r.ok()) return Fail("renew", r.error());
  if (!r->ok()) return server::ReportApiError("renew", *r);
  if (args->Has("json")) std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else std::cout << r->body.value("id", "") << "  expires " << (r->body["expires"].is_string() ? r->body["expires"].get<std::string>() : "-") << "\n";
  return 0;
}

}  // namespace
ALLOT_COMMAND("renew", "extend an allocation's lease", RunRenew);
}  // namespace allot::cli
