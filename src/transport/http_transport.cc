// Streamable HTTP on Boost.Beast: one I/O thread runs every connection as a
// C++20 coroutine (thousands of idle SSE streams cost memory, not threads);
// tool calls run on the Server's workers and their messages come back to the
// I/O thread, which routes each to the stream of the request it belongs to.
#include "mcpaudit/http_transport.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/bounded_json.h"
#include "base/crypto.h"
#include "base/free_memory.h"
#include "base/ops_log.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/toolkit.h"
#include "transport/http_guard.h"
#include "transport/http_streams.h"

namespace mcpaudit {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using httpd::AcceptsType;
using httpd::Clock;
using httpd::EventText;
using httpd::Field;
using httpd::HttpRequest;
using httpd::HttpResponse;
using httpd::Lower;
using httpd::ParseEventId;
using httpd::Reaper;
using httpd::RequestGuard;
using httpd::Session;
using httpd::SseEvent;
using httpd::Stream;
using httpd::Sv;
using nlohmann::json;

constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr auto kKeepAliveComment = std::chrono::seconds(15);
constexpr auto kWriteTimeout = std::chrono::seconds(30);

// Completion of a coroutine: an exception that escaped it is a bug, reported.
void ReportEscaped(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    OpsLog().error("http: internal error: {}", e.what());
  }
}

struct Peer {
  std::string ip;      // the socket's peer
  std::string client;  // the client, through trusted proxies
};

class HttpTransport {
 public:
  HttpTransport(SessionHost& server, HttpOptions options)
      : server_(server),
        options_(std::move(options)),
        acceptor_(io_),
        sweep_(io_),
        random_(SecureRandom()) {}

