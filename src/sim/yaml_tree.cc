#include "sim/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cstring>
#include <istream>
#include <streambuf>

namespace allot::sim {
namespace {

// Stops a parse from inside the event handler (a callback said no); never leaves this file.
struct StopParse {};

// An istream over the text without copying it.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view s) {
    char* b = const_cast<char*>(s.data());  // read-only: the get area is never written
    setg(b, b, b + s.size());
  }
};

const std::string& EmptyString() {
  static const std::string e;
  return e;
}

}  // namespace

YAML::NodeType::value YamlNode::Type() const {
  return tree_ == nullptr ? YAML::NodeType::Undefined : tree_->recs_[index_].type;
}

const std::string& YamlNode::Scalar() const { return tree_ == nullptr ? EmptyString() : tree_->recs_[index_].scalar; }

YAML::Mark YamlNode::Mark() const {
  YAML::Mark m = YAML::Mark::null_mark();
  if (tree_ == nullptr) return m;
  const auto& r = tree_->recs_[index_];
  m.pos = r.pos;
  m.line = r.line;
  m.column = r.column;
  if (r.line < 0 && r.pos >= 0 && !tree_->json_text_.empty()) tree_->LineOf(static_cast<size_t>(r.pos), &m.line, &m.column);
  return m;
}

void YamlTree::LineOf(size_t pos, int32_t* line, int32_t* column) const {
  pos = std::min(pos, json_text_.size());
  if (pos < cursor_pos_) cursor_pos_ = cursor_line_ = cursor_line_start_ = 0;
  const char* base = json_text_.data();
  for (const char* p = base + cursor_pos_; p < base + pos;) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(base + pos - p));
    if (nl == nullptr) break;
    cursor_line_++;
    p = static_cast<const char*>(nl) + 1;
    cursor_line_start_ = static_cast<size_t>(p - base);
  }
  cursor_pos_ = pos;
  *line = static_cast<int32_t>(cursor_line_);
  *column = static_cast<int32_t>(pos - cursor_line_start_);
}

size_t YamlNode::size() const {
  switch (Type()) {
    case YAML::NodeType::Sequence: return tree_->recs_[index_].count;
    case YAML::NodeType::Map: return tree_->recs_[index_].count / 2;
    default: return 0;
  }
}

YamlNode YamlNode::operator[](size_t i) const {
  if (!IsSequence()) return {};
  const auto& r = tree_->recs_[index_];
  if (i >= r.count) return {};
  return YamlNode(tree_, tree_->kids_[r.kids + i]);
}

YamlNode YamlNode::operator[](std::string_view key) const {
  if (!IsMap()) return {};
  const auto& r = tree_->recs_[index_];
  for (uint32_t i = 0; i + 1 < r.count; i += 2) {
    const auto& k = tree_->recs_[tree_->kids_[r.kids + i]];
    if (k.type == YAML::NodeType::Scalar && k.scalar.size() == key.size() && std::memcmp(k.scalar.data(), key.data(), key.size()) == 0) {
      return YamlNode(tree_, tree_->kids_[r.kids + i + 1]);
    }
  }
  return {};
}

void YamlIterator::Load() {
  cur_ = YamlEntry();
  if (i_ >= owner_.size()) return;
  const YamlTree* t = owner_.tree_;
  const auto& r = t->recs_[owner_.index_];
  if (owner_.IsSequence()) {
    static_cast<YamlNode&>(cur_) = YamlNode(t, t->kids_[r.kids + i_]);
  } else {
    cur_.first = YamlNode(t, t->kids_[r.kids + 2 * i_]);
    cur_.second = YamlNode(t, t->kids_[r.kids + 2 * i_ + 1]);
  }
}

