// The HTTP sinks (Splunk HEC, Datadog, Elasticsearch, OTLP/HTTP, webhook),
// fed from a real journal by the Shipper, against a local receiver that speaks
// HTTP and answers as each test says (tests/support/http_receiver.h: it stands
// in for the vendors' services, which cannot run here).
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <set>
#include <thread>

#include "mcpaudit/shipper.h"
#include "base/crypto.h"
#include "mcpaudit/sink.h"
#include "support/free_port.h"
#include "support/http_receiver.h"
#include "support/shell.h"
#include "support/shipping.h"
#include "support/temp_dir.h"
#include "support/tls_proxy.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::FastShipping;
using testing::HttpReceiver;
using testing::JournalLines;
using testing::LogCall;
using testing::OpenJournal;
using testing::ReceivedRequest;
using testing::ReceiverReply;

constexpr const char* kSecret = "s3cr3t-token-0042";

class HttpSinkAgainstStandInReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv("MCPAUDIT_TEST_SINK_SECRET", kSecret, 1); }

  SinkConfig Config(const std::string& type) {
    SinkConfig config;
    config.name = type;
    config.type = type;
    config.url = receiver_.url();
    config.password_env = "MCPAUDIT_TEST_SINK_SECRET";
    config.dead_letter = DeadLetterPath(dir_.path(), type);
    return config;
  }
  // Logs `count` calls, closes the journal, and returns its lines.
  std::vector<std::string> Journal(int count) {
    {
      auto journal = OpenJournal(dir_.path());
      for (int i = 0; i < count; ++i) LogCall(*journal, {{"i", i}});
    }
    return JournalLines(dir_.path());
  }
  // `poll_interval`: how soon the shipper's own thread looks again (an hour:
  // it ships once, at its start, and the test ships with ShipAll).
  std::unique_ptr<Shipper> StartShipper(
      const SinkConfig& config, std::optional<std::chrono::milliseconds> poll_interval = {}) {
    auto sink = OpenSink(config);
    EXPECT_TRUE(sink.has_value()) << sink.error().message;
    auto options = FastShipping(dir_.path());
    options.name = config.name;
    if (poll_interval) options.poll_interval = *poll_interval;
    auto shipper = Shipper::Start(options, std::move(*sink));
    EXPECT_TRUE(shipper.has_value());
    return std::move(*shipper);
  }
  // The ids the receiver got, in order, from each request's body by `ids_of`.
  std::vector<std::string> ReceivedIds(
      const std::function<std::vector<std::string>(const ReceivedRequest&)>& ids_of) {
    std::vector<std::string> ids;
    for (const auto& request : receiver_.requests()) {
      for (auto& id : ids_of(request)) ids.push_back(std::move(id));
    }
    return ids;
  }

  testing::TempDir dir_;
  HttpReceiver receiver_;
};

// The records of a webhook body: {"records":[...]}.
nlohmann::json WebhookRecords(const std::string& body) {
  return nlohmann::json::parse(body).at("records");
}

std::vector<std::string> IdsOfLines(const std::vector<std::string>& lines) {
  std::vector<std::string> ids;
  for (const auto& line : lines)
    ids.push_back(nlohmann::json::parse(line)["id"].get<std::string>());
  return ids;
}

// Splunk HEC: concatenated JSON objects, one per line.
std::vector<nlohmann::json> HecEvents(const ReceivedRequest& request) {
  std::vector<nlohmann::json> events;
  std::istringstream in(request.body);
  for (std::string line; std::getline(in, line);) events.push_back(nlohmann::json::parse(line));
  return events;
}

