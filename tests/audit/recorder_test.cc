#include "mcpaudit/recorder.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace mcpaudit {
namespace {

TEST(RecorderTest, BuildsOneEventFromContextAndCall) {
  testing::RecordingLogger logger;
  testing::FakeClock clock;
  Recorder recorder(logger, {"srv", "1.2", "host-a:1"}, clock, testing::CountingRandom());
  RequestContext ctx;
  ctx.request_id = "7";
  ctx.received_at = clock.Now();
  ctx.transport = "stdio";
  ctx.session_id = "s-1";
  ctx.identity = {"alice", "alice@example.com", "acme", {"analyst"}, "cli_flag"};
  ctx.client = {"inspector", "2.0"};
  ctx.access_reason = "treatment";
  CallRecord call;
  call.tool = "catalog_get_entity";
  call.params = {{"urn", "u"}};
  call.resources = {"u"};
  call.result_count = 1;
  call.response_bytes = 99;
  call.duration = std::chrono::microseconds(1500);
  call.phi = true;
  call.sensitivity = "restricted";
  ASSERT_TRUE(recorder.Record(ctx, call).has_value());

  auto events = logger.events();
  ASSERT_EQ(events.size(), 1u);
  const AuditEvent& e = events[0];
  EXPECT_EQ(e.timestamp, clock.Now());
  EXPECT_EQ(e.id.substr(0, 13), "018d0cab-c440");  // UUIDv7 of 2024-01-15T10:30:00.000Z
  EXPECT_EQ(e.tool, "catalog_get_entity");
  EXPECT_EQ(e.user.id, "alice");
  EXPECT_EQ(e.user.tenant_id, "acme");
  EXPECT_EQ(e.request.id, "7");
  EXPECT_EQ(e.request.session_id, "s-1");
  EXPECT_EQ(e.request.client.name, "inspector");
  EXPECT_EQ(e.server.instance, "host-a:1");
  EXPECT_EQ(e.params["urn"], "u");
  ASSERT_TRUE(e.response.has_value());
  EXPECT_DOUBLE_EQ(e.response->duration_ms, 1.5);
  EXPECT_EQ(e.response->bytes, 99u);
  EXPECT_EQ(e.response->result_count, 1);
  EXPECT_TRUE(e.compliance.phi);
  EXPECT_EQ(e.compliance.access_reason, "treatment");
}

TEST(RecorderTest, PassesOnTheLoggersRefusal) {
  testing::RecordingLogger logger;
  logger.set_refuse(true);
  testing::FakeClock clock;
  Recorder recorder(logger, {}, clock, testing::CountingRandom());
  auto status = recorder.Record(RequestContext{}, CallRecord{});
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
}

TEST(AuditLoggerTest, LogToolCallConvenienceRecordsTheCall) {
  testing::RecordingLogger logger;
  RequestContext ctx;
  ctx.request_id = "r1";
  ctx.transport = "stdio";
  ASSERT_TRUE(logger.LogToolCall(ctx, "search", {{"q", "x"}}, "bob").has_value());
  auto events = logger.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tool, "search");
  EXPECT_EQ(events[0].user.id, "bob");
  EXPECT_EQ(events[0].params["q"], "x");
  EXPECT_EQ(events[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[0].request.id, "r1");
  EXPECT_FALSE(events[0].id.empty());
}

}  // namespace
}  // namespace mcpaudit
