// The `allot` binary: dispatches to the subcommands registered in src/cli/*.cc (see cli/command.h).
#include <iostream>
#include <string_view>

#include "allot/server.h"
#include "cli/command.h"

int main(int argc, char** argv) {
  // A server re-executes itself once, before any thread starts, with malloc on huge pages (allot/server.h).
  if (argc > 1 && std::string_view(argv[1]) == "serve") allot::ReexecWithHugePageMalloc(argv);
  std::ios::sync_with_stdio(false);
  return allot::cli::Main(argc, argv);
}
