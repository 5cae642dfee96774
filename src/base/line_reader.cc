#include "base/line_reader.h"

namespace mcpaudit {

LineRead ReadLineWithin(std::istream& in, std::string& line, size_t max) {
  LineRead read;
  line.clear();
  char chunk[64 * 1024];
  while (true) {
    in.getline(chunk, sizeof chunk);
    const auto got = static_cast<size_t>(in.gcount());  // the '\n' included, when it was read
    read.bytes += got;
    // The '\n' was read unless the stream ended (eofbit) or the chunk filled
    // first (failbit alone: the line goes on).
    const bool ended = !in.fail() && !in.eof();
    const size_t text = ended ? got - 1 : got;
    if (!read.too_long && line.size() + text > max) {
      read.too_long = true;
      line.clear();
      line.shrink_to_fit();
    }
    if (!read.too_long) line.append(chunk, text);
    if (ended) {
      read.complete = true;
      return read;
    }
    if (in.eof() || in.bad()) return read;
    in.clear();  // the chunk was full: read on
  }
}

}  // namespace mcpaudit
