// What the commands that serve share: signals, and the address to listen on.
#pragma once

#include <signal.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "mcpaudit/http_transport.h"
#include "mcpaudit/result.h"

namespace mcpaudit::cli {

// SIGINT, SIGTERM and SIGHUP: blocked in every thread, taken by a SignalWatcher.
sigset_t WatchedSignals();

// Handles SIGINT/SIGTERM (stop) and SIGHUP (`on_hangup`: a reload) on
// threads of their own, so that no handler runs in the middle of the server's
// work, and a reload that waits (for a client that reads nothing) never keeps
// SIGTERM from stopping the server. SIGHUPs that come during a reload make one
// more. The signals must be blocked before any thread starts (pthread_sigmask
// with WatchedSignals()).
class SignalWatcher {
 public:
  explicit SignalWatcher(std::stop_source stop, std::function<void()> on_hangup = {});

 private:
  std::mutex mutex_;
  std::condition_variable_any hangup_;
  bool hangup_pending_ = false;  // guarded by mutex_
  std::jthread reloads_;         // runs on_hangup
  std::jthread signals_;         // last: stopped first
};

// "HOST:PORT" or "[V6]:PORT" into http.host and http.port.
[[nodiscard]] Status ParseListen(const std::string& listen, HttpOptions& http);

bool IsLoopback(const std::string& host);

}  // namespace mcpaudit::cli
