// allot queue [--tenant T] [--limit N] [--offset N] [--json]: the queued requests in scheduling order, with
// their positions and estimated starts (`squeue --start`).
// module: server
#include <iostream>

#include "allot/client.h"
#include "allot/clock.h"
#include "allot/resources.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

// "in 1m30s" from the server's `now` to `when` (both RFC 3339), "now" when due, "-" when unknown.
std::string Eta(const nlohmann::json& when, const std::string& now) {
  if (!when.is_string()) return "-";
  auto t = server::ParseTime(when.get<std::string>());
  auto n = server::ParseTime(now);
  if (!t || !n) return when.get<std::string>();
  int64_t s = (*t - *n + 999) / 1000;
  if (s <= 0) return "now";
  std::string out = "in ";
  for (auto [unit, secs] : {std::pair{"d", int64_t{86400}}, {"h", int64_t{3600}}, {"m", int64_t{60}}}) {
    if (s >= secs) {
      out += std::to_string(s / secs) + unit;
      s %= secs;
    }
  }
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

int RunQueue(const Argv& argv) {
  ArgParser p("queue", "[--tenant T] [--limit N] [--offset N] [--json]",
              "Queued requests in the order the scheduler looks at them: position overall and in the tenant,\n"
              "and when each is expected to start (from the leases that will end; - when unknown).");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("tenant", "PATH", "only requests of this tenant subtree");
  p.Option("limit", "N", "at most N requests (default 100)");
  p.Option("offset", "N", "skip the first N matching requests");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty()) return Fail("queue", "unexpected argument \"" + args->positionals[0] + "\"");
  std::string q = "/v1/queue?limit=" + server::PathEscape(args->Get("limit", "100"));
  for (const char* k : {"tenant", "offset"}) {
    if (args->Has(k)) q += std::string("&") + k + "=" + server::PathEscape(args->Get(k));
  }
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("queue", client.error());
  auto r = client->Call("GET", q);
  if (!r.ok()) return Fail("queue", r.error());
  if (!r->ok()) return server::ReportApiError("queue", *r);
  if (args->Has("json")) {
    std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  const std::string now = r->body.value("now", "");
  std::vector<std::vector<std::string>> rows = {
      {"POS", "TENANT POS", "ID", "TENANT", "PRIORITY", "REQUESTS", "SUBMITTED", "START", "REASON"}};
  for (const auto& a : r->body["queue"]) {
    rows.push_back({std::to_string(a.value("position", 0)), std::to_string(a.value("tenant_position", 0)),
                    a.value("id", ""), a.value("tenant", ""), PriorityName(a.value("priority", 2)),
                    server::ResourcesText(a["requests"]), a.value("submitted", ""), Eta(a["estimated_start"], now),
                    a.value("reason", "")});
  }
  std::cout << server::Table(rows);
  int64_t count = r->body.value("count", 0);
  if (count > static_cast<int64_t>(rows.size() - 1)) {
    std::cout << "(" << rows.size() - 1 << " of " << count << " queued; --offset and --limit page through them)\n";
  }
  return 0;
}

}  // namespace
ALLOT_COMMAND("queue", "queued requests: positions and estimated start times", RunQueue);
}  // namespace allot::cli
