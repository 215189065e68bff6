// UTF-8 at the YAML boundary: finds the first string in a parsed YAML document (a mapping key or a scalar
// value) that is not well-formed UTF-8, so that a loader can reject the file where it is read, naming the
// line and key path, instead of carrying bytes that a JSON printer later refuses.
//
// Header-only so that the core library need not link yaml-cpp; it works on YAML::Node and on any node
// type with the same read API (Type, Scalar, is, iteration with ->first/->second; sim's YamlNode).
// Aliases are followed, so a walk is bounded: a node that contains itself (an alias cycle) is reported,
// and so is a walk past `*budget` node visits in all (an alias bomb expands exponentially;
// YamlVisitBound is generous for a document without aliases) or past kMaxYamlDepth levels.
// Thread-safety: pure functions.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "allot/utf8.h"

namespace allot {

inline constexpr size_t kMaxYamlDepth = 2000;

// A visit budget for a document parsed from `text_size` bytes: a tree without aliases has fewer nodes.
inline size_t YamlVisitBound(size_t text_size) { return 4 * text_size + 1024; }

template <typename NodeT>
struct YamlTextProblem {
  NodeT node;           // the offending key or scalar (its Mark() is the position)
  std::string path;     // key path to it, e.g. `events[0].submit.id`; keys quoted with QuoteForError
  std::string message;  // "invalid UTF-8 at byte 2"
};

namespace yaml_utf8_internal {

template <typename NodeT>
class Walker {
 public:
  Walker(size_t* budget, std::string prefix) : budget_(budget), prefix_(std::move(prefix)) {}

  // True when a problem was found (then problem() holds it).
  bool Visit(const NodeT& n) {
    if (*budget_ == 0) return Fail(n, "the document expands to too many nodes (aliases)");
    if (stack_.size() > kMaxYamlDepth) return Fail(n, "the document nests too deeply");
    --*budget_;
    if (n.Type() == YAML::NodeType::Sequence || n.Type() == YAML::NodeType::Map) {
      for (const NodeT& open : open_) {
        if (open.is(n)) return Fail(n, "an alias names a node that contains it (a cycle)");
      }
      open_.push_back(n);
    }
    bool found = VisitChildren(n);
    if (!found && (n.Type() == YAML::NodeType::Sequence || n.Type() == YAML::NodeType::Map)) open_.pop_back();
    return found;
  }

  YamlTextProblem<NodeT>& problem() { return problem_; }

 private:
  bool VisitChildren(const NodeT& n) {
    switch (n.Type()) {
      case YAML::NodeType::Scalar:
        if (size_t bad = InvalidUtf8Offset(n.Scalar()); bad != std::string::npos) {
          return Fail(n, "invalid UTF-8 at byte " + std::to_string(bad));
        }
        return false;
      case YAML::NodeType::Sequence: {
        size_t i = 0;
        for (auto it = n.begin(); it != n.end(); ++it, ++i) {
          stack_.push_back({nullptr, i});
          if (Visit(*it)) return true;
          stack_.pop_back();
        }
        return false;
      }
      case YAML::NodeType::Map:
        for (auto it = n.begin(); it != n.end(); ++it) {
          NodeT key = it->first;  // a copy: YAML::Node iterators hand out a temporary proxy
          if (key.Type() == YAML::NodeType::Scalar) {
            stack_.push_back({&key.Scalar(), 0});
            if (size_t bad = InvalidUtf8Offset(key.Scalar()); bad != std::string::npos) {
              return Fail(key, "invalid UTF-8 in the key at byte " + std::to_string(bad));
            }
          } else {
            stack_.push_back({&ComplexKey(), 0});
            if (Visit(key)) return true;
          }
          if (Visit(it->second)) return true;
          stack_.pop_back();
        }
        return false;
      default:
        return false;
    }
  }

  struct Step {
    const std::string* key;  // nullptr: a sequence index
    size_t index;
  };
  static const std::string& ComplexKey() {
    static const std::string k = "<key>";
    return k;
  }

  bool Fail(const NodeT& n, std::string message) {
    std::string path = prefix_;
    for (const Step& s : stack_) {
      if (s.key == nullptr) {
        path += "[" + std::to_string(s.index) + "]";
      } else {
        if (!path.empty()) path += '.';
        path += QuoteForError(*s.key, 60);
      }
    }
    if (path.size() > 160) path = path.substr(0, 80) + "..." + path.substr(path.size() - 60);
    problem_ = {n, std::move(path), std::move(message)};
    return true;
  }

  size_t* budget_;
  std::string prefix_;
  std::vector<Step> stack_;
  std::vector<NodeT> open_;  // the containers being walked, outermost first
  YamlTextProblem<NodeT> problem_;
};

}  // namespace yaml_utf8_internal

// The first string in `root` (document order) that is not valid UTF-8, or nullopt. `prefix` starts
// every key path. Each visited node takes one from `*budget`; running out is reported as a problem.
template <typename NodeT>
std::optional<YamlTextProblem<NodeT>> FindInvalidUtf8(const NodeT& root, size_t* budget,
                                                      const std::string& prefix = "") {
  yaml_utf8_internal::Walker<NodeT> w(budget, prefix);
  if (!w.Visit(root)) return std::nullopt;
  return std::move(w.problem());
}

// The same with a budget of YamlVisitBound(text_size).
template <typename NodeT>
std::optional<YamlTextProblem<NodeT>> FindInvalidUtf8(const NodeT& root, size_t text_size) {
  size_t budget = YamlVisitBound(text_size);
  return FindInvalidUtf8(root, &budget);
}

}  // namespace allot
