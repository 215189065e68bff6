// `allot serve` re-executes itself with glibc's malloc on transparent huge pages (allot/server.h).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "allot/server.h"
#include "server_process.h"
#include "support.h"

namespace allot {
namespace {

TEST(HugePagesTest, TheTunableIsAddedWhenTheKernelOffersHugePagesAndNobodySaidOtherwise) {
  EXPECT_EQ(HugePageMallocTunables(nullptr, "madvise"), std::optional<std::string>("glibc.malloc.hugetlb=1"));
  EXPECT_EQ(HugePageMallocTunables("", "always"), std::optional<std::string>("glibc.malloc.hugetlb=1"));
  // Other tunables are kept.
  EXPECT_EQ(HugePageMallocTunables("glibc.malloc.arena_max=2", "madvise"),
            std::optional<std::string>("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"));
  // The user's own setting wins, whatever it says; so does a kernel that gives huge pages to no one.
  EXPECT_EQ(HugePageMallocTunables("glibc.malloc.hugetlb=0", "madvise"), std::nullopt);
  EXPECT_EQ(HugePageMallocTunables("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", "always"),
            std::nullopt);
  EXPECT_EQ(HugePageMallocTunables(nullptr, "never"), std::nullopt);
  EXPECT_EQ(HugePageMallocTunables(nullptr, ""), std::nullopt);
}

std::string ThpMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string word;
  while (in >> word) {
    if (word.size() > 2 && word.front() == '[') return word.substr(1, word.size() - 2);
  }
  return "";
}

// GLIBC_TUNABLES as the running process `pid` has it ("" if unset).
std::string TunablesOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  const std::string key = "GLIBC_TUNABLES=";
  for (std::string entry; std::getline(in, entry, '\0');) {
    if (entry.compare(0, key.size(), key) == 0) return entry.substr(key.size());
  }
  return "";
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// The server that answers is the re-executed one (same PID), with the tunable; a user's setting is left as
// it is.
TEST(HugePagesTest, TheServerRunsWithTheTunableUnlessTheUserSetIt) {
  const char* before = std::getenv("GLIBC_TUNABLES");
  std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  unsetenv("GLIBC_TUNABLES");
  {
    testing::TempDir dir;
    testing::ServerProcess s(dir.path() + "/data", {"--dev", "--no-fsync"});
    ASSERT_TRUE(s.Start());
    std::string mode = ThpMode();
    bool expected = !kSanitized && (mode == "madvise" || mode == "always");
    EXPECT_EQ(TunablesOf(s.pid()), expected ? "glibc.malloc.hugetlb=1" : "") << "THP mode " << mode;
    // Re-executed, it keeps its name (ps, top, pkill allot).
    std::ifstream comm("/proc/" + std::to_string(s.pid()) + "/comm");
    std::string name;
    std::getline(comm, name);
    EXPECT_EQ(name, "allot");
  }
  setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0", 1);
  {
    testing::TempDir dir;
    testing::ServerProcess s(dir.path() + "/data", {"--dev", "--no-fsync"});
    ASSERT_TRUE(s.Start());
    EXPECT_EQ(TunablesOf(s.pid()), "glibc.malloc.hugetlb=0");
  }
  if (saved) {
    setenv("GLIBC_TUNABLES", saved->c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace
}  // namespace allot
