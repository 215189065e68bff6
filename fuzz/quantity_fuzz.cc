// Quantities: Kubernetes (exact and int64, both ranges), docker memory and cpus, resource amounts, and
// the round trip of what parses: its canonical form parses again to the same value, and to the same
// canonical form where the format survives the trip (a BinarySI amount that is no whole number of Ki is
// written as bare bytes, which read back as DecimalSI: "62.5Ki" is "64000", and "64000" is "64k", as in
// Kubernetes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "allot/quantity.h"
#include "allot/resources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto exact = allot::ParseQuantityExact(text); exact.ok()) {
    (void)exact->MilliText();
    auto again = allot::ParseQuantityExact(exact->canonical);
    // Past 10^2147483647 the canonical form carries the excess as mantissa zeros, which can outgrow the
    // parser's 4096 digits: such a form need not read back.
    if (!again.ok() && exact->canonical.size() > 4096) return 0;
    if (!again.ok() || again->negative != exact->negative || again->digits != exact->digits ||
        again->exp10 != exact->exp10) {
      std::abort();
    }
    if (again->format == exact->format && again->canonical != exact->canonical) std::abort();
  }
  for (auto range : {allot::QuantityRange::kMilli, allot::QuantityRange::kValue}) {
    if (auto q = allot::ParseQuantity(text, range); q.ok()) {
      (void)q->Milli();
      (void)q->Value();
    }
  }
  if (auto m = allot::ParseDockerMemory(text); m.ok() && *m < 0) std::abort();
  (void)allot::ParseDockerCpus(text);
  for (const char* resource : {"cpu", "memory", "gpu", "nvidia.com/gpu", "example.com/widgets"}) {
    if (auto v = allot::ParseResourceAmount(allot::CanonicalResourceName(resource), text); v.ok()) {
      (void)allot::FormatMilli(*v);
      (void)allot::FormatBytes(*v);
    }
  }
  return 0;
}
