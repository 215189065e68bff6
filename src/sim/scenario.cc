// Scenario loading and validation for `allot sim` (format: DESIGN.md).
#include <array>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "allot/policy.h"
#include "allot/quantity.h"
#include "allot/resources.h"
#include "allot/sim.h"
#include "allot/utf8.h"
#include "allot/yaml_utf8.h"
#include "sim/loader.h"
#include "sim/yaml_tree.h"
#include "sim/yaml_util.h"

namespace allot::sim {
namespace {

// Priorities are a name (background=0 ... critical=4) or an integer in [0, kMaxPriority], as in the API.
constexpr int kMaxPriority = 1'000'000;
// Tenant paths are at most this long, as in the API (a path of thousands of levels cost quadratic memory).
constexpr size_t kMaxTenantPath = 253;
// Distinct (resource, quantity text) pairs the loader remembers before it starts afresh.
constexpr size_t kMaxRememberedAmounts = 4096;

// The values of `names` in mapping `n` (first match, as YamlNode::operator[]; undefined when absent),
// found in one pass over its pairs.
// Every wanted key's value in one pass over a mapping (the first pair of each key). `unknown`, when
// given, is set if a key is none of `want` (CheckKeys then says which).
template <size_t N>
std::array<YamlNode, N> Pick(const YamlNode& n, const std::array<std::string_view, N>& want,
                             bool* unknown = nullptr) {
  std::array<YamlNode, N> out;
  for (auto it = n.begin(); it != n.end(); ++it) {
    size_t i = 0;
    if (it->first.IsScalar()) {
      std::string_view k = it->first.Scalar();
      // Length and first byte before the bytes: most keys differ there (fewer memcmp calls).
      while (i < N && !(k.size() == want[i].size() && !k.empty() && k[0] == want[i][0] && k == want[i])) i++;
    } else {
      i = N;
    }
    if (i == N) {
      if (unknown != nullptr) *unknown = true;
    } else if (!out[i].IsDefined()) {
      out[i] = it->second;
    }
  }
  return out;
}

class Loader {
 public:
  // Where streamed events go (with the head loaded so far): nullptr keeps them in Scenario::events.
  // `pos`: the event's byte offset in the text (for progress).
  using Sink = std::function<void(const Scenario& head, const Event&, size_t pos)>;
  explicit Loader(const std::string& file, Sink sink = nullptr) : d_(file), sink_(std::move(sink)) {}

  Result<ResourceMap> Resources(const YamlNode& n, const KeyPath& path) {
    ResourceMap out;
    if (!n.IsMap()) return d_.Err(n, path, "expected a mapping of resource: quantity");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string& name = it->first.Scalar();
      KeyPath p(path, name);
      if (!it->second.IsScalar()) {  // the name's error first, as ever
        if (auto st = ValidateResourceName(CanonicalResourceName(name)); !st.ok())
          return d_.Err(it->first, p, st.message());
        return d_.Err(it->second, p, "expected a single value");
      }
      auto amount = Amount(name, it->second.Scalar());
      if (!amount.ok())
        return d_.Err(amount.error().code == ErrorCode::kNotFound ? it->first : it->second, p,
                      amount.error().message);
      const auto& [canon, v] = **amount;
      if (!out.try_emplace(canon, v).second)
        return d_.Err(it->first, p, "resource given twice (" + canon + ")");
    }
    return out;
  }

  // A resource name and its quantity text: the canonical name and amount, remembered (scenarios repeat
  // a few amounts thousands of times). A bad name is kNotFound (the message names the key), a bad
  // amount kInvalidArgument (it names the value).
  Result<const std::pair<std::string, int64_t>*> Amount(const std::string& name, const std::string& text) {
    std::string& key = amount_key_;  // reused: no string is built per lookup
    key.assign(name).push_back('\0');
    key.append(text);
    if (auto hit = amounts_.find(key); hit != amounts_.end()) return &hit->second;
    std::string canon = CanonicalResourceName(name);
    if (auto st = ValidateResourceName(canon); !st.ok()) return Error{ErrorCode::kNotFound, st.message()};
    auto v = ParseResourceAmount(canon, text);
    if (!v.ok()) return Error{ErrorCode::kInvalidArgument, v.error().message};
    if (amounts_.size() >= kMaxRememberedAmounts) amounts_.clear();
    return &amounts_.emplace(key, std::make_pair(std::move(canon), *v)).first->second;
  }

  Result<Labels> StringMap(const YamlNode& n, const KeyPath& path) {
    Labels out;
    if (!n.IsMap()) return d_.Err(n, path, "expected a mapping of key: value");
    for (auto it = n.begin(); it != n.end(); ++it) {
      auto v = d_.Scalar(it->second, KeyPath(path, it->first.Scalar()));
      if (!v.ok()) return v.error();
      out[it->first.Scalar()] = *v;
    }
    return out;
  }

