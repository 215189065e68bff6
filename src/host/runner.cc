#include "allot/host/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "allot/host/text.h"

namespace allot::host {
namespace {

volatile sig_atomic_t g_child = 0;

void Forward(int sig) {
  if (g_child > 0) kill(static_cast<pid_t>(g_child), sig);
}

bool WriteFile(const std::string& path, const std::string& value, std::string* why) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  if (!ok) *why = path + ": " + std::strerror(errno);
  close(fd);
  return ok;
}

// Creates the cgroup and writes its limits; returns its directory or "" with *why set.
std::string MakeCgroup(const RunOptions& o, std::string* why) {
  std::string mount = o.roots.sys + "/fs/cgroup";
  if (access((mount + "/cgroup.controllers").c_str(), F_OK) != 0) {
    *why = "no cgroup v2 hierarchy at " + mount;
    return "";
  }
  auto cg = ReadCgroupLimits(o.roots);
  std::string parent = mount + (cg.ok() && cg->path != "/" ? cg->path : "");
  std::string dir = parent + "/allot-guard-" + std::to_string(getpid());
  if (mkdir(dir.c_str(), 0755) != 0) {
    *why = "cannot create " + dir + ": " + std::strerror(errno);
    return "";
  }
  bool ok = true;
  if (o.memory_max > 0) ok = WriteFile(dir + "/memory.max", std::to_string(o.memory_max), why);
  if (ok && o.cpu_milli > 0) ok = WriteFile(dir + "/cpu.max", std::to_string(o.cpu_milli * 100) + " 100000", why);
  if (!ok) {
    *why += " (is the controller enabled in " + parent + "/cgroup.subtree_control?)";
    rmdir(dir.c_str());
    return "";
  }
  return dir;
}

}  // namespace

int RunGuarded(const std::vector<std::string>& argv, const RunOptions& o) {
  if (argv.empty()) return 127;
  std::string dir;
  if (o.cgroup) {
    std::string why;
    dir = MakeCgroup(o, &why);
    if (o.err != nullptr) {
      if (dir.empty()) *o.err << "allot: guard run: cgroup v2 not writable (" << why << "): running without cgroup limits\n";
      else *o.err << "allot: guard run: running in cgroup " << dir << "\n";
    }
  }
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::string procs = dir.empty() ? "" : dir + "/cgroup.procs";
  pid_t pid = fork();
  if (pid < 0) {
    if (o.err != nullptr) *o.err << "allot: guard run: fork: " << std::strerror(errno) << "\n";
    if (!dir.empty()) rmdir(dir.c_str());
    return 127;
  }
  if (pid == 0) {
    if (!procs.empty()) {
      int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) {
        const char msg[] = "allot: guard run: could not join the cgroup: running without limits\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
        }
      }
      if (fd >= 0) close(fd);
    }
    execvp(cargv[0], cargv.data());
    std::string msg = "allot: guard run: " + argv[0] + ": " + std::strerror(errno) + "\n";
    if (write(2, msg.data(), msg.size()) < 0) {
    }
    _exit(127);
  }
  g_child = pid;
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = Forward;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g_child = 0;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (!dir.empty()) rmdir(dir.c_str());
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace allot::host
