#include "proxy/proxy_host.h"

namespace mcpaudit {

ProxyHost::ProxyHost(ProxyOptions options, const Recorder& recorder) : shared_(std::move(options), recorder) {}

std::unique_ptr<Connection> ProxyHost::Connect(ConnectionInfo info, MessageSender send) {
  return std::make_unique<UpstreamSession>(shared_, std::move(info), std::move(send));
}

void ProxyHost::RecordRefusal(const ConnectionInfo& info, const RefusedRequest& refusal) {
  shared_.refusals.Record(info, refusal);
}

}  // namespace mcpaudit
