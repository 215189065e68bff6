// Small helpers for reading YAML/JSON documents with errors that name file, line, column and key path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "allot/engine.h"
#include "allot/result.h"

namespace allot::sim {

class Doc {
 public:
  explicit Doc(std::string file) : file_(std::move(file)) {}
  Error Err(const YAML::Node& n, const std::string& path, const std::string& msg) const;
  // Unknown keys of a mapping are errors listing the allowed ones.
  Status CheckKeys(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> allowed) const;
  Result<std::string> Scalar(const YAML::Node& n, const std::string& path) const;
  Result<double> Number(const YAML::Node& n, const std::string& path) const;
  Result<int64_t> Integer(const YAML::Node& n, const std::string& path) const;
  Result<bool> Bool(const YAML::Node& n, const std::string& path) const;
  // Seconds (a number, fractions allowed) to milliseconds; must not be negative.
  Result<TimeMs> Seconds(const YAML::Node& n, const std::string& path) const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace allot::sim
