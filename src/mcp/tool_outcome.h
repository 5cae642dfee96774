// How a tool's answer reads in its record, in one place for `serve` and
// `proxy`: the same answer must mean the same to an auditor whichever
// recorded it.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "mcpaudit/audit_event.h"

namespace mcpaudit {

// The reason of a call whose tool failed: it answered isError, or (serve) its
// handler returned an error or threw.
inline constexpr std::string_view kToolErrorReason = "tool_error";

// The error of a result the tool marked isError: the text of its content (at
// most 500 bytes), reason tool_error.
AuditError ToolReportedError(const nlohmann::json& content);

}  // namespace mcpaudit
