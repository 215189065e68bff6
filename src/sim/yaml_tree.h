// A compact, read-only YAML document tree for the scenario loader, built from a YAML parser's events
// (libfyaml's, or yaml-cpp's for text libfyaml refuses).
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
//
// JSON: ParseJson builds the same tree with simdjson (json_tree.cc), about 20x faster than yaml-cpp. Its
// records keep only the byte offset; Mark() computes line and column from the text when asked (an
// error, or an event's line), scanning forward from the last mark asked for, so marks asked in file
// order cost linear time in all.
// Thread-safety: a YamlTree is built by one thread; a finished tree is read by one thread at a time (a
// JSON tree's Mark() moves its line cursor).
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
  // Undefined for a missing node. (Type, Scalar, size and the iterator are inline: the loader calls them
  // for every node.)
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
  static const std::string kEmpty;
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
  // The end of `owner`'s iteration at `i` (== compares positions only; never dereferenced).
  struct End {};
  YamlIterator(const YamlNode& owner, size_t i, End) : owner_(owner), i_(i) {}
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
inline YamlIterator YamlNode::end() const { return YamlIterator(*this, size(), YamlIterator::End{}); }

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

  // Which YAML parser reads the text: libfyaml (about 5x faster), falling back to yaml-cpp for text it
  // refuses or cannot read (not UTF-8, a NUL byte), so that malformed input gets yaml-cpp's messages; or
  // yaml-cpp alone (tests compare the two).
  enum class Reader { kFast, kYamlCpp };
  // Parses the first document of `text`. Throws YAML::Exception (with a mark) on malformed input, as
  // YAML::Load does. Without `stream_key`, builds the whole tree and returns true.
  // With it (and a top-level sequence under that key), the head and each element go to the callbacks
  // and the elements are dropped from the tree once handled; returns false when a callback stopped it,
  // or when libfyaml refused the text after callbacks ran (the caller loads from the whole tree then).
  bool Parse(std::string_view text, const std::string& stream_key = "", const HeadFn& head = nullptr,
             const ElementFn& element = nullptr, Reader reader = Reader::kFast);

  enum class JsonStatus { kOk, kStopped, kNotJson };
  // Parses `text` as one JSON document whose root is an object, with the same tree and streaming as
  // Parse: kOk when done, kStopped when a callback said no, kNotJson when simdjson refuses the text (not
  // JSON, a root that is not an object, invalid UTF-8, a number out of range, nesting past 1024) and the
  // caller should read it as YAML instead, which gives today's messages for such input. Never throws.
  // `text` must outlive the tree (marks are computed from it). `readable`: how many bytes from
  // text.data() may be read (a std::string's capacity); with 64 past the text, simdjson reads it in place,
  // else from a padded copy.
  JsonStatus ParseJson(std::string_view text, size_t readable, const std::string& stream_key = "",
                       const HeadFn& head = nullptr, const ElementFn& element = nullptr);

  // The document's root: a null node (without a mark) for an empty document.
  YamlNode root() const { return root_; }
  // True when, after Parse, a top-level key followed the streamed sequence (so a callback that needed
  // every other key saw only some of them).
  bool keys_after_stream() const { return keys_after_stream_; }

 private:
  friend class YamlNode;
  friend class YamlIterator;
  friend class TreeBuilder;
  friend class JsonBuilder;
  struct Rec {
    std::string scalar;
    int32_t line = -1, column = -1, pos = -1;  // JSON: line and column -1, computed from pos
    uint32_t kids = 0, count = 0;              // range in kids_; a map's kids alternate key, value
    YAML::NodeType::value type = YAML::NodeType::Null;
  };

  std::vector<Rec> recs_;
  std::vector<uint32_t> kids_;
  YamlNode root_;
  bool keys_after_stream_ = false;
  // JSON: the text, and the line cursor of LineOf (the line that starts at cursor_line_start_).
  std::string_view json_text_;
  mutable size_t cursor_pos_ = 0, cursor_line_ = 0, cursor_line_start_ = 0;
  void LineOf(size_t pos, int32_t* line, int32_t* column) const;
};

inline YAML::NodeType::value YamlNode::Type() const {
  return tree_ == nullptr ? YAML::NodeType::Undefined : tree_->recs_[index_].type;
}

inline const std::string& YamlNode::Scalar() const {
  return tree_ == nullptr ? kEmpty : tree_->recs_[index_].scalar;
}

inline size_t YamlNode::size() const {
  if (tree_ == nullptr) return 0;
  const auto& r = tree_->recs_[index_];
  return r.type == YAML::NodeType::Sequence ? r.count : r.type == YAML::NodeType::Map ? r.count / 2 : 0;
}

inline void YamlIterator::Load() {
  cur_ = YamlEntry();
  const YamlTree* t = owner_.tree_;
  if (t == nullptr) return;
  const auto& r = t->recs_[owner_.index_];
  if (r.type == YAML::NodeType::Sequence) {
    if (i_ < r.count) static_cast<YamlNode&>(cur_) = YamlNode(t, t->kids_[r.kids + i_]);
  } else if (r.type == YAML::NodeType::Map) {
    if (i_ < r.count / 2) {
      cur_.first = YamlNode(t, t->kids_[r.kids + 2 * i_]);
      cur_.second = YamlNode(t, t->kids_[r.kids + 2 * i_ + 1]);
    }
  }
}

}  // namespace allot::sim
