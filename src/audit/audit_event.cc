#include "mcpaudit/audit_event.h"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "audit/record_writer.h"
#include "base/bounded_json.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

void PutIfNotEmpty(ojson& object, const char* key, const std::string& value) {
  if (!value.empty()) object[key] = value;
}

std::string GetString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

ojson UserToJson(const AuditUser& user) {
  ojson out = ojson::object();
  PutIfNotEmpty(out, "id", user.id);
  PutIfNotEmpty(out, "email", user.email);
  PutIfNotEmpty(out, "tenant_id", user.tenant_id);
  if (!user.roles.empty()) out["roles"] = user.roles;
  PutIfNotEmpty(out, "auth_method", user.auth_method);
  return out;
}

ojson RequestToJson(const AuditRequest& request) {
  ojson out = ojson::object();
  PutIfNotEmpty(out, "id", request.id);
  PutIfNotEmpty(out, "client_ip", request.client_ip);
  PutIfNotEmpty(out, "session_id", request.session_id);
  PutIfNotEmpty(out, "transport", request.transport);
  PutIfNotEmpty(out, "user_agent", request.user_agent);
  ojson client = ojson::object();
  PutIfNotEmpty(client, "name", request.client.name);
  PutIfNotEmpty(client, "version", request.client.version);
  if (!request.client.capabilities.empty()) client["capabilities"] = request.client.capabilities;
  if (!client.empty()) out["client"] = std::move(client);
  PutIfNotEmpty(out, "protocol_version", request.protocol_version);
  PutIfNotEmpty(out, "traceparent", request.traceparent);
  PutIfNotEmpty(out, "tracestate", request.tracestate);
  PutIfNotEmpty(out, "request_state_digest", request.request_state_digest);
  if (request.round > 0) out["round"] = request.round;
  return out;
}

}  // namespace

std::string_view ToString(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kFailure:
      return "failure";
    case Outcome::kDenied:
      return "denied";
  }
  return "failure";
}

Result<Outcome> ParseOutcome(std::string_view text) {
  if (text == "success") return Outcome::kSuccess;
  if (text == "failure") return Outcome::kFailure;
  if (text == "denied") return Outcome::kDenied;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown outcome '" + std::string(text) + "' (expected success, failure or denied)");
}

std::string FormatTimestamp(std::chrono::system_clock::time_point time) {
  // On the path of every record: civil date arithmetic, no locale, no printf.
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day date(day);
  const hh_mm_ss clock(ms - day);
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&](size_t at, unsigned value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10)
      out[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, static_cast<unsigned>(static_cast<int>(date.year())), 4);
  put(5, static_cast<unsigned>(date.month()), 2);
  put(8, static_cast<unsigned>(date.day()), 2);
  put(11, static_cast<unsigned>(clock.hours().count()), 2);
  put(14, static_cast<unsigned>(clock.minutes().count()), 2);
  put(17, static_cast<unsigned>(clock.seconds().count()), 2);
  put(20, static_cast<unsigned>(clock.subseconds().count()), 3);
  return out;
}

namespace {

// The form FormatTimestamp writes ("2024-01-15T10:30:00.123Z", a real date and
// time of day), read without sscanf: verify reads one per record. nullopt for
// anything else.
std::optional<std::chrono::system_clock::time_point> ParseWrittenTimestamp(std::string_view s) {
  using namespace std::chrono;
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != kShape.size()) return std::nullopt;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool digit = s[i] >= '0' && s[i] <= '9';
    if (kShape[i] == 'd' ? !digit : s[i] != kShape[i]) return std::nullopt;
  }
  auto number = [&](size_t at, size_t digits) {
    int value = 0;
    for (size_t i = at; i < at + digits; ++i) value = value * 10 + (s[i] - '0');
    return value;
  };
  const year_month_day date{year(number(0, 4)), month(static_cast<unsigned>(number(5, 2))),
                            day(static_cast<unsigned>(number(8, 2)))};
  const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  const sys_seconds time = sys_days(date) + hours(hour) + minutes(minute) + seconds(second);
  // What ParseTimestamp holds (its limit below) and the rest it leaves to the general path.
  if (std::chrono::abs(time.time_since_epoch()) > seconds(9'000'000'000)) return std::nullopt;
  return time + milliseconds(number(20, 3));
}

}  // namespace

