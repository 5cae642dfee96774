// Any bytes as the TOML configuration file (`mcp-audit config check`, `serve --config`).
#include <cstddef>
#include <cstdint>
#include <fstream>

#include "cli/config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = mcpaudit::fuzz::ScratchDir() / "config.toml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  (void)mcpaudit::cli::LoadConfig(path.string());
  return 0;
}
