// Starting the guarded command of `allot guard run`, optionally inside its own cgroup v2 with the
// requested memory.max / cpu.max.
// Thread-safety: RunGuarded forks and waits; call it from one thread (it installs SIGINT/SIGTERM handlers
// that forward the signal to the child while it runs).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "allot/host.h"

namespace allot::host {

struct RunOptions {
  bool cgroup = false;    // try to create a cgroup for the command
  int64_t memory_max = 0;  // bytes for memory.max (0: no limit written)
  int64_t cpu_milli = 0;   // millicores for cpu.max (0: no limit written)
  ProbeRoots roots;        // where the cgroup2 mount (sys/fs/cgroup) and /proc/self/cgroup are
  std::ostream* err = nullptr;  // notes ("running in cgroup ...", "cgroup v2 not writable ...")
};

// Runs argv[0] (looked up in PATH) with its arguments and returns its exit status: the command's own
// code, 128 + N when signal N ended it, 127 when it could not be started.
int RunGuarded(const std::vector<std::string>& argv, const RunOptions& options);

}  // namespace allot::host
