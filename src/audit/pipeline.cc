#include "mcpaudit/pipeline.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "audit/canonical_json.h"
#include "audit/chain.h"
#include "audit/disk_space.h"
#include "audit/journal.h"
#include "audit/journal_format.h"
#include "audit/journal_tree.h"
#include "audit/key_rotation.h"
#include "audit/signed_note.h"
#include "audit/record_writer.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "base/bounded_queue.h"
#include "base/crypto.h"
#include "base/free_memory.h"
#include "base/json_text.h"
#include "base/ops_log.h"
#include "mcpaudit/clock.h"
#include "store/tlog.h"

namespace mcpaudit {
namespace {

using Steady = std::chrono::steady_clock;

// Where a durable Log() waits for its record to be synced. It lives on the
// waiter's stack: Finish notifies under the lock, so the waiter cannot return
// (and destroy it) before Finish is done with it.
struct Completion {
  std::mutex mutex;
  std::condition_variable done;
  int state = 0;  // guarded by mutex: 0 waiting, 1 on disk, 2 failed
  Error error;    // guarded by mutex
  void Finish(const Status& status) {
    std::lock_guard lock(mutex);
    if (!status) error = status.error();
    state = status ? 1 : 2;
    done.notify_one();
  }
  Status Wait() {
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return state != 0; });
    if (state == 1) return {};
    return std::unexpected(error);
  }
};

// An event the writer signs with the key of the epoch it writes it in
// (Pipeline::LogSigned): a key rotation may come after it was logged.
struct SignedAtWrite {
  AuditEvent event;
  Pipeline::Signer sign;
};

// An event made ready for the chain: everything but seq/prev/hash, which only
// the writer can know. Callers prepare their own records (in parallel, on
// every core); the one writer only links them and writes.
struct Prepared {
  // One allocation (the writer frees what a caller allocated, and each free
  // across threads costs a lock): the record's canonical JSON with its values
  // in plain, without its closing brace, then the salts of its erasable fields
  // as a JSON object (or nothing).
  std::string text;
  Sha256Digest leaf{};                         // L(N)
  std::chrono::system_clock::time_point time;  // the record's timestamp
  uint32_t record_size = 0;
  Completion* done = nullptr;  // a durable Log waits on it
  AuditLogger::Done then;      // or a durable LogThen is told

  bool flush_only = false;  // a barrier: no record, just "sync and tell me"
  std::unique_ptr<const SignedAtWrite> sign_at_write;  // its text is then made again when written

  // Tells the caller how its record fared.
  void Finish(const Status& status) {
    if (done) done->Finish(status);
    if (then) then(status);
  }

  std::string_view record() const { return std::string_view(text).substr(0, record_size); }
  std::string_view salts_json() const { return std::string_view(text).substr(record_size); }
  // About the bytes of its journal line.
  size_t LineBytes() const {
    if (flush_only) return 0;
    return text.size() + 256;  // 256: the integrity member
  }
};

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host[0] ? host : "localhost";
}

}  // namespace

Result<DeliveryMode> ParseDeliveryMode(std::string_view text) {
  if (text == "async") return DeliveryMode::kAsync;
  if (text == "durable") return DeliveryMode::kDurable;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown mode '" + std::string(text) + "' (async or durable)");
}

// Queued records beyond which an async caller wakes the writer.
constexpr size_t kWakeWriterBacklog = 256;
// How often the async writer looks for records when nobody woke it: the most a
// record waits in memory before it is written (its sync follows flush_interval).
constexpr auto kAsyncPoll = std::chrono::milliseconds(5);

struct Pipeline::State {
  PipelineOptions options;
  Journal journal;
  Chain chain;
  std::optional<merkle::StoredTree> tree;  // none: the stream's tree is not written
  RandomSource random = SecureRandom();
  BoundedQueue<Prepared> queue{options.queue_capacity};
  DiskSpaceWatch space{options.directory, options.space_left_bytes, options.admin_space_left_bytes,
                       options.admin_space_left_action};
  std::jthread writer;

  std::atomic<uint64_t> accepted{0}, dropped{0}, refused{0}, written{0}, failed{0}, syncs{0},
      checkpoints{0};
  std::atomic<uint64_t> unreported_drops{0};
  std::atomic<bool> write_failing{false};  // the last write or sync failed

  // Writer-thread state.
  Steady::time_point last_sync = Steady::now();
  bool unsynced = false;  // written since the last fdatasync
  uint64_t failures_unreported = 0;
  std::string first_failure;

  State(PipelineOptions o, Journal j, std::optional<SigningKey> key)
      : options(std::move(o)),
        journal(std::move(j)),
        chain(options.stream, journal.head().seq, journal.head().hash, std::move(key),
              {options.origin, options.key_name}) {}

