#include "audit/signed_note.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "audit/canonical_json.h"

namespace mcpaudit::note {
namespace {

constexpr char kEd25519 = 0x01;
constexpr char kCosignatureV1 = 0x04;
constexpr std::string_view kDash = "\xE2\x80\x94 ";  // U+2014 and a space
constexpr size_t kMaxSignatures = 64;

Error Refused(const std::string& why) { return {ErrorCode::kInvalidArgument, why}; }

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string name = host[0] ? host : "localhost";
  std::erase_if(name, [](char c) { return c <= ' ' || c == '+' || c >= 0x7f; });
  return name.empty() ? "localhost" : name;
}

}  // namespace

std::string DefaultKeyName() { return HostName() + "/mcp-audit"; }

std::string DefaultOrigin(std::string_view stream) { return HostName() + "/mcp-audit/" + std::string(stream); }

bool IsKeyName(std::string_view name) {
  return !name.empty() && std::ranges::none_of(name, [](char c) {
    return c == '+' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
  });
}

namespace {

std::string TypedKeyId(std::string_view name, const SigningKey& key, char type) {
  Sha256 hash;
  const char separator[2] = {'\n', type};
  const Sha256Digest digest =
      hash.Update(name).Update(std::string_view(separator, 2)).Update(key.PublicKeyBytes()).Digest();
  return std::string(reinterpret_cast<const char*>(digest.data()), 4);
}

std::string TypedVerifierKey(std::string_view name, const SigningKey& key, char type) {
  const std::string id = TypedKeyId(name, key, type);
  return std::string(name) + "+" + HexEncode({reinterpret_cast<const uint8_t*>(id.data()), id.size()}) + "+" +
         Base64Encode(std::string(1, type) + key.PublicKeyBytes());
}

// What a cosignature/v1 signs: a header, the time, the note's text.
std::string CosignedMessage(std::string_view text, uint64_t timestamp) {
  return "cosignature/v1\ntime " + std::to_string(timestamp) + "\n" + std::string(text);
}

}  // namespace

std::string KeyId(std::string_view name, const SigningKey& key) { return TypedKeyId(name, key, kEd25519); }

std::string VerifierKey(std::string_view name, const SigningKey& key) {
  return TypedVerifierKey(name, key, kEd25519);
}

std::string CosignerKey(std::string_view name, const SigningKey& key) {
  return TypedVerifierKey(name, key, kCosignatureV1);
}

Result<std::string> Cosign(std::string_view text, std::string_view name, const SigningKey& key, uint64_t timestamp) {
  if (!IsKeyName(name)) return std::unexpected(Refused("a key name must not be empty or have spaces or '+'"));
  if (timestamp >= (uint64_t{1} << 63)) return std::unexpected(Refused("a cosignature's time is below 2^63"));
  auto signature = key.SignBytes(CosignedMessage(text, timestamp));
  if (!signature) return std::unexpected(signature.error());
  std::string stamp(8, '\0');
  for (int i = 0; i < 8; ++i) stamp[i] = static_cast<char>(timestamp >> (56 - 8 * i));
  return std::string(kDash) + std::string(name) + " " +
         Base64Encode(TypedKeyId(name, key, kCosignatureV1) + stamp + *signature) + "\n";
}

Result<Verifier> ParseVerifierKey(std::string_view vkey) {
  while (!vkey.empty() && (vkey.back() == '\n' || vkey.back() == '\r')) vkey.remove_suffix(1);
  const size_t first = vkey.find('+');
  const size_t second = first == std::string_view::npos ? first : vkey.find('+', first + 1);
  // The key's base64 may hold '+' too: the name and id hold none.
  if (second == std::string_view::npos)
    return std::unexpected(Refused("a verifier key is <name>+<key id>+<key>"));
  const std::string_view name = vkey.substr(0, first), id_hex = vkey.substr(first + 1, second - first - 1);
  auto material = Base64Decode(vkey.substr(second + 1));
  if (!IsKeyName(name)) return std::unexpected(Refused("the verifier key's name is empty or has spaces"));
  uint8_t id[4];
  if (id_hex.size() != 8 || !HexDecodeTo(id_hex, id))
    return std::unexpected(Refused("the verifier key's id is not 8 hex digits"));
  if (!material || material->size() != 33 || ((*material)[0] != kEd25519 && (*material)[0] != kCosignatureV1))
    return std::unexpected(Refused(
        "the verifier key is not an Ed25519 key (type 0x01, or 0x04 for cosignature/v1; 32 bytes)"));
  auto key = SigningKey::FromPublicKeyBytes(std::string_view(*material).substr(1));
  if (!key) return std::unexpected(key.error());
  const char type = (*material)[0];
  Verifier verifier{std::string(name), std::string(reinterpret_cast<const char*>(id), 4), std::move(*key),
                    type == kCosignatureV1};
  if (TypedKeyId(name, verifier.key, type) != verifier.id)
    return std::unexpected(Refused("the verifier key's id does not match its name and key"));
  return verifier;
}

Verifier CopyOf(const Verifier& verifier) {
  return {verifier.name, verifier.id, *SigningKey::FromPublicKeyBytes(verifier.key.PublicKeyBytes()),
          verifier.cosigner};
}

Result<std::string> Sign(std::string_view text, std::string_view name, const SigningKey& key) {
  if (!IsKeyName(name)) return std::unexpected(Refused("a key name must not be empty or have spaces or '+'"));
  if (text.empty() || text.back() != '\n') return std::unexpected(Refused("a note's text ends with a newline"));
  auto signature = key.SignBytes(text);
  if (!signature) return std::unexpected(signature.error());
  return std::string(text) + "\n" + std::string(kDash) + std::string(name) + " " +
         Base64Encode(KeyId(name, key) + *signature) + "\n";
}

