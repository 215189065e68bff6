// Names, units and option checks of the history (see allot/history.h).
#include <string>

#include "allot/history.h"

namespace allot::history {

const char* ScopeName(Scope s) {
  switch (s) {
    case Scope::kCluster:
      return "cluster";
    case Scope::kPool:
      return "pool";
    case Scope::kNode:
      return "node";
    case Scope::kTenant:
      return "tenant";
  }
  return "?";
}

std::optional<Scope> ParseScope(std::string_view name) {
  for (int s = 0; s < kNumScopes; s++) {
    if (name == ScopeName(static_cast<Scope>(s))) return static_cast<Scope>(s);
  }
  return std::nullopt;
}

const char* FieldName(int field) {
  static const char* kNames[kNumFields] = {"capacity", "allocated", "used", "queued"};
  return field >= 0 && field < kNumFields ? kNames[field] : "?";
}

const char* UnitOf(std::string_view r) {
  if (r == "cpu") return "millicores";
  if (r == "memory" || r == "ephemeral-storage" || r == "storage" || r.starts_with("hugepages-"))
    return "bytes";
  if (r == "gpu") return "devices";
  if (r == "network") return "bits_per_second";
  return "count";
}

int ResourceRank(std::string_view r) {
  static const char* kOrder[] = {"cpu", "memory", "gpu", "ephemeral-storage", "network"};
  for (int i = 0; i < 5; i++) {
    if (r == kOrder[i]) return i;
  }
  return 5;
}

Status ValidateOptions(const Options& o) {
  if (o.interval_s != 0 && (o.interval_s < 1 || o.interval_s > 86400)) {
    return InvalidArgument("history.interval: must be between 1s and 1d (or 0: no history)");
  }
  if (o.tiers.empty() || o.tiers.size() > 8) return InvalidArgument("history.tiers: give 1 to 8 tiers");
  for (size_t i = 0; i < o.tiers.size(); i++) {
    const Tier& t = o.tiers[i];
    std::string k = "history.tiers[" + std::to_string(i) + "]";
    if (t.step_s < 1 || t.step_s > 99'999'999)
      return InvalidArgument(k + ".step: must be between 1s and 1157d");
    if (o.interval_s > 0 && t.step_s % o.interval_s != 0) {
      return InvalidArgument(k + ".step: must be a multiple of history.interval (" +
                             std::to_string(o.interval_s) + "s)");
    }
    if (i > 0 && (t.step_s <= o.tiers[i - 1].step_s || t.step_s % o.tiers[i - 1].step_s != 0)) {
      return InvalidArgument(k + ".step: must be a larger multiple of the step of the tier before it");
    }
    if (t.keep_s < t.step_s || t.keep_s > 3650LL * 86400) {
      return InvalidArgument(k + ".keep: must be at least the step and at most 3650d");
    }
  }
  return Status::Ok();
}

}  // namespace allot::history
