// What a hostile browser or program sends the auditor's console: a read API
// target (path and query: every parameter, cursor, id and report name), a
// sign-in form body and a Cookie header, answered from a small SQLite store.
// The first byte picks the request; the rest is its text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "console/read_api.h"
#include "console/web_console.h"
#include "fuzz_support.h"
#include "mcpaudit/clock.h"

namespace {

using namespace mcpaudit;

class StaticKey final : public Authenticator {
 public:
  std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const override {
    if (credentials.api_key == "mcpa_auditor") return Identity{"ann", "", "acme", {"auditor"}, "api_key"};
    return std::unexpected(AuthFailure{"invalid_token", "unknown API key"});
  }
};

// A store of a few records of every kind, made once.
const ReadApiOptions& Options() {
  static fuzz::SerialisingLogger logger;
  static const ReadApiOptions options = [] {
    ReadApiOptions o;
    o.store.url = "sqlite://" + (fuzz::ScratchDir() / "audit.db").string();
    o.logger = &logger;
    auto sink = OpenSink(o.store);
    if (!sink) std::abort();
    std::vector<SinkRecord> batch;
    const auto start = std::chrono::system_clock::now() - std::chrono::hours(30);
    for (uint64_t seq = 1; seq <= 60; ++seq) {
      AuditEvent e;
      e.timestamp = start + std::chrono::minutes(30 * seq);
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.event_type = seq % 10 == 0 ? "checkpoint" : "tool_call";
      e.tool = seq % 3 ? "catalog_search" : "catalog_get_schema";
      e.outcome = seq % 4 ? Outcome::kSuccess : Outcome::kDenied;
      e.user.id = seq % 2 ? "carol" : "dave";
      e.resources = {"urn:li:dataset:" + std::to_string(seq % 5)};
      e.integrity = AuditIntegrity{"fuzz", seq, std::string(64, '0'), std::string(64, 'a')};
      batch.push_back({ToJsonLine(e), e});
    }
    if (!(*sink)->Store(batch)) std::abort();
    return o;
  }();
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static WebConsole console({.authenticator = std::make_shared<StaticKey>()}, Options());
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  ReadApiRequest request;
  request.identity = {"ann", "", "acme", {"auditor"}, "api_key"};
  request.client_ip = "127.0.0.1";
  switch (data[0] % 4) {
    case 0:  // a read API target
      request.method = "GET";
      request.target = std::string(kReadApiPrefix) + text;
      (void)AnswerReadApi(Options(), request);
      break;
    case 1: {  // a streamed answer, read to its end or a few chunks
      request.method = "GET";
      request.target = std::string(kReadApiPrefix) + (data[0] & 4 ? "tail?" : "export?") + text;
      auto answer = AnswerReadApi(Options(), request);
      for (int i = 0; answer.next_chunk && i < 4; ++i)
        if (!answer.next_chunk()) break;
      break;
    }
    case 2:  // a sign-in form
      request.method = "POST";
      request.target = "/console/login";
      request.body = text;
      (void)console.Answer(request);
      break;
    default:  // a Cookie header, and a page
      request.cookie = text;
      (void)console.SessionCaller(text);
      request.method = "GET";
      request.target = "/console/" + text.substr(0, 64);
      (void)console.Answer(request);
      break;
  }
  return 0;
}
