// Hierarchical quotas: guaranteed (nominal), max (hard limit), lending limits, burst with grace.
//
// Admission of n units of request r for tenant T walks T and its ancestors. At each tenant X:
//  1. max: used_X + r <= max_X, or <= burst_X × max_X while X is in its burst grace period.
//  2. borrowing: if X has a guaranteed amount g_X and used_X + r > g_X, X borrows from its cohort (its
//     siblings under parent P, Kueue's semantics). It may do so only while the cohort's borrowing,
//     sum over siblings s of max(0, used_s - g_s) (X's counted with r), stays within what the cohort lends:
//     sum over s of min(lending_limit_s, max(0, g_s - used_s)) plus P's unassigned guarantee,
//     max(0, (g_P, or else max_P, or else 0) - sum of the children's g).
//  Resources a tenant sets no guaranteed amount for are limited only by max (and by capacity).
// DRF: a tenant's dominant share is max over resources of used / cluster capacity, divided by weight.
#include <algorithm>
#include <map>
#include <set>

#include "allot/resources.h"
#include "engine/engine_impl.h"

namespace allot {

namespace {
std::string Amount(const ResourceRegistry& reg, uint16_t s, int64_t v) {
  return FormatResourceAmount(reg.Name(s), v);
}

// max × burst, saturating: a max near 2^63 (16Ei of memory) times a burst above 1 is past int64's range.
int64_t BurstCap(int64_t max, double burst) { return SaturatingCast(static_cast<double>(max) * burst); }

}  // namespace

Status Engine::Impl::ValidateTenantTree(const std::vector<TenantSpec>& specs) const {
  std::map<std::string, const TenantSpec*> by_path;
  for (const auto& s : specs) {
    if (s.path.empty() || s.path.front() == '/' || s.path.back() == '/' || s.path.find("//") != std::string::npos) {
      return InvalidArgument("tenant path \"" + s.path + "\" is malformed (use org/team/project)");
    }
    if (!by_path.emplace(s.path, &s).second) return InvalidArgument("tenant " + s.path + " is listed twice");
    if (s.weight <= 0) return InvalidArgument("tenant " + s.path + ": weight must be positive");
    if (s.burst < 1) return InvalidArgument("tenant " + s.path + ": burst must be at least 1");
    if (s.grace < 0) return InvalidArgument("tenant " + s.path + ": grace must not be negative");
    for (const auto* mp : {&s.guaranteed, &s.max, &s.lending_limit})
      for (const auto& [k, v] : *mp)
        if (v < 0) return InvalidArgument("tenant " + s.path + ": quota for " + k + " is negative");
    for (const auto& [k, g] : s.guaranteed) {
      auto mx = s.max.find(k);
      if (mx != s.max.end() && g > mx->second) {
        return InvalidArgument("tenant " + s.path + ": guaranteed " + k + " (" + FormatResourceAmount(k, g) +
                               ") is above max (" + FormatResourceAmount(k, mx->second) + ")");
      }
    }
    for (const auto& [k, l] : s.lending_limit) {
      auto g = s.guaranteed.find(k);
      if (g == s.guaranteed.end()) {
        return InvalidArgument("tenant " + s.path + ": lending_limit for " + k + " needs a guaranteed amount");
      }
      if (l > g->second) return InvalidArgument("tenant " + s.path + ": lending_limit " + k + " is above guaranteed");
    }
  }
  // Effective quotas after the change: existing tenants overlaid with the new specs.
  auto guaranteed_of = [&](const std::string& path, const std::string& res) -> int64_t {
    auto it = by_path.find(path);
    if (it != by_path.end()) {
      auto g = it->second->guaranteed.find(res);
      return g == it->second->guaranteed.end() ? -1 : g->second;
    }
    auto t = tenant_index.find(path);
    if (t == tenant_index.end()) return -1;
    int s = registry.Find(res);
    return s < 0 ? -1 : tenants[t->second].guaranteed[s];
  };
  auto max_of = [&](const std::string& path, const std::string& res) -> int64_t {
    auto it = by_path.find(path);
    if (it != by_path.end()) {
      auto g = it->second->max.find(res);
      return g == it->second->max.end() ? -1 : g->second;
    }
    auto t = tenant_index.find(path);
    if (t == tenant_index.end()) return -1;
    int s = registry.Find(res);
    return s < 0 ? -1 : tenants[t->second].max[s];
  };
  // Every path that exists after the change, with its children.
  std::set<std::string> paths;
  for (const auto& t : tenants)
    if (!t.path.empty()) paths.insert(t.path);
  for (const auto& [p, s] : by_path) {
    (void)s;
    for (size_t pos = p.find('/'); pos != std::string::npos; pos = p.find('/', pos + 1)) paths.insert(p.substr(0, pos));
    paths.insert(p);
  }
  std::set<std::string> resources;
  for (size_t s = 0; s < registry.size(); s++) resources.insert(registry.Name(static_cast<uint16_t>(s)));
  for (const auto& parent : paths) {
    for (const auto& res : resources) {
      int64_t mx = max_of(parent, res);
      if (mx < 0) continue;
      int64_t sum = 0;
      std::string prefix = parent + "/";
      for (const auto& child : paths) {
        if (child.rfind(prefix, 0) != 0 || child.find('/', prefix.size()) != std::string::npos) continue;
        int64_t g = guaranteed_of(child, res);
        if (g > 0) sum = SaturatingAdd(sum, g);
      }
      if (sum > mx) {
        return InvalidArgument("tenant " + parent + ": children's guaranteed " + res + " (" +
                               FormatResourceAmount(res, sum) + ") exceeds its max (" + FormatResourceAmount(res, mx) + ")");
      }
    }
  }
  return Status::Ok();
}

void Engine::Impl::ApplyTenantSpec(const TenantSpec& spec) {
  uint32_t t = TenantFor(spec.path);
  EnsureSlots();
  Tenant& tn = tenants[t];
  tn.weight = spec.weight;
  tn.burst = spec.burst;
  tn.grace = spec.grace;
  std::fill(tn.guaranteed.begin(), tn.guaranteed.end(), -1);
  std::fill(tn.max.begin(), tn.max.end(), -1);
  std::fill(tn.lending.begin(), tn.lending.end(), -1);
  for (const auto& [k, v] : spec.guaranteed) tn.guaranteed[registry.Find(k)] = v;
  for (const auto& [k, v] : spec.max) tn.max[registry.Find(k)] = v;
  for (const auto& [k, v] : spec.lending_limit) tn.lending[registry.Find(k)] = v;
  tn.has_quota = !spec.guaranteed.empty() || !spec.max.empty();
  if (tn.parent != kNone) {
    Tenant& p = tenants[tn.parent];
    std::fill(p.children_guaranteed.begin(), p.children_guaranteed.end(), 0);
    for (uint32_t c : p.children)
      for (size_t s = 0; s < registry.size(); s++)
        if (tenants[c].guaranteed[s] > 0) p.children_guaranteed[s] = SaturatingAdd(p.children_guaranteed[s], tenants[c].guaranteed[s]);
  }
}

bool Engine::Impl::TenantIsAncestor(uint32_t ancestor, uint32_t t) const {
  for (; t != kNone; t = tenants[t].parent)
    if (t == ancestor) return true;
  return false;
}

TryResult Engine::Impl::CheckQuota(const Alloc& a, std::string* why) const {
  for (uint32_t x = a.tenant; x != kNone; x = tenants[x].parent) {
    const Tenant& tx = tenants[x];
    if (!tx.has_quota) continue;
    for (size_t k = 0; k < a.req.size(); k++) {
      uint16_t s = a.req.slot(k);
      // Saturating: amounts go up to 2^63-1 bytes, and a sum past that is "too much" either way.
      int64_t r = SaturatingMul(a.req.amount(k), a.count);
      if (r == 0) continue;
      int64_t after = SaturatingAdd(tx.used[s], r);
      if (tx.max[s] >= 0 && after > tx.max[s]) {
        bool in_grace = tx.burst > 1 && (tx.burst_since < 0 || tx.grace > 0);
        int64_t burst_cap = BurstCap(tx.max[s], tx.burst);
        if (!in_grace || after > burst_cap) {
          if (why) {
            *why = "tenant " + tx.path + " would exceed its max " + registry.Name(s) + ": " +
                   Amount(registry, s, tx.used[s]) + " used + " + Amount(registry, s, r) + " > " +
                   Amount(registry, s, in_grace ? burst_cap : tx.max[s]) + (tx.burst > 1 ? " (burst)" : "");
          }
          return TryResult::kQuotaReject;
        }
      }
      if (tx.guaranteed[s] >= 0 && after > tx.guaranteed[s] && tx.parent != kNone) {
        const Tenant& p = tenants[tx.parent];
        int64_t borrowing = 0, lendable = 0;
        for (uint32_t c : p.children) {
          const Tenant& tc = tenants[c];
          if (tc.guaranteed[s] < 0) continue;
          int64_t u = SaturatingAdd(tc.used[s], c == x ? r : 0);
          borrowing = SaturatingAdd(borrowing, std::max<int64_t>(0, u - tc.guaranteed[s]));
          int64_t unused = std::max<int64_t>(0, tc.guaranteed[s] - u);
          lendable = SaturatingAdd(lendable, tc.lending[s] >= 0 ? std::min(unused, tc.lending[s]) : unused);
        }
        int64_t parent_pool = p.guaranteed[s] >= 0 ? p.guaranteed[s] : (p.max[s] >= 0 ? p.max[s] : 0);
        lendable = SaturatingAdd(lendable, std::max<int64_t>(0, parent_pool - p.children_guaranteed[s]));
        if (borrowing > lendable) {
          if (why) {
            *why = "tenant " + tx.path + " is past its guaranteed " + registry.Name(s) + " (" +
                   Amount(registry, s, tx.guaranteed[s]) + ") and its cohort " + (p.path.empty() ? "<root>" : p.path) +
                   " has only " + Amount(registry, s, std::max<int64_t>(0, lendable - (borrowing - std::max<int64_t>(0, after - tx.guaranteed[s])))) +
                   " to lend";
          }
          return TryResult::kQuotaWait;
        }
      }
    }
  }
  return TryResult::kPlaced;
}

bool Engine::Impl::IsBorrowing(uint32_t t) const {
  for (uint32_t x = t; x != kNone; x = tenants[x].parent) {
    const Tenant& tx = tenants[x];
    for (size_t s = 0; s < tx.used.size(); s++)
      if (tx.guaranteed[s] >= 0 && tx.used[s] > tx.guaranteed[s]) return true;
  }
  return false;
}

bool Engine::Impl::WithinGuaranteed(uint32_t t, const Alloc& a) const {
  const Tenant& tx = tenants[t];
  bool any = false;
  for (size_t k = 0; k < a.req.size(); k++) {
    uint16_t s = a.req.slot(k);
    if (a.req.amount(k) == 0) continue;
    if (tx.guaranteed[s] < 0) continue;
    any = true;
    if (SaturatingAdd(tx.used[s], SaturatingMul(a.req.amount(k), a.count)) > tx.guaranteed[s]) return false;
  }
  return any;
}

double DominantShare(const Tenant& tn, const std::vector<int64_t>& cluster_cap) {
  double best = 0;
  for (size_t s = 0; s < tn.used.size() && s < cluster_cap.size(); s++) {
    if (cluster_cap[s] <= 0) continue;
    best = std::max(best, static_cast<double>(tn.used[s]) / static_cast<double>(cluster_cap[s]));
  }
  return best / tn.weight;
}

void Engine::Impl::ReclaimOverMax(TimeMs now, bool burst_only) {
  bursting = 0;
  for (uint32_t t = 0; t < tenants.size(); t++) {
    Tenant& tn = tenants[t];
    if (!tn.has_quota) continue;
    bool over_max = false, over_burst = false;
    for (size_t s = 0; s < tn.used.size(); s++) {
      if (tn.max[s] < 0) continue;
      if (tn.used[s] > tn.max[s]) over_max = true;
      if (tn.used[s] > BurstCap(tn.max[s], tn.burst)) over_burst = true;
    }
    if (!over_max) {
      tn.burst_since = -1;
      continue;
    }
    bool reclaim = over_burst && !burst_only;
    if (!reclaim) {
      if (tn.burst_since < 0) tn.burst_since = now;
      if (now >= tn.burst_since + tn.grace) reclaim = true;
    }
    if (!reclaim) {
      bursting++;
      continue;
    }
    // Newest allocations of the subtree first, until every resource is back within max.
    std::vector<uint32_t> cands;
    for (uint32_t ai = 0; ai < allocs.size(); ai++) {
      const Alloc& a = allocs[ai];
      if (a.live && a.state == AllocState::kPlaced && TenantIsAncestor(t, a.tenant)) cands.push_back(ai);
    }
    std::sort(cands.begin(), cands.end(), [&](uint32_t x, uint32_t y) {
      if (allocs[x].started != allocs[y].started) return allocs[x].started > allocs[y].started;
      return allocs[x].seq > allocs[y].seq;
    });
    bool over = over_burst && !burst_only;
    ReasonCode code = over ? ReasonCode::kQuotaReclaim : ReasonCode::kBurstGraceExpired;
    std::string why = over ? "quota reclaim: tenant " + tn.path + " is over its max"
                           : "quota reclaim: tenant " + tn.path + " burst grace expired";
    for (uint32_t ai : cands) {
      bool still_over = false, helps = false;
      for (size_t s = 0; s < tn.used.size(); s++) {
        if (tn.max[s] >= 0 && tn.used[s] > tn.max[s]) {
          still_over = true;
          if (allocs[ai].req.Get(static_cast<uint16_t>(s)) > 0) helps = true;
        }
      }
      if (!still_over) break;
      if (!helps) continue;
      Alloc& a = allocs[ai];
      Emit(EventType::kPreempted, now, a.id, NodeList(a), tenants[a.tenant].path, code, why, "quota");
      a.X().preempted_by = "quota";
      Unplace(ai, AllocState::kPreempted, now, code, why);
    }
    tn.burst_since = -1;
  }
}

}  // namespace allot
