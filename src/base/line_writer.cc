#include "base/line_writer.h"

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

void LineWriter::Send(std::string text) {
  if (broken()) return;
  text.push_back('\n');
  (void)queue_.Push(std::move(text), /*wait=*/true);
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
  bool given_up = false;
  const size_t written = WriteAsTaken(fd_, text, [&] {
    if (!stopping_.stop_requested()) return false;
    if (!idle_since) idle_since = Clock::now();
    given_up = Clock::now() - *idle_since >= kStopGrace;
    return given_up;
  });
  if (written == text.size()) return true;
  if (given_up)
    OpsLog().error("{}: it took nothing for {} s while the server stops; what is left is dropped",
                   failure_, kStopGrace.count());
  else
    OpsLog().error("{}: {}", failure_, std::strerror(errno));
  return false;
}

void LineWriter::GiveUp() {
  broken_.store(true, std::memory_order_relaxed);
  queue_.Close();
}

}  // namespace mcpaudit
