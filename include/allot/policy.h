// The engine's policies by name: scoring strategies (EngineOptions::scoring) and queue orders
// (EngineOptions::fair_share). This is the one registry: Engine::Create builds its scorer and queue order
// from it, and the server config, the scenario loader, `allot trace` and the CLI's help ask it which
// names exist, so a new policy is added in one table (src/engine/policy.cc) and one file of its own.
//
// Thread-safety: immutable tables; safe from any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace allot {

enum class PolicyKind {
  kScoring,     // EngineOptions::scoring: how feasible nodes are ranked
  kQueueOrder,  // EngineOptions::fair_share: the order a scheduling pass looks at queued requests
};

struct PolicyInfo {
  std::string name;                  // canonical, as help lists it
  std::vector<std::string> aliases;  // other spellings accepted (kube-scheduler's CamelCase names, "fifo")
  std::string summary;               // one line for help
};

// Every policy of `kind`, in the order help and errors list them.
std::span<const PolicyInfo> Policies(PolicyKind kind);

// The canonical name of `name` (a canonical name or an alias, exact case), or nullopt if it names none.
std::optional<std::string> CanonicalPolicyName(PolicyKind kind, std::string_view name);

// The canonical names joined by `sep`: "least-allocated, most-allocated, ..." for help and errors.
std::string PolicyNames(PolicyKind kind, std::string_view sep = ", ");

// "scoring" or "fair_share": the EngineOptions / config key a kind is chosen by.
const char* PolicyKey(PolicyKind kind);

}  // namespace allot
