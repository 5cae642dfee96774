#include "console/read_api.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

#include "audit/canonical_json.h"
#include "audit/merkle_tree.h"
#include "base/bounded_json.h"
#include "mcpaudit/clock.h"
#include "store/query.h"
#include "store/record_store.h"
#include "store/report.h"
#include "store/store_query.h"
#include "store/tlog.h"

namespace mcpaudit {

extern const char* const kReadApiOpenApi;  // src/console/openapi.json, compiled in

namespace {

using nlohmann::json;

constexpr size_t kDefaultPage = 50;
constexpr size_t kMaxPage = 1000;
constexpr size_t kMaxParameter = 1024;
constexpr size_t kMaxPageBytes = 8 << 20;   // a page ends early past this (its cursor goes on)
constexpr size_t kMaxRowsRead = 200000;     // rows one page may read for a filter SQL only narrows
constexpr int64_t kMaxBuckets = 50000;      // of one stats answer

ReadApiResponse JsonAnswer(unsigned status, const json& body) {
  return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace), {}, {}};
}

ReadApiResponse Problem(unsigned status, const std::string& message, const std::string& parameter = "") {
  json body = {{"error", message}};
  if (!parameter.empty()) body["parameter"] = parameter;
  return JsonAnswer(status, body);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> UrlDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = HexValue(text[i + 1]), low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

AuditEvent ReadApiEvent(const ReadApiOptions& options, const Identity& caller, const std::string& client_ip,
                        const std::string& endpoint) {
  AuditEvent e;
  e.timestamp = std::chrono::system_clock::now();
  e.id = NewUuidV7(e.timestamp, SecureRandom());
  e.event_type = "audit_read";
  e.tool = endpoint;
  e.user = {caller.user_id, caller.email, caller.tenant_id, caller.roles, caller.auth_method};
  e.request.client_ip = client_ip;
  e.request.transport = "http";
  e.server = options.server;
  e.details = {{"command", "api"}, {"endpoint", endpoint}, {"source", RedactUrl(options.store.url)}};
  return e;
}

namespace {

struct Query {
  std::string path;
  std::map<std::string, std::string> parameters;
};

// The path and parameters of `target`, or the 400 that names what is wrong.
std::expected<Query, ReadApiResponse> ParseTarget(std::string_view target, const std::vector<std::string>& allowed) {
  Query query;
  const size_t mark = target.find('?');
  query.path = std::string(target.substr(0, mark));
  if (mark == std::string_view::npos) return query;
  std::string_view rest = target.substr(mark + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto name = UrlDecode(pair.substr(0, eq));
    auto value = UrlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) return std::unexpected(Problem(400, "a parameter is not URL-encoded correctly"));
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end())
      return std::unexpected(Problem(400, "unknown parameter '" + *name + "'", *name));
    if (value->size() > kMaxParameter)
      return std::unexpected(Problem(400, "the value of '" + *name + "' is too long", *name));
    if (value->find('\0') != std::string::npos || WellFormedUtf8(*value) != *value)
      return std::unexpected(Problem(400, "the value of '" + *name + "' is not UTF-8 text", *name));
    if (!query.parameters.emplace(*name, *value).second)
      return std::unexpected(Problem(400, "'" + *name + "' is given twice", *name));
  }
  return query;
}

const std::vector<std::string> kFilterNames = {"since",   "until",      "user",      "tenant",   "tool",
                                               "outcome", "event_type", "session",   "request_id",
                                               "client_ip", "resource", "phi",       "q"};

std::vector<std::string> With(std::vector<std::string> names, std::initializer_list<const char*> more) {
  names.insert(names.end(), more.begin(), more.end());
  return names;
}

