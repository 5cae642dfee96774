// The few cryptographic primitives the audit chain needs, on OpenSSL 3.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mcpaudit/result.h"
#include "mcpaudit/signing_key.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace mcpaudit {

std::string HexEncode(std::span<const uint8_t> bytes);
// Writes the 2 × bytes.size() hex digits of `bytes` to `out`.
void HexEncodeTo(std::span<const uint8_t> bytes, char* out);
// Whether `text` is `digits` lowercase hex digits (as HexEncode writes them).
bool IsLowerHex(std::string_view text, size_t digits);
// Writes the hex.size() / 2 bytes of `hex` (hex digits, either case) to `out`;
// false when `hex` is not an even number of hex digits.
bool HexDecodeTo(std::string_view hex, uint8_t* out);
// RFC 4648 §5 base64url without padding, and back (nullopt for text that is not base64).
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);
// RFC 4648 §4 base64 with padding, and back (nullopt for anything else: no
// line breaks, no missing padding).
std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);
// SHA-256 of the concatenation of the parts, as 64 lowercase hex digits.
std::string Sha256Hex(std::initializer_list<std::string_view> parts);
using Sha256Digest = std::array<uint8_t, 32>;
// SHA-256 of data given in pieces, on the thread that made it.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& Update(std::string_view bytes);
  Sha256& Update(std::span<const uint8_t> bytes) {
    return Update(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  // The digest of what was given (once).
  Sha256Digest Digest();

 private:
  ::evp_md_ctx_st* ctx_;  // one of this thread's, given back when done
};
// HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits.
std::string HmacSha256Hex(std::string_view key, std::string_view message);

}  // namespace mcpaudit
