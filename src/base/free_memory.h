// Giving memory back after a huge message. A message of 3 MB with 200,000
// keys becomes some 400 MB of JSON nodes while it is read, copied into its
// record and shipped; once freed, the allocator keeps those pages for reuse
// that seldom comes. Each thread that handled such a message (the reader, the
// journal's writer, a shipper) gives them back to the system once done with it.
#pragma once

#include <cstddef>

namespace mcpaudit {

// A message or record above this size is huge.
inline constexpr size_t kLargeMessageBytes = 1 << 20;

// Returns the free memory of every allocator arena to the system (malloc_trim).
// Costs about a millisecond: after huge messages only. With `often_at_most`
// (an I/O thread, which a caller sending huge bodies back to back must not
// stall), at most ten times a second.
void ReleaseFreeMemory(bool often_at_most = false);

// Calls ReleaseFreeMemory when it goes out of scope, if it was made for a huge message.
class ReleaseFreeMemoryAfter {
 public:
  explicit ReleaseFreeMemoryAfter(bool huge, bool often_at_most = false) : huge_(huge), limited_(often_at_most) {}
  ~ReleaseFreeMemoryAfter() {
    if (huge_) ReleaseFreeMemory(limited_);
  }
  ReleaseFreeMemoryAfter(const ReleaseFreeMemoryAfter&) = delete;
  ReleaseFreeMemoryAfter& operator=(const ReleaseFreeMemoryAfter&) = delete;

 private:
  bool huge_;
  bool limited_;
};

}  // namespace mcpaudit
