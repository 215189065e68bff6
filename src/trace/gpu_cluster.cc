// The device-level GPU-sharing model, its placement policies and the fragmentation measure.
#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "allot/trace.h"

namespace allot::trace {
namespace {

constexpr int32_t kDeviceMilli = 1000;

bool IsShare(const GpuPodShape& p) { return p.num_gpu == 1 && p.gpu_milli < kDeviceMilli; }

// splitmix64: small, seedable, and the same on every platform.
uint64_t NextRandom(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t RandomBelow(uint64_t* state, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(NextRandom(state)) * n) >> 64);
}

}  // namespace

GpuPodShape ShapeOf(const AlibabaPod& pod) {
  GpuPodShape s;
  s.cpu_milli = pod.cpu_milli;
  s.memory_mib = pod.memory_mib;
  s.num_gpu = pod.num_gpu;
  s.gpu_milli = pod.num_gpu == 0 ? 0 : pod.gpu_milli;
  s.gpu_spec = pod.gpu_spec;
  return s;
}

std::vector<WorkloadClass> BuildWorkload(const std::vector<GpuPodShape>& pods) {
  std::map<std::tuple<int64_t, int64_t, int, int, std::vector<std::string>>, size_t> counts;
  for (const auto& p : pods) counts[{p.cpu_milli, p.memory_mib, p.num_gpu, p.gpu_milli, p.gpu_spec}]++;
  std::vector<WorkloadClass> out;
  double total = 0;
  for (const auto& [k, c] : counts) {
    WorkloadClass w;
    std::tie(w.shape.cpu_milli, w.shape.memory_mib, w.shape.num_gpu, w.shape.gpu_milli, w.shape.gpu_spec) = k;
    // A class weighs by the GPU demand its pods bring, a pod asking for less than one device (or none)
    // counting as one device: an 8-GPU pod is eight 1-GPU pods' worth of arriving demand.
    int64_t demand = w.shape.num_gpu == 0 ? 0 : int64_t{w.shape.num_gpu} * w.shape.gpu_milli;
    w.weight = static_cast<double>(c) * static_cast<double>(std::max<int64_t>(demand, kDeviceMilli)) / kDeviceMilli;
    total += w.weight;
    out.push_back(std::move(w));
  }
  for (auto& w : out) w.weight /= total;
  return out;
}

// The one list of inflation policies; Choose maps a name to its place here.
const std::vector<std::string>& GpuCluster::Policies() {
  static const std::vector<std::string> kPolicies = {"gpu-fragmentation", "best-fit", "most-allocated",
                                                     "least-allocated", "random"};
  return kPolicies;
}

GpuCluster::GpuCluster(std::vector<GpuNode> nodes, std::vector<WorkloadClass> workload)
    : nodes_(std::move(nodes)), workload_(std::move(workload)) {
  std::map<std::tuple<std::string, int64_t, int64_t, int>, int> shapes;
  for (const auto& n : nodes_) {
    auto key = std::make_tuple(n.model, n.cpu_milli, n.memory_mib, n.gpus);
    auto it = shapes.emplace(key, static_cast<int>(shapes.size())).first;
    shape_.push_back(it->second);
    used_cpu_.push_back(0);
    used_mem_.push_back(0);
    used_gpu_.emplace_back(n.gpus, 0);
    gpu_capacity_ += int64_t{n.gpus} * kDeviceMilli;
  }
  for (const auto& w : workload_) {
    GpuWorkloadClass c;
    const GpuPodShape& m = w.shape;
    c.gpu = m.num_gpu == 0 ? 0 : m.num_gpu == 1 ? m.gpu_milli : int64_t{m.num_gpu} * kDeviceMilli;
    c.cpu = m.cpu_milli;
    c.memory = m.memory_mib;
    c.weight = w.weight;
    classes_.push_back(std::move(c));
  }
  allowed_.resize(shapes.size());
  for (size_t i = 0; i < nodes_.size(); i++) {
    auto& allowed = allowed_[shape_[i]];
    if (!allowed.empty() || workload_.empty()) continue;
    for (const auto& w : workload_)
      allowed.push_back(w.shape.num_gpu == 0 || ModelAllowed(static_cast<int>(i), w.shape) ? 1 : 0);
  }
  frag_.resize(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); i++) frag_[i] = FragmentationOf(static_cast<int>(i), 0, 0, used_gpu_[i]);
}

