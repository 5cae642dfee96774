// Server-sent events (the WHATWG event-stream format) read as they arrive, in
// pieces of any size: "data:" lines joined by line breaks, "id:" the stream's
// last event id, "retry:" its reconnection delay, an empty line dispatches the
// event. Events with a type other than "message" and comments are skipped.
#pragma once

#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mcpaudit {

class SseReader {
 public:
  // Reads `bytes`; calls `on_event(std::string data)` for every complete event.
  // False (and nothing more is read) when a line or an event outgrows `max_bytes`.
  template <typename OnEvent>
  bool Feed(std::string_view bytes, OnEvent&& on_event) {
    buffer_.append(bytes);
    size_t start = 0;
    while (true) {
      const size_t end = buffer_.find_first_of("\r\n", start);
      if (end == std::string::npos) break;
      // A line ends at CR, LF or CRLF; a CR at the end of a piece waits for a possible LF.
      if (buffer_[end] == '\r' && end + 1 == buffer_.size()) break;
      const std::string_view line(buffer_.data() + start, end - start);
      start = end + (buffer_[end] == '\r' && buffer_[end + 1] == '\n' ? 2 : 1);
      if (!Line(line, on_event)) return false;
    }
    buffer_.erase(0, start);
    return buffer_.size() <= max_bytes_;
  }

  void set_max_bytes(size_t max_bytes) { max_bytes_ = max_bytes; }
  // The last "id:" seen (what Last-Event-ID sends back when resuming); a
  // stream that resumes another starts from that one's.
  const std::string& last_event_id() const { return last_event_id_; }
  void set_last_event_id(std::string id) { last_event_id_ = std::move(id); }
  // The last "retry:" seen.
  std::optional<std::chrono::milliseconds> retry() const { return retry_; }

 private:
  template <typename OnEvent>
  bool Line(std::string_view line, OnEvent& on_event) {
    if (line.empty()) {  // the end of an event
      if (has_data_ && (type_.empty() || type_ == "message")) on_event(std::move(data_));
      data_.clear();
      type_.clear();
      has_data_ = false;
      return true;
    }
    if (line.front() == ':') return true;  // a comment (keep-alive)
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) data_ += '\n';
      data_.append(value);
      has_data_ = true;
      return data_.size() <= max_bytes_;
    }
    if (field == "event") type_.assign(value);
    if (field == "id" && value.find('\0') == std::string_view::npos) last_event_id_.assign(value);
    if (field == "retry") {
      unsigned long ms = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), ms);
      if (error == std::errc() && end == value.data() + value.size()) retry_ = std::chrono::milliseconds(ms);
    }
    return true;
  }

  size_t max_bytes_ = 16 * 1024 * 1024;
  std::string buffer_;
  std::string data_, type_, last_event_id_;
  bool has_data_ = false;
  std::optional<std::chrono::milliseconds> retry_;
};

}  // namespace mcpaudit