  Status Listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec)
      return Fail(ErrorCode::kInvalidArgument,
                  "--http: '" + options_.host + "' is not an IP address");
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Fail(ErrorCode::kIo, "cannot listen on " + options_.host + ":" +
                                      std::to_string(options_.port) + ": " + ec.message());
    }
    loopback_ = address.is_loopback();
    if (options_.allowed_hosts.empty() && loopback_)
      options_.allowed_hosts = {"localhost", "127.0.0.1", "[::1]"};
    for (auto& host : options_.allowed_hosts) host = Lower(host);
    for (auto& origin : options_.allowed_origins) origin = Lower(origin);
    const uint16_t port = acceptor_.local_endpoint().port();
    const std::string host = address.is_v6() ? "[" + options_.host + "]" : options_.host;
    url_ = "http://" + host + ":" + std::to_string(port) + options_.path;
    if (options_.resource_url.empty()) options_.resource_url = url_;
    return {};
  }

  const std::string& url() const { return url_; }

  // Runs the I/O thread until `stop`; then shuts down gracefully.
  void Run(std::stop_token stop) {
    asio::co_spawn(io_, Accept(), ReportEscaped);
    asio::co_spawn(io_, SweepIdleSessions(), ReportEscaped);
    auto keep_running = asio::make_work_guard(io_);  // through shutdown, when nothing else waits
    std::jthread io_thread([this] { io_.run(); });
    {
      std::mutex mutex;
      std::condition_variable stopped;
      std::stop_callback wake(stop, [&] {
        std::lock_guard lock(mutex);
        stopped.notify_all();
      });
      std::unique_lock lock(mutex);
      stopped.wait(lock, [&] { return stop.stop_requested(); });
    }
    // 1. No new connections or calls; take the connections of every session.
    std::vector<std::unique_ptr<Connection>> connections;
    RunOnIo([&] {
      stopping_ = true;
      beast::error_code ec;
      acceptor_.close(ec);
      sweep_.cancel();
      for (auto& [id, session] : sessions_) {
        session->connection->Ending(kEndShutdown);
        connections.push_back(std::move(session->connection));
      }
    });
    // 2. The calls in flight finish (a tool waiting for the client's answer is
    // told the session ended); their responses are still written.
    const auto deadline = Clock::now() + options_.shutdown_grace;
    connections.clear();
    // 3. Streams end once written; open connections close.
    RunOnIo([&] {
      for (auto& [id, session] : sessions_) session->End();
    });
    while (Clock::now() < deadline) {
      bool idle = false;
      RunOnIo([&] {
        idle = std::ranges::none_of(sessions_, [](auto& s) { return s.second->Busy(); });
      });
      if (idle) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    RunOnIo([&] {
      for (auto* socket : open_) {
        beast::error_code ec;
        socket->socket().shutdown(tcp::socket::shutdown_both, ec);
        socket->close();
      }
    });
    io_.stop();
    io_thread.join();
  }

 private:
  // Runs `work` on the I/O thread and waits for it.
  void RunOnIo(const std::function<void()>& work) {
    std::promise<void> done;
    asio::post(io_, [&] {
      work();
      done.set_value();
    });
    done.get_future().wait();
  }

  asio::awaitable<void> Accept() {
    asio::steady_timer pause(io_);
    uint64_t failures = 0;  // accept failures since the last warning
    auto last_warning = Clock::time_point();
    for (;;) {
      beast::error_code ec;
      if (open_.size() >= options_.max_connections) {
        // Full: the next connections wait in the kernel's backlog until one closes.
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (stopping_) co_return;
        continue;
      }
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (stopping_ || ec == asio::error::operation_aborted) co_return;
        // Out of descriptors (EMFILE) the listening socket stays ready: back off
        // instead of spinning, and say so once in a while, not on every attempt.
        ++failures;
        if (Clock::now() - last_warning > std::chrono::seconds(10)) {
          OpsLog().warn("http: accept failed {} time(s) since the last warning: {}", failures,
                        ec.message());
          failures = 0;
          last_warning = Clock::now();
        }
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      asio::co_spawn(io_, ServeConnection(std::move(socket)), ReportEscaped);
    }
  }

  // Ends sessions that saw no request for session_timeout.
  asio::awaitable<void> SweepIdleSessions() {
    for (;;) {
      sweep_.expires_after(
          std::min<Clock::duration>(options_.session_timeout, std::chrono::seconds(60)));
      beast::error_code ec;
      co_await sweep_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopping_) co_return;
      const auto now = Clock::now();
      std::vector<std::string> idle;
      for (auto& [id, session] : sessions_) {
        if (now - session->last_active > options_.session_timeout && !session->Busy())
          idle.push_back(id);
      }
      for (auto& id : idle) {
        OpsLog().info("http: session {} ended after {} s without requests", id,
                      options_.session_timeout.count());
        EndSession(id, kEndExpired);
      }
    }
  }

  void EndSession(const std::string& id, std::string_view reason = kEndClosed) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    // At shutdown the connections are taken (and ended) first; their sessions go after.
    if (auto& connection = it->second->connection) {
      connection->Ending(reason);
      it->second->End();
      reaper_.Add(std::move(connection));
    }
    sessions_.erase(it);
  }

  asio::awaitable<void> ServeConnection(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    open_.insert(&stream);
    beast::error_code ec;
    const auto remote = stream.socket().remote_endpoint(ec);
    const std::string peer_ip = ec ? std::string() : remote.address().to_string();
    beast::flat_buffer buffer;
    bool first = true;
    while (!stopping_) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.max_body_bytes);
      parser.header_limit(kMaxHeaderBytes);
      stream.expires_after(first ? options_.request_timeout : options_.idle_timeout);
      first = false;
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        co_await Write(
            stream, Refused(parser.get(), peer_ip, nullptr, http::status::payload_too_large,
                            "Request body larger than " + std::to_string(options_.max_body_bytes) +
                                " bytes",
                            "payload_too_large"));
        break;
      }
      if (ec == http::error::header_limit) {
        co_await Write(stream, Refused(parser.get(), peer_ip, nullptr,
                                       http::status::request_header_fields_too_large,
                                       "Request headers too large", "headers_too_large"));
        break;
      }
      if (ec) break;  // closed, timed out or not HTTP
      stream.expires_never();
      HttpRequest request = parser.release();
      const bool keep_alive = co_await Handle(stream, request, peer_ip) && request.keep_alive();
      if (request.body().size() > kLargeMessageBytes) {
        request = {};
        ReleaseFreeMemory(/*often_at_most=*/true);  // the I/O thread
      }
      if (!keep_alive) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    open_.erase(&stream);
  }

  // A response with a JSON-RPC error body (id null), as the MCP SDKs send.
  HttpResponse Refuse(const HttpRequest& request, http::status status, std::string_view message,
                      int code = rpc::kInvalidRequest) {
    return Json(request, status, jsonrpc::Error(nullptr, code, message));
  }

  // The same, recorded as a refused request of the caller (`identity`, when
  // authenticated) with `reason`.
  HttpResponse Refused(const HttpRequest& request, const std::string& peer_ip,
                       const Identity* identity, http::status status, std::string_view message,
                       std::string_view reason) {
    RefusedRequest refusal;
    refusal.code = static_cast<int>(status);
    refusal.http_status = static_cast<int>(status);
    refusal.message = message;
    refusal.reason = reason;
    server_.RecordRefusal(CallerOf(request, guard_.ClientIp(request, peer_ip), identity), refusal);
    return Refuse(request, status, message,
                  status == http::status::not_found ? -32001 : rpc::kInvalidRequest);
  }

  // A request that would wait for a worker: the I/O thread answers it at once
  // (it never waits, so other clients are not held up), and the caller may
  // try again in a second. Recorded (floods summarised).
  HttpResponse Busy(const HttpRequest& request, const std::string& client_ip,
                    const Identity& identity, const jsonrpc::Message& message) {
    constexpr std::string_view kText = "Service Unavailable: every worker is busy; retry after 1 s";
    RefusedRequest refusal = jsonrpc::RefusalOf(message, rpc::kServerBusy, kText, "server_busy");
    refusal.http_status = 503;
    server_.RecordRefusal(CallerOf(request, client_ip, &identity), refusal);
    HttpResponse busy = Json(request, http::status::service_unavailable,
                             jsonrpc::Error(message.id, rpc::kServerBusy, kText));
    busy.set(http::field::retry_after, "1");
    return busy;
  }

  // What is known of the caller of `request` before (or after) authentication.
  ConnectionInfo CallerOf(const HttpRequest& request, const std::string& client_ip,
                          const Identity* identity) const {
    ConnectionInfo info;
    info.transport = "http";
    info.client_ip = client_ip;
    info.user_agent = Field(request, http::field::user_agent).substr(0, 256);
    info.session_id = Field(request, "Mcp-Session-Id").substr(0, 128);
    if (identity) info.identity = *identity;
    return info;
  }

  // 405, naming the methods this endpoint takes.
  HttpResponse NotAllowed(const HttpRequest& request, std::string_view message) {
    HttpResponse response = Refuse(request, http::status::method_not_allowed, message);
    response.set(http::field::allow, options_.stateless ? "POST" : "GET, POST, DELETE");
    return response;
  }

  HttpResponse Json(const HttpRequest& request, http::status status, std::string body) {
    HttpResponse response = Empty(request, status);
    response.set(http::field::content_type, "application/json");
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
  }

  HttpResponse Empty(const HttpRequest& request, http::status status) {
    HttpResponse response(status, request.version());
    response.keep_alive(request.keep_alive());
    RequestGuard::AddCors(request, response);
    response.prepare_payload();
    return response;
  }

  asio::awaitable<bool> Write(beast::tcp_stream& stream, HttpResponse response) {
    beast::error_code ec;
    stream.expires_after(kWriteTimeout);
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    stream.expires_never();
    co_return !ec && response.keep_alive();
  }

  // Handles one request; returns whether the connection can serve another.
  asio::awaitable<bool> Handle(beast::tcp_stream& stream, HttpRequest& request,
                               const std::string& peer_ip) {
    std::string_view target = Sv(request.target());
    target = target.substr(0, target.find('?'));
    if (target == kHealthPath || (target == kReadyPath && options_.readiness)) {
      if (request.method() != http::verb::get) {
        HttpResponse refused = NotAllowed(request, "Method Not Allowed");
        refused.set(http::field::allow, "GET");
        co_return co_await Write(stream, std::move(refused));
      }
      Readiness answer{true, R"({"status":"alive"})"};
      if (target == kReadyPath) answer = options_.readiness();
      // No CORS headers: no web page reads these.
      HttpResponse response(answer.ready ? http::status::ok : http::status::service_unavailable,
                            request.version());
      response.keep_alive(request.keep_alive());
      response.set(http::field::content_type, "application/json");
      response.set(http::field::cache_control, "no-store");
      response.body() = std::move(answer.body);
      response.prepare_payload();
      co_return co_await Write(stream, std::move(response));
    }
    if (!guard_.HostAllowed(request)) {
      co_return co_await Write(
          stream, Refused(request, peer_ip, nullptr, http::status::forbidden,
                          "Forbidden: Host header not allowed (DNS rebinding protection)",
                          "host_not_allowed"));
    }
    if (!guard_.OriginAllowed(request)) {
      co_return co_await Write(stream,
                               Refused(request, peer_ip, nullptr, http::status::forbidden,
                                       "Forbidden: Origin not allowed", "origin_not_allowed"));
    }
    if (target.starts_with("/.well-known/oauth-protected-resource") && options_.authenticator &&
        request.method() == http::verb::get) {
      json metadata = {{"resource", options_.resource_url},
                       {"authorization_servers", options_.authorization_servers},
                       {"bearer_methods_supported", {"header"}}};
      co_return co_await Write(stream, Json(request, http::status::ok, metadata.dump()));
    }
    const std::string client_ip = guard_.ClientIp(request, peer_ip);
    if (target == kMetricsPath && options_.metrics) {  // for callers the MCP endpoint would accept
      if (request.method() != http::verb::get)
        co_return co_await Write(stream, NotAllowed(request, "Method Not Allowed"));
      if (auto refused = Authenticate(request, client_ip); !refused)
        co_return co_await Write(stream, std::move(refused.error()));
      HttpResponse response = Empty(request, http::status::ok);
      response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response.body() = options_.metrics();
      response.prepare_payload();
      co_return co_await Write(stream, std::move(response));
    }
    if (target.starts_with(kReadApiPrefix) && options_.read_api) {
      if (request.method() == http::verb::options)
        co_return co_await Write(stream, Preflight(request));
      auto caller = ReadApiCaller(request, client_ip, peer_ip);
      if (!caller) co_return co_await Write(stream, std::move(caller.error()));
      const ReadApiRequest read = ReadRequestOf(request, client_ip, peer_ip, std::move(*caller));
      ReadApiResponse answer = co_await OffTheIoThread(options_.read_api, read);
      co_return co_await Answer(stream, request, answer);
    }
    if ((target == "/console" || target.starts_with("/console/")) && options_.console) {
      // The pages hold no record; the sign-in checks its credential itself.
      if (request.method() != http::verb::get && !guard_.FromThisOrigin(request, peer_ip)) {
        co_return co_await Write(
            stream, Refused(request, peer_ip, nullptr, http::status::forbidden,
                            "Forbidden: the console's forms are sent from its own pages",
                            "origin_not_allowed"));
      }
      const ReadApiRequest read = ReadRequestOf(request, client_ip, peer_ip, Identity{});
      // A page is compiled in and answered at once; a form is recorded, off the I/O thread.
      ReadApiResponse answer;
      if (request.method() == http::verb::get) {
        answer = options_.console(read);
      } else {
        answer = co_await OffTheIoThread(options_.console, read);
      }
      co_return co_await Answer(stream, request, answer);
    }
    if (!options_.serve_mcp) {
      co_return co_await Write(
          stream, Refuse(request, http::status::not_found,
                         "Not Found: this listener serves " + std::string(kReadApiPrefix)));
    }
    if (target != options_.path) {
      co_return co_await Write(stream, Refuse(request, http::status::not_found,
                                              "Not Found: the MCP endpoint is " + options_.path));
    }
    if (request.method() == http::verb::options)
      co_return co_await Write(stream, Preflight(request));
    if (stopping_) {
      co_return co_await Write(stream, Refuse(request, http::status::service_unavailable,
                                              "Service Unavailable: the server is shutting down"));
    }
    auto authenticated = Authenticate(request, client_ip);
    if (!authenticated) co_return co_await Write(stream, std::move(authenticated.error()));
    const Identity identity = std::move(*authenticated);
    switch (request.method()) {
      case http::verb::post:
        co_return co_await Post(stream, request, client_ip, identity);
      case http::verb::get:
        co_return co_await Get(stream, request, client_ip, identity);
      case http::verb::delete_:
        co_return co_await Delete(stream, request, client_ip, identity);
      default:
        co_return co_await Write(stream, NotAllowed(request, "Method Not Allowed"));
    }
  }

  ReadApiRequest ReadRequestOf(const HttpRequest& request, const std::string& client_ip,
                               const std::string& peer_ip, Identity caller) const {
    return {std::string(request.method_string()),
            std::string(request.target()),
            std::move(caller),
            client_ip,
            request.body(),
            std::string(Field(request, http::field::cookie)),
            guard_.ForwardedOverHttps(request, peer_ip)};
  }

  // Runs `call` on the read pool (a read waits for its database); nothing it
  // throws crosses back: `on_throw` is the answer then. (Coroutines here take
  // class parameters by reference: GCC 12 destroys a by-value one twice.)
  template <typename T>
  asio::awaitable<T> OnReadPool(const std::string& what, const std::function<T()>& call,
                                const T& on_throw) {
    co_return co_await asio::co_spawn(
        read_pool_,
        [&]() -> asio::awaitable<T> {
          try {
            co_return call();
          } catch (const std::exception& e) {
            OpsLog().error("{}: {}", what, e.what());
            co_return on_throw;
          }
        },
        asio::use_awaitable);
  }

  // `handler`'s answer to `read`, from the read pool.
  asio::awaitable<ReadApiResponse> OffTheIoThread(
      const std::function<ReadApiResponse(const ReadApiRequest&)>& handler,
      const ReadApiRequest& read) {
    const std::function<ReadApiResponse()> call = [&] { return handler(read); };
    const ReadApiResponse internal_error{
        500, "application/json", R"({"error":"internal error"})", {}, {}};
    co_return co_await OnReadPool(read.target, call, internal_error);
  }

  // Writes `answer`: whole, or its body streamed chunk by chunk (then the connection closes).
  asio::awaitable<bool> Answer(beast::tcp_stream& stream, const HttpRequest& request,
                               ReadApiResponse& answer) {
    if (!answer.next_chunk) {
      HttpResponse response = Empty(request, static_cast<http::status>(answer.status));
      response.set(http::field::content_type, answer.content_type);
      response.set(http::field::cache_control, "no-store");
      for (const auto& [name, value] : answer.headers) response.insert(name, value);
      response.body() = std::move(answer.body);
      response.prepare_payload();
      co_return co_await Write(stream, std::move(response));
    }
    http::response<http::empty_body> head(static_cast<http::status>(answer.status),
                                          request.version());
    head.set(http::field::content_type, answer.content_type);
    head.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : answer.headers) head.insert(name, value);
    RequestGuard::AddCors(request, head);
    head.keep_alive(false);
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer(head);
    beast::error_code ec;
    stream.expires_after(kWriteTimeout);
    co_await http::async_write_header(stream, serializer,
                                      asio::redirect_error(asio::use_awaitable, ec));
    std::string chunk = std::move(answer.body);
    auto quiet_since = std::chrono::steady_clock::now();
    bool ended = false;  // the body is whole: only then does the last chunk say so
    while (!ec) {
      if (!chunk.empty()) {
        stream.expires_after(kWriteTimeout);
        co_await asio::async_write(stream, http::make_chunk(asio::buffer(chunk)),
                                   asio::redirect_error(asio::use_awaitable, ec));
        quiet_since = std::chrono::steady_clock::now();
        if (ec) break;
      }
      if (stopping_) break;  // cut short: the client sees the transfer incomplete
      using Next = std::optional<std::optional<std::string>>;  // nullopt: it threw
      const std::function<Next()> call = [&] { return Next(answer.next_chunk()); };
      const Next threw;
      const std::string what(request.target());
      Next next = co_await OnReadPool(what, call, threw);
      if (!next) break;  // it threw: cut short
      if (!*next) {
        ended = true;
        break;
      }
      chunk = std::move(**next);
      if (!chunk.empty()) continue;
      // Nothing yet (a tail): ask again in a second; now and then a comment finds a client that
      // went away.
      asio::steady_timer pause(stream.get_executor(), std::chrono::seconds(1));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      ec = {};
      if (std::chrono::steady_clock::now() - quiet_since >= kKeepAliveComment &&
          answer.content_type.starts_with("text/event-stream"))
        chunk = ": keep-alive\n\n";
    }
    if (!ec && ended) {
      stream.expires_after(kWriteTimeout);
      co_await asio::async_write(stream, http::make_chunk_last(),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    stream.expires_never();
    co_return false;
  }

  // The read API's caller: by the credential sent, else by the console's
  // session cookie; or the 401 that refuses them (recorded as auth_failure).
  std::expected<Identity, HttpResponse> ReadApiCaller(const HttpRequest& request,
                                                      const std::string& client_ip,
                                                      const std::string& peer_ip) {
    const bool credential_sent = request.find(http::field::authorization) != request.end() ||
                                 request.find("X-API-Key") != request.end();
    const std::string_view cookie = Field(request, http::field::cookie);
    if (credential_sent || !options_.session_caller ||
        cookie.find(std::string(kConsoleCookie) + "=") == cookie.npos)
      return Authenticate(request, client_ip);
    auto caller = options_.session_caller(cookie);
    if (!caller)
      return std::unexpected(Unauthorized(
          request, {"invalid_token", "the console session has ended: sign in again"}, client_ip));
    if (request.method() != http::verb::get && !guard_.FromThisOrigin(request, peer_ip))
      return std::unexpected(
          Refused(request, peer_ip, &*caller, http::status::forbidden,
                  "Forbidden: a console session changes nothing from another origin",
                  "origin_not_allowed"));
    caller->auth_method = "console_session/" +
                          caller->auth_method;  // the records tell it from the credential's own use
    return std::move(*caller);
  }

  // Who is calling, or the 401 that refuses them (recorded as auth_failure).
  std::expected<Identity, HttpResponse> Authenticate(const HttpRequest& request,
                                                     const std::string& client_ip) {
    if (!options_.authenticator) return options_.anonymous;
    Credentials credentials{Field(request, http::field::authorization),
                            Field(request, "X-API-Key")};
    auto authenticated = options_.authenticator->Authenticate(credentials);
    if (!authenticated)
      return std::unexpected(Unauthorized(request, authenticated.error(), client_ip));
    return std::move(*authenticated);
  }

  HttpResponse Preflight(const HttpRequest& request) {
    HttpResponse response = Empty(request, http::status::no_content);
    response.set(http::field::access_control_allow_methods, "GET, POST, DELETE, OPTIONS");
    response.set(http::field::access_control_allow_headers,
                 "Content-Type, Accept, Authorization, X-API-Key, X-Access-Reason, Mcp-Session-Id, "
                 "MCP-Protocol-Version, Last-Event-ID");
    response.set(http::field::access_control_max_age, "600");
    return response;
  }

  HttpResponse Unauthorized(const HttpRequest& request, const AuthFailure& failure,
                            const std::string& client_ip) {
    RefusedRequest refusal;
    refusal.event_type = "auth_failure";
    refusal.code = 401;
    refusal.http_status = 401;
    refusal.message = failure.description;
    refusal.reason = failure.error;
    server_.RecordRefusal(CallerOf(request, client_ip, nullptr), refusal);
    HttpResponse response =
        Refuse(request, http::status::unauthorized, "Unauthorized: " + failure.description);
    // The description may quote what the caller sent (a key id): only what a
    // quoted-string holds safely goes into the header (RFC 6750 §3).
    std::string description;
    for (char c : failure.description)
      description.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
    std::string challenge = "Bearer error=\"" + failure.error + "\", error_description=\"" +
                            description + "\", resource_metadata=\"" +
                            guard_.ResourceMetadataUrl() + "\"";
    response.set(http::field::www_authenticate, challenge);
    return response;
  }

  // The session named by the request's Mcp-Session-Id, or the response that refuses it.
  std::variant<Session*, HttpResponse> FindSession(const HttpRequest& request,
                                                   const std::string& client_ip,
                                                   const Identity& identity) {
    auto header = request.find("Mcp-Session-Id");
    if (header == request.end()) {
      return Refused(request, client_ip, &identity, http::status::bad_request,
                     "Bad Request: Mcp-Session-Id header is required", "missing_session_id");
    }
    auto it = sessions_.find(std::string(Sv(header->value())));
    // A session belongs to the user who opened it: to anyone else it does not
    // exist (and someone else's session id in the record shows who tried).
    if (it == sessions_.end() || it->second->user_id != identity.user_id) {
      return Refused(request, client_ip, &identity, http::status::not_found,
                     "Not Found: unknown or ended session",
                     it == sessions_.end() ? "unknown_session" : "session_of_another_user");
    }
    it->second->last_active = Clock::now();
    return it->second.get();
  }

  std::optional<HttpResponse> CheckProtocolVersion(const HttpRequest& request) {
    auto header = request.find("MCP-Protocol-Version");
    if (header == request.end()) return std::nullopt;  // 2025-03-26 clients do not send it
    for (std::string_view known : kProtocolVersions) {
      if (known == Sv(header->value())) return std::nullopt;
    }
    return Refuse(
        request, http::status::bad_request,
        "Bad Request: unsupported MCP-Protocol-Version '" + std::string(Sv(header->value())) + "'");
  }

  // An Mcp-Param-* header (x-mcp-header, 2026-07-28), whatever its case.
  static bool IsParamHeader(std::string_view name) {
    return name.size() > modern::kParamHeaderPrefix.size() &&
           StartsWithIgnoringCase(name, modern::kParamHeaderPrefix);
  }

  static MessageContext MessageContextOf(const HttpRequest& request) {
    MessageContext context{std::string(Field(request, "X-Access-Reason")), {}};
    for (const auto& field : request) {
      if (IsParamHeader(Sv(field.name_string())))
        context.param_headers.emplace_back(Sv(field.name_string()), Sv(field.value()));
    }
    return context;
  }

  MessageSender SenderFor(std::weak_ptr<Session> session) {
    return [this, session](OutgoingMessage message) {
      asio::post(io_, [this, session, message = std::move(message)]() mutable {
        if (auto alive = session.lock()) Deliver(*alive, std::move(message));
      });
    };
  }

  // On the I/O thread: the message goes to the stream of its request, else to the GET stream.
  void Deliver(Session& session, OutgoingMessage message) {
    std::shared_ptr<Stream> target;
    if (!message.request_id.empty()) {
      if (auto it = session.by_request.find(message.request_id); it != session.by_request.end()) {
        target = it->second;
        if (message.is_response) {
          target->awaiting.erase(message.request_id);
          session.by_request.erase(it);
        }
      }
    }
    if (!target) target = session.standalone;
    if (!target) {
      OpsLog().debug("http: session {}: no stream open for a server message; not delivered",
                     session.id);
      return;
    }
    if (session.protocol_version.empty() && message.is_response) {
      // The response to initialize: it says which revision this session speaks.
      json response = ParseWithin(message.text, kMaxMessageDepth);
      if (response.is_object() && response.contains("result") && response["result"].is_object()) {
        session.protocol_version = response["result"].value("protocolVersion", "");
      }
    }
    if (message.close_stream) {  // end the HTTP response now; the client resumes with GET
      // Only 2025-11-25 clients get an event id to resume from (the priming event).
      if (session.protocol_version < "2025-11-25" || session.id.empty()) return;
      target->close_requested = true;
      target->Wake();
      return;
    }
    target->Push(std::move(message.text));
  }

  // Before a session opens: the user's least recently used idle session ends
  // when they hold too many; with too many in all, the refusal.
  std::optional<HttpResponse> MakeRoomForSession(const HttpRequest& request,
                                                 const std::string& client_ip,
                                                 const Identity& identity) {
    size_t owned = 0;
    Session* oldest = nullptr;
    const std::string owner = OwnerOf(identity, client_ip);
    for (auto& [key, session] : sessions_) {
      if (session->owner != owner || session->id.empty()) continue;
      ++owned;
      if (!session->Busy() && (!oldest || session->last_active < oldest->last_active))
        oldest = session.get();
    }
    if (owned >= options_.max_sessions_per_user) {
      if (!oldest) {
        return Refused(
            request, client_ip, &identity, http::status::too_many_requests,
            "Too Many Requests: " + std::to_string(owned) + " sessions of this caller are busy",
            "too_many_sessions");
      }
      OpsLog().info("http: session {} of {} ended to make room for a new one", oldest->id, owner);
      EndSession(oldest->key, kEndEvicted);
    }
    if (sessions_.size() >= options_.max_sessions) {
      HttpResponse refused =
          Refused(request, client_ip, &identity, http::status::service_unavailable,
                  "Service Unavailable: too many sessions open; retry later", "too_many_sessions");
      refused.set(http::field::retry_after, "60");
      return refused;
    }
    return std::nullopt;
  }

  // Anonymous callers share one name: their sessions are counted per address.
  static std::string OwnerOf(const Identity& identity, const std::string& client_ip) {
    return identity.auth_method == "none" ? "address " + client_ip : "user " + identity.user_id;
  }

  std::shared_ptr<Session> NewSession(const HttpRequest& request, const std::string& client_ip,
                                      const Identity& identity, bool registered,
                                      bool stateless_request = false) {
    auto session = std::make_shared<Session>();
    if (registered) {
      std::array<uint8_t, 16> bytes;
      random_(bytes);
      session->id = HexEncode(bytes);
      session->key = session->id;
    } else {
      session->key = "~" + std::to_string(++stateless_count_);  // '~' never starts a session id
    }
    session->user_id = identity.user_id;
    session->owner = OwnerOf(identity, client_ip);
    ConnectionInfo info;
    info.transport = "http";
    info.session_id = session->id;
    info.client_ip = client_ip;
    info.user_agent = Field(request, http::field::user_agent);
    info.identity = identity;
    info.stateless_request = stateless_request;
    session->connection = server_.Connect(std::move(info), SenderFor(session));
    sessions_.emplace(session->key, session);
    return session;
  }

  asio::awaitable<bool> Post(beast::tcp_stream& stream, HttpRequest& request,
                             const std::string& client_ip, const Identity& identity) {
    if (!AcceptsType(Field(request, http::field::accept), "application/json") ||
        !AcceptsType(Field(request, http::field::accept), "text/event-stream")) {
      co_return co_await Write(stream,
                               Refuse(request, http::status::not_acceptable,
                                      "Not Acceptable: Accept must list application/json and "
                                      "text/event-stream"));
    }
    if (Lower(Field(request, http::field::content_type)).find("application/json") ==
        std::string::npos) {
      co_return co_await Write(
          stream, Refuse(request, http::status::unsupported_media_type,
                         "Unsupported Media Type: Content-Type must be application/json"));
    }
    auto decoded = jsonrpc::Decode(request.body(), options_.max_json_depth);
    if (auto* error = std::get_if<jsonrpc::DecodeError>(&decoded)) {
      RefusedRequest refusal = jsonrpc::RefusalOf(*error);
      refusal.http_status = 400;
      server_.RecordRefusal(CallerOf(request, client_ip, &identity), refusal);
      co_return co_await Write(stream,
                               Json(request, http::status::bad_request,
                                    jsonrpc::Error(error->id, error->code, error->message)));
    }
    auto& message = std::get<jsonrpc::Message>(decoded);
    if (message.kind != jsonrpc::Message::Kind::kResponse &&
        (modern::Declares(message.params) || message.method == "server/discover" ||
         modern::IsVersion(Field(request, "MCP-Protocol-Version"))))
      co_return co_await PostModern(stream, request, client_ip, identity, message);
    if (auto refused = CheckProtocolVersion(request))
      co_return co_await Write(stream, std::move(*refused));
    const bool would_wait =
        message.kind == jsonrpc::Message::Kind::kRequest && server_.WouldWait(message.method);
    const bool is_initialize =
        message.kind == jsonrpc::Message::Kind::kRequest && message.method == "initialize";

    std::shared_ptr<Session> session;
    // A request that would wait is answered "busy" once its session is known
    // (or before one is made for it).
    if (options_.stateless) {
      if (would_wait) co_return co_await Write(stream, Busy(request, client_ip, identity, message));
      session = NewSession(request, client_ip, identity, false);
      if (!is_initialize) {
        // Nothing remembers an initialize: the session starts as if it had one.
        auto header = request.find("MCP-Protocol-Version");
        session->protocol_version = header == request.end()
                                        ? std::string(std::end(kProtocolVersions)[-1])
                                        : std::string(Sv(header->value()));
        session->connection->AssumeInitialized(session->protocol_version);
      }
    } else if (is_initialize) {
      if (request.find("Mcp-Session-Id") != request.end()) {
        co_return co_await Write(
            stream, Refuse(request, http::status::bad_request,
                           "Bad Request: initialize opens a new session; send it without "
                           "Mcp-Session-Id"));
      }
      if (would_wait) co_return co_await Write(stream, Busy(request, client_ip, identity, message));
      if (auto refused = MakeRoomForSession(request, client_ip, identity)) {
        co_return co_await Write(stream, std::move(*refused));
      }
      session = NewSession(request, client_ip, identity, true);
    } else {
      auto found = FindSession(request, client_ip, identity);
      if (auto* refused = std::get_if<HttpResponse>(&found))
        co_return co_await Write(stream, std::move(*refused));
      session = sessions_.at(std::get<Session*>(found)->id);
      if (would_wait) co_return co_await Write(stream, Busy(request, client_ip, identity, message));
    }

    if (message.kind != jsonrpc::Message::Kind::kRequest) {
      session->connection->Receive(std::move(message), request.body(), MessageContextOf(request));
      if (options_.stateless) EndSession(session->key);
      co_return co_await Write(stream, Empty(request, http::status::accepted));
    }
    const std::string request_id = jsonrpc::IdKey(message.id);
    if (session->by_request.contains(request_id)) {
      co_return co_await Write(stream,
                               Json(request, http::status::conflict,
                                    jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                                   "Invalid Request: id " + request_id +
                                                       " is already in use in this session")));
    }
    auto reply = session->NewStream(io_.get_executor(), false);
    reply->awaiting.insert(request_id);
    session->by_request.emplace(request_id, reply);
    session->connection->Receive(std::move(message), request.body(), MessageContextOf(request));
    const bool keep_alive = co_await Reply(stream, request, *session, reply, true);
    if (options_.stateless) EndSession(session->key);
    co_return keep_alive;
  }

  // A request of the stateless revision (2026-07-28): its headers must say
  // what its body says; it is served by a session of its own that ends with it.
  asio::awaitable<bool> PostModern(beast::tcp_stream& stream, HttpRequest& request,
                                   const std::string& client_ip, const Identity& identity,
                                   jsonrpc::Message& message) {
    if (message.kind == jsonrpc::Message::Kind::kNotification)  // none is defined over HTTP
      co_return co_await Write(stream, Empty(request, http::status::accepted));
    ConnectionInfo caller = CallerOf(request, client_ip, &identity);
    caller.session_id.clear();  // Mcp-Session-Id means nothing in this revision
    auto refuse = [&](int code, const std::string& text, const json& data, std::string reason,
                      const modern::RequestMeta* meta) {
      RefusedRequest refusal = jsonrpc::RefusalOf(message, code, text, std::move(reason));
      refusal.http_status = 400;
      if (meta) {
        refusal.protocol_version = meta->protocol_version;
        refusal.client = meta->client;
      }
      server_.RecordRefusal(caller, refusal);
      return Json(request, http::status::bad_request, jsonrpc::Error(message.id, code, text, data));
    };
    auto meta = modern::ReadRequestMeta(message.params);
    if (!meta) {
      const modern::MetaError& error = meta.error();
      co_return co_await Write(
          stream, refuse(error.code, error.message, error.data, error.reason, nullptr));
    }
    const auto header = [&](const char* name) -> std::optional<std::string_view> {
      auto it = request.find(name);
      return it == request.end() ? std::nullopt : std::optional(Sv(it->value()));
    };
    std::optional<std::string> mismatch;
    // A header sent twice has no one value: an intermediary may have read the other.
    for (const char* name : {"MCP-Protocol-Version", "Mcp-Method", "Mcp-Name"}) {
      if (!mismatch && request.count(name) > 1)
        mismatch = "Header mismatch: the " + std::string(name) + " header is sent more than once";
    }
    if (!mismatch) {
      mismatch = modern::HeaderMismatch(message, header("MCP-Protocol-Version"),
                                        header("Mcp-Method"), header("Mcp-Name"));
    }
    if (!mismatch && message.method == "tools/call") {
      // The parameters its tool mirrors into Mcp-Param-* headers (x-mcp-header).
      for (const auto& field : request) {
        const std::string name(Sv(field.name_string()));
        if (!mismatch && IsParamHeader(name) && request.count(name) > 1)
          mismatch = "Header mismatch: the " + name + " header is sent more than once";
      }
      if (!mismatch) {
        mismatch = server_.ParamHeaderMismatch(
            jsonrpc::StringMember(message.params, "name"),
            message.params.value("arguments", json::object()),
            [&](const std::string& name) { return header(name.c_str()); });
      }
    }
    if (mismatch) {
      co_return co_await Write(
          stream, refuse(modern::kHeaderMismatch, *mismatch, nullptr, "header_mismatch", &*meta));
    }
    if (server_.WouldWait(message.method))
      co_return co_await Write(stream, Busy(request, client_ip, identity, message));
    const bool listen = message.method == "subscriptions/listen";
    if (listen) {
      // Subscriptions stay open: a caller holds as many as it may hold sessions.
      const std::string owner = OwnerOf(identity, client_ip);
      const auto held = std::ranges::count_if(sessions_, [&](const auto& entry) {
        return entry.second->listening && entry.second->owner == owner;
      });
      if (static_cast<size_t>(held) >= options_.max_sessions_per_user) {
        co_return co_await Write(
            stream, Refused(request, client_ip, &identity, http::status::too_many_requests,
                            "Too Many Requests: this caller holds " + std::to_string(held) +
                                " subscriptions already",
                            "too_many_subscriptions"));
      }
    }
    std::shared_ptr<Session> session =
        NewSession(request, client_ip, identity, false, /*stateless_request=*/true);
    session->protocol_version = meta->protocol_version;
    session->modern = true;
    session->listening = listen;
    const std::string request_id = jsonrpc::IdKey(message.id);
    auto reply = session->NewStream(io_.get_executor(), false);
    reply->awaiting.insert(request_id);
    session->by_request.emplace(request_id, reply);
    session->connection->Receive(std::move(message), request.body(), MessageContextOf(request));
    const bool keep_alive = co_await Reply(stream, request, *session, reply, true);
    EndSession(session->key);
    co_return keep_alive;
  }

  // The HTTP status of a stateless request's JSON answer: its error's, as
  // 2026-07-28 asks (an unknown method is a 404, a request it cannot serve a 400).
  static http::status ModernStatus(std::string_view answer) {
    if (!answer.starts_with("{\"error\":")) return http::status::ok;  // errors are written sorted
    const json response = ParseWithin(answer, kMaxMessageDepth);
    const int code = response.is_object() && response["error"].is_object()
                         ? jsonrpc::IntMember(response["error"], "code")
                         : 0;
    if (code == rpc::kMethodNotFound) return http::status::not_found;
    if (code == modern::kHeaderMismatch || code == modern::kUnsupportedProtocolVersion)
      return http::status::bad_request;
    return http::status::ok;
  }

  asio::awaitable<bool> Get(beast::tcp_stream& stream, HttpRequest& request,
                            const std::string& client_ip, const Identity& identity) {
    if (options_.stateless) {
      co_return co_await Write(
          stream,
          NotAllowed(request,
                     "Method Not Allowed: this server is stateless; it has no stream to GET"));
    }
    if (!AcceptsType(Field(request, http::field::accept), "text/event-stream")) {
      co_return co_await Write(stream,
                               Refuse(request, http::status::not_acceptable,
                                      "Not Acceptable: Accept must list text/event-stream"));
    }
    if (auto refused = CheckProtocolVersion(request))
      co_return co_await Write(stream, std::move(*refused));
    auto found = FindSession(request, client_ip, identity);
    if (auto* refused = std::get_if<HttpResponse>(&found))
      co_return co_await Write(stream, std::move(*refused));
    std::shared_ptr<Session> session = sessions_.at(std::get<Session*>(found)->id);

    std::shared_ptr<Stream> target;
    if (auto last = request.find("Last-Event-ID"); last != request.end()) {
      // "<stream>_<seq>": resume that stream after that event.
      const std::string value(Sv(last->value()));
      if (auto position = ParseEventId(value)) {
        if (auto it = session->streams.find(position->first); it != session->streams.end()) {
          target = it->second;
          target->ReplayAfter(position->second);
        }
      }
      if (!target) {
        co_return co_await Write(
            stream, Refuse(request, http::status::not_found,
                           "Not Found: no stream to resume after event '" + value + "'"));
      }
      if (target->attached) {
        co_return co_await Write(stream, Refuse(request, http::status::conflict,
                                                "Conflict: that stream is already being read"));
      }
    } else {
      if (session->standalone && session->standalone->attached) {
        co_return co_await Write(stream,
                                 Refuse(request, http::status::conflict,
                                        "Conflict: this session already has a GET stream open"));
      }
      if (!session->standalone) session->standalone = session->NewStream(io_.get_executor(), true);
      target = session->standalone;
    }
    co_return co_await Reply(stream, request, *session, target, false);
  }

  asio::awaitable<bool> Delete(beast::tcp_stream& stream, HttpRequest& request,
                               const std::string& client_ip, const Identity& identity) {
    if (options_.stateless) {
      co_return co_await Write(
          stream,
          NotAllowed(request,
                     "Method Not Allowed: this server is stateless; there is no session to end"));
    }
    auto found = FindSession(request, client_ip, identity);
    if (auto* refused = std::get_if<HttpResponse>(&found))
      co_return co_await Write(stream, std::move(*refused));
    EndSession(std::get<Session*>(found)->key);
    co_return co_await Write(stream, Empty(request, http::status::ok));
  }

  // Answers a request with the messages of `reply`: a single JSON response when
  // its first message is the response itself (and `json_allowed`), else an SSE
  // stream that ends once every awaited response has been written.
  asio::awaitable<bool> Reply(beast::tcp_stream& stream, const HttpRequest& request,
                              Session& session, std::shared_ptr<Stream> reply, bool json_allowed) {
    reply->attached = true;
    auto detach = [&] {
      reply->attached = false;
      if (reply->Finished()) session.Forget(*reply);
    };
    if (json_allowed) {
      while (reply->pending.empty() && !reply->close_requested && !reply->ended) {
        co_await reply->Wait(std::chrono::hours(24));
      }
      if (reply->awaiting.empty() && reply->pending.size() == 1) {
        const http::status status =
            session.modern ? ModernStatus(reply->pending.front().data) : http::status::ok;
        HttpResponse response = Json(request, status, std::move(reply->pending.front().data));
        reply->pending.clear();
        if (!session.id.empty()) response.set("Mcp-Session-Id", session.id);
        detach();
        co_return co_await Write(stream, std::move(response));
      }
    }
    http::response<http::empty_body> head(http::status::ok, request.version());
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    if (!session.id.empty()) head.set("Mcp-Session-Id", session.id);
    RequestGuard::AddCors(request, head);
    head.keep_alive(request.keep_alive());
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer(head);
    beast::error_code ec;
    stream.expires_after(kWriteTimeout);
    co_await http::async_write_header(stream, serializer,
                                      asio::redirect_error(asio::use_awaitable, ec));
    auto write_chunk = [&](const std::string& text) -> asio::awaitable<bool> {
      stream.expires_after(kWriteTimeout);
      co_await asio::async_write(stream, http::make_chunk(asio::buffer(text)),
                                 asio::redirect_error(asio::use_awaitable, ec));
      co_return !ec;
    };
    // Priming event (2025-11-25): an id to resume from, before anything else.
    if (!ec && session.protocol_version >= "2025-11-25" && !session.id.empty()) {
      co_await write_chunk("id: " + std::to_string(reply->id) + "_0\nretry: " +
                           std::to_string(options_.sse_retry.count()) + "\ndata: \n\n");
    }
    while (!ec) {
      while (!reply->pending.empty() && !ec) {
        SseEvent event = std::move(reply->pending.front());
        reply->pending.pop_front();
        if (co_await write_chunk(EventText(reply->id, event))) {
          reply->MarkSent(std::move(event));
        } else {
          reply->pending.push_front(std::move(event));  // kept for a resuming client
        }
      }
      if (ec) break;
      if (reply->Finished() || reply->close_requested) {
        reply->close_requested = false;
        stream.expires_after(kWriteTimeout);
        co_await asio::async_write(stream, http::make_chunk_last(),
                                   asio::redirect_error(asio::use_awaitable, ec));
        break;
      }
      stream.expires_never();
      co_await reply->Wait(kKeepAliveComment);
      if (reply->pending.empty() && !reply->Finished() && !reply->close_requested) {
        co_await write_chunk(": keep-alive\n\n");  // finds clients that went away
      }
    }
    stream.expires_never();
    detach();
    co_return !ec && request.keep_alive();
  }

  SessionHost& server_;
  HttpOptions options_;
  RequestGuard guard_{options_};
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweep_;
  RandomSource random_;
  std::string url_;
  bool loopback_ = false;
  bool stopping_ = false;                                     // I/O thread only
  uint64_t stateless_count_ = 0;                              // I/O thread only
  std::map<std::string, std::shared_ptr<Session>> sessions_;  // I/O thread only
  std::set<beast::tcp_stream*> open_;                         // I/O thread only
  Reaper reaper_;                   // after the sessions: joined before they go
  asio::thread_pool read_pool_{2};  // the read API's requests
};

}  // namespace

Status ServeHttp(SessionHost& server, HttpOptions options, std::stop_token stop) {
  auto on_listening = options.on_listening;
  HttpTransport transport(server, std::move(options));
  if (auto listening = transport.Listen(); !listening) return listening;
  if (on_listening) on_listening(transport.url());
  transport.Run(stop);
  return {};
}

}  // namespace mcpaudit
