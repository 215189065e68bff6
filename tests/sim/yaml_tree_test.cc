// The scenario tree read by libfyaml (the fast path) equals the one yaml-cpp's events build: node types,
// scalars, structure and marks, over the repository's scenarios and examples, the shared data's YAML and
// hand-written corners (anchors, quoting, block scalars, empty values, flow style, comments, CRLF). Text
// libfyaml cannot read goes to yaml-cpp, so malformed input keeps yaml-cpp's messages.
#include "sim/yaml_tree.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support.h"

namespace allot::sim {
namespace {

std::string Describe(const YamlNode& n) {
  auto m = n.Mark();
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// Compares two trees node by node; the first difference as text, or "" when equal.
std::string Diff(const YamlNode& a, const YamlNode& b, const std::string& path) {
  if (a.Type() != b.Type())
    return path + ": type " + std::to_string(a.Type()) + " vs " + std::to_string(b.Type());
  if (a.Scalar() != b.Scalar()) return path + ": scalar \"" + a.Scalar() + "\" vs \"" + b.Scalar() + "\"";
  // An empty value has no text of its own to mark; the others are marked where yaml-cpp marks them.
  if (!a.IsNull() && (a.Mark().line != b.Mark().line || a.Mark().column != b.Mark().column)) {
    return path + ": mark " + Describe(a) + " vs " + Describe(b);
  }
  if (a.size() != b.size())
    return path + ": size " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
  if (a.IsSequence()) {
    for (size_t i = 0; i < a.size(); i++) {
      if (auto d = Diff(a[i], b[i], path + "[" + std::to_string(i) + "]"); !d.empty()) return d;
    }
  } else if (a.IsMap()) {
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end(); ++ia, ++ib) {
      if (auto d = Diff(ia->first, ib->first, path + ".<key>"); !d.empty()) return d;
      if (auto d = Diff(ia->second, ib->second, path + "." + ia->first.Scalar()); !d.empty()) return d;
    }
  }
  return "";
}

std::string Compare(const std::string& text) {
  YamlTree fast, cpp;
  fast.Parse(text, "", nullptr, nullptr, YamlTree::Reader::kFast);
  cpp.Parse(text, "", nullptr, nullptr, YamlTree::Reader::kYamlCpp);
  return Diff(fast.root(), cpp.root(), "$");
}

std::string Read(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(YamlTree, FastReaderBuildsTheTreeYamlCppBuildsForEveryRepositoryYaml) {
  size_t files = 0;
  std::vector<std::filesystem::path> dirs = {testing::SourceDir() + "/tests/scenarios",
                                             testing::SourceDir() + "/examples"};
  if (std::filesystem::is_directory(testing::SharedDir() + "/data"))
    dirs.push_back(testing::SharedDir() + "/data");
  for (const auto& dir : dirs) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      auto ext = e.path().extension();
      if (!e.is_regular_file() || (ext != ".yaml" && ext != ".yml")) continue;
      std::string text = Read(e.path());
      // Multi-document files: both read the first document only.
      try {
        EXPECT_EQ(Compare(text), "") << e.path();
      } catch (const YAML::Exception& x) {
        ADD_FAILURE() << e.path() << ": " << x.what();
      }
      files++;
    }
  }
  EXPECT_GT(files, 20u);
}

TEST(YamlTree, FastReaderMatchesYamlCppOnCorners) {
  const char* cases[] = {
      "a: 1\nb: [x, 'y', \"z\", {k: v}]\n",
      "a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: ''\ng: \"\"\nh: !!str null\n",
      "list:\n  -\n  - x\n  - - nested\n    - more\n",
      "base: &b {cpu: \"1\", memory: 2Gi}\nuse: *b\nagain: &b [1]\nlast: *b\n",
      "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\nkeep: |+\n  x\n\nstrip: |-\n  y\n",
      "# comment\na: 1 # trailing\n---\nb: 2\n",
      "\"a|b\": &x !!str | # a comment > with | signs\n\n  x\nnext: 1\n",
      "seq:\n- >2\n   indented\n- |\n\n\n  after blank lines\n",
      "a: 1\r\nb:\r\n  - 2\r\n",
      "\xef\xbb\xbf"
      "a: bom\n",
      "quoted: 'it''s'\ndouble: \"tab\\there \\u00e9\"\nplain: multi\n  line\n",
      "? complex\n: value\n",
      "{a: 1, b: [2, 3]}\n",
      "- a\n- b: c\n  d: e\n",
      "",
      "just a scalar\n",
      "dup: 1\ndup: 2\n",
      "nodes:\n  - {name: n1, capacity: {cpu: \"4\"}, labels: {zone: \"caf\xc3\xa9\"}}\nevents: []\n",
  };
  for (const char* c : cases) EXPECT_EQ(Compare(c), "") << c;
}

TEST(YamlTree, TextLibfyamlRefusesGetsYamlCppsMessage) {
  // Malformed, and not UTF-8 (libfyaml would stop silently at the bad byte): yaml-cpp's word in both.
  for (std::string text :
       {std::string("a: [1, 2\n"), std::string("a: 1\n b: 2\n"), std::string("a: *nope\n")}) {
    std::string fast, cpp;
    try {
      YamlTree t;
      t.Parse(text);
    } catch (const YAML::Exception& e) {
      fast = e.what();
    }
    try {
      YamlTree t;
      t.Parse(text, "", nullptr, nullptr, YamlTree::Reader::kYamlCpp);
    } catch (const YAML::Exception& e) {
      cpp = e.what();
    }
    EXPECT_FALSE(fast.empty()) << text;
    EXPECT_EQ(fast, cpp) << text;
  }
  std::string bad = "a: 1\n\xff: 2\nc: 3\n";
  YamlTree t;
  ASSERT_TRUE(t.Parse(bad));
  EXPECT_EQ(t.root().size(), 3u) << "every key is read, the one that is not UTF-8 too";
}

TEST(YamlTree, StreamingThroughTheFastReaderHandsEachEventOver) {
  std::string text = "nodes: [{name: n1}]\nevents:\n  - {at: 0}\n  - {at: 1}\n  - {at: 2}\n";
  YamlTree t;
  std::vector<std::string> seen;
  bool head_seen = false;
  ASSERT_TRUE(t.Parse(
      text, "events",
      [&](const YamlNode& head) {
        head_seen = head["nodes"].IsSequence();
        return true;
      },
      [&](const YamlNode& e, size_t i) {
        seen.push_back(std::to_string(i) + "@" + e["at"].Scalar() + "@" + std::to_string(e.Mark().line + 1));
        return true;
      }));
  EXPECT_TRUE(head_seen);
  EXPECT_EQ(seen, (std::vector<std::string>{"0@0@3", "1@1@4", "2@2@5"}));
}

}  // namespace
}  // namespace allot::sim