  Prepared Prepare(const AuditEvent& event) const {
    // Scratch space reused by each thread: only the finished record allocates.
    thread_local std::string record, salts_json;
    thread_local std::vector<journal::SaltedValue> salted;
    record.clear();
    salts_json.clear();
    salted.clear();
    AppendRecordCanonical(record, event, nlohmann::json::object());
    // The salts: 16 random bytes, as hex, for each erasable value the record has.
    thread_local std::vector<std::array<char, 32>> salts;
    salts.resize(options.erasable.size());  // never reallocated below: `salted` points into it
    const json_text::Object fields(record);
    for (const auto& pointer : options.erasable) {
      auto value = fields.ValueAt(pointer);
      if (!value) continue;
      uint8_t bytes[16];
      random(bytes);
      std::array<char, 32>& hex = salts[salted.size()];
      HexEncodeTo(bytes, hex.data());
      const std::string_view salt(hex.data(), hex.size());
      salts_json += salts_json.empty() ? "{" : ",";
      AppendJsonString(salts_json, pointer);
      AppendParts(salts_json, {":\"", salt, "\""});
      salted.push_back({*value, salt});
    }
    if (!salts_json.empty()) salts_json += "}";
    return Finish(event, record, salts_json, journal::LeafWithCommitments(record, salted));
  }

  static Prepared Finish(const AuditEvent& event, std::string_view record,
                         std::string_view salts_json, const Sha256Digest& leaf) {
    Prepared p;
    record.remove_suffix(1);  // the closing brace: the writer appends integrity, then closes
    p.text.reserve(record.size() + salts_json.size());
    AppendParts(p.text, {record, salts_json});
    p.leaf = leaf;
    p.time = event.timestamp;
    p.record_size = static_cast<uint32_t>(record.size());
    return p;
  }

  AuditEvent SystemEvent(std::string type) const {
    AuditEvent e;
    e.timestamp = std::chrono::system_clock::now();
    e.id = NewUuidV7(e.timestamp, random);
    e.event_type = std::move(type);
    e.server = options.server;
    return e;
  }

  // Gives `p` the next seq and appends its line to `out`.
  void Seal(const Prepared& p, std::string& out) {
    chain.Append(p.record(), p.leaf, p.salts_json(), out);
    unsynced_leaves.push_back(p.leaf);
    journal::Widen(batch_span, p.time);
  }

  // The journal is synced: its leaves go to the stored tree. A tree that
  // cannot be written is given up until the next start, which takes what it
  // lacks from the journal; the notes go on (the chain's edge is in memory).
  void LeavesSynced() {
    if (tree && !unsynced_leaves.empty()) {
      if (Status stored = tree->Append(unsynced_leaves); !stored) {
        OpsLog().error("the Merkle tree of stream {} is not written from now on ({}); the next start "
                       "completes it from the journal",
                       options.stream, stored.error().message);
        tree.reset();
      }
    }
    unsynced_leaves.clear();
  }

  void SealSystemEvent(const AuditEvent& event, std::string& out) { Seal(Prepare(event), out); }

  void SealCheckpoint(std::string& out) {
    AuditEvent e = SystemEvent("checkpoint");
    e.details = chain.CheckpointDetails();
    if (journal.span_known()) {
      // The bounds of the segment up to this checkpoint, itself included.
      std::optional<journal::TimeSpan> span = journal.span();
      journal::Widen(span, batch_span);
      journal::Widen(span, e.timestamp);
      e.details["segment"] = journal::SpanJson(*span);
    }
    SealSystemEvent(e, out);
    chain.Checkpointed();
    checkpoints.fetch_add(1, std::memory_order_relaxed);
  }

  // Writes one batch: the records of `items` plus whatever the pipeline itself
  // owes the log (drop counts, failure reports, a due checkpoint). When the
  // append fails the chain is rolled back, so a retry seals the same records
  // again; when only the sync fails the records stay (they are in the file) and
  // the next batch syncs again.
  struct BatchResult {
    Status status;
    bool appended;  // the records are in the file (only a sync may have failed)
  };
  BatchResult WriteBatch(std::vector<Prepared>& items, bool sync, bool final_checkpoint) {
    if (KeyEpochDue()) RotateKey();
    size_t incoming = 0;
    for (const auto& item : items) incoming += item.LineBytes();
    if (incoming > 0 && journal.RotationDue(incoming)) {
      if (Status rotated = SealAndRotate(); !rotated) return Failed(rotated, /*appended=*/false);
    }
    const Chain::Mark before = chain.Where();
    const size_t leaves_before = unsynced_leaves.size();
    // Kept across batches: a fresh buffer this size would be mapped and unmapped
    // each time, and each unmap interrupts every core (TLB shootdown).
    std::string& out = batch_text;
    out.clear();
    batch_span.reset();
    uint64_t records = 0;
    if (failures_unreported > 0) {
      AuditEvent e = SystemEvent("audit_failed");
      e.outcome = Outcome::kFailure;
      e.error = AuditError{0, first_failure, "journal_write_failed"};
      e.details = {{"failed_attempts", failures_unreported}};
      SealSystemEvent(e, out);
      ++records;
    }
    if (uint64_t drops = unreported_drops.exchange(0); drops > 0) {
      AuditEvent e = SystemEvent("audit_dropped");
      e.outcome = Outcome::kFailure;
      e.error =
          AuditError{0, std::to_string(drops) + " audit events were dropped: the queue was full",
                     "queue_full"};
      e.details = {{"dropped", drops}};
      SealSystemEvent(e, out);
      ++records;
      unreported_drops_pending = drops;
    }
    for (auto& item : items) {
      if (item.flush_only) continue;
      if (item.sign_at_write) {
        AuditEvent e = item.sign_at_write->event;
        if (chain.key()) item.sign_at_write->sign(e, *chain.key());
        SealSystemEvent(e, out);
      } else {
        Seal(item, out);
      }
      ++records;
    }
    const bool checkpoint_due =
        chain.since_checkpoint() > 0 &&
        (final_checkpoint || chain.since_checkpoint() >= options.checkpoint_every_records ||
         Steady::now() - chain.last_checkpoint() >= options.checkpoint_every);
    if (checkpoint_due) {
      SealCheckpoint(out);
      ++records;
    }
    Status status;
    if (!out.empty()) status = journal.Append(out, batch_span);
    if (status) {
      // The records are in the file: the chain stands, whatever the sync says.
      written.fetch_add(records, std::memory_order_relaxed);
      unreported_drops_pending = 0;
      if (!out.empty()) unsynced = true;
      if (unsynced && (sync || Steady::now() - last_sync >= options.flush_interval)) {
        if (Status synced = journal.Sync(); synced) {
          syncs.fetch_add(1, std::memory_order_relaxed);
          last_sync = Steady::now();
          unsynced = false;
          LeavesSynced();
        } else {
          return Failed(synced, /*appended=*/true);
        }
      }
      failures_unreported = 0;
      write_failing.store(false, std::memory_order_relaxed);
      return {status, true};
    }
    chain.Restore(before);
    unsynced_leaves.resize(leaves_before);  // their records are not in the journal
    if (checkpoint_due) checkpoints.fetch_sub(1, std::memory_order_relaxed);
    unreported_drops.fetch_add(unreported_drops_pending, std::memory_order_relaxed);
    unreported_drops_pending = 0;
    return Failed(status, /*appended=*/false);
  }

