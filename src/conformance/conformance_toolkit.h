// `mcp-audit serve --toolkit conformance`: what the official MCP conformance
// suite's server scenarios call.
#pragma once

#include "mcpaudit/result.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

[[nodiscard]] Status RegisterConformanceToolkit(Toolkit& toolkit);

}  // namespace mcpaudit
