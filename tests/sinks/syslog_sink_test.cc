// The syslog sink against a real rsyslog on loopback (tests/support/rsyslog-server.sh),
// over UDP, TCP and TLS: rsyslog must parse every message as RFC 5424.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "mcpaudit/shipper.h"
#include "mcpaudit/sink.h"
#include "support/free_port.h"
#include "support/shell.h"
#include "support/shipping.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using namespace std::chrono_literals;
using testing::FreePort;
using testing::JournalLines;
using testing::LogCall;
using testing::OpenJournal;
using testing::RunShell;
using testing::ShellQuote;

class Rsyslog {
 public:
  Rsyslog() {
    // Ports free when asked for may be taken by another test program before rsyslog binds them.
    for (int attempt = 1;; ++attempt) {
      udp_ = FreePort(), tcp_ = FreePort(), tls_ = FreePort();
      try {
        Start();
        return;
      } catch (const std::exception&) {
        Stop();
        if (attempt == 3) throw;
      }
    }
  }
  ~Rsyslog() { Stop(); }
  void Start() {
    RunShell(Script() + " start " + ShellQuote(dir_.path().string()) + " " + std::to_string(udp_) + " " +
             std::to_string(tcp_) + " " + std::to_string(tls_));
  }
  void Stop() { RunShell(Script() + " stop " + ShellQuote(dir_.path().string()), true); }
  std::string Url(const std::string& transport) const {
    const int port = transport == "udp" ? udp_ : transport == "tcp" ? tcp_ : tls_;
    return transport + "://" + (transport == "tls" ? "localhost" : "127.0.0.1") + ":" + std::to_string(port);
  }
  std::string ca_file() const { return (dir_.path() / "ca.pem").string(); }
  // What rsyslog parsed, one message per line: PRI|APP-NAME|MSGID|STRUCTURED-DATA|MSG.
  std::vector<std::string> Received() const { return testing::ReadLines(dir_.path() / "received.log"); }
  std::vector<std::string> WaitFor(size_t count) const {
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
      if (Received().size() >= count) break;
      std::this_thread::sleep_for(50ms);
    }
    return Received();
  }

 private:
  static std::string Script() { return MCPAUDIT_RSYSLOG_SCRIPT; }
  testing::TempDir dir_;
  int udp_ = 0, tcp_ = 0, tls_ = 0;
};

struct Parsed {
  std::string pri, app, msgid, structured, message;
};
Parsed Parse(const std::string& line) {
  Parsed p;
  size_t at = 0;
  for (std::string* field : {&p.pri, &p.app, &p.msgid, &p.structured}) {
    const size_t bar = line.find('|', at);
    *field = line.substr(at, bar - at);
    at = bar + 1;
  }
  p.message = line.substr(at);
  if (p.message.starts_with("\xEF\xBB\xBF")) p.message.erase(0, 3);  // the BOM
  return p;
}

class SyslogSinkTest : public ::testing::TestWithParam<std::string> {
 protected:
  SinkConfig Config(const std::string& transport) {
    SinkConfig config;
    config.name = "syslog";
    config.type = "syslog";
    config.url = rsyslog_.Url(transport);
    config.ca_file = rsyslog_.ca_file();
    return config;
  }
  std::unique_ptr<Shipper> StartShipper(const SinkConfig& config) {
    auto sink = OpenSink(config);
    EXPECT_TRUE(sink.has_value()) << sink.error().message;
    auto options = testing::FastShipping(dir_.path());
    options.name = config.name;
    auto shipper = Shipper::Start(options, std::move(*sink));
    EXPECT_TRUE(shipper.has_value());
    return std::move(*shipper);
  }
  testing::TempDir dir_;
  Rsyslog rsyslog_;
};

TEST_P(SyslogSinkTest, RsyslogParsesEveryRecordAsRfc5424WithItsStructuredData) {
  {
    auto journal = OpenJournal(dir_.path());
    for (int i = 0; i < 20; ++i) LogCall(*journal, {{"q", "say \"hi\" ] \\ " + std::to_string(i)}});
  }
  const auto journal = JournalLines(dir_.path());
  ASSERT_TRUE(StartShipper(Config(GetParam()))->ShipAll().has_value());
  const auto received = rsyslog_.WaitFor(journal.size());
  ASSERT_EQ(received.size(), journal.size());
  for (size_t i = 0; i < journal.size(); ++i) {
    const Parsed p = Parse(received[i]);
    const auto record = nlohmann::json::parse(journal[i]);
    EXPECT_EQ(p.app, "mcp-audit");
    EXPECT_EQ(p.msgid, record["event_type"]);
    EXPECT_EQ(p.pri, "134") << "local0.info";
    EXPECT_NE(p.structured.find("[mcpaudit@32473 id=\"" + record["id"].get<std::string>() + "\""), std::string::npos)
        << p.structured;
    EXPECT_NE(p.structured.find("seq=\"" + std::to_string(i + 1) + "\""), std::string::npos) << p.structured;
    EXPECT_EQ(p.message, journal[i]) << "the record as the journal holds it";
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, SyslogSinkTest, ::testing::Values("udp", "tcp", "tls"),
                         [](const auto& info) { return info.param; });

TEST_F(SyslogSinkTest, TlsRefusesACollectorWhoseCertificateItDoesNotTrust) {
  { auto journal = OpenJournal(dir_.path()); }
  SinkConfig config = Config("tls");
  config.ca_file.clear();  // the system's CAs did not sign the test collector's certificate
  auto shipper = StartShipper(config);
  auto shipped = shipper->ShipAll();
  ASSERT_FALSE(shipped.has_value());
  EXPECT_NE(shipped.error().message.find("certificate"), std::string::npos) << shipped.error().message;
  EXPECT_TRUE(rsyslog_.Received().empty());
}

TEST_F(SyslogSinkTest, ACollectorRestartLosesNothingOverTcp) {
  auto journal = OpenJournal(dir_.path());
  auto shipper = StartShipper(Config("tcp"));
  for (int i = 0; i < 10; ++i) LogCall(*journal, {{"before", i}});
  ASSERT_GE(rsyslog_.WaitFor(11).size(), 11u);
  rsyslog_.Stop();
  for (int i = 0; i < 10; ++i) LogCall(*journal, {{"while_down", i}});
  std::this_thread::sleep_for(300ms);
  rsyslog_.Start();
  for (int i = 0; i < 10; ++i) LogCall(*journal, {{"after", i}});
  journal.reset();
  const auto lines = JournalLines(dir_.path());
  const auto received = rsyslog_.WaitFor(lines.size());
  std::vector<std::string> messages;
  for (const auto& line : received) messages.push_back(Parse(line).message);
  EXPECT_EQ(messages, lines);
}

}  // namespace
}  // namespace mcpaudit
