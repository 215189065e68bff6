// The server's one route table: method + path pattern -> handler, with path parameters.
//
// A pattern is a path of literal segments and parameters: "/v1/nodes/{name}/heartbeat". "{name}" matches
// exactly one segment; "{key+}" matches one or more segments (keys such as "llm/openai" contain '/'), and
// may be followed by literal segments ("/v1/breakers/{key+}/report"). Routes are tried in the order they
// were added and the first match wins, so a more specific route is added before a more general one.
// Find tells a path no route has (404) from a method the path does not take (405).
// Thread-safety: Add before serving; Find from any thread afterwards.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace allot::server {

// Path parameters of a matched route, by name (percent-decoded, as the path was).
class PathParams {
 public:
  // The parameter's value, or "" when the route has no such parameter.
  const std::string& operator[](std::string_view name) const;
  void Set(std::string name, std::string value);
  void Clear() { values_.clear(); }
  const std::vector<std::pair<std::string, std::string>>& values() const { return values_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

template <typename Handler>
class Router {
 public:
  enum class Outcome { kFound, kNotFound, kMethodNotAllowed };
  struct Route {
    std::string method, pattern;
    Handler handler;
    std::vector<std::string> segments;  // pattern split at '/'
  };

  void Add(std::string method, std::string pattern, Handler handler) {
    Route r{std::move(method), std::move(pattern), std::move(handler), {}};
    r.segments = SplitPath(r.pattern);
    routes_.push_back(std::move(r));
  }

  // The route for `method` and `path` (its parameters in `params`), or nullptr with the outcome.
  const Route* Find(std::string_view method, std::string_view path, PathParams* params, Outcome* outcome) const {
    std::vector<std::string> segs = SplitPath(path);
    bool path_known = false;
    for (const auto& r : routes_) {
      params->Clear();
      if (!Match(r.segments, 0, segs, 0, params)) continue;
      path_known = true;
      if (r.method == method) {
        *outcome = Outcome::kFound;
        return &r;
      }
    }
    params->Clear();
    *outcome = path_known ? Outcome::kMethodNotAllowed : Outcome::kNotFound;
    return nullptr;
  }

  const std::vector<Route>& routes() const { return routes_; }

  // "/a//b/" -> {"a", "b"}.
  static std::vector<std::string> SplitPath(std::string_view path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string_view::npos) j = path.size();
      if (j > i) out.emplace_back(path.substr(i, j - i));
      i = j + 1;
    }
    return out;
  }

 private:
  static bool Match(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& segs, size_t si,
                    PathParams* params) {
    if (pi == pat.size()) return si == segs.size();
    const std::string& p = pat[pi];
    bool param = p.size() > 2 && p.front() == '{' && p.back() == '}';
    if (!param) return si < segs.size() && segs[si] == p && Match(pat, pi + 1, segs, si + 1, params);
    bool many = p[p.size() - 2] == '+';
    std::string name = p.substr(1, p.size() - (many ? 3 : 2));
    if (!many) {
      if (si >= segs.size()) return false;
      params->Set(name, segs[si]);
      return Match(pat, pi + 1, segs, si + 1, params);
    }
    // One or more segments, as many as leave the rest of the pattern a match (the longest first).
    size_t rest = pat.size() - pi - 1;
    for (size_t end = segs.size() >= rest ? segs.size() - rest : 0; end > si; end--) {
      std::string v;
      for (size_t k = si; k < end; k++) v += (k > si ? "/" : "") + segs[k];
      params->Set(name, std::move(v));
      if (Match(pat, pi + 1, segs, end, params)) return true;
    }
    return false;
  }

  std::vector<Route> routes_;
};

}  // namespace allot::server
