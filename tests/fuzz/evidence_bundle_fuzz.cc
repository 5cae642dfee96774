// Evidence bundles handed in by an outsider (mcp-audit verify --bundle): any
// bytes as a tar archive (gzip or not) of records, proofs, checkpoints, keys
// and a manifest. The corpus holds bundles as tar without gzip, so that
// mutations reach what is inside, signed by the key below (its private half
// is not kept: a mutation that must be signed again goes no deeper).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "store/evidence.h"

namespace {

std::vector<mcpaudit::note::Verifier> ParsedCorpusKey() {
  std::vector<mcpaudit::note::Verifier> keys;
  keys.push_back(
      *mcpaudit::note::ParseVerifierKey("audit.example/log+9b4fa334+Ad721NIYZ7swVA6iPpMJS1dyyIgG71xlhGunv9Tt9J+q"));
  return keys;
}

const std::vector<mcpaudit::note::Verifier>& CorpusKey() {
  static const std::vector<mcpaudit::note::Verifier> keys = ParsedCorpusKey();
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)mcpaudit::evidence::CheckBundleBytes({reinterpret_cast<const char*>(data), size}, CorpusKey(), "");
  return 0;
}
