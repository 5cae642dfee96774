#include "mcpaudit/shipper.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stop_token>
#include <thread>

#include "audit/journal_format.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "base/free_memory.h"
#include "base/line_reader.h"
#include "base/ops_log.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;

struct Cursor {
  std::string segment;  // file name; empty: nothing shipped yet
  uint64_t lines = 0;   // complete lines of `segment` already shipped
  uint64_t offset = 0;  // byte offset after them (0 with lines > 0: not known yet)
};

fs::path CursorDir(const fs::path& journal_dir) { return journal_dir / "shippers"; }

}  // namespace

fs::path DeadLetterPath(const fs::path& journal_dir, const std::string& name) {
  return journal_dir / "shippers" / (name + ".dead-letter.jsonl");
}

namespace {

fs::path CursorPath(const fs::path& journal_dir, const std::string& name) {
  return CursorDir(journal_dir) / (name + ".cursor");
}

Result<Cursor> LoadCursor(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Cursor{};
  auto text = ReadWholeFile(path);
  if (!text) return std::unexpected(text.error());
  auto json = ParseWithin(*text, kMaxRecordDepth);
  if (!json.is_object() || !json.contains("segment") || !json["segment"].is_string() ||
      !json.contains("lines") || !json["lines"].is_number_unsigned() ||
      !(json["segment"] == "" || journal::IsSegmentName(json["segment"].get<std::string>())))
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + ": not a shipper cursor (delete it to ship everything again)");
  return Cursor{json["segment"].get<std::string>(), json["lines"].get<uint64_t>(), 0};
}

// The journal's segments, oldest first.
std::vector<std::string> Segments(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (journal::IsSegmentFile(entry)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Reads up to `max` complete lines of `file` from `cursor`, appending them to
// `lines`; returns the bytes they took (lines end with '\n', which is dropped).
Result<uint64_t> ReadLines(const fs::path& file, Cursor& cursor, size_t max,
                           std::vector<std::string>& lines) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIo, "cannot read " + file.string());
  if (cursor.offset == 0 && cursor.lines > 0) {
    // Resuming from a persisted cursor: count the shipped lines to find the byte.
    std::string skipped;
    uint64_t counted = 0;
    while (counted < cursor.lines) {
      const LineRead read = ReadLineWithin(in, skipped, journal::kMaxLineBytes);
      if (!read.complete) break;  // an unterminated tail is not a line yet
      ++counted;
      cursor.offset += read.bytes;
    }
    if (counted < cursor.lines) {
      return Fail(ErrorCode::kInvalidArgument, file.string() + " has " + std::to_string(counted) +
                                                   " lines but the cursor says " +
                                                   std::to_string(cursor.lines) + " were shipped");
    }
    in.clear();
  }
  in.seekg(static_cast<std::streamoff>(cursor.offset));
  uint64_t bytes = 0;
  std::string line;
  while (lines.size() < max) {
    const LineRead read = ReadLineWithin(in, line, journal::kMaxLineBytes);
    if (!read.complete) break;  // no '\n' yet: the writer is in the middle of it
    bytes += read.bytes;
    // A line longer than any record is not one (and is not kept): an empty one says so.
    lines.push_back(std::move(line));
  }
  return bytes;
}

// Lines of a segment read and parsed: the batch a sink is sent.
struct Batch {
  Cursor from;  // where it starts (its offset found, if it was not known)
  Cursor to;    // the cursor after it
  std::vector<std::string> lines;
  std::vector<Result<AuditEvent>> events;  // each line's record, or why it is not one
  Status read;                             // a failure to read the segment
};

Batch ReadBatch(const fs::path& journal_dir, Cursor from, size_t max) {
  Batch batch;
  batch.from = from;
  auto bytes = ReadLines(journal_dir / from.segment, from, max, batch.lines);
  if (!bytes) {
    batch.read = std::unexpected(bytes.error());
    return batch;
  }
  batch.from = from;
  batch.to = {from.segment, from.lines + batch.lines.size(), from.offset + *bytes};
  batch.events.reserve(batch.lines.size());
  for (const std::string& line : batch.lines) batch.events.push_back(AuditEventFromLine(line));
  return batch;
}