  Result<EngineOptions> Policy(const YamlNode& n) {
    EngineOptions o;
    if (!n.IsDefined() || n.IsNull()) return o;
    if (auto st = d_.CheckKeys(n, "policy",
                               {"scoring", "weights", "shape", "fair_share", "preemption", "backfill",
                                "quota_mode", "preemption_grace", "gpu_workload"});
        !st.ok())
      return st.error();
    if (n["scoring"]) {
      auto s = d_.Scalar(n["scoring"], "policy.scoring");
      if (!s.ok()) return s.error();
      auto name = CanonicalPolicyName(PolicyKind::kScoring, *s);
      if (!name) {
        return d_.Err(n["scoring"], "policy.scoring",
                      "unknown strategy \"" + *s + "\" (use " + PolicyNames(PolicyKind::kScoring) + ")");
      }
      o.scoring = *name;
    }
    if (n["weights"]) {
      if (!n["weights"].IsMap())
        return d_.Err(n["weights"], "policy.weights", "expected a mapping of resource: weight");
      for (auto it = n["weights"].begin(); it != n["weights"].end(); ++it) {
        std::string p = "policy.weights." + it->first.Scalar();
        auto w = d_.Integer(it->second, p);
        if (!w.ok()) return w.error();
        if (*w < 0) return d_.Err(it->second, p, "must not be negative");
        o.weights[CanonicalResourceName(it->first.Scalar())] = *w;
      }
    }
    if (n["shape"]) {
      const auto& sh = n["shape"];
      if (!sh.IsSequence() || sh.size() == 0)
        return d_.Err(sh, "policy.shape", "expected a list of {utilization, score}");
      for (size_t i = 0; i < sh.size(); i++) {
        std::string p = "policy.shape[" + std::to_string(i) + "]";
        if (auto st = d_.CheckKeys(sh[i], p, {"utilization", "score"}); !st.ok()) return st.error();
        if (!sh[i]["utilization"] || !sh[i]["score"]) return d_.Err(sh[i], p, "needs utilization and score");
        auto u = d_.Integer(sh[i]["utilization"], p + ".utilization");
        if (!u.ok()) return u.error();
        auto s = d_.Integer(sh[i]["score"], p + ".score");
        if (!s.ok()) return s.error();
        if (*u < 0 || *u > 100)
          return d_.Err(sh[i]["utilization"], p + ".utilization", "must be within 0-100");
        if (*s < 0 || *s > 10) return d_.Err(sh[i]["score"], p + ".score", "must be within 0-10");
        if (!o.shape.empty() && *u <= o.shape.back().first) {
          return d_.Err(sh[i]["utilization"], p + ".utilization",
                        "must be greater than the previous point's");
        }
        o.shape.emplace_back(*u, *s);
      }
    }
    if (n["fair_share"]) {
      auto s = d_.Scalar(n["fair_share"], "policy.fair_share");
      if (!s.ok()) return s.error();
      auto name = CanonicalPolicyName(PolicyKind::kQueueOrder, *s);
      if (!name) {
        return d_.Err(n["fair_share"], "policy.fair_share",
                      "unknown \"" + *s + "\" (use " + PolicyNames(PolicyKind::kQueueOrder) + ")");
      }
      o.fair_share = *name;
    }
    for (const char* k : {"preemption", "backfill"}) {
      if (!n[k]) continue;
      auto b = d_.Bool(n[k], std::string("policy.") + k);
      if (!b.ok()) return b.error();
      (std::string(k) == "preemption" ? o.preemption : o.backfill) = *b;
    }
    if (n["quota_mode"]) {
      auto s = d_.Scalar(n["quota_mode"], "policy.quota_mode");
      if (!s.ok()) return s.error();
      if (*s == "strict")
        o.quota_mode = QuotaMode::kStrict;
      else if (*s == "queue")
        o.quota_mode = QuotaMode::kQueue;
      else
        return d_.Err(n["quota_mode"], "policy.quota_mode", "unknown \"" + *s + "\" (use strict or queue)");
    }
    if (n["preemption_grace"]) {
      auto g = d_.Seconds(n["preemption_grace"], "policy.preemption_grace");
      if (!g.ok()) return g.error();
      o.preemption_grace = *g;
    }
    if (n["gpu_workload"]) {
      // gpu-fragmentation's expected workload: [{requests: {gpu, cpu, memory}, gpu_model, weight}, ...].
      const auto& wl = n["gpu_workload"];
      if (!wl.IsSequence()) {
        return d_.Err(wl, "policy.gpu_workload", "expected a list of {requests, gpu_model, weight}");
      }
      for (size_t i = 0; i < wl.size(); i++) {
        std::string p = "policy.gpu_workload[" + std::to_string(i) + "]";
        if (auto st = d_.CheckKeys(wl[i], p, {"requests", "gpu_model", "weight"}); !st.ok())
          return st.error();
        if (!wl[i]["requests"]) return d_.Err(wl[i], p, "needs requests");
        auto req = Resources(wl[i]["requests"], p + ".requests");
        if (!req.ok()) return req.error();
        GpuWorkloadClass c;
        for (const auto& [k, v] : *req) {
          if (k == "gpu")
            c.gpu = v;
          else if (k == "cpu")
            c.cpu = v;
          else if (k == "memory")
            c.memory = v;
          else
            return d_.Err(wl[i]["requests"], p + ".requests." + k,
                          "only gpu, cpu and memory describe a class");
        }
        if (c.gpu > 1000 && c.gpu % 1000 != 0) {
          return d_.Err(wl[i]["requests"], p + ".requests.gpu",
                        "neither a share of one device (below 1) nor whole devices");
        }
        if (wl[i]["gpu_model"]) {
          auto m = d_.Scalar(wl[i]["gpu_model"], p + ".gpu_model");
          if (!m.ok()) return m.error();
          c.gpu_model = *m;
        }
        if (wl[i]["weight"]) {
          auto w = d_.Number(wl[i]["weight"], p + ".weight");
          if (!w.ok()) return w.error();
          if (!(*w > 0)) return d_.Err(wl[i]["weight"], p + ".weight", "must be positive");
          c.weight = *w;
        }
        o.gpu_workload.push_back(std::move(c));
      }
    }
    return o;
  }

