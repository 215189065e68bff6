#include "allot/host/report.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "allot/host/text.h"
#include "allot/quantity.h"
#include "allot/resources.h"

namespace allot::host {
namespace {


// Table cells: cores without the word.
std::string Short(const ResourceReport& r, int64_t v) {
  return r.resource == GuardResource::kCpu ? HumanCores(v) : HumanBytes(v);
}

int64_t Share(int64_t capacity, int64_t bp) { return static_cast<int64_t>(static_cast<__int128>(capacity) * bp / 10000); }

double Percent(int64_t bp) { return static_cast<double>(bp) / 100.0; }

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string EscapeLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string Labels(const ResourceReport& r) {
  std::string l = "resource=\"" + std::string(GuardResourceName(r.resource)) + "\",id=\"" + EscapeLabel(r.id) + "\"";
  return "{" + l + "}";
}

}  // namespace

int HostLevel(const std::vector<ResourceReport>& reports) {
  int level = 0;
  for (const auto& r : reports) level = std::max(level, r.level);
  return level;
}

const char* ResourceState(const ResourceReport& r) {
  if (r.used_bp >= r.threshold.max_bp) return "over";
  if (r.used_bp >= r.threshold.warn_bp) return "warn";
  return "ok";
}

namespace {
nlohmann::ordered_json ResourceJson(const ResourceReport& r) {
  nlohmann::ordered_json j;
  j["resource"] = GuardResourceName(r.resource);
  j["id"] = r.id;
  if (!r.path.empty()) j["path"] = r.path;
  if (r.gpu_index >= 0) {
    j["index"] = r.gpu_index;
    j["model"] = r.model;
  }
  j["capacity"] = r.capacity;
  j["used"] = r.used;
  j["used_percent"] = Percent(r.used_bp);
  j["warn_percent"] = Percent(r.threshold.warn_bp);
  j["limit_percent"] = Percent(r.threshold.max_bp);
  j["warn"] = Share(r.capacity, r.threshold.warn_bp);
  j["limit"] = Share(r.capacity, r.threshold.max_bp);
  j["headroom"] = r.headroom;
  j["level"] = r.level;
  j["state"] = ResourceState(r);
  if (!r.note.empty()) j["note"] = r.note;
  return j;
}
}  // namespace

nlohmann::ordered_json StatusJson(const std::vector<ResourceReport>& reports, const HostSnapshot* s,
                                  const std::string& tier, const LevelPolicy& levels) {
  nlohmann::ordered_json out;
  out["tier"] = tier;
  int level = HostLevel(reports);
  out["level"] = level;
  out["level_name"] = LevelName(level);
  out["scale"] = static_cast<double>(levels.scale_bp[static_cast<size_t>(level)]) / 10000.0;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& r : reports) arr.push_back(ResourceJson(r));
  out["resources"] = arr;
  if (s != nullptr) {
    out["load"] = {s->load.one, s->load.five, s->load.fifteen};
    out["cpu_source"] = s->cpu.source;
    if (s->cgroup.v2) {
      nlohmann::ordered_json cg;
      cg["path"] = s->cgroup.path;
      if (s->cgroup.memory_max) cg["memory_max"] = *s->cgroup.memory_max;
      if (s->cgroup.memory_current) cg["memory_current"] = *s->cgroup.memory_current;
      if (s->cgroup.cpu_max_milli) cg["cpu_max"] = *s->cgroup.cpu_max_milli;
      out["cgroup"] = cg;
    }
  }
  return out;
}

nlohmann::ordered_json DecisionJson(const Decision& d) {
  nlohmann::ordered_json out;
  out["go"] = d.go;
  out["priority"] = PriorityName(d.priority);
  out["level"] = d.level;
  out["level_name"] = LevelName(d.level);
  out["scale"] = static_cast<double>(d.scale_bp) / 10000.0;
  out["reasons"] = d.reasons;
  out["warnings"] = d.warnings;
  out["waiting_for"] = d.waiting_for;
  auto arr = nlohmann::ordered_json::array();
  for (const auto& r : d.resources) arr.push_back(ResourceJson(r));
  out["resources"] = arr;
  return out;
}

std::string StatusTable(const std::vector<ResourceReport>& reports) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %10s %10s %7s %7s %7s %10s %5s  %s\n", "RESOURCE", "USED", "CAPACITY", "USED%",
                "WARN%", "LIMIT%", "HEADROOM", "LEVEL", "NOTE");
  out += line;
  for (const auto& r : reports) {
    std::string note = r.model.empty() ? r.note : r.model + ", " + r.note;
    std::snprintf(line, sizeof line, "%-24s %10s %10s %7s %7s %7s %10s %5d  %s\n", r.id.c_str(), Short(r, r.used).c_str(),
                  Short(r, r.capacity).c_str(), FormatPercent(r.used_bp).c_str(), FormatPercent(r.threshold.warn_bp).c_str(),
                  FormatPercent(r.threshold.max_bp).c_str(), Short(r, r.headroom).c_str(), r.level, note.c_str());
    out += line;
  }
  return out;
}