// The filter the parameters describe, or the 400 that names the wrong one.
std::expected<QueryFilter, ReadApiResponse> FilterOf(const std::map<std::string, std::string>& p) {
  QueryFilter f;
  auto text = [&](const char* name) {
    auto it = p.find(name);
    return it == p.end() ? std::string() : it->second;
  };
  for (auto [name, target] : {std::pair{"since", &f.since}, {"until", &f.until}}) {
    const std::string value = text(name);
    if (value.empty()) continue;
    auto time = ParseTimestamp(value);
    if (!time) return std::unexpected(Problem(400, std::string(name) + ": " + time.error().message, name));
    *target = *time;
  }
  f.user = text("user");
  f.tenant = text("tenant");
  f.tool = text("tool");
  f.event_type = text("event_type");
  f.session = text("session");
  f.request_id = text("request_id");
  f.client_ip = text("client_ip");
  f.resource = text("resource");
  f.text = text("q");
  if (const std::string outcome = text("outcome"); !outcome.empty()) {
    auto parsed = ParseOutcome(outcome);
    if (!parsed) return std::unexpected(Problem(400, "outcome must be success, failure or denied", "outcome"));
    f.outcome = *parsed;
  }
  if (const std::string phi = text("phi"); !phi.empty()) {
    if (phi != "true" && phi != "false") return std::unexpected(Problem(400, "phi must be true or false", "phi"));
    f.phi_only = phi == "true";
  }
  return f;
}

json FiltersJson(const std::map<std::string, std::string>& parameters) {
  json filters = json::object();
  for (const auto& [name, value] : parameters)
    if (name != "cursor") filters[name] = value;
  return filters;
}

// Records the request as an audit_read event with what it was answered.
bool RecordRead(const ReadApiOptions& options, const ReadApiRequest& request, const std::string& endpoint,
                const json& filters, const ReadApiResponse& answer) {
  if (options.logger == nullptr) return true;
  AuditEvent e = ReadApiEvent(options, request.identity, request.client_ip, endpoint);
  e.outcome = answer.status < 400 ? Outcome::kSuccess : answer.status < 500 ? Outcome::kDenied : Outcome::kFailure;
  if (answer.status >= 400) {
    const json body = json::parse(answer.body, nullptr, false);
    const std::string message = body.is_object() ? body.value("error", "") : "";
    static const std::map<unsigned, std::string> kReasons = {{400, "bad_parameter"}, {403, "auditor_role_required"},
                                                             {404, "not_found"}, {405, "method_not_allowed"}};
    const auto reason = kReasons.find(answer.status);
    e.error = AuditError{static_cast<int>(answer.status), message,
                         reason != kReasons.end() ? reason->second : "unavailable"};
  }
  e.details["request"] = {{"filters", filters}};
  e.details["status"] = answer.status;
  return options.logger->Log(e).has_value();
}

json RecordJson(const std::string& line) { return ParseWithin(line, kMaxRecordDepth); }

ReadApiResponse Events(const ReadApiOptions& options, const Query& query) {
  auto filter = FilterOf(query.parameters);
  if (!filter) return filter.error();
  size_t limit = kDefaultPage;
  if (auto it = query.parameters.find("limit"); it != query.parameters.end()) {
    const auto& v = it->second;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
    if (ec != std::errc() || end != v.data() + v.size() || limit == 0 || limit > kMaxPage)
      return Problem(400, "limit must be a number from 1 to " + std::to_string(kMaxPage), "limit");
  }
  filter->limit = limit;
  Selection selection{.filter = *filter, .newest_first = true, .after = std::nullopt, .max_rows = 0};
  if (auto it = query.parameters.find("order"); it != query.parameters.end()) {
    if (it->second != "newest" && it->second != "oldest") return Problem(400, "order must be newest or oldest", "order");
    selection.newest_first = it->second == "newest";
  }
  if (auto it = query.parameters.find("cursor"); it != query.parameters.end()) {
    auto position = DecodeCursor(it->second);
    if (!position) return Problem(400, "cursor: " + position.error().message, "cursor");
    selection.after = *position;
  }
  selection.max_rows = kMaxRowsRead;
  // The records go into the answer as stored (each already read as JSON once).
  std::string body = "{\"events\":[";
  size_t records = 0, unreadable = 0;
  auto page = SelectStoredRecords(
      options.store, selection,
      [&](const AuditEvent&, const std::string& line) {
        if (records++ > 0) body += ',';
        body += line;
        return body.size() < kMaxPageBytes;
      },
      [&](size_t, const std::string&) { ++unreadable; });
  if (!page) return Problem(503, "the store cannot be read: " + page.error().message);
  body += "],\"next_cursor\":";
  body += page->next ? json(EncodeCursor(*page->next)).dump() : "null";
  body += ",\"unreadable\":" + std::to_string(unreadable) + "}";
  return {200, "application/json", std::move(body), {}, {}};
}

