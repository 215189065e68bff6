// gpu-fragmentation: the fragmentation measure, the workload model it weighs classes by, and the engine's
// scoring and device choice with it (the strategy is described at EngineOptions::gpu_workload).
#include "engine/gpu_fragmentation.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <tuple>

#include "allot/resources.h"
#include "engine/scorer.h"

namespace allot {

double GpuFragmentation(std::span<const int32_t> device_free, int64_t cpu_free, int64_t memory_free,
                        std::span<const GpuWorkloadClass> classes, std::span<const uint8_t> allowed) {
  if (device_free.empty()) return 0;
  int64_t total = 0, whole = 0;
  for (int32_t f : device_free) {
    total += f;
    whole += f >= 1000 ? 1 : 0;
  }
  if (total <= 0) return 0;
  double sum = 0;
  // Classes with the same gpu are usually adjacent (the engine orders them so): one device scan serves all.
  int64_t scanned_gpu = -1, scanned_frag = 0;
  for (size_t i = 0; i < classes.size(); i++) {
    const GpuWorkloadClass& m = classes[i];
    int64_t frag;
    if (m.cpu > cpu_free || m.memory > memory_free || (!allowed.empty() && !allowed[i])) {
      frag = total;  // it cannot run here: every free milli is lost to it
    } else if (m.gpu <= 0) {
      frag = 0;
    } else {
      if (m.gpu != scanned_gpu) {
        scanned_gpu = m.gpu;
        if (m.gpu < 1000) {
          scanned_frag = 0;
          for (int32_t f : device_free)
            if (f < m.gpu) scanned_frag += f;
        } else {
          int64_t k = (m.gpu + 999) / 1000;
          scanned_frag = whole < k ? total : total - whole * 1000;
        }
      }
      frag = scanned_frag;
    }
    sum += m.weight * static_cast<double>(frag);
  }
  return sum;
}

namespace engine {
namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

// ---- the workload model ----

int64_t GpuWorkloadModel::Bucket(int64_t v) {
  if (v <= 16) return v;
  int shift = std::bit_width(static_cast<uint64_t>(v)) - 4;
  int64_t unit = int64_t{1} << shift;
  return (v + unit - 1) / unit * unit;
}

bool GpuWorkloadModel::Key::operator<(const Key& o) const {
  return std::tie(gpu, constraint, cpu, memory) < std::tie(o.gpu, o.constraint, o.cpu, o.memory);
}

bool GpuWorkloadModel::Observe(int64_t gpu, int64_t cpu, int64_t memory, uint16_t constraint, int units) {
  if (units < 1) return false;
  Key key{std::max<int64_t>(gpu, 0), Bucket(std::max<int64_t>(cpu, 0)), Bucket(std::max<int64_t>(memory, 0)),
          constraint};
  double w = UnitWeight(key.gpu) * units;
  auto it = weights_.find(key);
  if (it != weights_.end()) {
    it->second += w;
  } else if (weights_.size() < kMaxClasses) {
    weights_.emplace(key, w);
  } else {
    // Space-Saving (Metwally et al., 2005): the lightest class makes room and the new one inherits its
    // weight, so a class that keeps arriving climbs into the kept set while the total stays exact. (Ties go
    // to the first in key order.)
    auto lightest = weights_.begin();
    for (auto j = weights_.begin(); j != weights_.end(); ++j)
      if (j->second < lightest->second) lightest = j;
    double inherited = lightest->second;
    weights_.erase(lightest);
    weights_.emplace(key, inherited + w);
  }
  total_ += w;
  pending_ += w;
  if (total_ > kHalveAbove) {
    for (auto& [k, v] : weights_) v /= 2;
    total_ /= 2;
    pending_ /= 2;
  }
  if (snapshot_.empty() || pending_ >= kRetake * total_) {
    Snapshot();
    return true;
  }
  return false;
}

void GpuWorkloadModel::Snapshot() {
  double sum = 0;
  for (const auto& [k, w] : weights_) sum += w;
  snapshot_.clear();
  snapshot_constraint_.clear();
  for (const auto& [k, w] : weights_) {
    GpuWorkloadClass c;
    c.gpu = k.gpu;
    c.cpu = k.cpu;
    c.memory = k.memory;
    c.weight = sum > 0 ? w / sum : 0;
    snapshot_.push_back(std::move(c));
    snapshot_constraint_.push_back(k.constraint);
  }
  pending_ = 0;
  generation_++;
}

void GpuWorkloadModel::SetFixed(std::vector<GpuWorkloadClass> classes, std::vector<uint16_t> constraints) {
  std::vector<size_t> order(classes.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(classes[a].gpu, constraints[a], classes[a].cpu, classes[a].memory) <
           std::tie(classes[b].gpu, constraints[b], classes[b].cpu, classes[b].memory);
  });
  double sum = 0;
  for (const auto& c : classes) sum += c.weight;
  weights_.clear();
  snapshot_.clear();
  snapshot_constraint_.clear();
  for (size_t i : order) {
    snapshot_.push_back(classes[i]);
    snapshot_.back().weight = sum > 0 ? classes[i].weight / sum : 0;
    snapshot_constraint_.push_back(constraints[i]);
  }
  total_ = sum;
  pending_ = 0;
  generation_++;
}

// ---- the memo ----

namespace {
size_t SlotOf(const FragmentationMemo::Key& k, size_t slots) {
  return FragmentationMemo::Hash(k) & (slots - 1);
}
}  // namespace

uint64_t FragmentationMemo::Hash(const Key& k) {
  uint64_t h = Mix(0, static_cast<uint64_t>(k.cpu));
  h = Mix(h, static_cast<uint64_t>(k.memory));
  h = Mix(h, k.mask);
  h = Mix(h, k.devices);
  uint64_t packed[FragmentationMemo::kMaxDevices / 4];
  std::memcpy(packed, k.free, sizeof(packed));
  for (uint64_t p : packed) h = Mix(h, p);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return h;
}

const double* FragmentationMemo::Find(const Key& k, uint64_t generation, size_t* slot) const {
  *slot = SlotOf(k, kSlots);
  const Entry& e = entries_[*slot];
  return e.generation == generation && e.key == k ? &e.f : nullptr;
}

void FragmentationMemo::Put(size_t slot, const Key& k, uint64_t generation, double f) {
  entries_[slot] = Entry{generation, k, f};
}

// ---- the engine's state ----

uint16_t GpuFragmentationState::Intern(const std::string& gpu_model, const Labels& selector) {
  if (gpu_model.empty() && selector.empty()) return 0;
  std::string key = gpu_model;
  for (const auto& [k, v] : selector) key += '\n' + k + '=' + v;
  auto it = constraint_index.find(key);
  if (it != constraint_index.end()) return it->second;
  if (constraints.size() >= kMaxConstraints) return 0;
  constraints.emplace_back(gpu_model, selector);
  auto id = static_cast<uint16_t>(constraints.size());
  constraint_index.emplace(std::move(key), id);
  return id;
}

double GpuFragmentationState::Measure(const int16_t* sorted_free, size_t devices, int64_t cpu_free,
                                      int64_t memory_free, uint64_t mask) {
  const auto& classes = model.classes();
  if (devices == 0 || classes.empty()) return 0;
  FragmentationMemo::Key key;
  size_t slot = 0;
  bool memoise = devices <= FragmentationMemo::kMaxDevices;
  if (memoise) {
    key = FragmentationMemo::Key::Of(sorted_free, devices, cpu_free, memory_free, mask);
    if (const double* f = memo.Find(key, model.generation(), &slot)) return *f;
  }
  scratch_free.assign(sorted_free, sorted_free + devices);
  std::span<const uint8_t> allowed;
  if (!constraints.empty()) {
    const auto& ids = model.constraints();
    scratch_allowed.resize(ids.size());
    for (size_t i = 0; i < ids.size(); i++)
      scratch_allowed[i] = ids[i] < 64 && ((mask >> ids[i]) & 1) ? 1 : 0;
    allowed = scratch_allowed;
  }
  double f = GpuFragmentation(scratch_free, cpu_free, memory_free, classes, allowed);
  if (memoise) memo.Put(slot, key, model.generation(), f);
  return f;
}

double GpuFragmentationState::Delta(const std::vector<int16_t>& device_free, int64_t cpu_free,
                                    int64_t memory_free, uint64_t mask, const Pod& pod, int16_t* best_free) {
  *best_free = -1;
  size_t nd = device_free.size();
  // Device lists live on the stack for up to 32 devices (a scan scores every node: no allocation per node).
  constexpr size_t kInline = 32;
  int16_t dev_inline[kInline], after_inline[kInline];
  std::unique_ptr<int16_t[]> heap(nd > kInline ? new int16_t[2 * nd] : nullptr);
  int16_t* dev = nd > kInline ? heap.get() : dev_inline;
  int16_t* after = nd > kInline ? heap.get() + nd : after_inline;
  std::copy(device_free.begin(), device_free.end(), dev);
  std::sort(dev, dev + nd);

  // Recent answers for this request: a scan meets many nodes in the same state (idle nodes of one shape).
  if (pod.gpu != recent_pod.gpu || pod.cpu != recent_pod.cpu || pod.memory != recent_pod.memory ||
      recent_generation != model.generation()) {
    recent_pod = pod;
    recent_generation = model.generation();
    recent_stamp++;
  }
  FragmentationMemo::Key key;
  size_t slot = 0;
  bool cache = nd <= FragmentationMemo::kMaxDevices;
  if (cache) {
    key = FragmentationMemo::Key::Of(dev, nd, cpu_free, memory_free, mask);
    slot = FragmentationMemo::Hash(key) % kRecent;
    const Recent& r = recent[slot];
    if (r.stamp == recent_stamp && r.key == key) {
      *best_free = r.best_free;
      return r.delta;
    }
  }

  int64_t cpu_after = cpu_free - pod.cpu, memory_after = memory_free - pod.memory;
  double before = Measure(dev, nd, cpu_free, memory_free, mask), delta;
  if (pod.gpu <= 0) {
    delta = Measure(dev, nd, cpu_after, memory_after, mask) - before;
  } else if (pod.gpu >= 1000) {
    // Any wholly free devices leave the same multiset: take them from the top of the ascending order.
    std::copy(dev, dev + nd, after);
    int64_t k = pod.gpu / 1000;
    for (size_t i = nd; i-- > 0 && k > 0 && after[i] >= 1000; k--) after[i] = 0;
    std::sort(after, after + nd);
    delta = Measure(after, nd, cpu_after, memory_after, mask) - before;
  } else {
    // A share: try each distinct free amount that holds it, fullest first; ties keep the fuller device.
    double best = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < nd; i++) {
      if (dev[i] < pod.gpu || (i > 0 && dev[i] == dev[i - 1])) continue;
      std::copy(dev, dev + nd, after);
      after[i] = static_cast<int16_t>(dev[i] - pod.gpu);
      for (size_t j = i; j > 0 && after[j] < after[j - 1]; j--) std::swap(after[j], after[j - 1]);
      double f = Measure(after, nd, cpu_after, memory_after, mask);
      if (f < best - 1e-9) {
        best = f;
        *best_free = dev[i];
      }
    }
    delta = *best_free < 0 ? 0 : best - before;  // no device holds it: filtered out before scoring
  }
  if (cache) recent[slot] = Recent{recent_stamp, key, delta, *best_free};
  return delta;
}

