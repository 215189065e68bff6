// allot release ID...
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

int RunRelease(const Argv& argv) {
  ArgParser p("release", "ID...", "Releases allocations: their capacity is free at once.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON (an array of them for several IDs)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty()) return Fail("release", "give the allocation ID");
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("release", client.error());
  int rc = 0;
  // --json: the released allocation; with several IDs, an array of those released (errors on stderr).
  nlohmann::json released = nlohmann::json::array();
  for (const auto& id : args->positionals) {
    auto r = client->Call("DELETE", "/v1/allocations/" + server::PathEscape(id));
    if (!r.ok()) return Fail("release", r.error());
    if (!r->ok()) {
      rc = std::max(rc, server::ReportApiError("release " + id, *r));
      continue;
    }
    if (args->Has("json"))
      released.push_back(r->body);
    else std::cout << id << "  " << r->body.value("state", "") << "\n";
  }
  if (args->Has("json") && !released.empty()) {
    const nlohmann::json& out = args->positionals.size() == 1 ? released[0] : released;
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return rc;
}

}  // namespace
ALLOT_COMMAND("release", "release allocations by id", RunRelease);
}  // namespace allot::cli