bool GpuCluster::ModelAllowed(int n, const GpuPodShape& pod) const {
  if (pod.gpu_spec.empty()) return true;
  return std::find(pod.gpu_spec.begin(), pod.gpu_spec.end(), nodes_[n].model) != pod.gpu_spec.end();
}

bool GpuCluster::Fits(int n, const GpuPodShape& pod) const {
  const GpuNode& node = nodes_[n];
  if (used_cpu_[n] + pod.cpu_milli > node.cpu_milli || used_mem_[n] + pod.memory_mib > node.memory_mib) return false;
  if (pod.num_gpu == 0) return true;
  if (node.gpus == 0 || !ModelAllowed(n, pod)) return false;
  const auto& used = used_gpu_[n];
  if (IsShare(pod)) {
    for (int32_t u : used)
      if (u + pod.gpu_milli <= kDeviceMilli) return true;
    return false;
  }
  int free = 0;
  for (int32_t u : used) free += u == 0 ? 1 : 0;
  return free >= pod.num_gpu;
}

double GpuCluster::ComputeFragmentation(int n, int64_t cpu_used, int64_t mem_used,
                                        const std::vector<int32_t>& used) const {
  const GpuNode& node = nodes_[n];
  if (node.gpus == 0) return 0;
  std::vector<int32_t> free(used.size());
  for (size_t g = 0; g < used.size(); g++) free[g] = kDeviceMilli - used[g];
  return GpuFragmentation(free, node.cpu_milli - cpu_used, node.memory_mib - mem_used, classes_, allowed_[shape_[n]]);
}

double GpuCluster::FragmentationOf(int n, int64_t cpu_used, int64_t mem_used, std::vector<int32_t> used) {
  if (nodes_[n].gpus == 0) return 0;
  std::sort(used.begin(), used.end());  // F depends on the multiset of device loads only
  std::string key(sizeof(int) + 2 * sizeof(int64_t) + used.size() * sizeof(int32_t), '\0');
  char* p = key.data();
  std::memcpy(p, &shape_[n], sizeof(int));
  std::memcpy(p + sizeof(int), &cpu_used, sizeof(int64_t));
  std::memcpy(p + sizeof(int) + sizeof(int64_t), &mem_used, sizeof(int64_t));
  std::memcpy(p + sizeof(int) + 2 * sizeof(int64_t), used.data(), used.size() * sizeof(int32_t));
  auto it = frag_memo_.find(key);
  if (it != frag_memo_.end()) return it->second;
  double f = ComputeFragmentation(n, cpu_used, mem_used, used);
  if (frag_memo_.size() > (1u << 21)) frag_memo_.clear();  // bound the memory; the memo is only a cache
  frag_memo_.emplace(std::move(key), f);
  return f;
}

double GpuCluster::NodeFragmentation(int n) const { return frag_[n]; }

double GpuCluster::Fragmentation() const {
  double f = 0;
  for (double x : frag_) f += x;
  return f;
}

int64_t GpuCluster::NodeFragmentationFor(int n, const GpuPodShape& m) const {
  GpuCluster one({nodes_[n]}, {WorkloadClass{m, 1.0}});
  return static_cast<int64_t>(one.ComputeFragmentation(0, used_cpu_[n], used_mem_[n], used_gpu_[n]) + 0.5);
}

