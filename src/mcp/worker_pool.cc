#include "mcp/worker_pool.h"

namespace mcpaudit {

WorkerPool::WorkerPool(size_t threads, size_t queue_capacity) : queue_(queue_capacity) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      std::vector<std::function<void()>> batch;
      while (queue_.PopBatch(batch, 1)) {
        for (auto& task : batch) task();
        batch.clear();
      }
    });
  }
}

WorkerPool::~WorkerPool() {
  queue_.Close();
  threads_.clear();  // joins
}

bool WorkerPool::Submit(std::function<void()> task) {
  return queue_.Push(std::move(task), /*wait=*/true) == PushResult::kOk;
}

}  // namespace mcpaudit