  BatchResult Failed(Status status, bool appended) {
    failed.fetch_add(1, std::memory_order_relaxed);
    if (failures_unreported++ == 0) first_failure = status.error().message;
    write_failing.store(true, std::memory_order_relaxed);
    return {std::move(status), appended};
  }

  bool KeyEpochDue() const {
    return options.key_epoch.count() > 0 && chain.key() && std::chrono::system_clock::now() >= next_key_epoch;
  }

  // Begins a key epoch (key_rotation.h): the old epoch closed by a checkpoint
  // the old key signs; the new key on disk; a key_rotation record that names
  // it, signed by the old key, written and synced; only then is the old key
  // destroyed. What fails is tried again a minute later, with the old key
  // signing meanwhile; a crash midway is finished or undone at the next start.
  void RotateKey() {
    const auto retry = [this](const std::string& why) {
      OpsLog().error("signing key rotation of stream {}: {}; tried again in a minute", options.stream, why);
      next_key_epoch = std::chrono::system_clock::now() + std::chrono::minutes(1);
    };
    const std::filesystem::path next = key_rotation::NextKeyPath(options.signing_key);
    // The last rotation not finished: its key (the one signing) is only in
    // `next`. It is finished first; a new key never takes its place there.
    std::error_code ec;
    if (std::filesystem::exists(next, ec)) {
      auto pending = SigningKey::LoadPrivate(next.string());
      if (!pending || pending->KeyId() != chain.key()->KeyId())
        return retry(next.string() + " holds another key than the one signing: left as it is");
      if (Status destroyed = key_rotation::DestroyAndReplace(options.signing_key, next); !destroyed)
        return retry("the previous key is not destroyed yet (" + destroyed.error().message + ")");
    }
    // The ring's oldest key, moved to `next`, when keys are made ahead; else a new one.
    auto ahead = options.upcoming_keys > 0 ? key_rotation::TakeRingKey(options.signing_key, next)
                                           : Result<std::optional<SigningKey>>();
    if (!ahead) return retry("the upcoming keys: " + ahead.error().message);
    auto fresh = *ahead ? Result<SigningKey>(std::move(**ahead)) : SigningKey::Generate();
    if (!fresh) return retry(fresh.error().message);
    if (!*ahead) {
      auto pem = fresh->PrivateKeyPem();
      if (!pem) return retry(pem.error().message);
      if (Status saved = ReplaceFileDurably(next, *pem); !saved) return retry(saved.error().message);
    }
    const Chain::Mark before = chain.Where();
    const size_t leaves_before = unsynced_leaves.size();
    std::string out;
    batch_span.reset();
    const bool closes_epoch = chain.since_checkpoint() > 0;
    if (closes_epoch) SealCheckpoint(out);
    auto details = key_rotation::Details(options.stream, chain.seq() + 1, chain.head(), chain.names().key_name,
                                         *chain.key(), *fresh);
    Status appended = details ? Status{} : Status(std::unexpected(details.error()));
    if (appended) {
      AuditEvent e = SystemEvent("key_rotation");
      e.details = std::move(*details);
      SealSystemEvent(e, out);
      appended = journal.Append(out, batch_span);
    }
    if (!appended) {
      chain.Restore(before);
      unsynced_leaves.resize(leaves_before);
      if (closes_epoch) checkpoints.fetch_sub(1, std::memory_order_relaxed);
      std::error_code ignored;
      std::filesystem::remove(next, ignored);
      return retry(appended.error().message);
    }
    written.fetch_add(closes_epoch ? 2 : 1, std::memory_order_relaxed);
    unsynced = true;
    // The journal now says the new key signs: so it does, whatever follows.
    chain.SetKey(std::move(*fresh));
    next_key_epoch = std::chrono::system_clock::now() + options.key_epoch;
    if (Status synced = journal.Sync(); !synced) {
      // The old key stays until a start finds the record on disk.
      OpsLog().error("signing key rotation of stream {}: the journal is not synced ({}); the previous key is "
                     "destroyed at the next start",
                     options.stream, synced.error().message);
      return;
    }
    syncs.fetch_add(1, std::memory_order_relaxed);
    last_sync = Steady::now();
    unsynced = false;
    LeavesSynced();
    if (Status destroyed = key_rotation::DestroyAndReplace(options.signing_key, next); !destroyed)
      OpsLog().error("signing key rotation of stream {}: the previous key is not destroyed ({}); the next start "
                     "tries again",
                     options.stream, destroyed.error().message);
    else
      OpsLog().info("signing key rotated: key {} signs the checkpoints of stream {} from seq {}",
                    chain.key()->KeyId(), options.stream, chain.seq());
    // A key is made for the epoch at the ring's end.
    if (options.upcoming_keys > 0)
      if (Status filled = key_rotation::FillRing(options.signing_key, options.upcoming_keys,
                                                 chain.names().key_name, *chain.key());
          !filled)
        OpsLog().error("signing key rotation of stream {}: the upcoming keys are not made ({}); the next rotation "
                       "takes one left, or makes its key itself",
                       options.stream, filled.error().message);
  }

