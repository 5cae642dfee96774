// AuditEventFromLine: a journal line to its record without a JSON tree for the
// fixed members. simdjson validates the whole line (syntax, UTF-8, depth) at
// a few GB/s and the members are read from its document; only `params` and
// `details` (free-form) become nlohmann values. A line this reader does not
// expect in every detail (a member of another type, a key written twice, a
// number no double holds, nesting near the limit) is read by the general
// path, ParseWithin + AuditEventFromJson, so both give the same record or the
// same error for every line.
#include <simdjson.h>

#include <limits>
#include <optional>

#include "base/bounded_json.h"
#include "mcpaudit/audit_event.h"

namespace mcpaudit {
namespace {

namespace dom = simdjson::dom;
using nlohmann::json;

// Deeper than the general reader builds: such a line goes to it.
constexpr size_t kFastDepth = kMaxRecordDepth - 2;
// Longer lines are read by a parser made for them, not the thread's.
constexpr size_t kThreadParserBytes = 64 * 1024;

// A free-form value as nlohmann's parser would build it: non-negative
// integers are unsigned, a key written twice keeps its last value.
json ToNlohmann(dom::element value) {
  switch (value.type()) {
    case dom::element_type::OBJECT: {
      json out = json::object();
      for (dom::key_value_pair member : dom::object(value))
        out[std::string(member.key)] = ToNlohmann(member.value);
      return out;
    }
    case dom::element_type::ARRAY: {
      json out = json::array();
      for (dom::element item : dom::array(value)) out.push_back(ToNlohmann(item));
      return out;
    }
    case dom::element_type::INT64: {
      const int64_t number = int64_t(value);
      return number >= 0 ? json(static_cast<uint64_t>(number)) : json(number);
    }
    case dom::element_type::UINT64:
      return json(uint64_t(value));
    case dom::element_type::DOUBLE:
      return json(double(value));
    case dom::element_type::STRING:
      return json(std::string(std::string_view(value)));
    case dom::element_type::BOOL:
      return json(bool(value));
    case dom::element_type::NULL_VALUE:
      return json(nullptr);
  }
  return json(nullptr);
}

// Reads the members of one object by name; false as soon as something is not
// as the journal writes it (the caller then leaves the line to the general path).
class Members {
 public:
  explicit Members(dom::element value) : ok_(value.is_object()) {
    if (ok_) object_ = dom::object(value);
  }
  bool ok() const { return ok_; }

  // Calls `read(name, value)` for each member; a name seen twice among those
  // `read` takes is a fault (the general reader keeps the last one).
  template <typename Read>
  bool Each(Read&& read) {
    uint64_t seen = 0;
    for (dom::key_value_pair member : object_) {
      const int slot = read(member.key, member.value);
      if (slot < 0) return false;
      if (slot == 0) continue;  // not one of ours
      const uint64_t bit = uint64_t{1} << slot;
      if (seen & bit) return false;
      seen |= bit;
    }
    return true;
  }

 private:
  dom::object object_;
  bool ok_;
};

bool ReadString(dom::element value, std::string& out) {
  if (!value.is_string()) return false;
  out = std::string_view(value);
  return true;
}

bool ReadUnsigned(dom::element value, uint64_t& out) {
  if (value.type() == dom::element_type::UINT64) {
    out = uint64_t(value);
    return true;
  }
  if (value.type() != dom::element_type::INT64 || int64_t(value) < 0) return false;
  out = static_cast<uint64_t>(int64_t(value));
  return true;
}

bool ReadBool(dom::element value, bool& out) {
  if (!value.is_bool()) return false;
  out = bool(value);
  return true;
}

bool ReadStrings(dom::element value, std::vector<std::string>& out) {
  if (!value.is_array()) return false;
  for (dom::element item : dom::array(value)) {
    if (!item.is_string()) return false;
    out.emplace_back(std::string_view(item));
  }
  return true;
}

// Slot numbers for the duplicate check: 1.. per object, 0 for a member ignored, -1 for a fault.
constexpr int Slot(bool read, int slot) { return read ? slot : -1; }

bool ReadError(dom::element value, AuditError& error) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "code") {
      if (v.type() != dom::element_type::INT64 && v.type() != dom::element_type::UINT64) return -1;
      const bool fits = v.type() == dom::element_type::INT64
                            ? int64_t(v) >= std::numeric_limits<int>::min() &&
                                  int64_t(v) <= std::numeric_limits<int>::max()
                            : uint64_t(v) <= uint64_t{std::numeric_limits<int>::max()};
      if (!fits) return -1;
      error.code = v.type() == dom::element_type::INT64 ? static_cast<int>(int64_t(v))
                                                        : static_cast<int>(uint64_t(v));
      return 1;
    }
    if (key == "message") return Slot(ReadString(v, error.message), 2);
    if (key == "reason") return Slot(ReadString(v, error.reason), 3);
    return 0;
  });
}

