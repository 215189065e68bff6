// The `allot serve` config file. Every key is checked; an unknown key is an error naming file, line and key.
#include "allot/throttle/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "allot/clock.h"
#include "allot/policy.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/server.h"
#include "allot/store.h"
#include "allot/throttle/rate.h"
#include "server/auth.h"
#include "server/util.h"

namespace allot {

namespace {

class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  Error Err(const YAML::Node& n, const std::string& key, const std::string& msg) const {
    std::string where = origin_;
    if (n.IsDefined() && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
    return InvalidArgument(where + ": " + key + ": " + msg);
  }

  Status Keys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed) const {
    if (!n.IsMap()) return Err(n, path, "must be a mapping");
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      bool ok = false;
      for (const char* a : allowed) ok |= k == a;
      if (!ok) return Err(it->first, path.empty() ? k : path + "." + k, "unknown key");
    }
    return Status::Ok();
  }

  Status Str(const YAML::Node& n, const std::string& key, std::string* out) const {
    if (!n.IsScalar()) return Err(n, key, "must be a string");
    *out = n.as<std::string>();
    return Status::Ok();
  }
  Status Bool(const YAML::Node& n, const std::string& key, bool* out) const {
    bool v;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) return Err(n, key, "must be true or false");
    *out = v;
    return Status::Ok();
  }
  Status Int(const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi, int64_t* out) const {
    int64_t v;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) return Err(n, key, "must be an integer");
    if (v < lo || v > hi) return Err(n, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    *out = v;
    return Status::Ok();
  }
  Status Double(const YAML::Node& n, const std::string& key, double lo, double hi, double* out) const {
    double v;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) return Err(n, key, "must be a number");
    if (!(v >= lo && v <= hi)) return Err(n, key, "is out of range");
    *out = v;
    return Status::Ok();
  }
  Status Duration(const YAML::Node& n, const std::string& key, int64_t* out) const {
    if (!n.IsScalar()) return Err(n, key, "must be a duration (90s, 5m, 1h) or seconds");
    auto ms = server::ParseDurationMs(n.as<std::string>());
    if (!ms) return Err(n, key, "invalid duration \"" + n.as<std::string>() + "\"");
    *out = *ms;
    return Status::Ok();
  }
  // A whole number of seconds: an integer, or a duration that is whole seconds ("10s", "1m").
  Status Seconds(const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi, int64_t* out) const {
    auto ms = n.IsScalar() ? ParseDurationMs(n.as<std::string>()) : std::nullopt;
    if (!ms || *ms % 1000 != 0) return Err(n, key, "must be whole seconds (10, 10s, 1m)");
    if (*ms / 1000 < lo || *ms / 1000 > hi) {
      return Err(n, key, "must be between " + std::to_string(lo) + "s and " + std::to_string(hi) + "s");
    }
    *out = *ms / 1000;
    return Status::Ok();
  }
  // Bytes: an integer, or a quantity ("64Mi", "1M").
  Status Bytes(const YAML::Node& n, const std::string& key, int64_t lo, int64_t hi, int64_t* out) const {
    if (!n.IsScalar()) return Err(n, key, "must be bytes or a quantity (64Mi, 1M)");
    auto v = ParseResourceAmount("memory", n.as<std::string>());
    if (!v.ok()) return Err(n, key, v.error().message);
    if (*v < lo || *v > hi)
      return Err(n, key, "must be between " + FormatBytesExact(lo) + " and " + FormatBytesExact(hi));
    *out = *v;
    return Status::Ok();
  }
  Status Resources(const YAML::Node& n, const std::string& key, ResourceMap* out) const {
    if (!n.IsMap()) return Err(n, key, "must be a mapping of resource quantities");
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string name = it->first.as<std::string>();
      std::string f = key + "." + name;
      if (auto s = ValidateResourceName(name); !s.ok()) return Err(it->first, f, s.message());
      if (!it->second.IsScalar()) return Err(it->second, f, "must be a quantity");
      std::string canon = CanonicalResourceName(name);
      auto v = ParseResourceAmount(canon, it->second.as<std::string>());
      if (!v.ok()) return Err(it->second, f, v.error().message);
      (*out)[canon] = *v;
    }
    return Status::Ok();
  }
  // An amount in seed 001's units: a number of cores (cpu), GB = 2^30 bytes (memory, disk), devices (gpu)
  // or a count (anything else); a string is a Kubernetes quantity.
  Status SeedAmount(const YAML::Node& n, const std::string& key, const std::string& resource, int64_t* out) const {
    if (!n.IsScalar()) return Err(n, key, "must be a number (seed 001's units) or a quantity string");
    std::string canon = CanonicalResourceName(resource);
    double v = 0;
    if (n.Tag() != "!" && YAML::convert<double>::decode(n, v)) {
      if (!(v >= 0 && v <= 1e12)) return Err(n, key, "is out of range");
      double unit = canon == "cpu" || canon == "gpu" ? 1000.0
                    : canon == "memory" || canon == "ephemeral-storage" ? static_cast<double>(int64_t{1} << 30)
                                                                      : 1.0;
      *out = static_cast<int64_t>(std::ceil(v * unit));
      return Status::Ok();
    }
    auto q = ParseResourceAmount(canon, n.as<std::string>());
    if (!q.ok()) return Err(n, key, q.error().message);
    *out = *q;
    return Status::Ok();
  }
  Status Labels(const YAML::Node& n, const std::string& key, allot::Labels* out) const {
    if (!n.IsMap()) return Err(n, key, "must be a mapping of strings");
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->second.IsScalar()) return Err(it->second, key + "." + it->first.as<std::string>(), "must be a string");
      (*out)[it->first.as<std::string>()] = it->second.as<std::string>();
    }
    return Status::Ok();
  }

 private:
  std::string origin_;
};

#define ALLOT_TRY(expr)               \
  do {                                \
    if (auto _s = (expr); !_s.ok()) { \
      return _s.error();              \
    }                                 \
  } while (0)

// `role` and `tenant` of a token or a client certificate at `p`.
Status ParseRole(const Reader& r, const YAML::Node& t, const std::string& p, const char* what,
                 std::string* role, std::string* tenant) {
  if (!t["role"]) return r.Err(t, p + ".role", "is required (admin, reader, writer or agent)");
  ALLOT_TRY(r.Str(t["role"], p + ".role", role));
  if (*role != "admin" && *role != "reader" && *role != "writer" && *role != "agent") {
    return r.Err(t["role"], p + ".role", "unknown role \"" + *role + "\" (admin, reader, writer or agent)");
  }
  if (t["tenant"]) {
    ALLOT_TRY(r.Str(t["tenant"], p + ".tenant", tenant));
    if (auto e = server::ValidateTenant(*tenant, p + ".tenant"))
      return r.Err(t["tenant"], p + ".tenant", e->message);
  }
  if (*role == "writer" && tenant->empty()) {
    return r.Err(t, p + ".tenant",
                 std::string("a writer ") + what + " needs the tenant subtree it may act on");
  }
  return Status::Ok();
}