  // Ends the active segment with a checkpoint that declares its time bounds
  // (unless its last record is one, or the bounds are not known), then starts
  // the next segment.
  Status SealAndRotate() {
    if (journal.span_known() && chain.since_checkpoint() > 0) {
      const Chain::Mark before = chain.Where();
      std::string seal;
      batch_span.reset();
      const size_t leaves_before = unsynced_leaves.size();
      SealCheckpoint(seal);
      if (Status appended = journal.Append(seal, batch_span); !appended) {
        chain.Restore(before);
        unsynced_leaves.resize(leaves_before);
        checkpoints.fetch_sub(1, std::memory_order_relaxed);
        return appended;
      }
      written.fetch_add(1, std::memory_order_relaxed);
    }
    Status rotated = journal.Rotate(chain.seq() + 1);  // syncs the segment it closes
    if (rotated) LeavesSynced();
    return rotated;
  }
  std::chrono::system_clock::time_point next_key_epoch;  // writer thread: when the key is rotated
  uint64_t unreported_drops_pending = 0;
  std::optional<journal::TimeSpan>
      batch_span;          // writer thread: when the records of batch_text were stamped
  std::string batch_text;  // writer thread: the lines of the batch being written
  // Writer thread: the leaves of the records sealed since the last sync. They
  // reach the stored tree only once the journal is synced, so that a tree
  // longer than the journal means records were taken out of it (an anchor),
  // not a crash.
  std::vector<Sha256Digest> unsynced_leaves;

  // Queues `event` (and in durable mode waits until it is on disk). The
  // pipeline's own events pass `may_drop = false`: they wait for room.
  Status Submit(const AuditEvent& event, bool may_drop) {
    if (options.mode != DeliveryMode::kDurable) return Queue(event, may_drop, {});
    Completion completion;
    Status queued = Queue(event, may_drop, [&](Prepared& p) { p.done = &completion; });
    if (!queued) return queued;
    Status status = completion.Wait();
    if (!status) refused.fetch_add(1, std::memory_order_relaxed);
    return status;
  }

  // Durable: `then` is told when the record is on disk (or is not).
  void SubmitThen(const AuditEvent& event, bool may_drop, AuditLogger::Done then) {
    if (options.mode != DeliveryMode::kDurable) return then(Queue(event, may_drop, {}));
    auto told = std::make_shared<AuditLogger::Done>(
        std::move(then));  // once: by the writer, or here on refusal
    Status queued = Queue(event, may_drop, [&](Prepared& p) {
      p.then = [this, told](const Status& status) {
        if (!status) refused.fetch_add(1, std::memory_order_relaxed);
        (*told)(status);
      };
    });
    if (!queued) (*told)(queued);
  }