  Result<std::vector<Taint>> Taints(const YamlNode& n, const std::string& path) {
    std::vector<Taint> out;
    if (!n.IsSequence()) return d_.Err(n, path, "expected a list of taints");
    for (size_t i = 0; i < n.size(); i++) {
      std::string p = path + "[" + std::to_string(i) + "]";
      Taint t;
      if (n[i].IsScalar()) {  // "key=value:Effect" as kubectl writes it
        std::string s = n[i].Scalar();
        auto colon = s.rfind(':');
        if (colon != std::string::npos) {
          t.effect = s.substr(colon + 1);
          s = s.substr(0, colon);
        }
        auto eq = s.find('=');
        t.key = s.substr(0, eq);
        if (eq != std::string::npos) t.value = s.substr(eq + 1);
      } else {
        if (auto st = d_.CheckKeys(n[i], p, {"key", "value", "effect"}); !st.ok()) return st.error();
        for (const char* k : {"key", "value", "effect"}) {
          if (!n[i][k]) continue;
          auto v = d_.Scalar(n[i][k], p + "." + k);
          if (!v.ok()) return v.error();
          (std::string(k) == "key" ? t.key : std::string(k) == "value" ? t.value : t.effect) = *v;
        }
      }
      if (t.key.empty()) return d_.Err(n[i], p, "taint needs a key");
      if (t.effect != "NoSchedule" && t.effect != "PreferNoSchedule" && t.effect != "NoExecute") {
        return d_.Err(
            n[i], p,
            "effect \"" + QuoteForError(t.effect) + "\" (use NoSchedule, PreferNoSchedule or NoExecute)");
      }
      out.push_back(t);
    }
    return out;
  }

  Result<NodeSpec> Node(const YamlNode& n, const std::string& path) {
    NodeSpec s;
    if (auto st = d_.CheckKeys(n, path, {"name", "capacity", "labels", "taints", "pool", "allocated"});
        !st.ok())
      return st.error();
    if (!n["name"]) return d_.Err(n, path, "node needs a name");
    auto name = d_.Scalar(n["name"], path + ".name");
    if (!name.ok()) return name.error();
    s.name = *name;
    if (!n["capacity"]) return d_.Err(n, path, "node \"" + QuoteForError(s.name) + "\" needs a capacity");
    auto cap = Resources(n["capacity"], path + ".capacity");
    if (!cap.ok()) return cap.error();
    s.capacity = *cap;
    if (n["allocated"]) {
      auto a = Resources(n["allocated"], path + ".allocated");
      if (!a.ok()) return a.error();
      s.allocated = *a;
    }
    if (n["labels"]) {
      auto l = StringMap(n["labels"], path + ".labels");
      if (!l.ok()) return l.error();
      s.labels = *l;
    }
    if (n["taints"]) {
      auto t = Taints(n["taints"], path + ".taints");
      if (!t.ok()) return t.error();
      s.taints = *t;
    }
    if (n["pool"]) {
      auto p = d_.Scalar(n["pool"], path + ".pool");
      if (!p.ok()) return p.error();
      s.pool = *p;
    }
    return s;
  }

  // The quota fields of `q`; `check_keys` false when q is an event whose other keys were checked already.
  Status QuotaBody(const YamlNode& q, const std::string& p, TenantSpec* t, bool check_keys = true) {
    if (check_keys) {
      if (auto st = d_.CheckKeys(q, p, {"guaranteed", "max", "lending_limit", "burst", "grace"}); !st.ok())
        return st;
    }
    for (const char* k : {"guaranteed", "max", "lending_limit"}) {
      if (!q[k]) continue;
      auto r = Resources(q[k], p + "." + k);
      if (!r.ok()) return r.error();
      std::string key = k;
      (key == "guaranteed" ? t->guaranteed : key == "max" ? t->max : t->lending_limit) = *r;
    }
    if (q["burst"]) {
      auto b = d_.Number(q["burst"], p + ".burst");
      if (!b.ok()) return b.error();
      if (*b < 1) return d_.Err(q["burst"], p + ".burst", "must be at least 1");
      t->burst = *b;
    }
    if (q["grace"]) {
      auto g = d_.Seconds(q["grace"], p + ".grace");
      if (!g.ok()) return g.error();
      t->grace = *g;
    }
    for (const auto& [k, g] : t->guaranteed) {
      auto mx = t->max.find(k);
      if (mx != t->max.end() && g > mx->second) {
        return d_.Err(q["guaranteed"], p + ".guaranteed." + k,
                      "guaranteed (" + FormatResourceAmount(k, g) + ") is above max (" +
                          FormatResourceAmount(k, mx->second) + ")");
      }
    }
    return Status::Ok();
  }

  // "org/team/project": no empty segment, at most kMaxTenantPath characters (as in the API).
  Status TenantPath(const YamlNode& n, const KeyPath& p, const std::string& path) {
    if (path.empty() || path.front() == '/' || path.back() == '/' || path.find("//") != std::string::npos) {
      return d_.Err(n, p, "tenant path \"" + QuoteForError(path) + "\" is malformed (use org/team/project)");
    }
    if (path.size() > kMaxTenantPath) {
      return d_.Err(n, p,
                    "tenant path \"" + QuoteForError(path, 60) + "\" is longer than " +
                        std::to_string(kMaxTenantPath) + " characters");
    }
    return Status::Ok();
  }

  // A tenant entry: {path | name + parent, weight, quota}. Parents named with `parent` are resolved later.
  struct RawTenant {
    TenantSpec spec;
    std::string name, parent;
    YamlNode node;
  };