TEST_F(HttpSinkAgainstStandInReceiverTest, SplunkHecGetsEveryRecordAsAnEventWithItsFieldsAndToken) {
  const auto journal = Journal(30);
  SinkConfig config = Config("splunk");
  config.options = {{"index", "mcp_audit"}, {"sourcetype", "mcp:audit"}, {"host", "app-7"}};
  ASSERT_TRUE(StartShipper(config)->ShipAll().has_value());

  const auto requests = receiver_.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].target, "/services/collector/event");
  EXPECT_EQ(requests[0].header("authorization"), std::string("Splunk ") + kSecret);
  EXPECT_EQ(requests[0].header("content-encoding"), "gzip");
  EXPECT_LT(requests[0].wire_bytes, requests[0].body.size()) << "the body travels compressed";
  std::vector<std::string> lines;
  for (const auto& request : requests) {
    for (const auto& event : HecEvents(request)) {
      EXPECT_EQ(event["index"], "mcp_audit");
      EXPECT_EQ(event["sourcetype"], "mcp:audit");
      EXPECT_EQ(event["source"], "mcp-audit");
      EXPECT_EQ(event["host"], "app-7");
      const auto record = event["event"];
      // time: the record's timestamp in epoch seconds with milliseconds.
      const auto when = *ParseTimestamp(record["timestamp"].get<std::string>());
      EXPECT_NEAR(event["time"].get<double>(),
                  std::chrono::duration<double>(when.time_since_epoch()).count(), 0.0005);
      lines.push_back(record.dump());
    }
  }
  EXPECT_EQ(IdsOfLines(lines), IdsOfLines(journal));
}

TEST_F(HttpSinkAgainstStandInReceiverTest, SplunkWithAcknowledgementWaitsUntilTheIndexersConfirm) {
  Journal(5);
  std::atomic<int> ack_polls = 0;
  receiver_.SetHandler([&](const ReceivedRequest& request) {
    if (request.target == "/services/collector/ack") {
      EXPECT_FALSE(request.header("x-splunk-request-channel").empty());
      // Not yet on the first poll, then yes.
      const bool done = ++ack_polls > 1;
      return ReceiverReply{200,
                           std::string("{\"acks\":{\"7\":") + (done ? "true" : "false") + "}}"};
    }
    EXPECT_FALSE(request.header("x-splunk-request-channel").empty());
    return ReceiverReply{200, "{\"text\":\"Success\",\"code\":0,\"ackId\":7}"};
  });
  SinkConfig config = Config("splunk");
  config.options["ack"] = "true";
  auto shipper = StartShipper(config);
  ASSERT_TRUE(shipper->ShipAll().has_value());
  EXPECT_GE(ack_polls.load(), 2);
}

TEST_F(HttpSinkAgainstStandInReceiverTest,
       DatadogBatchesStayWithinTheIntakeLimitsAndCarryTheApiKeyAndTags) {
  const auto journal = Journal(2500);
  SinkConfig config = Config("datadog");
  config.options = {{"service", "catalog-mcp"}, {"tags", "env:prod,team:data"}};
  auto options = FastShipping(dir_.path());
  auto sink = OpenSink(config);
  ASSERT_TRUE(sink.has_value());
  options.name = "datadog";
  options.batch_records = 5000;
  auto shipper = Shipper::Start(options, std::move(*sink));
  ASSERT_TRUE((*shipper)->ShipAll().has_value());

  const auto requests = receiver_.requests();
  ASSERT_GE(requests.size(), 3u) << "1000 entries per request at most";
  std::vector<std::string> lines;
  for (const auto& request : requests) {
    EXPECT_EQ(request.target, "/api/v2/logs");
    EXPECT_EQ(request.header("dd-api-key"), kSecret);
    const auto entries = nlohmann::json::parse(request.body);
    ASSERT_TRUE(entries.is_array());
    EXPECT_LE(entries.size(), 1000u);
    EXPECT_LE(request.body.size(), 5u * 1000 * 1000);
    for (const auto& entry : entries) {
      EXPECT_EQ(entry["ddsource"], "mcp-audit");
      EXPECT_EQ(entry["service"], "catalog-mcp");
      EXPECT_EQ(entry["ddtags"], "env:prod,team:data");
      lines.push_back(entry["audit"].dump());
    }
  }
  EXPECT_EQ(IdsOfLines(lines), IdsOfLines(journal));
}

