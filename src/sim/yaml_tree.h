// A compact, read-only YAML document tree for the scenario loader, built from yaml-cpp's parser events.
//
// yaml-cpp's own YAML::Node tree costs about 600 bytes a node (a 100k-event scenario: ~870 MB); a node
// here is one 56-byte record in a vector. YamlNode offers the part of YAML::Node's read API that the
// loader uses, with the same meaning: marks, node types, first-match key lookup, aliases sharing the
// anchored node. A missing key or index yields an undefined node whose predicates are all false (where
// yaml-cpp would throw on some of them).
//
// Streaming: given a top-level key (the scenario's `events`), the parser hands each element of that
// key's sequence to a callback as soon as it is complete, and forgets the element once the callback has
// handled it, so that a scenario's events never exist all at once as a tree.
// Thread-safety: a YamlTree is built by one thread; a finished tree may be read from many.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::sim {

class YamlTree;
class YamlIterator;
class TreeBuilder;

class YamlNode {
 public:
  YamlNode() = default;  // undefined
  YamlNode(const YamlTree* tree, uint32_t index) : tree_(tree), index_(index) {}

  bool IsDefined() const { return tree_ != nullptr; }
  // The same node (an alias and its anchor are).
  bool is(const YamlNode& o) const { return tree_ == o.tree_ && index_ == o.index_; }
  explicit operator bool() const { return IsDefined(); }
  // Undefined for a missing node.
  YAML::NodeType::value Type() const;
  bool IsNull() const { return Type() == YAML::NodeType::Null; }
  bool IsScalar() const { return Type() == YAML::NodeType::Scalar; }
  bool IsSequence() const { return Type() == YAML::NodeType::Sequence; }
  bool IsMap() const { return Type() == YAML::NodeType::Map; }
  // The scalar's text; empty for every other node.
  const std::string& Scalar() const;
  // Where the node starts (0-based); null_mark() for an undefined node.
  YAML::Mark Mark() const;
  // Elements of a sequence, pairs of a map, else 0.
  size_t size() const;
  // The i-th element of a sequence; undefined otherwise.
  YamlNode operator[](size_t i) const;
  // The value of the first pair whose key is the scalar `key`; undefined otherwise.
  YamlNode operator[](std::string_view key) const;
  YamlNode operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  YamlNode operator[](const std::string& key) const { return (*this)[std::string_view(key)]; }

  // Sequences: each element (an entry that is the element); maps: each pair (entry.first, entry.second).
  YamlIterator begin() const;
  YamlIterator end() const;

 private:
  friend class YamlTree;
  friend class YamlIterator;
  const YamlTree* tree_ = nullptr;
  uint32_t index_ = 0;
};

// One step of an iteration: for a sequence the element itself, for a map a key and its value.
struct YamlEntry : YamlNode {
  YamlNode first, second;
};

class YamlIterator {
 public:
  YamlIterator(const YamlNode& owner, size_t i) : owner_(owner), i_(i) { Load(); }
  const YamlEntry& operator*() const { return cur_; }
  const YamlEntry* operator->() const { return &cur_; }
  YamlIterator& operator++() {
    i_++;
    Load();
    return *this;
  }
  bool operator==(const YamlIterator& o) const { return i_ == o.i_; }
  bool operator!=(const YamlIterator& o) const { return i_ != o.i_; }

 private:
  void Load();
  YamlNode owner_;
  size_t i_;
  YamlEntry cur_;
};

inline YamlIterator YamlNode::begin() const { return YamlIterator(*this, 0); }
inline YamlIterator YamlNode::end() const { return YamlIterator(*this, size()); }

class YamlTree {
 public:
  // Handles one element of the streamed sequence: `index` counts from 0. Returning false stops the parse
  // (Parse then returns false, and the tree is incomplete).
  using ElementFn = std::function<bool(const YamlNode& element, size_t index)>;
  // Called once when the streamed key's sequence starts, with the root mapping as it is so far (the
  // pairs before that key). Returning false stops the parse.
  using HeadFn = std::function<bool(const YamlNode& head)>;

  YamlTree() = default;
  YamlTree(const YamlTree&) = delete;
  YamlTree& operator=(const YamlTree&) = delete;

  // Parses the first document of `text`. Throws YAML::Exception (with a mark) on malformed input, as
  // YAML::Load does. Without `stream_key`, builds the whole tree and returns true.
  // With it (and a top-level sequence under that key), the head and each element go to the callbacks
  // and the elements are dropped from the tree once handled; returns false when a callback stopped it.
  bool Parse(std::string_view text, const std::string& stream_key = "", const HeadFn& head = nullptr,
             const ElementFn& element = nullptr);

  // The document's root: a null node (without a mark) for an empty document.
  YamlNode root() const { return root_; }
  // True when, after Parse, a top-level key followed the streamed sequence (so a callback that needed
  // every other key saw only some of them).
  bool keys_after_stream() const { return keys_after_stream_; }

 private:
  friend class YamlNode;
  friend class YamlIterator;
  friend class TreeBuilder;
  struct Rec {
    std::string scalar;
    int32_t line = -1, column = -1, pos = -1;
    uint32_t kids = 0, count = 0;  // range in kids_; a map's kids alternate key, value
    YAML::NodeType::value type = YAML::NodeType::Null;
  };

  std::vector<Rec> recs_;
  std::vector<uint32_t> kids_;
  YamlNode root_;
  bool keys_after_stream_ = false;
};

}  // namespace allot::sim
