// The Kubernetes manifest loader of `allot plan` (multi-document YAML or JSON), then the planner over what
// loaded: workloads computed, totals, lint findings, sizing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "allot/plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  allot::plan::Manifests m;
  if (allot::plan::LoadText(text, "fuzz.yaml", {}, &m).ok()) (void)allot::plan::MakePlan(m, {});
  return 0;
}
