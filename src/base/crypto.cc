#include "base/crypto.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "base/audit_files.h"

namespace mcpaudit {

void HexEncodeTo(std::span<const uint8_t> bytes, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2, '0');
  HexEncodeTo(bytes, out.data());
  return out;
}

namespace {

// The value of each byte as a hex digit; -1 for a byte that is none, -2 for
// an uppercase one (a digit, but not as this project writes them).
constexpr auto kHexValue = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) table[c] = -2;
  return table;
}();

int HexValue(char c) {
  const int value = kHexValue[static_cast<unsigned char>(c)];
  return value == -2 ? (c - 'A' + 10) : value;
}

}  // namespace

bool IsLowerHex(std::string_view text, size_t digits) {
  if (text.size() != digits) return false;
  for (char c : text)
    if (kHexValue[static_cast<unsigned char>(c)] < 0) return false;
  return true;
}

bool HexDecodeTo(std::string_view hex, uint8_t* out) {
  if (hex.size() % 2 != 0) return false;
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    const int high = HexValue(hex[2 * i]), low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<uint8_t>(high << 4 | low);
  }
  return true;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out = Base64Encode(bytes);
  for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  // Unpadded base64url only (RFC 4648 §5, as JOSE writes it): anything else,
  // '=' included, is not decoded.
  const bool alphabet = std::ranges::all_of(text, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (!alphabet || text.size() % 4 == 1) return std::nullopt;
  std::string b64(text);
  for (auto& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (b64.size() % 4) b64.push_back('=');
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  const size_t pad = b64.size() - text.size();  // at most 2: a length of 4k+1 was refused
  if (static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  const bool alphabet = std::ranges::all_of(text, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
  });
  if (!alphabet || text.size() % 4 != 0 || text.size() > (size_t{1} << 30)) return std::nullopt;
  const size_t pad = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  // '=' only as padding at the end.
  if (text.find('=') < text.size() - pad) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  // Canonical only: the bits padding leaves over must be zero.
  if (Base64Encode(out) != text) return std::nullopt;
  return out;
}

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
  return HexEncode(std::span<const uint8_t>(mac, length));
}

namespace {

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// The digest is fetched once and each thread keeps its contexts: the audit
// path hashes several times per record. Two per thread: Sha256Hex may be
// called while a Sha256 is being fed.
EVP_MD_CTX* Begin(Context& ctx) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_DigestInit_ex(ctx.get(), sha256, nullptr);
  return ctx.get();
}
thread_local Context one_shot(EVP_MD_CTX_new(), EVP_MD_CTX_free);
// Contexts for Sha256 objects, kept by each thread for the next one.
thread_local std::vector<Context> spare_contexts;

}  // namespace

Sha256::Sha256() {
  Context ctx(nullptr, EVP_MD_CTX_free);
  if (spare_contexts.empty()) {
    ctx.reset(EVP_MD_CTX_new());
  } else {
    ctx = std::move(spare_contexts.back());
    spare_contexts.pop_back();
  }
  Begin(ctx);
  ctx_ = ctx.release();
}

Sha256::~Sha256() { spare_contexts.emplace_back(ctx_, EVP_MD_CTX_free); }

Sha256& Sha256::Update(std::string_view bytes) {
  EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
  return *this;
}

Sha256Digest Sha256::Digest() {
  // Zeros if OpenSSL fails (out of memory): a hash no record has, which
  // verify reports, rather than a crash of the writer.
  Sha256Digest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &length) != 1 || length != digest.size())
    digest.fill(0);
  return digest;
}

std::string Sha256Hex(std::initializer_list<std::string_view> parts) {
  EVP_MD_CTX* ctx = Begin(one_shot);
  for (auto part : parts) EVP_DigestUpdate(ctx, part.data(), part.size());
  uint8_t digest[32];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  return HexEncode(std::span<const uint8_t>(digest, length));
}

struct SigningKey::Key {
  EVP_PKEY* pkey = nullptr;
  bool has_private = false;
  ~Key() { EVP_PKEY_free(pkey); }
};

SigningKey::SigningKey(std::unique_ptr<Key> key) : key_(std::move(key)) {}
SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

Result<SigningKey> SigningKey::Generate() {
  auto key = std::make_unique<Key>();
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  const bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key->pkey) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return Fail(ErrorCode::kInternal, "cannot generate an Ed25519 key");
  key->has_private = true;
  return SigningKey(std::move(key));
}

namespace {

Result<EVP_PKEY*> ReadPem(const std::string& path, bool is_private) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (!file) return Fail(ErrorCode::kIo, "cannot open " + path + ": " + std::strerror(errno));
  EVP_PKEY* pkey = is_private ? PEM_read_PrivateKey(file, nullptr, nullptr, nullptr)
                              : PEM_read_PUBKEY(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  if (!pkey)
    return Fail(ErrorCode::kInvalidArgument,
                path + " is not a PEM Ed25519 " + (is_private ? "private" : "public") + " key");
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return Fail(ErrorCode::kInvalidArgument, path + " holds a key that is not Ed25519");
  }
  return pkey;
}

}  // namespace

