// Syslog (RFC 5424) over UDP, TCP with octet counting (RFC 6587) or TLS
// (RFC 5425). One message per record:
//   <PRI>1 TIMESTAMP HOST mcp-audit - MSGID [mcpaudit@32473 id=".." …] BOM{record JSON}
// PRI: the configured facility (local0 unless `facility` says otherwise) and a
// severity from the outcome (info, warning for a denial, err for a failure);
// MSGID: the event type. 32473 is the private enterprise number RFC 5612
// reserves for documentation; the structured data carries the key fields so
// that a collector can filter without parsing the JSON.
//
// What "stored" means here: for TCP and TLS, written to a connection the
// collector accepted (syslog has no acknowledgement; a collector that crashes
// with unwritten buffers can lose what it had taken). UDP is fire-and-forget:
// use it only where the collector is next door.
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>

#include "sinks/http_sink.h"
#include "sinks/http_sinks.h"

namespace mcpaudit {
namespace {

constexpr size_t kMaxUdpMessage = 8192;  // rsyslog's default maxMessageSize; a longer record is cut

int FacilityCode(const std::string& name) {
  static const std::pair<const char*, int> kFacilities[] = {
      {"user", 1},    {"daemon", 3},  {"auth", 4},    {"authpriv", 10}, {"local0", 16}, {"local1", 17},
      {"local2", 18}, {"local3", 19}, {"local4", 20}, {"local5", 21},   {"local6", 22}, {"local7", 23}};
  for (const auto& [facility, code] : kFacilities) {
    if (name == facility) return code;
  }
  return -1;
}

// An SD-PARAM value: ", \ and ] escaped (RFC 5424 §6.3.3).
void AppendParam(std::string& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out += ' ';
  out += name;
  out += "=\"";
  for (char c : value) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  out += '"';
}

// A header field: printable US-ASCII without spaces, at most `max` long; "-" when empty.
std::string HeaderField(std::string_view value, size_t max) {
  std::string out;
  for (char c : value.substr(0, max)) out += (c > 32 && c < 127) ? c : '_';
  return out.empty() ? "-" : out;
}

struct Endpoint {
  std::string transport;  // udp, tcp, tls
  std::string host;
  std::string port;
};

Result<Endpoint> ParseEndpoint(const SinkConfig& config) {
  const std::string& url = config.url;
  const size_t scheme = url.find("://");
  Endpoint e;
  if (scheme != std::string::npos) e.transport = url.substr(0, scheme);
  if (e.transport != "udp" && e.transport != "tcp" && e.transport != "tls")
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name + ": syslog needs udp://host:port, tcp://host:port or tls://host:port, not '" +
                    url + "'");
  std::string_view rest = std::string_view(url).substr(scheme + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  e.host = std::string(rest.substr(0, colon));
  e.port = colon == std::string_view::npos ? (e.transport == "tls" ? "6514" : "514") : std::string(rest.substr(colon + 1));
  if (e.host.starts_with('[') && e.host.ends_with(']')) e.host = e.host.substr(1, e.host.size() - 2);
  if (e.host.empty()) return Fail(ErrorCode::kInvalidArgument, "sink " + config.name + ": no host in '" + url + "'");
  return e;
}

class SyslogSink final : public Sink {
 public:
  SyslogSink(SinkConfig config, Endpoint endpoint, int facility)
      : config_(std::move(config)),
        endpoint_(std::move(endpoint)),
        facility_(facility),
        host_(HeaderField(config_.options.count("host") ? config_.options.at("host") : LocalHostname(), 255)) {}
  ~SyslogSink() override { Close(); }

  Status Store(std::span<const SinkRecord> batch) override {
    if (Status s = EnsureConnected(); !s) return s;
    std::string out;
    for (const SinkRecord& record : batch) {
      const std::string message = Message(record);
      if (endpoint_.transport == "udp") {
        const std::string_view datagram = std::string_view(message).substr(0, kMaxUdpMessage);
        if (::send(fd_, datagram.data(), datagram.size(), 0) < 0) return Broken("cannot send");
        continue;
      }
      out += std::to_string(message.size());  // octet counting: "LEN SP MSG"
      out += ' ';
      out += message;
    }
    if (!out.empty() && !WriteStream(out)) return Broken("cannot write");
    return {};
  }