TEST_F(HttpSinkAgainstStandInReceiverTest,
       DatadogGetsARecordTooLargeForOneEntryWithoutItsLargestPartsAndSaysSo) {
  {
    auto journal = OpenJournal(dir_.path());
    LogCall(*journal, {{"blob", std::string(1200 * 1000, 'x')}});
  }
  ASSERT_TRUE(StartShipper(Config("datadog"))->ShipAll().has_value());
  bool seen = false;
  for (const auto& request : receiver_.requests()) {
    for (const auto& entry : nlohmann::json::parse(request.body)) {
      EXPECT_LT(entry.dump().size(), 1000u * 1000) << "every entry within Datadog's 1 MB";
      if (entry.value("truncated", false)) {
        seen = true;
        EXPECT_EQ(entry["audit"]["tool"], "catalog_search");
        EXPECT_GT(entry["audit"]["params"]["$omitted_bytes"].get<size_t>(), 1200u * 1000);
      }
    }
  }
  EXPECT_TRUE(seen);
}

// Elasticsearch bulk answers per item: a retryable item is sent again alone,
// a refused one is set aside, a conflict (already stored) counts as stored.
TEST_F(HttpSinkAgainstStandInReceiverTest,
       ElasticBulkRetriesOnlyTheFailedItemsAndSetsAsideTheRefusedOnes) {
  const auto journal = Journal(8);
  const auto ids = IdsOfLines(journal);
  const std::string busy = ids[3], broken = ids[5], existing = ids[6];
  std::set<std::string> stored;
  std::mutex mutex;
  receiver_.SetHandler([&](const ReceivedRequest& request) {
    std::lock_guard lock(mutex);
    nlohmann::json items = nlohmann::json::array();
    std::istringstream in(request.body);
    static std::atomic<int> busy_once = 0;
    for (std::string action, doc; std::getline(in, action) && std::getline(in, doc);) {
      const std::string id = nlohmann::json::parse(action)["create"]["_id"];
      const auto document = nlohmann::json::parse(doc);
      EXPECT_EQ(document["event"]["id"], id);
      EXPECT_TRUE(document.contains("@timestamp"));
      int status = 201;
      if (id == busy && busy_once++ == 0)
        status = 429;
      else if (id == broken)
        status = 400;
      else if (id == existing || stored.contains(id))
        status = 409;
      if (status == 201) stored.insert(id);
      nlohmann::json result = {{"_id", id}, {"status", status}};
      if (status == 400)
        result["error"] = {{"type", "mapper_parsing_exception"}, {"reason", "failed to parse"}};
      items.push_back({{"create", result}});
    }
    return ReceiverReply{200, nlohmann::json({{"errors", true}, {"items", items}}).dump()};
  });
  SinkConfig config = Config("elastic");
  config.options["index"] = "audit-2026";
  ASSERT_TRUE(StartShipper(config)->ShipAll().has_value());

  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u) << "the bulk, then the one busy item again";
  EXPECT_EQ(requests[0].target, "/_bulk");
  EXPECT_EQ(requests[0].header("authorization"), std::string("ApiKey ") + kSecret);
  EXPECT_NE(requests[1].body.find(busy), std::string::npos);
  EXPECT_EQ(requests[1].body.find(ids[0]), std::string::npos);
  EXPECT_TRUE(stored.contains(busy));
  EXPECT_EQ(stored.size(), ids.size() - 2);  // all but the refused one and the one already there
  const auto set_aside = testing::ReadLines(config.dead_letter);
  ASSERT_EQ(set_aside.size(), 1u);
  EXPECT_EQ(set_aside[0], journal[5]) << "the refused record, kept as the journal holds it";
  auto backlogs = ReadShipperBacklogs(dir_.path());
  ASSERT_TRUE(backlogs.has_value());
  EXPECT_EQ(backlogs->front().set_aside, 1u);
  EXPECT_EQ(backlogs->front().records_behind, 0u);
}

