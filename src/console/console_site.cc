#include "console/console_site.h"

#include "base/ops_log.h"

namespace mcpaudit {

Result<std::unique_ptr<ConsoleSite>> ConsoleSite::Create(ReadApiOptions api, const std::filesystem::path& journal,
                                                         const std::string& signing_key) {
  std::unique_ptr<ConsoleSite> site(new ConsoleSite());
  site->api_ = std::move(api);
  site->api_.journal_dir = journal;  // the tlog endpoints prove on its Merkle trees
  if (!signing_key.empty()) {
    // Verify starts from the first key: its public half, which keygen writes
    // beside it and a key rotation never replaces; else the key itself.
    const std::filesystem::path first = std::filesystem::path(signing_key).replace_extension(".pub");
    std::error_code missing;
    auto key = std::filesystem::is_regular_file(first, missing) ? SigningKey::LoadPublic(first.string())
                                                                : SigningKey::LoadPrivate(signing_key);
    if (!key) key = SigningKey::LoadPublic(signing_key);
    if (!key) return std::unexpected(key.error());
    site->key_.emplace(std::move(*key));
  }
  const SigningKey* key = site->key_ ? &*site->key_ : nullptr;
  // Each verdict is in the log, as the verify command's is.
  auto record = [api = &site->api_](const nlohmann::json& job) {
    if (api->logger == nullptr) return;
    Identity requester;
    requester.user_id = job.value("requested_by", "");
    AuditEvent e = ReadApiEvent(*api, requester, "", "integrity/verify");
    e.outcome = job.value("state", "") == "failed" ? Outcome::kFailure : Outcome::kSuccess;
    e.details["verdict"] = {{"job", job.value("id", "")},     {"state", job.value("state", "")},
                            {"what", job.value("what", "")},  {"records", job.value("records", 0)},
                            {"problems", job.value("problem_count", 0)}};
    if (Status logged = api->logger->Log(e); !logged)
      OpsLog().error("a verify verdict is not recorded: {}", logged.error().message);
  };
  if (journal.empty()) {
    site->verify_ = std::make_unique<VerifyJobs>(
        [store = site->api_.store, key](const VerifyProgress& progress) { return VerifyStore(store, key, progress); },
        "store " + RedactUrl(site->api_.store.url), record);
  } else {
    site->verify_ = std::make_unique<VerifyJobs>(
        [journal, key](const VerifyProgress& progress) { return VerifyLocalJournal(journal, key, progress); },
        "journal " + journal.string(), record);
  }
  site->api_.verify = site->verify_.get();
  return site;
}

void ConsoleSite::Mount(HttpOptions& http) {
  web_ = std::make_unique<WebConsole>(WebConsoleOptions{.authenticator = http.authenticator}, api_);
  http.read_api = [this](const ReadApiRequest& request) { return AnswerReadApi(api_, request); };
  http.console = [this](const ReadApiRequest& request) { return web_->Answer(request); };
  http.session_caller = [this](std::string_view cookie) { return web_->SessionCaller(cookie); };
}

std::string ConsoleBannerLines(const std::string& base_url) {
  return "  console:       " + base_url + kConsolePrefix + " (sign in with a key or token of the auditor role)\n" +
         "  read API:      " + base_url + kReadApiPrefix + "events (callers with the auditor role)\n";
}

}  // namespace mcpaudit