ReadApiResponse OneEvent(const ReadApiOptions& options, const std::string& id) {
  auto found = FindStoredRecord(options.store, id);
  if (!found) return Problem(503, "the store cannot be read: " + found.error().message);
  if (!*found) return Problem(404, "no record with id '" + id + "'");
  json event = RecordJson(**found);
  if (!event.is_object()) return Problem(500, "the stored record '" + id + "' is not readable JSON");
  json integrity =
      event.contains("integrity") && event["integrity"].is_object() ? event["integrity"] : json::object();
  integrity["checkpoint"] = nullptr;
  if (integrity.contains("stream") && integrity["stream"].is_string() && integrity.contains("seq") &&
      integrity["seq"].is_number_unsigned()) {
    auto checkpoint =
        FindCheckpointAfter(options.store, integrity["stream"].get<std::string>(), integrity["seq"].get<uint64_t>());
    if (!checkpoint) return Problem(503, "the store cannot be read: " + checkpoint.error().message);
    if (*checkpoint) integrity["checkpoint"] = RecordJson(**checkpoint);
  }
  return JsonAnswer(200, {{"event", std::move(event)}, {"integrity", std::move(integrity)}});
}

json CountsJson(const OutcomeCounts& c) {
  return {{"success", c.success}, {"failure", c.failure}, {"denied", c.denied}, {"total", c.Total()}};
}

json RankJson(const std::vector<std::pair<std::string, uint64_t>>& ranked, const char* name) {
  json out = json::array();
  for (const auto& [value, count] : ranked) out.push_back({{name, value}, {"count", count}});
  return out;
}

ReadApiResponse Stats(const ReadApiOptions& options, const Query& query) {
  auto filter = FilterOf(query.parameters);
  if (!filter) return filter.error();
  Bucket bucket = Bucket::kHour;
  if (auto it = query.parameters.find("bucket"); it != query.parameters.end()) {
    auto parsed = ParseBucket(it->second);
    if (!parsed) return Problem(400, parsed.error().message, "bucket");
    bucket = *parsed;
  }
  if (!filter->text.empty() || !filter->resource.empty())
    return Problem(400, "stats cannot be narrowed by q or resource", filter->text.empty() ? "resource" : "q");
  // One answer holds every bucket of its range: no range may hold too many.
  const auto width = bucket == Bucket::kMinute ? std::chrono::minutes(1)
                     : bucket == Bucket::kHour ? std::chrono::minutes(60)
                                               : std::chrono::minutes(24 * 60);
  // Without since: the last day of minutes, the last 30 days of hours, every day.
  const auto until = filter->until.value_or(std::chrono::system_clock::now());
  if (!filter->since && bucket != Bucket::kDay)
    filter->since = until - (bucket == Bucket::kMinute ? std::chrono::hours(24) : std::chrono::hours(24 * 30));
  const auto since = filter->since.value_or(std::chrono::system_clock::time_point{});
  // In seconds: nanoseconds overflow past 292 years (a range an attacker may ask for).
  const auto span = std::chrono::floor<std::chrono::seconds>(until) - std::chrono::floor<std::chrono::seconds>(since);
  if (span.count() > 0 && span / width > kMaxBuckets)
    return Problem(400, "the range holds more than " + std::to_string(kMaxBuckets) + " buckets; narrow it", "bucket");
  auto stats = CountStoredRecords(options.store, *filter, bucket);
  if (!stats) return Problem(503, "the store cannot be read: " + stats.error().message);
  json buckets = json::array();
  for (const auto& [start, counts] : stats->buckets) {
    json b = CountsJson(counts);
    b["start"] = start;
    buckets.push_back(std::move(b));
  }
  return JsonAnswer(200, {{"buckets", std::move(buckets)},
                          {"top_tools", RankJson(stats->top_tools, "tool")},
                          {"top_users", RankJson(stats->top_users, "user")},
                          {"denials_by_reason", RankJson(stats->denials_by_reason, "reason")},
                          {"totals", CountsJson(stats->totals)}});
}