// A thread of the shipper's own that reads and parses the next batch while
// the sink stores the one before, and frees what a stored batch held: the
// sink's round trip, not the shipper, sets the pace.
class ReadAhead {
 public:
  ReadAhead() : thread_([this](std::stop_token stop) { Run(stop); }) {}

  // Starts reading the batch at `from` (a cursor whose offset is known).
  void Start(const fs::path& journal_dir, const Cursor& from, size_t max) {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return !task_; });
    task_ = Task{journal_dir, from, max};
    ready_.reset();
    wake_.notify_all();
  }

  // The batch at `from`, if it is the one read ahead (waits for it); nullopt
  // otherwise (what was read ahead is dropped).
  std::optional<Batch> Take(const Cursor& from) {
    std::unique_lock lock(mutex_);
    if (!task_ && !ready_) return std::nullopt;
    const bool wanted = task_ ? SameStart(task_->from, from) : SameStart(ready_->from, from);
    done_.wait(lock, [&] { return !task_; });
    std::optional<Batch> batch = std::move(ready_);
    ready_.reset();
    if (!wanted) return std::nullopt;
    return batch;
  }

  // Frees what `records` hold on this thread, once it is idle.
  void Free(std::vector<SinkRecord>&& records) {
    std::lock_guard lock(mutex_);
    garbage_.push_back(std::move(records));
    wake_.notify_all();
  }

 private:
  struct Task {
    fs::path journal_dir;
    Cursor from;
    size_t max;
  };

  static bool SameStart(const Cursor& a, const Cursor& b) {
    return a.segment == b.segment && a.lines == b.lines && a.offset == b.offset;
  }

  void Run(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      wake_.wait(lock, stop, [&] { return task_.has_value() || !garbage_.empty(); });
      if (task_) {
        const Task task = *task_;
        lock.unlock();
        Batch batch;
        try {
          batch = ReadBatch(task.journal_dir, task.from, task.max);
        } catch (const std::exception& e) {  // out of memory: dropped, the shipping thread reads it
          batch.from = task.from;
          batch.read = Fail(ErrorCode::kIo, std::string("cannot read ahead: ") + e.what());
        }
        lock.lock();
        ready_ = std::move(batch);
        task_.reset();
        done_.notify_all();
      }
      std::vector<std::vector<SinkRecord>> garbage = std::move(garbage_);
      garbage_.clear();
      lock.unlock();
      garbage.clear();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::condition_variable done_;
  // Guarded by mutex_:
  std::optional<Task> task_;                      // being read
  std::optional<Batch> ready_;                    // read, not taken yet
  std::vector<std::vector<SinkRecord>> garbage_;  // to free
  std::jthread thread_;                           // last: starts once the rest is there
};

// A failure's kind: its message without the figures that change from one
// attempt to the next ("after 10001 milliseconds"), but with its HTTP status
// ("HTTP 401" is not "HTTP 503").
std::string FailureKind(std::string_view message) {
  std::string kind;
  for (size_t i = 0; i < message.size();) {
    const bool digit = message[i] >= '0' && message[i] <= '9';
    if (!digit) {
      kind += message[i++];
      continue;
    }
    const size_t end = std::min(message.find_first_not_of("0123456789", i), message.size());
    kind += kind.ends_with("HTTP ") ? message.substr(i, end - i) : "#";
    i = end;
  }
  return kind;
}

}  // namespace

struct Shipper::State {
  ShipperOptions options;
  std::unique_ptr<Sink> sink;
  fs::path cursor_path;

  std::mutex ship_mutex;  // one pass at a time (the thread, or ShipAll)
  Cursor cursor;          // guarded by ship_mutex
  ReadAhead read_ahead;   // used under ship_mutex
  // Whether the sink took the last batch (guarded by ship_mutex): while it
  // fails, nothing is read ahead (one batch more in memory for nothing).
  bool last_store_ok = true;

  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;     // guarded by mutex
  ShipperCounters counters;  // guarded by mutex
  std::jthread thread;

