// Small helpers for reading YAML/JSON documents with errors that name file, line, column and key path.
// Values echoed into messages are quoted with QuoteForError.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>

#include "allot/engine.h"
#include "allot/result.h"
#include "sim/yaml_tree.h"

namespace allot::sim {

class Doc {
 public:
  explicit Doc(std::string file) : file_(std::move(file)) {}
  Error Err(const YamlNode& n, const std::string& path, const std::string& msg) const;
  // Unknown keys of a mapping are errors listing the allowed ones.
  Status CheckKeys(const YamlNode& n, const std::string& path, std::initializer_list<const char*> allowed) const;
  Result<std::string> Scalar(const YamlNode& n, const std::string& path) const;
  Result<double> Number(const YamlNode& n, const std::string& path) const;
  Result<int64_t> Integer(const YamlNode& n, const std::string& path) const;
  Result<bool> Bool(const YamlNode& n, const std::string& path) const;
  // Seconds (a number, fractions allowed) to milliseconds; must not be negative.
  Result<TimeMs> Seconds(const YamlNode& n, const std::string& path) const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace allot::sim
