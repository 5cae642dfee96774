// The HTTP transport's sessions as the I/O thread keeps them: each session's
// SSE streams (the reply to one POST, or the GET stream) with the events kept
// for a client that resumes with Last-Event-ID, and the Reaper that destroys
// ended sessions' connections off the I/O thread. Internal to src/transport.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "mcpaudit/server.h"
#include "transport/http_types.h"

namespace mcpaudit::httpd {

namespace asio = boost::asio;

inline constexpr size_t kReplayEvents = 256;  // sent events kept per stream for Last-Event-ID

// One message for an SSE stream, numbered within it.
struct SseEvent {
  uint64_t seq;
  std::string data;
};

// Where the messages of some requests go: the reply to one POST (JSON or SSE),
// or the session's GET stream. Lives on the I/O thread only.
class Stream {
 public:
  Stream(asio::any_io_executor executor, uint64_t id, bool standalone)
      : id(id), standalone(standalone), signal_(executor, Clock::time_point::max()) {}

  const uint64_t id;
  const bool standalone;           // the GET stream: never finished by responses
  std::deque<SseEvent> pending;    // not yet written
  std::deque<SseEvent> sent;       // written, kept for a client that resumes
  std::set<std::string> awaiting;  // requests whose responses belong here
  bool attached = false;           // an HTTP response is writing this stream
  bool close_requested = false;    // end the HTTP response; the client resumes with GET
  bool ended = false;              // the session or the server ended

  void Push(std::string data) {
    pending.push_back({next_seq_++, std::move(data)});
    Wake();
  }
  void Wake() { signal_.cancel(); }
  bool Finished() const { return ended || (!standalone && awaiting.empty() && pending.empty()); }
  // Puts the sent events after `seq` back in front of the pending ones.
  void ReplayAfter(uint64_t seq) {
    while (!sent.empty() && sent.back().seq > seq) {
      pending.push_front(std::move(sent.back()));
      sent.pop_back();
    }
  }
  void MarkSent(SseEvent event) {
    sent.push_back(std::move(event));
    if (sent.size() > kReplayEvents) sent.pop_front();
  }
  // Returns after Wake() or after `limit`.
  asio::awaitable<void> Wait(Clock::duration limit) {
    signal_.expires_after(limit);
    beast::error_code ec;
    co_await signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

 private:
  uint64_t next_seq_ = 1;  // 0 is the priming event
  asio::steady_timer signal_;
};

// One MCP session as HTTP sees it. Lives on the I/O thread only; its
// Connection's messages are posted there.
struct Session {
  std::string key;  // in the transport's map: the id, or a private name in stateless mode
  std::string id;   // Mcp-Session-Id; empty in stateless mode
  std::string user_id;
  std::string owner;  // whose sessions it counts among: the user, or an anonymous caller's address
  std::unique_ptr<Connection> connection;
  std::string protocol_version;  // as negotiated by initialize, or named by a stateless request
  bool modern = false;           // serves one request of the stateless revision (2026-07-28)
  bool listening = false;        // that request is a subscriptions/listen
  std::map<std::string, std::shared_ptr<Stream>> by_request;
  std::map<uint64_t, std::shared_ptr<Stream>> streams;
  std::shared_ptr<Stream> standalone;
  uint64_t next_stream = 1;
  Clock::time_point last_active = Clock::now();

  std::shared_ptr<Stream> NewStream(asio::any_io_executor executor, bool is_standalone) {
    auto stream = std::make_shared<Stream>(executor, next_stream++, is_standalone);
    streams.emplace(stream->id, stream);
    return stream;
  }
  void Forget(const Stream& stream) {
    for (const auto& request : stream.awaiting) by_request.erase(request);
    if (standalone.get() == &stream) standalone.reset();
    streams.erase(stream.id);
  }
  bool Busy() const {
    return !by_request.empty() ||
           std::ranges::any_of(streams, [](auto& s) { return s.second->attached; });
  }
  void End() {
    for (auto& [id, stream] : streams) {
      stream->ended = true;
      stream->Wake();
    }
  }
};

// Connections whose calls in flight must finish before they are destroyed; that
// may take a while, so it happens here and not on the I/O thread.
class Reaper {
 public:
  Reaper() : thread_([this](std::stop_token stop) { Run(stop); }) {}
  ~Reaper() {
    thread_.request_stop();
    wake_.notify_all();
  }
  void Add(std::unique_ptr<Connection> connection) {
    if (!connection) return;
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(connection));
    wake_.notify_one();
  }

 private:
  void Run(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop.stop_requested() || !queue_.empty(); });
      if (queue_.empty()) return;
      auto connection = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      connection.reset();  // drains its calls
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Connection>> queue_;
  std::jthread thread_;  // last: stopped first
};

// An SSE event's id, "<stream>_<seq>" (EventText writes it): the stream and
// the seq, or nullopt when `text` is not one.
std::optional<std::pair<uint64_t, uint64_t>> ParseEventId(std::string_view text);
// The text of one SSE event (id, type, one data line) of stream `stream`.
std::string EventText(uint64_t stream, const SseEvent& event);

}  // namespace mcpaudit::httpd
