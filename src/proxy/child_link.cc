// The upstream as a child process on pipes: one JSON-RPC message per line on
// its stdin and stdout, its stderr to the operational log. Its stdin is
// written on a thread of its own (a LineWriter), so that a sender waits for a
// child that reads nothing only once kMaxQueuedLines wait for it, and not at
// all once the link closes or the proxy stops and the child has taken
// nothing for kStopGrace. The child leads a process group of its own, so that
// stopping it also stops what it started (an `npx` or `sh -c` wrapper's
// server), and the proxy stops even if something it started keeps the
// child's output open.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/line_writer.h"
#include "base/ops_log.h"
#include "proxy/line_reader.h"
#include "proxy/upstream_link.h"

namespace mcpaudit {
namespace {

// For the child to end once its input is closed, and for each signal to its group.
constexpr auto kEndGrace = std::chrono::seconds(5);
constexpr auto kSignalGrace = std::chrono::seconds(2);

class ChildLink final : public UpstreamLink {
 public:
  ChildLink(std::vector<std::string> command, size_t max_message_bytes, std::stop_token stopping)
      : command_(std::move(command)),
        name_(command_.front()),
        max_message_bytes_(max_message_bytes),
        stopping_proxy_(std::move(stopping)) {}
  ~ChildLink() override { Stop(); }

  bool Start(Events events) override {
    events_ = std::move(events);
    int to_child[2] = {-1, -1}, from_child[2] = {-1, -1}, child_err[2] = {-1, -1};
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0 ||
        ::pipe2(child_err, O_CLOEXEC) != 0) {
      OpsLog().error("proxy: cannot make pipes: {}", std::strerror(errno));
      for (int fd :
           {to_child[0], to_child[1], from_child[0], from_child[1], child_err[0], child_err[1]})
        if (fd >= 0) ::close(fd);
      return false;
    }
    std::vector<std::string> command = command_;
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The server's own signals: none blocked (the proxy blocks SIGINT/SIGTERM for its watcher).
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);  // ignored by the proxy; a pipeline in the server expects it
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::dup2(child_err[1], 2);
      if (::setpgid(0, 0) != 0) {
        std::fprintf(stderr, "cannot start %s: no process group of its own: %s\n",
                     command[0].c_str(), std::strerror(errno));
        ::_exit(127);
      }
      std::vector<char*> argv;
      for (auto& arg : command) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "cannot start %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    if (pid > 0)
      ::setpgid(pid, pid);  // as the child does, so that no signal to the group misses it
    ::close(to_child[0]);
    ::close(from_child[1]);
    ::close(child_err[1]);
    if (pid < 0) {
      OpsLog().error("proxy: cannot start the upstream: {}", std::strerror(errno));
      for (int fd : {to_child[1], from_child[0], child_err[0]}) ::close(fd);
      return false;
    }
    {
      std::lock_guard lock(mutex_);
      child_ = pid;
      output_reading_ = std::stop_source();
      errors_reading_ = std::stop_source();
      running_ = true;
      output_open_ = true;
      errors_open_ = true;
      stopping_ = false;
    }
    {
      std::lock_guard lock(input_mutex_);
      closing_ = std::stop_source();
      on_proxy_stop_ = std::make_unique<std::stop_callback<std::function<void()>>>(
          stopping_proxy_, [closing = closing_]() mutable { closing.request_stop(); });
      input_fd_ = to_child[1];
      input_ = std::make_unique<LineWriter>(
          input_fd_, "proxy: cannot write to the upstream " + name_, closing_.get_token());
    }
    const int out_fd = from_child[0], err_fd = child_err[0];
    errors_ = std::thread([this, err_fd, reading = errors_reading_.get_token()] {
      LineReader reader(err_fd, reading);
      for (std::string line; reader.Next(line);) OpsLog().info("upstream: {}", line);
      ::close(err_fd);
      std::lock_guard lock(mutex_);
      errors_open_ = false;
      ended_.notify_all();
    });
    answers_ = std::thread([this, out_fd, pid, reading = output_reading_.get_token()] {
      Answers(out_fd, pid, reading);
    });
    return true;
  }

  bool Send(const std::string& message) override {
    std::lock_guard lock(input_mutex_);
    return input_ && input_->Send(message);
  }

  void Stop() override {
    CloseInput();
    std::vector<std::string_view> held;  // what a process the child started still holds open
    {
      std::unique_lock lock(mutex_);
      const auto read = [&] { return !output_open_; };
      if (child_ > 0 && !ended_.wait_for(lock, kEndGrace, read)) {
        stopping_ = true;  // its end by our signal is not a failure of its own
        // What left the group (setsid) can still hold the child's output open.
        if (!SignalGroupUntil(lock, read)) {
          output_reading_.request_stop();
          held.push_back("output");
        }
      }
    }
    if (answers_.joinable()) answers_.join();
    {
      // The child has ended, unreaped, so its group's number is still its
      // own: what it left in the group is asked to stop, and made to if it
      // holds the child's stderr open.
      std::unique_lock lock(mutex_);
      if (child_ > 0) {
        if (!SignalGroupUntil(lock, [&] { return !errors_open_; })) {
          errors_reading_.request_stop();
          held.push_back("stderr");
        }
        ::waitpid(child_, nullptr, 0);
        child_ = -1;
      }
    }
    for (const std::string_view what : held)
      OpsLog().warn(
          "proxy: the upstream {} was stopped, but a process it started still holds its {} open; "
          "no longer read",
          name_, what);
    if (errors_.joinable()) errors_.join();
  }

