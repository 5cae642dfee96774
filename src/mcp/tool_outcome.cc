#include "mcp/tool_outcome.h"

namespace mcpaudit {

AuditError ToolReportedError(const nlohmann::json& content) {
  std::string text;
  if (content.is_array()) {
    for (const auto& item : content) {
      if (item.is_object() && item.contains("type") && item["type"] == "text" && item.contains("text") &&
          item["text"].is_string())
        text += item["text"].get_ref<const std::string&>();
      if (text.size() >= 500) break;
    }
  }
  if (text.size() > 500) text.resize(500);
  return AuditError{0, std::move(text), std::string(kToolErrorReason)};
}

}  // namespace mcpaudit
