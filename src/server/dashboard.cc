#include "server/dashboard.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "server/state.h"

namespace allot::server {
namespace {

namespace fs = std::filesystem;

// A dashboard is a few hundred KiB; these bound what a wrong dashboard.dir can make the server hold.
constexpr size_t kMaxFiles = 1000;
constexpr uintmax_t kMaxTotalBytes = 64u << 20;

constexpr const char* kNotBuilt = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>allot: the dashboard is not built</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46em;margin:3em auto;padding:0 1em;color:#222}
code,pre{background:#f3f3f3;padding:.1em .3em;border-radius:3px}pre{padding:.6em 1em}</style></head>
<body><h1>The allot dashboard is not built</h1>
<p>This server runs, and its API answers under <code>/v1</code>, but it found no built dashboard to serve here.
The dashboard is built from <code>web/</code> with Node.js and npm when allot is built:</p>
<pre>scripts/install-deps.sh build    # installs nodejs and npm (Debian) when there is no node
make build                       # runs npm ci and the bundler into build/dashboard/</pre>
<p>Then restart the server. Or point it at a built dashboard: <code>allot serve --dashboard-dir DIR</code>
(config <code>dashboard.dir</code>); without one it looks in <code>dashboard/</code> beside the
<code>allot</code> binary and in <code>share/allot/dashboard</code> of an installed one.</p>
</body></html>
)";

// The gzip (RFC 1952) form of `in`, or "" when it would not be smaller.
std::string Gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END || out.size() + 64 >= in.size()) return "";
  return out;
}

Result<std::string> ReadWhole(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return InvalidArgument("dashboard.dir: cannot read " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// True when the client takes gzip: "gzip" among Accept-Encoding's codings, not with q=0.
bool AcceptsGzip(const std::string& accept) {
  size_t i = 0;
  while (i < accept.size()) {
    size_t j = accept.find(',', i);
    if (j == std::string::npos) j = accept.size();
    std::string item = accept.substr(i, j - i);
    i = j + 1;
    std::string coding, params;
    size_t semi = item.find(';');
    coding = item.substr(0, semi);
    if (semi != std::string::npos) params = item.substr(semi + 1);
    auto trim = [](std::string& s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
    };
    trim(coding);
    trim(params);
    if (coding != "gzip" && coding != "x-gzip") continue;
    params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
    return !(params == "q=0" || params == "q=0.0" || params == "q=0.00" || params == "q=0.000");
  }
  return false;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

std::vector<std::string> DefaultDashboardDirs() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  fs::path bin = exe.parent_path();
  return {(bin / "dashboard").string(), (bin.parent_path() / "share" / "allot" / "dashboard").string()};
}

Result<Dashboard> Dashboard::Load(const DashboardOptions& options) {
  Dashboard d;
  d.enabled_ = options.enabled;
  if (!options.enabled) return d;
  std::error_code ec;
  if (options.dir.empty()) {
    for (const auto& candidate : DefaultDashboardDirs()) {
      if (fs::is_regular_file(fs::path(candidate) / "index.html", ec)) {
        d.dir_ = candidate;
        break;
      }
    }
    if (d.dir_.empty()) return d;  // not built: GET / says how to build it
  } else {
    d.dir_ = options.dir;
    if (!fs::is_regular_file(fs::path(d.dir_) / "index.html", ec)) {
      return InvalidArgument("dashboard.dir: " + d.dir_ +
                             " holds no index.html (build the dashboard with `make build`)");
    }
  }
  fs::path root(d.dir_);
  std::vector<fs::path> names = {"index.html"};
  if (fs::is_directory(root / "assets", ec) && !fs::is_symlink(root / "assets", ec)) {
    for (auto it = fs::recursive_directory_iterator(root / "assets", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      // Regular files only: a symlink (to a file or a folder) is neither read nor followed.
      if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
      names.push_back(fs::relative(it->path(), root, ec));
      if (names.size() > kMaxFiles)
        return InvalidArgument("dashboard.dir: " + d.dir_ + " holds more than 1000 files");
    }
  }
  uintmax_t total = 0;
  for (const auto& rel : names) {
    auto body = ReadWhole(root / rel);
    if (!body.ok()) return body.error();
    total += body->size();
    if (total > kMaxTotalBytes)
      return InvalidArgument("dashboard.dir: " + d.dir_ + " holds more than 64 MiB");
    File f;
    f.content_type = ContentTypeFor(rel.string());
    f.gzip = Gzip(*body);
    f.body = std::move(*body);
    d.files_.emplace(rel.generic_string(), std::move(f));
  }
  return d;
}

bool Dashboard::Serves(const net::HttpRequest& req) const {
  if (!enabled_ || req.method != "GET") return false;
  const std::string& p = req.path;
  return p == "/" || p == "/index.html" || p.rfind("/assets/", 0) == 0;
}

net::HttpResponse Dashboard::Answer(const net::HttpRequest& req) const {
  net::HttpResponse resp;
  resp.headers.emplace_back("X-Content-Type-Options", "nosniff");
  bool index = req.path == "/" || req.path == "/index.html";
  if (index && files_.empty()) {
    resp.content_type = "text/html; charset=utf-8";
    resp.headers.emplace_back("Cache-Control", "no-cache");
    resp.body = kNotBuilt;
    return resp;
  }
  auto it = files_.end();
  if (index) {
    it = files_.find("index.html");
  } else {
    std::string_view name = std::string_view(req.path).substr(1);  // "assets/..."
    it = files_.find(name);
  }
  if (it == files_.end()) return ErrorResponse({404, "not_found", "no such dashboard file: " + req.path, ""});
  const File& f = it->second;
  resp.content_type = f.content_type;
  if (index) {
    // The page names the assets it loads by their content hashes: always asked for again, so that a new
    // build is seen; it loads scripts and styles from this server only.
    resp.headers.emplace_back("Cache-Control", "no-cache");
    resp.headers.emplace_back("Content-Security-Policy",
                              "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                              "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'");
    resp.headers.emplace_back("Referrer-Policy", "no-referrer");
  } else {
    resp.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  }
  if (!f.gzip.empty()) {
    resp.headers.emplace_back("Vary", "Accept-Encoding");
    if (AcceptsGzip(req.Header("accept-encoding"))) {
      resp.headers.emplace_back("Content-Encoding", "gzip");
      resp.body = f.gzip;
      return resp;
    }
  }
  resp.body = f.body;
  return resp;
}

}  // namespace allot::server
