// A mutation pass over the whole HTTP API against a real `allot serve` (issue 13, item 4): every JSON body
// field, path parameter, query parameter, method and the Authorization header is replaced in turn by text
// that is not UTF-8, NUL and other control characters, lone surrogates, 100 KB strings, huge and negative
// numbers and values of the wrong type. After every request:
//   - the server is still running and answered (no status 0, never 5xx);
//   - an answer of 400 or more has the error body {"error": {"code", "message", "field"?}};
//   - what is invalid by construction (bad text, wrong type, out of range) is refused with a 4xx;
//   - a refused request changed nothing: nodes, allocations, reservations, quotas, rate limits, pools
//     and breakers read the same as before it (fields that move with the clock aside).
// Mutations that may be valid (null, 0, a plain name) only have to be answered; when one is accepted the
// state it made becomes the new reference. Problems are collected and reported together per route group.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

constexpr const char* kConfig = R"(
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token}
    - {name: viewer, role: reader, token: reader-token}
    - {name: team-a, role: writer, tenant: org/a, token: writer-token}
    - {name: agent-1, role: agent, token: agent-token}
nodes: [{name: n1, capacity: {cpu: "64", memory: 256Gi}, labels: {zone: a}}]
heartbeat_timeout: 1h
throttling:
  ratelimits:
    api/x: {rate: 1000/s, burst: 100000}
  pools:
    db/x: {capacity: 100000, ttl: 1h, max_ttl: 2h}
  breakers:
    keys:
      svc/x: {window: 1h, consecutive_failures: 100000, min_requests: 100000}
)";

// Printable form of bytes for failure messages.
std::string Show(const std::string& s, size_t max = 160) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return s.size() > max ? out + "...(" + std::to_string(s.size()) + " bytes)" : out;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// What a mutation must get: kRefused a 4xx; kAnswered any answer that is not 5xx.
enum class Expect { kRefused, kAnswered };

struct Mutation {
  std::string text;  // raw JSON text (a value, a body) or raw URL text (a path or query value)
  Expect expect;
};

// The kind of a JSON field decides which replacements are of the wrong type.
enum class Kind {
  kString,    // free text or a name
  kLoose,     // a name in a body read as YAML, where a number or a bool is read as its text
  kTenant,    // a tenant path: segments of letters, digits, '-', '_', '.', never "." or ".."
  kEnum,      // one of a few words
  kInt,       // an integer
  kNumber,    // any number in a range
  kDuration,  // seconds or "90s"
  kTime,      // RFC 3339, Unix seconds or "+1h"
  kPriority,  // a name or an integer
  kBool,
  kMap,     // an object with free keys (resources, labels, tenant limits)
  kObject,  // an object with fixed keys
  kList,
  kLease,     // a lease id
  kQuantity,  // a resource quantity: "100m", "1Gi" or a number
};

