// The `allot` binary: dispatches to the subcommands registered in src/cli/*.cc (see cli/command.h).
#include <iostream>

#include "cli/command.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return allot::cli::Main(argc, argv);
}