// ---- the scorer ----

namespace {

bool ModelListHas(std::string_view models, const std::string& model) {
  while (true) {
    size_t bar = models.find('|');
    if (models.substr(0, bar) == model) return true;
    if (bar == std::string_view::npos) return false;
    models = models.substr(bar + 1);
  }
}

// Scores a node by the growth of its expected GPU fragmentation (EngineOptions::gpu_workload) and gives a
// share the device that grows it least. Learns the workload from Observe unless the options fixed it.
class GpuFragmentationScorer final : public Scorer {
 public:
  const char* name() const override { return "gpu-fragmentation"; }
  bool UsesNonZeroRequests() const override { return false; }

  int64_t Score(const NodeView& nodes, const Alloc& a, uint32_t ni) override {
    double d = Delta(nodes, a, ni, nullptr);
    double s = static_cast<double>(kMaxNodeScore) / 2 * (1 - d / (std::fabs(d) + 1000));
    return std::clamp<int64_t>(static_cast<int64_t>(std::floor(s + 0.5)), 0, kMaxNodeScore);  // s >= 0
  }

  int ShareDevice(const NodeView& nodes, const Alloc& a, uint32_t ni) override {
    int device = -1;
    Delta(nodes, a, ni, &device);
    return device;
  }

  void Observe(const Alloc& a) override {
    if (!st_.learn) return;
    uint16_t constraint = 0;
    if (a.extra) constraint = st_.Intern(a.extra->gpu_model, a.extra->selector);
    st_.model.Observe(a.req.Get(kGpu), a.req.Get(kCpu), a.req.Get(kMemory), constraint, a.count);
  }

