#include "allot/host/text.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace allot::host {

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument(path + ": cannot read: " + std::strerror(errno));
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return InvalidArgument(path + ": read error: " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      close(fd);
      return InvalidArgument(path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  close(fd);
  return out;
}

std::string HumanBytes(int64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024 && bytes > -1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = -1;
  while ((v >= 1024 || v <= -1024) && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string HumanCores(int64_t milli) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(milli) / 1000);
  return buf;
}

std::string FormatPercent(int64_t bp) {
  int64_t tenths = (bp + 5) / 10;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

}  // namespace allot::host
