// sd_notify readiness of a real `allot serve` (the Type=notify unit): READY=1 once it listens, STOPPING=1
// when SIGTERM has drained it; nothing is sent when NOTIFY_SOCKET is unset.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "server_process.h"

namespace allot::testing {
namespace {

// A datagram socket bound at `path`, as systemd's notify socket is.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool ok() const { return ok_; }
  // The next datagram within `timeout_ms`, or "" if none came.
  std::string Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST(SdNotify, ReadyOnceListeningAndStoppingAfterTheDrain) {
  TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  ASSERT_TRUE(sock.ok()) << std::strerror(errno);
  setenv("NOTIFY_SOCKET", (dir.path() + "/notify").c_str(), 1);
  ServerProcess server(dir.path() + "/data", {"--dev"});
  bool started = server.Start();
  unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(started) << server.Log();
  std::string ready = sock.Receive(10000);
  EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready;
  EXPECT_NE(ready.find("STATUS=serving on 127.0.0.1:" + std::to_string(server.port())), std::string::npos) << ready;
  // It answers by the time it said it is ready.
  EXPECT_EQ(Api(server.url()).Call("GET", "/healthz").status, 200);
  server.Kill(SIGTERM);
  EXPECT_EQ(sock.Receive(10000), "STOPPING=1");
}

TEST(SdNotify, NothingWithoutNotifySocket) {
  TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  ASSERT_TRUE(sock.ok());
  unsetenv("NOTIFY_SOCKET");
  ServerProcess server(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(server.Start()) << server.Log();
  EXPECT_EQ(sock.Receive(300), "");
}

}  // namespace
}  // namespace allot::testing
