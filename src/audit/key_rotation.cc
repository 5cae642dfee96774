#include "audit/key_rotation.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <optional>
#include <vector>

#include "audit/signed_note.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "mcpaudit/clock.h"

namespace mcpaudit::key_rotation {
namespace {

std::string RotationText(std::string_view stream, uint64_t seq, std::string_view prev, std::string_view vkey) {
  return "mcp-audit key rotation\n" + std::string(stream) + "\n" + std::to_string(seq) + "\n" + std::string(prev) +
         "\n" + std::string(vkey) + "\n";
}

// What a rotation note's text says.
struct Rotation {
  std::string stream;
  uint64_t seq = 0;
  std::string vkey;  // the new key's
};
std::optional<Rotation> ParseRotation(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty() && lines.size() < 6) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  if (lines.size() != 5 || lines[0] != "mcp-audit key rotation" || lines[2].empty() || lines[2].size() >= 20 ||
      !std::ranges::all_of(lines[2], [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const uint64_t seq = std::stoull(std::string(lines[2]));
  if (seq == 0) return std::nullopt;
  return Rotation{std::string(lines[1]), seq, std::string(lines[4])};
}

}  // namespace

Result<nlohmann::json> Details(std::string_view stream, uint64_t seq, std::string_view prev, std::string_view name,
                               const SigningKey& old, const SigningKey& fresh) {
  const std::string key = note::VerifierKey(name, fresh);
  auto signed_note = note::Sign(RotationText(stream, seq, prev, key), name, old);
  if (!signed_note) return std::unexpected(signed_note.error());
  return nlohmann::json{{"previous_key", note::VerifierKey(name, old)},
                        {"previous_key_id", old.KeyId()},
                        {"key", key},
                        {"key_id", fresh.KeyId()},
                        {"note", *signed_note}};
}

Result<SigningKey> Follow(const nlohmann::json& details, std::string_view stream, uint64_t seq,
                          std::string_view prev, const SigningKey& current) {
  auto previous = note::ParseVerifierKey(StringMember(details, "previous_key"));
  if (!previous) return Fail(ErrorCode::kInvalidArgument, "its previous_key: " + previous.error().message);
  if (previous->key.PublicKeyBytes() != current.PublicKeyBytes())
    return Fail(ErrorCode::kNotFound, "it is signed by key " + previous->key.KeyId() + ", not by the key " +
                                          current.KeyId() + " of the epoch before it");
  auto opened = note::Open(StringMember(details, "note"), {&*previous});
  if (!opened) return Fail(ErrorCode::kInvalidArgument, "its note: " + opened.error().message);
  const std::string key = StringMember(details, "key");
  if (opened->text != RotationText(stream, seq, prev, key))
    return Fail(ErrorCode::kInvalidArgument,
                "its signed note names another key, stream, seq or record before it than the chain has");
  auto next = note::ParseVerifierKey(key);
  if (!next || next->cosigner) return Fail(ErrorCode::kInvalidArgument, "its key is not a log's verifier key");
  return std::move(next->key);
}

namespace {

// Hands `keys` on along `notes` (oldest first) up to seq `size`. A seq may
// have several notes (one planted beside the real one): the one the keys of
// its epoch signed is taken. `stream`, when not empty, must be the one each
// names. kNotFound: a rotation no key of its epoch signed.
Result<std::vector<note::Verifier>> HandOn(std::vector<note::Verifier> keys, const std::vector<std::string>& notes,
                                           std::string_view stream, uint64_t size) {
  uint64_t last_seq = 0;
  size_t rotation = 0;
  for (size_t i = 0; i < notes.size();) {
    const std::string which = "key rotation " + std::to_string(++rotation);
    const auto stated = ParseRotation(note::TextOf(notes[i]));
    if (!stated || stated->seq <= last_seq || (!stream.empty() && stated->stream != stream))
      return Fail(ErrorCode::kInvalidArgument, which + " is not a key rotation" +
                                                   (stream.empty() ? "" : " of stream " + std::string(stream)) +
                                                   " after the one before it");
    if (stated->seq > size) break;
    size_t end = i + 1;
    while (end < notes.size()) {
      const auto also = ParseRotation(note::TextOf(notes[end]));
      if (!also || also->seq != stated->seq) break;
      ++end;
    }
    std::vector<const note::Verifier*> current;
    for (const auto& key : keys) current.push_back(&key);
    std::optional<note::Verifier> next;
    Error why{ErrorCode::kNotFound, which + ": no known key signed the note"};
    for (size_t c = i; c < end && !next; ++c) {
      auto opened = note::Open(notes[c], current);
      if (!opened) {
        const bool known = std::ranges::any_of(
            current, [&](const note::Verifier* key) { return note::SignerName(notes[c], key->key) == key->name; });
        if (known || why.code == ErrorCode::kNotFound)
          why = {known ? ErrorCode::kInvalidArgument : ErrorCode::kNotFound, which + ": " + opened.error().message};
        continue;
      }
      const auto named = ParseRotation(opened->text);
      auto key = named && named->stream == stated->stream ? note::ParseVerifierKey(named->vkey)
                                                           : Result<note::Verifier>(std::unexpected(Error{}));
      if (!key || key->cosigner) {
        why = {ErrorCode::kInvalidArgument, which + " names no log key"};
        continue;
      }
      next = std::move(*key);
    }
    if (!next) return std::unexpected(why);
    keys.clear();
    keys.push_back(std::move(*next));
    last_seq = stated->seq;
    i = end;
  }
  return keys;
}

}  // namespace

Result<std::vector<note::Verifier>> EpochKeys(const std::vector<const note::Verifier*>& first,
                                              const std::vector<std::string>& notes, uint64_t size) {
  std::vector<note::Verifier> keys;
  for (const note::Verifier* key : first) keys.push_back(note::CopyOf(*key));
  return HandOn(std::move(keys), notes, "", size);
}

Result<SigningKey> FollowNotes(const SigningKey& first, const std::vector<std::string>& notes,
                               std::string_view stream, uint64_t through) {
  // The first key is known by its bytes alone: its name is the one it signed under.
  std::optional<std::string> name;
  for (size_t i = 0; i < notes.size() && !name; ++i) name = note::SignerName(notes[i], first);
  if (!name && !notes.empty())
    return Fail(ErrorCode::kNotFound, "key rotation 1 is not signed by the key " + first.KeyId() +
                                          " of the epoch before it");
  std::vector<note::Verifier> keys;
  keys.push_back(note::VerifierOf(name.value_or(""), first));
  auto handed_on = HandOn(std::move(keys), notes, stream, through);
  if (!handed_on) return std::unexpected(handed_on.error());
  return std::move(handed_on->front().key);
}

bool History::MayTell(std::string_view line) {
  return line.find("\"event_type\":\"key_rotation\"") != std::string_view::npos ||
         line.find("\"event_type\":\"retention\"") != std::string_view::npos;
}

void History::Add(const nlohmann::json& record) {
  const std::string type = StringMember(record, "event_type");
  // Each note is filed under the stream and seq its own signed text names.
  auto file = [&](const std::string& note, const std::string& stream, uint64_t up_to) {
    const auto rotation = ParseRotation(note::TextOf(note));
    if (!rotation || rotation->stream != stream || rotation->seq > up_to || held_ >= kMaxNotes) return;
    std::vector<std::string>& candidates = notes_[stream][rotation->seq];
    if (candidates.size() < kMaxCandidates && std::ranges::find(candidates, note) == candidates.end()) {
      candidates.push_back(note);
      ++held_;
    }
  };
  if (type == "key_rotation") {
    const nlohmann::json integrity = ObjectMember(record, "integrity");
    file(StringMember(ObjectMember(record, "details"), "note"), StringMember(integrity, "stream"),
         UnsignedMember(integrity, "seq"));
    return;
  }
  if (type != "retention") return;
  // A retention record carries, per stream it cut, the rotations up to its cut.
  for (const nlohmann::json& cut : ArrayMember(ObjectMember(record, "details"), "cuts"))
    for (const nlohmann::json& carried : ArrayMember(cut, "key_rotations"))
      if (carried.is_string()) file(carried.get<std::string>(), StringMember(cut, "stream"), UnsignedMember(cut, "seq"));
}

size_t History::Rotations(const std::string& stream, uint64_t through) const {
  auto known = notes_.find(stream);
  return known == notes_.end() ? 0 : static_cast<size_t>(std::distance(known->second.begin(),
                                                                         known->second.upper_bound(through)));
}

std::vector<std::string> History::Notes(const std::string& stream, uint64_t through) const {
  std::vector<std::string> notes;
  auto known = notes_.find(stream);
  if (known == notes_.end()) return notes;
  for (auto it = known->second.begin(); it != known->second.end() && it->first <= through; ++it)
    notes.insert(notes.end(), it->second.begin(), it->second.end());
  return notes;
}

std::filesystem::path NextKeyPath(const std::filesystem::path& signing_key) {
  return signing_key.string() + ".next";
}

namespace {

// Overwrites the private key in `key_file` with random bytes and syncs it.
Status Overwrite(const std::filesystem::path& key_file) {
  const int fd = ::open(key_file.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open", key_file));
  struct stat info {};
  bool ok = ::fstat(fd, &info) == 0;
  if (ok) {
    std::vector<uint8_t> noise(static_cast<size_t>(info.st_size));
    SecureRandom()(noise);
    ok = WriteAll(fd, {reinterpret_cast<const char*>(noise.data()), noise.size()}) == noise.size() &&
         ::fsync(fd) == 0;
  }
  const Error error = ok ? Error{} : ErrnoError("cannot overwrite", key_file);
  ::close(fd);
  if (!ok) return std::unexpected(error);
  return {};
}

// A ring key's file name: its serial, 20 digits, then ".key".
bool IsRingKeyName(const std::string& name) {
  return name.size() == 24 && name.ends_with(".key") &&
         std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; });
}

// The ring's key files, oldest first. Anything else in it (a temporary file
// a crash left, holding a key) is destroyed.
Result<std::vector<std::filesystem::path>> RingFiles(const std::filesystem::path& signing_key) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  const std::filesystem::path dir = RingDirectory(signing_key);
  if (std::filesystem::is_symlink(dir, ec))
    return Fail(ErrorCode::kInvalidArgument, dir.string() + " is a symlink: the upcoming keys are kept in a "
                                             "directory of their own");
  if (!std::filesystem::exists(dir, ec)) return files;
  std::vector<std::filesystem::path> strays;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    (IsRingKeyName(entry.path().filename().string()) ? files : strays).push_back(entry.path());
  if (ec) return Fail(ErrorCode::kIo, "cannot read " + dir.string() + ": " + ec.message());
  for (const auto& stray : strays)
    if (Status destroyed = Destroy(stray); !destroyed) return std::unexpected(destroyed.error());
  std::ranges::sort(files);
  return files;
}

}  // namespace

Status DestroyAndReplace(const std::filesystem::path& key_file, const std::filesystem::path& next) {
  if (Status overwritten = Overwrite(key_file); !overwritten) return overwritten;
  if (::rename(next.c_str(), key_file.c_str()) != 0) return std::unexpected(ErrnoError("cannot replace", key_file));
  SyncDirectory(key_file.parent_path());
  return {};
}

Status Destroy(const std::filesystem::path& file) {
  if (Status overwritten = Overwrite(file); !overwritten) return overwritten;
  if (::unlink(file.c_str()) != 0) return std::unexpected(ErrnoError("cannot remove", file));
  SyncDirectory(file.parent_path());
  return {};
}

std::filesystem::path RingDirectory(const std::filesystem::path& signing_key) {
  return signing_key.string() + ".ring";
}

std::filesystem::path UpcomingKeysPath(const std::filesystem::path& signing_key) {
  return std::filesystem::path(signing_key).replace_extension(".upcoming.vkey");
}

Status FillRing(const std::filesystem::path& signing_key, size_t count, std::string_view name,
                const SigningKey& current) {
  const std::filesystem::path dir = RingDirectory(signing_key);
  if (Status made = EnsureAuditDirectory(dir); !made) return made;
  auto files = RingFiles(signing_key);
  if (!files) return std::unexpected(files.error());
  std::string vkeys;
  std::vector<std::filesystem::path> kept;
  for (const auto& file : *files) {
    // One a crash left half destroyed is no key; nor is the one signing now.
    auto key = SigningKey::LoadPrivate(file.string());
    if (!key || key->KeyId() == current.KeyId()) {
      if (Status destroyed = Destroy(file); !destroyed) return destroyed;
      continue;
    }
    vkeys += note::VerifierKey(name, *key) + "\n";
    kept.push_back(file);
  }
  uint64_t serial = 0;
  if (!files->empty()) {
    const std::string last = files->back().stem().string();
    if (std::from_chars(last.data(), last.data() + last.size(), serial).ec != std::errc())
      return Fail(ErrorCode::kInternal, "ring key name " + last);
  }
  for (size_t have = kept.size(); have < count; ++have) {
    auto fresh = SigningKey::Generate();
    auto pem = fresh ? fresh->PrivateKeyPem() : Result<std::string>(std::unexpected(fresh.error()));
    if (!pem) return std::unexpected(pem.error());
    char file_name[32];
    std::snprintf(file_name, sizeof file_name, "%020llu.key", static_cast<unsigned long long>(++serial));
    if (Status saved = ReplaceFileDurably(dir / file_name, *pem); !saved) return saved;
    vkeys += note::VerifierKey(name, *fresh) + "\n";
  }
  return ReplaceFileDurably(UpcomingKeysPath(signing_key), vkeys);
}

Result<std::optional<SigningKey>> TakeRingKey(const std::filesystem::path& signing_key,
                                               const std::filesystem::path& to) {
  auto files = RingFiles(signing_key);
  if (!files) return std::unexpected(files.error());
  if (files->empty()) return std::optional<SigningKey>();
  auto key = SigningKey::LoadPrivate(files->front().string());
  if (!key) return std::unexpected(key.error());
  if (::rename(files->front().c_str(), to.c_str()) != 0) return std::unexpected(ErrnoError("cannot move", files->front()));
  SyncDirectory(files->front().parent_path());
  SyncDirectory(to.parent_path());
  return std::optional<SigningKey>(std::move(*key));
}

}  // namespace mcpaudit::key_rotation
