#include "audit/record_writer.h"

#include "audit/canonical_json.h"
#include "audit/journal_format.h"
#include "base/crypto.h"

namespace mcpaudit {
namespace {

// Writes `"key":` after a comma unless it is the first member.
class Members {
 public:
  explicit Members(std::string& out) : out_(out) { out_.push_back('{'); }
  std::string& Key(std::string_view key) {
    AppendParts(out_, {first_ ? "\"" : ",\"", key, "\":"});
    first_ = false;
    return out_;
  }
  void Close() { out_.push_back('}'); }

 private:
  std::string& out_;
  bool first_ = true;
};

void Str(std::string& out, std::string_view s) { AppendJsonString(out, s); }

void StringList(std::string& out, const std::vector<std::string>& items) {
  out.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    Str(out, items[i]);
  }
  out.push_back(']');
}

bool HasUser(const AuditUser& u) {
  return !u.id.empty() || !u.email.empty() || !u.tenant_id.empty() || !u.roles.empty() || !u.auth_method.empty();
}
bool HasClient(const AuditClient& c) {
  return !c.name.empty() || !c.version.empty() || !c.capabilities.empty();
}
bool HasRequest(const AuditRequest& r) {
  return !r.id.empty() || !r.client_ip.empty() || !r.session_id.empty() || !r.transport.empty() ||
         !r.user_agent.empty() || HasClient(r.client) || !r.protocol_version.empty() ||
         !r.traceparent.empty() || !r.tracestate.empty() || !r.request_state_digest.empty() ||
         r.round > 0;
}
bool HasServer(const AuditServer& s) { return !s.name.empty() || !s.version.empty() || !s.instance.empty(); }
bool HasCompliance(const AuditCompliance& c) { return !c.sensitivity.empty() || c.phi || !c.access_reason.empty(); }

// Canonical writing with commitments for the erasable pointers.
class Canonical {
 public:
  Canonical(std::string& out, const nlohmann::json& salts) : out_(out), salts_(salts) {}

  // Writes a string field at `path`, or its commitment when it is erasable.
  void String(std::string_view path, std::string_view value) {
    if (Erase(path, [&](std::string& inner) { Str(inner, value); })) return;
    Str(out_, value);
  }
  void Json(std::string_view path, const nlohmann::json& value) {
    if (Erase(path, [&](std::string& inner) { AppendCanonical(inner, value, nlohmann::json::object()); })) return;
    AppendCanonicalAt(out_, value, salts_, path);
  }
  std::string& out() { return out_; }

 private:
  template <typename Write>
  bool Erase(std::string_view path, Write write) {
    if (salts_.empty()) return false;
    auto it = salts_.find(path);  // transparent lookup: no allocation
    if (it == salts_.end() || !it->is_string()) return false;
    std::string inner;
    write(inner);
    out_ += "{\"$erased\":\"";
    out_ += Sha256Hex({it->get_ref<const std::string&>(), inner});
    out_ += "\"}";
    return true;
  }
  std::string& out_;
  const nlohmann::json& salts_;
};

}  // namespace

