// `allot autoscale eval` input (YAML or JSON HPA plus pods and metrics), then one reconcile of the HPA
// arithmetic over what parsed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "allot/autoscale.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto in = allot::autoscale::ParseHpaInput(text, "fuzz.yaml"); in.ok())
    (void)allot::autoscale::EvaluateHpa(*in);
  return 0;
}
