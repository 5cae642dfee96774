// What a request's headers say of where it comes from, checked against the
// server's options: the Host and Origin guard (DNS rebinding, cross-site
// pages), the client's address behind trusted proxies, whether it came over
// HTTPS, and the URL of the protected-resource metadata a 401 points to.
// Internal to src/transport; reads only the request and the options.
#pragma once

#include <string>

#include "mcpaudit/http_transport.h"
#include "transport/http_types.h"

namespace mcpaudit::httpd {

class RequestGuard {
 public:
  // Keeps a reference: `options` outlives the guard.
  explicit RequestGuard(const HttpOptions& options);

  // Whether the Host header names a host of allowed_hosts (any, when empty).
  bool HostAllowed(const HttpRequest& request) const;
  // Whether a browser's Origin is allowed: one of allowed_origins, or else
  // one of allowed_hosts; a request without Origin is not a browser's.
  bool OriginAllowed(const HttpRequest& request) const;
  // The client's address: the peer's, or behind trusted proxies the nearest
  // X-Forwarded-For address that is not a trusted proxy's.
  std::string ClientIp(const HttpRequest& request, const std::string& peer_ip) const;
  // Whether a trusted reverse proxy says the client reached it over HTTPS.
  bool ForwardedOverHttps(const HttpRequest& request, const std::string& peer_ip) const;
  // Whether a browser sent this from a page of this very origin: its Origin is
  // exactly scheme://Host of the request (scheme, host and port; behind a
  // trusted proxy, the host it was asked for: X-Forwarded-Host), or it sends
  // no Origin and says Sec-Fetch-Site: same-origin. Other ports of the same
  // host are other origins (SameSite cookies do not tell them apart).
  bool FromThisOrigin(const HttpRequest& request, const std::string& peer_ip) const;
  // RFC 9728 §3.1: the metadata URL of resource_url (the well-known path goes
  // between the host and the resource's path).
  std::string ResourceMetadataUrl() const;

  // Browsers may call from an allowed origin: let them read our headers.
  template <typename Response>
  static void AddCors(const HttpRequest& request, Response& response) {
    auto origin = request.find(http::field::origin);
    if (origin == request.end()) return;
    response.set(http::field::access_control_allow_origin, origin->value());
    response.set(http::field::access_control_expose_headers, "Mcp-Session-Id, WWW-Authenticate");
    response.set(http::field::vary, "Origin");
  }

 private:
  const HttpOptions& options_;
};

}  // namespace mcpaudit::httpd
