#include "sim/yaml_tree.h"

#include <libfyaml.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <istream>
#include <memory>
#include <streambuf>
#include <unordered_map>

#include "allot/utf8.h"

namespace allot::sim {

const std::string YamlNode::kEmpty;

YAML::Mark YamlNode::Mark() const {
  YAML::Mark m = YAML::Mark::null_mark();
  if (tree_ == nullptr) return m;
  const auto& r = tree_->recs_[index_];
  m.pos = r.pos;
  m.line = r.line;
  m.column = r.column;
  if (r.line < 0 && r.pos >= 0 && !tree_->json_text_.empty())
    tree_->LineOf(static_cast<size_t>(r.pos), &m.line, &m.column);
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
    if (k.type == YAML::NodeType::Scalar && k.scalar.size() == key.size() &&
        std::memcmp(k.scalar.data(), key.data(), key.size()) == 0) {
      return YamlNode(tree_, tree_->kids_[r.kids + i + 1]);
    }
  }
  return {};
}

// Builds YamlTree records from a parser's events (as yaml-cpp's NodeBuilder builds its nodes), streaming
// the elements of the sequence under `stream_key` in the root mapping. Two parsers feed it: libfyaml
// (FyFront, the fast path) and yaml-cpp (CppFront, whose messages name what is wrong with malformed
// input). Each event handler returns false when a callback stopped the parse. Anchors are known by name.
class TreeBuilder {
 public:
  TreeBuilder(YamlTree* tree, const std::string& stream_key, const YamlTree::HeadFn& head,
              const YamlTree::ElementFn& element)
      : t_(tree), stream_key_(stream_key), head_(head), element_(element) {}

  bool Leaf(const YAML::Mark& mark, std::string_view anchor, YAML::NodeType::value type,
            std::string_view value) {
    BeginElement();
    uint32_t rec = New(mark, type, value);
    Register(anchor, rec);
    Attach(rec);
    return Completed();
  }

  bool HasAnchor(std::string_view name) const { return anchors_.find(name) != anchors_.end(); }

  // Throws YAML::ParserException when no anchor of that name came before (as yaml-cpp's parser does).
  bool Alias(const YAML::Mark& mark, std::string_view name) {
    BeginElement();
    auto it = anchors_.find(name);
    if (it == anchors_.end()) throw YAML::ParserException(mark, "the referenced anchor is not defined");
    Attach(it->second);
    return Completed();
  }

