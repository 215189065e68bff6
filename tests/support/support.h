// Shared test fixtures: running the real `allot` binary, temporary directories, free ports.
#pragma once

#include <string>
#include <vector>

namespace allot::testing {

// True in an AddressSanitizer build (the dev and fuzz presets): shadow memory and the quarantine make a
// process's peak RSS several times larger, so tests do not assert memory bounds there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// True in a ThreadSanitizer build (the tsan preset): its shadow memory adds to a process's RSS too.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs build/allot with `args` (no shell), feeding `stdin_text`; captures stdout and stderr.
RunResult RunAllot(const std::vector<std::string>& args, const std::string& stdin_text = "");
// Runs any program (argv[0] looked up in PATH).
RunResult RunProgram(const std::vector<std::string>& argv, const std::string& stdin_text = "");

// A fresh directory under /tmp, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

std::string SourceDir();   // the repository root
std::string SharedDir();   // ../shared beside the repository
std::string AllotBinary(); // build/allot
std::string ReadFile(const std::string& path);

}  // namespace allot::testing
