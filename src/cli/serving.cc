// What the commands that serve share: signals, and the address to listen on.
#include "cli/serving.h"

#include <charconv>

#include "base/ops_log.h"

namespace mcpaudit::cli {

sigset_t WatchedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

SignalWatcher::SignalWatcher(std::stop_source stop, std::function<void()> on_hangup) {
  if (on_hangup) {
    reloads_ = std::jthread([this, on_hangup = std::move(on_hangup)](std::stop_token done) {
      std::unique_lock lock(mutex_);
      while (hangup_.wait(lock, done, [this] { return hangup_pending_; })) {
        hangup_pending_ = false;
        lock.unlock();
        OpsLog().info("SIGHUP: reading the configuration again");
        on_hangup();
        lock.lock();
      }
    });
  }
  signals_ = std::jthread([this, set = WatchedSignals(), stop,
                           reloads = reloads_.joinable()](std::stop_token done) mutable {
    const timespec tick{0, 200'000'000};
    while (!done.stop_requested()) {
      int signal = sigtimedwait(&set, nullptr, &tick);
      if (signal == SIGHUP) {
        if (reloads) {
          std::lock_guard lock(mutex_);
          hangup_pending_ = true;
          hangup_.notify_one();
        } else {
          OpsLog().info("SIGHUP: nothing to reload");
        }
      } else if (signal == SIGINT || signal == SIGTERM) {
        OpsLog().info("stopping: finishing the calls in flight");
        stop.request_stop();
      }
    }
  });
}

Status ParseListen(const std::string& listen, HttpOptions& http) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "--http: '" + listen + "' is not HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  std::string host = listen.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, error] =
      std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port);
  if (error != std::errc() || end != listen.data() + listen.size() || port > 65535) {
    return Fail(ErrorCode::kInvalidArgument,
                "--http: '" + listen.substr(colon + 1) + "' is not a port number");
  }
  http.host = host;
  http.port = static_cast<uint16_t>(port);
  return {};
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace mcpaudit::cli
