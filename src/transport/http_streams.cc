#include "transport/http_streams.h"

#include <charconv>

namespace mcpaudit::httpd {

std::optional<std::pair<uint64_t, uint64_t>> ParseEventId(std::string_view text) {
  const size_t sep = text.find('_');
  if (sep == std::string_view::npos) return std::nullopt;
  uint64_t stream = 0, seq = 0;
  auto [end1, error1] = std::from_chars(text.data(), text.data() + sep, stream);
  auto [end2, error2] = std::from_chars(text.data() + sep + 1, text.data() + text.size(), seq);
  if (error1 != std::errc() || error2 != std::errc() || end1 != text.data() + sep ||
      end2 != text.data() + text.size()) {
    return std::nullopt;
  }
  return std::pair{stream, seq};
}

std::string EventText(uint64_t stream, const SseEvent& event) {
  std::string text =
      "id: " + std::to_string(stream) + "_" + std::to_string(event.seq) + "\nevent: message\n";
  text += "data: ";
  text += event.data;  // one line: JSON text never holds a raw newline
  text += "\n\n";
  return text;
}

}  // namespace mcpaudit::httpd