  Result<RawTenant> TenantEntry(const YamlNode& n, const std::string& p) {
    RawTenant rt;
    rt.node = n;
    if (auto st = d_.CheckKeys(n, p, {"path", "name", "parent", "weight", "quota"}); !st.ok())
      return st.error();
    if (n["path"]) {
      auto s = d_.Scalar(n["path"], p + ".path");
      if (!s.ok()) return s.error();
      rt.name = *s;
    } else if (n["name"]) {
      auto s = d_.Scalar(n["name"], p + ".name");
      if (!s.ok()) return s.error();
      rt.name = *s;
    } else {
      return d_.Err(n, p, "tenant needs a path");
    }
    if (auto st = TenantPath(n, p, rt.name); !st.ok()) return st.error();
    if (n["parent"]) {
      auto s = d_.Scalar(n["parent"], p + ".parent");
      if (!s.ok()) return s.error();
      rt.parent = *s;
    }
    if (n["weight"]) {
      auto w = d_.Number(n["weight"], p + ".weight");
      if (!w.ok()) return w.error();
      if (*w <= 0) return d_.Err(n["weight"], p + ".weight", "must be positive");
      rt.spec.weight = *w;
    }
    if (n["quota"]) {
      if (auto st = QuotaBody(n["quota"], p + ".quota", &rt.spec); !st.ok()) return st.error();
    }
    return rt;
  }

  Result<std::vector<TenantSpec>> Tenants(const YamlNode& n) {
    std::vector<TenantSpec> out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) return d_.Err(n, "tenants", "expected a list");
    std::vector<RawTenant> raw;
    std::map<std::string, size_t> by_name;
    for (size_t i = 0; i < n.size(); i++) {
      std::string p = "tenants[" + std::to_string(i) + "]";
      auto rt = TenantEntry(n[i], p);
      if (!rt.ok()) return rt.error();
      if (by_name.count(rt->name))
        return d_.Err(n[i], p, "tenant \"" + QuoteForError(rt->name) + "\" is listed twice");
      by_name[rt->name] = raw.size();
      raw.push_back(*rt);
    }
    // Resolve `parent` references to full paths; detect unknown parents and cycles. Iterative: a chain of
    // parents is as long as the file makes it.
    std::vector<std::string> full(raw.size());
    std::vector<int> state(raw.size(), 0);  // 0 new, 1 visiting, 2 done
    std::vector<size_t> chain;
    for (size_t i = 0; i < raw.size(); i++) {
      chain.clear();
      for (size_t cur = i; state[cur] != 2;) {
        if (state[cur] == 1) {
          return d_.Err(raw[cur].node, "tenants",
                        "tenant \"" + QuoteForError(raw[cur].name) + "\" is its own ancestor (cycle)");
        }
        state[cur] = 1;
        chain.push_back(cur);
        if (raw[cur].parent.empty()) break;
        auto it = by_name.find(raw[cur].parent);
        if (it == by_name.end()) {
          return d_.Err(raw[cur].node["parent"], "tenants",
                        "tenant \"" + QuoteForError(raw[cur].name) + "\" names unknown parent \"" +
                            QuoteForError(raw[cur].parent) + "\"");
        }
        cur = it->second;
      }
      for (auto k = chain.rbegin(); k != chain.rend(); ++k) {  // from the topmost ancestor down
        size_t j = *k;
        full[j] = raw[j].parent.empty() ? raw[j].name : full[by_name[raw[j].parent]] + "/" + raw[j].name;
        if (full[j].size() > kMaxTenantPath) {
          return d_.Err(raw[j].node, "tenants",
                        "tenant path \"" + QuoteForError(full[j], 60) + "\" is longer than " +
                            std::to_string(kMaxTenantPath) + " characters");
        }
        state[j] = 2;
      }
    }
    for (size_t i = 0; i < raw.size(); i++) {
      raw[i].spec.path = full[i];
      out.push_back(raw[i].spec);
    }
    // Children's guaranteed must fit in the parent's max: sums per parent path, then each max in list order.
    std::map<std::string, ResourceMap> child_sums;
    std::set<std::string> overflowed;  // parent path + "\n" + resource whose sum passed int64
    for (const auto& c : out) {
      size_t slash = c.path.rfind('/');
      if (slash == std::string::npos) continue;
      std::string parent = c.path.substr(0, slash);
      for (const auto& [res, g] : c.guaranteed) {
        int64_t& sum = child_sums[parent][res];
        if (__builtin_add_overflow(sum, g, &sum)) overflowed.insert(parent + "\n" + res);
      }
    }
    for (const auto& parent : out) {
      auto sums = child_sums.find(parent.path);
      if (sums == child_sums.end()) continue;
      for (const auto& [res, mx] : parent.max) {
        auto it = sums->second.find(res);
        int64_t sum = it == sums->second.end() ? 0 : it->second;
        bool too_big = overflowed.count(parent.path + "\n" + res) > 0;
        if (sum > mx || too_big) {
          return d_.Err(raw[by_name.count(parent.path) ? by_name[parent.path] : 0].node, "tenants",
                        "children of " + QuoteForError(parent.path) + " guarantee " +
                            (too_big ? std::string("more than 2^63") : FormatResourceAmount(res, sum)) + " " +
                            res + ", above its max " + FormatResourceAmount(res, mx));
        }
      }
    }
    return out;
  }

