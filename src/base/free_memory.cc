#include "base/free_memory.h"

#include <malloc.h>

#include <atomic>
#include <chrono>

namespace mcpaudit {

void ReleaseFreeMemory(bool often_at_most) {
  if (!often_at_most) {
    ::malloc_trim(0);
    return;
  }
  // It takes every arena's lock: ten times a second at most, for all such callers.
  static std::atomic<int64_t> last{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t before = last.load(std::memory_order_relaxed);
  if (now - before < 100 || !last.compare_exchange_strong(before, now)) return;
  ::malloc_trim(0);
}

}  // namespace mcpaudit
