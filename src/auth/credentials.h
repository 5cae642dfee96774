// Reading credentials out of HTTP header values, shared by the authenticators.
#pragma once

#include <cctype>
#include <string_view>

namespace mcpaudit {

inline std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The value of "Authorization: Bearer <value>" (scheme in any case), or empty.
inline std::string_view BearerValue(std::string_view authorization) {
  authorization = Trim(authorization);
  if (authorization.size() < 7) return {};
  for (size_t i = 0; i < 7; ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != "bearer "[i]) return {};
  return Trim(authorization.substr(7));
}

}  // namespace mcpaudit
