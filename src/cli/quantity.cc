// allot quantity [--json] Q...
// module: core
#include <iostream>

#include <nlohmann/json.hpp>

#include "allot/quantity.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

int RunQuantity(const Argv& argv) {
  ArgParser p("quantity", "[--json] Q...", "Parses Kubernetes quantities and prints their canonical form.");
  p.Flag("json", "print a JSON array of {input, milli, canonical} or {input, error}");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty()) return Fail("quantity", "no quantity given (usage: allot quantity [--json] Q...)");
  bool json = args->Has("json");
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int rc = 0;
  for (const auto& in : args->positionals) {
    auto q = ParseQuantity(in);
    if (!q.ok()) {
      rc = 2;
      if (json) out.push_back({{"input", in}, {"error", q.error().message}});
      else std::cerr << "allot: quantity: " << q.error().message << "\n";
      continue;
    }
    if (json) out.push_back({{"input", in}, {"milli", q->Milli()}, {"canonical", q->canonical}});
    else std::cout << q->canonical << "\n";
  }
  if (json) std::cout << out.dump(2) << "\n";
  return rc;
}

}  // namespace
ALLOT_COMMAND("quantity", "parse Kubernetes quantities (500m, 2Gi, 1e3) and print their canonical form",
              RunQuantity);
}  // namespace allot::cli
