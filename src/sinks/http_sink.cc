#include "sinks/http_sink.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <charconv>
#include <thread>

#include "base/ascii.h"
#include "base/audit_files.h"
#include "base/ops_log.h"
#include "sinks/sql_columns.h"

namespace mcpaudit {
namespace {

// A response body, kept up to a bound (beyond it the transfer is ended).
struct Body {
  std::string* text;
  size_t max;
};
size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  Body* body = static_cast<Body*>(out);
  if (body->text->size() + size * count > body->max) return 0;
  body->text->append(data, size * count);
  return size * count;
}

// Retry-After in seconds (the HTTP-date form is rare from these receivers and
// is read as "no hint"), capped at 5 minutes.
size_t ReadRetryAfter(char* data, size_t size, size_t count, void* out) {
  std::string_view line(data, size * count);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    if (StartsWithIgnoringCase(line, kName)) {
      std::string_view value = line.substr(kName.size());
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      unsigned seconds = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec == std::errc() && end != value.data())
        *static_cast<std::optional<std::chrono::milliseconds>*>(out) =
            std::chrono::milliseconds(std::min(seconds, 300u) * 1000);
    }
  }
  return size * count;
}

// What a failed request is: worth another try, or refused for good.
bool Retryable(const HttpResponse& response) {
  return response.status == 0 || response.status == 408 || response.status == 429 ||
         response.status >= 500;
}

std::string Shorten(std::string text) {
  if (text.size() > 300) text = text.substr(0, 300) + "…";
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

std::string Gzip(std::string_view data) {
  z_stream stream{};
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string JsonString(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string LocalHostname() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

int64_t UnixNanos(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

Result<std::string> ReadSinkSecret(const SinkConfig& config, bool required) {
  auto secret = ReadSinkPassword(config);
  if (!secret) return secret;
  if (required && secret->empty())
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name + " (" + config.type +
                    ") needs its token or key: set password_env or password_file");
  return secret;
}

HttpConnection::HttpConnection(const SinkConfig& config)
    : curl_(curl_easy_init()), ca_file_(config.ca_file), timeout_(config.timeout) {}

HttpConnection::~HttpConnection() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpConnection::Post(const std::string& url, const std::vector<std::string>& headers,
                                  const std::string& body, bool gzip) {
  HttpResponse response;
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    response.transport_error = "libcurl could not start";
    return response;
  }
  curl_easy_reset(curl);  // keeps the connection, forgets the last request's options
  const std::string compressed = gzip ? Gzip(body) : std::string();
  curl_slist* list = nullptr;
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  if (gzip) list = curl_slist_append(list, "Content-Encoding: gzip");
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  const std::string& sent = gzip ? compressed : body;
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, sent.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(sent.size()));
  Body received{&response.body, max_response_bytes_};
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadRetryAfter);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.retry_after);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "mcp-audit");
  // TLS: verified always (curl's default, said again so no one turns it off by accident).
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file_.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
  char detail[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(list);
  if (code != CURLE_OK) {
    response.transport_error =
        detail[0] ? detail : curl_easy_strerror(code);  // the detail says which certificate
    return response;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

bool HttpConnection::Answers(const std::string& url) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return false;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);       // HEAD
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);  // the next POST gets a connection of its own
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "mcp-audit");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file_.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  return status > 0;
}

HttpSink::HttpSink(SinkConfig config, std::string secret)
    : config_(std::move(config)), secret_(std::move(secret)), connection_(config_) {}

std::string HttpSink::WithPath(std::string url, std::string_view path) {
  while (url.ends_with('/')) url.pop_back();
  if (!url.ends_with(path)) url += path;
  return url;
}

std::string HttpSink::Scrub(std::string text) const {
  if (secret_.size() < 4) return text;
  for (size_t at; (at = text.find(secret_)) != std::string::npos;)
    text.replace(at, secret_.size(), "***");
  return text;
}

std::optional<bool> HttpSink::Answers() {
  if (!unanswered_) return std::nullopt;
  return connection_.Answers(Endpoint());
}

