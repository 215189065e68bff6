// The docker-compose loader of `allot plan` (a compose file as `allot plan docker-compose.yml` reads it),
// then the planner over its services.
#include <cstddef>
#include <cstdint>
#include <string>

#include "allot/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  allot::plan::Manifests m;
  if (allot::plan::LoadText(text, "docker-compose.yml", {}, &m).ok()) (void)allot::plan::MakePlan(m, {});
  return 0;
}
