// YamlTree::ParseJson: the scenario tree from JSON text with simdjson's on-demand API (error codes, no
// exceptions), for the loader to read exactly as it reads a tree that yaml-cpp's events built: the same
// node types (a JSON string, number or boolean is a scalar holding its text, as YAML reads it; null is a
// null node), the same pair order, the same streaming of the `events` elements. Records hold byte
// offsets only; YamlNode::Mark() turns one into line and column when an error or an event asks.
#include <simdjson.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/yaml_tree.h"

namespace allot::sim {

namespace od = simdjson::ondemand;

class JsonBuilder {
 public:
  JsonBuilder(YamlTree* tree, std::string_view text, const std::string& stream_key,
              const YamlTree::HeadFn& head, const YamlTree::ElementFn& element)
      : t_(tree),
        base_(text.data()),
        end_(text.data() + text.size()),
        stream_key_(stream_key),
        head_(head),
        element_(element) {}

  // Builds the tree of `doc`, whose root must be an object. SUCCESS, or an error code; stopped() when a
  // callback said no (the tree is then incomplete).
  simdjson::error_code Root(od::document& doc) {
    od::object root;
    if (auto e = doc.get_object().get(root)) return e;
    uint32_t rec = New(root_pos_, YAML::NodeType::Map, {});
    if (auto e = Object(root, rec, /*top=*/true)) return e;
    if (stopped_) return simdjson::SUCCESS;
    t_->root_ = YamlNode(t_, rec);
    // Past the root's end the location is out of bounds; anything there is trailing content.
    return doc.current_location().error() == simdjson::SUCCESS ? simdjson::TRAILING_CONTENT
                                                               : simdjson::SUCCESS;
  }

  bool stopped() const { return stopped_; }
  void set_root_pos(size_t pos) { root_pos_ = static_cast<int32_t>(pos); }

 private:
  int32_t Pos(const char* p) const { return static_cast<int32_t>(p - base_); }

  // The string that starts at `raw` (past its opening quote) as written, when it has no escape; a null
  // view when it has one (the caller unescapes it through simdjson). Scenario strings are short: a loop
  // beats memchr.
  std::string_view RawUnescaped(const char* raw) const {
    const char* q = raw;
    while (q < end_ && *q != '"' && *q != '\\') q++;
    if (q < end_ && *q == '"') return std::string_view(raw, static_cast<size_t>(q - raw));
    return {};
  }

  uint32_t New(int32_t pos, YAML::NodeType::value type, std::string_view scalar) {
    auto& recs = t_->recs_;
    recs.emplace_back();
    YamlTree::Rec& r = recs.back();
    r.type = type;
    if (!scalar.empty()) r.scalar.assign(scalar.data(), scalar.size());
    r.pos = pos;
    return static_cast<uint32_t>(recs.size() - 1);
  }

  // Moves the children collected on the stack since `from` into the tree as `rec`'s kids.
  void Close(uint32_t rec, size_t from) {
    YamlTree::Rec& r = t_->recs_[rec];
    r.kids = static_cast<uint32_t>(t_->kids_.size());
    r.count = static_cast<uint32_t>(stack_.size() - from);
    t_->kids_.insert(t_->kids_.end(), stack_.begin() + static_cast<std::ptrdiff_t>(from), stack_.end());
    stack_.resize(from);
  }

