#include "allot/throttle/config.h"

#include <charconv>
#include <cmath>
#include <initializer_list>

#include "allot/duration.h"

namespace allot::throttle {
namespace {

std::string At(std::string_view where, const YAML::Node& n) {
  std::string s(where);
  if (n.IsDefined() && n.Mark().line >= 0) s += " (line " + std::to_string(n.Mark().line + 1) + ")";
  return s;
}
Error Bad(std::string_view where, const YAML::Node& n, const std::string& why) {
  return InvalidArgument(At(where, n) + ": " + why);
}
std::string Join(std::string_view a, std::string_view b) {
  return a.empty() ? std::string(b) : std::string(a) + "." + std::string(b);
}

Status OnlyKeys(const YAML::Node& n, std::string_view where, std::initializer_list<std::string_view> allowed) {
  if (!n.IsMap()) return Bad(where, n, "must be a mapping");
  for (const auto& kv : n) {
    const std::string k = kv.first.Scalar();
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || a == k;
    if (!ok) {
      std::string want;
      for (std::string_view a : allowed) want += (want.empty() ? "" : ", ") + std::string(a);
      return Bad(Join(where, k), kv.first, "unknown key (want " + want + ")");
    }
  }
  return Status::Ok();
}

Result<std::string> Str(const YAML::Node& n, std::string_view where) {
  if (!n.IsScalar()) return Bad(where, n, "must be a string");
  return n.Scalar();
}

Result<int64_t> Int(const YAML::Node& n, std::string_view where, int64_t min) {
  if (!n.IsScalar()) return Bad(where, n, "must be an integer");
  const std::string& s = n.Scalar();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return Bad(where, n, "must be an integer, got \"" + s + "\"");
  if (v < min) {
    return Bad(where, n, (min == 1 ? "must be a positive integer, got " : "must be at least " + std::to_string(min) + ", got ") + s);
  }
  return v;
}

Result<double> Num(const YAML::Node& n, std::string_view where) {
  if (!n.IsScalar()) return Bad(where, n, "must be a number");
  try {
    const double v = n.as<double>();
    if (!std::isfinite(v)) return Bad(where, n, "must be a finite number");
    return v;
  } catch (const YAML::Exception&) {
    return Bad(where, n, "must be a number, got \"" + n.Scalar() + "\"");
  }
}

Result<int64_t> Dur(const YAML::Node& n, std::string_view where) {
  if (!n.IsScalar()) return Bad(where, n, "must be a duration such as 30s");
  auto d = ParseDuration(n.Scalar());
  if (!d.ok()) return Bad(where, n, d.error().message);
  return *d;
}

// Attaches the field path to an error from a validator that names only the field.
Error Prefix(std::string_view where, const YAML::Node& n, const Error& e) {
  std::string m = std::string(where) + "." + e.message;
  if (n.IsDefined() && n.Mark().line >= 0) m += " (line " + std::to_string(n.Mark().line + 1) + ")";
  return Error{e.code, m};
}

Result<LimitSpec> ParseLevel(const YAML::Node& n, std::string_view where, bool allow_scope) {
  if (allow_scope) {
    if (Status s = OnlyKeys(n, where, {"scope", "subtree", "rate", "burst", "quota", "per", "time_zone"}); !s.ok())
      return s.error();
  } else if (Status s = OnlyKeys(n, where, {"rate", "burst", "quota", "per", "time_zone"}); !s.ok()) {
    return s.error();
  }
  LimitSpec l;
  if (n["scope"]) {
    auto s = Str(n["scope"], Join(where, "scope"));
    if (!s.ok()) return s.error();
    auto sc = ParseScope(*s);
    if (!sc.ok()) return Bad(Join(where, "scope"), n["scope"], sc.error().message);
    l.scope = *sc;
  }
  if (n["subtree"]) {
    auto s = Str(n["subtree"], Join(where, "subtree"));
    if (!s.ok()) return s.error();
    if (Status v = ValidateName("tenant path", *s); !v.ok()) return Bad(Join(where, "subtree"), n["subtree"], v.message());
    l.subtree = *s;
  }
  if (l.scope == Scope::kSubtree && l.subtree.empty()) return Bad(Join(where, "subtree"), n, "required for scope subtree");
  const bool has_rate = static_cast<bool>(n["rate"]), has_quota = static_cast<bool>(n["quota"]);
  if (has_rate == has_quota) return Bad(where, n, "give exactly one of rate or quota");
  if (has_rate) {
    auto s = Str(n["rate"], Join(where, "rate"));
    if (!s.ok()) return s.error();
    auto r = ParseRate(*s);
    if (!r.ok()) return Bad(Join(where, "rate"), n["rate"], r.error().message);
    l.rate = *r;
    if (n["burst"]) {
      auto b = Int(n["burst"], Join(where, "burst"), 1);
      if (!b.ok()) return b.error();
      if (*b > kMaxBurst) return Bad(Join(where, "burst"), n["burst"], "must be at most 1e15");
      l.burst = *b;
    }
    for (const char* k : {"per", "time_zone"}) {
      if (n[k]) return Bad(Join(where, k), n[k], "only for quota levels");
    }
  } else {
    auto q = Int(n["quota"], Join(where, "quota"), 1);
    if (!q.ok()) return q.error();
    l.quota_per_day = *q;
    if (n["burst"]) return Bad(Join(where, "burst"), n["burst"], "only for rate levels");
    if (n["per"]) {
      auto p = Str(n["per"], Join(where, "per"));
      if (!p.ok()) return p.error();
      if (*p != "day" && *p != "d") return Bad(Join(where, "per"), n["per"], "calendar quotas are per day");
    }
    if (n["time_zone"]) {
      auto z = Str(n["time_zone"], Join(where, "time_zone"));
      if (!z.ok()) return z.error();
      l.time_zone = *z;
    }
  }
  return l;
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  auto ns = ParseDurationNs(text);  // the one duration parser (allot/duration.h)
  if (!ns.ok()) return InvalidArgument("duration " + ns.error().message);
  if (*ns < 1) return InvalidArgument("duration \"" + std::string(text) + "\": must be positive");
  return *ns;
}

namespace {
Result<std::vector<LimitSpec>> RateLimitNodeImpl(const YAML::Node& node, std::string_view where) {
  if (!node.IsMap()) return Bad(where, node, "must be a mapping such as {rate: 5/m, burst: 5}");
  std::vector<LimitSpec> out;
  if (node["levels"]) {
    if (Status s = OnlyKeys(node, where, {"levels"}); !s.ok()) return s.error();
    const YAML::Node& ls = node["levels"];
    const std::string lw = Join(where, "levels");
    if (!ls.IsSequence() || ls.size() == 0) return Bad(lw, ls, "must be a non-empty list");
    for (size_t i = 0; i < ls.size(); ++i) {
      auto l = ParseLevel(ls[i], lw + "[" + std::to_string(i) + "]", true);
      if (!l.ok()) return l.error();
      out.push_back(std::move(*l));
    }
    return out;
  }
  auto l = ParseLevel(node, where, false);
  if (!l.ok()) return l.error();
  out.push_back(std::move(*l));
  return out;
}

}  // namespace

Result<std::vector<LimitSpec>> ParseRateLimitNode(const YAML::Node& node, std::string_view where) {
  try {
    return RateLimitNodeImpl(node, where);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(where) + ": " + e.msg);
  }
}

Result<PoolOptions> ParsePoolNode(const YAML::Node& node, std::string_view where) {
  if (Status s = OnlyKeys(node, where, {"capacity", "ttl", "max_ttl", "per_tenant", "tenant_limits"}); !s.ok())
    return s.error();
  PoolOptions o;
  if (!node["capacity"]) return Bad(Join(where, "capacity"), node, "required");
  auto c = Int(node["capacity"], Join(where, "capacity"), 1);
  if (!c.ok()) return c.error();
  o.capacity = *c;
  if (node["ttl"]) {
    auto d = Dur(node["ttl"], Join(where, "ttl"));
    if (!d.ok()) return d.error();
    o.default_ttl_ns = *d;
  }
  if (node["max_ttl"]) {
    auto d = Dur(node["max_ttl"], Join(where, "max_ttl"));
    if (!d.ok()) return d.error();
    o.max_ttl_ns = *d;
  }
  if (o.max_ttl_ns < o.default_ttl_ns) return Bad(Join(where, "max_ttl"), node, "must be at least ttl");
  if (node["per_tenant"]) {
    auto p = Int(node["per_tenant"], Join(where, "per_tenant"), 1);
    if (!p.ok()) return p.error();
    o.default_tenant_limit = *p;
  }
  if (node["tenant_limits"]) {
    const YAML::Node& tl = node["tenant_limits"];
    const std::string tw = Join(where, "tenant_limits");
    if (!tl.IsMap()) return Bad(tw, tl, "must be a mapping of tenant path to units");
    for (const auto& kv : tl) {
      const std::string path = kv.first.Scalar();
      if (Status v = ValidateName("tenant path", path); !v.ok()) return Bad(Join(tw, path), kv.first, v.message());
      auto lim = Int(kv.second, Join(tw, path), 1);
      if (!lim.ok()) return lim.error();
      o.tenant_limits[path] = *lim;
    }
  }
  return o;
}

Result<BreakerOptions> ParseBreakerNode(const YAML::Node& node, std::string_view where, BreakerOptions o) {
  if (Status s = OnlyKeys(node, where,
                          {"window", "buckets", "min_requests", "failure_rate", "consecutive_failures", "slow_call",
                           "cooldown", "half_open_probes", "close_after_successes"});
      !s.ok())
    return s.error();
  struct IntField {
    const char* key;
    int64_t* out;
    int64_t min;
  };
  int64_t buckets = o.window_buckets;
  for (IntField f : {IntField{"buckets", &buckets, 1}, IntField{"min_requests", &o.min_requests, 1},
                     IntField{"consecutive_failures", &o.consecutive_failures, 0},
                     IntField{"half_open_probes", &o.half_open_probes, 1},
                     IntField{"close_after_successes", &o.close_after_successes, 1}}) {
    if (!node[f.key]) continue;
    auto v = Int(node[f.key], Join(where, f.key), f.min);
    if (!v.ok()) return v.error();
    *f.out = *v;
  }
  if (buckets > 1000) return Bad(Join(where, "buckets"), node["buckets"], "must be at most 1000");
  o.window_buckets = static_cast<int32_t>(buckets);
  for (auto [key, out] : {std::pair<const char*, int64_t*>{"window", &o.window_ns}, {"slow_call", &o.slow_call_ns},
                          {"cooldown", &o.cooldown_ns}}) {
    if (!node[key]) continue;
    auto d = Dur(node[key], Join(where, key));
    if (!d.ok()) return d.error();
    *out = *d;
  }
  if (node["failure_rate"]) {
    auto r = Num(node["failure_rate"], Join(where, "failure_rate"));
    if (!r.ok()) return r.error();
    if (!(*r > 0 && *r <= 1)) return Bad(Join(where, "failure_rate"), node["failure_rate"], "must be in (0, 1]");
    o.failure_rate = *r;
  }
  if (Status s = ValidateBreakerOptions(o); !s.ok()) return Prefix(where, node, s.error());
  return o;
}

Result<DegradationOptions> ParseDegradationNode(const YAML::Node& node, std::string_view where) {
  if (Status s = OnlyKeys(node, where, {"margin", "dwell", "scale", "thresholds"}); !s.ok()) return s.error();
  DegradationOptions o = DegradationOptions::Defaults();
  if (node["margin"]) {
    auto m = Num(node["margin"], Join(where, "margin"));
    if (!m.ok()) return m.error();
    if (*m < 0 || *m >= 100) return Bad(Join(where, "margin"), node["margin"], "must be 0-100 percentage points");
    o.margin = *m;
  }
  if (node["dwell"]) {
    auto d = Dur(node["dwell"], Join(where, "dwell"));
    if (!d.ok()) return d.error();
    o.dwell_ns = *d;
  }
  if (node["scale"]) {
    const YAML::Node& s = node["scale"];
    if (!s.IsSequence() || s.size() != 5) return Bad(Join(where, "scale"), s, "must list 5 factors, levels 0-4");
    for (size_t i = 0; i < 5; ++i) {
      auto v = Num(s[i], Join(where, "scale") + "[" + std::to_string(i) + "]");
      if (!v.ok()) return v.error();
      if (*v < 0 || *v > 1) return Bad(Join(where, "scale") + "[" + std::to_string(i) + "]", s[i], "must be in [0, 1]");
      o.scale[i] = *v;
    }
  }
  if (node["thresholds"]) {
    const YAML::Node& t = node["thresholds"];
    const std::string tw = Join(where, "thresholds");
    if (!t.IsMap()) return Bad(tw, t, "must map resource names to thresholds");
    for (const auto& kv : t) {
      const std::string name = kv.first.Scalar();
      const std::string fw = Join(tw, name);
      LevelThresholds lt;
      if (kv.second.IsSequence()) {
        if (kv.second.size() != 4) return Bad(fw, kv.second, "must list 4 percents (levels 1-4)");
        for (size_t i = 0; i < 4; ++i) {
          auto v = Num(kv.second[i], fw + "[" + std::to_string(i) + "]");
          if (!v.ok()) return v.error();
          lt.percent[i] = *v;
        }
      } else {
        if (Status s = OnlyKeys(kv.second, fw, {"warn", "max"}); !s.ok()) return s.error();
        if (!kv.second["warn"] || !kv.second["max"]) return Bad(fw, kv.second, "needs warn and max");
        auto w = Num(kv.second["warn"], Join(fw, "warn"));
        if (!w.ok()) return w.error();
        auto m = Num(kv.second["max"], Join(fw, "max"));
        if (!m.ok()) return m.error();
        auto r = LevelThresholds::FromWarnMax(*w, *m);
        if (!r.ok()) return Bad(fw, kv.second, r.error().message);
        lt = *r;
      }
      if (Status s = lt.Validate(); !s.ok()) return Bad(fw, kv.second, s.message());
      if (name == "default") {
        o.defaults = lt;
      } else {
        o.per_resource[name] = lt;
      }
    }
  }
  return o;
}

Result<AimdOptions> ParseAimdNode(const YAML::Node& node, std::string_view where) {
  if (Status s = OnlyKeys(node, where,
                          {"initial_limit", "min_limit", "max_limit", "increase", "decrease_factor", "target_latency",
                           "target_queue_depth", "interval"});
      !s.ok())
    return s.error();
  AimdOptions o;
  for (auto [key, out] : {std::pair<const char*, double*>{"initial_limit", &o.initial_limit},
                          {"min_limit", &o.min_limit}, {"max_limit", &o.max_limit}, {"increase", &o.increase},
                          {"decrease_factor", &o.decrease_factor}}) {
    if (!node[key]) continue;
    auto v = Num(node[key], Join(where, key));
    if (!v.ok()) return v.error();
    *out = *v;
  }
  if (node["target_latency"]) {
    auto d = Dur(node["target_latency"], Join(where, "target_latency"));
    if (!d.ok()) return d.error();
    o.target_latency_ns = *d;
  }
  if (node["target_queue_depth"]) {
    auto q = Int(node["target_queue_depth"], Join(where, "target_queue_depth"), 0);
    if (!q.ok()) return q.error();
    o.target_queue_depth = *q;
  }
  if (node["interval"]) {
    auto d = Dur(node["interval"], Join(where, "interval"));
    if (!d.ok()) return d.error();
    o.interval_ns = *d;
  }
  if (Status s = ValidateAimdOptions(o); !s.ok()) return Prefix(where, node, s.error());
  return o;
}

namespace {
Result<ThrottleConfig> ThrottleConfigImpl(const YAML::Node& root) {
  ThrottleConfig c;
  if (!root.IsDefined() || root.IsNull()) return c;
  if (Status s = OnlyKeys(root, "", {"ratelimits", "pools", "breakers", "degradation", "admission"}); !s.ok())
    return s.error();
  if (const YAML::Node rl = root["ratelimits"]) {
    if (!rl.IsMap()) return Bad("ratelimits", rl, "must map keys to limits");
    for (const auto& kv : rl) {
      const std::string key = kv.first.Scalar();
      const std::string w = "ratelimits." + key;
      if (Status v = ValidateName("key", key); !v.ok()) return Bad(w, kv.first, v.message());
      auto l = ParseRateLimitNode(kv.second, w);
      if (!l.ok()) return l.error();
      c.ratelimits[key] = std::move(*l);
    }
  }
  if (const YAML::Node pl = root["pools"]) {
    if (!pl.IsMap()) return Bad("pools", pl, "must map pool names to options");
    for (const auto& kv : pl) {
      const std::string name = kv.first.Scalar();
      if (Status v = ValidateName("pool", name); !v.ok()) return Bad("pools." + name, kv.first, v.message());
      auto p = ParsePoolNode(kv.second, "pools." + name);
      if (!p.ok()) return p.error();
      c.pools[name] = std::move(*p);
    }
  }
  if (const YAML::Node br = root["breakers"]) {
    if (Status s = OnlyKeys(br, "breakers", {"defaults", "keys", "max_dynamic"}); !s.ok()) return s.error();
    if (br["max_dynamic"]) {
      auto m = Int(br["max_dynamic"], "breakers.max_dynamic", 0);
      if (!m.ok()) return m.error();
      c.max_dynamic_breakers = static_cast<size_t>(*m);
    }
    if (br["defaults"]) {
      auto d = ParseBreakerNode(br["defaults"], "breakers.defaults");
      if (!d.ok()) return d.error();
      c.breaker_defaults = *d;
    }
    if (const YAML::Node keys = br["keys"]) {
      if (!keys.IsMap()) return Bad("breakers.keys", keys, "must map downstream keys to options");
      for (const auto& kv : keys) {
        const std::string key = kv.first.Scalar();
        if (Status v = ValidateName("breaker", key); !v.ok()) return Bad("breakers.keys." + key, kv.first, v.message());
        auto b = ParseBreakerNode(kv.second, "breakers.keys." + key, c.breaker_defaults);
        if (!b.ok()) return b.error();
        c.breakers[key] = *b;
      }
    }
  }
  if (root["degradation"]) {
    auto d = ParseDegradationNode(root["degradation"], "degradation");
    if (!d.ok()) return d.error();
    c.degradation = std::move(*d);
  }
  if (root["admission"]) {
    auto a = ParseAimdNode(root["admission"], "admission");
    if (!a.ok()) return a.error();
    c.admission = *a;
  }
  return c;
}

}  // namespace

Result<ThrottleConfig> ParseThrottleConfig(const YAML::Node& root) {
  try {
    return ThrottleConfigImpl(root);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<ThrottleConfig> ParseThrottleConfigText(std::string_view text) {
  try {
    return ParseThrottleConfig(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    return InvalidArgument("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace allot::throttle
