// Multi round-trip requests (MCP 2026-07-28): a request whose handler needs
// input from the client ends its round with an InputRequiredResult; the client
// retries the request with that input and the requestState it was given. The
// state carries the answers of earlier rounds, bound to the caller and to the
// request, and sealed (HMAC-SHA256) with a key of the server's.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <nlohmann/json.hpp>
#include <string>

namespace mcpaudit::input_rounds {

// A logical call has at most this many rounds, asks at most kMaxQuestions
// per round, and lasts at most kLifetime from its first round.
inline constexpr uint32_t kMaxRounds = 16;
inline constexpr size_t kMaxQuestions = 16;
inline constexpr std::chrono::minutes kLifetime{10};

// What a requestState is valid for: one caller's one request.
struct Binding {
  std::string method;     // tools/call, ...
  std::string name;       // the tool, prompt or resource
  std::string arguments;  // SHA-256 (hex) of the arguments
  std::string caller;     // who: user, tenant and how they signed in (JSON text)
};

// One round of a logical call.
struct Round {
  uint32_t number = 1;
  // The client's input so far, by key: {"q": the question's digest, "a": the answer}.
  nlohmann::json answers = nlohmann::json::object();
  int64_t expires = 0;          // Unix seconds; 0 until the first round asks
  std::string received_digest;  // SHA-256 (hex) of the requestState it carried; empty in round 1
};

// What identifies a question (its method and params): an answer is given
// back only to the question it answers, so a handler that asks something
// else on the retry is asked anew.
std::string QuestionDigest(std::string_view method, const nlohmann::json& params);

// The round a request is: the first when it carries no requestState, else the
// one after the state's, with the client's inputResponses for what that round
// asked. An error (for the client) when the state is not one this server
// sealed for this caller and request, or has expired.
std::expected<Round, std::string> Resume(const nlohmann::json& params, const Binding& binding,
                                         std::string_view key,
                                         std::chrono::system_clock::time_point now,
                                         size_t max_depth);

// The requestState that lets the client continue after `round`, which asked
// for the input `asked` (key → {"method", "params"}).
std::string Seal(const Round& round, const nlohmann::json& asked, const Binding& binding,
                 std::string_view key, std::chrono::system_clock::time_point now);

}  // namespace mcpaudit::input_rounds
