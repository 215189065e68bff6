// A child process on a pseudo-terminal, for tests of what allot does on a terminal (top's keys, progress
// lines): the child's stdin, stdout and stderr are the terminal's slave side; the test reads the master.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

extern char** environ;

namespace allot::testing {

// A child on a pseudo-terminal: stdin, stdout and stderr all the terminal's slave side.
struct PtyChild {
  int master = -1, slave = -1;
  pid_t pid = -1;
  std::string output;

  bool Start(const std::vector<std::string>& argv) {
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return false;
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    if (slave < 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    for (int fd : {0, 1, 2}) posix_spawn_file_actions_adddup2(&fa, slave, fd);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0;
  }
  // Reads what the child wrote until `what` shows up or `ms` pass.
  bool WaitFor(const std::string& what, int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (output.find(what) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{master, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) output.append(buf, static_cast<size_t>(n));
      }
    }
    return true;
  }
  // The exit status once the child ends within `ms` (draining its output meanwhile), else -1.
  int Wait(int ms) {
    for (int i = 0; i < ms / 20; i++) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      WaitFor("\x01never\x01", 20);
    }
    return -1;
  }
  ~PtyChild() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (slave >= 0) close(slave);
    if (master >= 0) close(master);
  }
};

}  // namespace allot::testing
