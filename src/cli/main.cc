// The `allot` binary: dispatches to the subcommands registered in src/cli/*.cc.
#include <algorithm>
#include <cstring>
#include <iostream>

#include "cli/command.h"

namespace {
void Usage(std::ostream& o) {
  o << "allot: resource allocation for fleets of agents and services\n\nusage: allot <command> [options]\n\n"
       "commands:\n";
  auto cmds = allot::cli::Commands();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return std::strcmp(a.name, b.name) < 0; });
  for (const auto& c : cmds) {
    std::string n = c.name;
    o << "  " << n << std::string(n.size() < 12 ? 12 - n.size() : 1, ' ') << c.summary << "\n";
  }
  o << "\nRun `allot <command> --help` for a command's options.\n";
}
}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (argc < 2) {
    Usage(std::cerr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    Usage(std::cout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    std::cout << "allot 0.1.0\n";
    return 0;
  }
  for (const auto& c : allot::cli::Commands()) {
    if (cmd == c.name) return c.run(allot::cli::Argv(argv + 2, argv + argc));
  }
  return allot::cli::Fail(cmd, "unknown command (run `allot --help` for the list)");
}
