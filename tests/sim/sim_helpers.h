// Helpers for driving `allot sim` through the real binary and reading its JSON output.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support.h"

namespace allot::testing {

struct SimRun {
  int exit_code = -1;
  nlohmann::json out;  // parsed stdout (null when it is not JSON)
  std::string err;
};

// Writes `yaml` to a temporary file and runs `allot sim FILE --json` (plus --explain when asked).
inline SimRun RunSim(const std::string& yaml, bool explain = false) {
  TempDir dir;
  std::string file = dir.Write("scenario.yaml", yaml);
  std::vector<std::string> args{"sim", file, "--json"};
  if (explain) args.push_back("--explain");
  RunResult r = RunAllot(args);
  SimRun s;
  s.exit_code = r.exit_code;
  s.err = r.err;
  s.out = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  return s;
}

// The output entry of request `id` (a null json when absent).
inline nlohmann::json Request(const nlohmann::json& out, const std::string& id) {
  for (const auto& r : out["requests"])
    if (r["id"] == id) return r;
  return nullptr;
}

inline std::string StateOf(const nlohmann::json& out, const std::string& id) {
  auto r = Request(out, id);
  return r.is_null() ? "<missing>" : r["state"].get<std::string>();
}

inline std::string NodeOf(const nlohmann::json& out, const std::string& id) {
  auto r = Request(out, id);
  return r.is_null() || r["node"].is_null() ? "" : r["node"].get<std::string>();
}

// node -> score of the first --explain decision about `id`.
inline std::map<std::string, int64_t> ScoresOf(const nlohmann::json& out, const std::string& id) {
  std::map<std::string, int64_t> m;
  if (!out.contains("explain")) return m;
  for (const auto& e : out["explain"]) {
    if (e["id"] != id) continue;
    for (auto it = e["scores"].begin(); it != e["scores"].end(); ++it) m[it.key()] = it.value().get<int64_t>();
    break;
  }
  return m;
}

// node -> filter reason of the first --explain decision about `id`.
inline std::map<std::string, std::string> FilteredOf(const nlohmann::json& out, const std::string& id) {
  std::map<std::string, std::string> m;
  if (!out.contains("explain")) return m;
  for (const auto& e : out["explain"]) {
    if (e["id"] != id) continue;
    for (auto it = e["filtered"].begin(); it != e["filtered"].end(); ++it) m[it.key()] = it.value().get<std::string>();
    break;
  }
  return m;
}

using Scores = std::map<std::string, int64_t>;

}  // namespace allot::testing
