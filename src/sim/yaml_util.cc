#include "sim/yaml_util.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "allot/duration.h"
#include "allot/engine.h"
#include "allot/utf8.h"

namespace allot::sim {

Error Doc::Err(const YamlNode& n, const KeyPath& key_path, const std::string& msg) const {
  std::string where = file_;
  if (n.IsDefined() && n.Mark().line >= 0) {
    where += ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
  }
  where.append(": ");
  std::string path = key_path.str();
  if (!path.empty()) where.append(path).append(": ");
  where.append(msg);
  return InvalidArgument(std::move(where));
}

Status Doc::CheckKeys(const YamlNode& n, const KeyPath& path,
                      std::initializer_list<std::string_view> allowed) const {
  if (!n.IsMap()) return Err(n, path, "expected a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string_view k = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed) list.append(list.empty() ? "" : ", ").append(a);
    return Err(it->first, path, "unknown key \"" + QuoteForError(k) + "\" (expected one of: " + list + ")");
  }
  return Status::Ok();
}

Result<std::string> Doc::Scalar(const YamlNode& n, const KeyPath& path) const {
  if (!n.IsScalar()) return Err(n, path, "expected a single value");
  return n.Scalar();
}

namespace {

constexpr double kMaxSeconds = 1e13;  // a time field's limit (about 317,000 years)

// The number a scalar spells, or nullopt: from_chars for the plain decimals scenarios hold, strtod for
// what it alone reads (a sign, hex).
std::optional<double> PlainNumber(const std::string& t) {
  double v = 0;
  if (auto [q, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      ec == std::errc() && q == t.data() + t.size()) {
    if (!std::isfinite(v)) return std::nullopt;
    return v;
  }
  char* end = nullptr;
  v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

Status Doc::ScalarTo(const YamlNode& n, const KeyPath& path, std::string* out) const {
  if (!n.IsScalar()) return Err(n, path, "expected a single value");
  *out = n.Scalar();
  return Status::Ok();
}

Result<double> Doc::Number(const YamlNode& n, const KeyPath& path) const {
  if (!n.IsScalar()) return Err(n, path, "expected a single value");
  const std::string& s = n.Scalar();
  auto v = PlainNumber(s);
  if (!v) return Err(n, path, "\"" + QuoteForError(s) + "\" is not a number");
  return *v;
}

Result<int64_t> Doc::Integer(const YamlNode& n, const KeyPath& path) const {
  if (!n.IsScalar()) return Err(n, path, "expected a single value");
  const std::string& s = n.Scalar();
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return Err(n, path, "\"" + QuoteForError(s) + "\" is not an integer");
  return v;
}

Result<bool> Doc::Bool(const YamlNode& n, const KeyPath& path) const {
  if (!n.IsScalar()) return Err(n, path, "expected a single value");
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  return Err(n, path, "\"" + QuoteForError(s) + "\" is not true or false");
}

Result<TimeMs> Doc::Seconds(const YamlNode& n, const KeyPath& path) const {
  if (!n.IsScalar()) return Err(n, path, "expected a single value");
  const std::string* s = &n.Scalar();
  if (auto v = PlainNumber(*s)) {
    if (*v < 0) return Err(n, path, "must not be negative");
    if (*v > kMaxSeconds) return Err(n, path, "is too large");
    return static_cast<TimeMs>(std::llround(*v * 1000.0));
  }
  // A duration with units ("1h30m"): the one parser's rules and messages (at most about 292 years).
  auto ns = ParseDurationNs(*s);
  if (!ns.ok()) return Err(n, path, ns.error().message + "; a plain number is seconds (30, 1.5)");
  return static_cast<TimeMs>((*ns + kNanosPerMs / 2) / kNanosPerMs);
}

}  // namespace allot::sim
