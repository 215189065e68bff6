// The `allot serve` config file (every key checked: auth, tls, policy, limits, tenants, nodes, pools,
// throttling, store, seed 001's files), and the throttling section as the rate-limit module reads it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "allot/server.h"
#include "allot/throttle/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto c = allot::ParseServerConfig(text, "fuzz.yaml");
  // The throttling section is the rate-limit module's to check, as the server does when it mounts it.
  if (c.ok() && !c->throttling_yaml.empty())
    (void)allot::throttle::ParseThrottleConfigText(c->throttling_yaml);
  return 0;
}