// A request rate limit: "100/s" (burst 100), {rate: 100/s, burst: 200}, or none.
Status ParseRequestRate(const Reader& r, const YAML::Node& n, const std::string& key, RequestRateLimit* out) {
  std::string text;
  int64_t burst = 0;
  if (n.IsMap()) {
    ALLOT_TRY(r.Keys(n, key, {"rate", "burst"}));
    if (!n["rate"]) return r.Err(n, key + ".rate", "is required (e.g. 100/s)");
    ALLOT_TRY(r.Str(n["rate"], key + ".rate", &text));
    if (n["burst"]) ALLOT_TRY(r.Int(n["burst"], key + ".burst", 1, throttle::kMaxBurst, &burst));
  } else {
    ALLOT_TRY(r.Str(n, key, &text));
    if (text == "none" || text == "off") {
      *out = {};
      return Status::Ok();
    }
  }
  auto rate = throttle::ParseRate(text);
  if (!rate.ok()) return r.Err(n, key, rate.error().message + " (or none)");
  if (auto s = throttle::ValidateRate(*rate); !s.ok()) return r.Err(n, key, s.message());
  *out = {rate->count, rate->period_ns, burst > 0 ? burst : std::min(rate->count, throttle::kMaxBurst)};
  return Status::Ok();
}

// `expires`: an RFC 3339 time, or a duration counted from now (the load).
Status ParseExpiry(const Reader& r, const YAML::Node& n, const std::string& key, int64_t* out) {
  std::string text;
  ALLOT_TRY(r.Str(n, key, &text));
  if (auto t = server::ParseTime(text)) {
    *out = *t;
  } else if (auto d = server::ParseDurationMs(text); d && *d > 0) {
    *out = server::WallNowMs() + *d;
  } else {
    return r.Err(n, key,
                 "expected an RFC 3339 time (2030-01-31T00:00:00Z) or a duration from load (24h), not \"" +
                     text + "\"");
  }
  return Status::Ok();
}

Status ParseClientCerts(const Reader& r, const YAML::Node& list, ServerConfig* c) {
  if (!list.IsSequence()) return r.Err(list, "auth.client_certs", "must be a list");
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); i++) {
    const YAML::Node& t = list[i];
    std::string p = "auth.client_certs[" + std::to_string(i) + "]";
    ALLOT_TRY(r.Keys(t, p, {"name", "subject", "cn", "role", "tenant", "rate_limit"}));
    ClientCertConfig cc;
    if (t["subject"]) ALLOT_TRY(r.Str(t["subject"], p + ".subject", &cc.subject));
    if (t["cn"]) ALLOT_TRY(r.Str(t["cn"], p + ".cn", &cc.cn));
    if (cc.subject.empty() == cc.cn.empty()) {
      return r.Err(t, p, "give either subject (\"CN=agent-1,O=example\") or cn, not both");
    }
    ALLOT_TRY(ParseRole(r, t, p, "certificate", &cc.role, &cc.tenant));
    cc.name = "cert:" + (cc.cn.empty() ? cc.subject : cc.cn);
    if (t["name"]) ALLOT_TRY(r.Str(t["name"], p + ".name", &cc.name));
    if (!names.insert(cc.name).second) return r.Err(t, p + ".name", "duplicate name \"" + cc.name + "\"");
    if (t["rate_limit"])
      ALLOT_TRY(ParseRequestRate(r, t["rate_limit"], p + ".rate_limit", &cc.rate_limit.emplace()));
    c->client_certs.push_back(std::move(cc));
  }
  return Status::Ok();
}

Status ParseTls(const Reader& r, const YAML::Node& n, TlsConfig* tls) {
  ALLOT_TRY(r.Keys(n, "tls", {"cert", "key", "client_ca"}));
  if (n["cert"]) ALLOT_TRY(r.Str(n["cert"], "tls.cert", &tls->cert_file));
  if (n["key"]) ALLOT_TRY(r.Str(n["key"], "tls.key", &tls->key_file));
  if (n["client_ca"]) ALLOT_TRY(r.Str(n["client_ca"], "tls.client_ca", &tls->client_ca_file));
  if (tls->cert_file.empty() != tls->key_file.empty()) return r.Err(n, "tls", "give both cert and key");
  if (!tls->client_ca_file.empty() && tls->cert_file.empty()) {
    return r.Err(n, "tls.client_ca", "client certificates need TLS: give cert and key too");
  }
  return Status::Ok();
}