TEST_F(HttpSinkAgainstStandInReceiverTest, ElasticDocumentsUseTheElasticCommonSchema) {
  {
    auto journal = OpenJournal(dir_.path());
    AuditEvent e;
    e.timestamp = std::chrono::system_clock::now();
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.tool = "delete_dataset";
    e.outcome = Outcome::kDenied;
    e.user = {"bob", "bob@example.com", "acme", {"analyst"}, "jwt"};
    e.request.client_ip = "10.1.2.3";
    e.error = AuditError{-32600, "forbidden", "policy"};
    ASSERT_TRUE(journal->Log(e).has_value());
  }
  SinkConfig config = Config("elastic");
  ASSERT_TRUE(StartShipper(config)->ShipAll().has_value());
  nlohmann::json denied;
  std::istringstream in(receiver_.requests().at(0).body);
  for (std::string action, doc; std::getline(in, action) && std::getline(in, doc);) {
    auto document = nlohmann::json::parse(doc);
    if (document["event"]["action"] == "delete_dataset") denied = document;
  }
  ASSERT_FALSE(denied.is_null());
  EXPECT_EQ(denied["event"]["outcome"], "failure");
  EXPECT_EQ(denied["event"]["type"], nlohmann::json::array({"denied"}));
  EXPECT_EQ(denied["user"]["id"], "bob");
  EXPECT_EQ(denied["user"]["roles"], nlohmann::json::array({"analyst"}));
  EXPECT_EQ(denied["organization"]["id"], "acme");
  EXPECT_EQ(denied["source"]["ip"], "10.1.2.3");
  EXPECT_EQ(denied["error"]["message"], "forbidden");
  EXPECT_EQ(denied["mcp_audit"]["tool"], "delete_dataset");
}

