// A plain HTTP/1.1 client for tests (Boost.Beast, synchronous): every header
// under the test's control, so that each refusal can be provoked exactly.
#pragma once

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mcpaudit::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// The headers an MCP client sends with a POST.
inline Headers McpPostHeaders(const std::string& session = {}) {
  Headers headers = {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
  if (!session.empty()) headers.emplace_back("Mcp-Session-Id", session);
  return headers;
}

class HttpClient {
 public:
  HttpClient(std::string host, unsigned short port) : host_(std::move(host)), port_(port) {}

  // One request on a new connection; reads the whole response (an SSE stream
  // until the server ends it, or until `timeout`, returning what came so far).
  HttpReply Send(const std::string& method, const std::string& target, const std::string& body,
                 const Headers& headers, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(host_), port_));
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    request.set(http::field::host, host_ + ":" + std::to_string(port_));
    // A name listed twice is sent twice (a client that repeats a header); the
    // first time it replaces a default (Host).
    std::vector<std::string> seen;
    for (const auto& [name, value] : headers) {
      if (std::ranges::find(seen, name) == seen.end()) {
        request.set(name, value);
        seen.push_back(name);
      } else {
        request.insert(name, value);
      }
    }
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    // Asynchronous, so that the stream's expiry bounds an SSE stream that stays open.
    stream.expires_after(timeout);
    http::async_read(stream, buffer, parser, [](beast::error_code, size_t) {});
    io.run();
    HttpReply reply;
    if (!parser.is_header_done()) return reply;
    const auto& response = parser.get();
    reply.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    reply.body = response.body();
    return reply;
  }

  HttpReply Post(const std::string& body, const Headers& headers, const std::string& target = "/mcp") const {
    return Send("POST", target, body, headers);
  }

 private:
  std::string host_;
  unsigned short port_;
};

// The JSON-RPC messages of an SSE body ("data:" lines that are not empty).
inline std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find('\n', pos);
    std::string data = body.substr(pos + 6, end - pos - 6);
    if (!data.empty()) out.push_back(data);
    pos = end;
  }
  return out;
}

}  // namespace mcpaudit::testing
