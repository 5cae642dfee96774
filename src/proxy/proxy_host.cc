#include "proxy/proxy_host.h"

namespace mcpaudit {

ProxyHost::ProxyHost(ProxyOptions options, const Recorder& recorder)
    : options_(std::move(options)), recorder_(recorder), redactor_(options_.redaction) {}

std::unique_ptr<Connection> ProxyHost::Connect(ConnectionInfo info, MessageSender send) {
  return std::make_unique<UpstreamSession>(options_, recorder_, redactor_, std::move(info), std::move(send));
}

void ProxyHost::RecordAuthFailure(const ConnectionInfo& info, std::string_view error, std::string_view description) {
  RecordAuthFailureWith(recorder_, info, error, description);
}

}  // namespace mcpaudit