Result<SigningKey> SigningKey::LoadPrivate(const std::string& path) {
  if (auto owner_only = CheckOwnerOnly(path, "the signing key"); !owner_only) {
    return std::unexpected(owner_only.error());
  }
  auto pkey = ReadPem(path, true);
  if (!pkey) return std::unexpected(pkey.error());
  auto key = std::make_unique<Key>();
  key->pkey = *pkey;
  key->has_private = true;
  return SigningKey(std::move(key));
}

Result<SigningKey> SigningKey::LoadPublic(const std::string& path) {
  auto pkey = ReadPem(path, false);
  if (!pkey) return std::unexpected(pkey.error());
  auto key = std::make_unique<Key>();
  key->pkey = *pkey;
  return SigningKey(std::move(key));
}

Status SigningKey::Save(const std::string& private_path, const std::string& public_path) const {
  int fd = ::open(private_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return Fail(ErrorCode::kIo, "cannot create " + private_path + ": " + std::strerror(errno));
  FILE* file = ::fdopen(fd, "w");
  bool ok = PEM_write_PrivateKey(file, key_->pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = (std::fclose(file) == 0) && ok;
  if (!ok) return Fail(ErrorCode::kIo, "cannot write " + private_path);
  file = std::fopen(public_path.c_str(), "w");
  if (!file)
    return Fail(ErrorCode::kIo, "cannot create " + public_path + ": " + std::strerror(errno));
  ok = PEM_write_PUBKEY(file, key_->pkey) == 1;
  ok = (std::fclose(file) == 0) && ok;
  if (!ok) return Fail(ErrorCode::kIo, "cannot write " + public_path);
  return {};
}

Result<std::string> SigningKey::PrivateKeyPem() const {
  if (!key_->has_private) return Fail(ErrorCode::kInvalidArgument, "a public key has no private part");
  BIO* bio = BIO_new(BIO_s_secmem());
  if (!bio) return Fail(ErrorCode::kInternal, "out of memory");
  std::string pem;
  if (PEM_write_bio_PrivateKey(bio, key_->pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size > 0) pem.assign(data, static_cast<size_t>(size));
  }
  BIO_free(bio);
  if (pem.empty()) return Fail(ErrorCode::kInternal, "cannot write a private key as PEM");
  return pem;
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  if (!key_->has_private) return Fail(ErrorCode::kInvalidArgument, "a public key cannot sign");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  uint8_t signature[64];
  size_t length = sizeof signature;
  const bool ok =
      EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_->pkey) == 1 &&
      EVP_DigestSign(ctx, signature, &length, reinterpret_cast<const uint8_t*>(message.data()),
                     message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return Fail(ErrorCode::kInternal, "Ed25519 signing failed");
  std::vector<unsigned char> encoded(4 * ((length + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(encoded.data(), signature, static_cast<int>(length));
  return std::string(reinterpret_cast<char*>(encoded.data()), static_cast<size_t>(n));
}

bool SigningKey::Verify(std::string_view message, std::string_view signature_base64) const {
  if (signature_base64.size() != 88) return false;  // 64 bytes in base64
  uint8_t decoded[66];
  if (EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(signature_base64.data()),
                      static_cast<int>(signature_base64.size())) != 66)
    return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_->pkey) == 1 &&
      EVP_DigestVerify(ctx, decoded, 64, reinterpret_cast<const uint8_t*>(message.data()),
                       message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::string SigningKey::PublicKeyBytes() const {
  std::string raw(32, '\0');
  size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(key_->pkey, reinterpret_cast<uint8_t*>(raw.data()), &length) != 1) return "";
  raw.resize(length);
  return raw;
}

Result<SigningKey> SigningKey::FromPublicKeyBytes(std::string_view raw) {
  if (raw.size() != 32) return Fail(ErrorCode::kInvalidArgument, "an Ed25519 public key is 32 bytes");
  auto key = std::make_unique<Key>();
  key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                          reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  if (!key->pkey) return Fail(ErrorCode::kInvalidArgument, "not an Ed25519 public key");
  return SigningKey(std::move(key));
}

Result<std::string> SigningKey::SignBytes(std::string_view message) const {
  auto signature = Sign(message);
  if (!signature) return signature;
  auto bytes = Base64Decode(*signature);
  if (!bytes) return Fail(ErrorCode::kInternal, "Ed25519 signing failed");
  return *bytes;
}

bool SigningKey::VerifyBytes(std::string_view message, std::string_view signature) const {
  return signature.size() == 64 && Verify(message, Base64Encode(signature));
}

std::string SigningKey::KeyId() const {
  uint8_t raw[32];
  size_t length = sizeof raw;
  EVP_PKEY_get_raw_public_key(key_->pkey, raw, &length);
  return Sha256Hex({std::string_view(reinterpret_cast<char*>(raw), length)}).substr(0, 16);
}

}  // namespace mcpaudit
