// A real TLS server (stunnel, tests/support/tls-proxy.sh) in front of a plain
// local server: a certificate for localhost, signed by a CA of its own.
// Needs MCPAUDIT_TLS_PROXY_SCRIPT defined to the script's path.
#pragma once

#include <string>

#include "support/free_port.h"
#include "support/shell.h"
#include "support/temp_dir.h"

namespace mcpaudit::testing {

class TlsProxy {
 public:
  explicit TlsProxy(unsigned short backend) : port_(FreePort()) {
    RunShell(Script() + " start " + ShellQuote(dir_.path().string()) + " " + std::to_string(port_) + " " +
             std::to_string(backend));
  }
  ~TlsProxy() { RunShell(Script() + " stop " + ShellQuote(dir_.path().string()), true); }
  std::string url() const { return "https://localhost:" + std::to_string(port_); }
  std::string ca_file() const { return (dir_.path() / "ca.pem").string(); }

 private:
  static std::string Script() { return MCPAUDIT_TLS_PROXY_SCRIPT; }
  TempDir dir_;
  int port_;
};

}  // namespace mcpaudit::testing
