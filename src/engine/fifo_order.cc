// FIFO queue order (fair_share: none): priority levels high to low, each in submission order.
#include "engine/queue_order.h"

namespace allot::engine {
namespace {

class FifoOrder final : public QueueOrder {
 public:
  const char* name() const override { return "none"; }

  void Begin(const QueueView& q) override {
    levels_.clear();
    for (const auto& [prio, v] : q.queue.levels()) levels_.push_back(&v);
    level_ = 0;
    pos_ = 0;
  }

  uint32_t Next(const QueueView& q) override {
    while (true) {
      while (level_ < levels_.size() && pos_ >= levels_[level_]->size()) {
        level_++;
        pos_ = 0;
      }
      if (level_ >= levels_.size()) return kNone;
      const RunQueue::Entry& e = (*levels_[level_])[pos_++];
      if (q.IsQueued(e)) return e.first;  // stale entries (removed lazily) are skipped
    }
  }

 private:
  std::vector<const std::vector<RunQueue::Entry>*> levels_;  // reused across passes
  size_t level_ = 0, pos_ = 0;
};

}  // namespace

Result<std::unique_ptr<QueueOrder>> MakeFifoOrder(const EngineOptions&) {
  return std::unique_ptr<QueueOrder>(std::make_unique<FifoOrder>());
}

}  // namespace allot::engine