 private:
  std::string Message(const SinkRecord& record) const {
    const AuditEvent& e = record.event;
    const int severity = e.outcome == Outcome::kSuccess ? 6 : e.outcome == Outcome::kDenied ? 4 : 3;
    std::string m = "<" + std::to_string(facility_ * 8 + severity) + ">1 " + FormatTimestamp(e.timestamp) + " " +
                    host_ + " mcp-audit - " + HeaderField(e.event_type, 32) + " [mcpaudit@32473";
    AppendParam(m, "id", e.id);
    AppendParam(m, "tool", e.tool);
    AppendParam(m, "outcome", ToString(e.outcome));
    AppendParam(m, "user", e.user.id);
    AppendParam(m, "tenant", e.user.tenant_id);
    AppendParam(m, "client_ip", e.request.client_ip);
    if (e.integrity) {
      AppendParam(m, "stream", e.integrity->stream);
      AppendParam(m, "seq", std::to_string(e.integrity->seq));
    }
    m += "] \xEF\xBB\xBF";  // the BOM says the message is UTF-8
    m += record.line;
    return m;
  }

  // A collector that restarted closed our connection; writing to it now would
  // "succeed" into the void. Looked at before each batch: a closed peer reads as EOF.
  bool PeerClosed() const {
    if (fd_ < 0 || endpoint_.transport == "udp") return false;
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  Status EnsureConnected() {
    if (PeerClosed()) Close();
    if (fd_ >= 0) return {};
    addrinfo hints{};
    hints.ai_socktype = endpoint_.transport == "udp" ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(endpoint_.host.c_str(), endpoint_.port.c_str(), &hints, &found); rc != 0)
      return Fail(ErrorCode::kUnavailable, Where() + ": " + ::gai_strerror(rc));
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) return Fail(ErrorCode::kUnavailable, Where() + ": cannot connect: " + std::strerror(errno));
    timeval timeout{static_cast<time_t>(config_.timeout.count() / 1000),
                    static_cast<suseconds_t>(config_.timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (endpoint_.transport == "tls") return StartTls();
    return {};
  }

  // TLS with the collector's certificate verified (system CAs or ca_file) for its host name.
  Status StartTls() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    const bool trusted = config_.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                                 : SSL_CTX_load_verify_locations(ctx_, config_.ca_file.c_str(), nullptr) == 1;
    if (!trusted) return TlsError("cannot load the trusted certificates");
    ssl_ = SSL_new(ctx_);
    SSL_set_tlsext_host_name(ssl_, endpoint_.host.c_str());
    SSL_set1_host(ssl_, endpoint_.host.c_str());
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) return TlsError("TLS handshake failed");
    return {};
  }

  Status TlsError(const std::string& what) {
    char reason[256] = "";
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    std::string message = Where() + ": " + what + ": " + reason;
    if (ssl_ != nullptr && SSL_get_verify_result(ssl_) != X509_V_OK)
      message += " (" + std::string(X509_verify_cert_error_string(SSL_get_verify_result(ssl_))) + ")";
    Close();
    return Fail(ErrorCode::kUnavailable, message);
  }

  bool WriteStream(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                                        : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (ssl_ == nullptr && n < 0 && errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  Status Broken(const std::string& what) {
    const std::string message = Where() + ": " + what + ": " + std::strerror(errno);
    Close();  // a new connection with the next batch
    return Fail(ErrorCode::kUnavailable, message);
  }

  void Close() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (ctx_ != nullptr) {
      SSL_CTX_free(ctx_);
      ctx_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string Where() const { return "sink " + config_.name + " (" + config_.url + ")"; }

  SinkConfig config_;
  Endpoint endpoint_;
  int facility_;
  std::string host_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenSyslogSink(const SinkConfig& config) {
  auto endpoint = ParseEndpoint(config);
  if (!endpoint) return std::unexpected(endpoint.error());
  auto it = config.options.find("facility");
  const std::string facility = it == config.options.end() ? "local0" : it->second;
  const int code = FacilityCode(facility);
  if (code < 0)
    return Fail(ErrorCode::kInvalidArgument, "sink " + config.name + ": unknown syslog facility '" + facility +
                                                 "' (user, daemon, auth, authpriv, local0 … local7)");
  return std::make_unique<SyslogSink>(config, std::move(*endpoint), code);
}

}  // namespace mcpaudit
