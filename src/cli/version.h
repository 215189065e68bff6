// What this build of allot is: version, git commit, build type, compiler and compiled-in features.
//
// The values come from allot_build_info.h, which the build writes into its own tree (packaging/
// build_info.h.in, rewritten only when a value changes) so the commit is that of the last build, not of
// the last configure. Thread-safety: pure functions over constants.
#pragma once

#include <string>

namespace allot::cli {

// One line: "allot 0.1.0 (commit cd57420, Release, GNU 12.2.0)". `allot --version` prints it.
std::string VersionLine();

}  // namespace allot::cli