Status ParseTokens(const Reader& r, const YAML::Node& auth, ServerConfig* c) {
  ALLOT_TRY(r.Keys(auth, "auth", {"tokens", "client_certs", "rate_limit"}));
  if (auth["rate_limit"])
    ALLOT_TRY(ParseRequestRate(r, auth["rate_limit"], "auth.rate_limit", &c->rate_limit));
  if (auth["client_certs"]) ALLOT_TRY(ParseClientCerts(r, auth["client_certs"], c));
  if (!auth["tokens"]) return Status::Ok();
  const YAML::Node& toks = auth["tokens"];
  if (!toks.IsSequence()) return r.Err(toks, "auth.tokens", "must be a list");
  std::set<std::string> names;
  for (size_t i = 0; i < toks.size(); i++) {
    const YAML::Node& t = toks[i];
    std::string p = "auth.tokens[" + std::to_string(i) + "]";
    ALLOT_TRY(r.Keys(t, p, {"name", "role", "tenant", "sha256", "token", "expires", "rate_limit"}));
    TokenConfig tc;
    if (!t["name"]) return r.Err(t, p + ".name", "is required");
    ALLOT_TRY(r.Str(t["name"], p + ".name", &tc.name));
    if (!names.insert(tc.name).second) return r.Err(t["name"], p + ".name", "duplicate token name \"" + tc.name + "\"");
    ALLOT_TRY(ParseRole(r, t, p, "token", &tc.role, &tc.tenant));
    if (t["expires"]) ALLOT_TRY(ParseExpiry(r, t["expires"], p + ".expires", &tc.expires_ms));
    if (t["rate_limit"])
      ALLOT_TRY(ParseRequestRate(r, t["rate_limit"], p + ".rate_limit", &tc.rate_limit.emplace()));
    if (t["sha256"] && t["token"]) return r.Err(t, p, "give either sha256 or token, not both");
    if (t["sha256"]) {
      ALLOT_TRY(r.Str(t["sha256"], p + ".sha256", &tc.sha256_hex));
      if (!server::IsSha256Hex(tc.sha256_hex)) return r.Err(t["sha256"], p + ".sha256", "must be 64 hex digits");
      for (char& ch : tc.sha256_hex) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else if (t["token"]) {
      std::string secret;
      ALLOT_TRY(r.Str(t["token"], p + ".token", &secret));
      if (secret.size() < 8) return r.Err(t["token"], p + ".token", "is too short (at least 8 characters)");
      tc.sha256_hex = HashToken(secret);
    } else {
      return r.Err(t, p + ".sha256", "is required (the SHA-256 of the secret; `allot serve --hash-token S`)");
    }
    c->tokens.push_back(std::move(tc));
  }
  return Status::Ok();
}

Status ParsePolicy(const Reader& r, const YAML::Node& n, EngineOptions* o) {
  ALLOT_TRY(r.Keys(n, "policy", {"scoring", "weights", "shape", "fair_share", "preemption", "backfill", "quota_mode",
                                 "preemption_grace"}));
  if (n["scoring"]) {
    ALLOT_TRY(r.Str(n["scoring"], "policy.scoring", &o->scoring));
    auto name = CanonicalPolicyName(PolicyKind::kScoring, o->scoring);
    if (!name) {
      return r.Err(n["scoring"], "policy.scoring",
                   "unknown scoring \"" + o->scoring + "\" (" + PolicyNames(PolicyKind::kScoring) + ")");
    }
    o->scoring = *name;
  }
  if (n["weights"]) {
    const YAML::Node& w = n["weights"];
    if (!w.IsMap()) return r.Err(w, "policy.weights", "must be a mapping of resource: weight");
    for (auto it = w.begin(); it != w.end(); ++it) {
      int64_t v;
      ALLOT_TRY(r.Int(it->second, "policy.weights." + it->first.as<std::string>(), 0, 1000, &v));
      o->weights[CanonicalResourceName(it->first.as<std::string>())] = v;
    }
  }
  if (n["shape"]) {
    const YAML::Node& s = n["shape"];
    if (!s.IsSequence()) return r.Err(s, "policy.shape", "must be a list of {utilization, score}");
    for (size_t i = 0; i < s.size(); i++) {
      std::string p = "policy.shape[" + std::to_string(i) + "]";
      ALLOT_TRY(r.Keys(s[i], p, {"utilization", "score"}));
      int64_t u = 0, sc = 0;
      if (!s[i]["utilization"] || !s[i]["score"]) return r.Err(s[i], p, "needs utilization and score");
      ALLOT_TRY(r.Int(s[i]["utilization"], p + ".utilization", 0, 100, &u));
      ALLOT_TRY(r.Int(s[i]["score"], p + ".score", 0, 10, &sc));
      o->shape.emplace_back(u, sc);
    }
  }
  if (n["fair_share"]) {
    ALLOT_TRY(r.Str(n["fair_share"], "policy.fair_share", &o->fair_share));
    auto name = CanonicalPolicyName(PolicyKind::kQueueOrder, o->fair_share);
    if (!name) {
      return r.Err(n["fair_share"], "policy.fair_share",
                   "unknown fair_share \"" + o->fair_share + "\" (" + PolicyNames(PolicyKind::kQueueOrder) + ")");
    }
    o->fair_share = *name;
  }
  if (n["preemption"]) ALLOT_TRY(r.Bool(n["preemption"], "policy.preemption", &o->preemption));
  if (n["backfill"]) ALLOT_TRY(r.Bool(n["backfill"], "policy.backfill", &o->backfill));
  if (n["quota_mode"]) {
    std::string m;
    ALLOT_TRY(r.Str(n["quota_mode"], "policy.quota_mode", &m));
    if (m == "queue") o->quota_mode = QuotaMode::kQueue;
    else if (m == "strict") o->quota_mode = QuotaMode::kStrict;
    else return r.Err(n["quota_mode"], "policy.quota_mode", "must be queue or strict");
  }
  if (n["preemption_grace"]) ALLOT_TRY(r.Duration(n["preemption_grace"], "policy.preemption_grace", &o->preemption_grace));
  return Status::Ok();
}

// `tenants:` is the list of tenants, or a mapping {auto_create: bool, list: [...]}.
Status ParseTenants(const Reader& r, const YAML::Node& top, std::vector<TenantSpec>* out, bool* auto_create) {
  YAML::Node n = top;
  if (top.IsMap()) {
    ALLOT_TRY(r.Keys(top, "tenants", {"auto_create", "list"}));
    if (top["auto_create"]) ALLOT_TRY(r.Bool(top["auto_create"], "tenants.auto_create", auto_create));
    if (!top["list"]) return Status::Ok();
    n = top["list"];
  }
  if (!n.IsSequence()) return r.Err(n, "tenants", "must be a list (or a mapping with auto_create and list)");
  for (size_t i = 0; i < n.size(); i++) {
    const YAML::Node& t = n[i];
    std::string p = "tenants[" + std::to_string(i) + "]";
    ALLOT_TRY(r.Keys(t, p, {"path", "weight", "quota"}));
    TenantSpec ts;
    if (!t["path"]) return r.Err(t, p + ".path", "is required");
    ALLOT_TRY(r.Str(t["path"], p + ".path", &ts.path));
    if (auto e = server::ValidateTenant(ts.path, p + ".path")) return r.Err(t["path"], p + ".path", e->message);
    if (t["weight"]) ALLOT_TRY(r.Double(t["weight"], p + ".weight", 1e-6, 1e6, &ts.weight));
    if (t["quota"]) {
      const YAML::Node& q = t["quota"];
      std::string qp = p + ".quota";
      ALLOT_TRY(r.Keys(q, qp, {"guaranteed", "max", "lending_limit", "burst", "grace"}));
      if (q["guaranteed"]) ALLOT_TRY(r.Resources(q["guaranteed"], qp + ".guaranteed", &ts.guaranteed));
      if (q["max"]) ALLOT_TRY(r.Resources(q["max"], qp + ".max", &ts.max));
      if (q["lending_limit"]) ALLOT_TRY(r.Resources(q["lending_limit"], qp + ".lending_limit", &ts.lending_limit));
      if (q["burst"]) ALLOT_TRY(r.Double(q["burst"], qp + ".burst", 1.0, 100.0, &ts.burst));
      if (q["grace"]) ALLOT_TRY(r.Duration(q["grace"], qp + ".grace", &ts.grace));
    }
    out->push_back(std::move(ts));
  }
  return Status::Ok();
}

Status ParseNodes(const Reader& r, const YAML::Node& n, std::vector<NodeSpec>* out) {
  if (!n.IsSequence()) return r.Err(n, "nodes", "must be a list");
  std::set<std::string> names;
  for (size_t i = 0; i < n.size(); i++) {
    const YAML::Node& nd = n[i];
    std::string p = "nodes[" + std::to_string(i) + "]";
    ALLOT_TRY(r.Keys(nd, p, {"name", "capacity", "allocated", "labels", "taints", "pool"}));
    NodeSpec ns;
    if (!nd["name"]) return r.Err(nd, p + ".name", "is required");
    ALLOT_TRY(r.Str(nd["name"], p + ".name", &ns.name));
    if (ns.name.empty() || !names.insert(ns.name).second) return r.Err(nd["name"], p + ".name", "empty or duplicate");
    if (!nd["capacity"]) return r.Err(nd, p + ".capacity", "is required");
    ALLOT_TRY(r.Resources(nd["capacity"], p + ".capacity", &ns.capacity));
    if (nd["allocated"]) ALLOT_TRY(r.Resources(nd["allocated"], p + ".allocated", &ns.allocated));
    if (nd["labels"]) ALLOT_TRY(r.Labels(nd["labels"], p + ".labels", &ns.labels));
    if (nd["pool"]) ALLOT_TRY(r.Str(nd["pool"], p + ".pool", &ns.pool));
    if (nd["taints"]) {
      const YAML::Node& ts = nd["taints"];
      if (!ts.IsSequence()) return r.Err(ts, p + ".taints", "must be a list");
      for (size_t j = 0; j < ts.size(); j++) {
        std::string tp = p + ".taints[" + std::to_string(j) + "]";
        ALLOT_TRY(r.Keys(ts[j], tp, {"key", "value", "effect"}));
        Taint t;
        if (ts[j]["key"]) ALLOT_TRY(r.Str(ts[j]["key"], tp + ".key", &t.key));
        if (ts[j]["value"]) ALLOT_TRY(r.Str(ts[j]["value"], tp + ".value", &t.value));
        if (ts[j]["effect"]) ALLOT_TRY(r.Str(ts[j]["effect"], tp + ".effect", &t.effect));
        ns.taints.push_back(t);
      }
    }
    out->push_back(std::move(ns));
  }
  return Status::Ok();
}

Status ParsePools(const Reader& r, const YAML::Node& n, std::vector<PoolConfig>* out) {
  if (!n.IsSequence()) return r.Err(n, "pools", "must be a list");
  std::set<std::string> names;
  for (size_t i = 0; i < n.size(); i++) {
    const YAML::Node& pn = n[i];
    std::string p = "pools[" + std::to_string(i) + "]";
    ALLOT_TRY(r.Keys(pn, p, {"name", "min_nodes", "max_nodes", "target_utilization", "tolerance", "scale_up_cooldown",
                             "scale_down_cooldown", "max_scale_down_step", "resource", "command", "command_timeout"}));
    PoolConfig pc;
    if (!pn["name"]) return r.Err(pn, p + ".name", "is required");
    ALLOT_TRY(r.Str(pn["name"], p + ".name", &pc.name));
    if (pc.name.empty() || !names.insert(pc.name).second) return r.Err(pn["name"], p + ".name", "empty or duplicate");
    int64_t v = 0;
    if (pn["min_nodes"]) {
      ALLOT_TRY(r.Int(pn["min_nodes"], p + ".min_nodes", 0, 1 << 20, &v));
      pc.min_nodes = static_cast<int32_t>(v);
    }
    if (!pn["max_nodes"]) return r.Err(pn, p + ".max_nodes", "is required");
    ALLOT_TRY(r.Int(pn["max_nodes"], p + ".max_nodes", 0, 1 << 20, &v));
    pc.max_nodes = static_cast<int32_t>(v);
    if (pc.max_nodes < pc.min_nodes) return r.Err(pn["max_nodes"], p + ".max_nodes", "is below min_nodes");
    if (pn["target_utilization"]) {
      const YAML::Node& t = pn["target_utilization"];
      std::string text = t.IsScalar() ? t.as<std::string>() : "";
      double pct = 0;
      if (!text.empty() && text.back() == '%') {
        // "70%" reads as 0.7.
        YAML::Node num(text.substr(0, text.size() - 1));
        ALLOT_TRY(r.Double(num, p + ".target_utilization", 0, 100, &pct));
        pc.target_utilization = pct / 100.0;
      } else {
        ALLOT_TRY(r.Double(t, p + ".target_utilization", 0, 1, &pc.target_utilization));
      }
      if (!(pc.target_utilization > 0)) return r.Err(t, p + ".target_utilization", "must be in (0, 1] (or a percent)");
    }
    if (pn["tolerance"]) ALLOT_TRY(r.Double(pn["tolerance"], p + ".tolerance", 0, 10, &pc.tolerance));
    if (pn["scale_up_cooldown"]) ALLOT_TRY(r.Duration(pn["scale_up_cooldown"], p + ".scale_up_cooldown", &pc.scale_up_cooldown_ms));
    if (pn["scale_down_cooldown"]) {
      ALLOT_TRY(r.Duration(pn["scale_down_cooldown"], p + ".scale_down_cooldown", &pc.scale_down_cooldown_ms));
    }
    if (pn["max_scale_down_step"]) {
      ALLOT_TRY(r.Int(pn["max_scale_down_step"], p + ".max_scale_down_step", 0, 1 << 20, &v));
      pc.max_scale_down_step = static_cast<int32_t>(v);
    }
    if (pn["resource"]) {
      ALLOT_TRY(r.Str(pn["resource"], p + ".resource", &pc.resource));
      if (auto s = ValidateResourceName(pc.resource); !s.ok()) return r.Err(pn["resource"], p + ".resource", s.message());
      pc.resource = CanonicalResourceName(pc.resource);
    }
    if (const YAML::Node& c = pn["command"]) {
      // A list is the argv as is; a string is split on blanks (no shell, no quoting).
      if (c.IsSequence()) {
        for (size_t j = 0; j < c.size(); j++) {
          std::string a;
          ALLOT_TRY(r.Str(c[j], p + ".command[" + std::to_string(j) + "]", &a));
          pc.command.push_back(a);
        }
      } else {
        std::string line;
        ALLOT_TRY(r.Str(c, p + ".command", &line));
        std::istringstream words(line);
        for (std::string w; words >> w;) pc.command.push_back(w);
      }
      if (pc.command.empty() || pc.command[0].empty()) return r.Err(c, p + ".command", "names no program");
    }
    if (pn["command_timeout"]) ALLOT_TRY(r.Duration(pn["command_timeout"], p + ".command_timeout", &pc.command_timeout_ms));
    out->push_back(std::move(pc));
  }
  return Status::Ok();
}

// Seed 001's config/resource_limits.yaml: `limits.global` caps and `limits.agent_types` (each agent type
// a tenant whose quota max is its row; api_quota a concurrency pool `api_quota:TYPE`).
Status ParseSeedLimits(const Reader& r, const YAML::Node& l, ServerConfig* c, YAML::Node* pools,
                       std::vector<std::string>* agent_types) {
  if (const YAML::Node& g = l["global"]) {
    ALLOT_TRY(r.Keys(g, "limits.global", {"max_cpu_per_agent", "max_memory_per_agent", "max_concurrent_allocations"}));
    if (g["max_cpu_per_agent"]) {
      ALLOT_TRY(r.SeedAmount(g["max_cpu_per_agent"], "limits.global.max_cpu_per_agent", "cpu", &c->max_cpu_per_agent));
    }
    if (g["max_memory_per_agent"]) {
      ALLOT_TRY(r.SeedAmount(g["max_memory_per_agent"], "limits.global.max_memory_per_agent", "memory",
                             &c->max_memory_per_agent));
    }
    if (g["max_concurrent_allocations"]) {
      int64_t v = 0;
      ALLOT_TRY(r.Int(g["max_concurrent_allocations"], "limits.global.max_concurrent_allocations", 0, 1LL << 40, &v));
      c->max_concurrent_allocations = static_cast<size_t>(v);
    }
  }
  if (const YAML::Node& types = l["agent_types"]) {
    if (!types.IsMap()) return r.Err(types, "limits.agent_types", "must be a mapping of agent types");
    for (auto it = types.begin(); it != types.end(); ++it) {
      std::string name = it->first.as<std::string>();
      std::string p = "limits.agent_types." + name;
      if (auto e = server::ValidateTenant(name, p)) return r.Err(it->first, p, e->message);
      if (!it->second.IsMap()) return r.Err(it->second, p, "must be a mapping of resource: amount");
      TenantSpec t;
      t.path = name;
      for (auto res = it->second.begin(); res != it->second.end(); ++res) {
        std::string rn = res->first.as<std::string>();
        std::string f = p + "." + rn;
        if (rn == "api_quota") {
          // Requests of a shared external API: a concurrency pool of that many units for the type.
          int64_t units = 0;
          ALLOT_TRY(r.Int(res->second, f, 1, 1LL << 40, &units));
          YAML::Node pool;
          pool["capacity"] = units;
          pool["ttl"] = "1h";
          (*pools)["api_quota:" + name] = pool;
          continue;
        }
        if (auto s = ValidateResourceName(rn); !s.ok()) return r.Err(res->first, f, s.message());
        int64_t amount = 0;
        ALLOT_TRY(r.SeedAmount(res->second, f, rn, &amount));
        t.max[CanonicalResourceName(rn)] = amount;
      }
      c->tenants.push_back(std::move(t));
      agent_types->push_back(name);
    }
  }
  return Status::Ok();
}

// Seed 001's config/allocation_policies.yaml: `policies.scheduling|quotas|throttling` onto allot's policy,
// the agent types' quotas and the degradation thresholds and rate limits.
// Quotas of seed 001's agent types: policies.quotas.burst_allowance and grace_period.
struct SeedQuotaPolicy {
  double burst = 1.0;
  int64_t grace_ms = 0;
};

Status ParseSeedPolicies(const Reader& r, const YAML::Node& n, ServerConfig* c, YAML::Node* throttling,
                         SeedQuotaPolicy* quota) {
  ALLOT_TRY(r.Keys(n, "policies", {"scheduling", "quotas", "throttling"}));
  if (const YAML::Node& s = n["scheduling"]) {
    ALLOT_TRY(r.Keys(s, "policies.scheduling", {"algorithm", "preemption_enabled", "backfill_enabled"}));
    if (s["algorithm"]) {
      std::string a;
      ALLOT_TRY(r.Str(s["algorithm"], "policies.scheduling.algorithm", &a));
      // The seed's names: priority (FIFO within priorities), fair share (DRF), bin packing, load balancing.
      if (a == "priority_with_fairshare" || a == "fair_share" || a == "fairshare" || a == "drf") {
        c->policy.fair_share = "drf";
      } else if (a == "priority" || a == "fifo") {
        c->policy.fair_share = "none";
      } else if (a == "bin_packing") {
        c->policy.scoring = "most-allocated";
      } else if (a == "load_balancing" || a == "spread") {
        c->policy.scoring = "least-allocated";
      } else {
        return r.Err(s["algorithm"], "policies.scheduling.algorithm",
                     "unknown algorithm \"" + a +
                         "\" (priority, priority_with_fairshare, fair_share, bin_packing, load_balancing)");
      }
    }
    if (s["preemption_enabled"]) ALLOT_TRY(r.Bool(s["preemption_enabled"], "policies.scheduling.preemption_enabled", &c->policy.preemption));
    if (s["backfill_enabled"]) ALLOT_TRY(r.Bool(s["backfill_enabled"], "policies.scheduling.backfill_enabled", &c->policy.backfill));
  }
  if (const YAML::Node& q = n["quotas"]) {
    ALLOT_TRY(r.Keys(q, "policies.quotas", {"enforcement", "burst_allowance", "grace_period"}));
    if (q["enforcement"]) {
      std::string e;
      ALLOT_TRY(r.Str(q["enforcement"], "policies.quotas.enforcement", &e));
      if (e == "strict") c->policy.quota_mode = QuotaMode::kStrict;
      else if (e == "soft" || e == "queue") c->policy.quota_mode = QuotaMode::kQueue;
      else return r.Err(q["enforcement"], "policies.quotas.enforcement", "must be strict or soft");
    }
    if (q["burst_allowance"]) ALLOT_TRY(r.Double(q["burst_allowance"], "policies.quotas.burst_allowance", 1.0, 100.0, &quota->burst));
    if (q["grace_period"]) ALLOT_TRY(r.Duration(q["grace_period"], "policies.quotas.grace_period", &quota->grace_ms));
  }
  if (const YAML::Node& t = n["throttling"]) {
    ALLOT_TRY(r.Keys(t, "policies.throttling", {"enabled", "cpu_threshold", "memory_threshold", "api_rate_limit"}));
    bool enabled = true;
    if (t["enabled"]) ALLOT_TRY(r.Bool(t["enabled"], "policies.throttling.enabled", &enabled));
    if (!enabled) return Status::Ok();
    // The threshold is where the cluster is heavily loaded (level 3); the other levels keep their
    // distances below it (default 70/85/95/100).
    for (const char* res : {"cpu", "memory"}) {
      std::string key = std::string(res) + "_threshold";
      if (!t[key]) continue;
      int64_t pct = 0;
      ALLOT_TRY(r.Int(t[key], "policies.throttling." + key, 30, 100, &pct));
      YAML::Node levels;
      for (int64_t v : {pct - 25, pct - 10, pct, std::min<int64_t>(100, pct + 5)}) levels.push_back(v);
      (*throttling)["degradation"]["thresholds"][res] = levels;
    }
    if (t["api_rate_limit"]) {
      // Requests per minute of the shared external API (seed 001's api_quotas unit), burst one minute.
      int64_t per_minute = 0;
      ALLOT_TRY(r.Int(t["api_rate_limit"], "policies.throttling.api_rate_limit", 1, 1LL << 40, &per_minute));
      YAML::Node rl;
      rl["rate"] = std::to_string(per_minute) + "/m";
      rl["burst"] = per_minute;
      (*throttling)["ratelimits"]["api_rate_limit"] = rl;
    }
  }
  return Status::Ok();
}

Status ParseLimits(const Reader& r, const YAML::Node& l, ServerConfig* out, YAML::Node* pools,
                   std::vector<std::string>* agent_types) {
  ServerConfig& c = *out;
  ALLOT_TRY(ParseSeedLimits(r, l, out, pools, agent_types));
  ALLOT_TRY(
      r.Keys(l, "limits",
             {"max_allocations_per_tenant", "max_concurrent_allocations", "max_lease", "max_body_bytes",
              "max_json_depth", "max_queue", "max_connections", "workers", "allocations_on_io_thread",
              "request_timeout", "idle_timeout", "max_watch", "write_timeout", "max_connections_per_address",
              "max_pending_output_bytes", "send_buffer_bytes", "global", "agent_types"}));
  int64_t v;
  if (l["max_allocations_per_tenant"]) {
    ALLOT_TRY(r.Int(l["max_allocations_per_tenant"], "limits.max_allocations_per_tenant", 0, 1LL << 40, &v));
    c.max_allocations_per_tenant = static_cast<size_t>(v);
  }
  if (l["max_concurrent_allocations"]) {
    ALLOT_TRY(r.Int(l["max_concurrent_allocations"], "limits.max_concurrent_allocations", 0, 1LL << 40, &v));
    c.max_concurrent_allocations = static_cast<size_t>(v);
  }
  if (l["max_lease"]) ALLOT_TRY(r.Duration(l["max_lease"], "limits.max_lease", &c.max_lease_ms));
  if (l["max_body_bytes"]) {
    ALLOT_TRY(r.Bytes(l["max_body_bytes"], "limits.max_body_bytes", 1024, 64 << 20, &v));
    c.max_body_bytes = static_cast<size_t>(v);
  }
  if (l["max_json_depth"]) {
    ALLOT_TRY(r.Int(l["max_json_depth"], "limits.max_json_depth", 2, 256, &v));
    c.max_json_depth = static_cast<int>(v);
  }
  if (l["max_queue"]) {
    ALLOT_TRY(r.Int(l["max_queue"], "limits.max_queue", 0, 1 << 20, &v));
    c.max_queue = static_cast<size_t>(v);
  }
  if (l["max_connections"]) {
    ALLOT_TRY(r.Int(l["max_connections"], "limits.max_connections", 1, 1 << 20, &v));
    c.max_connections = static_cast<size_t>(v);
  }
  if (l["workers"]) {
    ALLOT_TRY(r.Int(l["workers"], "limits.workers", 1, 64, &v));
    c.workers = static_cast<int>(v);
  }
  if (l["allocations_on_io_thread"]) {
    std::string m;
    ALLOT_TRY(r.Str(l["allocations_on_io_thread"], "limits.allocations_on_io_thread", &m));
    using W = ServerConfig::IoThreadAllocations;
    if (m == "auto")
      c.allocations_on_io_thread = W::kAuto;
    else if (m == "always")
      c.allocations_on_io_thread = W::kAlways;
    else if (m == "when_idle")
      c.allocations_on_io_thread = W::kWhenIdle;
    else
      return r.Err(l["allocations_on_io_thread"], "limits.allocations_on_io_thread",
                   "must be auto, always or when_idle, not \"" + m + "\"");
  }
  if (l["request_timeout"]) ALLOT_TRY(r.Duration(l["request_timeout"], "limits.request_timeout", &c.request_timeout_ms));
  if (l["idle_timeout"]) ALLOT_TRY(r.Duration(l["idle_timeout"], "limits.idle_timeout", &c.idle_timeout_ms));
  if (l["max_watch"]) ALLOT_TRY(r.Duration(l["max_watch"], "limits.max_watch", &c.max_watch_ms));
  if (l["write_timeout"]) ALLOT_TRY(r.Duration(l["write_timeout"], "limits.write_timeout", &c.write_timeout_ms));
  if (l["max_connections_per_address"]) {
    ALLOT_TRY(r.Int(l["max_connections_per_address"], "limits.max_connections_per_address", 0, 1 << 20, &v));
    c.max_connections_per_address = static_cast<size_t>(v);
  }
  if (l["max_pending_output_bytes"]) {
    ALLOT_TRY(r.Bytes(l["max_pending_output_bytes"], "limits.max_pending_output_bytes", 0, 64 << 20, &v));
    c.max_pending_output_bytes = static_cast<size_t>(v);
  }
  if (l["send_buffer_bytes"]) {
    ALLOT_TRY(r.Bytes(l["send_buffer_bytes"], "limits.send_buffer_bytes", 0, 64 << 20, &v));
    c.send_buffer_bytes = static_cast<int>(v);
  }
  return Status::Ok();
}

// store: where the state lives (as `--store` and the `--etcd-*` flags, which override it).
Status ParseStore(const Reader& r, const YAML::Node& n, StoreConfig* out) {
  ALLOT_TRY(r.Keys(n, "store", {"kind", "etcd_endpoints", "etcd_prefix", "etcd_lease_ttl", "etcd_max_txn_ops"}));
  if (n["kind"]) {
    ALLOT_TRY(r.Str(n["kind"], "store.kind", &out->kind));
    const auto& kinds = store::Kinds();
    if (std::find(kinds.begin(), kinds.end(), out->kind) == kinds.end()) {
      return r.Err(n["kind"], "store.kind", "unknown store \"" + out->kind + "\" (sqlite, memory or etcd)");
    }
  }
  if (const YAML::Node& e = n["etcd_endpoints"]) {
    // A list of client URLs, or one comma-separated string as the flag takes.
    std::string list;
    if (e.IsSequence()) {
      for (size_t i = 0; i < e.size(); i++) {
        std::string url;
        ALLOT_TRY(r.Str(e[i], "store.etcd_endpoints[" + std::to_string(i) + "]", &url));
        list += (i ? "," : "") + url;
      }
    } else {
      ALLOT_TRY(r.Str(e, "store.etcd_endpoints", &list));
    }
    auto eps = ParseEtcdEndpoints(list);
    if (!eps.ok()) return r.Err(e, "store.etcd_endpoints", eps.error().message);
    out->etcd_endpoints = *eps;
  }
  if (n["etcd_prefix"]) {
    ALLOT_TRY(r.Str(n["etcd_prefix"], "store.etcd_prefix", &out->etcd_prefix));
    if (out->etcd_prefix.empty() || out->etcd_prefix[0] != '/') {
      return r.Err(n["etcd_prefix"], "store.etcd_prefix", "must start with /");
    }
  }
  if (n["etcd_lease_ttl"])
    ALLOT_TRY(r.Seconds(n["etcd_lease_ttl"], "store.etcd_lease_ttl", 1, 3600, &out->etcd_lease_ttl_s));
  if (n["etcd_max_txn_ops"]) {
    int64_t v = 0;
    ALLOT_TRY(r.Int(n["etcd_max_txn_ops"], "store.etcd_max_txn_ops", 8, 1 << 20, &v));
    out->etcd_max_txn_ops = static_cast<size_t>(v);
  }
  return Status::Ok();
}

// history: sampling and tiers (allot/history.h; docs/server-config.md#history).
Status ParseHistory(const Reader& r, const YAML::Node& n, history::Options* out) {
  ALLOT_TRY(r.Keys(n, "history", {"interval", "tiers", "node_resources"}));
  auto seconds = [&](const YAML::Node& v, const std::string& key, int64_t* s) -> Status {
    int64_t ms = 0;
    ALLOT_TRY(r.Duration(v, key, &ms));
    if (ms % 1000 != 0) return r.Err(v, key, "must be whole seconds");
    *s = ms / 1000;
    return Status::Ok();
  };
  if (n["interval"]) ALLOT_TRY(seconds(n["interval"], "history.interval", &out->interval_s));
  if (const YAML::Node& ts = n["tiers"]) {
    if (!ts.IsSequence()) return r.Err(ts, "history.tiers", "must be a list of {step, keep, nodes}");
    out->tiers.clear();
    for (size_t i = 0; i < ts.size(); i++) {
      std::string p = "history.tiers[" + std::to_string(i) + "]";
      ALLOT_TRY(r.Keys(ts[i], p, {"step", "keep", "nodes"}));
      history::Tier t;
      if (!ts[i]["step"] || !ts[i]["keep"]) return r.Err(ts[i], p, "needs step and keep");
      ALLOT_TRY(seconds(ts[i]["step"], p + ".step", &t.step_s));
      ALLOT_TRY(seconds(ts[i]["keep"], p + ".keep", &t.keep_s));
      if (ts[i]["nodes"]) ALLOT_TRY(r.Bool(ts[i]["nodes"], p + ".nodes", &t.nodes));
      out->tiers.push_back(t);
    }
  }
  if (const YAML::Node& nr = n["node_resources"]) {
    if (!nr.IsSequence()) return r.Err(nr, "history.node_resources", "must be a list of resource names");
    out->node_resources.clear();
    for (size_t i = 0; i < nr.size(); i++) {
      std::string k = "history.node_resources[" + std::to_string(i) + "]", name;
      ALLOT_TRY(r.Str(nr[i], k, &name));
      if (auto s = ValidateResourceName(name); !s.ok()) return r.Err(nr[i], k, s.message());
      out->node_resources.push_back(CanonicalResourceName(name));
    }
  }
  if (auto s = history::ValidateOptions(*out); !s.ok()) {
    // "history.tiers[1].step: must be ..." names its key; the line is the section's.
    const std::string& m = s.message();
    size_t colon = m.find(": ");
    return r.Err(n, m.substr(0, colon), colon == std::string::npos ? m : m.substr(colon + 2));
  }
  return Status::Ok();
}

// analytics: prices per resource-hour and their currency.
Status ParseAnalytics(const Reader& r, const YAML::Node& n, ServerConfig* c) {
  ALLOT_TRY(r.Keys(n, "analytics", {"prices", "currency"}));
  if (const YAML::Node& p = n["prices"]) {
    if (!p.IsMap()) return r.Err(p, "analytics.prices", "must be a mapping of resource: price per hour");
    for (auto it = p.begin(); it != p.end(); ++it) {
      std::string name = it->first.as<std::string>(), k = "analytics.prices." + name;
      if (auto s = ValidateResourceName(name); !s.ok()) return r.Err(it->first, k, s.message());
      double v = 0;
      ALLOT_TRY(r.Double(it->second, k, 0, 1e9, &v));
      c->prices[CanonicalResourceName(name)] = v;
    }
  }
  if (n["currency"]) {
    ALLOT_TRY(r.Str(n["currency"], "analytics.currency", &c->currency));
    if (c->currency.empty() || c->currency.size() > 16)
      return r.Err(n["currency"], "analytics.currency", "must be 1-16 characters");
  }
  return Status::Ok();
}

Result<ServerConfig> Parse(const YAML::Node& root, const std::string& origin) {
  Reader r(origin);
  ServerConfig c;
  if (root.IsNull()) return c;
  ALLOT_TRY(r.Keys(root, "", {"listen",    "advertise",     "data",
                              "dev",       "dashboard",     "auth",
                              "policy",    "limits",        "heartbeat_timeout",
                              "retention", "durability",    "log",
                              "tenants",   "nodes",         "throttling",
                              "pools",     "pool_interval", "forecast",
                              "store",     "units",         "policies",
                              "history",   "analytics",     "tls"}));
  if (root["listen"]) ALLOT_TRY(r.Str(root["listen"], "listen", &c.listen));
  if (root["advertise"]) {
    ALLOT_TRY(r.Str(root["advertise"], "advertise", &c.advertise));
    if (auto u = AdvertisedUrl(c); !u.ok()) return r.Err(root["advertise"], "advertise", u.error().message);
  }
  if (root["data"]) ALLOT_TRY(r.Str(root["data"], "data", &c.data_dir));
  if (root["dev"]) ALLOT_TRY(r.Bool(root["dev"], "dev", &c.dev));
  if (const YAML::Node& d = root["dashboard"]) {
    ALLOT_TRY(r.Keys(d, "dashboard", {"enabled", "dir"}));
    if (d["enabled"]) ALLOT_TRY(r.Bool(d["enabled"], "dashboard.enabled", &c.dashboard));
    if (d["dir"]) ALLOT_TRY(r.Str(d["dir"], "dashboard.dir", &c.dashboard_dir));
  }
  if (root["auth"]) ALLOT_TRY(ParseTokens(r, root["auth"], &c));
  if (root["tls"]) ALLOT_TRY(ParseTls(r, root["tls"], &c.tls));
  // Seed 001's files (limits.global, limits.agent_types, policies) add tenants, caps, pools, rate limits
  // and degradation thresholds; where allot's own keys say the same (policy, limits.*, throttling), they win.
  YAML::Node seed_throttling(YAML::NodeType::Map);
  std::vector<std::string> agent_types;
  SeedQuotaPolicy seed_quota;
  YAML::Node seed_pools(YAML::NodeType::Map);
  if (root["limits"]) ALLOT_TRY(ParseLimits(r, root["limits"], &c, &seed_pools, &agent_types));
  seed_throttling["pools"] = seed_pools;
  if (root["policies"]) ALLOT_TRY(ParseSeedPolicies(r, root["policies"], &c, &seed_throttling, &seed_quota));
  if (root["policy"]) ALLOT_TRY(ParsePolicy(r, root["policy"], &c.policy));
  if (root["store"]) ALLOT_TRY(ParseStore(r, root["store"], &c.store));
  if (root["units"]) {
    std::string units;
    ALLOT_TRY(r.Str(root["units"], "units", &units));
    if (units != "warn" && units != "strict") return r.Err(root["units"], "units", "must be warn or strict");
    c.strict_units = units == "strict";
  }
  if (root["heartbeat_timeout"]) ALLOT_TRY(r.Duration(root["heartbeat_timeout"], "heartbeat_timeout", &c.heartbeat_timeout_ms));
  if (const YAML::Node& rt = root["retention"]) {
    ALLOT_TRY(r.Keys(rt, "retention", {"finished_allocations", "finished_count", "events"}));
    if (rt["finished_allocations"]) {
      ALLOT_TRY(r.Duration(rt["finished_allocations"], "retention.finished_allocations", &c.finished_retention_ms));
    }
    if (rt["finished_count"]) {
      int64_t v;
      ALLOT_TRY(r.Int(rt["finished_count"], "retention.finished_count", 0, 100'000'000, &v));
      c.finished_retention_count = static_cast<size_t>(v);
    }
    if (rt["events"]) ALLOT_TRY(r.Duration(rt["events"], "retention.events", &c.events_retention_ms));
  }
  if (const YAML::Node& d = root["durability"]) {
    ALLOT_TRY(r.Keys(d, "durability", {"fsync"}));
    if (d["fsync"]) ALLOT_TRY(r.Bool(d["fsync"], "durability.fsync", &c.sync_full));
  }
  if (const YAML::Node& lg = root["log"]) {
    ALLOT_TRY(r.Keys(lg, "log", {"requests", "level"}));
    if (const YAML::Node& rq = lg["requests"]) {
      // true / false, or the level request lines are written at.
      if (rq.IsScalar() && server::LogLevelRank(rq.Scalar()) >= 0) {
        c.request_log_level = rq.Scalar();
      } else if (!r.Bool(rq, "log.requests", &c.log_requests).ok()) {
        return r.Err(rq, "log.requests", "must be true, false or a level (debug, info)");
      }
    }
    if (lg["level"]) {
      ALLOT_TRY(r.Str(lg["level"], "log.level", &c.log_level));
      if (server::LogLevelRank(c.log_level) < 0) return r.Err(lg["level"], "log.level", "must be debug, info or warn");
    }
  }
  if (root["tenants"]) ALLOT_TRY(ParseTenants(r, root["tenants"], &c.tenants, &c.auto_create_tenants));
  for (auto& t : c.tenants) {
    if (std::find(agent_types.begin(), agent_types.end(), t.path) == agent_types.end()) continue;
    t.burst = seed_quota.burst;
    t.grace = seed_quota.grace_ms;
  }
  if (root["nodes"]) ALLOT_TRY(ParseNodes(r, root["nodes"], &c.nodes));
  if (root["pools"]) ALLOT_TRY(ParsePools(r, root["pools"], &c.pools));
  if (root["pool_interval"]) {
    ALLOT_TRY(r.Duration(root["pool_interval"], "pool_interval", &c.pool_interval_ms));
    if (c.pool_interval_ms < 10) return r.Err(root["pool_interval"], "pool_interval", "must be at least 10ms");
  }
  if (const YAML::Node& f = root["forecast"]) {
    ALLOT_TRY(r.Keys(f, "forecast", {"alpha", "beta", "horizon"}));
    if (f["alpha"]) ALLOT_TRY(r.Double(f["alpha"], "forecast.alpha", 1e-6, 1, &c.forecast_alpha));
    if (f["beta"]) ALLOT_TRY(r.Double(f["beta"], "forecast.beta", 1e-6, 1, &c.forecast_beta));
    int64_t h = 0;
    if (f["horizon"]) {
      ALLOT_TRY(r.Int(f["horizon"], "forecast.horizon", 1, 1000, &h));
      c.forecast_horizon = static_cast<int>(h);
    }
  }
  if (root["history"]) ALLOT_TRY(ParseHistory(r, root["history"], &c.history));
  if (root["analytics"]) ALLOT_TRY(ParseAnalytics(r, root["analytics"], &c));
  YAML::Node throttling = root["throttling"] ? YAML::Clone(root["throttling"]) : YAML::Node(YAML::NodeType::Map);
  if (throttling.IsMap()) {
    for (const char* section : {"pools", "ratelimits"}) {
      const YAML::Node& seeded = seed_throttling[section];
      for (auto it = seeded.begin(); it != seeded.end(); ++it) {
        std::string key = it->first.as<std::string>();
        if (!throttling[section][key]) throttling[section][key] = it->second;
      }
    }
    if (seed_throttling["degradation"] && !throttling["degradation"]) throttling["degradation"] = seed_throttling["degradation"];
  }
  if (root["throttling"] || (throttling.IsMap() && throttling.size() > 0)) {
    // The sections the server itself applies are checked here, so that errors name this file's lines;
    // the rest is the rate-limit module's to check.
    const YAML::Node& t = throttling;
    if (t.IsMap() && t["degradation"]) {
      auto d = throttle::ParseDegradationNode(t["degradation"], "throttling.degradation");
      if (!d.ok()) return InvalidArgument(origin + ": " + d.error().message);
      c.degradation_enforced = true;
    }
    if (t.IsMap() && t["admission"]) {
      auto a = throttle::ParseAimdNode(t["admission"], "throttling.admission");
      if (!a.ok()) return InvalidArgument(origin + ": " + a.error().message);
      c.admission_enforced = true;
    }
    YAML::Emitter e;
    e << throttling;
    c.throttling_yaml = e.c_str();
  }
  return c;
}

}  // namespace

