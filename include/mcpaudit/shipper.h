// Shipper: feeds one Sink from the journal. It reads the journal's segments
// from its own cursor, sends batches, and moves the cursor (persisted, synced)
// only after the sink confirmed the batch. A sink that is down only builds a
// backlog: the shipper retries with exponential backoff and jitter and loses
// nothing; a record may be sent twice after a crash (sinks store it once).
//
// The cursor is <journal>/shippers/<name>.cursor: the segment being read and
// how many of its lines are shipped. Lines, not bytes: erasure rewrites lines
// in place but never adds or removes one.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mcpaudit/pipeline.h"
#include "mcpaudit/result.h"
#include "mcpaudit/sink.h"

namespace mcpaudit {

struct ShipperOptions {
  std::filesystem::path journal_dir;
  std::string name;  // of the sink: names the cursor file
  size_t batch_records = 2000;
  std::chrono::milliseconds poll_interval{200};  // how often to look for new records
  std::chrono::milliseconds min_backoff{100};    // after a failed batch; doubles up to max_backoff
  std::chrono::milliseconds max_backoff{30000};
  // While backing off from a destination that did not answer: how often to
  // ask whether it answers again (Sink::Answers), to retry at once if it does.
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds drain_timeout{5000};  // at stop, how long to keep shipping what is left
};

struct ShipperCounters {
  uint64_t shipped = 0;     // records the sink confirmed
  uint64_t batches = 0;
  uint64_t failures = 0;    // failed attempts
  uint64_t unreadable = 0;  // journal lines that are not records (reported, passed over)
  bool failing = false;     // the last attempt failed
  std::string last_error;
  // Where it is: the segment and the byte offset after what it has shipped
  // (not known until it has read its segment once after a restart).
  std::string segment;
  uint64_t offset = 0;
  bool position_known = false;
};

class Shipper {
 public:
  // Starts the shipping thread.
  [[nodiscard]] static Result<std::unique_ptr<Shipper>> Start(ShipperOptions options, std::unique_ptr<Sink> sink);
  // Ships what the journal holds (for up to drain_timeout), then stops.
  ~Shipper();

  // Ships everything in the journal now, on the caller's thread; fails with the
  // sink's error if a batch fails. For tests and `mcp-audit ship`.
  [[nodiscard]] Status ShipAll();
  ShipperCounters counters() const;

  struct State;

 private:
  explicit Shipper(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// How far behind a shipper is, read from its cursor and the journal on disk:
// works whether or not a server is running.
struct ShipperBacklog {
  std::string name;
  std::string segment;  // the segment the cursor is in
  uint64_t shipped_lines = 0;   // of that segment
  uint64_t records_behind = 0;  // complete lines after the cursor
  uint64_t set_aside = 0;       // records the destination refused, in its dead-letter file
};
// Where the sink `name` sets aside the records its destination refused for good.
std::filesystem::path DeadLetterPath(const std::filesystem::path& journal_dir, const std::string& name);

// Where the shipper `name` stands: the segment it reads and how many of its
// lines it shipped (empty segment: nothing shipped yet).
struct ShipperPosition {
  std::string segment;
  uint64_t lines = 0;
};
[[nodiscard]] Result<ShipperPosition> ReadShipperPosition(const std::filesystem::path& journal_dir,
                                                          const std::string& name);

[[nodiscard]] Result<std::vector<ShipperBacklog>> ReadShipperBacklogs(const std::filesystem::path& journal_dir);

// A shipper whose cursor is ahead of the journal: it shipped lines that are no
// longer there (the journal was cut back, or its newest segments deleted).
struct CursorAhead {
  std::string name;       // the shipper's
  JournalAnchor anchor;   // the last seq it shipped, as its cursor and the segment's name tell
  std::string segment;    // where the journal now ends, and how many complete lines it has there:
  uint64_t lines = 0;     // where the cursor must go on from to ship what is written next
};
// The cursors of the journal in `journal_dir` that are ahead of it. `stream`
// is the journal's: the stream of the seqs its segment names count. Read only.
[[nodiscard]] Result<std::vector<CursorAhead>> CursorsAhead(const std::filesystem::path& journal_dir,
                                                            const std::string& stream);
// Moves each of those cursors back to where the journal ends: what is written
// next is shipped. Call while holding the journal (after Pipeline::Open) and
// before the shippers start.
[[nodiscard]] Status MoveCursorsBack(const std::filesystem::path& journal_dir, const std::vector<CursorAhead>& ahead);

// The bytes of the journal after `offset` in `segment` (empty: all of it):
// what a shipper there has still to read. A few stat calls, no reading.
uint64_t JournalBytesAfter(const std::filesystem::path& journal_dir, const std::string& segment, uint64_t offset);

}  // namespace mcpaudit