std::string_view TextOf(std::string_view note) {
  const size_t blank = note.rfind("\n\n");
  return blank == std::string_view::npos ? note : note.substr(0, blank + 1);
}

Result<Opened> Open(std::string_view note, const std::vector<const Verifier*>& known) {
  if (std::ranges::any_of(note, [](char c) { return static_cast<unsigned char>(c) < 0x20 && c != '\n'; }))
    return std::unexpected(Refused("a note holds no control characters but newlines"));
  if (WellFormedUtf8(note) != note) return std::unexpected(Refused("a note is UTF-8"));
  if (!note.ends_with('\n')) return std::unexpected(Refused("a note ends with a newline"));
  // The text ends at the last blank line.
  const size_t blank = note.rfind("\n\n");
  if (blank == std::string_view::npos) return std::unexpected(Refused("a note has no signatures"));
  Opened opened{std::string(note.substr(0, blank + 1)), {}, {}};
  std::string_view signatures = note.substr(blank + 2);
  size_t lines = 0;
  bool known_failed = false;
  while (!signatures.empty()) {
    const size_t end = signatures.find('\n');
    std::string_view line = signatures.substr(0, end);
    signatures.remove_prefix(end + 1);
    if (++lines > kMaxSignatures) return std::unexpected(Refused("a note with too many signatures"));
    if (!line.starts_with(kDash)) return std::unexpected(Refused("a signature line starts with '— '"));
    line.remove_prefix(kDash.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) return std::unexpected(Refused("a signature line is '— <name> <signature>'"));
    const std::string_view name = line.substr(0, space);
    auto signature = Base64Decode(line.substr(space + 1));
    if (!IsKeyName(name) || !signature || signature->size() < 5)
      return std::unexpected(Refused("a signature line is '— <name> <base64 signature>'"));
    for (const Verifier* verifier : known) {
      if (verifier->name != name || verifier->id != std::string_view(*signature).substr(0, 4)) continue;
      const std::string_view rest = std::string_view(*signature).substr(4);
      bool verified = false;
      if (!verifier->cosigner) {
        verified = verifier->key.VerifyBytes(opened.text, rest);
      } else if (rest.size() == 8 + 64) {
        uint64_t timestamp = 0;
        for (int i = 0; i < 8; ++i) timestamp = timestamp << 8 | static_cast<uint8_t>(rest[i]);
        // A cosignature always says when (tlog-witness): 0 is none.
        verified = timestamp > 0 && timestamp < (uint64_t{1} << 63) &&
                   verifier->key.VerifyBytes(CosignedMessage(opened.text, timestamp), rest.substr(8));
      }
      std::vector<std::string>& names = verifier->cosigner ? opened.cosigned_by : opened.signed_by;
      if (!verified)
        known_failed = true;
      else if (std::ranges::find(names, verifier->name) == names.end())
        names.push_back(verifier->name);
    }
  }
  if (known_failed) return std::unexpected(Refused("a signature of a known key does not verify"));
  if (opened.signed_by.empty()) return std::unexpected(Refused("no known key signed the note"));
  return opened;
}

std::optional<std::string> SignerName(std::string_view note, const SigningKey& key) {
  const size_t blank = note.rfind("\n\n");
  if (blank == std::string_view::npos) return std::nullopt;
  std::string_view signatures = note.substr(blank + 2);
  while (!signatures.empty()) {
    std::string_view line = signatures.substr(0, signatures.find('\n'));
    signatures.remove_prefix(std::min(signatures.size(), line.size() + 1));
    if (!line.starts_with(kDash)) continue;
    line.remove_prefix(kDash.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, space);
    auto signature = Base64Decode(line.substr(space + 1));
    if (IsKeyName(name) && signature && signature->size() == 4 + 64 && signature->substr(0, 4) == KeyId(name, key))
      return std::string(name);
  }
  return std::nullopt;
}

Verifier VerifierOf(std::string name, const SigningKey& key) {
  std::string id = KeyId(name, key);
  return {std::move(name), std::move(id), *SigningKey::FromPublicKeyBytes(key.PublicKeyBytes()), false};
}

std::string CheckpointText(const Checkpoint& checkpoint) {
  return checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
         Base64Encode({reinterpret_cast<const char*>(checkpoint.root.data()), checkpoint.root.size()}) + "\n";
}

Result<Checkpoint> ParseCheckpoint(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return std::unexpected(Refused("a checkpoint's lines end with newlines"));
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  if (lines.size() < 3 || lines[0].empty())
    return std::unexpected(Refused("a checkpoint is an origin, a tree size and a root hash"));
  if (std::any_of(lines.begin() + 3, lines.end(), [](std::string_view line) { return line.empty(); }))
    return std::unexpected(Refused("a checkpoint's extension lines are not empty"));
  Checkpoint checkpoint{std::string(lines[0]), 0, {}};
  const std::string_view size = lines[1];
  const auto [end, error] = std::from_chars(size.data(), size.data() + size.size(), checkpoint.size);
  if (error != std::errc() || end != size.data() + size.size() || size.empty() || (size.size() > 1 && size[0] == '0'))
    return std::unexpected(Refused("a checkpoint's tree size is a decimal number"));
  auto root = Base64Decode(lines[2]);
  if (!root || root->size() != 32) return std::unexpected(Refused("a checkpoint's root hash is 32 bytes in base64"));
  std::copy(root->begin(), root->end(), reinterpret_cast<char*>(checkpoint.root.data()));
  return checkpoint;
}

}  // namespace mcpaudit::note
