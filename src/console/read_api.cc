#include "console/read_api.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "audit/bounded_json.h"
#include "audit/canonical_json.h"
#include "mcpaudit/clock.h"
#include "store/record_store.h"
#include "store/store_query.h"

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
  return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
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

// application/x-www-form-urlencoded: %XX and '+'; nullopt when malformed.
std::optional<std::string> Unescape(std::string_view text) {
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
    auto name = Unescape(pair.substr(0, eq));
    auto value = Unescape(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
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
  AuditEvent e;
  e.timestamp = std::chrono::system_clock::now();
  e.id = NewUuidV7(e.timestamp, SecureRandom());
  e.event_type = "audit_read";
  e.tool = endpoint;
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
  e.user = {request.identity.user_id, request.identity.email, request.identity.tenant_id, request.identity.roles,
            request.identity.auth_method};
  e.request.client_ip = request.client_ip;
  e.request.transport = "http";
  e.server = options.server;
  e.details = {{"command", "api"}, {"endpoint", endpoint}, {"source", RedactUrl(options.store.url)},
               {"request", {{"filters", filters}}}, {"status", answer.status}};
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
  return {200, "application/json", std::move(body)};
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
    auto flavour = FlavourOf(options.store);
    const char* table = flavour && *flavour == SqlFlavour::kMysql ? "audit_log" : "audit_events";
    Status read = RunStoreQuery(
        options.store,
        {std::string("SELECT record FROM ") + table +
             " WHERE stream = ? AND seq > ? AND event_type = 'checkpoint' ORDER BY seq LIMIT 1",
         {integrity["stream"].get<std::string>(), std::to_string(integrity["seq"].get<uint64_t>())}},
        [&](std::span<const std::string_view> row) {
          integrity["checkpoint"] = RecordJson(std::string(row[0]));
          return false;
        });
    if (!read) return Problem(503, "the store cannot be read: " + read.error().message);
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
  if (until > since && (until - since) / width > kMaxBuckets)
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

}  // namespace

ReadApiResponse AnswerReadApi(const ReadApiOptions& options, const ReadApiRequest& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  path.remove_prefix(std::min(path.size(), std::string_view(kReadApiPrefix).size()));
  // The description of the API, for any caller the listener accepts: it holds no record.
  if (path == "openapi.json" && request.method == "GET") return {200, "application/json", kReadApiOpenApi};
  const std::string endpoint = path.starts_with("events/") ? "events/{id}" : std::string(path.substr(0, 64));
  json filters = json::object();
  const auto answer = [&]() -> ReadApiResponse {
    if (endpoint != "events" && endpoint != "events/{id}" && endpoint != "stats")
      return Problem(404, "no such endpoint: " + std::string(kReadApiPrefix) + endpoint);
    if (request.method != "GET") return Problem(405, "only GET is served here");
    const auto& roles = request.identity.roles;
    if (std::find(roles.begin(), roles.end(), options.auditor_role) == roles.end())
      return Problem(403, "forbidden: reading the audit log needs the '" + options.auditor_role + "' role");
    auto query = ParseTarget(request.target, endpoint == "events"  ? With(kFilterNames, {"limit", "cursor", "order"})
                                             : endpoint == "stats" ? With(kFilterNames, {"bucket"})
                                                                   : std::vector<std::string>{});
    if (!query) return query.error();
    filters = FiltersJson(query->parameters);
    if (endpoint == "events") return Events(options, *query);
    if (endpoint == "stats") return Stats(options, *query);
    auto id = Unescape(path.substr(std::string_view("events/").size()));
    if (!id || id->empty() || id->size() > kMaxParameter || WellFormedUtf8(*id) != *id)
      return Problem(400, "not a record id", "id");
    filters["id"] = *id;
    return OneEvent(options, *id);
  }();
  // Every request is recorded with its answer; a read that cannot be recorded is not answered.
  if (!RecordRead(options, request, endpoint, filters, answer))
    return Problem(503, "this read cannot be recorded in the audit log, so it is not answered");
  return answer;
}

}  // namespace mcpaudit
