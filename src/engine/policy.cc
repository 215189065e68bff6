// The policy registry: every scoring strategy and queue order, its names and its factory, in one table
// per kind. Engine::Create builds from it (MakeScorer, MakeQueueOrder); allot/policy.h lists it.
#include "allot/policy.h"

#include <algorithm>

#include "engine/queue_order.h"
#include "engine/scorer.h"

namespace allot {
namespace {

template <typename T>
struct Entry {
  PolicyInfo info;
  Result<std::unique_ptr<T>> (*make)(const EngineOptions&);
};

const std::vector<Entry<engine::Scorer>>& Scorers() {
  static const std::vector<Entry<engine::Scorer>> kScorers = {
      {{"least-allocated", {"LeastAllocated"}, "most free capacity first (kube-scheduler's default)"},
       engine::MakeLeastAllocated},
      {{"most-allocated", {"MostAllocated"}, "busiest nodes first: bin packing"}, engine::MakeMostAllocated},
      {{"requested-to-capacity-ratio", {"RequestedToCapacityRatio"}, "a piecewise-linear shape of utilization"},
       engine::MakeRequestedToCapacityRatio},
      {{"balanced-allocation", {"BalancedAllocation"}, "resources used evenly"}, engine::MakeBalancedAllocation},
      {{"gpu-fragmentation", {}, "least growth of expected GPU fragmentation (FGD)"}, engine::MakeGpuFragmentation},
  };
  return kScorers;
}

const std::vector<Entry<engine::QueueOrder>>& Orders() {
  static const std::vector<Entry<engine::QueueOrder>> kOrders = {
      {{"none", {"fifo"}, "priority, then submission order (FIFO)"}, engine::MakeFifoOrder},
      {{"drf", {}, "priority, then the smaller weighted dominant share (hierarchical DRF), then FIFO"},
       engine::MakeDrfOrder},
  };
  return kOrders;
}

template <typename T>
const Entry<T>* Find(const std::vector<Entry<T>>& table, std::string_view name) {
  for (const auto& e : table) {
    if (e.info.name == name) return &e;
    if (std::find(e.info.aliases.begin(), e.info.aliases.end(), name) != e.info.aliases.end()) return &e;
  }
  return nullptr;
}

template <typename T>
std::span<const PolicyInfo> Infos(const std::vector<Entry<T>>& table) {
  static const std::vector<PolicyInfo> kInfos = [&] {
    std::vector<PolicyInfo> out;
    for (const auto& e : table) out.push_back(e.info);
    return out;
  }();
  return kInfos;
}

}  // namespace

std::span<const PolicyInfo> Policies(PolicyKind kind) {
  return kind == PolicyKind::kScoring ? Infos(Scorers()) : Infos(Orders());
}

std::optional<std::string> CanonicalPolicyName(PolicyKind kind, std::string_view name) {
  const PolicyInfo* info = nullptr;
  if (kind == PolicyKind::kScoring) {
    if (const auto* e = Find(Scorers(), name)) info = &e->info;
  } else if (const auto* e = Find(Orders(), name)) {
    info = &e->info;
  }
  if (info == nullptr) return std::nullopt;
  return info->name;
}

std::string PolicyNames(PolicyKind kind, std::string_view sep) {
  std::string out;
  for (const auto& p : Policies(kind)) {
    if (!out.empty()) out += sep;
    out += p.name;
  }
  return out;
}

const char* PolicyKey(PolicyKind kind) { return kind == PolicyKind::kScoring ? "scoring" : "fair_share"; }

namespace engine {

Result<std::unique_ptr<Scorer>> MakeScorer(const EngineOptions& options) {
  const auto* e = Find(Scorers(), options.scoring);
  if (e == nullptr) {
    return InvalidArgument("unknown scoring strategy \"" + options.scoring + "\" (use " +
                           PolicyNames(PolicyKind::kScoring) + ")");
  }
  return e->make(options);
}

Result<std::unique_ptr<QueueOrder>> MakeQueueOrder(const EngineOptions& options) {
  const auto* e = Find(Orders(), options.fair_share);
  if (e == nullptr) {
    return InvalidArgument("unknown fair_share \"" + options.fair_share + "\" (use " +
                           PolicyNames(PolicyKind::kQueueOrder) + ")");
  }
  return e->make(options);
}

}  // namespace engine
}  // namespace allot
