// Lines for a reader at the other end of a pipe (a stdio client, a child
// upstream's input), written on a thread of their own: whoever sends (a
// worker, or the audit log's writer telling a durable call that its record is
// on disk) never waits for a reader that is slow, unless kMaxQueuedLines are
// already waiting for it. A reader that takes nothing for kStopGrace once the
// owner stops is given up on, so that it cannot keep the owner from stopping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "base/bounded_queue.h"

namespace mcpaudit {

class LineWriter {
 public:
  static constexpr size_t kMaxQueuedLines = 4096;
  static constexpr std::chrono::seconds kStopGrace{5};

  // `fd` stays open while the writer lives; `failure` begins what is logged
  // when the reader is gone (and how many queued lines it did not get). Once
  // `stopping` is requested, a reader that takes nothing for kStopGrace is
  // given up on: what is queued is dropped, and Send no longer waits.
  LineWriter(int fd, std::string failure, std::stop_token stopping = {});
  // Writes what is queued (while the reader takes it), then stops.
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Queues `text` and a newline, waiting while kMaxQueuedLines wait; false
  // (and dropped) once the reader is gone or given up on. Thread-safe.
  [[nodiscard]] bool Send(std::string text);
  // The reader is gone: nothing more is written.
  bool broken() const { return broken_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Writes `text` as the reader takes it; false when it cannot (logged).
  bool Write(std::string_view text);
  // Nothing more is written, and senders waiting for room go on.
  void GiveUp();

  const int fd_;
  const std::string failure_;
  const std::stop_token stopping_;
  BoundedQueue<std::string> queue_{kMaxQueuedLines};
  std::atomic<bool> broken_{false};
  std::jthread thread_;  // last: started once the rest is ready
};

}  // namespace mcpaudit
