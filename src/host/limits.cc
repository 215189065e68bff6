// Guard limits: resource names, host tiers, the YAML config and limit flags (see allot/guard.h).
#include <charconv>
#include <cstdlib>
#include <functional>

#include <yaml-cpp/yaml.h>

#include "allot/guard.h"
#include "allot/host/text.h"
#include "allot/resources.h"

namespace allot::host {

const char* GuardResourceName(GuardResource r) {
  switch (r) {
    case GuardResource::kCpu: return "cpu";
    case GuardResource::kMemory: return "memory";
    case GuardResource::kGpu: return "gpu";
    case GuardResource::kDisk: return "disk";
  }
  return "?";
}

Result<GuardResource> ParseGuardResource(std::string_view name) {
  if (name == "cpu") return GuardResource::kCpu;
  if (name == "memory" || name == "mem") return GuardResource::kMemory;
  if (name == "gpu" || name == "nvidia.com/gpu") return GuardResource::kGpu;
  if (name == "disk" || name == "ephemeral-storage") return GuardResource::kDisk;
  return InvalidArgument("unknown resource \"" + std::string(name) + "\" (the guard knows cpu, memory, gpu, disk)");
}

Result<HostTier> ParseHostTier(std::string_view name) {
  if (name == "none") return HostTier::kNone;
  if (name == "auto") return HostTier::kAuto;
  if (name == "large") return HostTier::kLarge;
  if (name == "medium") return HostTier::kMedium;
  if (name == "small") return HostTier::kSmall;
  if (name == "cpu-only") return HostTier::kCpuOnly;
  return InvalidArgument("unknown tier \"" + std::string(name) + "\" (use none, auto, large, medium, small, cpu-only)");
}

const char* HostTierName(HostTier t) {
  switch (t) {
    case HostTier::kNone: return "none";
    case HostTier::kAuto: return "auto";
    case HostTier::kLarge: return "large";
    case HostTier::kMedium: return "medium";
    case HostTier::kSmall: return "small";
    case HostTier::kCpuOnly: return "cpu-only";
  }
  return "?";
}

HostTier ResolveTier(HostTier tier, int64_t memory_total, bool has_gpu) {
  if (tier != HostTier::kAuto) return tier;
  constexpr int64_t kGB = 1'000'000'000;
  if (!has_gpu) return HostTier::kCpuOnly;
  // MemTotal is a little below the installed size (the kernel keeps some): a "96 GB" machine reports
  // about 94 GiB = 101 GB, a "32 GB" one about 31 GiB = 33 GB, so plain GB thresholds classify them right.
  if (memory_total >= 96 * kGB) return HostTier::kLarge;
  if (memory_total >= 32 * kGB) return HostTier::kMedium;
  if (memory_total >= 16 * kGB) return HostTier::kSmall;
  return HostTier::kCpuOnly;
}

int64_t TierTargetBp(HostTier t) {
  switch (t) {
    case HostTier::kLarge: return 6500;
    case HostTier::kMedium: return 6000;
    case HostTier::kSmall: return 5500;
    case HostTier::kCpuOnly: return 5000;
    default: return 0;
  }
}

Result<int64_t> ParsePercent(std::string_view text) {
  std::string_view t = Trim(text);
  if (!t.empty() && t.back() == '%') t.remove_suffix(1);
  std::string_view whole = t, frac;
  if (auto dot = t.find('.'); dot != std::string_view::npos) {
    whole = t.substr(0, dot);
    frac = t.substr(dot + 1);
  }
  int64_t w = 0;
  auto bad = [&] {
    return InvalidArgument("invalid percentage \"" + std::string(text) + "\" (use a number above 0 and at most 100, e.g. 75 or 72.5%)");
  };
  if (whole.empty() && frac.empty()) return bad();
  if (!whole.empty()) {
    auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
    if (ec != std::errc() || p != whole.data() + whole.size() || w < 0) return bad();
  }
  if (frac.size() > 2) return bad();
  int64_t f = 0;
  for (char c : frac) {
    if (c < '0' || c > '9') return bad();
    f = f * 10 + (c - '0');
  }
  if (frac.size() == 1) f *= 10;
  if (w > 100) return bad();
  int64_t bp = w * 100 + f;
  if (bp <= 0 || bp > 10000) return bad();
  return bp;
}

Status ApplyLimitFlag(std::string_view text, bool warn, GuardConfig* config) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    std::string msg(text);
    msg += "\": expected RESOURCE=PERCENT, e.g. memory=75";
    return InvalidArgument("\"" + msg);
  }
  auto r = ParseGuardResource(text.substr(0, eq));
  if (!r.ok()) return r.error();
  auto bp = ParsePercent(text.substr(eq + 1));
  if (!bp.ok()) return bp.error();
  (warn ? config->warn_bp : config->max_bp)[static_cast<int>(*r)] = *bp;
  return Status::Ok();
}

