// The verify runs an auditor starts from the console (POST
// /api/v1/integrity/verify): one at a time, each on a thread of its own, its
// progress and verdict kept for reading (the newest 16 runs).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "mcpaudit/verifier.h"

namespace mcpaudit {

class VerifyJobs {
 public:
  using Run = std::function<Result<VerifyReport>(const VerifyProgress&)>;
  // `what` names what is verified ("journal /var/audit", a store's URL);
  // `on_finished` is told each run's verdict (as Find shows it), on the run's thread.
  VerifyJobs(Run run, std::string what,
             std::function<void(const nlohmann::json&)> on_finished = {});
  ~VerifyJobs();  // stops a run in progress and waits for it
  VerifyJobs(const VerifyJobs&) = delete;
  VerifyJobs& operator=(const VerifyJobs&) = delete;

  // Starts a run for `requested_by`; the id of that run, or of the one
  // already running (then `started` is false).
  struct Started {
    std::string id;
    bool started = false;
  };
  // Thread-safe, as are Find and LastFinished.
  Started Start(const std::string& requested_by);

  // A run as the API shows it: {id, state: running|valid|tampered|failed,
  // what, requested_by, started_at, finished_at, records, problems, notes, error}.
  std::optional<nlohmann::json> Find(const std::string& id) const;
  // The newest run that has ended; nullopt if none has.
  std::optional<nlohmann::json> LastFinished() const;

 private:
  struct Job;
  void Execute(const std::shared_ptr<Job>& job);
  // The run as the API shows it, as if `finished` (under mutex_).
  nlohmann::json JobJson(const Job& job, bool finished) const;

  Run run_;
  std::string what_;
  std::function<void(const nlohmann::json&)> on_finished_;
  mutable std::mutex mutex_;
  std::deque<std::shared_ptr<Job>> jobs_;  // newest last; guarded by mutex_
  std::atomic<bool> stopping_{false};
  std::jthread thread_;  // of the run in progress, or of the last one
};

}  // namespace mcpaudit
