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
  // Written by hand: `milli` is an exact integer of any length, which a JSON library would turn into a float.
  std::string out = "[";
  int rc = 0;
  for (const auto& in : args->positionals) {
    auto q = ParseQuantityExact(in);
    if (!q.ok()) {
      rc = 2;
      if (json) {
        out += std::string(out.size() > 1 ? "," : "") + "\n  {\"input\": " + nlohmann::json(in).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
               ", \"error\": " + nlohmann::json(q.error().message).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}";
      }
      else std::cerr << "allot: quantity: " << q.error().message << "\n";
      continue;
    }
    if (json) {
      out += std::string(out.size() > 1 ? "," : "") + "\n  {\"input\": " + nlohmann::json(in).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
             ", \"milli\": " + q->MilliText() + ", \"canonical\": " + nlohmann::json(q->canonical).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}";
    }
    else std::cout << q->canonical << "\n";
  }
  if (json) std::cout << out << (out.size() > 1 ? "\n]\n" : "]\n");
  return rc;
}

}  // namespace
ALLOT_COMMAND("quantity", "parse Kubernetes quantities (500m, 2Gi, 1e3) and print their canonical form",
              RunQuantity);
}  // namespace allot::cli