void AppendRecordPrefix(std::string& out, const AuditEvent& e) {
  Members m(out);
  Str(m.Key("schema"), e.schema);
  Str(m.Key("id"), e.id);
  Str(m.Key("timestamp"), FormatTimestamp(e.timestamp));
  Str(m.Key("event_type"), e.event_type);
  if (!e.tool.empty()) Str(m.Key("tool"), e.tool);
  Str(m.Key("outcome"), ToString(e.outcome));
  if (e.error) {
    Members error(m.Key("error"));
    error.Key("code") += std::to_string(e.error->code);
    Str(error.Key("message"), e.error->message);
    if (!e.error->reason.empty()) Str(error.Key("reason"), e.error->reason);
    error.Close();
  }
  if (HasUser(e.user)) {
    Members user(m.Key("user"));
    if (!e.user.id.empty()) Str(user.Key("id"), e.user.id);
    if (!e.user.email.empty()) Str(user.Key("email"), e.user.email);
    if (!e.user.tenant_id.empty()) Str(user.Key("tenant_id"), e.user.tenant_id);
    if (!e.user.roles.empty()) StringList(user.Key("roles"), e.user.roles);
    if (!e.user.auth_method.empty()) Str(user.Key("auth_method"), e.user.auth_method);
    user.Close();
  }
  if (HasRequest(e.request)) {
    const AuditRequest& r = e.request;
    Members request(m.Key("request"));
    if (!r.id.empty()) Str(request.Key("id"), r.id);
    if (!r.client_ip.empty()) Str(request.Key("client_ip"), r.client_ip);
    if (!r.session_id.empty()) Str(request.Key("session_id"), r.session_id);
    if (!r.transport.empty()) Str(request.Key("transport"), r.transport);
    if (!r.user_agent.empty()) Str(request.Key("user_agent"), r.user_agent);
    if (HasClient(r.client)) {
      Members client(request.Key("client"));
      if (!r.client.name.empty()) Str(client.Key("name"), r.client.name);
      if (!r.client.version.empty()) Str(client.Key("version"), r.client.version);
      if (!r.client.capabilities.empty())
        StringList(client.Key("capabilities"), r.client.capabilities);
      client.Close();
    }
    if (!r.protocol_version.empty()) Str(request.Key("protocol_version"), r.protocol_version);
    if (!r.traceparent.empty()) Str(request.Key("traceparent"), r.traceparent);
    if (!r.tracestate.empty()) Str(request.Key("tracestate"), r.tracestate);
    if (!r.request_state_digest.empty())
      Str(request.Key("request_state_digest"), r.request_state_digest);
    if (r.round > 0) request.Key("round") += std::to_string(r.round);
    request.Close();
  }
  if (HasServer(e.server)) {
    Members server(m.Key("server"));
    if (!e.server.name.empty()) Str(server.Key("name"), e.server.name);
    if (!e.server.version.empty()) Str(server.Key("version"), e.server.version);
    if (!e.server.instance.empty()) Str(server.Key("instance"), e.server.instance);
    server.Close();
  }
  if (!e.params.is_null()) AppendCanonical(m.Key("params"), e.params, nlohmann::json::object());
  if (!e.resources.empty()) StringList(m.Key("resources"), e.resources);
  if (e.response) {
    Members response(m.Key("response"));
    if (e.response->result_count) response.Key("result_count") += std::to_string(*e.response->result_count);
    response.Key("duration_ms") += CanonicalNumber(e.response->duration_ms);
    response.Key("is_error") += e.response->is_error ? "true" : "false";
    response.Key("bytes") += std::to_string(e.response->bytes);
    response.Close();
  }
  if (HasCompliance(e.compliance)) {
    Members compliance(m.Key("compliance"));
    if (!e.compliance.sensitivity.empty()) Str(compliance.Key("sensitivity"), e.compliance.sensitivity);
    if (e.compliance.phi) compliance.Key("phi") += "true";
    if (!e.compliance.access_reason.empty()) Str(compliance.Key("access_reason"), e.compliance.access_reason);
    compliance.Close();
  }
  if (!e.details.is_null()) AppendCanonical(m.Key("details"), e.details, nlohmann::json::object());
  // No Close(): the caller appends integrity and the closing brace.
}