bool ReadUser(dom::element value, AuditUser& user) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "id") return Slot(ReadString(v, user.id), 1);
    if (key == "email") return Slot(ReadString(v, user.email), 2);
    if (key == "tenant_id") return Slot(ReadString(v, user.tenant_id), 3);
    if (key == "roles") return Slot(ReadStrings(v, user.roles), 4);
    if (key == "auth_method") return Slot(ReadString(v, user.auth_method), 5);
    return 0;
  });
}

bool ReadClient(dom::element value, AuditClient& client) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "name") return Slot(ReadString(v, client.name), 1);
    if (key == "version") return Slot(ReadString(v, client.version), 2);
    if (key == "capabilities") return Slot(ReadStrings(v, client.capabilities), 3);
    return 0;
  });
}

bool ReadRequest(dom::element value, AuditRequest& request) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "id") return Slot(ReadString(v, request.id), 1);
    if (key == "client_ip") return Slot(ReadString(v, request.client_ip), 2);
    if (key == "session_id") return Slot(ReadString(v, request.session_id), 3);
    if (key == "transport") return Slot(ReadString(v, request.transport), 4);
    if (key == "user_agent") return Slot(ReadString(v, request.user_agent), 5);
    if (key == "client") return Slot(ReadClient(v, request.client), 6);
    if (key == "protocol_version") return Slot(ReadString(v, request.protocol_version), 7);
    if (key == "traceparent") return Slot(ReadString(v, request.traceparent), 8);
    if (key == "tracestate") return Slot(ReadString(v, request.tracestate), 9);
    if (key == "request_state_digest") return Slot(ReadString(v, request.request_state_digest), 10);
    if (key == "round") {
      uint64_t rounds = 0;
      if (!ReadUnsigned(v, rounds) || rounds > UINT32_MAX) return -1;
      request.round = static_cast<uint32_t>(rounds);
      return 11;
    }
    return 0;
  });
}

bool ReadServer(dom::element value, AuditServer& server) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "name") return Slot(ReadString(v, server.name), 1);
    if (key == "version") return Slot(ReadString(v, server.version), 2);
    if (key == "instance") return Slot(ReadString(v, server.instance), 3);
    return 0;
  });
}

bool ReadResponse(dom::element value, AuditResponse& response) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "result_count") {
      if (v.type() != dom::element_type::INT64) return -1;
      response.result_count = int64_t(v);
      return 1;
    }
    if (key == "duration_ms") {
      switch (v.type()) {
        case dom::element_type::DOUBLE:
          response.duration_ms = double(v);
          break;
        case dom::element_type::INT64:
          response.duration_ms = static_cast<double>(int64_t(v));
          break;
        case dom::element_type::UINT64:
          response.duration_ms = static_cast<double>(uint64_t(v));
          break;
        default:
          return -1;
      }
      return 2;
    }
    if (key == "is_error") return Slot(ReadBool(v, response.is_error), 3);
    if (key == "bytes") return Slot(ReadUnsigned(v, response.bytes), 4);
    return 0;
  });
}