  // Validates and applies a fixed workload (EngineOptions::gpu_workload); empty: learn it.
  Status Init(const std::vector<GpuWorkloadClass>& workload) {
    if (workload.empty()) return Status::Ok();
    std::vector<uint16_t> ids;
    for (size_t i = 0; i < workload.size(); i++) {
      const GpuWorkloadClass& c = workload[i];
      std::string where = "gpu_workload[" + std::to_string(i) + "]";
      if (c.gpu < 0 || (c.gpu > 1000 && c.gpu % 1000 != 0)) {
        return InvalidArgument(where + ".gpu must be a share of one device (below 1000m) or whole devices");
      }
      if (c.cpu < 0 || c.memory < 0) return InvalidArgument(where + ": cpu and memory must not be negative");
      if (!(c.weight > 0) || !std::isfinite(c.weight)) return InvalidArgument(where + ".weight must be positive");
      ids.push_back(st_.Intern(c.gpu_model, {}));
    }
    st_.learn = false;
    st_.model.SetFixed(workload, std::move(ids));
    return Status::Ok();
  }

 private:
  // Bit c set when node constraint c allows `ni` (bit 0 always); cached per node until the topology moves.
  uint64_t NodeMask(const NodeView& nodes, uint32_t ni) {
    if (st_.constraints.empty()) return 1;
    if (st_.node_mask.size() < nodes.size()) {
      st_.node_mask.resize(nodes.size(), 0);
      st_.node_mask_epoch.resize(nodes.size(), 0);
      st_.node_mask_count.resize(nodes.size(), 0);
    }
    if (st_.node_mask_epoch[ni] == nodes.topology_epoch() && st_.node_mask_count[ni] == st_.constraints.size()) {
      return st_.node_mask[ni];
    }
    const Labels& labels = nodes.labels(ni);
    uint64_t mask = 1;
    for (size_t c = 0; c < st_.constraints.size(); c++) {
      const auto& [models, selector] = st_.constraints[c];
      bool ok = true;
      for (const auto& [k, v] : selector) {
        auto it = labels.find(k);
        if (it == labels.end() || it->second != v) {
          ok = false;
          break;
        }
      }
      if (ok && !models.empty()) {
        auto it = labels.find("gpu_model");
        ok = it != labels.end() && ModelListHas(models, it->second);
      }
      if (ok) mask |= uint64_t{1} << (c + 1);
    }
    st_.node_mask[ni] = mask;
    st_.node_mask_epoch[ni] = nodes.topology_epoch();
    st_.node_mask_count[ni] = static_cast<uint16_t>(st_.constraints.size());
    return mask;
  }

