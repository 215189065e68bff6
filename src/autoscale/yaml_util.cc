#include "autoscale/yaml_util.h"

#include <charconv>
#include <sstream>

#include "allot/quantity.h"
#include "allot/utf8.h"

namespace allot::autoscale::internal {

std::string Where(std::string_view source, const YAML::Node& node, const std::string& path) {
  std::ostringstream out;
  out << source;
  if (node.IsDefined() && node.Mark().line >= 0) out << ':' << node.Mark().line + 1;
  out << ": ";
  if (!path.empty()) out << path << ": ";
  return out.str();
}

Result<int64_t> GetInt(const YAML::Node& node, const std::string& path, std::string_view source) {
  if (!node.IsDefined() || node.IsNull()) return InvalidArgument(Where(source, node, path) + "is required");
  if (!node.IsScalar()) return InvalidArgument(Where(source, node, path) + "must be an integer");
  const std::string& s = node.Scalar();
  int64_t v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') b++;
  auto [ptr, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || ptr != e) return InvalidArgument(Where(source, node, path) + "must be an integer, got \"" + QuoteForError(s) + "\"");
  return v;
}

Result<int64_t> GetMilli(const YAML::Node& node, const std::string& path, std::string_view source) {
  if (!node.IsDefined() || node.IsNull()) return InvalidArgument(Where(source, node, path) + "is required");
  if (!node.IsScalar()) return InvalidArgument(Where(source, node, path) + "must be a quantity");
  auto q = ParseQuantity(node.Scalar());
  if (!q.ok()) return InvalidArgument(Where(source, node, path) + q.error().message);
  return q->Milli();
}

Result<bool> GetBool(const YAML::Node& node, const std::string& path, std::string_view source) {
  if (!node.IsDefined() || node.IsNull()) return InvalidArgument(Where(source, node, path) + "is required");
  const std::string& s = node.IsScalar() ? node.Scalar() : std::string();
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
  return InvalidArgument(Where(source, node, path) + "must be true or false");
}

Result<std::string> GetString(const YAML::Node& node, const std::string& path, std::string_view source) {
  if (!node.IsDefined() || node.IsNull()) return InvalidArgument(Where(source, node, path) + "is required");
  if (!node.IsScalar()) return InvalidArgument(Where(source, node, path) + "must be a string");
  return node.Scalar();
}

std::string CsvUtf8Problem(std::string_view line, const std::vector<std::string>& header) {
  size_t bad = InvalidUtf8Offset(line);
  if (bad == std::string_view::npos) return "";
  size_t column = 0, start = 0;
  for (size_t i = 0; i < bad; i++) {
    if (line[i] == ',') {
      column++;
      start = i + 1;
    }
  }
  std::string name = header.empty() ? "header" : column < header.size() ? "column " + header[column]
                                                                         : "column " + std::to_string(column + 1);
  return name + ": invalid UTF-8 at byte " + std::to_string(bad - start);
}

}  // namespace allot::autoscale::internal