Status HttpSink::Store(std::span<const SinkRecord> batch) {
  retry_after_.reset();
  unanswered_ = false;
  if (batch.empty()) return {};
  // The same batch again after a failure part-way: skip the requests that went through.
  size_t skip = 0;
  if (batch.front().event.id == partial_first_id_ && batch.size() == partial_size_)
    skip = partial_sent_;
  partial_first_id_ = batch.front().event.id;
  partial_size_ = batch.size();
  partial_sent_ = 0;

  const BodyShape shape = Shape();
  size_t request = 0;
  std::vector<std::string> items;
  size_t bytes = 0, first = 0;
  auto flush = [&](size_t end) -> Status {
    if (items.empty()) return {};
    Status sent =
        request++ < skip ? Status{} : Send(batch.subspan(first, end - first), std::move(items));
    items.clear();
    bytes = 0;
    first = end;
    if (sent) ++partial_sent_;
    return sent;
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string item = Item(batch[i]);
    if (!items.empty() &&
        (items.size() >= shape.max_items || bytes + item.size() > shape.max_bytes)) {
      if (Status s = flush(i); !s) return s;
    }
    bytes += item.size() + shape.separator.size();
    items.push_back(std::move(item));
  }
  if (Status s = flush(batch.size()); !s) return s;
  partial_first_id_.clear();
  return {};
}

Status HttpSink::Send(std::span<const SinkRecord> records, std::vector<std::string> items) {
  const BodyShape shape = Shape();
  std::vector<size_t> pending(items.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  // Items a 2xx answer said to send again: a few quick tries, then the shipper's backoff.
  for (int attempt = 0;; ++attempt) {
    std::string body = shape.prefix;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (i) body += shape.separator;
      body += items[pending[i]];
    }
    body += shape.suffix;
    HttpResponse response = connection_.Post(Endpoint(), Headers(body), body, config_.gzip);
    const std::string where = "sink " + config_.name + " (" + RedactUrl(Endpoint()) + ")";
    if (response.status >= 200 && response.status < 300) {
      if (Status confirmed = Confirm(response); !confirmed)
        return Fail(ErrorCode::kUnavailable, where + ": " + Scrub(confirmed.error().message));
      auto verdicts = CheckItems(response, pending.size());
      if (!verdicts)
        return Fail(ErrorCode::kUnavailable, where + ": " + Scrub(verdicts.error().message));
      for (const auto& [item, why] : verdicts->refused) {
        if (Status s = SetAside(records.subspan(pending[item], 1), why); !s) return s;
      }
      if (verdicts->retry.empty()) return {};
      std::vector<size_t> again;
      for (size_t item : verdicts->retry) again.push_back(pending[item]);
      pending = std::move(again);
      if (attempt >= 3)
        return Fail(ErrorCode::kUnavailable, where + ": the receiver keeps refusing " +
                                                 std::to_string(pending.size()) +
                                                 " records for now");
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
      continue;
    }
    if (Retryable(response)) {
      retry_after_ = response.retry_after;
      unanswered_ = response.status == 0;
      const std::string why = response.status == 0 ? response.transport_error
                                                   : "HTTP " + std::to_string(response.status) +
                                                         " " + Shorten(response.body);
      return Fail(ErrorCode::kUnavailable, where + ": " + Scrub(why));
    }
    // Refused for good: these exact records cannot be taken. Set them aside (a
    // person must look at them) so that the records after them still flow.
    std::vector<SinkRecord> refused;
    for (size_t item : pending) refused.push_back(records[item]);
    return SetAside(
        refused, "HTTP " + std::to_string(response.status) + " " + Scrub(Shorten(response.body)));
  }
}

Status HttpSink::SetAside(std::span<const SinkRecord> records, const std::string& why) {
  const std::string where = "sink " + config_.name;
  if (config_.dead_letter.empty())
    return Fail(ErrorCode::kIo, where + ": the receiver refused " + std::to_string(records.size()) +
                                    " records (" + why +
                                    ") and there is no dead-letter file to set them aside in");
  if (Status s = EnsureAuditDirectory(config_.dead_letter.parent_path()); !s) return s;
  auto fd = OpenAuditFile(config_.dead_letter);
  if (!fd) return std::unexpected(fd.error());
  std::string lines;
  for (const SinkRecord& record : records) lines += record.line + "\n";
  const bool written = WriteAll(*fd, lines) == lines.size() && ::fdatasync(*fd) == 0;
  const Error error = written ? Error{} : ErrnoError("cannot write", config_.dead_letter);
  ::close(*fd);
  if (!written) return std::unexpected(error);
  OpsLog().error("{}: the receiver refused {} records ({}); they are set aside in {}", where,
                 records.size(), why, config_.dead_letter.string());
  return {};
}

}  // namespace mcpaudit