  const std::string& name() const override { return name_; }

 private:
  // The child's process group and the child (in case it left the group).
  // Only while the child is unreaped: its number cannot name another process.
  static void SignalGroup(pid_t child, int signal) {
    ::kill(-child, signal);
    ::kill(child, signal);
  }

  // SIGTERM, then SIGKILL, to the child's group until `done` (mutex_ held);
  // false if it still is not.
  bool SignalGroupUntil(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done) {
    for (const int signal : {SIGTERM, SIGKILL}) {
      SignalGroup(child_, signal);
      if (ended_.wait_for(lock, kSignalGrace, done)) return true;
    }
    return false;
  }

  // Upstream to session, until the child closes its output (or Stop gives up
  // on it); then its end.
  void Answers(int fd, pid_t pid, std::stop_token reading) {
    LineReader reader(fd, std::move(reading), max_message_bytes_);
    for (std::string line; reader.Next(line);) {
      if (reader.oversized()) {
        OpsLog().error("proxy: the upstream {} sent a message larger than {} bytes; dropped", name_,
                       max_message_bytes_);
        continue;
      }
      events_.message(std::move(line), std::nullopt);
    }
    {
      std::lock_guard lock(mutex_);
      output_open_ = false;
      ended_.notify_all();
    }
    ::close(fd);
    CloseInput();  // writes to it fail from now on (the session sees the upstream gone)
    const siginfo_t status = AwaitEnd(pid);
    const bool exited = status.si_code == CLD_EXITED;
    UpstreamEnd end;
    end.failure = exited ? status.si_status != 0 : !stopping_;
    end.details = {{"command", name_},
                   {"exit_code", exited ? status.si_status : -1},
                   {"signal", exited ? 0 : status.si_status}};
    end.description = name_ + " ended (" + (exited ? "exit code " : "signal ") +
                      std::to_string(status.si_status) + ")";
    events_.ended(std::move(end));
    std::lock_guard lock(mutex_);
    running_ = false;
    ended_.notify_all();
  }

  // Waits for the child to end: a few seconds, then asks its group to stop,
  // then makes it. The child is left unreaped (Stop reaps it).
  static siginfo_t AwaitEnd(pid_t pid) {
    constexpr auto kStep = std::chrono::milliseconds(50);
    siginfo_t end{};
    auto ended_within = [&](std::chrono::milliseconds limit) {
      for (std::chrono::milliseconds waited{0}; waited < limit; waited += kStep) {
        end.si_pid = 0;
        if (::waitid(P_PID, static_cast<id_t>(pid), &end, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            end.si_pid == pid)
          return true;
        std::this_thread::sleep_for(kStep);
      }
      return false;
    };
    if (ended_within(kEndGrace)) return end;
    SignalGroup(pid, SIGTERM);
    if (ended_within(kSignalGrace)) return end;
    SignalGroup(pid, SIGKILL);
    ::waitid(P_PID, static_cast<id_t>(pid), &end, WEXITED | WNOWAIT);
    return end;
  }

  // Sends fail from now on; what is queued is written while the child takes
  // it (kStopGrace at most without progress), then its input is closed.
  void CloseInput() {
    closing_.request_stop();  // first: a Send waiting for room holds input_mutex_
    std::unique_ptr<LineWriter> input;
    int fd = -1;
    {
      std::lock_guard lock(input_mutex_);
      input = std::move(input_);
      fd = std::exchange(input_fd_, -1);
      on_proxy_stop_.reset();
    }
    input.reset();
    if (fd >= 0) ::close(fd);
  }

  const std::vector<std::string> command_;
  const std::string name_;
  const size_t max_message_bytes_;
  Events events_;
  const std::stop_token stopping_proxy_;
  // Assigned by Start only (before the answers thread exists); requested from
  // any thread by CloseInput, or when the proxy stops: the input gives up on
  // a child that takes nothing.
  std::stop_source closing_;
  std::mutex input_mutex_;  // guards what follows up to mutex_
  std::unique_ptr<std::stop_callback<std::function<void()>>> on_proxy_stop_;
  int input_fd_ = -1;
  std::unique_ptr<LineWriter> input_;  // the child's input
  std::mutex mutex_;                   // guards what follows up to stopping_
  std::condition_variable ended_;
  pid_t child_ = -1;  // until Stop reaps it
  // Requested by Stop only, when what the child started holds its output
  // (stderr) open after the child was made to stop: it is no longer read.
  std::stop_source output_reading_, errors_reading_;
  bool running_ = false;      // the answers thread has not reported the end yet
  bool output_open_ = false;  // the child's output is being read
  bool errors_open_ = false;  // the child's stderr is being read
  std::atomic<bool> stopping_ = false;
  std::thread answers_, errors_;
};

}  // namespace

std::unique_ptr<UpstreamLink> MakeChildLink(std::vector<std::string> command,
                                            size_t max_message_bytes, std::stop_token stopping) {
  return std::make_unique<ChildLink>(std::move(command), max_message_bytes, std::move(stopping));
}

}  // namespace mcpaudit