  // A mapping or sequence starts; a mark without a position is taken from its first child.
  bool Open(const YAML::Mark& mark, std::string_view anchor, YAML::NodeType::value type) {
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
      uint32_t head = New(root_mark, YAML::NodeType::Map, {});
      t_->recs_[head].kids = static_cast<uint32_t>(t_->kids_.size());
      t_->recs_[head].count = static_cast<uint32_t>(root_pending.size() - 1);
      t_->kids_.insert(t_->kids_.end(), root_pending.begin(), root_pending.end() - 1);
      called_ = true;
      if (!head_(YamlNode(t_, head))) return false;
    }
    uint32_t rec = New(mark, type, {});
    Register(anchor, rec);
    Attach(rec);
    if (depth_ == frames_.size()) frames_.emplace_back();
    frames_[depth_].rec = rec;
    frames_[depth_].mark_pending = mark.pos < 0;
    frames_[depth_].pending.clear();
    depth_++;
    if (stream) streaming_ = true;
    return true;
  }

  bool Close() {
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
    return Completed();
  }

  bool has_root() const { return has_root_; }
  // Whether a callback has been called (what it did cannot be undone by parsing again).
  bool called() const { return called_; }

 private:
  struct Frame {
    uint32_t rec = 0;
    bool mark_pending = false;      // an implicit start without a position: marked by its first child
    std::vector<uint32_t> pending;  // children so far
  };

  uint32_t New(const YAML::Mark& mark, YAML::NodeType::value type, std::string_view scalar) {
    auto& recs = t_->recs_;
    recs.emplace_back();
    YamlTree::Rec& r = recs.back();
    r.type = type;
    r.scalar.assign(scalar.data(), scalar.size());
    r.pos = mark.pos;
    r.line = mark.line;
    r.column = mark.column;
    return static_cast<uint32_t>(recs.size() - 1);
  }

  void Register(std::string_view anchor, uint32_t rec) {
    if (anchor.empty()) return;
    if (auto it = anchors_.find(anchor); it != anchors_.end()) {
      it->second = rec;
    } else {
      anchors_.emplace(std::string(anchor), rec);
    }
    anchor_count_++;
  }

  void Attach(uint32_t rec) {
    if (depth_ == 0) {
      t_->root_ = YamlNode(t_, rec);
      has_root_ = true;
      return;
    }
    if (after_stream_ && depth_ == 1) t_->keys_after_stream_ = true;
    Frame& parent = frames_[depth_ - 1];
    if (parent.mark_pending) {
      const auto& kid = t_->recs_[rec];
      auto& own = t_->recs_[parent.rec];
      own.pos = kid.pos;
      own.line = kid.line;
      own.column = kid.column;
      parent.mark_pending = false;
    }
    parent.pending.push_back(rec);
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
  bool Completed() {
    if (!AtElementLevel()) return true;
    auto& pending = frames_[1].pending;
    called_ = true;
    if (!element_(YamlNode(t_, pending.back()), element_index_++)) return false;
    pending.pop_back();
    if (anchor_count_ == element_anchors_) {
      t_->recs_.resize(element_recs_);
      t_->kids_.resize(element_kids_);
    }
    return true;
  }

  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };

  YamlTree* t_;
  const std::string& stream_key_;
  const YamlTree::HeadFn& head_;
  const YamlTree::ElementFn& element_;
  std::vector<Frame> frames_;  // [0, depth_) are open; kept beyond for their buffers
  size_t depth_ = 0;
  std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> anchors_;
  size_t anchor_count_ = 0;
  bool has_root_ = false, stream_seen_ = false, streaming_ = false, after_stream_ = false, called_ = false;
  size_t element_recs_ = 0, element_kids_ = 0, element_anchors_ = 0, element_index_ = 0;
};

namespace {

std::string_view TokenText(fy_token* tok) {
  size_t len = 0;
  const char* text = tok != nullptr ? fy_token_get_text(tok, &len) : nullptr;
  return text != nullptr ? std::string_view(text, len) : std::string_view();
}

// libfyaml's events into the builder, with nodes marked where yaml-cpp marks them.
class FyFront {
 public:
  FyFront(TreeBuilder* b, std::string_view text) : b_(b), text_(text) {}

  bool OnEvent(fy_event* e) {
    switch (e->type) {
      case FYET_SCALAR: {
        fy_token* tok = e->scalar.value;
        std::string_view value = TokenText(tok);
        fy_scalar_style style = tok != nullptr ? fy_token_scalar_style(tok) : FYSS_PLAIN;
        YAML::Mark mark = last_;  // an empty value has no token: yaml-cpp marks it where its key was
        if (tok != nullptr) mark = ValueMark(tok, style);
        mark = Earliest(mark, e->scalar.anchor, e->scalar.tag);
        // Null as yaml-cpp reads it: a plain, untagged "", "~", "null", "Null" or "NULL".
        bool null = style == FYSS_PLAIN && e->scalar.tag == nullptr &&
                    (value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL");
        return b_->Leaf(mark, TokenText(e->scalar.anchor),
                        null ? YAML::NodeType::Null : YAML::NodeType::Scalar,
                        null ? std::string_view() : value);
      }
      case FYET_ALIAS: {
        std::string_view name = TokenText(e->alias.anchor);
        if (!b_->HasAnchor(name)) {  // yaml-cpp says so, at its mark
          refused_ = true;
          return false;
        }
        return b_->Alias(MarkOf(e->alias.anchor), name);
      }
      case FYET_SEQUENCE_START:
        return b_->Open(Earliest(StartMark(e->sequence_start.sequence_start), e->sequence_start.anchor,
                                 e->sequence_start.tag),
                        TokenText(e->sequence_start.anchor), YAML::NodeType::Sequence);
      case FYET_MAPPING_START:
        return b_->Open(Earliest(StartMark(e->mapping_start.mapping_start), e->mapping_start.anchor,
                                 e->mapping_start.tag),
                        TokenText(e->mapping_start.anchor), YAML::NodeType::Map);
      case FYET_SEQUENCE_END:
      case FYET_MAPPING_END:
        return b_->Close();
      default:
        return true;
    }
  }

  // The text is one libfyaml reads, but yaml-cpp must say what is wrong with it.
  bool refused() const { return refused_; }

 private:
  YAML::Mark MarkOf(fy_token* tok) {
    YAML::Mark m = YAML::Mark::null_mark();
    const fy_mark* fm = tok != nullptr ? fy_token_start_mark(tok) : nullptr;
    if (fm == nullptr) return m;
    m.pos = static_cast<int>(fm->input_pos);
    m.line = fm->line;
    m.column = fm->column;
    last_ = m;
    return m;
  }
  YAML::Mark StartMark(fy_token* tok) { return tok == nullptr ? YAML::Mark::null_mark() : MarkOf(tok); }

  // libfyaml marks a scalar's content; yaml-cpp a quoted one at its opening quote and a block scalar at
  // its indicator (`|` or `>`, the last one on the header line before a comment).
  YAML::Mark ValueMark(fy_token* tok, fy_scalar_style style) {
    YAML::Mark m = MarkOf(tok);
    if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) && m.column > 0) {
      m.column--;
      m.pos--;
    } else if (style == FYSS_LITERAL || style == FYSS_FOLDED) {
      BlockHeader(&m);
    }
    return m;
  }

