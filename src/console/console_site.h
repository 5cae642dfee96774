// Everything the auditor's console serves on one HTTP listener: the read API
// (/api/v1/), verify runs, and the web pages with their sign-in (/console/).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/crypto.h"
#include "console/read_api.h"
#include "console/verify_jobs.h"
#include "console/web_console.h"
#include "mcpaudit/http_transport.h"

namespace mcpaudit {

class ConsoleSite {
 public:
  // Verify runs read `journal` (held against its own store and cursors), or
  // the store itself when `journal` is empty. `signing_key` (a PEM key file,
  // private or public; empty: none) is the key the checkpoints must be signed with.
  static Result<std::unique_ptr<ConsoleSite>> Create(ReadApiOptions api, const std::filesystem::path& journal,
                                                     const std::string& signing_key);

  // Answers the read API and the console on `http` (its authenticator signs callers in).
  void Mount(HttpOptions& http);

  const ReadApiOptions& api() const { return api_; }

 private:
  ConsoleSite() = default;

  ReadApiOptions api_;
  std::optional<SigningKey> key_;
  std::unique_ptr<VerifyJobs> verify_;
  std::unique_ptr<WebConsole> web_;
};

// The listener's lines for the banner: where the console and the read API are.
std::string ConsoleBannerLines(const std::string& base_url);

}  // namespace mcpaudit
