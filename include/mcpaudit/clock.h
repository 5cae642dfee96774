// Time and identifiers, behind interfaces so that tests can make them exact.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace mcpaudit {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;       // wall time, for records
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0; // for durations
};

// The real clocks. Thread-safe.
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override;
  std::chrono::steady_clock::time_point Monotonic() const override;
};

// Fills the span with random bytes.
using RandomSource = std::function<void(std::span<uint8_t>)>;
// Cryptographically strong bytes from OpenSSL. Thread-safe.
RandomSource SecureRandom();

// RFC 9562 UUID version 7: time-ordered, so ids sort like the records they name.
std::string NewUuidV7(std::chrono::system_clock::time_point now, const RandomSource& random);

}  // namespace mcpaudit
