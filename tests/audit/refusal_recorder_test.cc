#include "audit/refusal_recorder.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

RefusedRequest ParseError() {
  RefusedRequest refusal;
  refusal.code = -32700;
  refusal.message = "Parse error";
  refusal.reason = "parse_error";
  return refusal;
}

ConnectionInfo Caller(const std::string& user, const std::string& ip = "10.0.0.9") {
  ConnectionInfo info;
  info.transport = "http";
  info.client_ip = ip;
  info.identity.user_id = user;
  return info;
}

TEST(RefusalRecorderTest, AFloodIsRecordedUpToItsBoundAndCountedInOneSummary) {
  testing::RecordingLogger logger;
  testing::FakeClock clock;
  Recorder recorder(logger, {"srv", "1", "host-a:1"}, clock, testing::CountingRandom());
  const Redactor redactor(RedactionOptions{});
  {
    RefusalRecorder refusals(recorder, redactor, {.per_caller = 3, .interval = std::chrono::hours(1)});
    for (int i = 0; i < 10; ++i) refusals.Record(Caller("mallory"), ParseError());
    for (int i = 0; i < 2; ++i) refusals.Record(Caller("eve"), ParseError());
  }  // the summary of the interval is written when the recorder stops
  const auto events = logger.events();
  ASSERT_EQ(events.size(), 6u);
  int mallory = 0, eve = 0;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i].event_type, "request_refused");
    EXPECT_EQ(events[i].outcome, Outcome::kDenied);
    ASSERT_TRUE(events[i].error.has_value());
    EXPECT_EQ(events[i].error->reason, "parse_error");
    EXPECT_EQ(events[i].request.client_ip, "10.0.0.9");
    mallory += events[i].user.id == "mallory";
    eve += events[i].user.id == "eve";
  }
  EXPECT_EQ(mallory, 3);
  EXPECT_EQ(eve, 2);
  const AuditEvent& summary = events[5];
  EXPECT_EQ(summary.event_type, "refusal_summary");
  EXPECT_EQ(summary.details["not_recorded"], 7);
  ASSERT_EQ(summary.details["by_caller"].size(), 1u);
  EXPECT_EQ(summary.details["by_caller"][0],
            json({{"user", "mallory"}, {"client_ip", "10.0.0.9"}, {"reason", "parse_error"}, {"count", 7}}));
}

TEST(RefusalRecorderTest, CallersBeyondTheBoundShareOneCount) {
  testing::RecordingLogger logger;
  testing::FakeClock clock;
  Recorder recorder(logger, {"srv", "1", "host-a:1"}, clock, testing::CountingRandom());
  const Redactor redactor(RedactionOptions{});
  {
    RefusalRecorder refusals(recorder, redactor, {.per_caller = 1, .interval = std::chrono::hours(1), .max_callers = 2});
    for (int i = 0; i < 1000; ++i) refusals.Record(Caller("user-" + std::to_string(i)), ParseError());
  }
  const auto events = logger.events();
  // Two callers recorded one by one, the first of the rest too, and the others counted together.
  ASSERT_EQ(events.size(), 4u);
  const AuditEvent& summary = events.back();
  EXPECT_EQ(summary.event_type, "refusal_summary");
  EXPECT_EQ(summary.details["not_recorded"], 997);
  EXPECT_EQ(summary.details["by_caller"][0]["user"], "*");
}

TEST(RefusalRecorderTest, NoSummaryWhenNothingWasLeftOut) {
  testing::RecordingLogger logger;
  testing::FakeClock clock;
  Recorder recorder(logger, {"srv", "1", "host-a:1"}, clock, testing::CountingRandom());
  const Redactor redactor(RedactionOptions{});
  {
    RefusalRecorder refusals(recorder, redactor);
    refusals.Record(Caller("mallory"), ParseError());
  }
  ASSERT_EQ(logger.events().size(), 1u);
  EXPECT_EQ(logger.events()[0].event_type, "request_refused");
}

}  // namespace
}  // namespace mcpaudit
