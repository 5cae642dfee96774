#include "transport/http_guard.h"

namespace mcpaudit::httpd {

RequestGuard::RequestGuard(const HttpOptions& options) : options_(options) {}

bool RequestGuard::HostAllowed(const HttpRequest& request) const {
  if (options_.allowed_hosts.empty()) return true;
  auto host = request.find(http::field::host);
  if (host == request.end()) return false;
  return std::ranges::find(options_.allowed_hosts, HostName(Sv(host->value()))) !=
         options_.allowed_hosts.end();
}

bool RequestGuard::OriginAllowed(const HttpRequest& request) const {
  auto header = request.find(http::field::origin);
  if (header == request.end()) return true;  // not a browser
  const std::string origin = Lower(Sv(header->value()));
  if (!options_.allowed_origins.empty()) {
    return std::ranges::find(options_.allowed_origins, origin) != options_.allowed_origins.end();
  }
  const size_t scheme = origin.find("://");
  if (scheme == std::string::npos) return false;  // "null" and the like
  if (options_.allowed_hosts.empty()) return true;
  return std::ranges::find(options_.allowed_hosts,
                           HostName(std::string_view(origin).substr(scheme + 3))) !=
         options_.allowed_hosts.end();
}

std::string RequestGuard::ClientIp(const HttpRequest& request, const std::string& peer_ip) const {
  if (std::ranges::find(options_.trusted_proxies, peer_ip) == options_.trusted_proxies.end())
    return peer_ip;
  auto forwarded = request.find("X-Forwarded-For");
  if (forwarded == request.end()) return peer_ip;
  // The nearest address not of a trusted proxy, reading from the right.
  std::string_view list = Sv(forwarded->value());
  while (!list.empty()) {
    const size_t comma = list.rfind(',');
    std::string_view item = comma == std::string_view::npos ? list : list.substr(comma + 1);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    if (std::ranges::find(options_.trusted_proxies, item) == options_.trusted_proxies.end()) {
      return std::string(item);
    }
  }
  return peer_ip;
}

std::string RequestGuard::ResourceMetadataUrl() const {
  const std::string& resource = options_.resource_url;
  const size_t authority = resource.find("://");
  const size_t path = resource.find('/', authority == std::string::npos ? 0 : authority + 3);
  if (path == std::string::npos) return resource + "/.well-known/oauth-protected-resource";
  return resource.substr(0, path) + "/.well-known/oauth-protected-resource" + resource.substr(path);
}

bool RequestGuard::ForwardedOverHttps(const HttpRequest& request,
                                      const std::string& peer_ip) const {
  return std::ranges::find(options_.trusted_proxies, peer_ip) != options_.trusted_proxies.end() &&
         Lower(Field(request, "X-Forwarded-Proto")) == "https";
}

bool RequestGuard::FromThisOrigin(const HttpRequest& request, const std::string& peer_ip) const {
  const bool proxied =
      std::ranges::find(options_.trusted_proxies, peer_ip) != options_.trusted_proxies.end();
  const std::string_view forwarded_host =
      proxied ? Field(request, "X-Forwarded-Host") : std::string_view();
  const std::string_view host =
      forwarded_host.empty() ? Field(request, http::field::host) : forwarded_host;
  auto origin = request.find(http::field::origin);
  if (origin == request.end()) return Lower(Field(request, "Sec-Fetch-Site")) == "same-origin";
  const std::string scheme = ForwardedOverHttps(request, peer_ip) ? "https://" : "http://";
  return !host.empty() && Lower(Sv(origin->value())) == Lower(scheme + std::string(host));
}

}  // namespace mcpaudit::httpd
