// The Ed25519 key that signs a journal's checkpoints (`mcp-audit keygen`
// makes one) and the public key that verifies them.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "mcpaudit/result.h"

namespace mcpaudit {

// An Ed25519 key: the private key signs checkpoints, the public key verifies them.
class SigningKey {
 public:
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;

  static Result<SigningKey> Generate();
  // Reads a PEM private key (PKCS#8). Refuses a file that others can read.
  static Result<SigningKey> LoadPrivate(const std::string& path);
  // Reads a PEM public key (SubjectPublicKeyInfo).
  static Result<SigningKey> LoadPublic(const std::string& path);

  // Writes the private key (0600, refusing to overwrite) and the public key.
  [[nodiscard]] Status Save(const std::string& private_path, const std::string& public_path) const;
  // The private key as PEM (PKCS#8), to be written by the caller (0600).
  Result<std::string> PrivateKeyPem() const;

  // Base64 (standard alphabet) Ed25519 signature of `message`. Needs the private key.
  Result<std::string> Sign(std::string_view message) const;
  bool Verify(std::string_view message, std::string_view signature_base64) const;
  // The first 16 hex digits of SHA-256 of the raw public key: names the key in records.
  std::string KeyId() const;

  // The 32 bytes of the public key (RFC 8032), and a public key from them.
  std::string PublicKeyBytes() const;
  static Result<SigningKey> FromPublicKeyBytes(std::string_view raw);
  // The 64 bytes of the Ed25519 signature of `message`, and their check.
  Result<std::string> SignBytes(std::string_view message) const;
  bool VerifyBytes(std::string_view message, std::string_view signature) const;

 private:
  struct Key;
  explicit SigningKey(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
};

}  // namespace mcpaudit
