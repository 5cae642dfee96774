#include "base/line_writer.h"

#include <limits.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "base/audit_files.h"
#include "base/ops_log.h"

namespace mcpaudit {

LineWriter::LineWriter(int fd, std::string failure, std::stop_token stopping)
    : fd_(fd),
      failure_(std::move(failure)),
      stopping_(std::move(stopping)),
      thread_([this] { Run(); }) {}

LineWriter::~LineWriter() {
  queue_.Close();
  thread_.join();
}

bool LineWriter::Send(std::string text) {
  if (broken()) return false;
  text.push_back('\n');
  return queue_.Push(std::move(text), /*wait=*/true) == PushResult::kOk;
}

void LineWriter::Run() {
  std::vector<std::string> lines;
  std::string out;
  size_t dropped = 0;  // drained once nobody reads them
  while (queue_.PopBatch(lines, 64)) {
    out.clear();
    for (const std::string& line : lines) out += line;
    if (broken() || !Write(out)) {
      GiveUp();
      dropped += lines.size();
    }
    lines.clear();
  }
  if (dropped > 0) OpsLog().warn("{}: {} messages were not written", failure_, dropped);
}

bool LineWriter::Write(std::string_view text) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> idle_since;  // stopping, and the reader took nothing
  while (!text.empty()) {
    pollfd room{fd_, POLLOUT, 0};
    const int polled = ::poll(&room, 1, 200);
    if (polled < 0 && errno != EINTR) {
      OpsLog().error("{}: {}", failure_, std::strerror(errno));
      return false;
    }
    if (polled <= 0) {
      if (!stopping_.stop_requested()) continue;
      if (!idle_since) idle_since = Clock::now();
      if (Clock::now() - *idle_since < kStopGrace) continue;
      OpsLog().error("{}: it took nothing for {} s while stopping; what is left is dropped",
                     failure_, kStopGrace.count());
      return false;
    }
    // At most PIPE_BUF bytes once a pipe or socket has room: a write that
    // does not block (on a terminal it may).
    const std::string_view chunk = text.substr(0, PIPE_BUF);
    if (WriteAll(fd_, chunk) != chunk.size()) {
      OpsLog().error("{}: {}", failure_, std::strerror(errno));
      return false;
    }
    text.remove_prefix(chunk.size());
    idle_since.reset();
  }
  return true;
}

void LineWriter::GiveUp() {
  broken_.store(true, std::memory_order_relaxed);
  queue_.Close();
}

}  // namespace mcpaudit