Result<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view text) {
  if (auto written = ParseWrittenTimestamp(text)) return *written;
  // Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" and "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC).
  std::tm tm{};
  int millis = 0;
  const std::string s(text);
  int consumed = 0;
  auto bad = [&] {
    return Fail(
        ErrorCode::kInvalidArgument,
        "invalid time '" + s + "' (expected RFC 3339 UTC, e.g. 2024-01-15T10:30:00Z, or a date)");
  };
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) != 3)
    return bad();
  if (static_cast<size_t>(consumed) != s.size()) {
    int more = 0;
    if (std::sscanf(s.c_str() + consumed, "T%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                    &more) != 3)
      return bad();
    consumed += more;
    if (s[consumed] == '.') {
      int digits = 0;
      ++consumed;
      while (consumed < static_cast<int>(s.size()) &&
             std::isdigit(static_cast<unsigned char>(s[consumed]))) {
        if (digits < 3) millis = millis * 10 + (s[consumed] - '0');
        ++digits, ++consumed;
      }
      if (digits == 0) return bad();
      for (; digits < 3; ++digits) millis *= 10;
    }
    if (s.substr(consumed) != "Z") return bad();
  }
  // Years 1-9999, as RFC 3339 writes them (and below, what a time_point holds).
  if (tm.tm_year < 1 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
      tm.tm_sec < 0 || tm.tm_sec > 60)
    return bad();
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t t = timegm(&tm);
  // A system_clock time_point counts nanoseconds in 64 bits: years 1678 to 2261.
  constexpr std::time_t kLimit = 9'000'000'000;
  if (t < -kLimit || t > kLimit) return bad();
  return std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(millis);
}

ojson ToJson(const AuditEvent& event) {
  ojson out = ojson::object();
  out["schema"] = event.schema;
  out["id"] = event.id;
  out["timestamp"] = FormatTimestamp(event.timestamp);
  out["event_type"] = event.event_type;
  PutIfNotEmpty(out, "tool", event.tool);
  out["outcome"] = ToString(event.outcome);
  if (event.error) {
    ojson error = {{"code", event.error->code}, {"message", event.error->message}};
    PutIfNotEmpty(error, "reason", event.error->reason);
    out["error"] = std::move(error);
  }
  if (ojson user = UserToJson(event.user); !user.empty()) out["user"] = std::move(user);
  if (ojson request = RequestToJson(event.request); !request.empty())
    out["request"] = std::move(request);
  ojson server = ojson::object();
  PutIfNotEmpty(server, "name", event.server.name);
  PutIfNotEmpty(server, "version", event.server.version);
  PutIfNotEmpty(server, "instance", event.server.instance);
  if (!server.empty()) out["server"] = std::move(server);
  if (!event.params.is_null()) out["params"] = ojson(event.params);
  if (!event.resources.empty()) out["resources"] = event.resources;
  if (event.response) {
    ojson response = ojson::object();
    if (event.response->result_count) response["result_count"] = *event.response->result_count;
    response["duration_ms"] = event.response->duration_ms;
    response["is_error"] = event.response->is_error;
    response["bytes"] = event.response->bytes;
    out["response"] = std::move(response);
  }
  if (ojson compliance = ToJson(event.compliance); !compliance.empty())
    out["compliance"] = std::move(compliance);
  if (!event.details.is_null()) out["details"] = ojson(event.details);
  if (event.integrity) out["integrity"] = ToJson(*event.integrity);
  return out;
}

ojson ToJson(const AuditCompliance& compliance) {
  ojson out = ojson::object();
  PutIfNotEmpty(out, "sensitivity", compliance.sensitivity);
  if (compliance.phi) out["phi"] = true;
  PutIfNotEmpty(out, "access_reason", compliance.access_reason);
  return out;
}

ojson ToJson(const AuditIntegrity& integrity) {
  return {{"stream", integrity.stream},
          {"seq", integrity.seq},
          {"prev", integrity.prev},
          {"hash", integrity.hash}};
}

std::string ToJsonLine(const AuditEvent& event) {
  std::string line;
  line.reserve(512);
  AppendRecordPrefix(line, event);
  if (event.integrity) {
    line += ",\"integrity\":";
    line += ToJson(*event.integrity).dump();
  }
  line.push_back('}');
  return line;
}

namespace {

// Throws nlohmann's type_error on a member of the wrong type.
Result<AuditEvent> ReadEvent(const json& in) {
  AuditEvent event;
  event.schema = GetString(in, "schema");
  if (event.schema != kAuditSchema)
    return Fail(ErrorCode::kInvalidArgument, "unknown schema '" + event.schema + "'");
  event.id = GetString(in, "id");
  auto time = ParseTimestamp(GetString(in, "timestamp"));
  if (!time) return std::unexpected(time.error());
  event.timestamp = *time;
  event.event_type = GetString(in, "event_type");
  event.tool = GetString(in, "tool");
  auto outcome = ParseOutcome(GetString(in, "outcome"));
  if (!outcome) return std::unexpected(outcome.error());
  event.outcome = *outcome;
  if (auto it = in.find("error"); it != in.end() && it->is_object()) {
    event.error =
        AuditError{it->value("code", 0), GetString(*it, "message"), GetString(*it, "reason")};
  }
  if (auto it = in.find("user"); it != in.end() && it->is_object()) {
    event.user = {GetString(*it, "id"), GetString(*it, "email"), GetString(*it, "tenant_id"),
                  it->value("roles", std::vector<std::string>{}), GetString(*it, "auth_method")};
  }
  if (auto it = in.find("request"); it != in.end() && it->is_object()) {
    AuditRequest& request = event.request;
    request.id = GetString(*it, "id");
    request.client_ip = GetString(*it, "client_ip");
    request.session_id = GetString(*it, "session_id");
    request.transport = GetString(*it, "transport");
    request.user_agent = GetString(*it, "user_agent");
    if (auto c = it->find("client"); c != it->end() && c->is_object()) {
      request.client = {GetString(*c, "name"), GetString(*c, "version"),
                        c->value("capabilities", std::vector<std::string>{})};
    }
    request.protocol_version = GetString(*it, "protocol_version");
    request.traceparent = GetString(*it, "traceparent");
    request.tracestate = GetString(*it, "tracestate");
    request.request_state_digest = GetString(*it, "request_state_digest");
    if (auto rounds = it->find("round"); rounds != it->end() && rounds->is_number_unsigned() &&
                                         rounds->get<uint64_t>() <= UINT32_MAX)
      request.round = rounds->get<uint32_t>();
  }
  if (auto it = in.find("server"); it != in.end() && it->is_object())
    event.server = {GetString(*it, "name"), GetString(*it, "version"), GetString(*it, "instance")};
  if (auto it = in.find("params"); it != in.end()) event.params = *it;
  if (auto it = in.find("resources"); it != in.end() && it->is_array()) {
    for (const auto& r : *it)
      if (r.is_string()) event.resources.push_back(r.get<std::string>());
  }
  if (auto it = in.find("response"); it != in.end() && it->is_object()) {
    AuditResponse response;
    if (auto c = it->find("result_count"); c != it->end() && c->is_number_integer())
      response.result_count = c->get<int64_t>();
    response.duration_ms = it->value("duration_ms", 0.0);
    response.is_error = it->value("is_error", false);
    response.bytes = it->value("bytes", uint64_t{0});
    event.response = response;
  }
  if (auto it = in.find("compliance"); it != in.end() && it->is_object()) {
    event.compliance = {GetString(*it, "sensitivity"), it->value("phi", false),
                        GetString(*it, "access_reason")};
  }
  if (auto it = in.find("details"); it != in.end()) event.details = *it;
  if (auto it = in.find("integrity"); it != in.end() && it->is_object()) {
    event.integrity = AuditIntegrity{GetString(*it, "stream"), UnsignedMember(*it, "seq"),
                                     GetString(*it, "prev"), GetString(*it, "hash")};
  }
  return event;
}

}  // namespace

Result<AuditEvent> AuditEventFromJson(const json& in) {
  if (!in.is_object())
    return Fail(ErrorCode::kInvalidArgument, "an audit event must be a JSON object");
  // A record comes from a file that anyone with access to it may have edited:
  // a member of the wrong type makes it unreadable, never a crash.
  try {
    return ReadEvent(in);
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("not an audit record: a member has the wrong type (") + e.what() + ")");
  }
}

}  // namespace mcpaudit