  // Reads a submit into *out (a fresh RequestSpec: filled in place, never copied or moved).
  Status Submit(const YamlNode& n, const KeyPath& p, RequestSpec* out) {
    RequestSpec& r = *out;
    static constexpr std::array<std::string_view, 15> kKeys = {
        "id",     "tenant",   "workflow", "priority",    "requests",
        "limits", "duration", "selector", "tolerations", "preemptible",
        "count",  "spread",   "wait",     "reservation", "gpu_model"};
    // Every key's value in one pass over the mapping (a submit is looked up ~20 times).
    bool unknown = false;
    auto f = Pick(n, kKeys, &unknown);
    if (unknown || !n.IsMap()) {
      return d_.CheckKeys(n, p,
                          {kKeys[0], kKeys[1], kKeys[2], kKeys[3], kKeys[4], kKeys[5], kKeys[6], kKeys[7],
                           kKeys[8], kKeys[9], kKeys[10], kKeys[11], kKeys[12], kKeys[13], kKeys[14]});
    }
    enum : size_t {
      kId,
      kTenant,
      kWorkflow,
      kPriority,
      kRequests,
      kLimits,
      kDuration,
      kSelector,
      kTolerations,
      kPreemptible,
      kCount,
      kSpread,
      kWait,
      kReservation,
      kGpuModel
    };
    if (!f[kId]) return d_.Err(n, p, "submit needs an id");
    if (auto st = d_.ScalarTo(f[kId], KeyPath(p, "id"), &r.id); !st.ok()) return st;
    if (r.id.empty()) return d_.Err(f[kId], KeyPath(p, "id"), "is empty");
    for (auto [i, field] : {std::pair{kTenant, &r.tenant}, std::pair{kWorkflow, &r.workflow},
                            std::pair{kReservation, &r.reservation}, std::pair{kGpuModel, &r.gpu_model}}) {
      if (!f[i]) continue;
      if (auto st = d_.ScalarTo(f[i], KeyPath(p, kKeys[i]), field); !st.ok()) return st;
      if (i == kTenant) {
        if (auto st = TenantPath(f[i], KeyPath(p, "tenant"), *field); !st.ok()) return st;
      }
    }
    if (auto g = r.requests.find("gpu"); g != r.requests.end() && g->second > 1000 && g->second % 1000 != 0) {
      return d_.Err(f[kRequests], KeyPath(KeyPath(p, "requests"), "gpu"),
                    "a GPU request is a share of one device (below 1) or whole devices");
    }
    if (f[kPriority]) {
      if (!f[kPriority].IsScalar())
        return d_.Err(f[kPriority], KeyPath(p, "priority"), "expected a single value");
      auto pr = ParsePriority(f[kPriority].Scalar());
      if (!pr.ok()) return d_.Err(f[kPriority], KeyPath(p, "priority"), pr.error().message);
      if (*pr < 0 || *pr > kMaxPriority) {
        return d_.Err(f[kPriority], KeyPath(p, "priority"),
                      "must be 0 (background) to " + std::to_string(kMaxPriority) +
                          ", or one of critical, high, normal, low, background");
      }
      r.priority = *pr;
    }
    if (!f[kRequests]) return d_.Err(n, p, "submit \"" + QuoteForError(r.id) + "\" needs requests");
    auto req = Resources(f[kRequests], KeyPath(p, "requests"));
    if (!req.ok()) return req.error();
    r.requests = std::move(*req);
    if (r.requests.empty()) return d_.Err(f[kRequests], KeyPath(p, "requests"), "is empty");
    if (f[kLimits]) {
      auto lim = Resources(f[kLimits], KeyPath(p, "limits"));
      if (!lim.ok()) return lim.error();
      for (const auto& [k, v] : *lim) {
        auto rq = r.requests.find(k);
        if (rq != r.requests.end() && v < rq->second) {
          return d_.Err(f[kLimits], KeyPath(KeyPath(p, "limits"), k), "limit is below the request");
        }
      }
      r.limits = std::move(*lim);
    }
    if (f[kDuration]) {
      auto v = d_.Seconds(f[kDuration], KeyPath(p, "duration"));
      if (!v.ok()) return v.error();
      if (*v <= 0) return d_.Err(f[kDuration], KeyPath(p, "duration"), "must be positive");
      r.duration = *v;
    }
    if (f[kWait]) {
      auto v = d_.Seconds(f[kWait], KeyPath(p, "wait"));
      if (!v.ok()) return v.error();
      r.wait = *v;
    }
    if (f[kSelector]) {
      auto s = StringMap(f[kSelector], KeyPath(p, "selector"));
      if (!s.ok()) return s.error();
      r.selector = std::move(*s);
    }
    if (f[kTolerations]) {
      const auto& ts = f[kTolerations];
      if (!ts.IsSequence()) return d_.Err(ts, KeyPath(p, "tolerations"), "expected a list");
      for (size_t i = 0; i < ts.size(); i++) {
        std::string tp = p.str() + ".tolerations[" + std::to_string(i) + "]";
        if (auto st = d_.CheckKeys(ts[i], tp, {"key", "operator", "value", "effect"}); !st.ok())
          return st.error();
        Toleration t;
        if (ts[i]["key"]) t.key = ts[i]["key"].Scalar();
        if (ts[i]["operator"]) t.op = ts[i]["operator"].Scalar();
        if (ts[i]["value"]) t.value = ts[i]["value"].Scalar();
        if (ts[i]["effect"]) t.effect = ts[i]["effect"].Scalar();
        if (t.op != "Equal" && t.op != "Exists")
          return d_.Err(ts[i], KeyPath(tp, "operator"), "use Equal or Exists");
        r.tolerations.push_back(t);
      }
    }
    for (auto [i, field] : {std::pair{kPreemptible, &r.preemptible}, std::pair{kSpread, &r.spread}}) {
      if (!f[i]) continue;
      auto b = d_.Bool(f[i], KeyPath(p, kKeys[i]));
      if (!b.ok()) return b.error();
      *field = *b;
    }
    if (f[kCount]) {
      auto c = d_.Integer(f[kCount], KeyPath(p, "count"));
      if (!c.ok()) return c.error();
      if (*c < 1 || *c > 10000) return d_.Err(f[kCount], KeyPath(p, "count"), "must be within 1-10000");
      r.count = static_cast<int>(*c);
    }
    return Status::Ok();
  }

