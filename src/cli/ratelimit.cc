// allot ratelimit define KEY --rate 5/m [--burst B] | acquire KEY [--n N] [--tenant T] | get KEY | delete KEY | list
// module: server
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "allot/client.h"

namespace allot::cli {
namespace {

using nlohmann::json;

std::string Secs(const json& v) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(3) << (v.is_number() ? v.get<double>() : 0.0) << "s";
  return o.str();
}

int RunRateLimit(const Argv& argv) {
  ArgParser p("ratelimit",
              "define KEY (--rate R [--burst B] | --quota Q [--time-zone Z] | --body JSON) | acquire KEY [--n N] "
              "[--tenant T] [--agent A] | get KEY [--tenant T] | delete KEY | list",
              "Defines, uses and inspects the server's rate limits (keys may contain '/', e.g. api/openai).\n"
              "acquire exits 0 when allowed, 1 when denied (retry after the printed time), 2 when the request\n"
              "can never be allowed (n above the burst) or is invalid.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("rate", "R", "define: units per period: 5/s, 100/m, 1000/h, 20/d, 100/10s");
  p.Option("burst", "B", "define: units available at once (default: the rate's count)");
  p.Option("quota", "Q", "define: a calendar quota of Q units per local day instead of a rate");
  p.Option("time-zone", "ZONE", "define: the quota's time zone (IANA name, default UTC)");
  p.Option("body", "JSON", "define: the whole definition, e.g. '{\"levels\": [...]}'");
  p.Option("n", "N", "acquire: units to take (default 1)");
  p.Option("tenant", "PATH", "acquire/get: the tenant (org/team/agent)");
  p.Option("agent", "NAME", "acquire/get: the agent");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty()) return Fail("ratelimit", "missing subcommand (define, acquire, get, delete, list)");
  const std::string sub = args->positionals[0];
  const bool needs_key = sub != "list";
  if (needs_key && args->positionals.size() != 2) return Fail("ratelimit " + sub, "give one KEY");
  if (!needs_key && args->positionals.size() != 1) return Fail("ratelimit list", "takes no KEY");
  const std::string path = needs_key ? "/v1/ratelimits/" + server::PathEscape(args->positionals[1]) : "/v1/ratelimits";
  json body;
  std::string method = "GET", target = path;
  if (sub == "define") {
    method = "PUT";
    if (args->Has("body")) {
      body = json::parse(args->Get("body"), nullptr, false);
      if (body.is_discarded() || !body.is_object()) return Fail("ratelimit define", "--body: not a JSON object");
    } else if (args->Has("rate")) {
      body = {{"rate", args->Get("rate")}};
      if (args->Has("burst")) {
        try {
          size_t used = 0;
          long long b = std::stoll(args->Get("burst"), &used);
          if (used != args->Get("burst").size()) throw std::invalid_argument("burst");
          body["burst"] = b;
        } catch (...) {
          return Fail("ratelimit define", "--burst: want an integer, got \"" + args->Get("burst") + "\"");
        }
      }
    } else if (args->Has("quota")) {
      try {
        size_t used = 0;
        long long q = std::stoll(args->Get("quota"), &used);
        if (used != args->Get("quota").size()) throw std::invalid_argument("quota");
        body = {{"quota", q}, {"per", "day"}};
      } catch (...) {
        return Fail("ratelimit define", "--quota: want an integer, got \"" + args->Get("quota") + "\"");
      }
      if (args->Has("time-zone")) body["time_zone"] = args->Get("time-zone");
    } else {
      return Fail("ratelimit define", "give --rate, --quota or --body");
    }
  } else if (sub == "acquire") {
    method = "POST";
    target = path + "/acquire";
    body = json::object();
    if (args->Has("n")) {
      try {
        size_t used = 0;
        long long n = std::stoll(args->Get("n"), &used);
        if (used != args->Get("n").size()) throw std::invalid_argument("n");
        body["n"] = n;
      } catch (...) {
        return Fail("ratelimit acquire", "--n: want an integer, got \"" + args->Get("n") + "\"");
      }
    }
    if (args->Has("tenant")) body["tenant"] = args->Get("tenant");
    if (args->Has("agent")) body["agent"] = args->Get("agent");
  } else if (sub == "get") {
    std::string q;
    if (args->Has("tenant")) q += "tenant=" + net::PercentEncode(args->Get("tenant"));
    if (args->Has("agent")) q += std::string(q.empty() ? "" : "&") + "agent=" + net::PercentEncode(args->Get("agent"));
    if (!q.empty()) target += "?" + q;
  } else if (sub == "delete") {
    method = "DELETE";
  } else if (sub != "list") {
    return Fail("ratelimit", "unknown subcommand \"" + sub + "\" (define, acquire, get, delete, list)");
  }
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("ratelimit", client.error());
  auto r = client->Call(method, target, body);
  if (!r.ok()) return Fail("ratelimit " + sub, r.error());
  if (!r->ok()) {
    if (args->Has("json")) std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return server::ReportApiError("ratelimit " + sub, *r);
  }
  const json& b = r->body;
  if (args->Has("json")) {
    std::cout << b.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (sub == "acquire") {
    if (b.value("allowed", false)) {
      std::cout << "allowed (remaining " << b.value("remaining", 0) << ")\n";
    } else {
      std::cout << "denied: " << b.value("reason", std::string("rate limit")) << "; retry after "
                << Secs(b.value("retry_after", json(0))) << "\n";
    }
  } else if (sub == "list") {
    for (const auto& k : b.value("keys", json::array())) std::cout << k.get<std::string>() << "\n";
  } else if (sub == "delete") {
    std::cout << "deleted " << args->positionals[1] << "\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"KEY", "SCOPE", "LIMIT", "BURST"}};
    for (const auto& l : b.value("levels", json::array())) {
      std::string scope = l.value("scope", "");
      if (l.contains("subtree")) scope += " " + l["subtree"].get<std::string>();
      std::string limit = l.contains("quota") ? std::to_string(l["quota"].get<int64_t>()) + "/day " + l.value("time_zone", "UTC")
                                              : l.value("rate", "");
      rows.push_back({b.value("key", ""), scope, limit, l.contains("burst") ? std::to_string(l["burst"].get<int64_t>()) : "-"});
    }
    std::cout << server::Table(rows);
    if (b.contains("remaining")) {
      std::cout << "remaining " << b["remaining"].get<int64_t>() << ", full again in " << Secs(b.value("reset_after", json(0)))
                << "\n";
    }
  }
  if (sub == "acquire" && !b.value("allowed", false)) return 1;
  return 0;
}

}  // namespace
ALLOT_COMMAND("ratelimit", "define, acquire, inspect and delete rate limits on a server", RunRateLimit);
}  // namespace allot::cli