Result<ServerConfig> ParseServerConfig(const std::string& text, const std::string& origin) {
  try {
    return Parse(YAML::Load(text), origin);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

namespace {

Result<std::string> ReadConfigFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument(path + ": cannot read the config file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void MergeInto(YAML::Node dst, const YAML::Node& src) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    std::string key = it->first.as<std::string>();
    if (dst[key] && dst[key].IsMap() && it->second.IsMap()) {
      MergeInto(dst[key], it->second);
    } else {
      dst[key] = YAML::Clone(it->second);
    }
  }
}

}  // namespace

Result<ServerConfig> LoadServerConfigs(const std::vector<std::string>& paths) {
  if (paths.size() == 1) return LoadServerConfig(paths[0]);
  YAML::Node merged(YAML::NodeType::Map);
  std::string origin;
  for (const auto& path : paths) {
    auto text = ReadConfigFile(path);
    if (!text.ok()) return text.error();
    if (auto alone = ParseServerConfig(*text, path); !alone.ok()) return alone.error();
    try {
      YAML::Node n = YAML::Load(*text);
      if (n.IsMap()) MergeInto(merged, n);
    } catch (const YAML::Exception& e) {
      return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    origin += (origin.empty() ? "" : " + ") + path;
  }
  try {
    return Parse(merged, origin);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(origin + ": " + e.msg);
  }
}

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument(path + ": cannot read the config file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseServerConfig(ss.str(), path);
}

}  // namespace allot