  Result<ReservationSpec> Reserve(const YamlNode& n, const std::string& p) {
    ReservationSpec r;
    if (auto st = d_.CheckKeys(n, p, {"id", "tenant", "start", "end", "requests", "nodes", "pool"}); !st.ok())
      return st.error();
    for (const char* k : {"id", "start", "end", "requests"})
      if (!n[k]) return d_.Err(n, p, std::string("reservation needs ") + k);
    auto id = d_.Scalar(n["id"], p + ".id");
    if (!id.ok()) return id.error();
    r.id = *id;
    if (n["tenant"]) {
      auto t = d_.Scalar(n["tenant"], p + ".tenant");
      if (!t.ok()) return t.error();
      if (auto st = TenantPath(n["tenant"], p + ".tenant", *t); !st.ok()) return st.error();
      r.tenant = *t;
    }
    auto s = d_.Seconds(n["start"], p + ".start");
    if (!s.ok()) return s.error();
    auto e = d_.Seconds(n["end"], p + ".end");
    if (!e.ok()) return e.error();
    if (*e <= *s) return d_.Err(n["end"], p + ".end", "must be after start");
    r.start = *s;
    r.end = *e;
    auto req = Resources(n["requests"], p + ".requests");
    if (!req.ok()) return req.error();
    r.requests = std::move(*req);
    if (n["nodes"]) {
      if (!n["nodes"].IsSequence()) return d_.Err(n["nodes"], p + ".nodes", "expected a list of node names");
      for (const auto& x : n["nodes"]) r.nodes.push_back(x.Scalar());
    }
    if (n["pool"]) r.pool = n["pool"].Scalar();
    return r;
  }

  // The common layout, events last, streams: each event is loaded as soon as it is parsed and its tree
  // is forgotten. Any other layout (a top-level key after events, events not a list) or any error, which
  // must be the first in file order, loads again from the whole tree.
  Result<Scenario> Load(const std::string& text) {
    ids_.reserve(text.size() / 256);  // most events are submits of 100-200 bytes
    if (LooksLikeJson(text)) {
      auto sc = LoadJson(text);
      if (!json_refused_) return sc;
      Reset();
    }
    try {
      if (auto sc = LoadStreaming(text)) return std::move(*sc);
      Reset();
      YamlTree tree;
      tree.Parse(text);
      return LoadRoot(tree.root(), text.size());
    } catch (const YAML::Exception& e) {
      return InvalidArgument(d_.file() + ":" + std::to_string(e.mark.line + 1) + ":" +
                             std::to_string(e.mark.column + 1) + ": invalid YAML/JSON: " + e.msg);
    }
  }

  static bool LooksLikeJson(const std::string& text) {
    size_t i = text.find_first_not_of(" \t\r\n");
    return i != std::string::npos && text[i] == '{';
  }

  // JSON through simdjson, streamed as LoadStreaming streams YAML (an error loads again from the whole
  // tree, for the first error in file order). Sets json_refused_ when simdjson refuses the text: yaml-cpp
  // reads it then, with its messages (and UTF-8 checks: simdjson has refused any invalid UTF-8 already).
  Result<Scenario> LoadJson(const std::string& text) {
    Scenario sc;
    sc.file = d_.file();
    // Room for an event per 64 bytes (they take more): address space only, no page is touched before
    // it holds an event, and the vector never moves its events.
    if (!sink_) sc.events.reserve(text.size() / 64);
    bool head_done = false;
    auto head = [&](const YamlNode& h) {
      head_done = true;
      return LoadHead(h, &sc).ok();
    };
    auto element = [&](const YamlNode& e, size_t i) { return LoadEvent(e, EventPath(i), &sc).ok(); };
    YamlTree tree;
    streaming_ = true;
    auto st = tree.ParseJson(text, text.capacity() + 1, "events", head, element);
    streaming_ = false;
    json_refused_ = st == YamlTree::JsonStatus::kNotJson;
    if (st == YamlTree::JsonStatus::kOk && head_done && !tree.keys_after_stream()) {
      streamed_ = true;
      return sc;
    }
    if (json_refused_) return InvalidArgument("not JSON");
    Reset();
    json_refused_ = tree.ParseJson(text, text.capacity() + 1) != YamlTree::JsonStatus::kOk;
    if (json_refused_) return InvalidArgument("not JSON");
    return LoadRoot(tree.root(), text.size(), /*check_utf8=*/false);
  }