  Status SaveCursor() {
    nlohmann::json json = {{"segment", cursor.segment}, {"lines", cursor.lines}};
    return ReplaceFileDurably(cursor_path, json.dump() + "\n");
  }

  // One batch (or a move to the next segment). Sets `more` when there may be
  // more to ship right away.
  Status ShipBatch(bool& more, bool& huge) {
    more = false;
    const std::vector<std::string> segments = Segments(options.journal_dir);
    if (segments.empty()) return {};
    if (cursor.segment.empty() ||
        !std::binary_search(segments.begin(), segments.end(), cursor.segment)) {
      // First run, or the segment was removed (retention): go on from the next one there is.
      auto next = std::upper_bound(segments.begin(), segments.end(), cursor.segment);
      if (next == segments.end()) return {};
      if (!cursor.segment.empty())
        OpsLog().warn("shipper {}: segment {} is gone; going on with {}", options.name,
                      cursor.segment, *next);
      cursor = {*next, 0, 0};
    }
    // What was read ahead, unless it found nothing: that may be from before the
    // writer added lines and moved on to a newer segment (listed above), and
    // only a read after the listing may say this segment is complete.
    std::optional<Batch> read = read_ahead.Take(cursor);
    if (read && (!read->read || read->lines.empty())) read.reset();
    if (!read) read = ReadBatch(options.journal_dir, cursor, options.batch_records);
    if (!read->read) return read->read;
    cursor = read->from;
    std::vector<std::string>& lines = read->lines;
    if (lines.empty()) {
      // Read to its end: if the writer has moved on to a newer segment, this one is complete.
      auto newer = std::upper_bound(segments.begin(), segments.end(), cursor.segment);
      if (newer == segments.end()) return {};
      cursor = {*newer, 0, 0};
      more = true;
      return SaveCursor();
    }
    // A full batch: the next one is read while the sink stores this one.
    const bool full = lines.size() == options.batch_records;
    if (full && last_store_ok)
      read_ahead.Start(options.journal_dir, read->to, options.batch_records);
    huge = std::any_of(lines.begin(), lines.end(),
                       [](const std::string& l) { return l.size() > kLargeMessageBytes; });
    std::vector<SinkRecord> batch;
    batch.reserve(lines.size());
    uint64_t unreadable = 0;
    std::vector<Result<AuditEvent>>& events = read->events;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (!events[i]) {
        ++unreadable;
        OpsLog().error("shipper {}: {} line {} is not a record ({}); passed over", options.name,
                       cursor.segment, cursor.lines + i + 1, events[i].error().message);
        continue;
      }
      batch.push_back({std::move(lines[i]), std::move(*events[i])});
    }
    if (!batch.empty()) {
      Status stored = sink->Store(batch);
      last_store_ok = stored.has_value();
      if (!stored) return stored;
    }
    cursor = read->to;
    if (Status saved = SaveCursor(); !saved) return saved;
    {
      std::lock_guard lock(mutex);
      counters.shipped += batch.size();
      counters.unreadable += unreadable;
      ++counters.batches;
    }
    if (!huge) read_ahead.Free(std::move(batch));  // a huge one goes now: its memory is given back
    // A short batch read all there is for now: the next waits for the poll
    // interval (a sink commit per few records would cost the server a core),
    // unless the writer has moved on to a newer segment.
    more = full || cursor.segment != segments.back();
    return {};
  }

  // Ships until nothing is left or a batch fails, and notes how it went
  // (in the order of the passes: a pass's failure never shows after a later
  // pass's success).
  Status ShipAvailable() {
    std::lock_guard lock(ship_mutex);
    Status status = ShipPass();
    Note(status);
    return status;
  }

  Status ShipPass() {
    bool more = true;
    while (more) {
      bool huge =
          false;  // the batch held a huge record: its memory goes back once the batch is gone
      Status status = ShipBatch(more, huge);
      if (huge) ReleaseFreeMemory();
      Publish();
      if (!status) {
        // Read again from the persisted cursor: nothing after it is confirmed.
        cursor.offset = 0;
        return status;
      }
    }
    return {};
  }

  // Where the shipper is, for counters() (the cursor itself is the shipping thread's).
  void Publish() {
    std::lock_guard lock(mutex);
    counters.segment = cursor.segment;
    counters.offset = cursor.offset;
    counters.position_known = cursor.lines == 0 || cursor.offset > 0;
  }

  void Note(const Status& status) {
    std::lock_guard lock(mutex);
    if (status) {
      if (counters.failing)
        OpsLog().warn("shipper {}: the sink is back; shipping the backlog", options.name);
      counters.failing = false;
      return;
    }
    // Every new kind of failure is logged (a timeout after refused connections,
    // say), and a repeated one every 20th time.
    if (!counters.failing ||
        FailureKind(status.error().message) != FailureKind(counters.last_error) ||
        counters.failures % 20 == 0)
      OpsLog().error("shipper {}: {} (records wait in the journal; retrying)", options.name,
                     status.error().message);
    ++counters.failures;
    counters.failing = true;
    counters.last_error = status.error().message;
  }

  enum class Wait { kWaited, kAnswered, kStopping };
  // Waits `pause` before the next pass; with `probe`, while backing off from a
  // destination that did not answer, asks every probe_interval whether it
  // answers again and ends the wait if so (kAnswered; never before the
  // destination's own Retry-After).
  Wait WaitBeforeRetry(std::chrono::milliseconds pause,
                       std::optional<std::chrono::milliseconds> asked, bool probe) {
    const auto now = std::chrono::steady_clock::now();
    const auto end = now + pause;
    const auto no_probe_before = now + asked.value_or(std::chrono::milliseconds(0));
    std::unique_lock lock(mutex);
    if (!probe) return WaitUntil(lock, end);
    while (true) {
      const auto slice = std::min(end, std::chrono::steady_clock::now() + options.probe_interval);
      if (wake.wait_until(lock, slice, [&] { return stopping; })) return Wait::kStopping;
      if (slice >= end) return Wait::kWaited;
      if (slice < no_probe_before || !counters.failing) continue;
      lock.unlock();
      std::optional<bool> answers;
      {
        std::lock_guard ship(ship_mutex);  // the sink is used by one thread at a time
        answers = sink->Answers();
      }
      lock.lock();
      if (!answers) return WaitUntil(lock, end);
      if (*answers) {
        OpsLog().info("shipper {}: the destination answers again; retrying now", options.name);
        return Wait::kAnswered;
      }
    }
  }

  Wait WaitUntil(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point end) {
    return wake.wait_until(lock, end, [&] { return stopping; }) ? Wait::kStopping : Wait::kWaited;
  }

  void Run() {
    std::mt19937_64 jitter(std::random_device{}());
    auto backoff = options.min_backoff;
    bool early = false;  // this pass is a retry a probe called early
    while (true) {
      Status status = ShipAvailable();
      std::chrono::milliseconds pause = options.poll_interval;
      if (status) {
        backoff = options.min_backoff;
      } else {
        // Exponential backoff with full jitter: a sink that comes back is not hit by every shipper
        // at once.
        pause = std::chrono::milliseconds(
            std::uniform_int_distribution<int64_t>(backoff.count() / 2, backoff.count())(jitter));
        backoff = std::min(backoff * 2, options.max_backoff);
        // The destination said when to come back (HTTP 429/503 Retry-After): not before.
        if (auto asked = sink->RetryAfter(); asked && *asked > pause) pause = *asked;
      }
      // A retry a probe called early that failed as well: this backoff is
      // waited out whole (a receiver that answers a HEAD but not the batch).
      const bool probe = !status && !early;
      early = false;
      const Wait waited = WaitBeforeRetry(pause, status ? std::nullopt : sink->RetryAfter(), probe);
      if (waited == Wait::kStopping) break;
      early = waited == Wait::kAnswered;
    }
    // Stopping: ship what the journal holds, as long as the sink takes it.
    const auto deadline = std::chrono::steady_clock::now() + options.drain_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      Status status = ShipAvailable();
      if (status) break;
      std::this_thread::sleep_for(options.min_backoff);
    }
  }
};

