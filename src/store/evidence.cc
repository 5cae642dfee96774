#include "store/evidence.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "audit/journal_format.h"
#include "audit/key_rotation.h"
#include "audit/merkle_tree.h"
#include "base/bounded_json.h"
#include "base/line_reader.h"
#include "mcpaudit/audit_event.h"
#include "store/tlog.h"

namespace mcpaudit::evidence {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "mcp-audit-evidence/1";
constexpr std::string_view kRecordsFile = "records.jsonl";
// A proof is its record's canonical form in base64, a path and a checkpoint.
constexpr size_t kMaxProofBytes = journal::kMaxLineBytes / 3 * 4 + (64 << 10);
// The manifest, a checkpoint, a key, the README: each, and all of them.
constexpr size_t kMaxSmallFileBytes = 1 << 20;
constexpr size_t kMaxSmallFiles = 4096;
constexpr size_t kMaxSmallBytes = 16 << 20;
// What a bundle checked in memory may hold (about 100 bytes of each record
// are kept until its proof is read).
constexpr size_t kMaxBundleRecords = 4'000'000;
// Problems past this many are counted, not listed.
constexpr size_t kMaxProblems = 1000;

struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct FileClose {
  void operator()(FILE* file) const { std::fclose(file); }
};
using ReadArchive = std::unique_ptr<archive, ReadFree>;

// What libarchive says went wrong.
std::string ErrorOf(archive* a) {
  if (!a) return "out of memory";
  const char* error = archive_error_string(a);
  return error ? error : std::strerror(archive_errno(a));
}

std::vector<const note::Verifier*> PointersTo(const std::vector<note::Verifier>& keys) {
  std::vector<const note::Verifier*> pointers;
  for (const auto& key : keys) pointers.push_back(&key);
  return pointers;
}

std::string HexId(const note::Verifier& key) {
  return HexEncode({reinterpret_cast<const uint8_t*>(key.id.data()), key.id.size()});
}

// The README of a bundle: what its manifest says, and how to check it.
std::string Readme(const json& manifest) {
  std::string keys, origins;
  for (const json& key : ArrayMember(manifest, "keys"))
    keys += "  " + StringMember(key, "file") + ": " + StringMember(key, "name") + ", key id " +
            StringMember(key, "id") + "\n";
  for (const json& stream : ArrayMember(manifest, "streams"))
    origins += "  " + StringMember(stream, "checkpoint") + ": " + StringMember(stream, "origin") + ", a tree of " +
               std::to_string(UnsignedMember(stream, "tree_size")) + " records\n";
  return "# Evidence from an audit log\n\n"
         "This bundle holds " + std::to_string(UnsignedMember(manifest, "records")) +
         " records of an mcp-audit log (records.jsonl, as stored; erased values stay\n"
         "erased), each with a proof that it is in the log as a signed checkpoint of the log\n"
         "states it. manifest.json says what was selected (\"selection\"). The checkpoints:\n\n" +
         origins +
         "\nCopies of the keys that sign them (never trust a key because a bundle brings it):\n\n" + keys +
         "\n## Check it with mcp-audit\n\n"
         "    mcp-audit verify --bundle THIS_FILE.tar.gz --vkey THE_KEY_YOU_WERE_GIVEN.vkey --origin THE_LOG\n\n"
         "The verifier key is the whole line its operator published to you (audit-signing.vkey),\n"
         "not a key id. Exit 0: every record is in the tree the checkpoint signs, unchanged, and\n"
         "the checkpoint is signed by that key (and cosigned by each --witness-vkey given).\n"
         "Exit 1: what failed is named, record by record. Exit 2: the file is not readable.\n\n"
         "## Check it with any RFC 6962 and signed-note implementation\n\n"
         "Each proofs/<record id>.tlog-proof is a c2sp.org/tlog-proof@v1 file:\n"
         "- its `extra` line is the base64 of d, the record the proof proves: the record's\n"
         "  JSON without its `integrity` member in RFC 8785 (JCS) form, where each value that\n"
         "  integrity.salts names is {\"$erased\": hex SHA-256 of the salt's 32 hex digits\n"
         "  followed by the value's JCS form} (an erasure thus changes nothing in d);\n"
         "  compare d with the line of records.jsonl;\n"
         "- its `index` is the record's integrity.seq - 1, its leaf hash SHA-256(0x00 || d);\n"
         "- the hashes that follow are its RFC 6962 inclusion path in the tree that the\n"
         "  checkpoint after the blank line signs: a c2sp.org/tlog-checkpoint signed note\n"
         "  (c2sp.org/signed-note, Ed25519), the same as in checkpoints/.\n"
         "Go's golang.org/x/mod/sumdb/note (note.Open with the key you were given) and\n"
         "sumdb/tlog (CheckRecord) check them, for instance.\n\n"
         "## What a bundle does not prove\n\n"
         "- That it holds every record of the log the selection matches: that takes the log\n"
         "  itself (mcp-audit verify on the journal).\n"
         "- That the log shows everyone the same tree: whoever holds the key can sign another.\n"
         "  Compare the checkpoint with one you kept (mcp-audit prove --old-size, verify\n"
         "  --old-checkpoint), or ask for witnesses' cosignatures (verify --witness-vkey).\n"
         "- The members of integrity other than seq and salts: the proofs do not cover them.\n";
}

}  // namespace