  // "events[i]", written into one reused buffer. REQUIRES: the result is not kept past the next call.
  const std::string& EventPath(size_t i) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, i).ptr;
    event_path_.assign("events[").append(digits, end).push_back(']');
    return event_path_;
  }

  // The scenario when every event streamed without an error; nullopt to load from the whole tree.
  std::optional<Scenario> LoadStreaming(const std::string& text) {
    Scenario sc;
    sc.file = d_.file();
    size_t budget = YamlVisitBound(text.size());
    bool head_done = false;
    auto head = [&](const YamlNode& h) {
      head_done = true;
      if (FindInvalidUtf8(h, &budget)) return false;
      return LoadHead(h, &sc).ok();
    };
    auto element = [&](const YamlNode& e, size_t i) {
      std::string p = "events[" + std::to_string(i) + "]";
      if (FindInvalidUtf8(e, &budget, p)) return false;
      return LoadEvent(e, p, &sc).ok();
    };
    YamlTree tree;
    streaming_ = true;
    bool done = tree.Parse(text, "events", head, element);
    streaming_ = false;
    if (!done || !head_done || tree.keys_after_stream()) return std::nullopt;
    streamed_ = true;
    return sc;
  }

  bool streamed() const { return streamed_; }

  void Reset() {
    streamed_ = false;
    node_names_.clear();
    ids_.clear();
    reservation_ids_.clear();
    last_at_ = 0;
  }

  Result<Scenario> LoadRoot(const YamlNode& root, size_t text_size, bool check_utf8 = true) {
    size_t budget = YamlVisitBound(text_size);
    if (check_utf8) {
      if (auto bad = FindInvalidUtf8(root, &budget)) return d_.Err(bad->node, bad->path, bad->message);
    }
    Scenario sc;
    sc.file = d_.file();
    if (auto st = LoadHead(root, &sc); !st.ok()) return st.error();
    const auto& evs = root["events"];
    if (evs && !evs.IsNull() && !evs.IsSequence()) return d_.Err(evs, "events", "expected a list");
    for (size_t i = 0; evs && evs.IsSequence() && i < evs.size(); i++) {
      if (auto st = LoadEvent(evs[i], "events[" + std::to_string(i) + "]", &sc); !st.ok()) return st.error();
    }
    return sc;
  }

  // Everything but the events: key check, policy, nodes, tenants.
  Status LoadHead(const YamlNode& root, Scenario* out) {
    Scenario& sc = *out;
    if (!root.IsMap())
      return d_.Err(root, "", "a scenario is a mapping with policy, nodes, tenants and events");
    if (auto st = d_.CheckKeys(root, "", {"name", "description", "policy", "nodes", "tenants", "events"});
        !st.ok())
      return st.error();
    auto pol = Policy(root["policy"]);
    if (!pol.ok()) return pol.error();
    sc.policy = *pol;
    if (root["nodes"]) {
      if (!root["nodes"].IsSequence()) return d_.Err(root["nodes"], "nodes", "expected a list");
      for (size_t i = 0; i < root["nodes"].size(); i++) {
        std::string p = "nodes[" + std::to_string(i) + "]";
        auto n = Node(root["nodes"][i], p);
        if (!n.ok()) return n.error();
        if (!node_names_.insert(n->name).second) {
          return d_.Err(root["nodes"][i], p, "duplicate node name \"" + QuoteForError(n->name) + "\"");
        }
        sc.nodes.push_back(std::move(*n));
      }
    }
    auto tn = Tenants(root["tenants"]);
    if (!tn.ok()) return tn.error();
    sc.tenants = *tn;
    return Status::Ok();
  }

  // One event, `p` its key path (events[i]).
  Status LoadEvent(const YamlNode& e, const std::string& p, Scenario* out) {
    Scenario& sc = *out;
    static constexpr std::array<std::string_view, 9> kKeys = {
        "at", "submit", "release", "node_up", "node_down", "drain", "reserve", "unreserve", "quota"};
    bool unknown = false;
    const auto f = Pick(e, kKeys, &unknown);  // each key's value in one pass
    enum : size_t { kAt, kSubmit, kRelease, kNodeUp, kNodeDown, kDrain, kReserve, kUnreserve, kQuota };
    if (unknown || !e.IsMap()) {
      return d_.CheckKeys(
          e, p, {kKeys[0], kKeys[1], kKeys[2], kKeys[3], kKeys[4], kKeys[5], kKeys[6], kKeys[7], kKeys[8]});
    }
    if (!f[kAt]) return d_.Err(e, p, "event needs `at` (seconds)");
    auto at = d_.Seconds(f[kAt], KeyPath(p, "at"));
    if (!at.ok()) return at.error();
    if (*at < last_at_) {
      return d_.Err(f[kAt], p + ".at",
                    "events must be in time order (" + std::to_string(*at / 1000.0) + "s comes after " +
                        std::to_string(last_at_ / 1000.0) + "s)");
    }
    last_at_ = *at;
    if (e.size() != 2) return d_.Err(e, p, "an event has `at` and exactly one action");
    Event ev;
    ev.at = *at;
    const YAML::Mark mark = e.Mark();
    ev.line = mark.line + 1;
    if (f[kSubmit]) {
      ev.kind = Event::Kind::kSubmit;
      if (auto st = Submit(f[kSubmit], KeyPath(p, "submit"), &ev.submit); !st.ok()) return st;
      const RequestSpec* r = &ev.submit;
      if (!ids_.insert(r->id).second)
        return d_.Err(f[kSubmit]["id"], p + ".submit.id", "duplicate id \"" + QuoteForError(r->id) + "\"");
      if (!r->reservation.empty() && !reservation_ids_.count(r->reservation)) {
        return d_.Err(
            f[kSubmit]["reservation"], p + ".submit.reservation",
            "unknown reservation \"" + QuoteForError(r->reservation) + "\" (reserve it in an earlier event)");
      }
    } else if (f[kRelease]) {
      ev.kind = Event::Kind::kRelease;
      auto s = d_.Scalar(f[kRelease], KeyPath(p, "release"));
      if (!s.ok()) return s.error();
      if (!ids_.count(*s))
        return d_.Err(f[kRelease], p + ".release", "release of unknown id \"" + QuoteForError(*s) + "\"");
      ev.name = *s;
    } else if (f[kNodeUp]) {
      ev.kind = Event::Kind::kNodeUp;
      if (f[kNodeUp].IsMap()) {
        auto n = Node(f[kNodeUp], p + ".node_up");
        if (!n.ok()) return n.error();
        ev.name = n->name;
        node_names_.insert(n->name);
        ev.node = std::make_shared<const NodeSpec>(std::move(*n));
      } else {
        auto s = d_.Scalar(f[kNodeUp], p + ".node_up");
        if (!s.ok()) return s.error();
        if (!node_names_.count(*s))
          return d_.Err(f[kNodeUp], p + ".node_up", "unknown node \"" + QuoteForError(*s) + "\"");
        ev.name = *s;
      }
    } else if (f[kNodeDown] || f[kDrain]) {
      bool down = static_cast<bool>(f[kNodeDown]);
      ev.kind = down ? Event::Kind::kNodeDown : Event::Kind::kDrain;
      const auto& v = down ? f[kNodeDown] : f[kDrain];
      std::string key = p + (down ? ".node_down" : ".drain");
      auto s = d_.Scalar(v, key);
      if (!s.ok()) return s.error();
      if (!node_names_.count(*s)) return d_.Err(v, key, "unknown node \"" + QuoteForError(*s) + "\"");
      ev.name = *s;
    } else if (f[kReserve]) {
      ev.kind = Event::Kind::kReserve;
      auto r = Reserve(f[kReserve], p + ".reserve");
      if (!r.ok()) return r.error();
      if (!reservation_ids_.insert(r->id).second) {
        return d_.Err(f[kReserve]["id"], p + ".reserve.id",
                      "duplicate reservation id \"" + QuoteForError(r->id) + "\"");
      }
      for (const auto& nn : r->nodes)
        if (!node_names_.count(nn))
          return d_.Err(f[kReserve]["nodes"], p + ".reserve.nodes",
                        "unknown node \"" + QuoteForError(nn) + "\"");
      ev.reserve = std::make_shared<const ReservationSpec>(std::move(*r));
    } else if (f[kUnreserve]) {
      ev.kind = Event::Kind::kUnreserve;
      auto s = d_.Scalar(f[kUnreserve], p + ".unreserve");
      if (!s.ok()) return s.error();
      if (!reservation_ids_.count(*s))
        return d_.Err(f[kUnreserve], p + ".unreserve", "unknown reservation \"" + QuoteForError(*s) + "\"");
      ev.name = *s;
    } else if (f[kQuota]) {
      ev.kind = Event::Kind::kQuota;
      const auto& q = f[kQuota];
      std::string qp = p + ".quota";
      TenantSpec quota;
      if (auto st = d_.CheckKeys(
              q, qp,
              {"path", "tenant", "weight", "quota", "guaranteed", "max", "lending_limit", "burst", "grace"});
          !st.ok())
        return st.error();
      const auto& pn = q["path"] ? q["path"] : q["tenant"];
      if (!pn) return d_.Err(q, qp, "quota needs the tenant's path");
      auto path = d_.Scalar(pn, qp + (q["path"] ? ".path" : ".tenant"));
      if (!path.ok()) return path.error();
      if (auto st = TenantPath(pn, qp + (q["path"] ? ".path" : ".tenant"), *path); !st.ok())
        return st.error();
      quota.path = std::move(*path);
      if (q["weight"]) {
        auto w = d_.Number(q["weight"], qp + ".weight");
        if (!w.ok()) return w.error();
        if (*w <= 0) return d_.Err(q["weight"], qp + ".weight", "must be positive");
        quota.weight = *w;
      }
      // The fields sit under `quota`, or beside `path` (their keys were checked with the event's).
      bool nested = static_cast<bool>(q["quota"]);
      if (auto st = QuotaBody(nested ? q["quota"] : q, qp, &quota, nested); !st.ok()) return st.error();
      // Keep the weight of an existing tenant entry unless given.
      if (!q["weight"]) {
        for (const auto& t : sc.tenants)
          if (t.path == quota.path) quota.weight = t.weight;
      }
      ev.quota = std::make_shared<const TenantSpec>(std::move(quota));
    }
    if (streaming_ && sink_) {
      sink_(sc, ev, mark.pos > 0 ? static_cast<size_t>(mark.pos) : 0);
      return Status::Ok();
    }
    sc.events.push_back(std::move(ev));
    return Status::Ok();
  }

 private:
  Doc d_;
  // What the events so far have declared (and the nodes before them).
  std::unordered_set<std::string> node_names_, ids_, reservation_ids_;
  std::unordered_map<std::string, std::pair<std::string, int64_t>> amounts_;  // Amount's memory
  std::string amount_key_;                                                    // Amount's lookup key
  std::string event_path_;                                                    // EventPath's buffer
  TimeMs last_at_ = 0;
  Sink sink_;
  bool streaming_ = false;     // events go to sink_ (when set) while streaming
  bool streamed_ = false;      // Load's scenario came from a stream (its events went to sink_)
  bool json_refused_ = false;  // LoadJson: simdjson refused the text (read it as YAML)
};

}  // namespace

Result<Scenario> ParseScenario(const std::string& text, const std::string& file) {
  return Loader(file).Load(text);
}

Result<Loaded> LoadStreamed(
    const std::string& text, const std::string& file,
    const std::function<void(const Scenario& head, const Event& event, size_t pos)>& fn) {
  Loader loader(file, fn);
  auto sc = loader.Load(text);
  if (!sc.ok()) return sc.error();
  Loaded out;
  out.scenario = std::move(*sc);
  out.streamed = loader.streamed();
  return out;
}

Result<Scenario> LoadScenario(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument(path + ": cannot open scenario file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseScenario(ss.str(), path);
}

}  // namespace allot::sim
