// Lines for a reader at the other end of a pipe (a stdio client), written on a
// thread of their own: whoever sends (a worker, or the audit log's writer
// telling a durable call that its record is on disk) never waits for a reader
// that is slow, unless kMaxQueuedLines are already waiting for it.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>

#include "base/bounded_queue.h"

namespace mcpaudit {

class LineWriter {
 public:
  static constexpr size_t kMaxQueuedLines = 4096;

  // `fd` stays open while the writer lives; `failure` is logged, once, when the
  // reader is gone.
  LineWriter(int fd, std::string failure);
  // Writes what is queued (while the reader takes it), then stops.
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Queues `text` and a newline. Thread-safe.
  void Send(std::string text);
  // The reader is gone: nothing more is written.
  bool broken() const { return broken_.load(std::memory_order_relaxed); }

 private:
  void Run();

  const int fd_;
  const std::string failure_;
  BoundedQueue<std::string> queue_{kMaxQueuedLines};
  std::atomic<bool> broken_{false};
  std::jthread thread_;  // last: started once the rest is ready
};

}  // namespace mcpaudit