  // Prepares `event` and queues it; `tell` says whom the writer tells.
  Status Queue(const AuditEvent& event, bool may_drop, const std::function<void(Prepared&)>& tell) {
    if (space.refusing()) {
      refused.fetch_add(1, std::memory_order_relaxed);
      return Fail(ErrorCode::kUnavailable,
                  "the audit disk is almost full (below admin_space_left): event refused");
    }
    const bool durable = options.mode == DeliveryMode::kDurable;
    Prepared prepared = Prepare(event);
    // Its integrity and salts come on top: a few hundred bytes a field.
    if (prepared.text.size() > journal::kMaxLineBytes / 2) {
      refused.fetch_add(1, std::memory_order_relaxed);
      return Fail(ErrorCode::kInvalidArgument, "the record is larger than a journal line may be (" +
                                                   std::to_string(prepared.text.size()) +
                                                   " bytes): event refused");
    }
    if (tell) tell(prepared);
    // Async: the writer polls every kAsyncPoll, so a call need not wake it
    // (a system call) unless records pile up.
    switch (queue.Push(std::move(prepared), /*wait=*/!may_drop, durable ? 0 : kWakeWriterBacklog)) {
      case PushResult::kOk:
        accepted.fetch_add(1, std::memory_order_relaxed);
        break;
      case PushResult::kFull:
        dropped.fetch_add(1, std::memory_order_relaxed);
        unreported_drops.fetch_add(1, std::memory_order_relaxed);
        return Fail(ErrorCode::kUnavailable, "audit queue full: event dropped");
      case PushResult::kClosed:
        return Fail(ErrorCode::kUnavailable, "the audit pipeline is closed");
    }
    return {};
  }

  void Run() {
    const bool durable = options.mode == DeliveryMode::kDurable;
    std::vector<Prepared> batch;
    bool closed = false;  // the queue is closed and empty: write the final checkpoint and stop
    int attempts_after_close = 0;
    while (true) {
      if (batch.empty()) {
        if (closed) break;
        closed =
            !queue.PopBatchFor(batch, 8192, durable ? std::chrono::milliseconds(100) : kAsyncPoll);
      } else if (!closed && batch.size() < options.queue_capacity) {
        // Retrying after a failed write (async): keep taking what arrives, up
        // to the queue's bound, so that a Flush is answered meanwhile.
        closed = !queue.PopBatchFor(batch, options.queue_capacity - batch.size(),
                                    std::chrono::milliseconds(0));
      }
      space.Check();
      const bool barrier =
          std::any_of(batch.begin(), batch.end(), [](const Prepared& p) { return p.flush_only; });
      auto [status, appended] =
          WriteBatch(batch, durable || barrier || closed, /*final_checkpoint=*/closed);
      if (status || (appended && !durable)) {
        // Async: written is what was promised; a failed sync is retried with the next batch.
        for (auto& item : batch) item.Finish(status);
        const bool huge = std::any_of(batch.begin(), batch.end(), [](const Prepared& p) {
          return p.text.size() > kLargeMessageBytes;
        });
        batch.clear();
        if (huge) ReleaseFreeMemory();
        if (closed) break;
        continue;
      }
      if (failures_unreported % 50 == 1)
        OpsLog().error("audit journal: {}", status.error().message);
      if (durable) {
        // Fail closed: every waiting call learns that its record is not on disk.
        for (auto& item : batch) item.Finish(status);
        batch.clear();
      } else {
        // Async: the calls went on; keep their records and try again. Barriers
        // (Flush) are answered now: their callers are waiting.
        std::erase_if(batch, [&](Prepared& p) {
          if (p.flush_only) p.Finish(status);
          return p.flush_only;
        });
      }
      if (closed && ++attempts_after_close > 50) {
        OpsLog().error("audit journal: giving up on {} records at shutdown", batch.size());
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
};

namespace {

// A stream name as a `stream` file may hold: 1 to 64 printable ASCII
// characters (MySQL's column is 64 wide), no spaces.
bool IsStreamName(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::ranges::all_of(name, [](char c) { return c > ' ' && c < 0x7f; });
}

Result<std::string> ReadStreamFile(const std::filesystem::path& path) {
  // A regular file only: not a FIFO that would block the start, nor a link
  // to somewhere else.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int why = fd < 0 ? errno : EINVAL;
    if (fd >= 0) ::close(fd);
    errno = why;
    return std::unexpected(ErrnoError("cannot read the stream name in", path));
  }
  std::string name(66, '\0');
  const ssize_t got = ::read(fd, name.data(), name.size());
  ::close(fd);
  name.resize(got > 0 ? static_cast<size_t>(got) : 0);
  if (name.ends_with('\n')) name.pop_back();
  if (!IsStreamName(name))
    return Fail(ErrorCode::kInvalidArgument,
                path.string() +
                    " holds no stream name (1 to 64 printable characters, no spaces): "
                    "write the journal's stream name back, or set [audit] stream");
  return name;
}

}  // namespace

Result<std::string> JournalStream(const std::filesystem::path& directory) {
  if (auto made = EnsureAuditDirectory(directory); !made) return std::unexpected(made.error());
  const std::filesystem::path path = directory / journal::kStreamFile;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return ReadStreamFile(path);
  std::string name = HostName();
  std::erase_if(name, [](char c) { return c <= ' ' || c >= 0x7f; });
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ec))
    if (journal::IsSegmentFile(entry) && entry.path() > newest) newest = entry.path();
  uint8_t random[4];
  SecureRandom()(random);
  if (newest.empty()) {
    name = name.substr(0, 55) + "-" + HexEncode(random);
  } else {
    // A journal without the file (begun before it existed, or the file was
    // deleted) goes on with the stream its newest record names.
    std::ifstream in(newest, std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), {});
    const auto last = ParseWithin(journal::LastLine(content), kMaxRecordDepth);
    if (last.is_object())
      if (std::string named = StringMember(ObjectMember(last, "integrity"), "stream");
          IsStreamName(named))
        name = std::move(named);
  }
  // Written whole under a name of its own, then linked: of two processes
  // starting on one directory, the first name stays and both read it.
  const std::filesystem::path draft =
      directory / (std::string(journal::kStreamFile) + "." + HexEncode(random) + ".new");
  auto fd = OpenAuditFile(draft, O_EXCL | O_TRUNC);
  if (!fd) return std::unexpected(fd.error());
  const std::string line = name + "\n";
  const bool written = WriteAll(*fd, line) == line.size() && ::fsync(*fd) == 0;
  ::close(*fd);
  // A filesystem without hard links: a rename, which keeps no first name.
  const bool linked =
      written &&
      (::link(draft.c_str(), path.c_str()) == 0 || errno == EEXIST ||
       ((errno == EPERM || errno == ENOTSUP) && ::rename(draft.c_str(), path.c_str()) == 0));
  const int link_errno = errno;
  std::filesystem::remove(draft, ec);
  if (!linked) {
    errno = link_errno;
    return std::unexpected(ErrnoError("cannot write", path));
  }
  SyncDirectory(directory);
  return ReadStreamFile(path);
}

