// allot quota set TENANT [--max k=v,...] [--guaranteed k=v,...] ... | quota get TENANT | quota list
// module: server
#include <iostream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

using nlohmann::json;

int RunQuota(const Argv& argv) {
  ArgParser p("quota", "set TENANT [--guaranteed k=v,...] [--max k=v,...] [--weight W] [--burst B] [--grace D] | get TENANT | list",
              "Sets or shows a tenant's quota and usage.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("guaranteed", "k=v,...", "set: guaranteed resources");
  p.Option("max", "k=v,...", "set: maximum resources");
  p.Option("lending-limit", "k=v,...", "set: how much of the guarantee others may borrow");
  p.Option("weight", "W", "set: fair-share weight");
  p.Option("burst", "B", "set: may go to B x max ...");
  p.Option("grace", "D", "set: ... for at most D");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty()) return Fail("quota", "missing subcommand (set, get, list)");
  const std::string sub = args->positionals[0];
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("quota", client.error());
  Result<server::ApiResult> r = Error{};
  if (sub == "list") {
    r = client->Call("GET", "/v1/quotas");
  } else if (sub == "get" || sub == "set") {
    if (args->positionals.size() != 2) return Fail("quota " + sub, "give one TENANT");
    std::string path = "/v1/quotas/" + server::PathEscape(args->positionals[1]);
    if (sub == "get") {
      r = client->Call("GET", path);
    } else {
      json body = json::object();
      for (const auto& [flag, key] : {std::pair<const char*, const char*>{"guaranteed", "guaranteed"}, {"max", "max"},
                                      {"lending-limit", "lending_limit"}}) {
        if (!args->Has(flag)) continue;
        auto kv = server::ParseKeyValues(args->GetAll(flag));
        if (!kv.ok()) return Fail("quota set", kv.error());
        body[key] = *kv;
      }
      try {
        if (args->Has("weight")) body["weight"] = std::stod(args->Get("weight"));
        if (args->Has("burst")) body["burst"] = std::stod(args->Get("burst"));
      } catch (...) {
        return Fail("quota set", "--weight and --burst take numbers");
      }
      if (args->Has("grace")) body["grace"] = args->Get("grace");
      r = client->Call("PUT", path, body);
    }
  } else {
    return Fail("quota", "unknown subcommand \"" + sub + "\" (set, get, list)");
  }
  if (!r.ok()) return Fail("quota " + sub, r.error());
  if (!r->ok()) return server::ReportApiError("quota " + sub, *r);
  if (args->Has("json")) {
    std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"TENANT", "GUARANTEED", "MAX", "USED", "RUNNING", "QUEUED"}};
  auto row = [&](const json& q) {
    rows.push_back({q.value("tenant", ""), server::ResourcesText(q.value("guaranteed", json())),
                    server::ResourcesText(q.value("max", json())), server::ResourcesText(q.value("used", json())),
                    std::to_string(q.value("running", 0)), std::to_string(q.value("queued", 0))});
  };
  if (sub == "list") {
    for (const auto& q : r->body["quotas"]) row(q);
  } else {
    row(r->body);
  }
  std::cout << server::Table(rows);
  return 0;
}

}  // namespace
ALLOT_COMMAND("quota", "set or show tenant quotas and usage", RunQuota);
}  // namespace allot::cli
