// Analytics arithmetic (see allot/analytics.h).
#include "allot/analytics.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "allot/autoscale.h"
#include "allot/resources.h"

namespace allot::analytics {

namespace {

int64_t Amount(const ResourceMap& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

bool Tolerates(const std::vector<Toleration>& tols, const Taint& t) {
  for (const auto& tol : tols) {
    bool key_ok = tol.key == t.key || (tol.key.empty() && tol.op == "Exists");
    bool value_ok = tol.op == "Exists" || tol.value == t.value;
    bool effect_ok = tol.effect.empty() || tol.effect == t.effect;
    if (key_ok && value_ok && effect_ok) return true;
  }
  return false;
}

// Whether the request could ever run on the node (as the engine filters: labels, taints, GPU model, size).
bool CouldRun(const NodeView& n, const QueuedRequest& q) {
  if (!n.schedulable) return false;
  for (const auto& [k, v] : q.selector) {
    auto it = n.labels.find(k);
    if (it == n.labels.end() || it->second != v) return false;
  }
  for (const auto& t : n.taints) {
    if (t.effect != "PreferNoSchedule" && !Tolerates(q.tolerations, t)) return false;
  }
  if (!q.gpu_model.empty()) {
    auto it = n.labels.find("gpu_model");
    if (it == n.labels.end()) return false;
    bool match = false;
    std::string_view models = q.gpu_model;
    while (!models.empty() && !match) {
      size_t bar = models.find('|');
      match = models.substr(0, bar) == it->second;
      models = bar == std::string_view::npos ? std::string_view() : models.substr(bar + 1);
    }
    if (!match) return false;
  }
  for (const auto& [k, v] : q.requests) {
    if (v > Amount(n.capacity, k)) return false;
  }
  return true;
}

}  // namespace

Efficiency EfficiencyOf(const history::Totals& t) {
  Efficiency e;
  auto avg = [&](int f) -> std::optional<double> {
    if (t.count[static_cast<size_t>(f)] == 0) return std::nullopt;
    return t.sum[static_cast<size_t>(f)] / static_cast<double>(t.count[static_cast<size_t>(f)]);
  };
  e.capacity = avg(history::kCapacity);
  e.allocated = avg(history::kAllocated);
  e.used = avg(history::kUsed);
  if (e.capacity && e.allocated && *e.capacity > 0) e.allocation_ratio = *e.allocated / *e.capacity;
  if (t.paired > 0 && t.allocated_paired > 0) e.usage_ratio = t.used_paired / t.allocated_paired;
  return e;
}

namespace {

// What the nodes say about one shape of request (its requests, selector, tolerations, GPU model).
struct ShapeVerdict {
  bool infeasible = false;
  std::vector<std::string> blocking;  // dimensions no node it could run on has free
  std::set<std::string> pools;        // the named pools of those nodes
};

ShapeVerdict Judge(const std::vector<NodeView>& nodes, const QueuedRequest& q) {
  ShapeVerdict v;
  std::vector<const NodeView*> could;
  for (const NodeView& n : nodes) {
    if (CouldRun(n, q)) could.push_back(&n);
  }
  v.infeasible = could.empty();
  for (const auto& request : q.requests) {
    // Not a structured binding: clang 14 (the fuzz preset) cannot capture one in a lambda.
    const auto& k = request.first;
    const auto amount = request.second;
    if (amount <= 0 || v.infeasible) continue;
    bool some_free = std::any_of(could.begin(), could.end(),
                                 [&](const NodeView* n) { return Amount(n->free, k) >= amount; });
    if (!some_free) v.blocking.push_back(k);
  }
  if (!v.blocking.empty()) {
    for (const NodeView* n : could) {
      if (!n->pool.empty()) v.pools.insert(n->pool);
    }
  }
  return v;
}

// A key equal for requests the nodes judge alike.
std::string ShapeKey(const QueuedRequest& q) {
  std::string k;
  for (const auto& [r, v] : q.requests) k += r + "=" + std::to_string(v) + ",";
  k += '|';
  for (const auto& [l, v] : q.selector) k += l + "=" + v + ",";
  k += '|';
  for (const auto& t : q.tolerations) k += t.key + "=" + t.value + ":" + t.op + ":" + t.effect + ",";
  return k + "|" + q.gpu_model;
}

}  // namespace

Bottleneck FindBottleneck(const std::vector<NodeView>& nodes, const std::vector<QueuedRequest>& queue,
                          const ResourceMap& capacity) {
  Bottleneck out;
  std::map<std::string, Blocked> blocked;
  std::map<std::string, std::set<std::string>> pools;
  // A queue holds many requests of few shapes: the nodes are walked once per shape.
  std::map<std::string, ShapeVerdict> verdicts;
  for (const QueuedRequest& q : queue) {
    out.queued++;
    const int64_t count = std::max(1, q.count);
    for (const auto& [k, v] : q.requests)
      out.demand[k] = SaturatingAdd(out.demand[k], SaturatingMul(v, count));
    if (q.quota_held) {
      out.held_by_quota++;
      continue;
    }
    std::string key = ShapeKey(q);
    auto it = verdicts.find(key);
    if (it == verdicts.end()) it = verdicts.emplace(std::move(key), Judge(nodes, q)).first;
    const ShapeVerdict& v = it->second;
    if (v.infeasible) {
      out.infeasible++;
      continue;
    }
    for (const std::string& k : v.blocking) {
      Blocked& b = blocked[k];
      b.resource = k;
      b.requests++;
      b.demand = SaturatingAdd(b.demand, SaturatingMul(Amount(q.requests, k), count));
      pools[k].insert(v.pools.begin(), v.pools.end());
    }
  }
  for (auto& [k, b] : blocked) {
    int64_t cap = Amount(capacity, k);
    b.share = cap > 0 ? static_cast<double>(b.demand) / static_cast<double>(cap) : 0;
    b.pools.assign(pools[k].begin(), pools[k].end());
    out.blocked_by.push_back(std::move(b));
  }
  std::sort(out.blocked_by.begin(), out.blocked_by.end(), [](const Blocked& a, const Blocked& b) {
    if (a.share != b.share) return a.share > b.share;
    if (a.requests != b.requests) return a.requests > b.requests;
    return a.resource < b.resource;
  });
  if (!out.blocked_by.empty()) out.resource = out.blocked_by.front().resource;
  return out;
}

double PricedUnit(std::string_view r) {
  if (r == "cpu" || r == "gpu") return 1000.0;
  if (r == "memory" || r == "ephemeral-storage") return 1073741824.0;
  if (r == "network") return 1e9;
  return 1.0;
}

Cost CostOf(const std::vector<Held>& held, const std::map<std::string, double>& prices, int64_t from,
            int64_t to, bool by_workflow) {
  std::map<std::string, CostItem> items;
  for (const Held& h : held) {
    int64_t start = std::max(h.start, from), end = std::min(h.end < 0 ? to : h.end, to);
    if (end <= start) continue;
    const double hours = static_cast<double>(end - start) / 3'600'000.0;
    const std::string& key = by_workflow ? h.workflow : h.tenant;
    for (const auto& [res, amount] : h.requests) {
      auto p = prices.find(res);
      if (p == prices.end() || amount <= 0) continue;
      double c = static_cast<double>(amount) * std::max(1, h.count) / PricedUnit(res) * hours * p->second;
      CostItem& item = items[key];
      item.name = key;
      item.cost += c;
      item.resources[res] += c;
    }
  }
  Cost out;
  for (auto& [k, item] : items) {
    out.total += item.cost;
    out.items.push_back(std::move(item));
  }
  std::sort(out.items.begin(), out.items.end(), [](const CostItem& a, const CostItem& b) {
    return a.cost != b.cost ? a.cost > b.cost : a.name < b.name;
  });
  return out;
}

Result<Forecast> ForecastOf(const std::vector<double>& values, double alpha, double beta, int horizon) {
  Forecast out;
  if (values.empty()) return out;
  auto f = autoscale::HoltLinear(values, alpha, beta, horizon);
  if (!f.ok()) return f.error();
  out.forecast = std::move(f->forecast);
  // One-step-ahead: Holt over values[0, t) predicts values[t]; from t = 2 (two values set the trend).
  double abs_sum = 0, pct_sum = 0;
  int64_t pct_n = 0;
  std::vector<double> prefix;
  for (size_t t = 2; t < values.size(); t++) {
    prefix.assign(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(t));
    auto p = autoscale::HoltLinear(prefix, alpha, beta, 1);
    if (!p.ok()) return p.error();
    double err = std::fabs(values[t] - p->forecast[0]);
    abs_sum += err;
    out.points++;
    if (values[t] != 0) {
      pct_sum += err / std::fabs(values[t]) * 100.0;
      pct_n++;
    }
  }
  if (out.points > 0) out.mae = abs_sum / static_cast<double>(out.points);
  if (pct_n > 0) out.mape = pct_sum / static_cast<double>(pct_n);
  return out;
}

}  // namespace allot::analytics
