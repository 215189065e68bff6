#include "test_pki.h"

#include <fstream>

#include "support.h"

namespace allot::testing {

namespace {
const char* kCurve = "ec_paramgen_curve:prime256v1";
}  // namespace

TestCa::TestCa(std::string dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {
  cert_ = dir_ + "/" + name_ + "-ca.crt";
  key_ = dir_ + "/" + name_ + "-ca.key";
  RunResult r = RunProgram({"openssl", "req",
                            "-x509",   "-newkey",
                            "ec",      "-pkeyopt",
                            kCurve,    "-nodes",
                            "-keyout", key_,
                            "-out",    cert_,
                            "-days",   "2",
                            "-subj",   "/CN=" + name_ + " test CA",
                            "-addext", "basicConstraints=critical,CA:TRUE",
                            "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  if (r.exit_code != 0) error_ = "openssl req (CA): " + r.err;
}

CertFiles TestCa::Issue(const std::string& file, const std::string& subject, bool server,
                        const std::string& san) {
  CertFiles out{dir_ + "/" + file + ".crt", dir_ + "/" + file + ".key"};
  std::string csr = dir_ + "/" + file + ".csr", ext = dir_ + "/" + file + ".ext";
  std::ofstream(ext) << (server ? "subjectAltName=" + san + "\nextendedKeyUsage=serverAuth\n"
                                : std::string("extendedKeyUsage=clientAuth\n"));
  RunResult r = RunProgram({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", kCurve, "-nodes",
                            "-keyout", out.key, "-out", csr, "-subj", subject});
  if (r.exit_code == 0) {
    r = RunProgram({"openssl", "x509", "-req", "-in", csr, "-CA", cert_, "-CAkey", key_, "-CAcreateserial",
                    "-out", out.cert, "-days", "2", "-extfile", ext});
  }
  if (r.exit_code != 0) {
    error_ = "openssl (" + file + "): " + r.err;
    return {};
  }
  return out;
}

}  // namespace allot::testing
