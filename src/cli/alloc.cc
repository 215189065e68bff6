// allot alloc --tenant T --cpu Q --memory Q [...]
// module: server
#include <iostream>

#include "allot/client.h"
#include "allot/clock.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

using nlohmann::json;

// "in 1m30s" from `now` to `when` (ms), "now" when due.
std::string Until(int64_t when, int64_t now) {
  int64_t s = (when - now + 999) / 1000;
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

// --wait-placed: waits until `a` (queued) is placed or ends, or `wait` passes, in long-polls of at most 5 s;
// before each one it reads the allocation again and, when its place in the queue or its estimated start
// moved, prints it (or, with --json, adds it to `waited`). Returns the last document seen.
json WaitPlaced(server::ApiClient& client, json a, const std::string& wait, bool as_json, json* waited) {
  auto total = server::ParseDurationMs(wait);
  const int64_t deadline = server::WallNowMs() + (total ? *total : 0);
  const std::string id = a.value("id", "");
  std::string last;
  for (;;) {
    auto now_doc = client.Call("GET", "/v1/allocations/" + server::PathEscape(id));
    if (now_doc.ok() && now_doc->ok()) a = now_doc->body;
    if (a.value("state", "") != "queued") return a;
    json place = {{"at", server::FormatTime(server::WallNowMs())},
                  {"position", a.value("position", json(nullptr))},
                  {"tenant_position", a.value("tenant_position", json(nullptr))},
                  {"estimated_start", a.value("estimated_start", json(nullptr))}};
    std::string key = place["position"].dump() + place["estimated_start"].dump();
    if (key != last) {
      last = key;
      if (as_json) {
        waited->push_back(place);
      } else {
        std::cout << "  waiting: position "
                  << (place["position"].is_number() ? place["position"].dump() : "?");
        if (place["tenant_position"].is_number())
          std::cout << " (" << place["tenant_position"].dump() << " in " << a.value("tenant", "") << ")";
        std::cout << ", estimated start ";
        auto start = place["estimated_start"].is_string()
                         ? server::ParseTime(place["estimated_start"].get<std::string>())
                         : std::nullopt;
        if (start)
          std::cout << place["estimated_start"].get<std::string>() << " ("
                    << Until(*start, server::WallNowMs()) << ")";
        else
          std::cout << "unknown";
        std::cout << "\n" << std::flush;
      }
    }
    int64_t left = deadline - server::WallNowMs();
    if (left <= 0) return a;
    int64_t poll = std::min<int64_t>(left, 5000);
    auto w = client.Call("GET", "/v1/allocations/" + server::PathEscape(id) +
                                    "?wait=" + std::to_string(poll) + "ms&state=queued");
    if (w.ok() && w->ok() && w->body.value("state", "") != "queued") return w->body;
  }
}

int RunAlloc(const Argv& argv) {
  ArgParser p("alloc", "[--tenant T] [--cpu Q] [--memory Q] [--gpu Q] [--request k=v,...] [options]",
              "Asks the server for an allocation. Prints its id, state and node. Exit 0 when placed or\n"
              "queued, 1 when refused, when no node could ever hold it (it stays queued, and stderr says\n"
              "why) or, with --wait-placed, when it is not placed in time.");
  p.Option("server", "URLS",
           "server, or replicas comma-separated (default $ALLOT_SERVER or http://127.0.0.1:7070)");
  p.Option("token", "TOKEN", "bearer token (default $ALLOT_TOKEN)");
  p.Flag("verbose", "say on stderr which server answered, and each redirect and retry");
  AddTlsClientOptions(p);
  p.Flag("json", "print the server's JSON");
  p.Option("tenant", "PATH", "tenant (default: the token's subtree, or \"default\")");
  p.Option("workflow", "NAME", "workflow label");
  p.Option("cpu", "Q", "cpu (cores, e.g. 2 or 500m)");
  p.Option("memory", "Q", "memory (e.g. 4Gi)");
  p.Option("gpu", "Q", "GPUs (500m = half a device)");
  p.Option("disk", "Q", "ephemeral-storage");
  p.Option("request", "k=v,...", "more requests (repeatable)");
  p.Option("limit", "k=v,...", "limits (repeatable)");
  p.Option("priority", "P", "critical, high, normal, low, background or an integer");
  p.Option("duration", "D", "lease TTL (90s, 10m, 1h); renew extends it");
  p.Option("wait", "D", "how long it may queue before it is rejected");
  p.Option("selector", "k=v", "node label that must match (repeatable)");
  p.Flag("preemptible", "may be preempted by higher-priority work");
  p.Option("count", "N", "gang of N units, all or none");
  p.Option("reservation", "ID", "use this reservation's capacity");
  p.Option(
      "idempotency-key", "KEY",
      "a retry with the same key never allocates twice (default: a random key, so that the request may be "
      "retried on another replica; --verbose prints it)");
  p.Option("wait-placed", "D",
           "if queued, wait up to D for placement, printing its queue position and estimated start as they "
           "change");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty()) return Fail("alloc", "unexpected argument \"" + args->positionals[0] + "\"");
  std::vector<std::string> reqs = args->GetAll("request");
  for (const char* k : {"cpu", "memory", "gpu", "disk"}) {
    if (args->Has(k)) reqs.push_back(std::string(k) + "=" + args->Get(k));
  }
  auto requests = server::ParseKeyValues(reqs);
  if (!requests.ok()) return Fail("alloc", requests.error());
  if (requests->empty()) return Fail("alloc", "give the requests (--cpu, --memory, --gpu, --request k=v)");
  if (args->Has("wait-placed") && !server::ParseDurationMs(args->Get("wait-placed"))) {
    return Fail("alloc", "--wait-placed: \"" + args->Get("wait-placed") + "\" is not a duration (30s, 10m)");
  }
  json body = {{"requests", *requests}};
  if (args->Has("tenant")) body["tenant"] = args->Get("tenant");
  if (args->Has("workflow")) body["workflow"] = args->Get("workflow");
  if (args->Has("limit")) {
    auto l = server::ParseKeyValues(args->GetAll("limit"));
    if (!l.ok()) return Fail("alloc", l.error());
    body["limits"] = *l;
  }
  if (args->Has("priority")) body["priority"] = args->Get("priority");
  if (args->Has("duration")) body["duration"] = args->Get("duration");
  if (args->Has("wait")) body["wait"] = args->Get("wait");
  if (args->Has("selector")) {
    auto s = server::ParseKeyValues(args->GetAll("selector"));
    if (!s.ok()) return Fail("alloc", s.error());
    body["selector"] = *s;
  }
  if (args->Has("preemptible")) body["preemptible"] = true;
  if (args->Has("count")) {
    try {
      body["count"] = std::stoi(args->Get("count"));
    } catch (...) {
      return Fail("alloc", "--count must be an integer");
    }
  }
  if (args->Has("reservation")) body["reservation"] = args->Get("reservation");
  // A key of its own per invocation: the request is then safe to repeat on another replica after a failure.
  body["idempotency_key"] =
      args->Has("idempotency-key") ? args->Get("idempotency-key") : server::NewIdempotencyKey();
  if (args->Has("verbose"))
    std::cerr << "allot: alloc: idempotency key " << body["idempotency_key"].get<std::string>() << "\n";
  auto client = server::ApiClient::Create(args->Get("server"), args->Get("token"), args->Has("verbose"),
                                          TlsClientFromArgs(*args));
  if (!client.ok()) return Fail("alloc", client.error());
  auto r = client->Call("POST", "/v1/allocations", body);
  if (!r.ok()) return Fail("alloc", r.error());
  if (r->status == 409 && r->body.is_object() && r->body.contains("id")) {
    if (args->Has("json")) std::cout << r->body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return server::ReportApiError("alloc", *r);
  }
  if (!r->ok()) return server::ReportApiError("alloc", *r);
  json a = r->body;
  json waited = json::array();
  if (a.value("state", "") == "queued" && a.value("reason_code", "") != "infeasible" && args->Has("wait-placed")) {
    if (!args->Has("json")) std::cout << a.value("id", "") << "  queued  (" << a.value("reason", "") << ")\n";
    a = WaitPlaced(*client, a, args->Get("wait-placed"), args->Has("json"), &waited);
  }
  if (args->Has("json")) {
    if (args->Has("wait-placed")) a["waited"] = waited;
    std::cout << a.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::string node = a["node"].is_string() ? a["node"].get<std::string>() : "-";
    std::cout << a.value("id", "") << "  " << a.value("state", "") << "  " << node;
    if (a["expires"].is_string()) std::cout << "  expires " << a["expires"].get<std::string>();
    if (!a.value("reason", "").empty()) std::cout << "  (" << a.value("reason", "") << ")";
    std::cout << "\n";
  }
  std::string st = a.value("state", "");
  if (st == "queued" && a.value("reason_code", "") == "infeasible") {
    // Queued (202) but no node could ever hold it: waiting would not help, so this is a "no".
    std::cerr << "allot: alloc: " << a.value("id", "") << " can never be placed on the current nodes: "
              << a.value("reason", std::string("no node could ever hold it"))
              << "; it stays queued until a node that can hold it joins (or `allot release "
              << a.value("id", "") << "`)\n";
    return 1;
  }
  if (args->Has("wait-placed")) return st == "placed" ? 0 : 1;
  return st == "placed" || st == "queued" ? 0 : 1;
}

}  // namespace
ALLOT_COMMAND("alloc", "ask the server for an allocation (placed, queued or refused)", RunAlloc);
}  // namespace allot::cli
