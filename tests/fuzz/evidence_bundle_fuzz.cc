// Evidence bundles handed in by an outsider (mcp-audit verify --bundle): any
// bytes as a tar archive (gzip or not) of records, proofs, checkpoints, keys
// and a manifest, checked with the keys the bundle brings. The corpus holds
// bundles as tar without gzip, so that mutations reach what is inside.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/evidence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)mcpaudit::evidence::CheckBundleBytes({reinterpret_cast<const char*>(data), size}, {}, "");
  return 0;
}
