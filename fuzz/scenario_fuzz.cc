// The scenario loader of `allot sim`, YAML and JSON (the text picks: JSON when it looks like JSON, with
// YAML as the fallback), as `allot sim FILE` reads a file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "allot/sim.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)allot::sim::ParseScenario(text, "fuzz.yaml");
  return 0;
}
