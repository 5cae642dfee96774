// Records requests refused before they reached a tool, resource or prompt
// (refused authentications, unreadable or oversized messages, unknown
// sessions), without letting a flood of them flood the log: per caller and
// reason, the first `per_caller` refusals of an interval are recorded one by
// one, the rest only counted, and one `refusal_summary` record per interval
// says how many of each were not recorded. Cheap and non-blocking for the
// caller (an I/O thread may call it): records are written on a thread of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "base/bounded_queue.h"
#include "mcpaudit/recorder.h"
#include "mcpaudit/redaction.h"
#include "mcpaudit/request_context.h"
#include "mcpaudit/server.h"

namespace mcpaudit {

class RefusalRecorder {
 public:
  // `recorder` and `redactor` (for the parameters a refusal could read) must outlive this.
  RefusalRecorder(const Recorder& recorder, const Redactor& redactor, RefusalLimits limits = {});
  ~RefusalRecorder();  // writes what is queued and the last summary, then joins
  RefusalRecorder(const RefusalRecorder&) = delete;
  RefusalRecorder& operator=(const RefusalRecorder&) = delete;

  // Records `record` (outcome denied) for the caller of `ctx`, or counts it
  // for the interval's summary. Thread-safe; never waits for the disk.
  void Record(const RequestContext& ctx, CallRecord record);
  // The same for `refusal`, with the parameters as far as they could be read
  // (redacted here), of the caller of `ctx` or of `info`.
  void Record(RequestContext ctx, const RefusedRequest& refusal, nlohmann::json params = nullptr);
  void Record(const ConnectionInfo& info, const RefusedRequest& refusal);

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // user, client ip, reason
  struct Count {
    uint64_t recorded = 0;
    uint64_t suppressed = 0;
  };
  struct Item {
    RequestContext ctx;
    CallRecord record;
  };

  void Run();
  void Summarize();  // writes the summary of the interval that ends, on the writer thread

  const Recorder& recorder_;
  const Redactor& redactor_;
  const RefusalLimits limits_;
  std::mutex mutex_;
  std::map<Key, Count> counts_;  // guarded by mutex_; this interval's, bounded by max_callers + 1
  std::chrono::system_clock::time_point since_;  // guarded by mutex_; when the interval began
  BoundedQueue<Item> queue_;
  std::jthread writer_;  // last: joined first
};

}  // namespace mcpaudit
