// Path parameters of the route table (see router.h).
#include "server/router.h"

namespace allot::server {

const std::string& PathParams::operator[](std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : values_) {
    if (k == name) return v;
  }
  return kEmpty;
}

void PathParams::Set(std::string name, std::string value) {
  for (auto& [k, v] : values_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  values_.emplace_back(std::move(name), std::move(value));
}

}  // namespace allot::server