namespace {

// The name the .vkey file beside the signing key gives it (`mcp-audit keygen`
// writes both); empty when there is none, or it is another key's (unless the
// key is `rotated`: the .vkey is then the first key's, and names its successors).
std::string KeyNameBeside(std::filesystem::path signing_key, const SigningKey& key, bool rotated) {
  signing_key.replace_extension(".vkey");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(signing_key, ec) || std::filesystem::file_size(signing_key, ec) > 4096)
    return "";
  auto text = ReadWholeFile(signing_key);
  if (!text) return "";
  auto verifier = note::ParseVerifierKey(*text);
  if (!verifier || (!rotated && verifier->key.PublicKeyBytes() != key.PublicKeyBytes())) {
    OpsLog().warn("{} is not the verifier key of the signing key: its name is not used", signing_key.string());
    return "";
  }
  return verifier->name;
}

// A key rotation an earlier run began (key_rotation.h): finished when the
// journal has the record that names the new key, else undone.
Status FinishKeyRotation(const std::filesystem::path& dir, const std::string& stream,
                         const std::filesystem::path& signing_key) {
  const std::filesystem::path next = key_rotation::NextKeyPath(signing_key);
  std::error_code ec;
  if (!std::filesystem::exists(next, ec)) return {};
  // Never removed unread: it may be the only copy of the key the journal names.
  auto fresh = SigningKey::LoadPrivate(next.string());
  if (!fresh)
    return Fail(ErrorCode::kInvalidArgument, "a signing key rotation of the last run is not finished, and its new "
                                             "key cannot be read: " + fresh.error().message);
  auto rotation = tlog::NewestRecord(dir, stream, "key_rotation");
  if (!rotation) return std::unexpected(rotation.error());
  if (*rotation && StringMember(ObjectMember(**rotation, "details"), "key_id") == fresh->KeyId()) {
    if (Status destroyed = key_rotation::DestroyAndReplace(signing_key, next); !destroyed) return destroyed;
    OpsLog().warn("the signing key rotation of the last run is finished: the previous key is destroyed");
    return {};
  }
  OpsLog().warn("a signing key rotation that did not reach the journal is undone: {} removed", next.string());
  std::filesystem::remove(next, ec);
  return {};
}

}  // namespace

std::string KnownJournalStream(const std::filesystem::path& directory) {
  auto named = ReadStreamFile(directory / journal::kStreamFile);
  return named ? *named : HostName();
}