std::vector<std::string> Recommendations(const std::vector<ResourceReport>& reports, const LoadAvg& load) {
  std::vector<std::string> out;
  std::string fine;
  for (const auto& r : reports) {
    if (r.used_bp < r.threshold.warn_bp) {
      fine += (fine.empty() ? "" : ", ") + r.id + " " + FormatPercent(r.used_bp) + " %";
      continue;
    }
    // What has to go to get back below the warn threshold.
    int64_t excess = std::max<int64_t>(0, r.used - Share(r.capacity, r.threshold.warn_bp));
    std::string head = std::string(r.used_bp >= r.threshold.max_bp ? "over limit: " : "") + GuardResourceName(r.resource) +
                       " at " + FormatPercent(r.used_bp) + " %";
    std::string thresholds = " (warn " + FormatPercent(r.threshold.warn_bp) + " %, limit " +
                             FormatPercent(r.threshold.max_bp) + " %, level " + std::to_string(r.level) + ")";
    switch (r.resource) {
      case GuardResource::kDisk:
        out.push_back(head + " of " + r.path + thresholds + ": archive or delete at least " + HumanBytes(excess) +
                      " (old checkpoints, logs, caches, build outputs) to get below " + FormatPercent(r.threshold.warn_bp) + " %");
        break;
      case GuardResource::kMemory:
        out.push_back(head + thresholds + ": free at least " + HumanBytes(excess) +
                      ": stop idle jobs, lower batch sizes or worker counts; start new work with `allot guard run --memory ...`");
        break;
      case GuardResource::kCpu: {
        int64_t cores = (excess + 999) / 1000;
        char l[64];
        std::snprintf(l, sizeof l, "%.2f", load.one);
        out.push_back(head + thresholds + ", load " + l + ": reduce parallel workers by " + std::to_string(cores < 1 ? 1 : cores) +
                      " (e.g. -j or --workers) or renice background jobs");
        break;
      }
      case GuardResource::kGpu:
        out.push_back(head.replace(head.find("gpu"), 3, r.id) + (r.model.empty() ? "" : " (" + r.model + ")") + thresholds +
                      ": free at least " + HumanBytes(excess) +
                      " of GPU memory: smaller batches, mixed precision, or move a job to another device");
        break;
    }
  }
  if (out.empty()) out.push_back("all resources are below their warn thresholds (" + fine + "): nothing to do");
  return out;
}

std::string MetricsText(const std::vector<ResourceReport>& reports, const LoadAvg& load, const LevelPolicy& levels) {
  std::string out;
  auto family = [&](const char* name, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    for (const auto& r : reports) out += std::string(name) + Labels(r) + " " + Num(value(r)) + "\n";
  };
  family("allot_guard_used_ratio", "Used share of the resource's capacity (0-1; a GPU's is the higher of memory and utilization).",
         [](const ResourceReport& r) { return r.used_bp / 10000.0; });
  family("allot_guard_limit_ratio", "Share of capacity that new work may not push usage above.",
         [](const ResourceReport& r) { return r.threshold.max_bp / 10000.0; });
  family("allot_guard_warn_ratio", "Share of capacity from which the guard warns.",
         [](const ResourceReport& r) { return r.threshold.warn_bp / 10000.0; });
  family("allot_guard_degradation_level", "Degradation level 0-4 (used / limit: <70%, 70-85%, 85-95%, 95-100%, >=100%).",
         [](const ResourceReport& r) { return static_cast<double>(r.level); });
  auto units = [&](const char* name, const char* help, GuardResource kind, double scale, bool headroom) {
    std::string body;
    for (const auto& r : reports) {
      if (r.resource != kind) continue;
      body += std::string(name) + Labels(r) + " " + Num((headroom ? r.headroom : r.capacity) * scale) + "\n";
    }
    if (!body.empty()) out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + body;
  };
  units("allot_guard_cpu_capacity_cores", "CPU cores of the host.", GuardResource::kCpu, 0.001, false);
  units("allot_guard_cpu_headroom_cores", "CPU cores that still fit below the limit.", GuardResource::kCpu, 0.001, true);
  units("allot_guard_memory_capacity_bytes", "Memory of the host (or its cgroup's memory.max).", GuardResource::kMemory, 1, false);
  units("allot_guard_memory_headroom_bytes", "Memory that still fits below the limit.", GuardResource::kMemory, 1, true);
  units("allot_guard_disk_capacity_bytes", "Size of the filesystem holding the path.", GuardResource::kDisk, 1, false);
  units("allot_guard_disk_headroom_bytes", "Disk space that still fits below the limit.", GuardResource::kDisk, 1, true);
  units("allot_guard_gpu_memory_capacity_bytes", "Memory of the GPU.", GuardResource::kGpu, 1, false);
  units("allot_guard_gpu_memory_headroom_bytes", "GPU memory that still fits below the limit.", GuardResource::kGpu, 1, true);
  int level = HostLevel(reports);
  out += "# HELP allot_guard_host_degradation_level Highest degradation level among cpu, memory, disks and GPUs.\n"
         "# TYPE allot_guard_host_degradation_level gauge\n"
         "allot_guard_host_degradation_level " + std::to_string(level) + "\n";
  out += "# HELP allot_guard_scale_factor Share of its normal work a job should do at the host's level (1, 1, 0.5, 0.25, 0).\n"
         "# TYPE allot_guard_scale_factor gauge\n"
         "allot_guard_scale_factor " + Num(static_cast<double>(levels.scale_bp[static_cast<size_t>(level)]) / 10000.0) + "\n";
  out += "# HELP allot_guard_load_average System load average over the window.\n"
         "# TYPE allot_guard_load_average gauge\n"
         "allot_guard_load_average{window=\"1m\"} " + Num(load.one) + "\n"
         "allot_guard_load_average{window=\"5m\"} " + Num(load.five) + "\n"
         "allot_guard_load_average{window=\"15m\"} " + Num(load.fifteen) + "\n";
  return out;
}

}  // namespace allot::host
