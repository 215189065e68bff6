// GPUs through NVML, loaded at run time (no build dependency), or from a recorded JSON list.
//
// Only the handful of NVML entry points used here are declared, with the signatures of nvml.h: the
// library is optional, so any failure (no library, no driver, no device, an NVML error) yields no GPUs.
#include <dlfcn.h>

#include <nlohmann/json.hpp>

#include "allot/host.h"
#include "allot/host/text.h"

namespace allot::host {
namespace {

using NvmlReturn = int;  // nvmlReturn_t; 0 is NVML_SUCCESS
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {  // nvmlMemory_t
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct NvmlUtilization {  // nvmlUtilization_t
  unsigned int gpu;
  unsigned int memory;
};

struct Nvml {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*count)(unsigned int*) = nullptr;
  NvmlReturn (*handle)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*name)(NvmlDevice, char*, unsigned int) = nullptr;
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
};

template <typename F>
bool Bind(void* lib, const char* symbol, F* out) {
  void* p = dlsym(lib, symbol);
  if (p == nullptr) return false;
  *out = reinterpret_cast<F>(p);
  return true;
}

std::vector<GpuInfo> ProbeNvml() {
  std::vector<GpuInfo> out;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return out;
  Nvml n;
  bool bound = Bind(lib, "nvmlInit_v2", &n.init) && Bind(lib, "nvmlShutdown", &n.shutdown) &&
               Bind(lib, "nvmlDeviceGetCount_v2", &n.count) &&
               Bind(lib, "nvmlDeviceGetHandleByIndex_v2", &n.handle) && Bind(lib, "nvmlDeviceGetName", &n.name) &&
               Bind(lib, "nvmlDeviceGetMemoryInfo", &n.memory) &&
               Bind(lib, "nvmlDeviceGetUtilizationRates", &n.utilization);
  if (bound && n.init() == 0) {
    unsigned int count = 0;
    if (n.count(&count) == 0) {
      for (unsigned int i = 0; i < count && i < 256; i++) {
        NvmlDevice dev = nullptr;
        if (n.handle(i, &dev) != 0) continue;
        GpuInfo g;
        g.index = static_cast<int>(i);
        char name[96] = {0};
        if (n.name(dev, name, sizeof name - 1) == 0) g.model = name;
        NvmlMemory mem{};
        if (n.memory(dev, &mem) != 0) continue;  // a device we cannot measure is not offered
        g.memory_total = static_cast<int64_t>(mem.total);
        g.memory_used = static_cast<int64_t>(mem.used);
        NvmlUtilization util{};
        if (n.utilization(dev, &util) == 0) g.utilization = static_cast<int>(util.gpu > 100 ? 100 : util.gpu);
        out.push_back(g);
      }
    }
    n.shutdown();
  }
  dlclose(lib);
  return out;
}

// [{"index": 0, "model": "...", "memory_total": bytes, "memory_used": bytes, "utilization": 0-100}]
Result<std::vector<GpuInfo>> ReadGpuFile(const std::string& path) {
  auto text = ReadSmallFile(path, 1 << 20);
  if (!text.ok()) return text.error();
  std::vector<GpuInfo> out;
  try {
    auto j = nlohmann::json::parse(*text);
    if (!j.is_array()) return InvalidArgument(path + ": expected a JSON array of GPUs");
    for (size_t i = 0; i < j.size(); i++) {
      const auto& e = j[i];
      std::string where = path + ": [" + std::to_string(i) + "]";
      if (!e.is_object()) return InvalidArgument(where + ": expected an object");
      GpuInfo g;
      g.index = e.value("index", static_cast<int>(i));
      g.model = e.value("model", std::string());
      g.memory_total = e.at("memory_total").get<int64_t>();
      g.memory_used = e.value("memory_used", int64_t{0});
      g.utilization = e.value("utilization", 0);
      if (g.memory_total <= 0 || g.memory_used < 0 || g.memory_used > g.memory_total || g.utilization < 0 ||
          g.utilization > 100) {
        return InvalidArgument(where + ": memory_total must be > 0, 0 <= memory_used <= memory_total, "
                                       "0 <= utilization <= 100");
      }
      out.push_back(g);
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(path + ": " + e.what());
  }
  return out;
}

}  // namespace

Result<std::vector<GpuInfo>> ProbeGpus(const ProbeRoots& roots) {
  if (!roots.gpu_file.empty()) return ReadGpuFile(roots.gpu_file);
  return ProbeNvml();
}

}  // namespace allot::host
