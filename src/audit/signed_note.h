// C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and the
// checkpoints they carry (c2sp.org/tlog-checkpoint): what a checkpoint record
// signs so that any signed-note implementation can check it.
//
//   <origin>\n<tree size>\n<base64 root hash>\n        the note text
//   \n
//   — <key name> <base64(key id ‖ Ed25519 signature of the text)>\n
//
// key id = the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key);
// a verifier key (vkey) is "<key name>+<8 hex key id>+<base64(0x01 ‖ public key)>".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "mcpaudit/result.h"

namespace mcpaudit::note {

// The names a journal's checkpoints use unless told others: the key's
// <host>/mcp-audit, the log's <host>/mcp-audit/<stream>.
std::string DefaultKeyName();
std::string DefaultOrigin(std::string_view stream);

// The 4 bytes that identify an Ed25519 key named `name`.
std::string KeyId(std::string_view name, const SigningKey& key);
// Whether `name` may name a key: not empty, no spaces, no '+'.
bool IsKeyName(std::string_view name);

// The verifier key of `key` under `name`.
std::string VerifierKey(std::string_view name, const SigningKey& key);
// The same for a witness that cosigns with `key` (cosignature/v1).
std::string CosignerKey(std::string_view name, const SigningKey& key);

// A key that checks signatures: a log's (vkey type 0x01), or a witness's
// whose signatures are c2sp.org/tlog-cosignature cosignature/v1 (type 0x04).
struct Verifier {
  std::string name;
  std::string id;  // 4 bytes
  SigningKey key;
  bool cosigner = false;
};
[[nodiscard]] Result<Verifier> ParseVerifierKey(std::string_view vkey);
// Another Verifier of the same key (keys are not copied otherwise).
Verifier CopyOf(const Verifier& verifier);

// `text` (ending in a newline) signed by `key` under `name`.
[[nodiscard]] Result<std::string> Sign(std::string_view text, std::string_view name, const SigningKey& key);

// The text of a note: what comes before its last blank line (the whole of
// `note` when it has none, as an unsigned checkpoint's text).
std::string_view TextOf(std::string_view note);

// The signature line by which the witness `name` cosigns the note text
// `text` at `timestamp` (POSIX seconds): c2sp.org/tlog-cosignature.
[[nodiscard]] Result<std::string> Cosign(std::string_view text, std::string_view name, const SigningKey& key,
                                         uint64_t timestamp);
// A note opened with known keys: its text, and the names of the known keys
// whose signatures verified (cosigners apart). Refused when a known key's
// signature does not verify, or when no known key but cosigners signed it
// (c2sp.org/signed-note).
struct Opened {
  std::string text;
  std::vector<std::string> signed_by;
  std::vector<std::string> cosigned_by;
};
[[nodiscard]] Result<Opened> Open(std::string_view note, const std::vector<const Verifier*>& known);

// The name under which `key` signed `note`, found by the key id of a
// signature line (the signature itself is not checked: Open does that).
std::optional<std::string> SignerName(std::string_view note, const SigningKey& key);

// A Verifier of `key` under `name`.
Verifier VerifierOf(std::string name, const SigningKey& key);

// The body of a checkpoint.
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Sha256Digest root{};
};
std::string CheckpointText(const Checkpoint& checkpoint);
[[nodiscard]] Result<Checkpoint> ParseCheckpoint(std::string_view text);

}  // namespace mcpaudit::note
