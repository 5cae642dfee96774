// What the fuzz targets share: an audit logger that takes every record through
// the same serialisation the journal uses (a record line, read back, its
// canonical form), and a private scratch directory.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "audit/canonical_json.h"
#include "base/bounded_json.h"
#include "mcpaudit/audit_event.h"
#include "mcpaudit/audit_logger.h"

namespace mcpaudit::fuzz {

class SerialisingLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent& event) override {
    const std::string line = ToJsonLine(event);
    const nlohmann::json parsed = ParseWithin(line, kMaxRecordDepth);
    if (parsed.is_discarded()) std::abort();  // a record the journal could not read back
    (void)CanonicalJson(parsed);
    return {};
  }
  Status Ready() const override { return {}; }
};

// A directory of this process's own, made once (in /dev/shm when there is one).
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = (base / "mcpaudit-fuzz-XXXXXX").string();
    return std::filesystem::path(::mkdtemp(pattern.data()));
  }();
  return dir;
}

}  // namespace mcpaudit::fuzz