// The member `name` of `value` when it is an object that has it; else null.
json Member(const json& value, const char* name) {
  if (!value.is_object()) return nullptr;
  auto it = value.find(name);
  return it == value.end() ? json(nullptr) : *it;
}

// What a checkpoint record says of the chain it seals, in the API's words.
json CheckpointJson(const json& record) {
  if (!record.is_object()) return nullptr;
  const json details = Member(record, "details");
  const json covers = Member(details, "covers");
  return {{"id", Member(record, "id")},
          {"timestamp", Member(record, "timestamp")},
          {"covers_seq", Member(covers, "seq")},
          {"covers_hash", Member(covers, "hash")},
          {"key_id", Member(details, "key_id")},
          {"signed", !Member(details, "signature").is_null()}};
}

ReadApiResponse Integrity(const ReadApiOptions& options) {
  auto heads = StoredStreamHeads(options.store);
  if (!heads) return Problem(503, "the store cannot be read: " + heads.error().message);
  json streams = json::array();
  for (const StoredStreamHead& head : *heads) {
    const json record = RecordJson(head.head);
    const json chain = Member(record, "integrity");
    streams.push_back({{"stream", head.stream},
                       {"head", {{"seq", Member(chain, "seq")},
                                 {"hash", Member(chain, "hash")},
                                 {"timestamp", Member(record, "timestamp")}}},
                       {"checkpoint", head.checkpoint ? CheckpointJson(RecordJson(*head.checkpoint)) : json(nullptr)}});
  }
  json last = nullptr;
  if (options.verify != nullptr)
    if (auto finished = options.verify->LastFinished()) last = std::move(*finished);
  return JsonAnswer(200, {{"streams", std::move(streams)},
                          {"last_verify", std::move(last)},
                          {"verify_available", options.verify != nullptr}});
}

ReadApiResponse StartVerify(const ReadApiOptions& options, const ReadApiRequest& request) {
  if (options.verify == nullptr) return Problem(503, "this server has no journal to verify");
  const auto started = options.verify->Start(request.identity.user_id);
  return JsonAnswer(202, {{"job", started.id},
                          {"started", started.started},
                          {"status", std::string(kReadApiPrefix) + "integrity/verify/" + started.id}});
}

ReadApiResponse VerifyJob(const ReadApiOptions& options, const std::string& id) {
  auto job = options.verify ? options.verify->Find(id) : std::nullopt;
  if (!job) return Problem(404, "no verify job '" + id + "'");
  return JsonAnswer(200, *job);
}

constexpr size_t kMaxReportBytes = 32 << 20;
constexpr size_t kMaxReportRows = 2'000'000;  // records one report reads (its tallies grow with them)

// A stream that stops taking characters past a bound (the report then says it is too long).
class BoundedStringBuf final : public std::stringbuf {
 public:
  explicit BoundedStringBuf(size_t bound) : bound_(bound) {}
  bool overflowed() const { return overflowed_; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (written_ + static_cast<size_t>(n) > bound_) {
      overflowed_ = true;
      return 0;
    }
    written_ += static_cast<size_t>(n);
    return std::stringbuf::xsputn(s, n);
  }
  int_type overflow(int_type c) override {
    if (written_ + 1 > bound_) {
      overflowed_ = true;
      return traits_type::eof();
    }
    ++written_;
    return std::stringbuf::overflow(c);
  }

 private:
  size_t bound_, written_ = 0;
  bool overflowed_ = false;
};