Shipper::Shipper(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Shipper>> Shipper::Start(ShipperOptions options,
                                                std::unique_ptr<Sink> sink) {
  if (options.name.empty() || options.name.find_first_of("/\\") != std::string::npos ||
      options.name[0] == '.')
    return Fail(
        ErrorCode::kInvalidArgument,
        "a sink name must be a plain word (it names its cursor file): '" + options.name + "'");
  if (Status s = EnsureAuditDirectory(CursorDir(options.journal_dir)); !s)
    return std::unexpected(s.error());
  auto state = std::make_unique<State>();
  state->cursor_path = CursorPath(options.journal_dir, options.name);
  auto cursor = LoadCursor(state->cursor_path);
  if (!cursor) {
    // Someone broke the cursor: ship everything again (the sinks store each record once).
    OpsLog().error("shipper {}: {}; shipping the whole journal again", options.name,
                   cursor.error().message);
    cursor = Cursor{};
  }
  state->cursor = *cursor;
  state->options = std::move(options);
  state->sink = std::move(sink);
  // A cursor from the start, so that `mcp-audit status` shows the backlog of a
  // sink that has never been reachable.
  if (!fs::exists(state->cursor_path)) {
    if (Status saved = state->SaveCursor(); !saved) return std::unexpected(saved.error());
  }
  State* raw = state.get();
  state->thread = std::jthread([raw] { raw->Run(); });
  return std::unique_ptr<Shipper>(new Shipper(std::move(state)));
}

Shipper::~Shipper() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

Status Shipper::ShipAll() { return state_->ShipAvailable(); }

ShipperCounters Shipper::counters() const {
  std::lock_guard lock(state_->mutex);
  return state_->counters;
}

uint64_t JournalBytesAfter(const fs::path& journal_dir, const std::string& segment,
                           uint64_t offset) {
  uint64_t bytes = 0;
  for (const std::string& name : Segments(journal_dir)) {
    if (name < segment) continue;
    std::error_code ec;
    const uint64_t size = fs::file_size(journal_dir / name, ec);
    if (ec) continue;
    bytes += name == segment ? size - std::min(size, offset) : size;
  }
  return bytes;
}

Result<ShipperPosition> ReadShipperPosition(const fs::path& journal_dir, const std::string& name) {
  auto cursor = LoadCursor(CursorPath(journal_dir, name));
  if (!cursor) return std::unexpected(cursor.error());
  return ShipperPosition{cursor->segment, cursor->lines};
}

Result<std::vector<ShipperBacklog>> ReadShipperBacklogs(const fs::path& journal_dir) {
  std::vector<ShipperBacklog> backlogs;
  std::error_code ec;
  const fs::path dir = CursorDir(journal_dir);
  if (!fs::is_directory(dir, ec)) return backlogs;
  const std::vector<std::string> segments = Segments(journal_dir);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".cursor") continue;
    auto cursor = LoadCursor(entry.path());
    if (!cursor) return std::unexpected(cursor.error());
    ShipperBacklog backlog{entry.path().stem().string(), cursor->segment, cursor->lines, 0, 0};
    for (const auto& segment : segments) {
      if (segment < cursor->segment) continue;
      Cursor from = segment == cursor->segment ? *cursor : Cursor{segment, 0, 0};
      std::vector<std::string> lines;
      auto read = ReadLines(journal_dir / segment, from, SIZE_MAX, lines);
      if (!read)
        break;  // the cursor is past the segment's end: nothing behind it (CursorsAhead says more)
      backlog.records_behind += lines.size();
    }
    if (auto refused = ReadWholeFile(DeadLetterPath(journal_dir, backlog.name)))
      backlog.set_aside = static_cast<uint64_t>(std::count(refused->begin(), refused->end(), '\n'));
    backlogs.push_back(std::move(backlog));
  }
  std::sort(backlogs.begin(), backlogs.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return backlogs;
}

