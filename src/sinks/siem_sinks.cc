// The sinks that ship records to other systems (SIEMs, collectors, syslog).
// Linking mcpaudit::siem is enough to open them by type: its target has the
// linker keep this (CMakeLists.txt).
#include "sinks/http_sinks.h"

namespace mcpaudit {

namespace {
bool RegisterSiemSinks() {
  RegisterSinkType("splunk", OpenSplunkSink);
  RegisterSinkType("datadog", OpenDatadogSink);
  RegisterSinkType("elastic", OpenElasticSink);
  RegisterSinkType("otlp", OpenOtlpSink);
  RegisterSinkType("webhook", OpenWebhookSink);
  RegisterSinkType("syslog", OpenSyslogSink);
  return true;
}
}  // namespace
extern "C" const bool mcpaudit_siem_sinks = RegisterSiemSinks();

}  // namespace mcpaudit
