#include "allot/resources.h"
#include "allot/utf8.h"

#include <cctype>
#include <charconv>

#include "allot/quantity.h"

namespace allot {

std::string CanonicalResourceName(std::string_view name) {
  if (name == "nvidia.com/gpu" || name == "gpus") return "gpu";
  if (name == "disk") return "ephemeral-storage";
  if (name == "mem") return "memory";
  return std::string(name);
}

Status ValidateResourceName(std::string_view name) {
  if (name.empty()) return InvalidArgument("resource name is empty");
  if (name.size() > 253) return InvalidArgument("resource name \"" + QuoteForError(name, 40) + "\" is too long");
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name.front()) || !alnum(name.back())) {
    return InvalidArgument("resource name \"" + QuoteForError(name) + "\" must start and end with a letter or digit");
  }
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.' && c != '/') {
      return InvalidArgument("resource name \"" + QuoteForError(name) + "\" has an invalid character '" + QuoteForError(std::string_view(&c, 1)) + "'");
    }
  }
  return Status::Ok();
}

bool IsMilliResource(std::string_view n) { return n == "cpu" || n == "gpu"; }

Result<int64_t> ParseResourceAmount(std::string_view name, std::string_view text) {
  // Only milli-resources need their milli-value to fit: bytes and counts may go up to 2^63-1.
  auto q = ParseQuantity(text, IsMilliResource(name) ? QuantityRange::kMilli : QuantityRange::kValue);
  if (!q.ok()) return Error{q.error().code, QuoteForError(name) + ": " + q.error().message};
  if (q->nanos < 0) {
    return InvalidArgument(QuoteForError(name) + ": quantity \"" + QuoteForError(text) + "\" is negative");
  }
  return IsMilliResource(name) ? q->Milli() : q->Value();
}

int64_t ToOutputUnits(std::string_view name, int64_t amount) {
  if (name == "gpu") return (amount + 999) / 1000;
  return amount;
}

std::string FormatResourceAmount(std::string_view name, int64_t amount) {
  if (IsMilliResource(name)) return FormatMilli(amount);
  if (name == "memory" || name == "ephemeral-storage" || name == "storage") return FormatBytesExact(amount);
  return std::to_string(amount);
}

ResourceRegistry::ResourceRegistry() : names_{"cpu", "memory", "gpu", "ephemeral-storage", "network"} {}

Result<uint16_t> ResourceRegistry::Intern(std::string_view name) {
  int found = Find(name);
  if (found >= 0) return static_cast<uint16_t>(found);
  std::string canon = CanonicalResourceName(name);
  if (auto s = ValidateResourceName(canon); !s.ok()) return s.error();
  if (names_.size() >= 64) return InvalidArgument("too many distinct resource names (at most 64)");
  names_.push_back(canon);
  return static_cast<uint16_t>(names_.size() - 1);
}

int ResourceRegistry::Find(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); i++) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  if (name == "nvidia.com/gpu" || name == "gpus") return kGpu;
  if (name == "disk") return kDisk;
  if (name == "mem") return kMemory;
  return -1;
}

Result<int> ParsePriority(std::string_view original) {
  // Names in any case ("HIGH", as seed 001's Priority enum prints them).
  std::string lower(original);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view text = lower;
  if (text == "critical") return 4;
  if (text == "high") return 3;
  if (text == "normal" || text == "medium") return 2;
  if (text == "low") return 1;
  if (text == "background") return 0;
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return InvalidArgument("invalid priority \"" + QuoteForError(original) +
                           "\": use critical, high, normal, low, background or an integer");
  }
  return v;
}

std::string PriorityName(int p) {
  switch (p) {
    case 4: return "critical";
    case 3: return "high";
    case 2: return "normal";
    case 1: return "low";
    case 0: return "background";
    default: return std::to_string(p);
  }
}

}  // namespace allot
