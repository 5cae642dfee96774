#include "store/verifier.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "audit/journal_format.h"
#include "base/bounded_json.h"
#include "store/journal_reader.h"
#include "store/record_store.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Seqs not seen (yet), as ranges: a jump of any size costs one entry.
class Gaps {
 public:
  // first..last are missing; the gap was seen at `file`:`line`.
  void Add(uint64_t first, uint64_t last, const fs::path& file, size_t line) { ranges_[first] = {last, file, line}; }
  bool Contains(uint64_t seq) { return Find(seq) != ranges_.end(); }
  // Takes `seq` out of the gaps (it turned up late); false when it was not missing.
  bool Take(uint64_t seq) {
    auto it = Find(seq);
    if (it == ranges_.end()) return false;
    const uint64_t first = it->first;
    const Range range = it->second;
    ranges_.erase(it);
    if (first < seq) ranges_[first] = {seq - 1, range.file, range.line};
    if (seq < range.last) ranges_[seq + 1] = {range.last, range.file, range.line};
    return true;
  }
  // Calls `visit(first, last, file, line)` for each gap, lowest first.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (const auto& [first, range] : ranges_) visit(first, range.last, range.file, range.line);
  }

 private:
  struct Range {
    uint64_t last;
    fs::path file;
    size_t line;
  };
  std::map<uint64_t, Range>::iterator Find(uint64_t seq) {
    auto it = ranges_.upper_bound(seq);
    if (it == ranges_.begin()) return ranges_.end();
    --it;
    return seq <= it->second.last ? it : ranges_.end();
  }
  std::map<uint64_t, Range> ranges_;  // first seq → the rest
};

struct StreamState {
  uint64_t last_seq = 0;  // the highest seq seen
  std::string last_hash = std::string(journal::kGenesisHash);
  Gaps absent;  // seqs skipped so far, with where each gap was seen
  std::set<uint64_t> late;                                   // absent seqs that turned up later
  std::string last_type;                                     // event_type of the newest record
  bool closed_by_stop = false;  // the newest checkpoint follows audit_stopped (a clean stop)
  uint64_t last_checkpoint_seq = 0;
  uint64_t unsigned_checkpoints = 0;
  bool seen = false;
  // The stream begins after seq `begins_after` (retention deleted its start),
  // whose hash the first record names as prev; a retention record must declare it.
  uint64_t begins_after = 0;
  std::string begins_after_hash;
  fs::path first_file;
  size_t first_line = 0;
};

// A retention record's declaration that a stream begins after (seq, hash).
struct Declaration {
  bool signed_by_key = false;  // with the given key, and the signature verifies
  bool signature_bad = false;  // signed, but not verifiable with the given key
  uint64_t at_seq = 0;         // where the declaration is
  std::string at_stream;
};