  // F after - F before of one unit of `a` on `ni`, and in *device the device a share takes (-1 if none).
  double Delta(const NodeView& nodes, const Alloc& a, uint32_t ni, int* device) {
    if (device != nullptr) *device = -1;
    const std::vector<int16_t>& gpu_free = nodes.gpu_free(ni);
    if (gpu_free.empty()) return 0;  // no devices: F is 0 before and after
    GpuFragmentationState::Pod pod{a.req.Get(kGpu), a.req.Get(kCpu), a.req.Get(kMemory)};
    int16_t best_free = -1;
    double d = st_.Delta(gpu_free, nodes.free(kCpu, ni), nodes.free(kMemory, ni), NodeMask(nodes, ni), pod, &best_free);
    if (device != nullptr && best_free >= 0) {
      for (size_t i = 0; i < gpu_free.size(); i++)
        if (gpu_free[i] == best_free) {
          *device = static_cast<int>(i);
          break;
        }
    }
    return d;
  }

  GpuFragmentationState st_;
};

}  // namespace

Result<std::unique_ptr<Scorer>> MakeGpuFragmentation(const EngineOptions& options) {
  auto scorer = std::make_unique<GpuFragmentationScorer>();
  if (Status st = scorer->Init(options.gpu_workload); !st.ok()) return Error{st.code(), st.message()};
  return std::unique_ptr<Scorer>(std::move(scorer));
}

}  // namespace engine
}  // namespace allot
