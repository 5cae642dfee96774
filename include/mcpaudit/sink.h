// A Sink is a destination that records are shipped to from the journal: a
// database, a SIEM, a collector. It takes a batch and answers only when the
// destination has confirmed all of it (or failed); it knows nothing of the
// journal, cursors or retries, which are the Shipper's.
//
// Delivery is at least once: after a failure the same batch (or a part of it)
// comes again, so a sink must store each record once, keyed on the event id.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

// One journal record: the line as the journal holds it (JSON with its
// `integrity` member, so that a copy can be verified) and the same, parsed.
struct SinkRecord {
  std::string line;
  AuditEvent event;
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Stores every record of `batch` (oldest first). Success means the
  // destination has them durably; on failure none is assumed stored.
  [[nodiscard]] virtual Status Store(std::span<const SinkRecord> batch) = 0;
  // Overwrites the stored records that have these ids with these versions (and
  // adds those it lacks), leaving no trace of the old ones: how an erasure in
  // the journal reaches a store. A sink that cannot overwrite (a SIEM) says so.
  [[nodiscard]] virtual Status Replace(std::span<const SinkRecord> records) {
    (void)records;
    return Fail(ErrorCode::kUnavailable, "this sink cannot erase records it has stored");
  }
  // Deletes the stored records of `stream` up to and including `through_seq`:
  // how retention reaches a store once the journal dropped those records.
  [[nodiscard]] virtual Status Forget(std::string_view stream, uint64_t through_seq) {
    (void)stream;
    (void)through_seq;
    return Fail(ErrorCode::kUnavailable, "this sink cannot delete records it has stored");
  }
  // After a failed Store: how long the destination asked to be left alone
  // (an HTTP Retry-After), if it did. The shipper waits at least that long.
  virtual std::optional<std::chrono::milliseconds> RetryAfter() const { return std::nullopt; }
  // After a failed Store that got no answer (refused connection, timeout):
  // whether the destination answers again, asked cheaply (an HTTP HEAD, a
  // PostgreSQL ping) while the shipper backs off, so that it retries as soon
  // as the destination is back. nullopt: the sink cannot tell, or its last
  // failure was an answer (a refusal, a 5xx), which only the backoff waits out.
  // Called as Store is: by one thread at a time. When a retry it called early
  // fails too, the shipper waits out that backoff whole before asking again.
  virtual std::optional<bool> Answers() { return std::nullopt; }
};

// Where a sink sends records and how it authenticates.
struct SinkConfig {
  std::string name;  // names its cursor and its lines in `mcp-audit status`
  std::string url;   // sqlite:///path, postgres://user@host/db, mysql://…, https://…
  // The password, token or API key, read from this environment variable or
  // file, never from the URL or the command line (both end up in shell
  // histories and process lists).
  std::string password_env;
  std::string password_file;
  // What the destination is: sqlite, postgres, mysql (these three may be left
  // to the URL's scheme), splunk, datadog, elastic, otlp, webhook, syslog.
  std::string type;
  std::string ca_file;  // TLS: trust this CA bundle instead of the system's
  bool gzip = true;     // compress request bodies (HTTP sinks)
  std::chrono::milliseconds timeout{30000};  // for one request's answer (HTTP sinks)
  // Per type: index, source, sourcetype (splunk), service, tags (datadog),
  // index (elastic), service (otlp), ack = "true" (splunk), facility (syslog).
  std::map<std::string, std::string> options;
  // Routing: only records of these tenants / event types (empty: all).
  // Checkpoints go to every sink: a copy of the chain head off the machine.
  std::vector<std::string> tenants;
  std::vector<std::string> event_types;
  // Where batches the destination refuses for good (HTTP 4xx) are set aside,
  // one record per line; empty: such a batch fails like any other.
  std::filesystem::path dead_letter;
  // GET /readyz says the sink is not ready while it fails with more than this
  // still to ship; a sink that ships, or fails with less, is ready.
  uint64_t ready_backlog_bytes = 256ull << 20;

  bool operator==(const SinkConfig&) const = default;
};

// The type of `config`: its `type`, or else the scheme of its URL.
std::string SinkType(const SinkConfig& config);

// `url` fit to print: a password in it becomes "***".
std::string RedactUrl(std::string_view url);

// Opens the sink of `config` by its type (SinkType). A database server is
// connected to by the first batch (a server may start while its database is
// down); the URL and the password source are checked now.
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenSink(const SinkConfig& config);

// Opens a sink of one type.
using SinkOpener = std::function<Result<std::unique_ptr<Sink>>(const SinkConfig& config)>;

// Makes OpenSink open sinks of `type` with `open`: a destination of your own,
// named by its type in [[sinks]]. The sinks of mcp-audit register themselves
// when their component is linked: mcpaudit::sqlite (sqlite), mcpaudit::postgres
// (postgres), mcpaudit::mysql (mysql) and mcpaudit::siem (splunk, datadog,
// elastic, otlp, webhook, syslog), before main runs; so call OpenSink from
// main (or later), not from a static initializer of your own. A type
// registered again is opened by the newer opener: register your own under a
// name of its own.
void RegisterSinkType(std::string type, SinkOpener open);

}  // namespace mcpaudit