std::optional<GpuPlacement> GpuCluster::Choose(const GpuPodShape& pod, const std::string& policy,
                                               uint64_t* rng_state) {
  enum class P { kFgd, kBestFit, kMost, kLeast, kRandom };  // in the order of Policies()
  const auto& names = Policies();
  auto named = std::find(names.begin(), names.end(), policy);
  if (named == names.end()) return std::nullopt;
  const P pol = static_cast<P>(named - names.begin());

  const bool share = IsShare(pod);
  const int64_t each = pod.num_gpu == 0 ? 0 : (share ? pod.gpu_milli : kDeviceMilli);
  std::optional<GpuPlacement> best;
  double best_score = 0;
  uint64_t seen = 0;  // feasible nodes so far, for reservoir sampling under `random`
  std::vector<int32_t> after;
  for (int n = 0; n < static_cast<int>(nodes_.size()); n++) {
    if (!Fits(n, pod)) continue;
    const GpuNode& node = nodes_[n];
    const auto& used = used_gpu_[n];
    // Candidate device sets on this node.
    std::vector<std::vector<int>> cands;
    if (pod.num_gpu == 0) {
      cands.push_back({});
    } else if (!share) {
      std::vector<int> d;
      for (int g = 0; g < node.gpus && static_cast<int>(d.size()) < pod.num_gpu; g++)
        if (used[g] == 0) d.push_back(g);
      cands.push_back(std::move(d));
    } else {
      std::vector<int32_t> seen_loads;
      for (int g = 0; g < node.gpus; g++) {
        if (used[g] + pod.gpu_milli > kDeviceMilli) continue;
        if (pol != P::kRandom && std::find(seen_loads.begin(), seen_loads.end(), used[g]) != seen_loads.end())
          continue;  // devices with equal load are interchangeable: the first stands for them
        seen_loads.push_back(used[g]);
        cands.push_back({g});
      }
    }
    if (pol == P::kRandom) {
      seen++;
      if (RandomBelow(rng_state, seen) == 0) {
        const auto& c = cands[RandomBelow(rng_state, cands.size())];
        best = GpuPlacement{n, c, each};
      }
      continue;
    }
    for (const auto& c : cands) {
      double score;  // lower is better
      if (pol == P::kFgd) {
        after = used;
        for (int g : c) after[g] += static_cast<int32_t>(each);
        score = FragmentationOf(n, used_cpu_[n] + pod.cpu_milli, used_mem_[n] + pod.memory_mib, after) - frag_[n];
      } else {
        // Shares of cpu, memory and gpu (the last only on GPU nodes) after placement.
        double cpu = static_cast<double>(used_cpu_[n] + pod.cpu_milli) / static_cast<double>(std::max<int64_t>(node.cpu_milli, 1));
        double mem = static_cast<double>(used_mem_[n] + pod.memory_mib) / static_cast<double>(std::max<int64_t>(node.memory_mib, 1));
        double dims = 2, used_sum = cpu + mem;
        if (node.gpus > 0) {
          int64_t g_used = 0;
          for (int32_t u : used) g_used += u;
          g_used += each * static_cast<int64_t>(c.size());
          used_sum += static_cast<double>(g_used) / static_cast<double>(int64_t{node.gpus} * kDeviceMilli);
          dims += 1;
        }
        double dev = share ? static_cast<double>(used[c[0]]) / kDeviceMilli : 0;  // load of the chosen device
        if (pol == P::kBestFit) {
          score = (dims - used_sum) - 1e-6 * dev;  // least remaining; tightest device
        } else if (pol == P::kMost) {
          score = -used_sum / dims - 1e-6 * dev;
        } else {
          score = used_sum / dims + 1e-6 * dev;    // least allocated; emptiest device
        }
      }
      if (!best || score < best_score) {
        best = GpuPlacement{n, c, each};
        best_score = score;
      }
    }
    // Without GPUs a pod can only add fragmentation, so the first node where it adds none is the answer.
    if (pol == P::kFgd && pod.num_gpu == 0 && best && best_score <= 0) break;
  }
  return best;
}

void GpuCluster::Apply(const GpuPodShape& pod, const GpuPlacement& p) {
  used_cpu_[p.node] += pod.cpu_milli;
  used_mem_[p.node] += pod.memory_mib;
  for (int g : p.devices) {
    used_gpu_[p.node][g] += static_cast<int32_t>(p.milli_each);
    gpu_allocated_ += p.milli_each;
  }
  frag_[p.node] = FragmentationOf(p.node, used_cpu_[p.node], used_mem_[p.node], used_gpu_[p.node]);
}

void GpuCluster::Remove(const GpuPodShape& pod, const GpuPlacement& p) {
  used_cpu_[p.node] -= pod.cpu_milli;
  used_mem_[p.node] -= pod.memory_mib;
  for (int g : p.devices) {
    used_gpu_[p.node][g] -= static_cast<int32_t>(p.milli_each);
    gpu_allocated_ -= p.milli_each;
  }
  frag_[p.node] = FragmentationOf(p.node, used_cpu_[p.node], used_mem_[p.node], used_gpu_[p.node]);
}

}  // namespace allot::trace
