// `allot version [--json]`: version, git commit, build type, compiler and the compiled-in features.
#include "cli/version.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "allot_build_info.h"
#include "cli/command.h"

namespace allot::cli {

std::string VersionLine() {
  std::string commit = std::string(build_info::kCommit) + (build_info::kDirty ? "-dirty" : "");
  return std::string("allot ") + build_info::kVersion + " (commit " + commit + ", " + build_info::kBuildType +
         ", " + build_info::kCompiler + ")";
}

namespace {

int RunVersion(const Argv& argv) {
  ArgParser p("version", "[--json]",
              "Prints the version, the git commit it was built from (\"-dirty\": with uncommitted changes),\n"
              "the build type, the compiler and the features built in: etcd (the --store etcd backend),\n"
              "nvml (GPU discovery through NVML, loaded at run time when the driver is present) and\n"
              "dashboard (the web UI at GET /). `allot --version` prints the first line only.");
  p.Flag("json", "print one JSON object: version, commit, dirty, build_type, compiler, features");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (!args->positionals.empty())
    return Fail("version", "unexpected argument \"" + args->positionals[0] + "\"");
  if (args->Has("json")) {
    nlohmann::json j = {
        {"version", build_info::kVersion},
        {"commit", build_info::kCommit},
        {"dirty", build_info::kDirty},
        {"build_type", build_info::kBuildType},
        {"compiler", build_info::kCompiler},
        {"features",
         {{"etcd", build_info::kEtcd}, {"nvml", build_info::kNvml}, {"dashboard", build_info::kDashboard}}},
    };
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  auto yes = [](bool on) { return on ? "yes" : "no"; };
  std::cout << VersionLine() << "\n"
            << "version:    " << build_info::kVersion << "\n"
            << "commit:     " << build_info::kCommit
            << (build_info::kDirty ? " (with uncommitted changes)" : "") << "\n"
            << "build type: " << build_info::kBuildType << "\n"
            << "compiler:   " << build_info::kCompiler << "\n"
            << "features:   etcd " << yes(build_info::kEtcd) << ", nvml " << yes(build_info::kNvml)
            << ", dashboard " << yes(build_info::kDashboard) << "\n";
  return 0;
}

}  // namespace
ALLOT_COMMAND("version", "print the version, git commit, build type, compiler and features (--json)",
              RunVersion);
}  // namespace allot::cli