// Builds YamlTree records from parser events (as yaml-cpp's NodeBuilder builds its nodes), streaming the
// elements of the sequence under `stream_key` in the root mapping.
class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(YamlTree* tree, const std::string& stream_key, const YamlTree::HeadFn& head,
              const YamlTree::ElementFn& element)
      : t_(tree), stream_key_(stream_key), head_(head), element_(element) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Leaf(mark, anchor, YAML::NodeType::Null, EmptyString());
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    BeginElement();
    // The parser resolves alias names and throws on an unknown one, so the anchor is registered.
    Attach(anchor < anchors_.size() ? anchors_[anchor] : New(YAML::Mark::null_mark(), YAML::NodeType::Null, ""));
    Completed();
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    Leaf(mark, anchor, YAML::NodeType::Scalar, value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor, YAML::NodeType::Sequence);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    Open(mark, anchor, YAML::NodeType::Map);
  }
  void OnMapEnd() override { Close(); }

  bool has_root() const { return has_root_; }

 private:
  struct Frame {
    uint32_t rec = 0;
    std::vector<uint32_t> pending;  // children so far
  };

  uint32_t New(const YAML::Mark& mark, YAML::NodeType::value type, const std::string& scalar) {
    auto& recs = t_->recs_;
    recs.emplace_back();
    YamlTree::Rec& r = recs.back();
    r.type = type;
    r.scalar = scalar;
    r.pos = mark.pos;
    r.line = mark.line;
    r.column = mark.column;
    return static_cast<uint32_t>(recs.size() - 1);
  }

  void Register(YAML::anchor_t anchor, uint32_t rec) {
    if (anchor == YAML::NullAnchor) return;
    if (anchors_.size() <= anchor) anchors_.resize(anchor + 1, 0);
    anchors_[anchor] = rec;
    anchor_count_++;
  }

  void Attach(uint32_t rec) {
    if (depth_ == 0) {
      t_->root_ = YamlNode(t_, rec);
      has_root_ = true;
      return;
    }
    if (after_stream_ && depth_ == 1) t_->keys_after_stream_ = true;
    frames_[depth_ - 1].pending.push_back(rec);
  }

  bool AtElementLevel() const { return streaming_ && depth_ == 2; }

  void BeginElement() {
    if (!AtElementLevel()) return;
    element_recs_ = t_->recs_.size();
    element_kids_ = t_->kids_.size();
    element_anchors_ = anchor_count_;
  }

  // A node directly under the streamed sequence is complete: hand it over, then forget it (unless it
  // holds an anchor that a later alias may name).
  void Completed() {
    if (!AtElementLevel()) return;
    auto& pending = frames_[1].pending;
    if (!element_(YamlNode(t_, pending.back()), element_index_++)) throw StopParse();
    pending.pop_back();
    if (anchor_count_ == element_anchors_) {
      t_->recs_.resize(element_recs_);
      t_->kids_.resize(element_kids_);
    }
  }

  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, YAML::NodeType::value type, const std::string& value) {
    BeginElement();
    uint32_t rec = New(mark, type, value);
    Register(anchor, rec);
    Attach(rec);
    Completed();
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, YAML::NodeType::value type) {
    BeginElement();
    bool stream = false;
    if (type == YAML::NodeType::Sequence && !stream_key_.empty() && !stream_seen_ && depth_ == 1 &&
        t_->recs_[frames_[0].rec].type == YAML::NodeType::Map && frames_[0].pending.size() % 2 == 1) {
      const auto& key = t_->recs_[frames_[0].pending.back()];
      stream = key.type == YAML::NodeType::Scalar && key.scalar == stream_key_;
    }
    if (stream) {
      stream_seen_ = true;
      // The head: a mapping of the root's pairs before the streamed key.
      const auto& root_pending = frames_[0].pending;
      YAML::Mark root_mark = YamlNode(t_, frames_[0].rec).Mark();
      uint32_t head = New(root_mark, YAML::NodeType::Map, EmptyString());
      t_->recs_[head].kids = static_cast<uint32_t>(t_->kids_.size());
      t_->recs_[head].count = static_cast<uint32_t>(root_pending.size() - 1);
      t_->kids_.insert(t_->kids_.end(), root_pending.begin(), root_pending.end() - 1);
      if (!head_(YamlNode(t_, head))) throw StopParse();
    }
    uint32_t rec = New(mark, type, EmptyString());
    Register(anchor, rec);
    Attach(rec);
    if (depth_ == frames_.size()) frames_.emplace_back();
    frames_[depth_].rec = rec;
    frames_[depth_].pending.clear();
    depth_++;
    if (stream) streaming_ = true;
  }

  void Close() {
    Frame& f = frames_[depth_ - 1];
    YamlTree::Rec& r = t_->recs_[f.rec];
    r.kids = static_cast<uint32_t>(t_->kids_.size());
    r.count = static_cast<uint32_t>(f.pending.size());
    t_->kids_.insert(t_->kids_.end(), f.pending.begin(), f.pending.end());
    depth_--;
    if (streaming_ && depth_ == 1) {
      streaming_ = false;
      after_stream_ = true;
    }
    Completed();
  }

  YamlTree* t_;
  const std::string& stream_key_;
  const YamlTree::HeadFn& head_;
  const YamlTree::ElementFn& element_;
  std::vector<Frame> frames_;  // [0, depth_) are open; kept beyond for their buffers
  size_t depth_ = 0;
  std::vector<uint32_t> anchors_;
  size_t anchor_count_ = 0;
  bool has_root_ = false, stream_seen_ = false, streaming_ = false, after_stream_ = false;
  size_t element_recs_ = 0, element_kids_ = 0, element_anchors_ = 0, element_index_ = 0;
};

bool YamlTree::Parse(std::string_view text, const std::string& stream_key, const HeadFn& head,
                     const ElementFn& element) {
  recs_.clear();
  kids_.clear();
  root_ = YamlNode();
  keys_after_stream_ = false;
  json_text_ = {};
  ViewBuf buf(text);
  std::istream in(&buf);
  YAML::Parser parser(in);
  TreeBuilder b(this, (head && element) ? stream_key : EmptyString(), head, element);
  try {
    parser.HandleNextDocument(b);
  } catch (const StopParse&) {
    return false;
  }
  if (!b.has_root()) {
    // As YAML::Load: an empty document is a null node without a position.
    recs_.emplace_back();
    root_ = YamlNode(this, static_cast<uint32_t>(recs_.size() - 1));
  }
  return true;
}

}  // namespace allot::sim