struct BundleWriter::State {
  struct Stream {
    std::string note;
    note::Checkpoint checkpoint;
    std::vector<std::string> key_rotations;
  };

  ~State() {
    archive_.reset();
    if (fd >= 0) ::close(fd);
    if (!finished && !out.empty()) ::unlink(out.c_str());
  }

  // A write that failed: of the archive, or (`system`) of a file.
  std::unexpected<Error> Fault(const std::string& doing, bool system = false) const {
    return Fail(ErrorCode::kIo, "cannot write " + out.string() + " (" + doing + "): " +
                                    (system ? std::strerror(errno) : ErrorOf(archive_.get())));
  }

  // Adds the file `name` of `size` bytes that `write` writes.
  Status Entry(const std::string& name, size_t size, const std::function<Status()>& write) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0600);
    archive_entry_set_mtime(entry.get(), created, 0);
    if (archive_write_header(archive_.get(), entry.get()) != ARCHIVE_OK) return Fault(name);
    return write();
  }
  Status Data(std::string_view data) {
    if (archive_write_data(archive_.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
      return Fault("data");
    return {};
  }
  Status Entry(const std::string& name, std::string_view data) {
    return Entry(name, data.size(), [&] { return Data(data); });
  }

  std::filesystem::path out;  // set once created: what an unfinished bundle removes
  int fd = -1;
  std::unique_ptr<archive, WriteFree> archive_;
  std::unique_ptr<FILE, FileClose> records;  // records.jsonl, until Finish
  std::unique_ptr<tlog::Prover> prover;
  std::vector<std::string> vkeys;
  std::vector<note::Verifier> keys;
  std::map<std::string, Stream> streams;
  size_t count = 0;
  time_t created = 0;
  bool finished = false;
};

BundleWriter::BundleWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
BundleWriter::~BundleWriter() = default;

size_t BundleWriter::records() const { return state_->count; }

Result<std::unique_ptr<BundleWriter>> BundleWriter::Create(const std::filesystem::path& out,
                                                           std::filesystem::path journal_dir,
                                                           std::vector<std::string> vkeys) {
  auto state = std::make_unique<State>();
  std::ranges::sort(vkeys);
  vkeys.erase(std::unique(vkeys.begin(), vkeys.end()), vkeys.end());
  for (const std::string& vkey : vkeys) {
    auto key = note::ParseVerifierKey(vkey);
    if (!key) return Fail(ErrorCode::kInvalidArgument, "a verifier key: " + key.error().message);
    state->keys.push_back(std::move(*key));
  }
  if (state->keys.empty())
    return Fail(ErrorCode::kInvalidArgument, "a bundle needs the verifier key that signs the checkpoints");
  state->vkeys = std::move(vkeys);
  state->prover = std::make_unique<tlog::Prover>(std::move(journal_dir));
  state->created = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  // It holds personal data: only its owner reads it; an existing file (an
  // earlier bundle, evidence) is never replaced.
  state->fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (state->fd < 0)
    return Fail(ErrorCode::kIo, "cannot create " + out.string() + ": " + std::strerror(errno) +
                                    (errno == EEXIST ? " (a bundle is never written over a file)" : ""));
  state->out = out;
  state->records.reset(std::tmpfile());
  if (!state->records) return state->Fault("a temporary file", true);
  state->archive_.reset(archive_write_new());
  if (!state->archive_ || archive_write_add_filter_gzip(state->archive_.get()) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(state->archive_.get()) != ARCHIVE_OK ||
      archive_write_open_fd(state->archive_.get(), state->fd) != ARCHIVE_OK)
    return state->Fault("tar.gz");
  return std::unique_ptr<BundleWriter>(new BundleWriter(std::move(state)));
}

Result<bool> BundleWriter::Add(const std::string& line) {
  State& s = *state_;
  if (s.count == kMaxBundleRecords)
    return Fail(ErrorCode::kInvalidArgument, "a bundle holds at most " + std::to_string(kMaxBundleRecords) +
                                                 " records: narrow the selection (--since, --until)");
  const json record = ParseWithin(line, kMaxRecordDepth);
  const std::string id = StringMember(record, "id");
  const json integrity = ObjectMember(record, "integrity");
  const std::string stream = StringMember(integrity, "stream");
  if (!tlog::IsRecordId(id)) return Fail(ErrorCode::kInvalidArgument, "a record without a valid id (run verify)");
  auto newest = s.prover->Checkpoint(stream);
  if (!newest) return std::unexpected(newest.error());
  if (UnsignedMember(integrity, "seq") > (*newest)->size) return false;
  if (!s.streams.contains(stream)) {
    auto epoch = key_rotation::EpochKeys(PointersTo(s.keys), (*newest)->key_rotations, (*newest)->size);
    auto opened = epoch ? note::Open((*newest)->note, PointersTo(*epoch)) : Result<note::Opened>(std::unexpected(epoch.error()));
    if (!opened)
      return Fail(ErrorCode::kInvalidArgument, "the checkpoint of stream " + stream +
                                                   " is not signed by the verifier keys given: " +
                                                   opened.error().message);
    auto checkpoint = note::ParseCheckpoint(opened->text);
    if (!checkpoint) return std::unexpected(checkpoint.error());
    s.streams.emplace(stream, State::Stream{(*newest)->note, std::move(*checkpoint), (*newest)->key_rotations});
  }
  auto proof = s.prover->Prove(line);
  if (!proof) return std::unexpected(proof.error());
  if (Status written = s.Entry("proofs/" + id + ".tlog-proof", tlog::TlogProofFile(*proof)); !written)
    return std::unexpected(written.error());
  if (std::fwrite(line.data(), 1, line.size(), s.records.get()) != line.size() ||
      std::fputc('\n', s.records.get()) == EOF)
    return s.Fault("a temporary file", true);
  ++s.count;
  return true;
}

Status BundleWriter::Finish(const json& selection) {
  State& s = *state_;
  // records.jsonl, from the temporary file.
  FILE* records = s.records.get();
  const off_t size = std::fflush(records) == 0 ? ::ftello(records) : -1;
  if (size < 0 || std::fseek(records, 0, SEEK_SET) != 0) return s.Fault("a temporary file", true);
  Status copied = s.Entry(std::string(kRecordsFile), static_cast<size_t>(size), [&]() -> Status {
    std::array<char, 1 << 16> buffer;
    for (size_t read; (read = std::fread(buffer.data(), 1, buffer.size(), records)) > 0;)
      if (Status data = s.Data({buffer.data(), read}); !data) return data;
    return std::ferror(records) ? s.Fault("a temporary file", true) : Status{};
  });
  if (!copied) return copied;
  s.records.reset();

  json manifest = {{"format", kFormat},
                   {"created", FormatTimestamp(std::chrono::system_clock::from_time_t(s.created))},
                   {"selection", selection},
                   {"records", s.count},
                   {"records_file", kRecordsFile},
                   {"streams", json::array()},
                   {"keys", json::array()}};
  for (const auto& [stream, known] : s.streams) {
    const std::string file = "checkpoints/" + merkle::FileNameOf(stream);
    if (Status written = s.Entry(file, known.note); !written) return written;
    manifest["streams"].push_back({{"stream", stream},
                                   {"origin", known.checkpoint.origin},
                                   {"tree_size", known.checkpoint.size},
                                   {"checkpoint", file},
                                   {"key_rotations", known.key_rotations}});
  }
  for (size_t i = 0; i < s.keys.size(); ++i) {
    const std::string file = "keys/" + HexId(s.keys[i]) + ".vkey";
    if (Status written = s.Entry(file, s.vkeys[i] + "\n"); !written) return written;
    manifest["keys"].push_back({{"name", s.keys[i].name}, {"id", HexId(s.keys[i])}, {"file", file}});
  }
  if (Status written = s.Entry("manifest.json", manifest.dump(2) + "\n"); !written) return written;
  if (Status written = s.Entry("README.md", Readme(manifest)); !written) return written;
  if (archive_write_close(s.archive_.get()) != ARCHIVE_OK) return s.Fault("tar.gz");
  if (::fsync(s.fd) != 0) return s.Fault("fsync", true);
  s.finished = true;
  return {};
}

namespace {

// An archive opened for reading, from its start (a bundle is read in passes).
using Opener = std::function<Result<ReadArchive>()>;

Result<ReadArchive> NewReader() {
  ReadArchive reader(archive_read_new());
  if (!reader || archive_read_support_filter_gzip(reader.get()) != ARCHIVE_OK ||
      archive_read_support_format_tar(reader.get()) != ARCHIVE_OK)
    return Fail(ErrorCode::kInternal, "libarchive cannot read tar.gz");
  return reader;
}

Status OpenFailed(archive* reader, const std::string& what) {
  return Fail(ErrorCode::kInvalidArgument, what + " is not a tar.gz archive: " +
                                               ErrorOf(reader));
}

// The next entry of `reader`: its name and whether it is a file; nullopt at the end.
struct EntryHead {
  std::string name;
  bool file = false;
  bool directory = false;  // as an archive made again with tar holds them
};
Result<std::optional<EntryHead>> NextEntry(archive* reader) {
  archive_entry* entry = nullptr;
  const int status = archive_read_next_header(reader, &entry);
  if (status == ARCHIVE_EOF) return std::nullopt;
  // A warning is a header libarchive read otherwise than tar would (a pax
  // record it dropped): what verify checks would not be what tar extracts.
  if (status != ARCHIVE_OK) return Fail(ErrorCode::kInvalidArgument, ErrorOf(reader));
  const char* path = archive_entry_pathname(entry);
  std::string_view name = path ? path : "";
  while (name.starts_with("./")) name.remove_prefix(2);  // as `tar -C DIR .` names them
  // A hard link names another entry's content: tar extracts that, not its own.
  const bool link = archive_entry_hardlink(entry) != nullptr || archive_entry_symlink(entry) != nullptr;
  return EntryHead{std::string(name), !link && archive_entry_filetype(entry) == AE_IFREG,
                   !link && archive_entry_filetype(entry) == AE_IFDIR};
}

// The current entry's data: at most `limit` bytes, else nullopt.
Result<std::optional<std::string>> EntryData(archive* reader, size_t limit) {
  std::string data;
  std::array<char, 1 << 16> buffer;
  for (;;) {
    const la_ssize_t read = archive_read_data(reader, buffer.data(), buffer.size());
    if (read < 0)
      return Fail(ErrorCode::kInvalidArgument, ErrorOf(reader));
    if (read == 0) return data;
    if (data.size() + static_cast<size_t>(read) > limit) return std::nullopt;
    data.append(buffer.data(), static_cast<size_t>(read));
  }
}

// The current entry of an archive as a stream (records.jsonl, read by lines).
class EntryStream : public std::streambuf {
 public:
  explicit EntryStream(archive* reader) : reader_(reader) {}
  bool failed() const { return failed_; }

 protected:
  int_type underflow() override {
    const la_ssize_t read = archive_read_data(reader_, buffer_.data(), buffer_.size());
    if (read <= 0) {
      failed_ = read < 0;
      return traits_type::eof();
    }
    setg(buffer_.data(), buffer_.data(), buffer_.data() + read);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  archive* reader_;
  std::array<char, 1 << 16> buffer_;
  bool failed_ = false;
};

// Checks a bundle in three passes over its archive: what it holds, its
// records, their proofs. Memory holds the small files, one record or proof at
// a time, and about 100 bytes of each record (kMaxBundleRecords).
class BundleCheck {
 public:
  BundleCheck(Opener open, const std::vector<note::Verifier>& keys, std::string origin)
      : open_(std::move(open)), given_keys_(keys), origin_(std::move(origin)) {}

  Result<BundleReport> Run() {
    if (Status read = Inventory(); !read) return std::unexpected(read.error());
    if (report_.valid() && CheckManifest() && CheckKeyFiles() && OpenCheckpoints() && CheckReadme())
      if (Status paired = CheckRecords(); !paired) Problem("the archive is damaged: " + paired.error().message);
    if (dropped_ > 0) report_.problems.push_back("… and " + std::to_string(dropped_) + " more problems");
    report_.unlisted = dropped_;
    if (report_.valid()) Summarize();
    return std::move(report_);
  }

 private:
  struct Stream {
    std::string file;
    std::string note;
    note::Checkpoint checkpoint;
    note::Opened opened;  // with the key of its epoch, and the witnesses' given
  };

  void Problem(std::string text) {
    if (report_.problems.size() < kMaxProblems) report_.problems.push_back(std::move(text));
    else ++dropped_;
  }

  // Pass 1: the names, and the small files whole (the proofs and records are read in pass 2).
  Status Inventory() {
    auto reader = open_();
    if (!reader) return std::unexpected(reader.error());
    std::set<std::string> seen;
    for (bool first = true; dropped_ == 0; first = false) {
      auto head = NextEntry(reader->get());
      if (!head && first) return OpenFailed(reader->get(), "the bundle");
      if (!head) {
        Problem("the archive is damaged: " + head.error().message);
        break;
      }
      if (!*head) break;
      const std::string& name = (*head)->name;
      if ((*head)->directory) {
        continue;
      } else if (!(*head)->file) {
        Problem(name + " is not a file");
      } else if (name.starts_with("proofs/")) {
        // Checked beside their records.
      } else if (!seen.insert(name).second) {
        Problem(name + " is in the archive twice");
      } else if (name == kRecordsFile) {
        has_records_ = true;
      } else if (name == "manifest.json" || name == "README.md" || name.starts_with("checkpoints/") ||
                 name.starts_with("keys/")) {
        if (small_.size() == kMaxSmallFiles || small_bytes_ > kMaxSmallBytes) {
          Problem("too many files in the bundle");
          break;
        }
        auto data = EntryData(reader->get(), kMaxSmallFileBytes);
        if (!data) {
          Problem("the archive is damaged: " + data.error().message);
          break;
        }
        if (!*data) {
          Problem(name + " is larger than a bundle's " + name.substr(0, name.find('/')) + " can be");
          break;
        }
        small_bytes_ += (*data)->size();
        small_.emplace(name, std::move(**data));
      } else {
        Problem("an unexpected file in the bundle: " + name);
        break;
      }
    }
    if (!small_.contains("manifest.json")) Problem("no manifest.json: not an mcp-audit evidence bundle");
    if (!has_records_) Problem("no records.jsonl: the bundle holds no records");
    return {};
  }

  bool CheckManifest() {
    manifest_ = ParseWithin(small_["manifest.json"], 16);
    if (StringMember(manifest_, "format") != kFormat) {
      Problem("manifest.json is not of an mcp-audit evidence bundle (" + std::string(kFormat) + ")");
      return false;
    }
    if (!manifest_.contains("records") || !manifest_["records"].is_number_unsigned()) {
      Problem("manifest.json does not say how many records the bundle holds");
      return false;
    }
    return true;
  }

  // keys/: each file the manifest lists, a verifier key of the name and id it
  // says, and no other file (the bundle's copies: verify trusts the keys given).
  bool CheckKeyFiles() {
    std::set<std::string> listed;
    for (const json& key : ArrayMember(manifest_, "keys")) {
      const std::string file = StringMember(key, "file");
      const auto text = small_.find(file);
      auto parsed = text == small_.end() || !file.starts_with("keys/")
                        ? Result<note::Verifier>(Fail(ErrorCode::kNotFound, "not in the bundle"))
                        : note::ParseVerifierKey(text->second);
      if (!parsed || parsed->name != StringMember(key, "name") || HexId(*parsed) != StringMember(key, "id"))
        Problem("manifest.json lists the key " + file + ", which is not the key it says" +
                (parsed ? "" : ": " + parsed.error().message));
      listed.insert(file);
    }
    for (const auto& [name, text] : small_)
      if (name.starts_with("keys/") && !listed.contains(name)) Problem(name + " is a key manifest.json does not list");
    return report_.valid();
  }

  // The README says what the manifest says, nothing else.
  bool CheckReadme() {
    const auto readme = small_.find("README.md");
    if (readme == small_.end() || readme->second != Readme(manifest_))
      Problem("README.md is not the one mcp-audit writes for this manifest.json");
    return report_.valid();
  }

  const std::vector<note::Verifier>& Keys() const { return given_keys_; }

  bool OpenCheckpoints() {
    for (const json& stream : ArrayMember(manifest_, "streams")) {
      const std::string name = StringMember(stream, "stream"), file = StringMember(stream, "checkpoint");
      const auto text = small_.find(file);
      if (!file.starts_with("checkpoints/") || text == small_.end()) {
        Problem("the checkpoint of stream " + name + " is not in the bundle");
        continue;
      }
      // The keys given, handed on by the key rotations up to the checkpoint.
      std::vector<std::string> rotations;
      for (const json& rotation : ArrayMember(stream, "key_rotations"))
        if (rotation.is_string()) rotations.push_back(rotation.get<std::string>());
      std::vector<const note::Verifier*> first;
      std::vector<note::Verifier> keys;
      for (const auto& key : Keys()) (key.cosigner ? keys.push_back(note::CopyOf(key)) : first.push_back(&key));
      auto stated = note::ParseCheckpoint(note::TextOf(text->second));
      auto epoch = key_rotation::EpochKeys(first, rotations, stated ? stated->size : 0);
      if (!epoch) {
        Problem(file + ": " + epoch.error().message);
        continue;
      }
      for (auto& key : *epoch) keys.push_back(std::move(key));
      auto opened = note::Open(text->second, PointersTo(keys));
      if (!opened) {
        Problem(file + ": " + opened.error().message);
        continue;
      }
      auto checkpoint = note::ParseCheckpoint(opened->text);
      if (!checkpoint) {
        Problem(file + ": " + checkpoint.error().message);
        continue;
      }
      if (!origin_.empty() && checkpoint->origin != origin_) {
        Problem(file + " is a checkpoint of the log " + checkpoint->origin + ", not of " + origin_);
        continue;
      }
      if (StringMember(stream, "origin") != checkpoint->origin || !stream.contains("tree_size") ||
          stream["tree_size"] != checkpoint->size) {
        Problem("manifest.json says another origin or tree size of stream " + name + " than " + file);
        continue;
      }
      if (Status witnessed = tlog::CheckWitnessed(text->second, PointersTo(keys)); !witnessed) {
        Problem(file + ": " + witnessed.error().message);
        continue;
      }
      if (!streams_.emplace(name, Stream{file, text->second, std::move(*checkpoint), std::move(*opened)}).second)
        Problem("manifest.json names stream " + name + " twice");
    }
    if (streams_.empty()) Problem("manifest.json names no stream with a checkpoint");
    for (const auto& [name, text] : small_)
      if (name.starts_with("checkpoints/") &&
          std::ranges::none_of(streams_, [&](const auto& stream) { return stream.second.file == name; }))
        Problem(name + " is a checkpoint manifest.json does not name");
    return report_.valid();
  }

  // Pass 2: what each line of records.jsonl must be proved to be; pass 3:
  // each proof against the record it names (an archive made again may hold
  // them in any order).
  Status CheckRecords() {
    if (Status read = ReadRecords(); !read) return read;
    auto proofs = open_();
    if (!proofs) return std::unexpected(proofs.error());
    for (;;) {
      auto proof = NextProof(proofs->get());
      if (!proof) return std::unexpected(proof.error());
      if (!*proof) break;
      CheckProof(**proof);
    }
    std::map<size_t, std::string> unproved;  // by line: the same report each time
    for (const auto& [id, record] : records_)
      if (!record.proved) unproved.emplace(record.line, id);
    for (const auto& [line, id] : unproved) Problem(Label(id, line) + " has no proof");
    if (report_.records == 0) Problem("records.jsonl holds no record");
    if (manifest_["records"].get<uint64_t>() != report_.records)
      Problem("manifest.json says " + std::to_string(manifest_["records"].get<uint64_t>()) +
              " records; records.jsonl holds " + std::to_string(report_.records));
    return {};
  }

  // A record as its proof must prove it.
  struct Expected {
    size_t line = 0;
    const Stream* stream = nullptr;
    uint64_t index = 0;
    Sha256Digest leaf{};  // SHA-256 of C(N), as the proof's extra line must hold it
    bool proved = false;
  };

  static std::string Label(const std::string& id, size_t line) {
    return "record " + id + " (records.jsonl line " + std::to_string(line) + ")";
  }

  Status ReadRecords() {
    auto records = open_();
    if (!records) return std::unexpected(records.error());
    for (;;) {
      auto head = NextEntry(records->get());
      if (!head) return std::unexpected(head.error());
      if (!*head) return Fail(ErrorCode::kInvalidArgument, "records.jsonl is gone on a second read");
      if ((*head)->name == kRecordsFile) break;
    }
    EntryStream buffer(records->get());
    std::istream in(&buffer);
    std::string line;
    for (size_t number = 1;; ++number) {
      const LineRead read = ReadLineWithin(in, line, journal::kMaxLineBytes);
      if (buffer.failed()) return Fail(ErrorCode::kInvalidArgument, "records.jsonl cannot be read whole");
      if (read.bytes == 0) break;
      report_.records = number;
      if (records_.size() == kMaxBundleRecords)
        return Fail(ErrorCode::kInvalidArgument, "records.jsonl holds more than " +
                                                     std::to_string(kMaxBundleRecords) + " records");
      ReadRecord(number, read.too_long ? std::string() : line);
    }
    return {};
  }

  void ReadRecord(size_t number, const std::string& line) {
    const json record = ParseWithin(line, kMaxRecordDepth);
    const std::string id = StringMember(record, "id");
    if (!record.is_object() || !tlog::IsRecordId(id))
      return Problem("records.jsonl line " + std::to_string(number) + " is not a record");
    const json integrity = ObjectMember(record, "integrity");
    const std::string stream_name = StringMember(integrity, "stream");
    const auto stream = streams_.find(stream_name);
    if (stream == streams_.end()) return Problem(Label(id, number) + ": no checkpoint of its stream " + stream_name);
    const uint64_t seq = UnsignedMember(integrity, "seq");
    if (seq == 0) return Problem(Label(id, number) + " has no seq");
    // As the writer wrote it: no member repeated, reordered or spelled
    // otherwise, so that every reader reads the record the proof proves.
    if (journal::RecordLine(record) != line)
      return Problem(Label(id, number) + " is not written as the journal writes records (a member repeated, "
                                         "moved or spelled otherwise)");
    auto canonical = journal::CanonicalForHash(record, ObjectMember(integrity, "salts"));
    if (!canonical) return Problem(Label(id, number) + ": " + canonical.error().message);
    const Expected expected{number, &stream->second, seq - 1, Sha256().Update(*canonical).Digest(), false};
    if (!records_.emplace(id, expected).second) Problem(Label(id, number) + " is in records.jsonl twice");
  }

  struct Proof {
    std::string name;
    std::optional<std::string> text;  // nullopt: too large
  };
  static Result<std::optional<Proof>> NextProof(archive* reader) {
    for (;;) {
      auto head = NextEntry(reader);
      if (!head) return std::unexpected(head.error());
      if (!*head) return std::nullopt;
      if (!(*head)->file || !(*head)->name.starts_with("proofs/")) continue;
      auto data = EntryData(reader, kMaxProofBytes);
      if (!data) return std::unexpected(data.error());
      return Proof{(*head)->name, std::move(*data)};
    }
  }

  void CheckProof(const Proof& proof) {
    constexpr std::string_view kPrefix = "proofs/", kSuffix = ".tlog-proof";
    const std::string_view name = proof.name;
    const std::string id(name.substr(kPrefix.size(), name.ends_with(kSuffix) ? name.size() - kPrefix.size() -
                                                                                   kSuffix.size()
                                                                             : std::string_view::npos));
    const auto found = records_.find(id);
    if (!name.ends_with(kSuffix) || found == records_.end())
      return Problem(proof.name + " proves a record that records.jsonl does not hold");
    Expected& record = found->second;
    const std::string label = Label(id, record.line);
    if (record.proved) return Problem(label + " has two proofs");
    record.proved = true;
    if (!proof.text) return Problem(label + ": its proof is larger than a proof can be");
    const auto parsed = tlog::ParseTlogProofFile(*proof.text);
    if (!parsed) return Problem(label + ": " + proof.name + " is not a c2sp.org/tlog-proof@v1 file");
    if ((*parsed)["checkpoint"] != record.stream->note)
      return Problem(label + ": its proof is against another checkpoint than " + record.stream->file);
    const auto leaf = parsed->contains("leaf") ? Base64Decode((*parsed)["leaf"].get<std::string>()) : std::nullopt;
    if (!leaf || Sha256().Update(*leaf).Digest() != record.leaf) return Problem(label + " is not the record its proof proves: it was changed");
    if ((*parsed)["index"] != record.index)
      return Problem(label + ": its seq " + std::to_string(record.index + 1) +
                     " is not the place its proof proves (index " + (*parsed)["index"].dump() + ")");
    // Its checkpoint is the stream's, opened once with the keys of its epoch.
    const tlog::Checked checked = tlog::CheckInclusion(*parsed, record.stream->opened, record.stream->checkpoint);
    if (!checked.valid) Problem(label + ": " + checked.summary);
  }

  void Summarize() {
    std::string of;
    for (const auto& [name, stream] : streams_)
      of += (of.empty() ? "" : "; ") + stream.checkpoint.origin + "'s tree of " +
            std::to_string(stream.checkpoint.size) + " records, signed by " + tlog::SignedBy(stream.opened);
    report_.summary = "valid: " + std::to_string(report_.records) +
                      " records, each unchanged and in the tree its checkpoint signs: " + of;
  }

  Opener open_;
  const std::vector<note::Verifier>& given_keys_;
  std::string origin_;
  std::map<std::string, std::string> small_;
  json manifest_;
  std::map<std::string, Stream> streams_;
  std::unordered_map<std::string, Expected> records_;
  bool has_records_ = false;
  size_t dropped_ = 0;
  size_t small_bytes_ = 0;
  BundleReport report_;
};

}  // namespace

Result<BundleReport> CheckBundle(const std::filesystem::path& file, const std::vector<note::Verifier>& keys,
                                 const std::string& origin) {
  if (keys.empty()) return Fail(ErrorCode::kInvalidArgument, "a bundle is checked with the key you were given");
  return BundleCheck(
             [&file]() -> Result<ReadArchive> {
               std::error_code error;
               if (!std::filesystem::is_regular_file(file, error))
                 return Fail(ErrorCode::kIo, "cannot read " + file.string() + ": not a file");
               auto reader = NewReader();
               if (!reader) return reader;
               if (archive_read_open_filename(reader->get(), file.c_str(), 1 << 16) != ARCHIVE_OK)
                 return std::unexpected(OpenFailed(reader->get(), file.string()).error());
               return reader;
             },
             keys, origin)
      .Run();
}

Result<BundleReport> CheckBundleBytes(std::string_view bytes, const std::vector<note::Verifier>& keys,
                                      const std::string& origin) {
  if (keys.empty()) return Fail(ErrorCode::kInvalidArgument, "a bundle is checked with the key you were given");
  return BundleCheck(
             [bytes]() -> Result<ReadArchive> {
               auto reader = NewReader();
               if (!reader) return reader;
               if (archive_read_open_memory(reader->get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
                 return std::unexpected(OpenFailed(reader->get(), "the bundle").error());
               return reader;
             },
             keys, origin)
      .Run();
}

}  // namespace mcpaudit::evidence
