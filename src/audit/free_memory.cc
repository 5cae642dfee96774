#include "audit/free_memory.h"

#include <malloc.h>

#include <atomic>
#include <chrono>

namespace mcpaudit {

void ReleaseFreeMemory() {
  // At most ten times a second, whoever asks: it takes every arena's lock, and a
  // caller sending huge bodies back to back must not stall everyone with it.
  static std::atomic<int64_t> last{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t before = last.load(std::memory_order_relaxed);
  if (now - before < 100 || !last.compare_exchange_strong(before, now)) return;
  ::malloc_trim(0);
}

}  // namespace mcpaudit
