// Helpers of the planner's table inputs (emit_hpa.cc, emit_patch.cc): markdown tables as the seed documents
// write them, YAML positions and values for `file:line: key` errors, and selecting workloads by a row's name.
// Thread-safety: pure functions.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "allot/plan.h"

namespace allot::plan::internal {

std::string Trim(const std::string& s);
std::string Lower(std::string s);
// The text of a scalar node, "" for anything else.
std::string Scalar(const YAML::Node& n);
// A YAML double-quoted scalar (JSON string syntax, which YAML reads as the same string).
std::string YamlQuote(const std::string& s);
// "Constitutional Trainer" -> "constitutional-trainer": how a table's service name becomes a workload name.
std::string Slug(const std::string& s);

struct MdRow {
  int line = 0;  // 1-based
  std::vector<std::string> cells;
};
struct MdTable {
  MdRow header;
  std::vector<MdRow> rows;
};

// The tables of a markdown text: a header row, a separator row (|---|), then rows; cells are trimmed and
// lose **bold** and `code` marks.
std::vector<MdTable> MarkdownTables(const std::string& text);
// The index of the first header cell (lower-cased) equal to one of `names`, or -1.
int Column(const MdTable& t, std::initializer_list<const char*> names);
// The cell of a row, "" where the row is short or col is -1.
std::string Cell(const MdRow& r, int col);
// A TOTAL / SUM row, not a service.
bool IsTotalRow(const std::string& name);

// "source:line" of a node.
std::string At(const std::string& source, const YAML::Node& n);
// Parses one YAML document and checks its text is UTF-8; errors name source:line.
Result<YAML::Node> LoadYaml(const std::string& text, const std::string& source);
// An integer in [lo, hi]; errors name source:line and `key`.
Result<int64_t> Integer(const YAML::Node& n, const std::string& source, const std::string& key, int64_t lo,
                        int64_t hi);

// Workloads a row's name selects: NAME, NAMESPACE/NAME or KIND/NAME (KIND starts upper-case), within `ns`
// when it is not empty.
std::vector<const Workload*> Select(const Plan& plan, const std::string& spec, const std::string& ns);
// "Kind/name in ns, ..." for messages.
std::string Names(const std::vector<const Workload*>& ws);

}  // namespace allot::plan::internal
