// Lines from a pipe or a socket, whatever their length.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <stop_token>
#include <string>

namespace mcpaudit {

class LineReader {
 public:
  explicit LineReader(int fd, std::stop_token stop = {}) : fd_(fd), stop_(std::move(stop)) {}
  bool Next(std::string& line) {
    while (true) {
      if (const size_t nl = buffer_.find('\n', scanned_); nl != std::string::npos) {
        line.assign(buffer_, 0, nl);
        buffer_.erase(0, nl + 1);
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
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
        if (buffer_.empty()) return false;
        line.swap(buffer_);  // a last line without its line break
        buffer_.clear();
        scanned_ = 0;
        return true;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::stop_token stop_;
  std::string buffer_;
  size_t scanned_ = 0;
};

}  // namespace mcpaudit
