// Uses the installed engine and quantity parser: prints "1536Mi 1500 engine ok".
#include <cstdio>

#include "allot/engine.h"
#include "allot/quantity.h"

int main() {
  auto memory = allot::ParseQuantity("1.5Gi");
  auto cpu = allot::ParseQuantity("1.5");
  auto engine = allot::Engine::Create(allot::EngineOptions{});
  if (!memory.ok() || !cpu.ok() || !engine.ok()) return 1;
  std::printf("%s %lld engine ok\n", memory.value().canonical.c_str(),
              static_cast<long long>(cpu.value().Milli()));
  return 0;
}
