// Forward-secure signing keys (`[integrity] key_epoch_hours`): a journal's
// signing key changes each epoch. The key_rotation record that begins an epoch
// names the new key and is signed by the old one, which is then destroyed; a
// verifier that starts from the first public key follows the rotations, and a
// key stolen in one epoch cannot sign a checkpoint of an earlier one.
//
// The details of a key_rotation record at seq S of stream T:
//   {"previous_key": the old key's vkey, "key": the new key's vkey,
//    "previous_key_id", "key_id": their KeyId()s,
//    "note": a C2SP signed note by the old key of the text
//            "mcp-audit key rotation\n<T>\n<S>\n<prev>\n<the new key's vkey>\n"}
// where prev is the chain's hash of record S - 1: the old key vouches for
// every record before the rotation, so a thief of a later key who rewrites
// them cannot make the rotation hold.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/signed_note.h"
#include "base/crypto.h"
#include "mcpaudit/result.h"

namespace mcpaudit::key_rotation {

// The details of the key_rotation record at `seq` of `stream` (after the
// record whose hash is `prev`), from `old` to `fresh`, both named `name`.
[[nodiscard]] Result<nlohmann::json> Details(std::string_view stream, uint64_t seq, std::string_view prev,
                                             std::string_view name, const SigningKey& old, const SigningKey& fresh);

// The public key that the key_rotation record (its `details`, at `seq` of
// `stream`, after the record whose hash is `prev`) hands over to, when
// `current` signed it. kNotFound: another key signed it; kInvalidArgument:
// its note does not verify or says another thing.
[[nodiscard]] Result<SigningKey> Follow(const nlohmann::json& details, std::string_view stream, uint64_t seq,
                                        std::string_view prev, const SigningKey& current);

// The keys of the epoch that signs a checkpoint of `size` records: `first`
// (the keys an auditor trusts), handed on by each key rotation in `notes`
// (the records' details.note, oldest first) at a seq up to `size`. Refused,
// naming it, when a rotation is not signed by the key of the epoch before it.
[[nodiscard]] Result<std::vector<note::Verifier>> EpochKeys(const std::vector<const note::Verifier*>& first,
                                                            const std::vector<std::string>& notes, uint64_t size);

// The key that signs stream `stream` after seq `through`: `first` handed on
// by each note of `notes` (rotations of that stream, oldest first, up to
// `through`), each signed by the key of the epoch before it. Refused, naming
// the rotation, when one does not hold (kNotFound: no key of its epoch signed it). A verifier of a stream whose
// beginning retention deleted starts from it (the History below).
[[nodiscard]] Result<SigningKey> FollowNotes(const SigningKey& first, const std::vector<std::string>& notes,
                                             std::string_view stream, uint64_t through);

// The key rotations a journal's records tell of, per stream and by seq: the
// notes of key_rotation records, and those a retention record carries for the
// rotations it deleted (details.cuts[].key_rotations), so that the key of a
// stream's first remaining epoch can still be followed from the first key.
class History {
 public:
  // Whether the record in `line` may tell of one (a test before parsing it).
  static bool MayTell(std::string_view line);
  // Takes what the parsed `record` tells; other records are passed over.
  void Add(const nlohmann::json& record);
  // The notes of `stream`'s rotations at a seq up to `through`, oldest
  // first. A seq may have several (a planted one beside the real one):
  // EpochKeys and FollowNotes take the one the key of its epoch signed.
  std::vector<std::string> Notes(const std::string& stream, uint64_t through) const;
  // How many rotations (seqs) of `stream` up to `through` it tells of.
  size_t Rotations(const std::string& stream, uint64_t through) const;

 private:
  static constexpr size_t kMaxCandidates = 4;   // notes kept per seq
  static constexpr size_t kMaxNotes = 1 << 20;  // a key an hour for a century
  std::map<std::string, std::map<uint64_t, std::vector<std::string>>> notes_;  // stream -> seq -> notes
  size_t held_ = 0;
};

// Where the next epoch's private key waits, beside the signing key, until the
// journal has the record that names it.
std::filesystem::path NextKeyPath(const std::filesystem::path& signing_key);

// Destroys the private key in `key_file` (overwritten with random bytes and
// synced) and puts the key in `next` in its place.
[[nodiscard]] Status DestroyAndReplace(const std::filesystem::path& key_file, const std::filesystem::path& next);

// The keys of the upcoming epochs, made ahead (`[integrity] upcoming_keys`)
// so that witnesses can be given their vkeys before they sign: a witness
// (c2sp.org/tlog-witness) trusts the log keys it is configured with and has
// no notion of rotation. Making keys ahead takes nothing from forward
// security: whoever holds the current key can already name any next key.
//
// They wait in RingDirectory, oldest first; a rotation moves the oldest to
// NextKeyPath (TakeRingKey), and FillRing makes one more.
//
// <signing_key>.ring/<20-digit serial>.key: the directory 0700, the keys 0600.
std::filesystem::path RingDirectory(const std::filesystem::path& signing_key);
// The vkeys of the ring's keys, oldest first, one a line: the signing key's
// path with the extension .upcoming.vkey (audit-signing.upcoming.vkey).
std::filesystem::path UpcomingKeysPath(const std::filesystem::path& signing_key);

// Makes keys until the ring holds `count` (never fewer than it holds), after
// destroying those that are no key or `current`, and writes the vkeys (named
// `name`) of the ring's keys.
[[nodiscard]] Status FillRing(const std::filesystem::path& signing_key, size_t count, std::string_view name,
                              const SigningKey& current);

// Moves the ring's oldest key to the file `to` (NextKeyPath) and gives it
// (nullopt: the ring is empty): no copy of it stays in the ring.
[[nodiscard]] Result<std::optional<SigningKey>> TakeRingKey(const std::filesystem::path& signing_key,
                                                            const std::filesystem::path& to);

// Overwrites the private key in `file` with random bytes, syncs and removes it.
[[nodiscard]] Status Destroy(const std::filesystem::path& file);

}  // namespace mcpaudit::key_rotation