  // Moves a block scalar's mark from its content to its indicator: on the last line before the content
  // that is not blank, the last `|` or `>` before a comment.
  void BlockHeader(YAML::Mark* m) const {
    if (m->pos <= 0 || static_cast<size_t>(m->pos) > text_.size()) return;
    size_t end = text_.rfind('\n', static_cast<size_t>(m->pos) - 1);  // the newline before the content's line
    int line = m->line;
    while (end != std::string_view::npos) {
      size_t begin = end == 0 ? std::string_view::npos : text_.rfind('\n', end - 1);
      begin = begin == std::string_view::npos ? 0 : begin + 1;
      line--;
      std::string_view l = text_.substr(begin, end - begin);
      if (l.find_first_not_of(" \t\r") != std::string_view::npos) {
        size_t ind = l.substr(0, l.find(" #")).find_last_of("|>");
        if (ind != std::string_view::npos) {
          m->pos = static_cast<int>(begin + ind);
          m->line = line;
          m->column = static_cast<int>(ind);
        }
        return;
      }
      end = begin == 0 ? std::string_view::npos : begin - 1;
    }
  }

  // A node with an anchor or a tag starts at the first of them (yaml-cpp's mark).
  YAML::Mark Earliest(YAML::Mark m, fy_token* anchor, fy_token* tag) {
    for (fy_token* t : {anchor, tag}) {
      const fy_mark* fm = t != nullptr ? fy_token_start_mark(t) : nullptr;
      if (fm == nullptr) continue;
      int pos = static_cast<int>(fm->input_pos);
      // The anchor's token starts at its name; `&` and `!` come one before.
      if (t == anchor && pos > 0) pos--;
      if (m.pos < 0 || pos < m.pos) {
        m.pos = pos;
        m.line = fm->line;
        m.column = fm->column - (t == anchor && fm->column > 0 ? 1 : 0);
      }
    }
    return m;
  }

  TreeBuilder* b_;
  std::string_view text_;
  YAML::Mark last_ = YAML::Mark::null_mark();
  bool refused_ = false;
};

// Stops a yaml-cpp parse from inside its event handler (a callback said no); never leaves this file.
struct StopParse {};

// yaml-cpp's events into the builder.
class CppFront : public YAML::EventHandler {
 public:
  explicit CppFront(TreeBuilder* b) : b_(b) {}
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Go(b_->Leaf(mark, Name(anchor), YAML::NodeType::Null, {}));
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override { Go(b_->Alias(mark, Name(anchor))); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Go(b_->Leaf(mark, Name(anchor), YAML::NodeType::Scalar, value));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Go(b_->Open(mark, Name(anchor), YAML::NodeType::Sequence));
  }
  void OnSequenceEnd() override { Go(b_->Close()); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Go(b_->Open(mark, Name(anchor), YAML::NodeType::Map));
  }
  void OnMapEnd() override { Go(b_->Close()); }

