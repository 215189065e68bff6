// The trace readers of `allot trace` (Alibaba GPU 2023 nodes and pods, Google 2011 task events, SWF),
// each given the input as a whole file (plain or gzip: the readers take both). The first byte picks the
// reader; the file is a memfd, read through its /proc/self/fd path as the readers open paths.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "allot/trace.h"

namespace {

int File() {
  static int fd = memfd_create("allot-trace-fuzz", 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || File() < 0) return 0;
  int fd = File();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != static_cast<ssize_t>(size - 1)) return 0;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  allot::trace::ReadOptions options;
  options.skip_bad = (data[0] & 4) != 0;
  switch (data[0] % 4) {
    case 0:
      (void)allot::trace::ReadAlibabaNodes(
          path, [](const allot::trace::AlibabaNode&) {}, options);
      break;
    case 1:
      (void)allot::trace::ReadAlibabaPods(
          path, [](const allot::trace::AlibabaPod& p) { (void)p.GpuDemand(); }, options);
      break;
    case 2:
      (void)allot::trace::ReadGoogleTaskEvents(
          path, [](const allot::trace::GoogleTaskEvent&) {}, options);
      break;
    default: {
      allot::trace::SwfHeader header;
      (void)allot::trace::ReadSwf(
          path, [](const allot::trace::SwfJob&) {}, options, &header);
    }
  }
  return 0;
}