void AppendRecordCanonical(std::string& out, const AuditEvent& e, const nlohmann::json& salts) {
  // Members in RFC 8785 order (all keys are ASCII: byte order).
  Canonical c(out, salts);
  Members m(out);
  if (HasCompliance(e.compliance)) {
    Members compliance(m.Key("compliance"));
    if (!e.compliance.access_reason.empty()) {
      compliance.Key("access_reason");
      c.String("/compliance/access_reason", e.compliance.access_reason);
    }
    if (e.compliance.phi) compliance.Key("phi") += "true";
    if (!e.compliance.sensitivity.empty()) {
      compliance.Key("sensitivity");
      c.String("/compliance/sensitivity", e.compliance.sensitivity);
    }
    compliance.Close();
  }
  if (!e.details.is_null()) {
    m.Key("details");
    c.Json("/details", e.details);
  }
  if (e.error) {
    Members error(m.Key("error"));
    error.Key("code") += std::to_string(e.error->code);
    error.Key("message");
    c.String("/error/message", e.error->message);
    if (!e.error->reason.empty()) Str(error.Key("reason"), e.error->reason);
    error.Close();
  }
  Str(m.Key("event_type"), e.event_type);
  Str(m.Key("id"), e.id);
  Str(m.Key("outcome"), ToString(e.outcome));
  if (!e.params.is_null()) {
    m.Key("params");
    c.Json("/params", e.params);
  }
  if (HasRequest(e.request)) {
    const AuditRequest& r = e.request;
    Members request(m.Key("request"));
    if (HasClient(r.client)) {
      Members client(request.Key("client"));
      if (!r.client.capabilities.empty())
        StringList(client.Key("capabilities"), r.client.capabilities);
      if (!r.client.name.empty()) Str(client.Key("name"), r.client.name);
      if (!r.client.version.empty()) Str(client.Key("version"), r.client.version);
      client.Close();
    }
    if (!r.client_ip.empty()) {
      request.Key("client_ip");
      c.String("/request/client_ip", r.client_ip);
    }
    if (!r.id.empty()) Str(request.Key("id"), r.id);
    if (!r.protocol_version.empty()) Str(request.Key("protocol_version"), r.protocol_version);
    if (!r.request_state_digest.empty())
      Str(request.Key("request_state_digest"), r.request_state_digest);
    if (r.round > 0) request.Key("round") += std::to_string(r.round);
    if (!r.session_id.empty()) Str(request.Key("session_id"), r.session_id);
    if (!r.traceparent.empty()) Str(request.Key("traceparent"), r.traceparent);
    if (!r.tracestate.empty()) Str(request.Key("tracestate"), r.tracestate);
    if (!r.transport.empty()) Str(request.Key("transport"), r.transport);
    if (!r.user_agent.empty()) {
      request.Key("user_agent");
      c.String("/request/user_agent", r.user_agent);
    }
    request.Close();
  }
  if (!e.resources.empty()) StringList(m.Key("resources"), e.resources);
  if (e.response) {
    Members response(m.Key("response"));
    response.Key("bytes") += std::to_string(e.response->bytes);
    response.Key("duration_ms") += CanonicalNumber(e.response->duration_ms);
    response.Key("is_error") += e.response->is_error ? "true" : "false";
    if (e.response->result_count) response.Key("result_count") += std::to_string(*e.response->result_count);
    response.Close();
  }
  Str(m.Key("schema"), e.schema);
  if (HasServer(e.server)) {
    Members server(m.Key("server"));
    if (!e.server.instance.empty()) Str(server.Key("instance"), e.server.instance);
    if (!e.server.name.empty()) Str(server.Key("name"), e.server.name);
    if (!e.server.version.empty()) Str(server.Key("version"), e.server.version);
    server.Close();
  }
  Str(m.Key("timestamp"), FormatTimestamp(e.timestamp));
  if (!e.tool.empty()) Str(m.Key("tool"), e.tool);
  if (HasUser(e.user)) {
    Members user(m.Key("user"));
    if (!e.user.auth_method.empty()) Str(user.Key("auth_method"), e.user.auth_method);
    if (!e.user.email.empty()) {
      user.Key("email");
      c.String("/user/email", e.user.email);
    }
    if (!e.user.id.empty()) {
      user.Key("id");
      c.String("/user/id", e.user.id);
    }
    if (!e.user.roles.empty()) StringList(user.Key("roles"), e.user.roles);
    if (!e.user.tenant_id.empty()) Str(user.Key("tenant_id"), e.user.tenant_id);
    user.Close();
  }
  m.Close();
}

}  // namespace mcpaudit