namespace {

// The complete lines of a segment (an unterminated tail is not one yet).
uint64_t CompleteLines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t lines = 0;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0)
    lines += static_cast<uint64_t>(std::count(buffer, buffer + in.gcount(), '\n'));
  return lines;
}

// The first seq of a segment, from its name (segment-<first seq>.jsonl).
uint64_t FirstSeqOf(const std::string& segment) {
  uint64_t seq = 0;
  if (journal::IsSegmentName(segment))
    std::from_chars(segment.data() + 8, segment.data() + segment.size() - 6, seq);
  return seq;
}

// The seq of the newest record of the journal (its newest segment that holds
// one, read from the end); 0 when there is none.
uint64_t NewestSeq(const fs::path& journal_dir, const std::vector<std::string>& segments) {
  for (auto segment = segments.rbegin(); segment != segments.rend(); ++segment) {
    auto text = ReadWholeFile(journal_dir / *segment);
    if (!text) continue;
    std::vector<std::string_view> lines;
    for (std::string_view rest(*text); !rest.empty();) {
      const size_t end = rest.find('\n');
      lines.push_back(rest.substr(0, end));
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    }
    for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
      const nlohmann::json record = ParseWithin(*line, kMaxRecordDepth);
      if (record.is_object() && record.contains("integrity") && record["integrity"].is_object() &&
          record["integrity"].contains("seq") && record["integrity"]["seq"].is_number_unsigned())
        return record["integrity"]["seq"].get<uint64_t>();
    }
  }
  return 0;
}

}  // namespace