// levels: {N: {min_priority: P|none, scale: F, warn: B}} for N in 0-4 (see LevelPolicy).
Status ReadLevels(const YAML::Node& v, const std::function<std::string(const YAML::Node&)>& where, LevelPolicy* out) {
  if (!v.IsMap()) return InvalidArgument(where(v) + ": levels: expected a mapping of levels 0-4");
  for (const auto& lv : v) {
    std::string lname = lv.first.as<std::string>();
    int level = lname.size() == 1 && lname[0] >= '0' && lname[0] <= '4' ? lname[0] - '0' : -1;
    if (level < 0) return InvalidArgument(where(lv.first) + ": levels: \"" + lname + "\" is not a level 0-4");
    if (!lv.second.IsMap()) return InvalidArgument(where(lv.second) + ": levels." + lname + ": expected {min_priority, scale, warn}");
    auto at = static_cast<size_t>(level);
    for (const auto& f : lv.second) {
      std::string key = f.first.as<std::string>();
      std::string text = f.second.IsScalar() ? f.second.Scalar() : "";
      std::string here = where(f.second) + ": levels." + lname + "." + key;
      if (key == "min_priority") {
        if (text == "none") {
          out->min_priority[at] = 5;
          continue;
        }
        auto p = ParsePriority(text);
        if (!p.ok() || *p < 0 || *p > 4) {
          return InvalidArgument(here + ": \"" + text + "\": expected background, low, normal, high, critical, 0-4 or none");
        }
        out->min_priority[at] = *p;
      } else if (key == "scale") {
        char* end = nullptr;
        double x = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(x >= 0 && x <= 1)) {
          return InvalidArgument(here + ": \"" + text + "\": expected a number from 0 to 1");
        }
        out->scale_bp[at] = static_cast<int64_t>(x * 10000 + 0.5);
      } else if (key == "warn") {
        if (text != "true" && text != "false") return InvalidArgument(here + ": \"" + text + "\": expected true or false");
        out->warn[at] = text == "true";
      } else {
        return InvalidArgument(where(f.first) + ": levels." + lname + ": unknown key \"" + key + "\" (use min_priority, scale, warn)");
      }
    }
  }
  return Status::Ok();
}

Result<GuardConfig> LoadGuardConfig(const std::string& path) {
  auto text = ReadSmallFile(path, 1 << 20);
  if (!text.ok()) return text.error();
  GuardConfig c;
  auto where = [&](const YAML::Node& n) { return path + ":" + std::to_string(n.Mark().line + 1); };
  try {
    YAML::Node root = YAML::Load(*text);
    if (root.IsNull()) return c;
    if (!root.IsMap()) return InvalidArgument(path + ": expected a mapping with tier, limits, paths, levels");
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "tier") {
        auto t = ParseHostTier(v.as<std::string>());
        if (!t.ok()) return InvalidArgument(where(v) + ": tier: " + t.error().message);
        c.tier = *t;
      } else if (key == "paths") {
        if (!v.IsSequence()) return InvalidArgument(where(v) + ": paths: expected a list of directories");
        for (const auto& p : v) c.paths.push_back(p.as<std::string>());
      } else if (key == "limits") {
        if (!v.IsMap()) return InvalidArgument(where(v) + ": limits: expected a mapping of resources");
        for (const auto& res : v) {
          std::string rname = res.first.as<std::string>();
          auto r = ParseGuardResource(rname);
          if (!r.ok()) return InvalidArgument(where(res.first) + ": limits: " + r.error().message);
          if (!res.second.IsMap()) return InvalidArgument(where(res.second) + ": limits." + rname + ": expected {max, warn}");
          for (const auto& f : res.second) {
            std::string fname = f.first.as<std::string>();
            if (fname != "max" && fname != "warn") {
              return InvalidArgument(where(f.first) + ": limits." + rname + ": unknown key \"" + fname + "\" (use max, warn)");
            }
            auto bp = ParsePercent(f.second.as<std::string>());
            if (!bp.ok()) return InvalidArgument(where(f.second) + ": limits." + rname + "." + fname + ": " + bp.error().message);
            (fname == "max" ? c.max_bp : c.warn_bp)[static_cast<int>(*r)] = *bp;
          }
        }
      } else if (key == "levels") {
        if (auto st = ReadLevels(v, where, &c.levels); !st.ok()) return st.error();
      } else {
        return InvalidArgument(where(kv.first) + ": unknown key \"" + key + "\" (use tier, limits, paths, levels)");
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

Result<GuardLimits> ResolveLimits(const GuardConfig& config, int64_t memory_total, bool has_gpu) {
  GuardLimits l;
  l.levels = config.levels;
  if (config.tier != HostTier::kNone) {
    int64_t target = TierTargetBp(ResolveTier(config.tier, memory_total, has_gpu));
    for (GuardResource r : {GuardResource::kCpu, GuardResource::kMemory, GuardResource::kGpu}) {
      l[r] = {target, target - 1000};
    }
  }
  for (int i = 0; i < kNumGuardResources; i++) {
    Threshold& t = l.by_resource[i];
    if (config.max_bp[i]) t.max_bp = *config.max_bp[i];
    if (config.warn_bp[i]) {
      t.warn_bp = *config.warn_bp[i];
      if (t.warn_bp > t.max_bp) {
        return InvalidArgument(std::string("warn threshold of ") + GuardResourceName(static_cast<GuardResource>(i)) +
                               " (" + FormatPercent(t.warn_bp) + " %) is above its limit (" + FormatPercent(t.max_bp) + " %)");
      }
    } else if (t.warn_bp > t.max_bp) {
      t.warn_bp = t.max_bp > 1000 ? t.max_bp - 1000 : 0;  // a lowered limit drags its default warn along
    }
  }
  return l;
}

}  // namespace allot::host