bool ReadCompliance(dom::element value, AuditCompliance& compliance) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "sensitivity") return Slot(ReadString(v, compliance.sensitivity), 1);
    if (key == "phi") return Slot(ReadBool(v, compliance.phi), 2);
    if (key == "access_reason") return Slot(ReadString(v, compliance.access_reason), 3);
    return 0;
  });
}

bool ReadIntegrity(dom::element value, AuditIntegrity& integrity) {
  Members members(value);
  return members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "stream") return Slot(ReadString(v, integrity.stream), 1);
    if (key == "seq") return Slot(ReadUnsigned(v, integrity.seq), 2);
    if (key == "prev") return Slot(ReadString(v, integrity.prev), 3);
    if (key == "hash") return Slot(ReadString(v, integrity.hash), 4);
    return 0;
  });
}

// The record, when the line is one as the journal writes it; nullopt otherwise.
std::optional<AuditEvent> ReadExpected(dom::element root) {
  AuditEvent event;
  event.event_type.clear();  // the general reader leaves an absent event_type empty
  bool schema = false, timestamp = false, outcome = false;
  Members members(root);
  const bool read = members.ok() && members.Each([&](std::string_view key, dom::element v) {
    if (key == "schema") {
      schema = v.is_string() && std::string_view(v) == kAuditSchema;
      return Slot(schema, 1);
    }
    if (key == "id") return Slot(ReadString(v, event.id), 2);
    if (key == "timestamp") {
      if (!v.is_string()) return -1;
      auto time = ParseTimestamp(std::string_view(v));
      if (!time) return -1;
      event.timestamp = *time;
      timestamp = true;
      return 3;
    }
    if (key == "event_type") return Slot(ReadString(v, event.event_type), 4);
    if (key == "tool") return Slot(ReadString(v, event.tool), 5);
    if (key == "outcome") {
      if (!v.is_string()) return -1;
      auto parsed = ParseOutcome(std::string_view(v));
      if (!parsed) return -1;
      event.outcome = *parsed;
      outcome = true;
      return 6;
    }
    if (key == "error") return Slot(ReadError(v, event.error.emplace()), 7);
    if (key == "user") return Slot(ReadUser(v, event.user), 8);
    if (key == "request") return Slot(ReadRequest(v, event.request), 9);
    if (key == "server") return Slot(ReadServer(v, event.server), 10);
    if (key == "params") {
      event.params = ToNlohmann(v);
      return 11;
    }
    if (key == "resources") return Slot(ReadStrings(v, event.resources), 12);
    if (key == "response") return Slot(ReadResponse(v, event.response.emplace()), 13);
    if (key == "compliance") return Slot(ReadCompliance(v, event.compliance), 14);
    if (key == "details") {
      event.details = ToNlohmann(v);
      return 15;
    }
    if (key == "integrity") return Slot(ReadIntegrity(v, event.integrity.emplace()), 16);
    return 0;
  });
  if (!read || !schema || !timestamp || !outcome) return std::nullopt;
  return event;
}

std::optional<AuditEvent> ReadWith(dom::parser& parser, std::string_view line) {
  dom::element root;
  if (parser.parse(line.data(), line.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  return ReadExpected(root);
}

}  // namespace

Result<AuditEvent> AuditEventFromLine(std::string_view line) {
  std::optional<AuditEvent> event;
  if (line.size() > kThreadParserBytes) {
    // A parser of its own, whose memory goes back with it.
    dom::parser parser;
    if (parser.allocate(line.size(), kFastDepth) == simdjson::SUCCESS)
      event = ReadWith(parser, line);
  } else {
    // One parser per thread, reused line after line: its buffers grow to the
    // longest line it read (about 15 times its size), at most ~1 MiB a thread.
    thread_local dom::parser parser;
    thread_local const bool ready = parser.allocate(4096, kFastDepth) == simdjson::SUCCESS;
    if (ready) event = ReadWith(parser, line);
  }
  if (event) return std::move(*event);
  const json parsed = ParseWithin(line, kMaxRecordDepth);
  if (parsed.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "not valid JSON");
  return AuditEventFromJson(parsed);
}

}  // namespace mcpaudit
