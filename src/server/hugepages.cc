// Re-executing `allot serve` with glibc's malloc on transparent huge pages (see allot/server.h).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "allot/server.h"

namespace allot {

std::optional<std::string> HugePageMallocTunables(const char* current, std::string_view thp_mode) {
  if (thp_mode != "always" && thp_mode != "madvise") return std::nullopt;
  std::string now = current == nullptr ? "" : current;
  if (now.find("glibc.malloc.hugetlb") != std::string::npos) return std::nullopt;
  return now.empty() ? "glibc.malloc.hugetlb=1" : now + ":glibc.malloc.hugetlb=1";
}

namespace {

// The selected word of the kernel's setting ("always [madvise] never" -> "madvise"); "" if unreadable.
std::string ThpMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string word;
  while (in >> word) {
    if (word.size() > 2 && word.front() == '[' && word.back() == ']') return word.substr(1, word.size() - 2);
  }
  return "";
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

}  // namespace

void ReexecWithHugePageMalloc(char** argv) {
#if defined(__GLIBC__) && defined(__linux__)
  if (kSanitized || argv == nullptr || argv[0] == nullptr) return;
  auto tunables = HugePageMallocTunables(std::getenv("GLIBC_TUNABLES"), ThpMode());
  if (!tunables) return;
  // The program's own path, not /proc/self/exe: the kernel names the process after the file executed, and
  // ps, top and pkill should go on seeing "allot".
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof self - 1) return;
  self[n] = '\0';
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0) return;
  execv(self, argv);
  // exec failed (the binary was replaced or removed since it started, say): go on as we are. The variable
  // stays set, which is harmless.
#else
  (void)argv;
#endif
}

}  // namespace allot
