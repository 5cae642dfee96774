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
  Closing();
  queue_.Close();
  thread_.join();
}

void LineWriter::Send(std::string text) {
  if (broken()) return;
  text.push_back('\n');
  (void)queue_.Push(std::move(text), /*wait=*/true);
}

void LineWriter::Run() {
  std::vector<std::string> lines;
  std::string out;
  while (queue_.PopBatch(lines, 64)) {
    out.clear();
    for (const std::string& line : lines) out += line;
    lines.clear();
    if (broken()) continue;  // drained and dropped: nobody reads them
    if (!Write(out)) GiveUp();
  }
}

bool LineWriter::Write(std::string_view text) {
  using Clock = std::chrono::steady_clock;
  // At most PIPE_BUF bytes once the pipe has room: such a write never blocks,
  // so the writer can see the server stop while the reader takes nothing.
  constexpr size_t kChunk = PIPE_BUF;
  std::optional<Clock::time_point> idle_since;  // stopping, and the reader took nothing
  while (!text.empty()) {
    pollfd ready{fd_, POLLOUT, 0};
    const int polled = ::poll(&ready, 1, 200);
    if (polled < 0 && errno != EINTR) {
      OpsLog().error("{}: {}", failure_, std::strerror(errno));
      return false;
    }
    if (polled <= 0) {
      if (!stopping_.stop_requested() && !closing_.load(std::memory_order_relaxed)) continue;
      if (!idle_since) idle_since = Clock::now();
      if (Clock::now() - *idle_since < kStopGrace) continue;
      OpsLog().error("{}: it took nothing for {} s while the server stops; what is left is dropped",
                     failure_, kStopGrace.count());
      return false;
    }
    const std::string_view chunk = text.substr(0, kChunk);
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