 private:
  static void Go(bool go) {
    if (!go) throw StopParse();
  }
  // yaml-cpp numbers its anchors (the parser has resolved aliases to them).
  std::string_view Name(YAML::anchor_t anchor) {
    if (anchor == YAML::NullAnchor) return {};
    name_ = "#" + std::to_string(anchor);
    return name_;
  }
  TreeBuilder* b_;
  std::string name_;
};

// An istream over the text without copying it.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view s) {
    char* b = const_cast<char*>(s.data());  // read-only: the get area is never written
    setg(b, b, b + s.size());
  }
};

enum class FyOutcome { kDone, kStopped, kRefused };

// The first document through libfyaml (as YAML::Load reads only the first). kRefused when libfyaml finds
// the text malformed; its diagnostics are collected, never printed.
FyOutcome ParseFy(std::string_view text, TreeBuilder* b) {
  fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = nullptr;
  dcfg.output_fn = [](fy_diag*, void*, const char*, size_t) {};
  std::unique_ptr<fy_diag, void (*)(fy_diag*)> diag(fy_diag_create(&dcfg), fy_diag_destroy);
  if (!diag) return FyOutcome::kRefused;
  fy_diag_set_collect_errors(diag.get(), true);
  fy_parse_cfg cfg{};
  cfg.flags = static_cast<fy_parse_cfg_flags>(FYPCF_QUIET | FYPCF_JSON_NONE | FYPCF_ALLOW_DUPLICATE_KEYS);
  cfg.diag = diag.get();
  std::unique_ptr<fy_parser, void (*)(fy_parser*)> parser(fy_parser_create(&cfg), fy_parser_destroy);
  if (!parser || fy_parser_set_string(parser.get(), text.data(), text.size()) != 0)
    return FyOutcome::kRefused;
  FyFront front(b, text);
  bool in_document = false;
  while (fy_event* e = fy_parser_parse(parser.get())) {
    bool go = true;
    if (e->type == FYET_DOCUMENT_START) in_document = true;
    if (e->type == FYET_DOCUMENT_END) go = in_document = false;
    if (in_document) {
      try {
        go = front.OnEvent(e);
      } catch (...) {
        fy_parser_event_free(parser.get(), e);
        throw;
      }
    }
    fy_parser_event_free(parser.get(), e);
    if (front.refused()) return FyOutcome::kRefused;
    if (!go) return in_document ? FyOutcome::kStopped : FyOutcome::kDone;
  }
  return fy_parser_get_stream_error(parser.get()) ? FyOutcome::kRefused : FyOutcome::kDone;
}

}  // namespace

bool YamlTree::Parse(std::string_view text, const std::string& stream_key, const HeadFn& head,
                     const ElementFn& element, Reader reader) {
  const std::string& key = (head && element) ? stream_key : YamlNode::kEmpty;
  auto reset = [this] {
    recs_.clear();
    kids_.clear();
    root_ = YamlNode();
    keys_after_stream_ = false;
    json_text_ = {};
  };
  reset();
  bool has_root = false;
  {
    TreeBuilder b(this, key, head, element);
    // libfyaml reads UTF-8 text: it stops without a word at a byte that is not (a NUL, an invalid
    // sequence), so such text goes to yaml-cpp, which reads it whole (and the loader says where).
    FyOutcome fy = reader == Reader::kFast && ValidUtf8(text) && text.find('\0') == std::string_view::npos
                       ? ParseFy(text, &b)
                       : FyOutcome::kRefused;
    if (fy == FyOutcome::kStopped) return false;
    has_root = b.has_root();
    // Malformed as libfyaml reads it: yaml-cpp reads it again for its message and mark (or, where it
    // accepts the text, its tree). Callbacks already called cannot be called twice: a stop then, and the
    // caller loads from the whole tree.
    if (fy == FyOutcome::kRefused) {
      if (b.called()) return false;
      reset();
      ViewBuf buf(text);
      std::istream in(&buf);
      YAML::Parser parser(in);
      TreeBuilder cb(this, key, head, element);
      CppFront front(&cb);
      try {
        parser.HandleNextDocument(front);
      } catch (const StopParse&) {
        return false;
      }
      has_root = cb.has_root();
    }
  }
  if (!has_root) {
    // As YAML::Load: an empty document is a null node without a position.
    recs_.emplace_back();
    root_ = YamlNode(this, static_cast<uint32_t>(recs_.size() - 1));
  }
  return true;
}

}  // namespace allot::sim
