#include "mcpaudit/clock.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace mcpaudit {

std::chrono::system_clock::time_point SystemClock::Now() const {
  return std::chrono::system_clock::now();
}

std::chrono::steady_clock::time_point SystemClock::Monotonic() const {
  return std::chrono::steady_clock::now();
}

namespace {

void FillFromOpenSsl(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    // Without randomness no id or salt can be trusted; this is not recoverable.
    std::fputs("mcp-audit: the OpenSSL random generator failed\n", stderr);
    std::abort();
  }
}

// Bumped in a forked child, so that it never hands out its parent's buffered bytes.
std::atomic<uint64_t> fork_generation{0};

// Every record takes a few dozen random bytes (its id, the salts of its erasable
// fields); one RAND_bytes call per record costs more than the rest of the record.
// Each thread draws 4 KiB at a time from the OpenSSL generator and hands them out
// once each, wiping what it handed out.
class RandomPool {
 public:
  void Take(std::span<uint8_t> out) {
    if (out.size() > sizeof bytes_ / 8) return FillFromOpenSsl(out);
    const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    if (used_ + out.size() > sizeof bytes_ || generation != generation_) {
      FillFromOpenSsl(bytes_);
      used_ = 0;
      generation_ = generation;
    }
    std::memcpy(out.data(), bytes_.data() + used_, out.size());
    std::memset(bytes_.data() + used_, 0, out.size());
    used_ += out.size();
  }

 private:
  std::array<uint8_t, 4096> bytes_{};
  size_t used_ = sizeof bytes_;
  uint64_t generation_ = 0;
};

}  // namespace

RandomSource SecureRandom() {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  return [](std::span<uint8_t> out) {
    thread_local RandomPool pool;
    pool.Take(out);
  };
}

std::string NewUuidV7(std::chrono::system_clock::time_point now, const RandomSource& random) {
  std::array<uint8_t, 16> bytes{};
  random(std::span<uint8_t>(bytes).subspan(6));
  const uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  // Its 74 random bits (rand_a, then rand_b: what the version and variant leave).
  auto bits_of = [](const std::array<uint8_t, 16>& b) {
    unsigned __int128 v = b[6] & 0x0f;
    v = (v << 8) | b[7];
    v = (v << 6) | (b[8] & 0x3f);
    for (int i = 9; i < 16; ++i) v = (v << 8) | b[i];
    return v;
  };
  // Within one millisecond, ids of this process go up (RFC 9562 6.2, monotonic
  // random): the previous id's bits plus a random step, so ids sort the way
  // their records were made.
  {
    static std::mutex mutex;
    static uint64_t last_ms = 0;
    static unsigned __int128 last_bits = 0;
    constexpr unsigned __int128 kLimit = static_cast<unsigned __int128>(1) << 74;
    std::lock_guard lock(mutex);
    unsigned __int128 value = bits_of(bytes);
    if (ms == last_ms) {
      const unsigned __int128 step = 1 + (value & 0xffffffff);
      if (last_bits + step < kLimit) value = last_bits + step;
    }
    last_ms = ms;
    last_bits = value;
    for (int i = 15; i >= 9; --i, value >>= 8) bytes[i] = static_cast<uint8_t>(value);
    bytes[8] = static_cast<uint8_t>(value & 0x3f);
    value >>= 6;
    bytes[7] = static_cast<uint8_t>(value);
    bytes[6] = static_cast<uint8_t>((value >> 8) & 0x0f);
  }
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  bytes[6] = static_cast<uint8_t>(0x70 | (bytes[6] & 0x0f));  // version 7
  bytes[8] = static_cast<uint8_t>(0x80 | (bytes[8] & 0x3f));  // RFC 9562 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

}  // namespace mcpaudit
