#include "audit/key_rotation.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

Result<std::vector<note::Verifier>> EpochKeys(const std::vector<const note::Verifier*>& first,
                                              const std::vector<std::string>& notes, uint64_t size) {
  std::vector<note::Verifier> keys;
  for (const note::Verifier* key : first) keys.push_back(note::CopyOf(*key));
  uint64_t last_seq = 0;
  for (size_t i = 0; i < notes.size(); ++i) {
    std::vector<const note::Verifier*> current;
    for (const auto& key : keys) current.push_back(&key);
    auto opened = note::Open(notes[i], current);
    const std::string which = "key rotation " + std::to_string(i + 1);
    if (!opened) return Fail(ErrorCode::kInvalidArgument, which + ": " + opened.error().message);
    // "mcp-audit key rotation", the stream, the seq, prev, the new key's vkey.
    std::vector<std::string> lines;
    for (size_t at = 0; at < opened->text.size();) {
      const size_t end = opened->text.find('\n', at);
      lines.push_back(opened->text.substr(at, end - at));
      at = end + 1;
    }
    const uint64_t seq = lines.size() == 5 && lines[0] == "mcp-audit key rotation" &&
                                 !lines[2].empty() && lines[2].size() < 20 &&
                                 std::ranges::all_of(lines[2], [](char c) { return c >= '0' && c <= '9'; })
                             ? std::stoull(lines[2])
                             : 0;
    if (seq == 0 || seq <= last_seq)
      return Fail(ErrorCode::kInvalidArgument, which + " is not a key rotation after the one before it");
    if (seq > size) break;  // a later epoch's: not the checkpoint's
    auto next = note::ParseVerifierKey(lines[4]);
    if (!next || next->cosigner)
      return Fail(ErrorCode::kInvalidArgument, which + " names no log key");
    keys.clear();
    keys.push_back(std::move(*next));
    last_seq = seq;
  }
  return keys;
}

std::filesystem::path NextKeyPath(const std::filesystem::path& signing_key) {
  return signing_key.string() + ".next";
}

Status DestroyAndReplace(const std::filesystem::path& key_file, const std::filesystem::path& next) {
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
  if (::rename(next.c_str(), key_file.c_str()) != 0) return std::unexpected(ErrnoError("cannot replace", key_file));
  SyncDirectory(key_file.parent_path());
  return {};
}

}  // namespace mcpaudit::key_rotation
