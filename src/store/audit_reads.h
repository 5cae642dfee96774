// Every read of the audit log is itself an audit event (PCI DSS 10.2.1.3):
// `query`, `export`, `tail`, `report` and `verify` record an `audit_read`
// event (who, which command, which source, which filters) in the journal.
//
// A running server holds the journal, so a command hands its event to the
// server through the Unix socket <journal>/control.sock (mode 0600 in the
// 0700 journal directory); the server adds the peer's uid and pid from the
// kernel (SO_PEERCRED) and logs it. With no server running, the command
// appends the event to <journal>/pending-reads.jsonl (0600, synced), and the
// next server to start logs those first: the reads join the signed chain
// without a command ever needing the signing key.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "mcpaudit/audit_logger.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

inline constexpr const char* kControlSocketName = "control.sock";
inline constexpr const char* kPendingReadsName = "pending-reads.jsonl";

// The event a read command records: `command` (query, export, ...), where it
// read (`source`) and what it asked for (`request`: filters and the like).
AuditEvent AuditReadEvent(const std::string& command, const std::string& source,
                          const nlohmann::json& request);

// Records `event` in the journal in `dir`, through the running server or
// directly (then event.server names the writer). Fails (for the caller to warn about) when neither
// works, or when `dir` holds no journal.
[[nodiscard]] Status RecordAuditRead(const std::filesystem::path& dir, const AuditEvent& event);

// The server's end: logs the pending reads, then accepts audit_read events on
// <dir>/control.sock and logs them through `logger`. Stops (and removes the
// socket) when destroyed.
class AuditReadListener {
 public:
  [[nodiscard]] static Result<std::unique_ptr<AuditReadListener>> Start(
      const std::filesystem::path& dir, Pipeline& logger, AuditServer server);
  ~AuditReadListener();
  struct State;

 private:
  explicit AuditReadListener(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mcpaudit
