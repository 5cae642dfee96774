#include "mcp/input_rounds.h"

#include <openssl/crypto.h>

#include "base/bounded_json.h"
#include "base/crypto.h"

namespace mcpaudit::input_rounds {

using nlohmann::json;

namespace {

constexpr int kVersion = 1;

int64_t Seconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

}  // namespace

std::string QuestionDigest(std::string_view method, const json& params) {
  return Sha256Hex({method, "\n", params.dump(-1, ' ', false, json::error_handler_t::replace)});
}

std::expected<Round, std::string> Resume(const json& params, const Binding& binding,
                                         std::string_view key,
                                         std::chrono::system_clock::time_point now,
                                         size_t max_depth) {
  Round round;
  auto state = params.find("requestState");
  if (state == params.end()) return round;
  if (!state->is_string()) return std::unexpected("'requestState' must be a string");
  const std::string& text = state->get_ref<const std::string&>();
  const size_t dot = text.rfind('.');
  const std::string_view payload_text =
      std::string_view(text).substr(0, dot == text.npos ? 0 : dot);
  const std::string expected = HmacSha256Hex(key, payload_text);
  if (dot == text.npos || text.size() - dot - 1 != expected.size() ||
      CRYPTO_memcmp(text.data() + dot + 1, expected.data(), expected.size()) != 0)
    return std::unexpected("'requestState' was not issued by this server");
  const std::optional<std::string> decoded = Base64UrlDecode(payload_text);
  const json payload = decoded ? ParseWithin(*decoded, max_depth + 4) : json();
  if (!payload.is_object() || payload.value("v", 0) != kVersion)
    return std::unexpected("'requestState' is not readable");
  // Sealed by us, so its members have the types we gave them.
  if (payload["m"] != binding.method || payload["n"] != binding.name ||
      payload["a"] != binding.arguments)
    return std::unexpected("'requestState' belongs to another request");
  if (payload["c"] != binding.caller)
    return std::unexpected("'requestState' belongs to another caller");
  round.expires = payload["exp"].get<int64_t>();
  if (round.expires < Seconds(now)) return std::unexpected("'requestState' has expired");
  round.number = payload["r"].get<uint32_t>() + 1;
  round.answers = payload["ans"];
  round.received_digest = Sha256Hex({text});
  // Only the input the last round asked for is taken; anything else is ignored.
  auto responses = params.find("inputResponses");
  if (responses != params.end() && !responses->is_object())
    return std::unexpected("'inputResponses' must be an object");
  for (const auto& [name, question] : payload["k"].items()) {
    if (responses != params.end() && responses->contains(name))
      round.answers[name] = {{"q", question}, {"a", (*responses)[name]}};
  }
  return round;
}

std::string Seal(const Round& round, const json& asked, const Binding& binding,
                 std::string_view key, std::chrono::system_clock::time_point now) {
  json questions = json::object();
  for (const auto& [name, request] : asked.items())
    questions[name] = QuestionDigest(request["method"].get<std::string>(), request["params"]);
  const json payload = {{"v", kVersion},
                        {"m", binding.method},
                        {"n", binding.name},
                        {"a", binding.arguments},
                        {"c", binding.caller},
                        {"exp", round.expires != 0 ? round.expires : Seconds(now + kLifetime)},
                        {"r", round.number},
                        {"ans", round.answers},
                        {"k", std::move(questions)}};
  const std::string text =
      Base64UrlEncode(payload.dump(-1, ' ', false, json::error_handler_t::replace));
  return text + "." + HmacSha256Hex(key, text);
}

}  // namespace mcpaudit::input_rounds