ReadApiResponse ReportAnswer(const ReadApiOptions& options, const std::string& name, const Query& query) {
  auto kind = ParseReportKind(name);
  if (!kind) return Problem(404, "no such report: " + name + " (access-review, phi-access or failures)");
  ReportFormat format = ReportFormat::kJson;
  if (auto it = query.parameters.find("format"); it != query.parameters.end()) {
    auto parsed = ParseReportFormat(it->second);
    if (!parsed) return Problem(400, parsed.error().message, "format");
    format = *parsed;
  }
  auto filter = FilterOf(query.parameters);
  if (!filter) return filter.error();
  BoundedStringBuf buffer(kMaxReportBytes);
  std::ostream out(&buffer);
  Report report({*kind, filter->since, filter->until, filter->tenant, RedactUrl(options.store.url),
                 std::chrono::system_clock::now()},
                MakeReportWriter(format, out));
  auto read = SelectStoredRecords(
      options.store, {.filter = *filter, .newest_first = false, .after = std::nullopt, .max_rows = kMaxReportRows},
      [&](const AuditEvent& event, const std::string&) {
        report.Add(event);
        return !buffer.overflowed();
      },
      [](size_t, const std::string&) {});
  if (!read) return Problem(503, "the store cannot be read: " + read.error().message);
  if (!buffer.overflowed() && !read->next) report.Finish();
  if (buffer.overflowed())
    return Problem(400, "the report is longer than " + std::to_string(kMaxReportBytes >> 20) +
                            " MiB: narrow the period (or use mcp-audit report)", "since");
  if (read->next)  // the period holds more records than one answer reads
    return Problem(400, "the period holds more than " + std::to_string(kMaxReportRows) +
                            " records: narrow it (or use mcp-audit report)", "since");
  static const std::map<ReportFormat, std::pair<const char*, const char*>> kTypes = {
      {ReportFormat::kJson, {"application/json", "json"}},
      {ReportFormat::kCsv, {"text/csv; charset=utf-8", "csv"}},
      {ReportFormat::kHtml, {"text/html; charset=utf-8", "html"}}};
  const auto& [type, extension] = kTypes.at(format);
  ReadApiResponse answer{200, type, std::move(buffer).str(), {}, {}};
  answer.headers.emplace_back("Content-Disposition",
                              "attachment; filename=\"" + name + "." + extension + "\"");
  if (format == ReportFormat::kHtml)  // the report's own page: its styles, no script
    answer.headers.emplace_back("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  return answer;
}

constexpr size_t kExportPage = 1000;  // records per chunk of an export

// GET export: every selected record, oldest first, read a page at a time as
// the client takes them (its memory does not grow with the export).
ReadApiResponse Export(const ReadApiOptions& options, const Query& query) {
  auto filter = FilterOf(query.parameters);
  if (!filter) return filter.error();
  std::string format = "jsonl";
  if (auto it = query.parameters.find("format"); it != query.parameters.end()) format = it->second;
  if (format != "jsonl" && format != "csv") return Problem(400, "format must be jsonl or csv", "format");
  struct State {
    Selection selection;
    std::ostringstream out;
    std::unique_ptr<RecordPrinter> printer;  // csv; null: the records as stored
    bool done = false;
  };
  auto state = std::make_shared<State>();
  filter->limit = kExportPage;
  state->selection = {.filter = *filter, .newest_first = false, .after = std::nullopt, .max_rows = kMaxRowsRead};
  if (format == "csv") state->printer = MakeRecordPrinter(OutputFormat::kCsv, state->out);
  ReadApiResponse answer{200, format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson", "", {}, {}};
  answer.headers.emplace_back("Content-Disposition", "attachment; filename=\"audit-export." + format + "\"");
  answer.next_chunk = [store = options.store, state]() -> std::optional<std::string> {
    if (state->done) return std::nullopt;
    auto page = SelectStoredRecords(
        store, state->selection,
        [&](const AuditEvent& event, const std::string& line) {
          if (state->printer) {
            state->printer->Write(event);
          } else {
            state->out << line << '\n';
          }
          return state->out.tellp() < static_cast<std::streamoff>(kMaxPageBytes);  // a chunk ends past this
        },
        [](size_t, const std::string&) {});
    // Cut short rather than end as if complete: the client sees the transfer fail.
    if (!page) throw std::runtime_error("export: the store cannot be read: " + page.error().message);
    state->selection.after = page->next;
    if (!page->next) {
      state->done = true;
      if (state->printer) state->printer->End();
    }
    std::string chunk = std::move(state->out).str();
    state->out.str({});
    return chunk;
  };
  return answer;
}

// A record reaches the store after its time: a call's record bears its arrival
// and is written when the call ends. A tail reads again this far behind the
// newest record it sent, and sends what it has not sent yet.
constexpr auto kTailLookback = std::chrono::seconds(30);

// What a tail has sent within its lookback, and where its next read starts.
struct TailState {
  Selection selection;                               // its `after`: the start of the next read
  std::set<std::pair<std::string, std::string>> sent;  // (timestamp, id) within the lookback
  std::shared_ptr<std::atomic<size_t>> open;
  ~TailState() { open->fetch_sub(1); }

  // The records after selection.after not sent yet, as events; then the read moves to the lookback.
  Result<std::string> Poll(const SinkConfig& store) {
    std::string events;
    auto page = SelectStoredRecords(
        store, selection,
        [&](const AuditEvent& event, const std::string& line) {
          std::pair<std::string, std::string> at{FormatTimestamp(event.timestamp), event.id};
          if (!sent.insert(at).second) return true;
          events += "id: " + EncodeCursor({at.first, at.second}) + "\ndata: " + line + "\n\n";
          return events.size() < kMaxPageBytes;  // the rest in the next chunk
        },
        [](size_t, const std::string&) {});
    if (!page) return std::unexpected(page.error());
    // Too much at once (a page cut at max_rows): go on from there. Else read again from the lookback.
    std::string from = page->next ? page->next->timestamp : sent.empty() ? "" : sent.rbegin()->first;
    if (auto newest = ParseTimestamp(from)) from = FormatTimestamp(*newest - kTailLookback);
    if (page->next) {
      selection.after = page->next;
    } else if (!from.empty()) {
      selection.after = RecordPosition{from, ""};
    }
    sent.erase(sent.begin(), sent.lower_bound({from, ""}));
    return events;
  }

  // Starts after `upto`, with what the lookback before it holds taken as sent
  // (the client has it, or it was there before the tail opened).
  Status StartAfter(const SinkConfig& store, const RecordPosition& upto) {
    const std::pair<std::string, std::string> last{upto.timestamp, upto.id};
    auto at = ParseTimestamp(upto.timestamp);
    selection.after = RecordPosition{at ? FormatTimestamp(*at - kTailLookback) : upto.timestamp, ""};
    auto page = SelectStoredRecords(
        store, selection,
        [&](const AuditEvent& event, const std::string&) {
          std::pair<std::string, std::string> position{FormatTimestamp(event.timestamp), event.id};
          if (position > last) return false;
          sent.insert(std::move(position));
          return true;
        },
        [](size_t, const std::string&) {});
    selection.after = upto;
    if (!page) return std::unexpected(page.error());
    return {};
  }
};

// GET tail: the records that arrive from now on (or after `cursor`), as server-sent events.
ReadApiResponse Tail(const ReadApiOptions& options, const Query& query) {
  auto filter = FilterOf(query.parameters);
  if (!filter) return filter.error();
  if (options.open_tails->fetch_add(1) >= options.max_tails) {
    options.open_tails->fetch_sub(1);
    return Problem(503, "too many tails are open: " + std::to_string(options.max_tails) + " at most");
  }
  auto state = std::make_shared<TailState>();
  state->open = options.open_tails;
  filter->limit = 0;  // each read: every record of the lookback and after (at most max_rows rows)
  state->selection = {.filter = *filter, .newest_first = false, .after = std::nullopt, .max_rows = kMaxRowsRead};
  std::optional<RecordPosition> start;
  if (auto it = query.parameters.find("cursor"); it != query.parameters.end()) {
    auto position = DecodeCursor(it->second);
    if (!position) return Problem(400, "cursor: " + position.error().message, "cursor");
    start = *position;
  } else {
    // From now: after the newest record of the store, whatever the filter (a
    // filter that selects nothing yet must not start at the first record).
    Selection newest{.filter = {}, .newest_first = true, .after = std::nullopt, .max_rows = 0};
    newest.filter.limit = 1;
    auto page = SelectStoredRecords(
        options.store, newest,
        [&](const AuditEvent& event, const std::string&) {
          start = RecordPosition{FormatTimestamp(event.timestamp), event.id};
          return true;
        },
        [](size_t, const std::string&) {});
    if (!page) return Problem(503, "the store cannot be read: " + page.error().message);
  }
  if (start)
    if (Status started = state->StartAfter(options.store, *start); !started)
      return Problem(503, "the store cannot be read: " + started.error().message);
  ReadApiResponse answer{200, "text/event-stream", ": tail of the audit log\n\n", {}, {}};
  answer.next_chunk = [store = options.store, state]() -> std::optional<std::string> {
    auto events = state->Poll(store);
    // Cut short rather than go quiet: the client sees the stream end and may resume.
    if (!events) throw std::runtime_error("tail: the store cannot be read: " + events.error().message);
    return std::move(*events);
  };
  return answer;
}

// The tlog endpoints (store/tlog.h), for a stream of this server's journal.
ReadApiResponse TlogAnswer(const ReadApiOptions& options, const std::string& endpoint, const std::string& stream,
                           const Query& query) {
  if (options.journal_dir.empty()) return Problem(503, "this server has no journal: proofs come from the one that writes it");
  std::error_code ec;
  if (!std::filesystem::is_directory(merkle::TreeDirectory(options.journal_dir, stream), ec))
    return Problem(404, "no Merkle tree of stream '" + stream +
                            "' here: proofs of a stream come from the instance that writes it");
  const auto answer = [](const Result<json>& proof) {
    if (proof) return JsonAnswer(200, *proof);
    const unsigned status = proof.error().code == ErrorCode::kNotFound         ? 404
                            : proof.error().code == ErrorCode::kInvalidArgument ? 400
                                                                                : 503;
    return Problem(status, proof.error().message);
  };
  const auto parameter = [&](const char* name) {
    auto found = query.parameters.find(name);
    return found == query.parameters.end() ? std::string() : found->second;
  };
  if (endpoint == "tlog/{stream}/checkpoint") {
    auto checkpoint = tlog::LatestCheckpoint(options.journal_dir, stream);
    if (!checkpoint) return answer(Result<json>(std::unexpected(checkpoint.error())));
    return {200, "text/plain; charset=utf-8", checkpoint->note, {}, {}};
  }
  if (endpoint == "tlog/{stream}/consistency") {
    uint64_t old_size = 0;
    const std::string text = parameter("old_size");
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), old_size);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
      return Problem(400, "old_size is a number of records", "old_size");
    return answer(tlog::ProveConsistency(options.journal_dir, stream, old_size));
  }
  const std::string id = parameter("id"), format = parameter("format");
  if (id.empty()) return Problem(400, "id names the record to prove", "id");
  if (!format.empty() && format != "json" && format != "tlog-proof")
    return Problem(400, "format is json or tlog-proof", "format");
  // Found by its id on the store's index, proved on the journal's tree.
  auto line = FindStoredRecord(options.store, id);
  if (!line) return Problem(503, "the store cannot be read: " + line.error().message);
  if (!*line) return Problem(404, "no record with id '" + id + "'");
  if (StringMember(ObjectMember(RecordJson(**line), "integrity"), "stream") != stream)
    return Problem(404, "record '" + id + "' is not of stream '" + stream + "'");
  auto proof = tlog::ProveLine(options.journal_dir, **line);
  if (proof && format == "tlog-proof") return {200, "text/plain; charset=utf-8", tlog::TlogProofFile(*proof), {}, {}};
  return answer(proof);
}

}  // namespace

