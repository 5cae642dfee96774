// A bounded multi-producer queue with an explicit overflow policy, drained in
// batches by its consumers. Every queue in mcpaudit has a bound and a policy.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <iterator>
#include <mutex>
#include <vector>

namespace mcpaudit {

enum class PushResult { kOk, kFull, kClosed };

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Waits for room when `wait` is true; otherwise answers kFull at once. A
  // sleeping consumer is woken once more than `wake_above` items are queued: a
  // consumer that polls on its own can be left asleep while a few items gather
  // (waking it costs the pushing thread a system call).
  PushResult Push(T item, bool wait, size_t wake_above = 0) {
    std::unique_lock lock(mutex_);
    if (wait && items_.size() >= capacity_ && !closed_) {
      ++waiting_producers_;
      not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
      --waiting_producers_;
    }
    if (closed_) return PushResult::kClosed;
    if (items_.size() >= capacity_) return PushResult::kFull;
    items_.push_back(std::move(item));
    // Wake a consumer only when one sleeps: a busy consumer finds the item
    // itself, and the hot path saves a system call.
    if (waiting_consumers_ > 0 && items_.size() > wake_above) not_empty_.notify_one();
    return PushResult::kOk;
  }

  // Moves up to `max` items into `out` (appending), waiting for at least one.
  // Returns false when the queue is closed and empty: the consumer should stop.
  bool PopBatch(std::vector<T>& out, size_t max) {
    std::unique_lock lock(mutex_);
    if (!closed_ && items_.empty()) {
      ++waiting_consumers_;
      not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
      --waiting_consumers_;
    }
    if (items_.empty()) return false;
    TakeLocked(out, max);
    return true;
  }

  // As PopBatch, but gives up after `timeout` with nothing taken. Returns false
  // only when the queue is closed and empty.
  template <typename Duration>
  bool PopBatchFor(std::vector<T>& out, size_t max, Duration timeout) {
    std::unique_lock lock(mutex_);
    if (!closed_ && items_.empty()) {
      ++waiting_consumers_;
      not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
      --waiting_consumers_;
    }
    if (items_.empty()) return !closed_;
    TakeLocked(out, max);
    return true;
  }

  // Refuses further pushes; consumers still drain what is queued.
  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  size_t capacity() const { return capacity_; }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  void TakeLocked(std::vector<T>& out, size_t max) {
    const size_t n = std::min(max, items_.size());
    if (out.empty() && n == items_.size()) {
      // The common case, in constant time: producers wait for this lock.
      out.swap(items_);
    } else {
      std::move(items_.begin(), items_.begin() + n, std::back_inserter(out));
      items_.erase(items_.begin(), items_.begin() + n);
    }
    if (waiting_producers_ > 0) not_full_.notify_all();
  }

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::vector<T> items_;  // guarded by mutex_; swapped with the consumer's batch
  bool closed_ = false;  // guarded by mutex_
  int waiting_consumers_ = 0;  // guarded by mutex_
  int waiting_producers_ = 0;  // guarded by mutex_
};

}  // namespace mcpaudit
