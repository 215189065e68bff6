// Renderings of guard reports: the status table and JSON, `recommend` lines and Prometheus gauges.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/guard.h"

namespace allot::host {

// The host's level: the highest among cpu, memory, the reported disks and the GPUs.
int HostLevel(const std::vector<ResourceReport>& reports);
// "ok" below warn, "warn" from warn, "over" from the limit.
const char* ResourceState(const ResourceReport& r);

// `level`, `level_name` and `scale` (the level's scale factor under `levels`) lead the document.
nlohmann::ordered_json StatusJson(const std::vector<ResourceReport>& reports, const HostSnapshot* snapshot,
                                  const std::string& tier, const LevelPolicy& levels = {});
std::string StatusTable(const std::vector<ResourceReport>& reports);
// `guard check --json`: go, priority, level, level_name, scale, reasons, warnings, waiting_for and the
// resources the request touches (as in StatusJson).
nlohmann::ordered_json DecisionJson(const Decision& d);
// Actionable lines, one per resource at or above its warn threshold; one "nothing to do" line otherwise.
std::vector<std::string> Recommendations(const std::vector<ResourceReport>& reports, const LoadAvg& load);
// Prometheus text exposition format 0.0.4 (valid under `promtool check metrics`).
std::string MetricsText(const std::vector<ResourceReport>& reports, const LoadAvg& load, const LevelPolicy& levels = {});

}  // namespace allot::host
