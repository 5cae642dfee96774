// Bearer tokens from a hostile caller. The input is split at its first byte
// 0x00: before it, a token as sent; after it, claims that are signed here with
// the deployment's HS256 secret, so that odd claims reach the claim checks too.
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <fstream>

#include "base/crypto.h"
#include "fuzz_support.h"
#include "mcpaudit/authenticators.h"

namespace {

const std::string kSecret = "fuzzing-secret-that-is-at-least-32-bytes-long";

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) out.push_back(kAlphabet[(buffer >> (bits -= 6)) & 0x3f]);
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::string Signed(std::string_view claims) {
  const std::string input = Base64Url(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64Url(claims);
  unsigned char mac[32];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return input + "." + Base64Url(std::string_view(reinterpret_cast<const char*>(mac), length));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mcpaudit;
  static std::shared_ptr<const Authenticator> jwt = [] {
    const auto secret = fuzz::ScratchDir() / "jwt-secret";
    std::ofstream(secret) << kSecret;
    std::filesystem::permissions(secret, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    JwtOptions options;
    options.algorithms = {"HS256"};
    options.secret_file = secret.string();
    options.audience = {"mcp-audit"};
    auto made = MakeJwtAuthenticator(options);
    if (!made) __builtin_trap();
    return *made;
  }();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  (void)jwt->Authenticate({"Bearer " + std::string(input.substr(0, split)), ""});
  if (split != std::string_view::npos) {
    const std::string token = "Bearer " + Signed(input.substr(split + 1));
    (void)jwt->Authenticate({token, ""});
  }
  return 0;
}