TEST_F(HttpSinkAgainstStandInReceiverTest, OtlpLogsCarryTheSemanticConventionAttributes) {
  const auto journal = Journal(3);
  SinkConfig config = Config("otlp");
  config.options["service"] = "catalog-mcp";
  ASSERT_TRUE(StartShipper(config)->ShipAll().has_value());
  const auto request = receiver_.requests().at(0);
  EXPECT_EQ(request.target, "/v1/logs");
  EXPECT_EQ(request.header("authorization"), std::string("Bearer ") + kSecret);
  const auto body = nlohmann::json::parse(request.body);
  const auto& resource = body["resourceLogs"][0];
  EXPECT_EQ(resource["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(resource["resource"]["attributes"][0]["value"]["stringValue"], "catalog-mcp");
  const auto& records = resource["scopeLogs"][0]["logRecords"];
  ASSERT_EQ(records.size(), journal.size());
  const auto& call = records[1];  // after audit_started
  std::map<std::string, std::string> attributes;
  for (const auto& a : call["attributes"]) attributes[a["key"]] = a["value"]["stringValue"];
  EXPECT_EQ(attributes["gen_ai.tool.name"], "catalog_search");
  EXPECT_EQ(attributes["mcp.method.name"], "tools/call");
  EXPECT_EQ(attributes["user.id"], "alice");
  EXPECT_EQ(attributes["mcp_audit.outcome"], "success");
  EXPECT_EQ(call["body"]["stringValue"], journal[1]);
  EXPECT_EQ(call["severityText"], "INFO");
  const auto when =
      *ParseTimestamp(nlohmann::json::parse(journal[1])["timestamp"].get<std::string>());
  EXPECT_EQ(
      call["timeUnixNano"],
      std::to_string(
          std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count()));
}

// A 2026-07-28 request's W3C trace context becomes the log record's traceId and
// spanId, so the record joins the caller's trace; a traceparent that is not one
// (the journal is text anyone with the files may edit) is left out.
TEST_F(HttpSinkAgainstStandInReceiverTest, OtlpLogsJoinTheTraceTheRequestCarried) {
  {
    auto journal = OpenJournal(dir_.path());
    for (const char* traceparent : {"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
                                    "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-\"}"}) {
      AuditEvent e;
      e.timestamp = std::chrono::system_clock::now();
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "catalog_search";
      e.request.protocol_version = "2026-07-28";
      e.request.traceparent = traceparent;
      ASSERT_TRUE(journal->Log(e).has_value());
    }
  }
  ASSERT_TRUE(StartShipper(Config("otlp"))->ShipAll().has_value());
  const auto body = nlohmann::json::parse(receiver_.requests().at(0).body);
  const auto& records = body["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
  ASSERT_GE(records.size(), 3u);  // audit_started first
  const auto& traced = records[1];
  EXPECT_EQ(traced["traceId"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(traced["spanId"], "00f067aa0ba902b7");
  EXPECT_EQ(traced["flags"], 1);
  std::map<std::string, std::string> attributes;
  for (const auto& a : traced["attributes"]) attributes[a["key"]] = a["value"]["stringValue"];
  EXPECT_EQ(attributes["mcp.protocol.version"], "2026-07-28");
  EXPECT_FALSE(records[2].contains("traceId")) << records[2];
}

TEST_F(HttpSinkAgainstStandInReceiverTest,
       WebhookBatchesAreSignedSoTheReceiverCanAuthenticateThem) {
  const auto journal = Journal(10);
  SinkConfig config = Config("webhook");
  config.url = receiver_.url() + "/hooks/audit";
  ASSERT_TRUE(StartShipper(config)->ShipAll().has_value());
  std::vector<std::string> lines;
  for (const auto& request : receiver_.requests()) {
    EXPECT_EQ(request.target, "/hooks/audit");
    const std::string timestamp = request.header("x-mcp-audit-timestamp");
    const auto sent = std::stoll(timestamp);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    EXPECT_LE(std::llabs(now - sent), 60);
    // What a receiver does: recompute the HMAC over timestamp.body with the shared key.
    EXPECT_EQ(request.header("x-mcp-audit-signature"),
              "sha256=" + HmacSha256Hex(kSecret, timestamp + "." + request.body));
    EXPECT_NE(request.header("x-mcp-audit-signature"),
              "sha256=" + HmacSha256Hex("another key", timestamp + "." + request.body));
    for (const auto& record : WebhookRecords(request.body)) lines.push_back(record.dump());
  }
  EXPECT_EQ(IdsOfLines(lines), IdsOfLines(journal));
}

// The receiver fails in every way it can; nothing is lost, nothing doubled.
TEST_F(HttpSinkAgainstStandInReceiverTest,
       ServerErrorsResetsAndSlowAnswersAreRetriedUntilEverythingArrivesOnce) {
  const auto journal = Journal(40);
  std::atomic<int> calls = 0;
  std::mutex mutex;
  std::vector<std::string> accepted;  // the bodies answered with 200
  receiver_.SetHandler([&](const ReceivedRequest& request) {
    switch (calls++) {
      case 0:
        return ReceiverReply{503, "{\"error\":\"overloaded\"}"};
      case 1:
        return ReceiverReply{.reset = true};
      case 2:
        return ReceiverReply{.reset = true};
      case 3:
        return ReceiverReply{502, "bad gateway"};
      case 4:
        return ReceiverReply{.delay = 2s};  // longer than the sink waits for an answer
      default: {
        std::lock_guard lock(mutex);
        accepted.push_back(request.body);
        return ReceiverReply{};
      }
    }
  });
  SinkConfig config = Config("webhook");
  config.timeout = 1s;
  auto shipper = StartShipper(config);
  std::vector<std::string> lines;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < deadline;) {
    if (shipper->counters().shipped == journal.size()) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(shipper->counters().shipped, journal.size());
  // libcurl itself sends again once when a kept-alive connection dies unanswered,
  // so the two resets may count as one failure.
  EXPECT_GE(shipper->counters().failures, 3u);
  std::lock_guard lock(mutex);
  for (const auto& body : accepted) {
    for (const auto& record : WebhookRecords(body)) lines.push_back(record.dump());
  }
  EXPECT_EQ(IdsOfLines(lines), IdsOfLines(journal)) << "every record once, in order";
}

TEST_F(HttpSinkAgainstStandInReceiverTest, AfterATimeoutTheRecordsGoAsSoonAsTheReceiverAnswersAgain) {
  const auto journal = Journal(5);
  std::atomic<int> posts = 0;
  receiver_.SetHandler([&](const ReceivedRequest& request) {
    if (request.method == "POST" && posts++ == 0)
      return ReceiverReply{.delay = 3s};  // longer than the sink waits for an answer
    return ReceiverReply{};
  });
  SinkConfig config = Config("webhook");
  config.timeout = 1s;
  auto sink = OpenSink(config);
  ASSERT_TRUE(sink.has_value()) << sink.error().message;
  auto options = FastShipping(dir_.path());
  options.name = config.name;
  options.min_backoff = options.max_backoff = 1h;  // the backoff alone would wait an hour
  auto shipper = Shipper::Start(options, std::move(*sink));
  ASSERT_TRUE(shipper.has_value()) << shipper.error().message;
  const auto started = std::chrono::steady_clock::now();
  for (auto deadline = started + 20s; (*shipper)->counters().shipped < journal.size() &&
                                      std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ((*shipper)->counters().shipped, journal.size());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s) << "retried once the receiver answered";
  EXPECT_EQ((*shipper)->counters().failures, 1u);
  EXPECT_NE((*shipper)->counters().last_error.find("timed out"), std::string::npos)
      << (*shipper)->counters().last_error;
}

TEST_F(HttpSinkAgainstStandInReceiverTest, TooManyRequestsWithRetryAfterIsHonoured) {
  Journal(5);
  std::atomic<int> calls = 0;
  std::vector<std::chrono::steady_clock::time_point> times;
  std::mutex mutex;
  receiver_.SetHandler([&](const ReceivedRequest&) {
    std::lock_guard lock(mutex);
    times.push_back(std::chrono::steady_clock::now());
    if (calls++ == 0) return ReceiverReply{429, "{}", {{"Retry-After", "1"}}};
    return ReceiverReply{};
  });
  auto shipper = StartShipper(Config("webhook"));  // backoff alone would retry after 20 ms
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       shipper->counters().shipped == 0 && std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(20ms);
  std::lock_guard lock(mutex);
  ASSERT_GE(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], 950ms) << "the second attempt waited for Retry-After";
}

TEST_F(HttpSinkAgainstStandInReceiverTest, ARefusedBatchIsSetAsideAndTheRecordsAfterItStillFlow) {
  const auto journal = Journal(5);
  std::atomic<int> calls = 0;
  receiver_.SetHandler([&](const ReceivedRequest&) {
    if (calls++ == 0) return ReceiverReply{400, "{\"error\":\"invalid event\"}"};
    return ReceiverReply{};
  });
  auto shipper = StartShipper(Config("webhook"), std::chrono::hours(1));
  ASSERT_TRUE(shipper->ShipAll().has_value());
  EXPECT_EQ(testing::ReadLines(DeadLetterPath(dir_.path(), "webhook")), journal);
  {
    auto more = OpenJournal(dir_.path());
    LogCall(*more, {{"after", true}});
  }
  ASSERT_TRUE(shipper->ShipAll().has_value());
  const auto requests = receiver_.requests();
  // The refused batch, then what came after it (in as many batches as the
  // shipper found it in: the second journal's records may come in a second).
  ASSERT_GE(requests.size(), 2u);
  std::vector<std::string> received;
  for (size_t i = 1; i < requests.size(); ++i)
    for (const auto& record : WebhookRecords(requests[i].body)) received.push_back(record.dump());
  const auto all = JournalLines(dir_.path());
  ASSERT_GT(all.size(), journal.size());
  EXPECT_EQ(IdsOfLines(received), IdsOfLines({all.begin() + journal.size(), all.end()}))
      << "every record after the refused batch, once, in order";
  bool after = false;
  for (const std::string& record : received)
    after = after || record.find("\"after\":true") != std::string::npos;
  EXPECT_TRUE(after);
}

TEST_F(HttpSinkAgainstStandInReceiverTest,
       AReceiverDownForAWhileLosesNothingAndTheBacklogDrainsWhenItIsBack) {
  auto journal = OpenJournal(dir_.path());
  for (int i = 0; i < 50; ++i) LogCall(*journal, {{"i", i}});
  SinkConfig config = Config("webhook");
  const std::string url = config.url;
  config.url = "http://127.0.0.1:1/";  // nothing listens: connection refused
  // The same sink, pointed at the receiver once it is "back": a proxy in the
  // test would do the same; here a second shipper takes over the cursor.
  {
    auto down = StartShipper(config);
    for (int i = 0; i < 50; ++i) LogCall(*journal, {{"j", i}});
    ASSERT_TRUE(journal->Flush().has_value());
    for (auto deadline = std::chrono::steady_clock::now() + 20s;
         down->counters().failures == 0 && std::chrono::steady_clock::now() < deadline;)
      std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(down->counters().failing);
    EXPECT_EQ(down->counters().shipped, 0u);
    EXPECT_NE(down->counters().last_error.find("127.0.0.1"), std::string::npos)
        << down->counters().last_error;
  }
  auto backlogs = ReadShipperBacklogs(dir_.path());
  ASSERT_TRUE(backlogs.has_value());
  EXPECT_GE(backlogs->front().records_behind, 101u) << "the backlog waits on disk";
  config.url = url;
  auto back = StartShipper(config);
  journal.reset();
  const auto lines = JournalLines(dir_.path());
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       back->counters().shipped < lines.size() && std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(20ms);
  std::vector<std::string> received;
  for (const auto& request : receiver_.requests())
    for (const auto& record : WebhookRecords(request.body)) received.push_back(record.dump());
  EXPECT_EQ(IdsOfLines(received), IdsOfLines(lines));
}

TEST_F(HttpSinkAgainstStandInReceiverTest, TheSecretNeverAppearsInErrors) {
  Journal(3);
  receiver_.SetHandler([&](const ReceivedRequest& request) {
    // A receiver that echoes the credentials it got in its error (some do).
    return ReceiverReply{500, "{\"error\":\"bad token " + request.header("authorization") + "\"}"};
  });
  auto shipper = StartShipper(Config("splunk"));
  auto shipped = shipper->ShipAll();
  ASSERT_FALSE(shipped.has_value());
  EXPECT_NE(shipped.error().message.find("HTTP 500"), std::string::npos) << shipped.error().message;
  EXPECT_EQ(shipped.error().message.find(kSecret), std::string::npos) << shipped.error().message;
  EXPECT_EQ(shipper->counters().last_error.find(kSecret), std::string::npos);

  SinkConfig missing = Config("splunk");
  missing.password_env = "MCPAUDIT_TEST_NO_SUCH_VARIABLE";
  auto refused = OpenSink(missing);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("MCPAUDIT_TEST_NO_SUCH_VARIABLE"), std::string::npos);
}

TEST_F(HttpSinkAgainstStandInReceiverTest, HttpsIsVerifiedAgainstTheSystemsCasOrTheConfiguredOne) {
  const auto journal = Journal(5);
  testing::TlsProxy proxy(receiver_.port());
  SinkConfig untrusted = Config("webhook");
  untrusted.name = "untrusted";
  untrusted.url = proxy.url() + "/hook";  // the system's CAs did not sign its certificate
  auto refused = StartShipper(untrusted)->ShipAll();
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("certificate"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(receiver_.count(), 0u) << "nothing is sent to a server that could not prove who it is";

  SinkConfig trusted = untrusted;
  trusted.name = "trusted";
  trusted.ca_file = proxy.ca_file();
  auto shipped = StartShipper(trusted)->ShipAll();
  ASSERT_TRUE(shipped.has_value()) << shipped.error().message;
  std::vector<std::string> lines;
  for (const auto& request : receiver_.requests()) {
    EXPECT_EQ(request.target, "/hook");
    for (const auto& record : WebhookRecords(request.body)) lines.push_back(record.dump());
  }
  EXPECT_EQ(IdsOfLines(lines), IdsOfLines(journal));
}

TEST_F(HttpSinkAgainstStandInReceiverTest, RoutingSendsOnlyTheChosenTenantsAndEveryCheckpoint) {
  {
    auto journal = OpenJournal(dir_.path());
    LogCall(*journal, {{"q", 1}}, "alice", "acme");
    LogCall(*journal, {{"q", 2}}, "bob", "globex");
    LogCall(*journal, {{"q", 3}}, "carol", "acme");
  }
  SinkConfig config = Config("webhook");
  config.tenants = {"acme"};
  ASSERT_TRUE(StartShipper(config)->ShipAll().has_value());
  std::vector<std::string> users, types;
  for (const auto& request : receiver_.requests()) {
    for (const auto& record : WebhookRecords(request.body)) {
      types.push_back(record["event_type"]);
      if (record.contains("user")) users.push_back(record["user"]["id"]);
    }
  }
  EXPECT_EQ(users, (std::vector<std::string>{"alice", "carol"}));
  EXPECT_NE(std::find(types.begin(), types.end(), "checkpoint"), types.end())
      << "the chain head goes everywhere";
}

}  // namespace
}  // namespace mcpaudit
