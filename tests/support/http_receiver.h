// A local HTTP receiver for the HTTP sinks' tests (Boost.Beast, one thread per
// connection, keep-alive): records every request (its body un-gzipped) and
// answers as the test says — any status, Retry-After, a delay, or a reset
// connection — so that each way a real receiver misbehaves can be provoked.
#pragma once

#include <sys/socket.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace mcpaudit::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // un-gzipped
  size_t wire_bytes = 0;                       // the body as it came (gzipped or not)
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct ReceiverReply {
  int status = 200;
  std::string body = "{}";
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};
  bool reset = false;  // close the connection without answering
};

inline std::string Gunzip(const std::string& data) {
  z_stream stream{};
  inflateInit2(&stream, 15 + 32);  // gzip or zlib header, detected
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[65536];
  int code;
  do {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof chunk;
    code = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - stream.avail_out);
  } while (code == Z_OK);
  inflateEnd(&stream);
  return out;
}

class HttpReceiver {
 public:
  using Handler = std::function<ReceiverReply(const ReceivedRequest&)>;

  HttpReceiver() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~HttpReceiver() { Stop(); }

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void SetHandler(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }
  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  size_t count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocking accept (close does not)
    acceptor_.close(ec);
    {
      std::lock_guard lock(mutex_);
      for (auto& socket : sockets_) socket->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    for (auto& t : connections_) t.join();
  }

 private:
  void AcceptLoop() {
    while (!stopped_) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);
      connections_.emplace_back([this, socket] { Serve(*socket); });
    }
  }

  void Serve(boost::asio::ip::tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    while (!stopped_) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      boost::system::error_code ec;
      http::read(socket, buffer, parser, ec);
      if (ec) return;
      const auto& request = parser.get();
      ReceivedRequest received;
      received.method = std::string(request.method_string());
      received.target = std::string(request.target());
      for (const auto& field : request) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        received.headers[name] = std::string(field.value());
      }
      received.wire_bytes = request.body().size();
      received.body = received.header("content-encoding") == "gzip" ? Gunzip(request.body()) : request.body();
      Handler handler;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(received);
        handler = handler_;
      }
      const ReceiverReply reply = handler ? handler(received) : ReceiverReply{};
      if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
      if (reply.reset) {
        socket.set_option(boost::asio::socket_base::linger(true, 0), ec);  // RST, not FIN
        socket.close(ec);
        return;
      }
      http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
      response.set(http::field::content_type, "application/json");
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      response.body() = reply.body;
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec || !request.keep_alive()) return;
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopped_ = false;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  Handler handler_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::vector<std::thread> connections_;
};

}  // namespace mcpaudit::testing
