// Small helpers for reading YAML/JSON documents with errors that name file, line, column and key path.
// Values echoed into messages are quoted with QuoteForError.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "allot/engine.h"
#include "allot/result.h"
#include "sim/yaml_tree.h"

namespace allot::sim {

// A key path ("events[3].submit.requests.cpu") spelled out only when an error names it: a parent path
// and one more key, or a whole path as text. Implicit from text, as paths were strings.
// REQUIRES: the parent and the text outlive it (it is passed down a call, never kept).
class KeyPath {
 public:
  KeyPath(const std::string& path) : text_(path) {}  // NOLINT(google-explicit-constructor)
  KeyPath(const char* path) : text_(path) {}         // NOLINT(google-explicit-constructor)
  KeyPath(const KeyPath& parent, std::string_view key) : parent_(&parent), text_(key) {}
  std::string str() const {
    if (parent_ == nullptr) return std::string(text_);
    std::string s = parent_->str();
    if (!s.empty()) s.push_back('.');
    s.append(text_);
    return s;
  }

 private:
  const KeyPath* parent_ = nullptr;
  std::string_view text_;
};

class Doc {
 public:
  explicit Doc(std::string file) : file_(std::move(file)) {}
  Error Err(const YamlNode& n, const KeyPath& path, const std::string& msg) const;
  // Unknown keys of a mapping are errors listing the allowed ones.
  Status CheckKeys(const YamlNode& n, const KeyPath& path,
                   std::initializer_list<std::string_view> allowed) const;
  Result<std::string> Scalar(const YamlNode& n, const KeyPath& path) const;
  // Scalar into *out (assigned in place: no copy of a Result).
  Status ScalarTo(const YamlNode& n, const KeyPath& path, std::string* out) const;
  Result<double> Number(const YamlNode& n, const KeyPath& path) const;
  Result<int64_t> Integer(const YamlNode& n, const KeyPath& path) const;
  Result<bool> Bool(const YamlNode& n, const KeyPath& path) const;
  // Seconds (a number, fractions allowed) to milliseconds; must not be negative.
  Result<TimeMs> Seconds(const YamlNode& n, const KeyPath& path) const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace allot::sim
