// A fixed set of threads running submitted tasks. The queue is bounded: Submit
// waits for a place, which slows a client that sends faster than tools finish
// (the HTTP transport asks Full() first and answers "busy" instead).
#pragma once

#include <functional>
#include <thread>
#include <vector>

#include "base/bounded_queue.h"

namespace mcpaudit {

class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t queue_capacity);
  ~WorkerPool();  // runs what is queued, then joins

  // False when the pool is shutting down (the task was not taken).
  bool Submit(std::function<void()> task);
  // Whether a task submitted now would wait: every thread is busy and the
  // queue is full.
  bool Full() const { return queue_.size() >= queue_.capacity(); }

 private:
  BoundedQueue<std::function<void()>> queue_;
  std::vector<std::jthread> threads_;
};

}  // namespace mcpaudit
