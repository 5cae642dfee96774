#include "mcpaudit/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ops_log.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <variant>

#include "base/audit_files.h"
#include "base/bounded_queue.h"
#include "mcpaudit/clock.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;

using FlushPromise = std::shared_ptr<std::promise<Status>>;
// A queued item: one serialised event line, or a flush marker.
using Item = std::variant<std::string, FlushPromise>;

constexpr size_t kMaxBatch = 4096;

}  // namespace

struct FileSink::State {
  FileSinkOptions options;
  fs::path active;
  BoundedQueue<Item> queue{options.queue_capacity};

  std::atomic<bool> reopen_requested{false};
  std::atomic<uint64_t> accepted{0}, dropped{0}, written{0}, failed{0}, rotations{0};
  std::atomic<uint64_t> unreported_drops{0};

  // Owned by the writer thread once it runs.
  int fd = -1;
  uint64_t file_bytes = 0;
  std::string pending;  // bytes taken from the queue, not yet written
  uint64_t pending_events = 0;
  std::jthread writer;

  explicit State(FileSinkOptions o) : options(std::move(o)), active(options.directory / options.file_name) {}

  Status OpenActive() {
    auto fd_or = OpenAuditFile(active);
    if (!fd_or) return std::unexpected(fd_or.error());
    fd = *fd_or;
    struct stat st{};
    file_bytes = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    SyncDirectory(options.directory);
    return {};
  }

  void CloseActive() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // Moves the active file to audit-<UTC time>-<n>.jsonl and starts a new one.
  // Names sort in the order the files were written (n counts rotations within
  // one millisecond).
  Status Rotate() {
    CloseActive();
    std::string stamp;
    for (char c : FormatTimestamp(std::chrono::system_clock::now()))
      if (c != '-' && c != ':') stamp.push_back(c);
    const std::string stem = fs::path(options.file_name).stem().string();
    fs::path target;
    for (int n = 0; target.empty() || fs::exists(target); ++n) {
      char suffix[16];
      std::snprintf(suffix, sizeof suffix, "-%06d", n);
      target = options.directory / (stem + "-" + stamp + suffix + ".jsonl");
    }
    if (::rename(active.c_str(), target.c_str()) != 0) {
      Error error = ErrnoError("cannot rotate", active);
      (void)OpenActive();
      return std::unexpected(error);
    }
    rotations.fetch_add(1, std::memory_order_relaxed);
    return OpenActive();
  }

  // Writes `pending` to the file. On failure what was not written stays pending.
  Status WritePending() {
    if (reopen_requested.exchange(false)) {
      CloseActive();
    }
    if (fd < 0) {
      if (auto opened = OpenActive(); !opened) return opened;
    }
    if (file_bytes > 0 && file_bytes + pending.size() > options.max_file_bytes) {
      if (auto rotated = Rotate(); !rotated) OpsLog().error("audit file: {}", rotated.error().message);
      if (fd < 0) return Fail(ErrorCode::kIo, "audit file is not open");
    }
    const size_t done = WriteAll(fd, pending);
    file_bytes += done;
    if (done < pending.size()) {
      Error error = ErrnoError("cannot write", active);
      pending.erase(0, done);  // the rest is retried
      return std::unexpected(error);
    }
    pending.clear();
    return {};
  }

  std::string DroppedEventLine(uint64_t count) {
    AuditEvent event;
    event.timestamp = std::chrono::system_clock::now();
    event.id = NewUuidV7(event.timestamp, SecureRandom());
    event.event_type = "audit_dropped";
    event.outcome = Outcome::kFailure;
    event.error = AuditError{0, std::to_string(count) + " audit events were dropped: the queue was full",
                             "queue_full"};
    event.details = {{"dropped", count}};
    return ToJsonLine(event) + "\n";
  }

  void Run() {
    std::vector<Item> batch;
    std::vector<FlushPromise> flushes;
    bool open = true;
    int failures_in_row = 0;
    while (open || !pending.empty()) {
      if (open) {
        // While a write is failing, take nothing new: the queue's bound applies.
        if (pending.empty()) open = queue.PopBatch(batch, kMaxBatch);
        for (auto& item : batch) {
          if (auto* line = std::get_if<std::string>(&item)) {
            pending += *line;
            ++pending_events;
          } else {
            flushes.push_back(std::get<FlushPromise>(std::move(item)));
          }
        }
        batch.clear();
        if (uint64_t drops = unreported_drops.exchange(0); drops > 0) {
          pending += DroppedEventLine(drops);
          ++pending_events;
        }
      }
      Status status = pending.empty() ? Status{} : WritePending();
      if (status) {
        written.fetch_add(pending_events, std::memory_order_relaxed);
        pending_events = 0;
        failures_in_row = 0;
      } else {
        failed.fetch_add(pending_events, std::memory_order_relaxed);
        if (failures_in_row++ % 50 == 0) OpsLog().error("audit file: {} (retrying)", status.error().message);
        if (!open && failures_in_row > 50) {
          OpsLog().error("audit file: giving up on {} unwritten events at shutdown", pending_events);
          pending.clear();
        }
      }
      for (auto& flush : flushes) flush->set_value(status);
      flushes.clear();
      if (!status) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CloseActive();
  }
};

FileSink::FileSink(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<FileSink>> FileSink::Open(FileSinkOptions options) {
  if (auto made = EnsureAuditDirectory(options.directory); !made) return std::unexpected(made.error());
  auto state = std::make_unique<State>(std::move(options));
  if (auto opened = state->OpenActive(); !opened) return std::unexpected(opened.error());
  State* raw = state.get();
  state->writer = std::jthread([raw] { raw->Run(); });
  return std::unique_ptr<FileSink>(new FileSink(std::move(state)));
}

FileSink::~FileSink() {
  state_->queue.Close();
  if (state_->writer.joinable()) state_->writer.join();
}

Status FileSink::Log(const AuditEvent& event) {
  std::string line = ToJsonLine(event);
  line.push_back('\n');
  const bool wait = state_->options.overflow == OverflowPolicy::kBlock;
  switch (state_->queue.Push(std::move(line), wait)) {
    case PushResult::kOk:
      state_->accepted.fetch_add(1, std::memory_order_relaxed);
      return {};
    case PushResult::kFull:
      state_->dropped.fetch_add(1, std::memory_order_relaxed);
      state_->unreported_drops.fetch_add(1, std::memory_order_relaxed);
      return Fail(ErrorCode::kUnavailable, "audit queue full: event dropped");
    case PushResult::kClosed:
      break;
  }
  return Fail(ErrorCode::kUnavailable, "audit file sink is closed");
}

std::future<Status> FileSink::Flush() {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  if (state_->queue.Push(promise, /*wait=*/true) != PushResult::kOk)
    promise->set_value(Fail(ErrorCode::kUnavailable, "audit file sink is closed"));
  return future;
}

void FileSink::RequestReopen() { state_->reopen_requested.store(true, std::memory_order_relaxed); }

FileSinkCounters FileSink::counters() const {
  return {state_->accepted.load(), state_->dropped.load(), state_->written.load(), state_->failed.load(),
          state_->rotations.load()};
}

const std::filesystem::path& FileSink::active_path() const { return state_->active; }

}  // namespace mcpaudit