Pipeline::Pipeline(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Pipeline>> Pipeline::Open(PipelineOptions options) {
  if (options.directory.empty())
    return Fail(ErrorCode::kInvalidArgument, "no audit directory given");
  if (options.stream.empty()) {
    auto stream = JournalStream(options.directory);
    if (!stream) return std::unexpected(stream.error());
    options.stream = std::move(*stream);
  }
  // Each pointer once: a record's salts are an object.
  std::sort(options.erasable.begin(), options.erasable.end());
  options.erasable.erase(std::unique(options.erasable.begin(), options.erasable.end()),
                         options.erasable.end());
  for (const auto& pointer : options.erasable) {
    try {
      nlohmann::json::json_pointer check(pointer);
    } catch (const std::exception&) {
      return Fail(ErrorCode::kInvalidArgument,
                  "erasable field '" + pointer + "' is not a JSON pointer (e.g. /user/email)");
    }
  }
  auto journal = Journal::Open(
      {options.directory, options.max_segment_bytes, options.max_segment_age}, options.stream);
  if (!journal) return std::unexpected(journal.error());
  std::optional<SigningKey> key;
  std::chrono::system_clock::time_point key_since = std::chrono::system_clock::now();
  if (options.key_epoch.count() > 0 && options.signing_key.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "key epochs ([integrity] key_epoch_hours) rotate the signing key, but no signing key is given");
  if (!options.signing_key.empty()) {
    std::error_code ec;
    if (options.key_epoch.count() > 0 && std::filesystem::is_symlink(options.signing_key, ec))
      return Fail(ErrorCode::kInvalidArgument,
                  options.signing_key.string() + " is a symlink: a signing key that rotates (key_epoch_hours) is "
                  "replaced in its directory, so name the file itself");
    if (Status finished = FinishKeyRotation(options.directory, options.stream, options.signing_key); !finished)
      return std::unexpected(finished.error());
    auto loaded = SigningKey::LoadPrivate(options.signing_key.string());
    if (!loaded) return std::unexpected(loaded.error());
    key.emplace(std::move(*loaded));
    // The key's epoch began when its file was written.
    struct stat info {};
    if (::stat(options.signing_key.c_str(), &info) == 0)
      key_since = std::chrono::system_clock::from_time_t(info.st_mtime);
  }
  if (options.origin.empty()) options.origin = note::DefaultOrigin(options.stream);
  if (options.key_name.empty() && key) options.key_name = KeyNameBeside(options.signing_key, *key, options.key_epoch.count() > 0);
  if (options.key_name.empty()) options.key_name = note::DefaultKeyName();
  if (!note::IsKeyName(options.key_name))
    return Fail(ErrorCode::kInvalidArgument,
                "key name '" + options.key_name + "': a key name has no spaces and no '+'");
  if (options.key_epoch.count() > 0 && options.upcoming_keys > 0)
    if (Status filled = key_rotation::FillRing(options.signing_key, options.upcoming_keys, options.key_name, *key);
        !filled)
      return Fail(filled.error().code, "the upcoming signing keys: " + filled.error().message);
  const ChainHead journal_head = journal->head();
  if (journal_head.seq >= kMaxSeq) {
    return Fail(ErrorCode::kInvalidArgument,
                "the journal in " + options.directory.string() + " ends with seq " +
                    std::to_string(journal_head.seq) + " of stream " + options.stream +
                    ": beyond any real stream, so its last record was edited; "
                    "run mcp-audit verify, and move the journal aside to start a new one");
  }
  // The Merkle tree of the stream, brought up to the journal's head. A tree
  // longer than the journal knows records the journal lost: an anchor.
  std::optional<merkle::StoredTree> tree;
  std::string no_tree;  // why checkpoints carry no note, when they do not
  if (auto opened = OpenJournalTree(options.directory, options.stream, journal_head.seq)) {
    if (opened->size() > journal_head.seq)
      options.anchors.push_back({"the Merkle tree", options.stream, opened->size(), ""});
    tree.emplace(std::move(*opened));
  } else {
    no_tree = opened.error().message;
  }
  // The anchors the journal is behind: it lost its newest records.
  nlohmann::json behind = nlohmann::json::array();
  uint64_t resume_after = journal_head.seq;
  for (const JournalAnchor& anchor : options.anchors) {
    if (anchor.stream != options.stream) continue;
    const bool ahead = anchor.seq > journal_head.seq;
    const bool rewritten =
        anchor.seq == journal_head.seq && !anchor.hash.empty() && anchor.hash != journal_head.hash;
    if (!ahead && !rewritten) continue;
    behind.push_back({{"source", anchor.source}, {"seq", anchor.seq}, {"hash", anchor.hash}});
    // An anchor edited to an impossible seq is an alarm, but moves the numbering nowhere.
    if (anchor.seq < kMaxSeq) resume_after = std::max(resume_after, anchor.seq);
  }
  auto state = std::make_unique<State>(std::move(options), std::move(*journal), std::move(key));
  state->next_key_epoch = key_since + state->options.key_epoch;
  state->chain.SkipTo(resume_after);
  if (tree) {
    auto edge = tree->Edge();
    if (!edge) {
      no_tree = edge.error().message;
    } else if (state->chain.SetTree(std::move(*edge))) {
      state->tree = std::move(tree);
    } else {
      no_tree = "it ends at leaf " + std::to_string(tree->size()) + ", not at seq " +
                std::to_string(state->chain.seq()) + " (records of the stream are not in the journal)";
    }
  }
  if (!no_tree.empty())
    OpsLog().error("the Merkle tree of stream {}: {}; its checkpoints carry no note", state->options.stream, no_tree);
  const Recovery recovery = state->journal.recovery();
  State* raw = state.get();
  // Read before the writer starts: a key rotation changes the chain's key.
  const std::string key_id = state->chain.key() ? state->chain.key()->KeyId() : "";
  state->writer = std::jthread([raw] { raw->Run(); });
  auto pipeline = std::unique_ptr<Pipeline>(new Pipeline(std::move(state)));

  AuditEvent started = pipeline->state_->SystemEvent("audit_started");
  started.details = {
      {"mode", pipeline->state_->options.mode == DeliveryMode::kDurable ? "durable" : "async"},
      {"stream", pipeline->state_->options.stream},
      {"previous_stop", !behind.empty()        ? "truncated"
                        : recovery.first_start ? "first_start"
                        : recovery.clean_stop  ? "clean"
                                               : "unclean"},
      {"signed_checkpoints", !key_id.empty()}};
  if (!key_id.empty()) started.details["key_id"] = key_id;
  // Whether its checkpoints sign the stream's Merkle root (mcp-audit checkpoint, prove).
  started.details["merkle_notes"] = no_tree.empty();
  if (!no_tree.empty()) started.details["merkle_notes_off"] = no_tree;
  if (recovery.first_start && behind.empty())
    OpsLog().info("audit journal: first start of stream {} in {}", pipeline->state_->options.stream,
                  pipeline->state_->options.directory.string());
  if (recovery.torn_bytes > 0) {
    started.details["recovered"] = {{"torn_bytes", recovery.torn_bytes},
                                    {"set_aside", recovery.set_aside.filename().string()}};
    OpsLog().warn("audit journal: a torn last record ({} bytes) was set aside in {}",
                  recovery.torn_bytes, recovery.set_aside.string());
  }
  if (auto logged = pipeline->state_->Submit(started, /*may_drop=*/false); !logged)
    return std::unexpected(logged.error());
  if (!behind.empty()) {
    const uint64_t first = journal_head.seq + 1;
    const std::string missing = resume_after < first ? ""
                                : first == resume_after
                                    ? std::to_string(first)
                                    : std::to_string(first) + "-" + std::to_string(resume_after);
    const std::string what =
        !missing.empty() ? "seq " + missing + " are missing"
        : behind[0]["seq"].get<uint64_t>() >= kMaxSeq
            ? "an anchor names seq " + std::to_string(behind[0]["seq"].get<uint64_t>()) +
                  ", beyond any real stream: it was edited"
            : "seq " + std::to_string(journal_head.seq) + " differs from the copy outside it";
    OpsLog().error("audit journal: stream {} ends at seq {}, but {} knows seq {}: {}",
                   pipeline->state_->options.stream, journal_head.seq,
                   behind[0]["source"].get<std::string>(), behind[0]["seq"].get<uint64_t>(), what);
    AuditEvent alarm = pipeline->state_->SystemEvent("integrity_alarm");
    alarm.outcome = Outcome::kFailure;
    alarm.error = AuditError{0, "the journal is behind what was recorded outside it: " + what,
                             missing.empty() ? "journal_rewritten" : "journal_behind_anchor"};
    alarm.details = {{"stream", pipeline->state_->options.stream},
                     {"journal_head", {{"seq", journal_head.seq}, {"hash", journal_head.hash}}},
                     {"missing", missing},
                     {"anchors", std::move(behind)}};
    if (auto logged = pipeline->state_->Submit(alarm, /*may_drop=*/false); !logged)
      return std::unexpected(logged.error());
  }
  return pipeline;
}

Pipeline::~Pipeline() {
  if (auto logged = state_->Submit(state_->SystemEvent("audit_stopped"), /*may_drop=*/false);
      !logged)
    OpsLog().error("audit_stopped not recorded: {}", logged.error().message);
  state_->queue.Close();
  if (state_->writer.joinable()) state_->writer.join();
}

Status Pipeline::Log(const AuditEvent& event) {
  return state_->Submit(event, state_->options.overflow == OverflowPolicy::kDrop);
}

Status Pipeline::LogSigned(const AuditEvent& event, Signer sign) {
  Completion completion;
  Status queued = state_->Queue(event, /*may_drop=*/false, [&](Prepared& p) {
    p.sign_at_write = std::make_unique<const SignedAtWrite>(SignedAtWrite{event, std::move(sign)});
    p.done = &completion;
  });
  if (!queued) return queued;
  if (Status written = completion.Wait(); !written) return written;
  return Flush();
}

void Pipeline::LogThen(const AuditEvent& event, Done done) {
  state_->SubmitThen(event, state_->options.overflow == OverflowPolicy::kDrop, std::move(done));
}

Status Pipeline::Ready() const {
  const State& s = *state_;
  // In durable mode a call must not run if its record cannot be kept: the
  // writer's last look at the disk may be from before it filled.
  if (s.options.mode == DeliveryMode::kDurable ? s.space.RefusingNow() : s.space.refusing())
    return Fail(ErrorCode::kUnavailable, "the audit disk is almost full (below admin_space_left)");
  if (s.options.mode == DeliveryMode::kDurable && s.write_failing.load(std::memory_order_relaxed))
    return Fail(ErrorCode::kUnavailable, "the audit journal cannot be written at the moment");
  return {};
}

Status Pipeline::Writable() const {
  if (state_->write_failing.load(std::memory_order_relaxed))
    return Fail(ErrorCode::kUnavailable, "the audit journal cannot be written at the moment");
  return {};
}

Status Pipeline::Flush() {
  Completion completion;
  Prepared barrier;
  barrier.flush_only = true;
  barrier.done = &completion;
  if (state_->queue.Push(std::move(barrier), /*wait=*/true) != PushResult::kOk)
    return Fail(ErrorCode::kUnavailable, "the audit pipeline is closed");
  return completion.Wait();
}

DeliveryMode Pipeline::mode() const { return state_->options.mode; }

PipelineCounters Pipeline::counters() const {
  const State& s = *state_;
  return {s.accepted.load(), s.dropped.load(), s.refused.load(),    s.written.load(),
          s.failed.load(),   s.syncs.load(),   s.checkpoints.load()};
}

}  // namespace mcpaudit
