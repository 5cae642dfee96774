#include "base/line_writer.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/audit_files.h"
#include "base/ops_log.h"

namespace mcpaudit {

LineWriter::LineWriter(int fd, std::string failure)
    : fd_(fd), failure_(std::move(failure)), thread_([this] { Run(); }) {}

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
  while (queue_.PopBatch(lines, 64)) {
    out.clear();
    for (const std::string& line : lines) out += line;
    lines.clear();
    if (broken()) continue;  // drained and dropped: nobody reads them
    if (WriteAll(fd_, out) != out.size()) {
      broken_.store(true, std::memory_order_relaxed);
      OpsLog().error("{}: {}", failure_, std::strerror(errno));
    }
  }
}

}  // namespace mcpaudit
