// YamlLoadAll: YAML::LoadAll without its endless loop. yaml-cpp 0.7 (Debian 12's) never returns from
// LoadAll on a stream with a token no document can start with (a lone ",": upstream issue #1040, fixed
// after 0.8): each pass yields a null document without consuming the token, and memory grows until the
// process is killed. The fuzzers found it in `allot plan` and `allot autoscale` input (docs/fuzzing.md).
//
// YamlLoadAll first walks the stream's parse events without building anything; a document that starts
// where the one before it started is the stuck parser, reported as YAML::ParserException at that mark
// (so callers keep their `catch (const YAML::Exception&)`). Only then does it call YAML::LoadAll.
// Header-only, like yaml_utf8.h, so that the core library need not link yaml-cpp.
// Thread-safety: pure function.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <string>
#include <vector>

namespace allot {

namespace yaml_load_internal {

// Records where each document starts; builds nothing.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck_ = started_ && mark.pos == last_.pos;
    started_ = true;
    last_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}

  bool stuck() const { return stuck_; }
  const YAML::Mark& last() const { return last_; }

 private:
  bool started_ = false, stuck_ = false;
  YAML::Mark last_ = YAML::Mark::null_mark();
};

}  // namespace yaml_load_internal

// The documents of `text`, as YAML::LoadAll; throws YAML::Exception (ParserException with the mark of
// the offending token) where LoadAll would throw or never return.
inline std::vector<YAML::Node> YamlLoadAll(const std::string& text) {
  {
    std::istringstream in(text);
    YAML::Parser parser(in);
    yaml_load_internal::DocumentStarts starts;
    while (parser.HandleNextDocument(starts)) {
      if (starts.stuck())
        throw YAML::ParserException(starts.last(), "unexpected token where a document should start");
    }
  }
  return YAML::LoadAll(text);
}

}  // namespace allot
