// Reading credentials out of HTTP header values, shared by the authenticators.
#pragma once

#include <string_view>

#include "base/ascii.h"

namespace mcpaudit {

inline std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The value of "Authorization: Bearer <value>" (scheme in any case), or empty.
inline std::string_view BearerValue(std::string_view authorization) {
  authorization = Trim(authorization);
  if (!StartsWithIgnoringCase(authorization, "bearer ")) return {};
  return Trim(authorization.substr(7));
}

}  // namespace mcpaudit
