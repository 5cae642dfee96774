#include "proxy/proxy_host.h"

namespace mcpaudit {

ProxyHost::ProxyHost(ProxyOptions options, const Recorder& recorder) : shared_(std::move(options), recorder) {}

std::unique_ptr<Connection> ProxyHost::Connect(ConnectionInfo info, MessageSender send) {
  return std::make_unique<UpstreamSession>(shared_, std::move(info), std::move(send));
}

void ProxyHost::RecordAuthFailure(const ConnectionInfo& info, std::string_view error, std::string_view description) {
  auto record = [&recorder = shared_.recorder, info, error = std::string(error),
                 description = std::string(description)] { RecordAuthFailureWith(recorder, info, error, description); };
  if (!auth_records_.Submit(record)) record();
}

}  // namespace mcpaudit
