// The dashboard's files at GET / and /assets/ (src/server/dashboard.h) and GET /v1/whoami: what is read
// from the folder, the headers, gzip, paths that try to leave the folder, and that the files need no token
// while the API still does. The dashboard in a browser is tested by tests/web.
#include "server/dashboard.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "allot/server.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

// A built dashboard as web/build.mjs writes it, plus things that must never be served: a symlink to
// /etc/passwd, a symlinked folder, a file beside the folder.
class DashboardDir {
 public:
  DashboardDir() {
    mkdir((dir_.path() + "/dash").c_str(), 0755);
    mkdir((dir_.path() + "/dash/assets").c_str(), 0755);
    mkdir((dir_.path() + "/dash/assets/fonts").c_str(), 0755);
    dir_.Write("dash/index.html", "<!doctype html><script type=module src=/assets/app-ABC123.js></script>");
    script_ = "console.log('allot');\n";
    for (int i = 0; i < 200; i++)
      script_ += "export const value" + std::to_string(i) + " = 'repeated text compresses';\n";
    dir_.Write("dash/assets/app-ABC123.js", script_);
    dir_.Write("dash/assets/app-DEF456.css", "body{color:#111}");
    dir_.Write("dash/assets/fonts/f-1.woff2", "wOF2");
    dir_.Write("secret.txt", "outside the dashboard");
    EXPECT_EQ(symlink("/etc/passwd", (dir_.path() + "/dash/assets/passwd").c_str()), 0);
    EXPECT_EQ(symlink("/etc", (dir_.path() + "/dash/assets/etc").c_str()), 0);
  }
  std::string path() const { return dir_.path() + "/dash"; }
  const std::string& script() const { return script_; }

 private:
  TempDir dir_;
  std::string script_;
};

net::HttpRequest Get(const std::string& path, const std::string& accept_encoding = "") {
  net::HttpRequest req;
  req.method = "GET";
  req.path = path;
  req.target = path;
  if (!accept_encoding.empty()) req.headers["accept-encoding"] = accept_encoding;
  return req;
}

