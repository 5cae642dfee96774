// HttpSink: what every sink that POSTs batches to a receiver shares (Splunk
// HEC, Datadog, Elasticsearch, OTLP/HTTP, webhooks). libcurl with one kept-alive
// connection, TLS verified (a CA file may replace the system's), timeouts,
// gzip, and one answer to every response:
//   2xx                          stored;
//   429, 5xx, timeouts, resets   retried by the shipper, after Retry-After if given;
//   any other 4xx                set aside in the dead-letter file and reported:
//                                sending the same bytes again cannot succeed.
// A batch is cut into requests within the receiver's limits. When a batch
// fails part-way, the requests already confirmed are not sent again when the
// same batch comes back (no copies from a retry).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mcpaudit/sink.h"

namespace mcpaudit {

struct HttpResponse {
  long status = 0;             // 0: no response (connection refused, reset, timed out)
  std::string body;
  std::string transport_error;  // why there was no response
  std::optional<std::chrono::milliseconds> retry_after;
};

// One libcurl handle: a kept-alive connection to one receiver.
class HttpConnection {
 public:
  explicit HttpConnection(const SinkConfig& config);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // POSTs `body` (gzipped when `gzip`) with these headers ("Name: value").
  HttpResponse Post(const std::string& url, const std::vector<std::string>& headers, const std::string& body,
                    bool gzip);
  // Whether the receiver answers a HEAD request to `url` at all (any status)
  // within two seconds.
  bool Answers(const std::string& url);
  // A longer response body ends the request (no response: transport_error).
  void set_max_response_bytes(size_t max) { max_response_bytes_ = max; }

 private:
  void* curl_;
  std::string ca_file_;
  std::chrono::milliseconds timeout_;
  size_t max_response_bytes_ = 64 << 20;
};

// The body as gzip (RFC 1952).
std::string Gzip(std::string_view data);

// `text` as a JSON string, quotes included (invalid UTF-8 replaced).
std::string JsonString(std::string_view text);
// This machine's name (for the receivers' host fields).
std::string LocalHostname();
// Nanoseconds since the Unix epoch.
int64_t UnixNanos(std::chrono::system_clock::time_point time);

// Reads the sink's secret (token, API key, HMAC key) as ReadSinkPassword does;
// fails when `required` and there is none.
[[nodiscard]] Result<std::string> ReadSinkSecret(const SinkConfig& config, bool required);

class HttpSink : public Sink {
 public:
  Status Store(std::span<const SinkRecord> batch) override;
  std::optional<std::chrono::milliseconds> RetryAfter() const override { return retry_after_; }
  std::optional<bool> Answers() override;

 protected:
  // How a request body is built from items: prefix, items joined, suffix; and
  // how much one request may hold.
  struct BodyShape {
    std::string prefix;
    std::string separator;
    std::string suffix;
    size_t max_items = 1000;
    size_t max_bytes = 4 << 20;
  };

  HttpSink(SinkConfig config, std::string secret);

  virtual std::string Endpoint() const { return config_.url; }
  virtual BodyShape Shape() const = 0;
  // One record in the receiver's format.
  virtual std::string Item(const SinkRecord& record) const = 0;
  // The headers of a request with this body (authentication, signatures).
  virtual std::vector<std::string> Headers(const std::string& body) const = 0;
  // For receivers that answer per item (Elasticsearch bulk): from a 2xx
  // response, which items to send again (retry) and which were refused for
  // good; both empty when all were stored.
  struct ItemVerdicts {
    std::vector<size_t> retry;
    std::vector<std::pair<size_t, std::string>> refused;  // item and why
  };
  virtual Result<ItemVerdicts> CheckItems(const HttpResponse& response, size_t items) const {
    (void)response, (void)items;
    return ItemVerdicts{};
  }

  // Called after a 2xx answer to the whole request: a receiver that confirms
  // later (Splunk indexer acknowledgement) is asked here; a failure is retried.
  virtual Status Confirm(const HttpResponse& response) {
    (void)response;
    return {};
  }
  // A further request to the same receiver (for Confirm).
  HttpResponse PostTo(const std::string& url, const std::vector<std::string>& headers, const std::string& body) {
    return connection_.Post(url, headers, body, false);
  }

  const SinkConfig& config() const { return config_; }
  std::string Option(const std::string& key, const std::string& fallback = "") const {
    auto it = config_.options.find(key);
    return it == config_.options.end() || it->second.empty() ? fallback : it->second;
  }
  // `url` with `path` added unless it ends with it already.
  static std::string WithPath(std::string url, std::string_view path);
  const std::string& secret() const { return secret_; }
  // Hides the secret in text that may be shown (an error from the receiver).
  std::string Scrub(std::string text) const;

 private:
  // Sends one request's records (items already formatted); on partial item
  // failures sends the failed ones again a few times.
  Status Send(std::span<const SinkRecord> records, std::vector<std::string> items);
  Status SetAside(std::span<const SinkRecord> records, const std::string& why);

  SinkConfig config_;
  std::string secret_;
  HttpConnection connection_;
  std::optional<std::chrono::milliseconds> retry_after_;
  bool unanswered_ = false;  // the last request got no response at all
  // The batch that failed part-way: its first id and size, and how many of its
  // requests the receiver confirmed.
  std::string partial_first_id_;
  size_t partial_size_ = 0;
  size_t partial_sent_ = 0;
};

}  // namespace mcpaudit