Result<std::vector<CursorAhead>> CursorsAhead(const fs::path& journal_dir,
                                              const std::string& stream) {
  std::vector<CursorAhead> ahead;
  std::error_code ec;
  const fs::path dir = CursorDir(journal_dir);
  if (!fs::is_directory(dir, ec)) return ahead;
  const std::vector<std::string> segments = Segments(journal_dir);
  const std::string last = segments.empty() ? std::string() : segments.back();
  const uint64_t last_lines = last.empty() ? 0 : CompleteLines(journal_dir / last);
  std::optional<uint64_t> newest;  // read once, when a cursor needs it
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".cursor") continue;
    auto cursor = LoadCursor(entry.path());
    if (!cursor || cursor->segment.empty()) continue;  // nothing shipped it can vouch for
    const bool present = std::binary_search(segments.begin(), segments.end(), cursor->segment);
    // Retention removes the oldest segments only: a cursor in one that is gone
    // with a newer one still there was passed by retention, not by loss.
    if (!present && !last.empty() && cursor->segment < last) continue;
    // What the cursor says was shipped: the seqs its segment's name counts
    // (checked: a hostile cursor must not wrap around).
    const uint64_t first = FirstSeqOf(cursor->segment);
    const uint64_t shipped = cursor->lines == 0 ? (first > 0 ? first - 1 : 0)
                             : cursor->lines > kMaxSeq || first > kMaxSeq
                                 ? kMaxSeq
                                 : first + cursor->lines - 1;
    const uint64_t lines_there = !present ? 0
                                 : cursor->segment == last
                                     ? last_lines
                                     : CompleteLines(journal_dir / cursor->segment);
    if (!newest) newest = NewestSeq(journal_dir, segments);
    // Lines replaced by others (blank, garbage) count as lines but hold no records: compare seqs
    // too.
    if (present && cursor->lines <= lines_there && shipped <= *newest) continue;
    CursorAhead found;
    found.name = entry.path().stem().string();
    found.anchor = {"the cursor of shipper " + found.name, stream, shipped, ""};
    found.segment = last;
    found.lines = cursor->segment == last ? std::min(cursor->lines, last_lines) : last_lines;
    ahead.push_back(std::move(found));
  }
  return ahead;
}

Status MoveCursorsBack(const fs::path& journal_dir, const std::vector<CursorAhead>& ahead) {
  for (const CursorAhead& cursor : ahead) {
    OpsLog().warn("shipper {}: its cursor was ahead of the journal; it goes on from {} line {}",
                  cursor.name, cursor.segment, cursor.lines);
    const nlohmann::json json = {{"segment", cursor.segment}, {"lines", cursor.lines}};
    if (Status saved = ReplaceFileDurably(CursorPath(journal_dir, cursor.name), json.dump() + "\n");
        !saved)
      return saved;
  }
  return {};
}

}  // namespace mcpaudit