  // Builds `v` and its subtree; its record in *out.
  simdjson::error_code Value(od::value v, uint32_t* out) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    int32_t pos = Pos(v.raw_json_token().data());
    switch (type) {
      case od::json_type::object: {
        od::object o;
        if (auto e = v.get_object().get(o)) return e;
        *out = New(pos, YAML::NodeType::Map, {});
        return Object(o, *out, false);
      }
      case od::json_type::array: {
        od::array a;
        if (auto e = v.get_array().get(a)) return e;
        *out = New(pos, YAML::NodeType::Sequence, {});
        return Array(a, *out, false);
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        *out = New(pos, YAML::NodeType::Scalar, s);
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        // The scalar is the number's text, as YAML reads it ("1.50" stays "1.50"); simdjson checks it.
        std::string_view tok = v.raw_json_token();
        while (!tok.empty() &&
               (tok.back() == ' ' || tok.back() == '\t' || tok.back() == '\n' || tok.back() == '\r'))
          tok.remove_suffix(1);
        double d = 0;
        if (auto e = v.get_double().get(d)) return e;
        *out = New(pos, YAML::NodeType::Scalar, tok);
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean: {
        bool b = false;
        if (auto e = v.get_bool().get(b)) return e;
        *out = New(pos, YAML::NodeType::Scalar, b ? "true" : "false");
        return simdjson::SUCCESS;
      }
      case od::json_type::null: {
        bool null = false;
        if (auto e = v.is_null().get(null)) return e;
        if (!null) return simdjson::INCORRECT_TYPE;
        *out = New(pos, YAML::NodeType::Null, {});
        return simdjson::SUCCESS;
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  simdjson::error_code Object(od::object o, uint32_t rec, bool top) {
    size_t from = stack_.size();
    for (auto field_result : o) {
      od::field f;
      if (auto e = std::move(field_result).get(f)) return e;
      int32_t key_pos = Pos(f.key().raw()) - 1;  // the opening quote, where yaml-cpp marks a quoted key
      // The key as written when it has no escape (no copy through simdjson's string buffer).
      std::string_view key = RawUnescaped(f.key().raw());
      if (key.data() == nullptr) {
        if (auto e = f.unescaped_key().get(key)) return e;
      }
      stack_.push_back(New(key_pos, YAML::NodeType::Scalar, key));
      if (top && after_stream_) t_->keys_after_stream_ = true;
      od::value v = f.value();
      if (top && !stream_seen_ && head_ && element_ && key == stream_key_) {
        od::json_type type;
        if (auto e = v.type().get(type)) return e;
        if (type == od::json_type::array) {
          stream_seen_ = true;
          if (auto e = Stream(v, rec, from)) return e;
          if (stopped_) return simdjson::SUCCESS;
          continue;
        }
      }
      uint32_t kid = 0;
      if (auto e = Value(v, &kid)) return e;
      stack_.push_back(kid);
    }
    Close(rec, from);
    return simdjson::SUCCESS;
  }

  simdjson::error_code Array(od::array a, uint32_t rec, bool stream) {
    size_t from = stack_.size();
    size_t index = 0;
    for (auto element_result : a) {
      od::value v;
      if (auto e = std::move(element_result).get(v)) return e;
      size_t recs = t_->recs_.size(), kids = t_->kids_.size();
      uint32_t kid = 0;
      if (auto e = Value(v, &kid)) return e;
      if (!stream) {
        stack_.push_back(kid);
        continue;
      }
      // A streamed element: hand it over, then forget it.
      if (!element_(YamlNode(t_, kid), index++)) {
        stopped_ = true;
        return simdjson::SUCCESS;
      }
      t_->recs_.resize(recs);
      t_->kids_.resize(kids);
    }
    Close(rec, from);
    return simdjson::SUCCESS;
  }

  // The streamed key's array: the head (the root's pairs before it) to head_, each element to element_.
  simdjson::error_code Stream(od::value v, uint32_t root, size_t root_from) {
    uint32_t head = New(t_->recs_[root].pos, YAML::NodeType::Map, {});
    t_->recs_[head].kids = static_cast<uint32_t>(t_->kids_.size());
    t_->recs_[head].count = static_cast<uint32_t>(stack_.size() - root_from - 1);
    t_->kids_.insert(t_->kids_.end(), stack_.begin() + static_cast<std::ptrdiff_t>(root_from),
                     stack_.end() - 1);
    if (!head_(YamlNode(t_, head))) {
      stopped_ = true;
      return simdjson::SUCCESS;
    }
    int32_t pos = Pos(v.raw_json_token().data());
    od::array a;
    if (auto e = v.get_array().get(a)) return e;
    uint32_t seq = New(pos, YAML::NodeType::Sequence, {});
    if (auto e = Array(a, seq, /*stream=*/true)) return e;
    if (stopped_) return simdjson::SUCCESS;
    stack_.push_back(seq);
    after_stream_ = true;
    return simdjson::SUCCESS;
  }

  YamlTree* t_;
  const char* base_;
  const char* end_;  // of the text
  const std::string& stream_key_;
  const YamlTree::HeadFn& head_;
  const YamlTree::ElementFn& element_;
  std::vector<uint32_t> stack_;  // children of the open containers, innermost last
  bool stream_seen_ = false, after_stream_ = false, stopped_ = false;
  int32_t root_pos_ = 0;
};

YamlTree::JsonStatus YamlTree::ParseJson(std::string_view text, size_t readable,
                                         const std::string& stream_key, const HeadFn& head,
                                         const ElementFn& element) {
  recs_.clear();
  kids_.clear();
  root_ = YamlNode();
  keys_after_stream_ = false;
  json_text_ = text;
  cursor_pos_ = cursor_line_ = cursor_line_start_ = 0;
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy unless the caller's buffer has them.
  simdjson::padded_string copy;
  simdjson::padded_string_view view;
  if (text.size() > static_cast<size_t>(INT32_MAX)) return JsonStatus::kNotJson;  // marks are 32-bit
  if (readable >= text.size() + simdjson::SIMDJSON_PADDING) {
    view = simdjson::padded_string_view(text.data(), text.size(), readable);
  } else {
    copy = simdjson::padded_string(text.data(), text.size());
    view = simdjson::padded_string_view(copy);
  }
  od::parser parser;
  od::document doc;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS) return JsonStatus::kNotJson;
  JsonBuilder b(this, std::string_view(view.data(), view.size()), stream_key, head, element);
  size_t lead = text.find_first_not_of(" \t\r\n");
  b.set_root_pos(lead == std::string_view::npos ? 0 : lead);
  simdjson::error_code e = b.Root(doc);
  if (b.stopped()) return JsonStatus::kStopped;
  if (e != simdjson::SUCCESS) return JsonStatus::kNotJson;
  return JsonStatus::kOk;
}

}  // namespace allot::sim
