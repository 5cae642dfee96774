// Lines from a pipe or a socket. A line longer than the limit is not kept: it
// is read to its end and reported as oversized, so that one huge message
// cannot exhaust the memory, and the lines after it are read as usual.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <stop_token>
#include <string>

namespace mcpaudit {

class LineReader {
 public:
  explicit LineReader(int fd, std::stop_token stop = {}, size_t max_bytes = 16 * 1024 * 1024)
      : fd_(fd), stop_(std::move(stop)), max_bytes_(max_bytes) {}

  // The next line (without its line break) into `line`; false at the end of
  // input or when stop was requested. After a line over the limit, `line` is
  // empty and oversized() is true.
  bool Next(std::string& line) {
    oversized_ = false;
    while (true) {
      if (const size_t nl = buffer_.find('\n', scanned_); nl != std::string::npos) {
        line.assign(buffer_, 0, nl);
        buffer_.erase(0, nl + 1);
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (skipping_ || line.size() > max_bytes_) {  // (the end of) a line over the limit
          skipping_ = false;
          oversized_ = true;
          line.clear();
        }
        return true;
      }
      if (buffer_.size() > max_bytes_) {  // no line break yet: the line is over the limit
        skipping_ = true;
        buffer_.clear();
      }
      scanned_ = buffer_.size();
      if (stop_.stop_possible()) {
        // Wait in short steps, so that a stop request is noticed.
        pollfd readable{fd_, POLLIN, 0};
        const int ready = ::poll(&readable, 1, 200);
        if (stop_.stop_requested()) return false;
        if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
      }
      char chunk[65536];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (buffer_.empty() && !skipping_) return false;
        line.swap(buffer_);  // a last line without its line break
        buffer_.clear();
        scanned_ = 0;
        if (skipping_) {
          skipping_ = false;
          oversized_ = true;
          line.clear();
        }
        return true;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // The last line was over the limit (and is not returned).
  bool oversized() const { return oversized_; }

 private:
  int fd_;
  std::stop_token stop_;
  size_t max_bytes_;
  std::string buffer_;
  size_t scanned_ = 0;
  bool skipping_ = false;
  bool oversized_ = false;
};

}  // namespace mcpaudit
