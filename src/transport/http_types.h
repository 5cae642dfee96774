// What the HTTP transport's files share: Beast's request and response types
// and small readers of header values. Internal to src/transport.
#pragma once

#include <algorithm>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

#include "base/ascii.h"

namespace mcpaudit::httpd {

namespace beast = boost::beast;
namespace http = beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;
using Clock = std::chrono::steady_clock;

inline std::string_view Sv(beast::string_view text) { return {text.data(), text.size()}; }

template <typename Name>
std::string_view Field(const HttpRequest& request, Name name) {
  return Sv(request[name]);
}

inline std::string Lower(std::string_view text) { return AsciiLower(text); }

// "localhost:8080" → "localhost", "[::1]:8080" → "[::1]".
inline std::string HostName(std::string_view host) {
  if (host.starts_with('[')) return Lower(host.substr(0, host.find(']') + 1));
  return Lower(host.substr(0, host.find(':')));
}

inline bool AcceptsType(std::string_view accept, std::string_view type) {
  const std::string value = Lower(accept);
  return value.find(type) != std::string::npos || value.find("*/*") != std::string::npos;
}

}  // namespace mcpaudit::httpd
