// The gpu-fragmentation scorer's state (the strategy is described at EngineOptions::gpu_workload in
// include/allot/engine.h; the Scorer is in gpu_fragmentation.cc): the expected workload, learned online from submitted requests or fixed by the
// options; the node constraints its classes carry; and a memo of the fragmentation measure by node state.
//
// Invariants: the snapshot's weights sum to 1 (or it is empty) and change only when generation() moves;
// a memo entry is valid only for the generation it was computed under.
// Thread-safety: none; the engine serialises access.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/engine.h"

namespace allot::engine {

// An online histogram of request classes, keyed by (gpu milli, bucketed cpu, bucketed memory, constraint).
class GpuWorkloadModel {
 public:
  static constexpr size_t kMaxClasses = 256;
  static constexpr double kHalveAbove = 8192;  // GPUs of demand; every weight is halved beyond
  static constexpr double kRetake = 1.0 / 16;  // snapshot again when this share of the total is new

  // A cpu or memory amount as classes keep it: rounded up to 4 significant bits (at most 12.5 % more).
  static int64_t Bucket(int64_t v);
  // What one unit weighs: its GPUs, at least one.
  static double UnitWeight(int64_t gpu) { return gpu > 1000 ? static_cast<double>(gpu) / 1000 : 1.0; }

  // Adds `units` units asking for (gpu, cpu, memory) under node constraint `constraint` (0: none).
  // Returns true when the snapshot was retaken.
  bool Observe(int64_t gpu, int64_t cpu, int64_t memory, uint16_t constraint, int units);
  // Replaces the model by a fixed workload (weights are normalised here). REQUIRES: equal-length vectors.
  void SetFixed(std::vector<GpuWorkloadClass> classes, std::vector<uint16_t> constraints);

  // The snapshot used for scoring, ordered by (gpu, constraint, cpu, memory); weights sum to 1.
  const std::vector<GpuWorkloadClass>& classes() const { return snapshot_; }
  const std::vector<uint16_t>& constraints() const { return snapshot_constraint_; }  // per snapshot class
  uint64_t generation() const { return generation_; }
  size_t size() const { return weights_.size(); }  // classes in the histogram (<= kMaxClasses)
  double total() const { return total_; }          // GPUs of demand the histogram holds

 private:
  struct Key {
    int64_t gpu, cpu, memory;
    uint16_t constraint;
    bool operator==(const Key&) const = default;
    bool operator<(const Key& o) const;
  };
  void Snapshot();

  std::map<Key, double> weights_;  // at most kMaxClasses
  double total_ = 0, pending_ = 0;
  std::vector<GpuWorkloadClass> snapshot_;
  std::vector<uint16_t> snapshot_constraint_;
  uint64_t generation_ = 0;
};

// F by node state, memoised: (free cpu, free memory, mask of the constraints the node satisfies, multiset of
// free device milli) -> F. Direct-mapped (a newer state overwrites an older one in its slot), bounded size.
class FragmentationMemo {
 public:
  static constexpr size_t kMaxDevices = 16;  // nodes with more devices are not memoised
  struct Key {
    int64_t cpu = 0, memory = 0;
    uint64_t mask = 0;
    uint32_t devices = 0;
    int16_t free[kMaxDevices] = {};  // ascending, zero beyond `devices`
    bool operator==(const Key&) const = default;
    // `devices` <= kMaxDevices, `sorted_free` ascending.
    static Key Of(const int16_t* sorted_free, size_t devices, int64_t cpu_free, int64_t memory_free, uint64_t mask) {
      Key k;
      k.cpu = cpu_free;
      k.memory = memory_free;
      k.mask = mask;
      k.devices = static_cast<uint32_t>(devices);
      std::copy(sorted_free, sorted_free + devices, k.free);
      return k;
    }
  };
  FragmentationMemo() : entries_(kSlots) {}
  static uint64_t Hash(const Key& k);
  // The cached F of `k` under `generation`, or nullptr; *slot receives where Put should store it.
  const double* Find(const Key& k, uint64_t generation, size_t* slot) const;
  void Put(size_t slot, const Key& k, uint64_t generation, double f);

 private:
  static constexpr size_t kSlots = 1u << 15;
  struct Entry {
    uint64_t generation = 0;  // 0: empty (generations start at 1)
    Key key;
    double f = 0;
  };
  std::vector<Entry> entries_;
};

struct GpuFragmentationState {
  GpuWorkloadModel model;
  bool learn = true;                             // false when EngineOptions::gpu_workload fixed the workload
  static constexpr size_t kMaxConstraints = 63;  // ids 1-63; more count as unconstrained (0)
  std::vector<std::pair<std::string, Labels>> constraints;  // id - 1 -> (gpu_model, selector)
  std::unordered_map<std::string, uint16_t> constraint_index;
  // Per node: bit c set when constraint c allows it (bit 0 always), valid while its epoch and the
  // constraint count are those it was computed at.
  std::vector<uint64_t> node_mask, node_mask_epoch;
  std::vector<uint16_t> node_mask_count;
  FragmentationMemo memo;
  std::vector<int32_t> scratch_free;
  std::vector<uint8_t> scratch_allowed;

  // The id of (gpu_model, selector); 0 when both are empty or the table is full.
  uint16_t Intern(const std::string& gpu_model, const Labels& selector);
  // F of a node whose device free milli are `sorted_free` (ascending), under the current snapshot.
  double Measure(const int16_t* sorted_free, size_t devices, int64_t cpu_free, int64_t memory_free,
                 uint64_t mask);

  // What one unit asks for.
  struct Pod {
    int64_t gpu = 0, cpu = 0, memory = 0;
  };
  // F after - F before of `pod` on a node with these free amounts (its devices in their order); a share
  // goes to the device that minimises F after, ties to the fullest: *best_free receives that device's
  // free milli (-1 for whole devices or none). REQUIRES: the pod fits.
  double Delta(const std::vector<int16_t>& device_free, int64_t cpu_free, int64_t memory_free, uint64_t mask,
               const Pod& pod, int16_t* best_free);

 private:
  // Recent Delta answers for the current pod (a scan meets many nodes in the same state).
  static constexpr size_t kRecent = 61;
  struct Recent {
    uint64_t stamp = 0;  // recent_stamp it was computed under; 0: empty
    FragmentationMemo::Key key;
    double delta = 0;
    int16_t best_free = -1;
  };
  Recent recent[kRecent];
  Pod recent_pod{-1, -1, -1};
  uint64_t recent_generation = 0, recent_stamp = 0;
};

}  // namespace allot::engine
