#include "audit/refusal_recorder.h"

#include "base/ops_log.h"

namespace mcpaudit {

RefusalRecorder::RefusalRecorder(const Recorder& recorder, const Redactor& redactor, RefusalLimits limits)
    : recorder_(recorder),
      redactor_(redactor),
      limits_(limits),
      since_(recorder.clock().Now()),
      queue_(limits.queue),
      writer_([this] { Run(); }) {}

RefusalRecorder::~RefusalRecorder() {
  queue_.Close();
  writer_.join();
}

void RefusalRecorder::Record(const RequestContext& ctx, CallRecord record) {
  record.outcome = Outcome::kDenied;
  const std::string reason = record.error ? record.error->reason : std::string();
  std::lock_guard lock(mutex_);
  Key key{ctx.identity.user_id, ctx.client_ip, reason};
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    // Callers choose their names and addresses: past the bound, one count for all of them.
    if (counts_.size() >= limits_.max_callers) key = Key{"*", "*", "*"};
    it = counts_.try_emplace(key).first;
  }
  Count& count = it->second;
  if (count.recorded < limits_.per_caller &&
      queue_.Push(Item{ctx, std::move(record)}, /*wait=*/false) == PushResult::kOk) {
    ++count.recorded;
  } else {
    ++count.suppressed;
  }
}

void RefusalRecorder::Record(const ConnectionInfo& info, const RefusedRequest& refusal) {
  Record(ContextOf(info, recorder_.clock().Now()), refusal);
}

void RefusalRecorder::Record(RequestContext ctx, const RefusedRequest& refusal, nlohmann::json params) {
  if (!refusal.request_id.empty()) ctx.request_id = refusal.request_id;
  if (!refusal.protocol_version.empty()) {
    ctx.protocol_version = refusal.protocol_version;
    ctx.client = refusal.client;
  }
  CallRecord record;
  record.event_type = refusal.event_type;
  record.tool = refusal.tool;
  if (!params.is_null()) redactor_.Apply(params);
  record.params = std::move(params);
  record.error = AuditError{refusal.code, refusal.message, refusal.reason};
  if (!refusal.method.empty() || refusal.http_status != 0) {
    record.details = nlohmann::json::object();
    if (!refusal.method.empty()) record.details["method"] = refusal.method;
    if (refusal.http_status != 0) record.details["http_status"] = refusal.http_status;
  }
  Record(ctx, std::move(record));
}

void RefusalRecorder::Run() {
  std::vector<Item> batch;
  auto interval_end = std::chrono::steady_clock::now() + limits_.interval;
  for (;;) {
    batch.clear();
    const auto now = std::chrono::steady_clock::now();
    const bool open = queue_.PopBatchFor(batch, 64, interval_end > now ? interval_end - now : std::chrono::nanoseconds(0));
    for (Item& item : batch) {
      if (auto logged = recorder_.Record(item.ctx, item.record); !logged)
        OpsLog().error("the audit record of a refused request was not accepted: {}", logged.error().message);
    }
    if (!open) break;
    if (std::chrono::steady_clock::now() >= interval_end) {
      Summarize();
      interval_end = std::chrono::steady_clock::now() + limits_.interval;
    }
  }
  Summarize();
}

void RefusalRecorder::Summarize() {
  std::map<Key, Count> counts;
  std::chrono::system_clock::time_point since;
  const auto now = recorder_.clock().Now();
  {
    std::lock_guard lock(mutex_);
    counts.swap(counts_);
    since = since_;
    since_ = now;
  }
  nlohmann::json suppressed = nlohmann::json::array();
  uint64_t total = 0;
  for (const auto& [key, count] : counts) {
    if (count.suppressed == 0) continue;
    const auto& [user, client_ip, reason] = key;
    suppressed.push_back({{"user", user}, {"client_ip", client_ip}, {"reason", reason}, {"count", count.suppressed}});
    total += count.suppressed;
  }
  if (total == 0) return;
  RequestContext ctx;
  ctx.received_at = now;
  CallRecord summary;
  summary.event_type = "refusal_summary";
  summary.outcome = Outcome::kDenied;
  summary.details = {{"since", FormatTimestamp(since)},
                     {"until", FormatTimestamp(now)},
                     {"not_recorded", total},
                     {"by_caller", std::move(suppressed)}};
  if (auto logged = recorder_.Record(ctx, summary); !logged)
    OpsLog().error("the audit summary of refused requests was not accepted: {}", logged.error().message);
}

}  // namespace mcpaudit