// True when a writer holds the journal's lock (a server is running on it).
bool WriterRunning(const fs::path& dir) {
  int fd = ::open((dir / journal::kLockFile).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

class Verifier {
 public:
  // `segments`: the records come from journal segments, one file each, whose
  // checkpoints' time bounds are checked (a store's rows have no segments).
  Verifier(const SigningKey* key, VerifyReport& report, bool segments)
      : key_(key), report_(report), segments_(segments) {}

  void Record(const std::string& text, const fs::path& file, size_t line) {
    try {
      Read(text, file, line);
    } catch (const json::exception& e) {
      // A member of a type the writer never writes: the line was edited.
      Problem("?", 0, "modified", std::string("a member has the wrong type (") + e.what() + ")", file, line);
    }
  }

 private:
  void Read(const std::string& text, const fs::path& file, size_t line) {
    json record = ParseWithin(text, kMaxRecordDepth);
    if (record.is_discarded() || !record.is_object() || !record.contains("integrity") ||
        !record["integrity"].is_object()) {
      Problem("?", 0, "modified", "not an audit record of the journal (unreadable JSON or no integrity)", file, line);
      return;
    }
    ++report_.records;
    if (segments_) CheckSegmentBounds(record, file, line);
    const json& integrity = record["integrity"];
    const std::string stream = integrity.value("stream", "");
    report_.newest_stream = stream;
    const uint64_t seq = integrity.value("seq", uint64_t{0});
    const std::string prev = integrity.value("prev", "");
    const std::string hash = integrity.value("hash", "");
    StreamState& state = streams_[stream];
    if (!state.seen) {
      state.seen = true;
      if (seq > 1) {  // the beginning is gone: retention must have declared it
        state.begins_after = state.last_seq = seq - 1;
        state.begins_after_hash = state.last_hash = prev;
        state.first_file = file;
        state.first_line = line;
      }
    }

    auto canonical = journal::CanonicalForHash(record, integrity.value("salts", json::object()));
    if (!canonical || journal::ChainHash(prev, *canonical) != hash) {
      Problem(stream, seq, "modified", "its content does not match its hash", file, line);
    }

    // A record that is not part of the chain (bad link, or a seq seen before)
    // is reported and then passed over: the chain goes on from the last record
    // that belongs to it, so one forgery gives one verdict.
    if (seq == state.last_seq + 1) {
      if (prev != state.last_hash) {
        Problem(stream, seq, "inserted",
                "it does not link to seq " + std::to_string(state.last_seq) + " (prev is not that record's hash)",
                file, line);
        return;
      }
    } else if (seq > state.last_seq + 1) {
      state.absent.Add(state.last_seq + 1, seq - 1, file, line);
    } else if (state.absent.Take(seq)) {
      Problem(stream, seq, "reordered", "it appears after seq " + std::to_string(state.last_seq), file, line);
      return;  // the chain continues from the highest seq
    } else {
      Problem(stream, seq, "inserted", "seq " + std::to_string(seq) + " appears more than once", file, line);
      return;
    }
    const std::string type = record.value("event_type", "");
    if (type == "checkpoint") Checkpoint(stream, state, record, file, line);
    if (type == "retention") Retention(stream, seq, record);
    state.last_seq = std::max(state.last_seq, seq);
    state.last_hash = hash;
    state.last_type = type;
  }

 public:
  void Finish(bool writer_running) {
    report_.streams = streams_.size();
    for (auto& [stream, state] : streams_) {
      report_.heads[stream] = {state.last_seq, state.last_hash};
      if (state.begins_after > 0) BeginsAfter(stream, state);
      state.absent.ForEach([&](uint64_t first, uint64_t last, const fs::path& file, size_t line) {
        Problem(stream, first, "missing",
                first == last ? "no record with this seq (deleted?)"
                              : "seq " + std::to_string(first) + "-" + std::to_string(last) +
                                    ": no records with these seqs (deleted?)",
                file, line);
      });
      const bool clean_end = state.last_type == "checkpoint" && state.closed_by_stop;
      if (!clean_end && !writer_running) {
        Problem(stream, state.last_seq, "truncated",
                "the stream ends after its last checkpoint (seq " + std::to_string(state.last_checkpoint_seq) +
                    ") without audit_stopped and a final checkpoint: records may have been cut off, or the "
                    "writer crashed and has not restarted",
                {}, 0);
      }
      if (state.unsigned_checkpoints > 0)
        report_.notes.push_back("stream " + stream + ": " + std::to_string(state.unsigned_checkpoints) +
                                " checkpoints are unsigned (serve --signing-key signs them)");
    }
    if (!key_ && report_.checkpoints > 0)
      report_.notes.push_back("signatures were not checked: give --pubkey to check them");
  }

 private:
  // Keeps the time bounds of the segment's records so far, and holds a
  // checkpoint's declared bounds against them: a reader skips the segment on
  // the word of its last checkpoint.
  void CheckSegmentBounds(const json& record, const fs::path& file, size_t line) {
    if (file != span_file_) {
      span_file_ = file;
      file_span_.reset();
    }
    if (auto stamp = record.find("timestamp"); stamp != record.end() && stamp->is_string())
      if (auto time = ParseTimestamp(stamp->get_ref<const std::string&>())) journal::Widen(file_span_, *time);
    auto details = record.find("details");
    if (record.value("event_type", "") != "checkpoint" || details == record.end() || !details->is_object() ||
        !details->contains("segment"))
      return;
    const json& integrity = record["integrity"];
    const std::string stream = integrity.value("stream", "?");
    const uint64_t seq = integrity.value("seq", uint64_t{0});
    auto declared = journal::DeclaredSpan(record);
    if (!declared) {
      Problem(stream, seq, "modified", "its segment's time bounds are not two timestamps in order", file, line);
    } else if (file_span_ && !(declared->earliest <= file_span_->earliest && file_span_->latest <= declared->latest)) {
      Problem(stream, seq, "modified",
              "it says the records of its segment were stamped from " + FormatTimestamp(declared->earliest) + " to " +
                  FormatTimestamp(declared->latest) + ", but they span " + FormatTimestamp(file_span_->earliest) +
                  " to " + FormatTimestamp(file_span_->latest) + ": a query by time would pass over some",
              file, line);
    }
  }

  // Collects the cuts a retention record declares; checked at the end, since
  // the record comes after the stream's first remaining records.
  void Retention(const std::string& stream, uint64_t seq, const json& record) {
    const json details = record.value("details", json::object());
    const json cuts = details.value("cuts", json::array());
    const json signatures = details.value("signatures", json::array());
    for (size_t i = 0; i < cuts.size(); ++i) {
      const json& cut = cuts[i];
      if (!cut.is_object()) continue;
      Declaration declaration{false, false, seq, stream};
      const std::string cut_stream = cut.value("stream", ""), hash = cut.value("hash", "");
      const uint64_t cut_seq = cut.value("seq", uint64_t{0});
      if (key_ && i < signatures.size() && signatures[i].is_string()) {
        const bool ours = details.value("key_id", "") == key_->KeyId();
        declaration.signed_by_key =
            ours && key_->Verify(journal::RetentionMessage(cut_stream, cut_seq, hash), signatures[i].get<std::string>());
        declaration.signature_bad = !declaration.signed_by_key;
      }
      declarations_[{cut_stream, cut_seq, hash}] = declaration;
    }
  }

  void BeginsAfter(const std::string& stream, const StreamState& state) {
    const std::string range = state.begins_after == 1 ? "seq 1" : "seq 1-" + std::to_string(state.begins_after);
    auto it = declarations_.find({stream, state.begins_after, state.begins_after_hash});
    if (it == declarations_.end()) {
      Problem(stream, 1, "missing",
              range + " are gone and no retention record declares it (the stream begins at seq " +
                  std::to_string(state.begins_after + 1) + ")",
              state.first_file, state.first_line);
      return;
    }
    const Declaration& d = it->second;
    if (key_ && !d.signed_by_key) {
      Problem(stream, 1, d.signature_bad ? "bad signature" : "missing",
              range + " are gone; the retention record (" + d.at_stream + " seq " + std::to_string(d.at_seq) +
                  ") that declares it is " + (d.signature_bad ? "not signed by the given key" : "unsigned"),
              state.first_file, state.first_line);
      return;
    }
    report_.notes.push_back("stream " + stream + ": " + range + " were deleted by retention (declared by " +
                            d.at_stream + " seq " + std::to_string(d.at_seq) +
                            (d.signed_by_key ? ", signed)" : ")"));
  }

  void Checkpoint(const std::string& stream, StreamState& state, const json& record, const fs::path& file,
                  size_t line) {
    ++report_.checkpoints;
    const uint64_t seq = record["integrity"].value("seq", uint64_t{0});
    state.last_checkpoint_seq = seq;
    const json details = record.value("details", json::object());
    const json covers = details.value("covers", json::object());
    const uint64_t covered_seq = covers.value("seq", uint64_t{0});
    const std::string covered_hash = covers.value("hash", "");
    // A checkpoint whose covered record is missing is explained by that verdict.
    const bool covered_missing = state.absent.Contains(covered_seq);
    state.closed_by_stop = covered_missing || (covered_seq == state.last_seq && state.last_type == "audit_stopped");
    if (!covered_missing && (covered_seq != state.last_seq || covered_hash != state.last_hash)) {
      Problem(stream, seq, "modified",
              "the checkpoint covers seq " + std::to_string(covered_seq) + " with another hash than the chain has",
              file, line);
    }
    if (!details.contains("signature")) {
      ++state.unsigned_checkpoints;
      return;
    }
    if (!key_) return;
    if (details.value("key_id", "") != key_->KeyId()) {
      Problem(stream, seq, "unknown key",
              "signed by key " + details.value("key_id", std::string("?")) + ", not by the given key " + key_->KeyId(),
              file, line);
      return;
    }
    if (!key_->Verify(journal::CheckpointMessage(stream, covered_seq, covered_hash), details.value("signature", ""))) {
      Problem(stream, seq, "bad signature", "the Ed25519 signature does not verify", file, line);
      return;
    }
    ++report_.signed_checkpoints;
  }

  void Problem(const std::string& stream, uint64_t seq, std::string verdict, std::string detail, const fs::path& file,
               size_t line) {
    report_.problems.push_back({stream, seq, std::move(verdict), std::move(detail), file, line});
  }

  const SigningKey* key_;
  VerifyReport& report_;
  const bool segments_;
  fs::path span_file_;  // the segment being read, and when its records so far were stamped
  std::optional<journal::TimeSpan> file_span_;
  std::map<std::string, StreamState> streams_;
  std::map<std::tuple<std::string, uint64_t, std::string>, Declaration> declarations_;
};

// Whether to read on.
bool KeepReading(const VerifyProgress& progress, uint64_t records) {
  return !progress || records % 10000 != 0 || progress(records);
}

Error StoppedEarly() { return {ErrorCode::kUnavailable, "the verify was stopped before its end"}; }

}  // namespace

Result<VerifyReport> VerifyJournal(const fs::path& dir, const SigningKey* public_key, const VerifyProgress& progress) {
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  const bool writer_running = WriterRunning(dir);
  VerifyReport report;
  Verifier verifier(public_key, report, /*segments=*/true);
  std::erase_if(*files, [](const fs::path& file) { return !journal::IsSegmentName(file.filename().string()); });
  if (files->empty()) return Fail(ErrorCode::kNotFound, "no journal segments in " + dir.string());
  // Empty lines too: the writer never writes one, so one stands where a record was.
  bool stopped = false;
  auto read = ForEachLine(
      *files,
      [&](const fs::path& file, size_t number, const std::string& line) {
        verifier.Record(line, file, number);
        if (KeepReading(progress, report.records)) return true;
        stopped = true;
        return false;
      },
      /*empty_too=*/true);
  if (!read) return std::unexpected(read.error());
  if (stopped) return std::unexpected(StoppedEarly());
  verifier.Finish(writer_running);
  if (writer_running) report.notes.push_back("a writer is running on this journal: its newest records may follow");
  return report;
}

Result<VerifyReport> VerifyLocalJournal(const fs::path& dir, const SigningKey* public_key,
                                        const VerifyProgress& progress) {
  auto report = VerifyJournal(dir, public_key, progress);
  if (!report) return report;
  SinkConfig store;
  store.url = "sqlite://" + (dir / "audit.db").string();
  std::vector<CursorAhead> ahead;
  CompareWithAnchors(*report, JournalAnchors(dir, {store},
                                             report->newest_stream.empty() ? DefaultStream() : report->newest_stream,
                                             ahead));
  return report;
}

Result<VerifyReport> VerifyStore(const SinkConfig& store, const SigningKey* public_key,
                                 const VerifyProgress& progress) {
  VerifyReport report;
  Verifier verifier(public_key, report, /*segments=*/false);
  const std::string url = RedactUrl(store.url);
  const fs::path where = url;
  bool stopped = false;
  auto read = ForEachStoredLine(store, [&](size_t row, const std::string& line) {
    verifier.Record(line, where, row);
    if (KeepReading(progress, report.records)) return true;
    stopped = true;
    return false;
  });
  if (!read) return std::unexpected(read.error());
  if (stopped) return std::unexpected(StoppedEarly());
  if (report.records == 0) return Fail(ErrorCode::kNotFound, "no audit records in " + url);
  verifier.Finish(/*writer_running=*/true);
  report.notes.push_back("records after the last checkpoint in the store may still be on their way from the journal");
  return report;
}

void CompareWithAnchors(VerifyReport& report, const std::vector<JournalAnchor>& anchors) {
  for (const JournalAnchor& anchor : anchors) {
    const auto it = report.heads.find(anchor.stream);
    const uint64_t head = it == report.heads.end() ? 0 : it->second.seq;
    if (anchor.seq > head) {
      const std::string range =
          head + 1 == anchor.seq ? std::to_string(anchor.seq) : std::to_string(head + 1) + "-" + std::to_string(anchor.seq);
      report.problems.push_back({anchor.stream, head + 1, "missing",
                                 "seq " + range + " are in the " + anchor.source +
                                     " but not in the journal, which ends at seq " + std::to_string(head) +
                                     ": its newest records were deleted",
                                 {}, 0});
    } else if (it != report.heads.end() && anchor.seq == head && !anchor.hash.empty() &&
               anchor.hash != it->second.hash) {
      report.problems.push_back({anchor.stream, head, "modified",
                                 "the " + anchor.source + " has another record with this seq: the journal's end was "
                                 "rewritten",
                                 {}, 0});
    }
  }
}

}  // namespace mcpaudit
