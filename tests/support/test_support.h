// Fakes for the interfaces that touch the outside world: the audit logger and
// the clock. They make tests exact: no sleeps, no races.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "mcpaudit/audit_logger.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit::testing {

// Keeps every event it is given, in order. Thread-safe.
class RecordingLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent& event) override {
    std::lock_guard lock(mutex_);
    if (refuse_) return Fail(ErrorCode::kUnavailable, "refused by the test");
    events_.push_back(event);
    return {};
  }
  Status Ready() const override {
    std::lock_guard lock(mutex_);
    if (!ready_) return Fail(ErrorCode::kUnavailable, "not ready in the test");
    return {};
  }
  void set_ready(bool ready) {
    std::lock_guard lock(mutex_);
    ready_ = ready;
  }
  std::vector<AuditEvent> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  // The events but the sessions' starts and ends.
  std::vector<AuditEvent> calls() const {
    std::vector<AuditEvent> calls = events();
    std::erase_if(calls, [](const AuditEvent& e) { return e.event_type.starts_with("session_"); });
    return calls;
  }
  void set_refuse(bool refuse) {
    std::lock_guard lock(mutex_);
    refuse_ = refuse;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<AuditEvent> events_;
  bool refuse_ = false;
  bool ready_ = true;
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return wall_; }
  std::chrono::steady_clock::time_point Monotonic() const override { return mono_; }
  void Advance(std::chrono::nanoseconds d) {
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    mono_ += d;
  }
  // Moves time on each time a handler runs, to give calls a known duration.
  std::chrono::system_clock::time_point wall_ =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1705314600000));  // 2024-01-15T10:30:00Z
  std::chrono::steady_clock::time_point mono_{};
};

// Deterministic "random" bytes: 0x00, 0x01, 0x02, ...
inline RandomSource CountingRandom() {
  return [counter = uint8_t{0}](std::span<uint8_t> out) mutable {
    for (auto& b : out) b = counter++;
  };
}

// Registers the tool `echo`: answers "<text> from <caller's user id>".
inline void RegisterEchoTool(Toolkit& toolkit) {
  ToolDefinition echo;
  echo.name = "echo";
  echo.input_schema = {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}};
  EXPECT_TRUE(toolkit.Register(echo, [](const RequestContext& ctx, const nlohmann::json& args) -> Result<ToolResult> {
    return ToolResult::Text(args.value("text", "") + " from " + ctx.identity.user_id);
  }).has_value());
}

}  // namespace mcpaudit::testing
