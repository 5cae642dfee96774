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
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string_view>
#include <thread>
#include <utility>

#include "base/line_writer.h"
#include "base/ops_log.h"
#include "proxy/line_reader.h"
#include "proxy/upstream_link.h"

namespace mcpaudit {
namespace {

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
    int to_child[2], from_child[2], child_err[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0 ||
        ::pipe2(child_err, O_CLOEXEC) != 0) {
      OpsLog().error("proxy: cannot make pipes: {}", std::strerror(errno));
      return false;
    }
    std::vector<std::string> command = command_;
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The server's own signals: none blocked (the proxy blocks SIGINT/SIGTERM for its watcher).
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::setpgid(0, 0);
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::dup2(child_err[1], 2);
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
      reading_ = std::stop_source();
      running_ = true;
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
    errors_ = std::thread([this, err_fd, reading = reading_.get_token()] {
      LineReader reader(err_fd, reading);
      for (std::string line; reader.Next(line);) OpsLog().info("upstream: {}", line);
      ::close(err_fd);
      std::lock_guard lock(mutex_);
      errors_open_ = false;
      ended_.notify_all();
    });
    answers_ = std::thread(
        [this, out_fd, pid, reading = reading_.get_token()] { Answers(out_fd, pid, reading); });
    return true;
  }

  bool Send(const std::string& message) override {
    std::lock_guard lock(input_mutex_);
    return input_ && input_->Send(message);
  }

  void Stop() override {
    CloseInput();
    {
      std::unique_lock lock(mutex_);
      const auto ended = [&] { return !running_; };
      if (!ended_.wait_for(lock, std::chrono::seconds(5), ended) && child_ > 0) {
        stopping_ = true;  // its end by our signal is not a failure of its own
        ::kill(-child_, SIGTERM);
        if (!ended_.wait_for(lock, std::chrono::seconds(2), ended)) {
          ::kill(-child_, SIGKILL);
          // What left the group (setsid) can still hold the child's output open.
          if (!ended_.wait_for(lock, std::chrono::seconds(2), ended)) GiveUpReading("output");
        }
      }
    }
    if (answers_.joinable()) answers_.join();
    {
      // What the child wrote to its stderr is read; what it started can hold that open too.
      std::unique_lock lock(mutex_);
      if (!ended_.wait_for(lock, std::chrono::seconds(2), [&] { return !errors_open_; }))
        GiveUpReading("stderr");
    }
    if (errors_.joinable()) errors_.join();
  }

  const std::string& name() const override { return name_; }

 private:
  // Something the child started and that left its process group (setsid) holds
  // the child's `what` open: it is no longer read.
  void GiveUpReading(std::string_view what) {
    OpsLog().warn(
        "proxy: the upstream {} was stopped, but a process it started still holds its {} open; "
        "no longer read",
        name_, what);
    reading_.request_stop();
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
    ::close(fd);
    CloseInput();  // writes to it fail from now on (the session sees the upstream gone)
    const int status = Reap(pid);
    UpstreamEnd end;
    end.failure = !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !(stopping_ && WIFSIGNALED(status));
    end.details = {{"command", name_},
                   {"exit_code", WIFEXITED(status) ? WEXITSTATUS(status) : -1},
                   {"signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0}};
    end.description = name_ + " ended (" +
                      (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                         : "signal " + std::to_string(WTERMSIG(status))) +
                      ")";
    events_.ended(std::move(end));
    std::lock_guard lock(mutex_);
    running_ = false;
    ended_.notify_all();
  }

  // Waits for the child to exit: a few seconds, then asks its group to stop, then makes it.
  static int Reap(pid_t pid) {
    int status = 0;
    auto wait_for = [&](int steps) {
      for (int i = 0; i < steps; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      return false;
    };
    if (wait_for(100)) return status;
    ::kill(-pid, SIGTERM);
    if (wait_for(40)) return status;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return status;
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
  std::mutex mutex_;
  std::condition_variable ended_;
  pid_t child_ = -1;
  std::stop_source reading_;  // requested by Stop only: the threads give up on the child's output
  bool running_ = false;  // the answers thread has not reported the end yet
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
