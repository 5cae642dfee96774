// The auditor's read API (/api/v1/, JSON), answered from a SQL store on its
// indexes (store/store_query.h):
//   GET /api/v1/events?since&until&user&tenant&tool&outcome&event_type&session
//                      &request_id&client_ip&resource&phi&q&limit&cursor&order
//       -> {"events": [records as stored], "next_cursor": "…" | null}
//   GET /api/v1/events/{id}
//       -> {"event": …, "integrity": {stream, seq, prev, hash, "checkpoint": the
//           first checkpoint record after it in its stream, or null}}; 404 if unknown
//   GET /api/v1/stats?since&until&bucket=minute|hour|day&…filters
//       -> {"buckets": [{start, success, failure, denied}], "top_tools": […],
//           "top_users": […], "denials_by_reason": […], "totals": {…}}
//   GET /api/v1/integrity -> per stream: its head (seq, hash) and its newest
//       checkpoint (what it covers, key id, signed or not); the last verify's verdict
//   POST /api/v1/integrity/verify -> 202 {job, started}: a verify run (one at a time)
//   GET /api/v1/integrity/verify/{job} -> its progress, then its verdict and problems
//   GET /api/v1/reports/{access-review|phi-access|failures}?since&until&tenant
//       &format=json|csv|html -> the report (store/report.h), as a download
//   GET /api/v1/export?…filters&format=jsonl|csv -> every selected record, oldest
//       first, streamed a page at a time (a transfer cut short if the store fails)
//   GET /api/v1/tail?…filters&cursor -> server-sent events: each record that
//       arrives from now on (or after `cursor`), its id the cursor to resume from
//   GET /api/v1/tlog/{stream}/checkpoint -> the stream's newest checkpoint, a C2SP
//       signed note (text/plain), as `mcp-audit checkpoint` prints it
//   GET /api/v1/tlog/{stream}/proof?id&format=json|tlog-proof -> the record's RFC 6962
//       inclusion proof against it, as `mcp-audit prove --id` (store/tlog.h)
//   GET /api/v1/tlog/{stream}/consistency?old_size -> the consistency proof from
//       old_size records to it, as `mcp-audit prove --old-size`
//       (the tlog endpoints answer for the streams of this server's own journal)
//   GET /api/v1/openapi.json -> the OpenAPI 3.1 description (src/console/openapi.json)
// Only callers with the auditor role may read (others get 403); a parameter
// that is unknown or wrong gets 400 naming it. Every request but the one for
// openapi.json (which holds no record), answered or refused, is an audit_read
// record with its answer (caller, endpoint, filters, status); a read that
// cannot be recorded is not answered (503).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "console/verify_jobs.h"
#include "mcpaudit/audit_logger.h"
#include "mcpaudit/http_transport.h"
#include "mcpaudit/sink.h"

namespace mcpaudit {

struct ReadApiOptions {
  SinkConfig store;                    // where the records are read
  std::string auditor_role = "auditor";  // the role a caller needs
  AuditLogger* logger = nullptr;       // where each request's audit_read record goes
  AuditServer server;                  // names this server in those records
  VerifyJobs* verify = nullptr;        // runs verify for POST integrity/verify; null: none here
  std::filesystem::path journal_dir;   // the journal whose Merkle trees the tlog endpoints read; empty: none
  size_t max_tails = 16;               // tails open at once (each polls the store every second)
  std::shared_ptr<std::atomic<size_t>> open_tails = std::make_shared<std::atomic<size_t>>(0);
};

// The audit_read record of a request by `caller` to `endpoint` (its outcome
// and error left for the caller to set).
AuditEvent ReadApiEvent(const ReadApiOptions& options, const Identity& caller, const std::string& client_ip,
                        const std::string& endpoint);

// application/x-www-form-urlencoded decoding (%XX and '+'); nullopt when malformed.
std::optional<std::string> UrlDecode(std::string_view text);

ReadApiResponse AnswerReadApi(const ReadApiOptions& options, const ReadApiRequest& request);

}  // namespace mcpaudit