ReadApiResponse AnswerReadApi(const ReadApiOptions& options, const ReadApiRequest& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  path.remove_prefix(std::min(path.size(), std::string_view(kReadApiPrefix).size()));
  // The description of the API, for any caller the listener accepts: it holds no record.
  if (path == "openapi.json" && request.method == "GET") return {200, "application/json", kReadApiOpenApi, {}, {}};
  // The endpoint as the records name it; for one whose path ends in a name, that name.
  struct Named {
    std::string_view prefix;
    const char* endpoint;
    const char* parameter;
  };
  static constexpr Named kNamed[] = {{"events/", "events/{id}", "id"},
                                     {"integrity/verify/", "integrity/verify/{job}", "job"},
                                     {"reports/", "reports/{kind}", "kind"}};
  std::string endpoint(path.substr(0, 64));
  const Named* named = nullptr;
  for (const Named& n : kNamed)
    if (path.starts_with(n.prefix) && path.size() > n.prefix.size()) {
      named = &n;
      endpoint = n.endpoint;
    }
  // tlog/{stream}/<what>: the stream (URL-escaped) in the middle of the path.
  std::string_view tlog_stream;
  if (path.starts_with("tlog/")) {
    const std::string_view rest = path.substr(5);
    const size_t slash = rest.rfind('/');
    if (slash != std::string_view::npos && slash > 0) {
      tlog_stream = rest.substr(0, slash);
      endpoint = "tlog/{stream}/" + std::string(rest.substr(slash + 1, 32));
    }
  }
  static const std::map<std::string, std::vector<std::string>> kParameters = {
      {"events", With(kFilterNames, {"limit", "cursor", "order"})},
      {"events/{id}", {}},
      {"stats", With(kFilterNames, {"bucket"})},
      {"integrity", {}},
      {"integrity/verify", {}},
      {"integrity/verify/{job}", {}},
      {"reports/{kind}", {"since", "until", "tenant", "format"}},
      {"export", With(kFilterNames, {"format"})},
      {"tail", With(kFilterNames, {"cursor"})},
      {"tlog/{stream}/checkpoint", {}},
      {"tlog/{stream}/proof", {"id", "format"}},
      {"tlog/{stream}/consistency", {"old_size"}}};
  json filters = json::object();
  const auto answer = [&]() -> ReadApiResponse {
    const auto parameters = kParameters.find(endpoint);
    if (parameters == kParameters.end())
      return Problem(404, "no such endpoint: " + std::string(kReadApiPrefix) + endpoint);
    const char* method = endpoint == "integrity/verify" ? "POST" : "GET";
    if (request.method != method) return Problem(405, std::string("only ") + method + " is served here");
    const auto& roles = request.identity.roles;
    if (std::find(roles.begin(), roles.end(), options.auditor_role) == roles.end())
      return Problem(403, "forbidden: reading the audit log needs the '" + options.auditor_role + "' role");
    auto query = ParseTarget(request.target, parameters->second);
    if (!query) return query.error();
    filters = FiltersJson(query->parameters);
    std::string name;
    if (named != nullptr) {
      auto unescaped = UrlDecode(path.substr(named->prefix.size()));
      if (!unescaped || unescaped->size() > kMaxParameter || WellFormedUtf8(*unescaped) != *unescaped ||
          unescaped->find('\0') != std::string::npos)
        return Problem(400, "not a name: the last part of the path", "path");
      name = std::move(*unescaped);
      filters[named->parameter] = name;
    }
    if (!tlog_stream.empty()) {
      auto unescaped = UrlDecode(tlog_stream);
      if (!unescaped || unescaped->empty() || unescaped->size() > 64 ||
          !std::ranges::all_of(*unescaped, [](char c) { return c > ' ' && c < 0x7f; }))
        return Problem(400, "not a stream name: the part of the path after tlog/", "path");
      name = std::move(*unescaped);
      filters["stream"] = name;
      return TlogAnswer(options, endpoint, name, *query);
    }
    if (endpoint == "events") return Events(options, *query);
    if (endpoint == "events/{id}") return OneEvent(options, name);
    if (endpoint == "stats") return Stats(options, *query);
    if (endpoint == "integrity") return Integrity(options);
    if (endpoint == "integrity/verify") return StartVerify(options, request);
    if (endpoint == "integrity/verify/{job}") return VerifyJob(options, name);
    if (endpoint == "export") return Export(options, *query);
    if (endpoint == "tail") return Tail(options, *query);
    return ReportAnswer(options, name, *query);
  }();
  // Every request is recorded with its answer; a read that cannot be recorded is not answered.
  if (!RecordRead(options, request, endpoint, filters, answer))
    return Problem(503, "this read cannot be recorded in the audit log, so it is not answered");
  return answer;
}

}  // namespace mcpaudit
