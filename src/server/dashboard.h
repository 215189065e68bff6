// The web dashboard's built files (web/, bundled by `make build` into build/dashboard/), served by
// `allot serve` itself at GET / (index.html) and GET /assets/NAME, without authentication: the page asks
// for a token and its API calls carry it (docs/http-api.md, "Dashboard").
//
// The files are read once, when the server starts, into memory, with a gzip copy of each where that is
// smaller. Only the files read then are ever answered, looked up by exact name, so no request path can
// reach another file: "..", percent-escapes, symlinks and directories under the folder are never followed.
// When no built dashboard is found, GET / answers a short page that says how to build one.
// Thread-safety: immutable after Load; Answer from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "allot/http.h"
#include "allot/result.h"

namespace allot::server {

struct DashboardOptions {
  bool enabled = true;  // false: GET / and /assets/ are unknown paths (404), as for any other
  std::string dir;      // "": the first of DefaultDashboardDirs() that holds an index.html
};

class Dashboard {
 public:
  // Reads dir/index.html and every regular file under dir/assets/. An explicit `dir` without an
  // index.html is an error naming it; with no `dir` and nothing found, the dashboard is "not built".
  static Result<Dashboard> Load(const DashboardOptions& options);

  // True for the requests it answers: GET of "/", "/index.html" or "/assets/...", when enabled.
  bool Serves(const net::HttpRequest& req) const;
  // The file (200), the "not built" page (200 at "/"), or 404 for an asset it does not have.
  net::HttpResponse Answer(const net::HttpRequest& req) const;

  bool built() const { return !files_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  struct File {
    std::string content_type;
    std::string body;
    std::string gzip;  // "" when compressing would not make it smaller
  };
  bool enabled_ = true;
  std::string dir_;
  std::map<std::string, File, std::less<>> files_;  // "index.html", "assets/app-HASH.js", ...
};

// Where the dashboard is looked for when dashboard.dir is not set, in order: `dashboard/` beside the running
// binary (the build tree: build/allot and build/dashboard), then `../share/allot/dashboard` from it (an
// installed binary: /usr/bin/allot and /usr/share/allot/dashboard).
std::vector<std::string> DefaultDashboardDirs();

// The Content-Type for a file name, by its extension (application/octet-stream when unknown).
std::string_view ContentTypeFor(std::string_view name);

}  // namespace allot::server