std::string HeaderOf(const net::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

TEST(Dashboard, ServesIndexAndHashedAssetsWithTheirTypesAndCaching) {
  DashboardDir d;
  auto dash = server::Dashboard::Load({true, d.path()});
  ASSERT_TRUE(dash.ok()) << dash.error().message;
  EXPECT_TRUE(dash->built());
  for (const char* p : {"/", "/index.html"}) {
    auto r = dash->Answer(Get(p));
    EXPECT_EQ(r.status, 200) << p;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("app-ABC123.js"), std::string::npos);
    EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache");  // the page names the current build's assets
    EXPECT_NE(HeaderOf(r, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  }
  auto js = dash->Answer(Get("/assets/app-ABC123.js"));
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, d.script());
  EXPECT_EQ(HeaderOf(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(HeaderOf(js, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(dash->Answer(Get("/assets/app-DEF456.css")).content_type, "text/css; charset=utf-8");
  EXPECT_EQ(dash->Answer(Get("/assets/fonts/f-1.woff2")).content_type, "font/woff2");
  EXPECT_EQ(dash->Answer(Get("/assets/nope.js")).status, 404);
}

TEST(Dashboard, GzipOnlyWhenTheClientTakesItAndItIsSmaller) {
  DashboardDir d;
  auto dash = server::Dashboard::Load({true, d.path()});
  ASSERT_TRUE(dash.ok());
  auto plain = dash->Answer(Get("/assets/app-ABC123.js"));
  EXPECT_EQ(HeaderOf(plain, "Content-Encoding"), "");
  EXPECT_EQ(HeaderOf(plain, "Vary"), "Accept-Encoding");
  auto gz = dash->Answer(Get("/assets/app-ABC123.js", "br, gzip, deflate"));
  EXPECT_EQ(HeaderOf(gz, "Content-Encoding"), "gzip");
  EXPECT_LT(gz.body.size(), d.script().size() / 4);  // 200 near-identical lines
  EXPECT_EQ(Gunzip(gz.body), d.script());
  EXPECT_EQ(HeaderOf(dash->Answer(Get("/assets/app-ABC123.js", "gzip;q=0, identity")), "Content-Encoding"),
            "");
  // 16 bytes of CSS: gzip would be larger, so it is sent as it is.
  auto css = dash->Answer(Get("/assets/app-DEF456.css", "gzip"));
  EXPECT_EQ(HeaderOf(css, "Content-Encoding"), "");
  EXPECT_EQ(css.body, "body{color:#111}");
}

TEST(Dashboard, NoPathLeavesTheFolder) {
  DashboardDir d;
  auto dash = server::Dashboard::Load({true, d.path()});
  ASSERT_TRUE(dash.ok());
  // Paths as the HTTP parser hands them over (already percent-decoded): none names a file read at start.
  for (const char* p :
       {"/assets/../../etc/passwd", "/assets/../secret.txt", "/assets/passwd", "/assets/etc/passwd",
        "/assets/./app-ABC123.js", "/assets//app-ABC123.js", "/assets/", "/assets/fonts",
        "/assets/../index.html", "/assets/app-ABC123.js/", "/assets/\\..\\secret.txt"}) {
    auto r = dash->Answer(Get(p));
    EXPECT_EQ(r.status, 404) << p;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << p;
  }
}

TEST(Dashboard, NotBuiltPageSaysHowToBuildIt) {
  // No dir given and none beside this test binary: GET / says how to build the UI; assets are 404.
  auto dash = server::Dashboard::Load({true, ""});
  ASSERT_TRUE(dash.ok());
  ASSERT_FALSE(dash->built());
  auto r = dash->Answer(Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("make build"), std::string::npos);
  EXPECT_NE(r.body.find("npm"), std::string::npos);
  EXPECT_EQ(dash->Answer(Get("/assets/app.js")).status, 404);
}

TEST(Dashboard, AnExplicitFolderWithoutIndexIsAnError) {
  TempDir dir;
  auto dash = server::Dashboard::Load({true, dir.path()});
  ASSERT_FALSE(dash.ok());
  EXPECT_NE(dash.error().message.find("dashboard.dir: " + dir.path() + " holds no index.html"),
            std::string::npos);
}

TEST(Dashboard, DisabledServesNothing) {
  DashboardDir d;
  auto dash = server::Dashboard::Load({false, d.path()});
  ASSERT_TRUE(dash.ok());
  EXPECT_FALSE(dash->Serves(Get("/")));
  auto on = server::Dashboard::Load({true, d.path()});
  EXPECT_TRUE(on->Serves(Get("/")));
  EXPECT_TRUE(on->Serves(Get("/assets/x")));
  EXPECT_FALSE(on->Serves(Get("/v1/nodes")));
  EXPECT_FALSE(on->Serves(Get("/assetsx")));
  auto post = Get("/");
  post.method = "POST";
  EXPECT_FALSE(on->Serves(post));
}

TEST(Dashboard, ConfigKeysAndTheirErrors) {
  auto c = ParseServerConfig("dashboard: {enabled: false, dir: /srv/ui}\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->dashboard);
  EXPECT_EQ(c->dashboard_dir, "/srv/ui");
  auto bad = ParseServerConfig("dashboard: {path: /srv/ui}\n", "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("dashboard.path"), std::string::npos) << bad.error().message;
}

// A real server with tokens, its dashboard from a folder given by flag.
class DashboardServer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string cfg = dir_.Write("allot.yaml", R"(auth:
  tokens:
    - {name: ops, role: admin, token: admin-token-1}
    - {name: viewer, role: reader, token: reader-token-1}
    - {name: team-a, role: writer, tenant: org/a, token: writer-a-token}
    - {name: agent, role: agent, token: agent-token-1}
)");
    server_ = std::make_unique<ServerProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--config", cfg, "--dashboard-dir", dash_.path()});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  DashboardDir dash_;
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(DashboardServer, FilesNeedNoTokenTheApiStillDoes) {
  Api anon(server_->url());
  auto page = anon.Call("GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page.body.get<std::string>().find("app-ABC123.js"), std::string::npos);
  auto js = anon.Call("GET", "/assets/app-ABC123.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["cache-control"], "public, max-age=31536000, immutable");
  EXPECT_EQ(anon.Call("GET", "/v1/nodes").status, 401);
  EXPECT_EQ(anon.Call("GET", "/v1/whoami").status, 401);
  // Only GET: a POST to / is an API request like any other (no token: 401; admin: no such endpoint).
  EXPECT_EQ(anon.Call("POST", "/", std::string("{}")).status, 401);
  EXPECT_EQ(Api(server_->url(), "admin-token-1").Call("POST", "/", std::string("{}")).status, 404);
}

TEST_F(DashboardServer, TraversalThroughTheHttpParserIs404) {
  // Raw request targets, percent-escaped or not: the parser decodes them and the lookup finds nothing.
  for (const char* p : {"/assets/../../etc/passwd", "/assets/%2e%2e/%2e%2e/etc/passwd",
                        "/assets/..%2f..%2fetc%2fpasswd", "/assets/passwd", "/assets/etc/passwd",
                        "/assets/%2fetc%2fpasswd", "/assets/../secret.txt", "/assets//etc/passwd"}) {
    auto c = net::HttpClient::Create(server_->url(), 5000);
    ASSERT_TRUE(c.ok());
    auto r = c->Request("GET", p);
    ASSERT_TRUE(r.ok()) << p;
    EXPECT_TRUE(r->status == 404 || r->status == 400) << p << " " << r->status;
    EXPECT_EQ(r->body.find("root:"), std::string::npos) << p;
    EXPECT_EQ(r->body.find("outside the dashboard"), std::string::npos) << p;
  }
}

TEST_F(DashboardServer, WhoamiNamesTheTokensPrincipal) {
  auto admin = Api(server_->url(), "admin-token-1").Call("GET", "/v1/whoami");
  ASSERT_EQ(admin.status, 200);
  EXPECT_EQ(admin.body, (json{{"name", "ops"}, {"role", "admin"}, {"tenant", nullptr}, {"auth", true}}));
  auto reader = Api(server_->url(), "reader-token-1").Call("GET", "/v1/whoami");
  EXPECT_EQ(reader.body["role"], "reader");
  auto writer = Api(server_->url(), "writer-a-token").Call("GET", "/v1/whoami");
  EXPECT_EQ(writer.body["name"], "team-a");
  EXPECT_EQ(writer.body["role"], "writer");
  EXPECT_EQ(writer.body["tenant"], "org/a");
  EXPECT_EQ(Api(server_->url(), "agent-token-1").Call("GET", "/v1/whoami").body["role"], "agent");
  auto wrong = Api(server_->url(), "not-a-token").Call("GET", "/v1/whoami");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.body["error"]["message"].get<std::string>().find("the bearer token is wrong"),
            std::string::npos);
}

TEST(DashboardServe, DevWhoamiAndAMissingDashboardDir) {
  TempDir dir;
  ServerProcess dev(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(dev.Start()) << dev.Log();
  auto me = Api(dev.url()).Call("GET", "/v1/whoami");
  EXPECT_EQ(me.body, (json{{"name", "dev"}, {"role", "admin"}, {"tenant", nullptr}, {"auth", false}}));
  auto r = RunAllot({"serve", "--dev", "--listen", "127.0.0.1:" + std::to_string(FreePort()), "--data",
                     dir.path() + "/data2", "--dashboard-dir", dir.path() + "/none"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("dashboard.dir: " + dir.path() + "/none holds no index.html"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace allot::testing
