// Helpers of the planner's table inputs: markdown tables, YAML positions and values, workload selection.
#include "plan/tables.h"

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "allot/utf8.h"
#include "allot/yaml_utf8.h"

namespace allot::plan::internal {

std::string YamlQuote(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string Scalar(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : ""; }

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "Constitutional Trainer" -> "constitutional-trainer": how a table's service name becomes a workload name.
std::string Slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '.') {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

namespace {

std::vector<std::string> SplitCells(const std::string& line) {
  std::string t = Trim(line);
  if (!t.empty() && t.front() == '|') t.erase(0, 1);
  if (!t.empty() && t.back() == '|') t.pop_back();
  std::vector<std::string> cells;
  std::string cur;
  for (size_t i = 0; i < t.size(); i++) {
    if (t[i] == '\\' && i + 1 < t.size() && t[i + 1] == '|') {
      cur += '|';
      i++;
    } else if (t[i] == '|') {
      cells.push_back(cur);
      cur.clear();
    } else {
      cur += t[i];
    }
  }
  cells.push_back(cur);
  for (auto& c : cells) {
    c = Trim(c);
    // **bold** and `code` marks are formatting, not content.
    std::string plain;
    for (size_t i = 0; i < c.size(); i++) {
      if (c[i] == '`' || (c[i] == '*' && i + 1 < c.size() && c[i + 1] == '*')) {
        if (c[i] == '*') i++;
        continue;
      }
      plain += c[i];
    }
    c = Trim(plain);
  }
  return cells;
}

bool IsSeparator(const std::vector<std::string>& cells) {
  for (const auto& c : cells) {
    if (c.empty() || c.find_first_not_of("-: ") != std::string::npos) return false;
  }
  return !cells.empty();
}

}  // namespace

std::vector<MdTable> MarkdownTables(const std::string& text) {
  std::vector<MdTable> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  std::vector<MdRow> block;
  auto flush = [&] {
    if (block.size() >= 2 && IsSeparator(block[1].cells)) {
      MdTable t;
      t.header = block[0];
      for (size_t i = 2; i < block.size(); i++) t.rows.push_back(block[i]);
      out.push_back(std::move(t));
    }
    block.clear();
  };
  while (std::getline(in, line)) {
    n++;
    std::string t = Trim(line);
    if (!t.empty() && t.front() == '|') {
      block.push_back({n, SplitCells(t)});
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// The index of the first header cell (lower-cased) equal to one of `names`, or -1.
int Column(const MdTable& t, std::initializer_list<const char*> names) {
  for (size_t i = 0; i < t.header.cells.size(); i++) {
    std::string h = Lower(t.header.cells[i]);
    for (const char* name : names) {
      if (h == name) return static_cast<int>(i);
    }
  }
  return -1;
}

std::string Cell(const MdRow& r, int col) {
  return col >= 0 && col < static_cast<int>(r.cells.size()) ? r.cells[col] : "";
}

bool IsTotalRow(const std::string& name) {
  std::string l = Lower(name);
  return l == "total" || l == "totals" || l == "sum";
}

std::string At(const std::string& source, const YAML::Node& n) {
  return source + ":" + std::to_string(n.Mark().line >= 0 ? n.Mark().line + 1 : 0);
}

Result<YAML::Node> LoadYaml(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  if (auto bad = FindInvalidUtf8(root, text.size())) {
    return InvalidArgument(At(source, bad->node) + ": " + (bad->path.empty() ? "" : bad->path + ": ") +
                           bad->message);
  }
  return root;
}

Result<int64_t> Integer(const YAML::Node& n, const std::string& source, const std::string& key, int64_t lo,
                        int64_t hi) {
  const std::string t = n.IsScalar() ? n.Scalar() : "";
  char* end = nullptr;
  long long v = t.empty() ? 0 : std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || v < lo || v > hi) {
    return InvalidArgument(At(source, n) + ": " + key + ": \"" + QuoteForError(t) +
                           "\" is not an integer in " + std::to_string(lo) + "-" + std::to_string(hi));
  }
  return static_cast<int64_t>(v);
}

std::vector<const Workload*> Select(const Plan& plan, const std::string& spec, const std::string& ns) {
  std::string kind, name = spec, want_ns = ns;
  if (size_t slash = spec.find('/'); slash != std::string::npos) {
    std::string head = spec.substr(0, slash);
    name = spec.substr(slash + 1);
    if (!head.empty() && std::isupper(static_cast<unsigned char>(head[0]))) {
      kind = head;
    } else {
      want_ns = head;
    }
  }
  std::vector<const Workload*> out;
  for (const auto& w : plan.workloads) {
    if (w.name != name) continue;
    if (!kind.empty() && Lower(w.kind) != Lower(kind)) continue;
    if (!want_ns.empty() && w.ns != want_ns) continue;
    out.push_back(&w);
  }
  return out;
}

std::string Names(const std::vector<const Workload*>& ws) {
  std::string s;
  for (const auto* w : ws) s += (s.empty() ? "" : ", ") + w->kind + "/" + w->name + " in " + w->ns;
  return s;
}

}  // namespace allot::plan::internal
