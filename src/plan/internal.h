// Helpers shared by the planner's translation units: resource-list arithmetic and the compose loader.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "allot/plan.h"

namespace allot::plan::internal {

// a[k] += b[k] × n for every k in b.
void AddScaled(ResourceList* a, const ResourceList& b, int64_t n);
// a[k] = max(a[k], b[k]) for every k in b.
void MaxInto(ResourceList* a, const ResourceList& b);
int64_t Get(const ResourceList& r, const std::string& key);
// a + b and a + x × n, saturating at the int64 limits (as AddScaled).
int64_t SatAdd(int64_t a, int64_t b);
int64_t SatMulAdd(int64_t a, int64_t x, int64_t n);
// a[class] += b[class] × n (claims and bytes) for every class in b, saturating.
void AddStorage(StorageByClass* a, const StorageByClass& b, int64_t n);
// ceil(amount × ppm / 1e6) for a non-negative amount.
int64_t ScalePpm(int64_t amount, int64_t ppm);

// "file:line" for messages.
std::string Where(const Location& loc);

// Reads one compose document (a map with `services`) into workloads. `source` names the file.
Status LoadCompose(const YAML::Node& doc, const std::string& source, Manifests* out);

}  // namespace allot::plan::internal