const std::string k100KB(100'000, 'a');

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// Strings that are never valid text: not UTF-8, NUL, control characters, lone surrogates; and 100 KB
// strings, which no field takes.
std::vector<std::string> BadStrings() {
  std::string umlauts;
  for (int i = 0; i < 50'000; i++) umlauts += "\xc3\xa4";
  return {Quoted("\xff"),    Quoted("a\xc3"),     Quoted("\xed\xa0\x80"), Quoted("\xc0\xaf"),
          Quoted("\\u0000"), Quoted("a\\u0000b"), Quoted("\\u001b"),      Quoted("\\ud800"),
          Quoted(k100KB),    Quoted(umlauts)};
}

// Every replacement of a field of kind `k`, with what it must get.
std::vector<Mutation> ValueMutations(Kind k) {
  std::vector<Mutation> out;
  for (const auto& s : BadStrings()) out.push_back({s, Expect::kRefused});
  const bool numeric = k == Kind::kInt || k == Kind::kNumber || k == Kind::kDuration ||
                       k == Kind::kPriority || k == Kind::kQuantity;
  // Numbers: out of every range, negative, not integers.
  for (const char* n : {"1e308", "-1e308", "9223372036854775808", "-9223372036854775809",
                        "18446744073709551616", "1e309", "-1", "-5", "-0.5"}) {
    // 1e309 is no JSON number (it overflows a double); a time may be any Unix second, and a YAML-read name
    // takes a number as its text.
    bool refused = std::string(n) == "1e309" || (k != Kind::kTime && k != Kind::kLoose);
    if (k == Kind::kLease && std::string(n) == "9223372036854775808") refused = true;  // no such lease
    out.push_back({n, refused ? Expect::kRefused : Expect::kAnswered});
  }
  // Numbers that may be in range: only for numeric kinds (and a time, in Unix seconds).
  for (const char* n : {"0", "1", "1.5"}) {
    bool refused = !(numeric || k == Kind::kTime || k == Kind::kLease || k == Kind::kLoose);
    if (std::string(n) == "1.5" && (k == Kind::kInt || k == Kind::kPriority || k == Kind::kLease))
      refused = true;
    // A duration of 1 s or 1.5 s would end during the pass; the clock is not what this test is about.
    if (k == Kind::kDuration && std::string(n) != "0") continue;
    out.push_back({n, refused ? Expect::kRefused : Expect::kAnswered});
  }
  if (k == Kind::kDuration) out.push_back({"3600", Expect::kAnswered});
  // Other types.
  auto refused_unless = [&](bool ok) { return ok ? Expect::kAnswered : Expect::kRefused; };
  out.push_back({"[]", refused_unless(k == Kind::kList)});
  out.push_back({"{}", refused_unless(k == Kind::kMap || k == Kind::kObject)});
  const bool text = k == Kind::kString || k == Kind::kLoose || k == Kind::kTenant;
  out.push_back({"true", refused_unless(k == Kind::kBool || k == Kind::kLoose)});
  out.push_back({"false", refused_unless(k == Kind::kBool || k == Kind::kLoose)});
  out.push_back({"null", Expect::kAnswered});  // most fields take null for "not given"
  out.push_back({"\"\"", refused_unless(text)});
  out.push_back({"\"x\"", refused_unless(text)});
  out.push_back({"\"-1\"", refused_unless(text)});
  out.push_back({"\"\xc3\xa4\"", refused_unless(text && k != Kind::kTenant)});  // valid UTF-8, but no name
  if (k == Kind::kTenant) {
    for (const char* t : {"../..", "a/../b", "org/a/..", "./a", "/a", "a//b", "a/", "a b"})
      out.push_back({Quoted(t), Expect::kRefused});
  }
  return out;
}

// Keys added to an object: never valid text; for fixed-key objects, also an unknown plain key.
std::vector<Mutation> KeyMutations(Kind k) {
  std::vector<Mutation> out;
  for (const auto& s : BadStrings()) out.push_back({s, Expect::kRefused});
  out.push_back({"\"\"", Expect::kRefused});
  if (k == Kind::kObject) out.push_back({"\"no_such_field\"", Expect::kRefused});
  return out;
}

// Whole bodies that are no JSON object.
std::vector<Mutation> BodyMutations() {
  return {{"[]", Expect::kRefused},
          {"\"x\"", Expect::kRefused},
          {"1", Expect::kRefused},
          {"null", Expect::kRefused},
          {"{", Expect::kRefused},
          {"{\"a\":", Expect::kRefused},
          {"\xff", Expect::kRefused},
          {"{\"\xff\":1}", Expect::kRefused},
          {"{\"a\":\"\xff\"}", Expect::kRefused},
          {std::string("{\"a\":\"") + '\0' + "\"}", Expect::kRefused},
          {std::string(300, '[') + std::string(300, ']'), Expect::kRefused},
          {std::string(100'000, '{'), Expect::kRefused},
          {"", Expect::kAnswered},  // some routes take an empty body for defaults
          {"{}", Expect::kAnswered},
          {std::string(100'000, ' ') + "{}", Expect::kAnswered},
          {"\xef\xbb\xbf{}", Expect::kAnswered}};
}

// Path and query values (raw URL text).
std::vector<Mutation> UrlMutations() {
  return {{"%FF", Expect::kRefused},
          {"\xff", Expect::kRefused},
          {"%C3", Expect::kRefused},
          {"a\xc3", Expect::kRefused},
          {"%C0%AF", Expect::kRefused},
          {"%ED%A0%80", Expect::kRefused},
          {"%F4%90%80%80", Expect::kRefused},
          {"%00", Expect::kRefused},
          {"a%00b", Expect::kRefused},
          {std::string("a") + '\0' + "b", Expect::kRefused},
          {"%0A", Expect::kRefused},
          {"%0D%0A", Expect::kRefused},
          {"%1B", Expect::kRefused},
          {"%7F", Expect::kRefused},
          {"%C3%A4", Expect::kAnswered},  // valid UTF-8: a path parameter must still be refused (below)
          {"\xc3\xa4", Expect::kAnswered},
          {"%E2%80%AE", Expect::kAnswered},
          {k100KB, Expect::kRefused},
          {std::string(4000, 'a'), Expect::kAnswered},
          {"-1", Expect::kAnswered},
          {"0", Expect::kAnswered},
          {"9223372036854775808", Expect::kAnswered},
          {"1e308", Expect::kAnswered},
          {"%2E%2E", Expect::kAnswered},
          {"..", Expect::kAnswered},
          {"a%2Fb", Expect::kAnswered},
          {"%20", Expect::kAnswered},
          {"%25FF", Expect::kAnswered},
          {"", Expect::kAnswered}};
}

// Whether a URL value is valid UTF-8 text outside ASCII (for path parameters: still a 4xx).
bool NonAscii(const std::string& v) { return v == "%C3%A4" || v == "\xc3\xa4" || v == "%E2%80%AE"; }

// One JSON body route: a valid body and the fields to mutate (JSON pointers into it).
struct Field {
  std::string pointer;
  Kind kind;
};
struct BodyRoute {
  std::string method, path, token;
  json base;
  std::vector<Field> fields;
  bool batch = false;  // answers 200 with an error per item
};

const std::vector<std::string> kVolatile = {"last_heartbeat", "remaining", "retry_after", "reset_after"};

json Normalized(json j) {
  if (j.is_object()) {
    for (const auto& k : kVolatile) j.erase(k);
    for (auto& [k, v] : j.items()) v = Normalized(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = Normalized(v);
  }
  return j;
}

class ApiMutation : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string cfg = dir_.Write("allot.yaml", kConfig);
    server_ = std::make_unique<LoggedServerProcess>(dir_.path() + "/data",
                                                    std::vector<std::string>{"--config", cfg});
    ASSERT_TRUE(server_->Start()) << server_->Log();
    admin_ = std::make_unique<Api>(server_->url(), "admin-token");
    // State for the routes to act on.
    Api agent(server_->url(), "agent-token"), writer(server_->url(), "writer-token");
    ASSERT_EQ(
        agent.Call("POST", "/v1/nodes", json{{"name", "na"}, {"capacity", {{"cpu", "8"}, {"memory", "8Gi"}}}})
            .status,
        201);
    auto a =
        writer.Call("POST", "/v1/allocations", json{{"requests", {{"cpu", "100m"}}}, {"duration", "1h"}});
    ASSERT_EQ(a.status, 201) << a.body.dump();
    alloc_ = a.body["id"];
    ASSERT_EQ(admin_
                  ->Call("POST", "/v1/reservations",
                         json{{"id", "r1"},
                              {"tenant", "org/a"},
                              {"start", "+1h"},
                              {"duration", "1h"},
                              {"requests", {{"cpu", "100m"}}}})
                  .status,
              201);
    ASSERT_EQ(admin_->Call("PUT", "/v1/quotas/org/a", json{{"max", {{"cpu", "32"}}}}).status, 200);
    ASSERT_EQ(admin_->Call("PUT", "/v1/ratelimits/api/m", json{{"rate", "100/s"}, {"burst", 100}}).status,
              201);
    ASSERT_EQ(admin_->Call("PUT", "/v1/pools/db/m", json{{"capacity", 10}}).status, 201);
    ASSERT_EQ(admin_->Call("PUT", "/v1/breakers/svc/m", json::object()).status, 200);
    for (uint64_t* lease : {&lease_release_, &lease_renew_}) {
      auto l = admin_->Call("POST", "/v1/pools/db/x/acquire", json{{"ttl", "1h"}, {"holder", "setup"}});
      ASSERT_EQ(l.status, 200) << l.body.dump();
      ASSERT_TRUE(l.body["allowed"].get<bool>());
      *lease = l.body["lease"].get<uint64_t>();
    }
  }

  void TearDown() override {
    if (server_ && server_->Running()) {
      std::istringstream lines(server_->Log());
      for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] != '{') continue;
        if (json::parse(line, nullptr, false).is_discarded()) {
          Problem("log line is not JSON: " + Show(line));
          break;
        }
      }
    }
    if (!problems_.empty()) {
      std::string text;
      for (size_t i = 0; i < problems_.size() && i < 150; i++) text += "  " + problems_[i] + "\n";
      ADD_FAILURE() << problems_.size() << " problem(s) in " << requests_ << " mutated requests:\n" << text;
    }
  }

  // The state a refused request must leave as it was: the listings, and the objects the routes of the
  // current test act on (`extra_reads_`).
  json Snapshot() {
    json s = json::object();
    std::vector<std::string> paths = {"/v1/nodes",      "/v1/allocations", "/v1/reservations", "/v1/quotas",
                                      "/v1/ratelimits", "/v1/pools",       "/v1/breakers"};
    paths.insert(paths.end(), extra_reads_.begin(), extra_reads_.end());
    for (const auto& p : paths) {
      auto r = admin_->Call("GET", p);
      s[p] = {{"status", r.status}, {"body", Normalized(r.body)}};
    }
    return s;
  }

  void Problem(const std::string& p) { problems_.push_back(p); }

  // One mutated request: `label` names the mutation in reports.
  struct Request {
    std::string method, target, body;
    Expect expect;
    std::string label;
    bool batch = false;  // answers 200 with an error per item
  };
  struct Outcome {
    bool answered = false;  // false: no answer at all
    bool refused = false;   // a 4xx (or, for a batch, every item failed)
  };

  // Sends `q` and checks its answer (not the state).
  Outcome SendOne(Api& api, const Request& q) {
    requests_++;
    Outcome o;
    Reply r = api.Call(q.method, q.target, q.body);
    const std::string what =
        q.label.empty() ? q.method + " " + Show(q.target) + (q.body.empty() ? "" : " " + Show(q.body))
                        : q.label;
    if (!server_->Running()) {
      Problem(what + " ENDED THE SERVER (" + server_->ExitText() + ")");
      dead_ = true;
      return o;
    }
    if (r.status == 0) {
      Problem(what + ": no answer");
      return o;
    }
    o.answered = true;
    const std::string got = " -> " + std::to_string(r.status) + " ";
    if (r.status >= 500) Problem(what + got + Show(Dump(r.body), 300));
    if (r.status >= 400 && !IsErrorBody(r.body))
      Problem(what + got + "without an error body: " + Show(Dump(r.body), 300));
    o.refused = r.status >= 400 && r.status < 500;
    if (q.batch && r.status == 200) {
      o.refused = r.body.contains("results") && !r.body["results"].empty();
      for (const auto& item : r.body.value("results", json::array())) {
        if (!item.contains("error"))
          o.refused = false;
        else if (!IsErrorBody(item))
          Problem(what + ": a batch item without a proper error: " + Show(Dump(item), 300));
      }
    }
    if (q.expect == Expect::kRefused && !o.refused && r.status < 500) {
      Problem(what + got + "(must be refused) " + Show(Dump(r.body), 200));
    }
    return o;
  }

  // Sends `reqs` through `api`. For a method that may change state (`check_state`), a refused request must
  // leave the state as it was: the must-be-refused ones are sent as one block and checked together (each
  // again, alone, when the block changed something); the others one by one, each refused one checked.
  void Run(Api& api, std::vector<Request> reqs, bool check_state = true) {
    if (dead_) return;
    std::stable_partition(reqs.begin(), reqs.end(),
                          [](const Request& q) { return q.expect == Expect::kRefused; });
    auto fresh = [&] {
      if (!baseline_) baseline_ = Snapshot();
    };
    std::vector<const Request*> block;
    for (const auto& q : reqs) {
      if (q.expect == Expect::kRefused) block.push_back(&q);
    }
    if (!block.empty()) {
      if (check_state) fresh();
      bool all_refused = true;
      for (const Request* q : block) {
        Outcome o = SendOne(api, *q);
        if (dead_) return;
        all_refused &= o.refused;
      }
      if (check_state) {
        json now = Snapshot();
        if (all_refused && now != *baseline_) {
          std::string change = Show(Dump(json::diff(*baseline_, now)), 300);
          bool found = false;
          baseline_ = std::move(now);
          for (const Request* q : block) {
            Outcome o = SendOne(api, *q);
            if (dead_) return;
            json after = Snapshot();
            if (o.refused && after != *baseline_) {
              Problem(
                  (q->label.empty() ? q->method + " " + Show(q->target) : q->label) +
                  " was refused but changed the state: " + Show(Dump(json::diff(*baseline_, after)), 300));
              found = true;
            }
            baseline_ = std::move(after);
          }
          if (!found) Problem("refused requests changed the state (no single one again): " + change);
        } else {
          baseline_ = std::move(now);
        }
      }
    }
    for (const auto& q : reqs) {
      if (q.expect == Expect::kRefused) continue;
      if (check_state) fresh();
      Outcome o = SendOne(api, q);
      if (dead_) return;
      if (!check_state) continue;
      if (o.refused) {
        json now = Snapshot();
        if (now != *baseline_) {
          Problem((q.label.empty() ? q.method + " " + Show(q.target) : q.label) +
                  " was refused but changed the state: " + Show(Dump(json::diff(*baseline_, now)), 300));
        }
        baseline_ = std::move(now);
      } else {
        baseline_.reset();  // accepted: what it made is the new reference (read before the next one)
      }
    }
  }

  // Every mutation of every field of `route`, then the whole-body ones.
  void MutateBody(const BodyRoute& route) {
    if (dead_) return;
    Api api(server_->url(), route.token);
    const std::string kMark = "@@mutation@@";
    const std::string who = route.method + " " + route.path + " [" + route.token + "] ";
    auto with_value = [&](const std::string& pointer, const std::string& text) {
      json b = route.base;
      b[json::json_pointer(pointer)] = kMark;
      std::string s = b.dump();
      return s.replace(s.find(Quoted(kMark)), kMark.size() + 2, text);
    };
    auto with_key = [&](const std::string& pointer, const std::string& key_text) {
      json b = route.base;
      b[json::json_pointer(pointer)][kMark] = "1";
      std::string s = b.dump();
      return s.replace(s.find(Quoted(kMark)), kMark.size() + 2, key_text);
    };
    std::vector<Request> reqs;
    auto add = [&](std::string body, Expect e, const std::string& label) {
      reqs.push_back({route.method, route.path, std::move(body), e, who + label, route.batch});
    };
    for (const auto& f : route.fields) {
      for (const auto& m : ValueMutations(f.kind))
        add(with_value(f.pointer, m.text), m.expect, f.pointer + " = " + Show(m.text, 60));
      if (f.kind == Kind::kMap || f.kind == Kind::kObject) {
        for (const auto& m : KeyMutations(f.kind)) {
          add(with_key(f.pointer, m.text), m.expect, f.pointer + " gets key " + Show(m.text, 60));
        }
      }
    }
    for (const auto& m : KeyMutations(Kind::kObject))
      add(with_key("", m.text), m.expect, "body gets key " + Show(m.text, 60));
    for (const auto& m : BodyMutations()) add(m.text, m.expect, "body = " + Show(m.text, 60));
    add(route.base.dump(), Expect::kAnswered, "the valid body");
    Run(api, std::move(reqs));
  }

  // `path` with "{}" replaced by every URL mutation, with each token; `body` is sent as it is. A path
  // parameter that is valid UTF-8 outside ASCII names nothing, and is refused too.
  void MutatePath(const std::string& method, const std::string& path, const std::string& body = "") {
    for (const char* token : {"admin-token", "writer-token", "reader-token", "agent-token", ""}) {
      if (dead_) return;
      Api api(server_->url(), token);
      std::vector<Request> reqs;
      for (const auto& m : UrlMutations()) {
        std::string target = path;
        target.replace(target.find("{}"), 2, m.text);
        reqs.push_back({method, target, body, NonAscii(m.text) ? Expect::kRefused : m.expect,
                        method + " " + Show(target, 120) + " [" + token + "]"});
      }
      Run(api, std::move(reqs), method != "GET");
    }
  }

  // `path` + "?" (or "&") + name + "=" + every URL mutation, with the admin and writer tokens. `count`: a
  // paging parameter, where anything but a small non-negative integer is refused.
  void MutateQuery(const std::string& path, const std::string& name, bool count) {
    for (const char* token : {"admin-token", "writer-token"}) {
      if (dead_) return;
      Api api(server_->url(), token);
      std::vector<Request> reqs;
      for (const auto& m : UrlMutations()) {
        Expect e = count && m.text != "0" ? Expect::kRefused : m.expect;
        std::string target = path + (path.find('?') == std::string::npos ? "?" : "&") + name + "=" + m.text;
        reqs.push_back({"GET", target, "", e, "GET " + Show(target, 120) + " [" + token + "]"});
      }
      Run(api, std::move(reqs), false);
    }
  }

  bool dead_ = false;  // the server ended: stop sending
  std::vector<std::string> extra_reads_;
  TempDir dir_;
  std::unique_ptr<LoggedServerProcess> server_;
  std::unique_ptr<Api> admin_;
  std::optional<json> baseline_;
  std::vector<std::string> problems_;
  size_t requests_ = 0;
  std::string alloc_;
  uint64_t lease_release_ = 0, lease_renew_ = 0;
};

TEST_F(ApiMutation, NodeBodies) {
  json node = {{"name", "nm"},
               {"capacity", {{"cpu", "1"}, {"memory", "1Gi"}}},
               {"allocated", {{"cpu", "0"}}},
               {"labels", {{"zone", "b"}}},
               {"taints", {{{"key", "k"}, {"value", "v"}, {"effect", "PreferNoSchedule"}}}},
               {"pool", ""},
               {"gpus",
                {{{"index", 0},
                  {"model", "m"},
                  {"memory", 1024},
                  {"memory_used", 0},
                  {"utilization", 0},
                  {"uuid", "u"}}}},
               {"force", false}};
  std::vector<Field> fields = {{"/name", Kind::kString},
                               {"/capacity", Kind::kMap},
                               {"/capacity/cpu", Kind::kQuantity},
                               {"/capacity/memory", Kind::kQuantity},
                               {"/allocated", Kind::kMap},
                               {"/allocated/cpu", Kind::kQuantity},
                               {"/labels", Kind::kMap},
                               {"/labels/zone", Kind::kString},
                               {"/taints", Kind::kList},
                               {"/taints/0", Kind::kObject},
                               {"/taints/0/key", Kind::kString},
                               {"/taints/0/value", Kind::kString},
                               {"/taints/0/effect", Kind::kEnum},
                               {"/pool", Kind::kString},
                               {"/gpus", Kind::kList},
                               {"/gpus/0", Kind::kObject},
                               {"/gpus/0/index", Kind::kInt},
                               {"/gpus/0/model", Kind::kString},
                               {"/gpus/0/memory", Kind::kInt},
                               {"/gpus/0/utilization", Kind::kInt},
                               {"/gpus/0/uuid", Kind::kString},
                               {"/force", Kind::kBool}};
  MutateBody({"POST", "/v1/nodes", "admin-token", node, fields});
  node["name"] = "na";  // the agent's own node
  MutateBody({"POST", "/v1/nodes", "agent-token", node, fields});
  json hb = {{"usage", {{"cpu", "100m"}, {"memory", "1Mi"}}},
             {"gpus", {{{"index", 0}, {"utilization", 50}}}}};
  std::vector<Field> hb_fields = {{"/usage", Kind::kMap},
                                  {"/usage/cpu", Kind::kQuantity},
                                  {"/usage/memory", Kind::kQuantity},
                                  {"/gpus", Kind::kList},
                                  {"/gpus/0", Kind::kObject},
                                  {"/gpus/0/index", Kind::kInt},
                                  {"/gpus/0/utilization", Kind::kInt}};
  MutateBody({"POST", "/v1/nodes/na/heartbeat", "agent-token", hb, hb_fields});
  MutateBody({"POST", "/v1/nodes/n1/heartbeat", "admin-token", hb, hb_fields});
}

TEST_F(ApiMutation, AllocationBodies) {
  json alloc = {
      {"tenant", "org/a"},
      {"workflow", "wf"},
      {"priority", "normal"},
      {"requests", {{"cpu", "100m"}, {"memory", "1Mi"}}},
      {"limits", {{"cpu", "200m"}}},
      {"duration", "1h"},
      {"ttl", true},
      {"wait", "10m"},
      {"selector", {{"zone", "a"}}},
      {"tolerations", {{{"key", "k"}, {"value", "v"}, {"operator", "Equal"}, {"effect", "NoSchedule"}}}},
      {"preemptible", false},
      {"count", 1},
      {"spread", false},
      {"reservation", nullptr},
      {"idempotency_key", nullptr}};  // a key would answer retries from the first one, unchecked
  std::vector<Field> fields = {{"/tenant", Kind::kTenant},
                               {"/workflow", Kind::kString},
                               {"/priority", Kind::kPriority},
                               {"/requests", Kind::kMap},
                               {"/requests/cpu", Kind::kQuantity},
                               {"/requests/memory", Kind::kQuantity},
                               {"/limits", Kind::kMap},
                               {"/limits/cpu", Kind::kQuantity},
                               {"/duration", Kind::kDuration},
                               {"/ttl", Kind::kBool},
                               {"/wait", Kind::kDuration},
                               {"/selector", Kind::kMap},
                               {"/selector/zone", Kind::kString},
                               {"/tolerations", Kind::kList},
                               {"/tolerations/0", Kind::kObject},
                               {"/tolerations/0/key", Kind::kString},
                               {"/tolerations/0/operator", Kind::kEnum},
                               {"/tolerations/0/effect", Kind::kString},
                               {"/preemptible", Kind::kBool},
                               {"/count", Kind::kInt},
                               {"/spread", Kind::kBool},
                               {"/reservation", Kind::kString},
                               {"/idempotency_key", Kind::kString}};
  MutateBody({"POST", "/v1/allocations", "admin-token", alloc, fields});
  MutateBody({"POST", "/v1/allocations", "writer-token", alloc, fields});
  MutateBody({"POST",
              "/v1/allocations/" + alloc_ + "/renew",
              "writer-token",
              {{"duration", "1h"}},
              {{"/duration", Kind::kDuration}}});
}

TEST_F(ApiMutation, ReservationAndQuotaBodies) {
  json rsv = {{"id", "rm"},
              {"tenant", "org/a"},
              {"start", "+1h"},
              {"end", "+2h"},
              {"requests", {{"cpu", "100m"}}},
              {"nodes", {"n1"}},
              {"pool", ""}};
  std::vector<Field> fields = {
      {"/id", Kind::kString},  {"/tenant", Kind::kTenant},  {"/start", Kind::kTime},
      {"/end", Kind::kTime},   {"/requests", Kind::kMap},   {"/requests/cpu", Kind::kQuantity},
      {"/nodes", Kind::kList}, {"/nodes/0", Kind::kString}, {"/pool", Kind::kString}};
  MutateBody({"POST", "/v1/reservations", "admin-token", rsv, fields});
  rsv["id"] = "rw";
  MutateBody({"POST", "/v1/reservations", "writer-token", rsv, fields});
  MutateBody({"POST",
              "/v1/reservations",
              "admin-token",
              {{"id", "rd"}, {"start", "+1h"}, {"duration", "1h"}, {"requests", {{"cpu", "100m"}}}},
              {{"/duration", Kind::kDuration}}});
  json quota = {{"weight", 1},
                {"guaranteed", {{"cpu", "100m"}}},
                {"max", {{"cpu", "32"}}},
                {"lending_limit", {{"cpu", "100m"}}},
                {"burst", 1.5},
                {"grace", "1m"}};
  MutateBody({"PUT",
              "/v1/quotas/org/a",
              "admin-token",
              quota,
              {{"/weight", Kind::kNumber},
               {"/guaranteed", Kind::kMap},
               {"/guaranteed/cpu", Kind::kQuantity},
               {"/max", Kind::kMap},
               {"/max/cpu", Kind::kQuantity},
               {"/lending_limit", Kind::kMap},
               {"/lending_limit/cpu", Kind::kQuantity},
               {"/burst", Kind::kNumber},
               {"/grace", Kind::kDuration}}});
}

TEST_F(ApiMutation, RateLimitBodies) {
  extra_reads_ = {"/v1/ratelimits/api/x", "/v1/ratelimits/api/m", "/v1/ratelimits/api/x/reservations"};
  MutateBody({"PUT",
              "/v1/ratelimits/api/m",
              "admin-token",
              {{"rate", "100/s"}, {"burst", 100}},
              {{"/rate", Kind::kEnum}, {"/burst", Kind::kInt}}});
  MutateBody({"PUT",
              "/v1/ratelimits/api/m",
              "admin-token",
              {{"quota", 100}, {"per", "day"}, {"time_zone", "UTC"}},
              {{"/quota", Kind::kInt}, {"/per", Kind::kEnum}, {"/time_zone", Kind::kLoose}}});
  MutateBody({"PUT",
              "/v1/ratelimits/api/m",
              "admin-token",
              {{"levels",
                {{{"scope", "global"}, {"rate", "100/s"}, {"burst", 100}},
                 {{"scope", "subtree"}, {"subtree", "org/a"}, {"rate", "10/s"}, {"burst", 10}}}}},
              {{"/levels", Kind::kList},
               {"/levels/0", Kind::kObject},
               {"/levels/0/scope", Kind::kEnum},
               {"/levels/0/rate", Kind::kEnum},
               {"/levels/0/burst", Kind::kInt},
               {"/levels/1/subtree", Kind::kLoose}}});
  json acquire = {
      {"n", 1}, {"tenant", "org/a"}, {"agent", "ag"}, {"reservation", nullptr}, {"breaker", nullptr}};
  std::vector<Field> fields = {{"/n", Kind::kInt},
                               {"/tenant", Kind::kTenant},
                               {"/agent", Kind::kString},
                               {"/reservation", Kind::kString},
                               {"/breaker", Kind::kString}};
  MutateBody({"POST", "/v1/ratelimits/api/x/acquire", "admin-token", acquire, fields});
  MutateBody({"POST", "/v1/ratelimits/api/x/acquire", "writer-token", acquire, fields});
  BodyRoute batch{"POST",
                  "/v1/ratelimits:acquire",
                  "writer-token",
                  {{"requests", {{{"key", "api/x"}, {"n", 1}, {"tenant", "org/a"}}}}},
                  {{"/requests", Kind::kList},
                   {"/requests/0", Kind::kObject},
                   {"/requests/0/key", Kind::kEnum},
                   {"/requests/0/n", Kind::kInt},
                   {"/requests/0/tenant", Kind::kTenant}},
                  true};
  MutateBody(batch);
  MutateBody({"POST",
              "/v1/ratelimits/api/x/reservations",
              "admin-token",
              {{"id", "rr1"},
               {"level", 0},
               {"rate", "10/s"},
               {"burst", 10},
               {"start", "2030-01-01T00:00:00Z"},
               {"duration", "1h"}},
              {{"/id", Kind::kString},
               {"/level", Kind::kInt},
               {"/rate", Kind::kEnum},
               {"/burst", Kind::kInt},
               {"/start", Kind::kTime},
               {"/duration", Kind::kDuration}}});
}

TEST_F(ApiMutation, PoolAndBreakerBodies) {
  extra_reads_ = {"/v1/pools/db/x", "/v1/breakers/svc/x", "/v1/breakers/svc/m"};
  MutateBody({"PUT",
              "/v1/pools/db/m",
              "admin-token",
              {{"capacity", 10},
               {"ttl", "1m"},
               {"max_ttl", "1h"},
               {"per_tenant", 5},
               {"tenant_limits", {{"org/a", 3}}}},
              {{"/capacity", Kind::kInt},
               {"/ttl", Kind::kDuration},
               {"/max_ttl", Kind::kDuration},
               {"/per_tenant", Kind::kInt},
               {"/tenant_limits", Kind::kMap},
               {"/tenant_limits/org~1a", Kind::kInt}}});
  json acquire = {{"n", 1}, {"tenant", "org/a"}, {"holder", "h1"}, {"ttl", "1h"}};
  std::vector<Field> fields = {
      {"/n", Kind::kInt}, {"/tenant", Kind::kTenant}, {"/holder", Kind::kString}, {"/ttl", Kind::kDuration}};
  MutateBody({"POST", "/v1/pools/db/x/acquire", "admin-token", acquire, fields});
  MutateBody({"POST", "/v1/pools/db/x/acquire", "writer-token", acquire, fields});
  MutateBody({"POST",
              "/v1/pools/db/x/release",
              "admin-token",
              {{"lease", lease_release_}},
              {{"/lease", Kind::kLease}}});
  MutateBody({"POST",
              "/v1/pools/db/x/release",
              "writer-token",
              {{"holder", "nobody"}},
              {{"/holder", Kind::kString}}});
  MutateBody({"POST",
              "/v1/pools/db/x/renew",
              "admin-token",
              {{"lease", lease_renew_}, {"ttl", "1h"}},
              {{"/lease", Kind::kLease}, {"/ttl", Kind::kDuration}}});
  MutateBody({"PUT",
              "/v1/breakers/svc/m",
              "admin-token",
              {{"window", "1h"},
               {"buckets", 10},
               {"min_requests", 5},
               {"failure_rate", 0.5},
               {"consecutive_failures", 3},
               {"slow_call", "1s"},
               {"cooldown", "5s"},
               {"half_open_probes", 1},
               {"close_after_successes", 1}},
              {{"/window", Kind::kDuration},
               {"/buckets", Kind::kInt},
               {"/min_requests", Kind::kInt},
               {"/failure_rate", Kind::kNumber},
               {"/consecutive_failures", Kind::kInt},
               {"/slow_call", Kind::kDuration},
               {"/cooldown", Kind::kDuration},
               {"/half_open_probes", Kind::kInt},
               {"/close_after_successes", Kind::kInt}}});
  json report = {{"outcome", "success"}, {"latency_ms", 5}, {"tenant", "org/a"}};
  std::vector<Field> report_fields = {
      {"/outcome", Kind::kEnum}, {"/latency_ms", Kind::kNumber}, {"/tenant", Kind::kTenant}};
  MutateBody({"POST", "/v1/breakers/svc/x/report", "admin-token", report, report_fields});
  MutateBody({"POST", "/v1/breakers/svc/x/report", "writer-token", report, report_fields});
}

TEST_F(ApiMutation, PathParameters) {
  extra_reads_ = {"/v1/ratelimits/api/x", "/v1/ratelimits/api/x/reservations", "/v1/pools/db/x"};
  for (const char* p :
       {"/v1/nodes/{}", "/v1/allocations/{}", "/v1/reservations/{}", "/v1/quotas/{}", "/v1/quotas/org/{}",
        "/v1/nodepools/{}", "/v1/ratelimits/{}", "/v1/ratelimits/{}/reservations", "/v1/pools/{}",
        "/v1/breakers/{}", "/v1/{}", "/{}"}) {
    MutatePath("GET", p);
  }
  MutatePath("DELETE", "/v1/nodes/{}");
  MutatePath("POST", "/v1/nodes/{}/drain");
  MutatePath("POST", "/v1/nodes/{}/heartbeat", "{}");
  MutatePath("DELETE", "/v1/allocations/{}");
  MutatePath("POST", "/v1/allocations/{}/renew", R"({"duration":"1h"})");
  MutatePath("DELETE", "/v1/reservations/{}");
  MutatePath("DELETE", "/v1/reservations?id={}");
  MutatePath("PUT", "/v1/quotas/{}", R"({"weight":1})");
  MutatePath("PUT", "/v1/quotas/org/{}", R"({"weight":1})");
  MutatePath("PUT", "/v1/ratelimits/{}", R"({"rate":"1/s","burst":1})");
  MutatePath("DELETE", "/v1/ratelimits/{}");
  MutatePath("POST", "/v1/ratelimits/{}/acquire", R"({"n":1})");
  MutatePath("POST", "/v1/ratelimits/{}/reservations", R"({"id":"x1","rate":"1/s","duration":"1h"})");
  MutatePath("DELETE", "/v1/ratelimits/api/x/reservations/{}");
  MutatePath("PUT", "/v1/pools/{}", R"({"capacity":1})");
  MutatePath("DELETE", "/v1/pools/{}");
  MutatePath("POST", "/v1/pools/{}/acquire", R"({"ttl":"1h"})");
  MutatePath("POST", "/v1/pools/{}/release", R"({"holder":"nobody"})");
  MutatePath("POST", "/v1/pools/{}/renew", R"({"lease":1})");
  MutatePath("PUT", "/v1/breakers/{}", "{}");
  MutatePath("POST", "/v1/breakers/{}/report", R"({"outcome":"success"})");
  MutatePath("POST", "/v1/breakers/{}/acquire");
}

TEST_F(ApiMutation, QueryParameters) {
  for (const char* name : {"tenant", "state", "node"}) MutateQuery("/v1/allocations", name, false);
  MutateQuery("/v1/allocations", "limit", true);
  MutateQuery("/v1/allocations/" + alloc_, "wait", false);
  MutateQuery("/v1/allocations/" + alloc_ + "?wait=0", "state", false);
  for (const char* name : {"since", "id", "tenant"}) MutateQuery("/v1/events", name, false);
  MutateQuery("/v1/events", "after", true);
  MutateQuery("/v1/events", "limit", true);
  for (const char* name : {"tenant", "agent"}) MutateQuery("/v1/ratelimits/api/x", name, false);
  // Query keys (an unknown key is ignored; one that is not text is refused).
  Api api(server_->url(), "admin-token");
  std::vector<Request> reqs;
  for (const char* path : {"/v1/nodes", "/v1/allocations", "/v1/events", "/v1/ratelimits/api/x",
                           "/v1/pools/db/x", "/metrics", "/healthz"}) {
    for (const auto& m : UrlMutations()) {
      std::string target = std::string(path) + "?" + m.text + "=1";
      reqs.push_back({"GET", target, "", m.expect, "GET " + Show(target, 120)});
    }
  }
  Run(api, std::move(reqs), false);
}

TEST_F(ApiMutation, MethodsAndAuthorization) {
  extra_reads_ = {"/v1/breakers/svc/x"};
  Api admin(server_->url(), "admin-token");
  std::vector<Request> reqs;
  for (const std::string& method :
       {std::string("G\xffT"), std::string("GET") + '\0', std::string("\xc3\xa4"), std::string("get"),
        std::string("PATCH"), std::string("OPTIONS"), std::string("TRACE"), std::string("M-SEARCH"),
        std::string(17, 'A'), std::string(10'000, 'A'), std::string("")}) {
    for (const char* path : {"/v1/nodes", "/v1/allocations", "/v1/allocations/x", "/v1/ratelimits/api/x",
                             "/v1/pools/db/x", "/v1/breakers/svc/x/report", "/metrics", "/v1/quotas/org/a"}) {
      reqs.push_back({method, path, "{}", Expect::kRefused, "method " + Show(method, 40) + " " + path});
    }
  }
  Run(admin, std::move(reqs));
  for (const std::string& token :
       {std::string("\xff"), std::string("a\xc3"), std::string("\xc3\xa4"), std::string(1, '\0'),
        std::string("tok\x01"), std::string("\x7f"), k100KB, std::string(8000, 'a'),
        std::string("admin-token\xff"), std::string("admin-token "), std::string(" admin-token")}) {
    Api api(server_->url(), token);
    // Spaces around the token may be read as the token itself; anything else is not a credential.
    const Expect e =
        token == " admin-token" || token == "admin-token " ? Expect::kAnswered : Expect::kRefused;
    const std::string label = " with Authorization: Bearer " + Show(token, 40);
    Run(api, {{"GET", "/v1/nodes", "", e, "GET /v1/nodes" + label},
              {"GET", "/metrics", "", e, "GET /metrics" + label},
              {"POST", "/v1/allocations", R"({"requests":{"cpu":"1"}})", e, "POST /v1/allocations" + label}});
  }
  EXPECT_EQ(Api(server_->url()).Call("GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace allot::testing
