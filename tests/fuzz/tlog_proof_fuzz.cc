// Proofs handed in by an outsider (mcp-audit verify --proof): JSON or
// c2sp.org/tlog-proof@v1 text, signed notes, verifier keys. The input is split
// at its first byte 0x00: before it, the proof as given; after it, a
// checkpoint's text that is signed here with the fuzzer's own key and put in
// the proof, so that inputs reach the Merkle checks behind the signature too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "audit/signed_note.h"
#include "base/bounded_json.h"
#include "store/tlog.h"

namespace {

using namespace mcpaudit;

struct Keys {
  SigningKey key = *SigningKey::Generate();
  note::Verifier verifier = *note::ParseVerifierKey(note::VerifierKey("fuzz.example/log", key));
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Keys keys;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t zero = input.find('\0');
  std::string proof = input.substr(0, zero);
  if (zero != std::string::npos) {
    if (auto signed_note = note::Sign(input.substr(zero + 1), "fuzz.example/log", keys.key)) {
      if (proof.starts_with("c2sp.org/tlog-proof@v1\n")) {
        proof += "\n" + *signed_note;
      } else if (nlohmann::json parsed = ParseWithin(proof, 8); parsed.is_object()) {
        parsed["checkpoint"] = *signed_note;
        if (parsed.contains("old_size")) parsed["old_checkpoint"] = *signed_note;
        proof = parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
    }
  }
  (void)tlog::CheckProof(proof, {&keys.verifier});
  (void)tlog::CheckProof(proof, {&keys.verifier}, proof, "fuzz.example/log");
  (void)note::Open(proof, {&keys.verifier});
  (void)note::ParseVerifierKey(proof);
  (void)note::ParseCheckpoint(proof);
  return 0;
}
