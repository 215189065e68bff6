// End to end over HTTPS: a real `allot serve --tls-cert ...` and the real CLI and agent, with certificates
// made by the openssl command for each test (tests/support/test_pki.h): the CLI with --ca-cert and
// ALLOT_CA_CERT, a clear error without the CA, client certificates acting as their mapped roles, plain
// HTTP at the TLS port, and a certificate swapped by SIGHUP.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "server_process.h"
#include "test_pki.h"

namespace allot::testing {
namespace {

using nlohmann::json;

class TlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok()) << ca_.error();
    server_ = ca_.Issue("server", "/CN=allot test server", true);
    agent_ = ca_.Issue("agent", "/O=example/CN=agent-1", false);
    viewer_ = ca_.Issue("viewer", "/CN=viewer", false);
    ASSERT_TRUE(ca_.ok()) << ca_.error();
    // The live files a SIGHUP re-reads.
    cert_ = dir_.path() + "/live.crt";
    key_ = dir_.path() + "/live.key";
    std::filesystem::copy_file(server_.cert, cert_);
    std::filesystem::copy_file(server_.key, key_);
    config_ = dir_.Write("c.yaml",
                         "auth:\n"
                         "  tokens:\n"
                         "    - {name: ops, role: admin, token: ops-secret}\n"
                         "  client_certs:\n"
                         "    - {cn: agent-1, role: agent}\n"
                         "    - {subject: CN=viewer, role: reader, name: dashboard}\n"
                         "tenants: [{path: org/a}]\n");
  }
  std::unique_ptr<ServerProcess> Start() {
    auto s = std::make_unique<ServerProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--config", config_, "--tls-cert", cert_, "--tls-key",
                                                        key_, "--tls-client-ca", ca_.cert(), "--no-fsync"});
    s->UseTls(ca_.cert());
    EXPECT_TRUE(s->Start()) << s->Log();
    return s;
  }
  TempDir dir_;
  TestCa ca_{dir_.path(), "test"};
  CertFiles server_, agent_, viewer_;
  std::string cert_, key_, config_;
};

TEST_F(TlsE2eTest, TheCliTalksHttpsWithTheCaAndSaysWhatToDoWithoutIt) {
  auto s = Start();
  auto add = RunAllot({"node", "add", "n1", "--cpu", "8", "--memory", "16Gi", "--server", s->url(), "--token",
                       "ops-secret", "--ca-cert", ca_.cert()});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  auto alloc = RunAllot({"alloc", "--tenant", "org/a", "--cpu", "1", "--server", s->url(), "--token",
                         "ops-secret", "--ca-cert", ca_.cert(), "--json"});
  EXPECT_EQ(alloc.exit_code, 0) << alloc.err;
  EXPECT_NE(alloc.out.find("\"placed\""), std::string::npos) << alloc.out;

  auto untrusted = RunAllot({"status", "--server", s->url(), "--token", "ops-secret"});
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE(untrusted.err.find("the server's certificate is not trusted"), std::string::npos)
      << untrusted.err;
  EXPECT_NE(untrusted.err.find("--ca-cert FILE (or ALLOT_CA_CERT)"), std::string::npos) << untrusted.err;

  setenv("ALLOT_CA_CERT", ca_.cert().c_str(), 1);
  auto from_env = RunAllot({"node", "list", "--server", s->url(), "--token", "ops-secret"});
  unsetenv("ALLOT_CA_CERT");
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_NE(from_env.out.find("n1"), std::string::npos) << from_env.out;

  // Plain HTTP at the TLS port: a clear answer, and the server goes on.
  std::string plain = "http://127.0.0.1:" + std::to_string(s->port());
  auto wrong_scheme = RunAllot({"node", "list", "--server", plain, "--token", "ops-secret"});
  EXPECT_NE(wrong_scheme.exit_code, 0);
  EXPECT_NE(wrong_scheme.err.find("this port speaks HTTPS (TLS): use an https:// URL"), std::string::npos)
      << wrong_scheme.err;
  Api api(s->url(), "ops-secret", {ca_.cert(), "", ""});
  EXPECT_EQ(api.Call("GET", "/v1/nodes").status, 200);
}

TEST_F(TlsE2eTest, ClientCertificatesActAsTheirMappedRoles) {
  auto s = Start();
  const std::string data = SourceDir() + "/tests/host/data";
  // The agent registers its node with only its certificate (role agent, no token).
  auto agent =
      RunAllot({"agent", "--once", "--quiet", "--server", s->url(), "--ca-cert", ca_.cert(), "--client-cert",
                agent_.cert, "--client-key", agent_.key, "--name", "edge-1", "--proc-root",
                data + "/idle/proc", "--gpus", data + "/gpus.json", "--disk", dir_.path()});
  EXPECT_EQ(agent.exit_code, 0) << agent.err;
  // The viewer certificate reads (matched by its subject) but may not write.
  Api viewer(s->url(), "", {ca_.cert(), viewer_.cert, viewer_.key});
  Reply nodes = viewer.Call("GET", "/v1/nodes");
  ASSERT_EQ(nodes.status, 200) << nodes.body;
  ASSERT_EQ(nodes.body["nodes"].size(), 1u) << nodes.body;
  EXPECT_EQ(nodes.body["nodes"][0]["name"], "edge-1");
  Reply write = viewer.Call("POST", "/v1/nodes", json{{"name", "n9"}, {"capacity", {{"cpu", "1"}}}});
  EXPECT_EQ(write.status, 403) << write.body;
  // The node's registration is audited under the agent certificate's principal.
  Api admin(s->url(), "ops-secret", {ca_.cert(), "", ""});
  Reply events = admin.Call("GET", "/v1/events?since=0");
  EXPECT_NE(events.body.dump().find("cert:agent-1"), std::string::npos) << events.body.dump().substr(0, 2000);
  // No certificate and no token: 401 as before.
  Api anonymous(s->url(), "", {ca_.cert(), "", ""});
  EXPECT_EQ(anonymous.Call("GET", "/v1/nodes").status, 401);
}

TEST_F(TlsE2eTest, SighupSwapsTheCertificateForNewConnections) {
  auto s = Start();
  TestCa next(dir_.path(), "next");
  CertFiles renewed = next.Issue("renewed", "/CN=allot test server", true);
  ASSERT_TRUE(next.ok()) << next.error();
  std::filesystem::copy_file(renewed.cert, cert_, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(renewed.key, key_, std::filesystem::copy_options::overwrite_existing);
  ASSERT_EQ(kill(s->pid(), SIGHUP), 0);
  // Polled: the reload runs on the server's own thread (a bound for a loaded machine, not a timing test).
  int status = 0;
  for (int i = 0; i < 200 && status != 200; i++) {
    auto c = net::HttpClient::Create(s->url(), 2000, {next.cert(), "", ""});
    auto r = c->Request("GET", "/healthz");
    status = r.ok() ? r->status : 0;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200) << s->Log();
  auto old = RunAllot({"status", "--server", s->url(), "--token", "ops-secret", "--ca-cert", ca_.cert()});
  EXPECT_NE(old.exit_code, 0);
  EXPECT_NE(s->Log().find("\"msg\":\"reloaded\""), std::string::npos) << s->Log();
}

}  // namespace
}  // namespace allot::testing
