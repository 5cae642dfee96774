#include "console/verify_jobs.h"

#include "mcpaudit/audit_event.h"
#include "mcpaudit/clock.h"

namespace mcpaudit {

namespace {
constexpr size_t kJobsKept = 16;
constexpr size_t kProblemsShown = 100;  // of one run; the count says how many in all
}  // namespace

struct VerifyJobs::Job {
  std::string id;
  std::string requested_by;
  std::string started_at;
  std::atomic<uint64_t> records{0};
  // Set once, when the run ends (under the jobs' mutex).
  bool finished = false;
  std::string finished_at;
  std::optional<Result<VerifyReport>> outcome;  // its problems: the first kProblemsShown
  size_t problem_count = 0;                     // in all
};

VerifyJobs::VerifyJobs(Run run, std::string what,
                       std::function<void(const nlohmann::json&)> on_finished)
    : run_(std::move(run)), what_(std::move(what)), on_finished_(std::move(on_finished)) {}

VerifyJobs::~VerifyJobs() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

VerifyJobs::Started VerifyJobs::Start(const std::string& requested_by) {
  std::jthread ended;  // the last run's thread, joined once the lock is let go
  std::lock_guard lock(mutex_);
  if (!jobs_.empty() && !jobs_.back()->finished) return {jobs_.back()->id, false};
  ended = std::move(thread_);
  auto job = std::make_shared<Job>();
  const auto now = std::chrono::system_clock::now();
  job->id = NewUuidV7(now, SecureRandom());
  job->requested_by = requested_by;
  job->started_at = FormatTimestamp(now);
  jobs_.push_back(job);
  if (jobs_.size() > kJobsKept) jobs_.pop_front();
  thread_ = std::jthread([this, job] { Execute(job); });
  return {job->id, true};
}

void VerifyJobs::Execute(const std::shared_ptr<Job>& job) {
  Result<VerifyReport> outcome =
      Fail(ErrorCode::kInternal, "the verify run ended without a verdict");
  try {
    outcome = run_([&](uint64_t records) {
      job->records = records;
      return !stopping_.load();
    });
  } catch (const std::exception& e) {  // nothing crosses the thread
    outcome = Fail(ErrorCode::kInternal, std::string("the verify run failed: ") + e.what());
  }
  if (outcome && outcome->problems.size() > kProblemsShown) {
    job->problem_count = outcome->problems.size();
    outcome->problems.resize(kProblemsShown);  // what is shown is all that is kept
  } else if (outcome) {
    job->problem_count = outcome->problems.size();
  }
  nlohmann::json verdict;
  {
    std::lock_guard lock(mutex_);
    if (outcome) job->records = outcome->records;
    job->outcome = std::move(outcome);
    job->finished_at = FormatTimestamp(std::chrono::system_clock::now());
    verdict = JobJson(*job, /*finished=*/true);
  }
  // The verdict is recorded before anyone can read it: whoever sees the run
  // finished finds its record in the journal already.
  if (on_finished_) on_finished_(verdict);
  std::lock_guard lock(mutex_);
  job->finished = true;
}

namespace {

nlohmann::json ProblemsJson(const VerifyReport& report) {
  nlohmann::json problems = nlohmann::json::array();
  for (const VerifyProblem& p : report.problems) {
    if (problems.size() == kProblemsShown) break;
    nlohmann::json problem = {
        {"stream", p.stream}, {"seq", p.seq}, {"verdict", p.verdict}, {"detail", p.detail}};
    if (!p.file.empty()) {
      problem["file"] = p.file.filename().string();
      problem["line"] = p.line;
    }
    problems.push_back(std::move(problem));
  }
  return problems;
}

}  // namespace

nlohmann::json VerifyJobs::JobJson(const Job& job, bool finished) const {
  nlohmann::json out = {{"id", job.id},
                        {"what", what_},
                        {"requested_by", job.requested_by},
                        {"started_at", job.started_at},
                        {"finished_at", nullptr},
                        {"records", job.records.load()},
                        {"state", "running"},
                        {"problem_count", 0},
                        {"problems", nlohmann::json::array()},
                        {"notes", nlohmann::json::array()},
                        {"error", nullptr}};
  if (!finished) return out;
  out["finished_at"] = job.finished_at;
  const auto& outcome = *job.outcome;
  if (!outcome) {
    out["state"] = "failed";
    out["error"] = outcome.error().message;
    return out;
  }
  out["state"] = outcome->valid() ? "valid" : "tampered";
  out["problem_count"] = job.problem_count;
  out["problems"] = ProblemsJson(*outcome);
  out["notes"] = outcome->notes;
  out["checkpoints"] = outcome->checkpoints;
  out["signed_checkpoints"] = outcome->signed_checkpoints;
  return out;
}

std::optional<nlohmann::json> VerifyJobs::Find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& job : jobs_)
    if (job->id == id) return JobJson(*job, job->finished);
  return std::nullopt;
}

std::optional<nlohmann::json> VerifyJobs::LastFinished() const {
  std::lock_guard lock(mutex_);
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it)
    if ((*it)->finished) return JobJson(**it, true);
  return std::nullopt;
}

}  // namespace mcpaudit
