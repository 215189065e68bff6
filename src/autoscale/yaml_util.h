// Small yaml-cpp helpers shared by the autoscale parsers: typed field access with errors that name
// the file, line and field. Internal to the module. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "allot/result.h"

namespace allot::autoscale::internal {

// "file:line: path: " (line omitted when the node has no position).
std::string Where(std::string_view source, const YAML::Node& node, const std::string& path);
// A required integer scalar.
Result<int64_t> GetInt(const YAML::Node& node, const std::string& path, std::string_view source);
// A required Kubernetes quantity (string or number) as its milli-value (MilliValue, rounded up).
Result<int64_t> GetMilli(const YAML::Node& node, const std::string& path, std::string_view source);
Result<bool> GetBool(const YAML::Node& node, const std::string& path, std::string_view source);
Result<std::string> GetString(const YAML::Node& node, const std::string& path, std::string_view source);

// For a CSV line: "" when it is valid UTF-8, else "column NAME: invalid UTF-8 at byte N" (N within the
// field; NAME from `header`, or its 1-based number; "header" while the header itself is read).
std::string CsvUtf8Problem(std::string_view line, const std::vector<std::string>& header);

}  // namespace allot::autoscale::internal
