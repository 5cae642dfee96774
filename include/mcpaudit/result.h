// The one error model of mcpaudit: fallible calls return Result<T> (or Status),
// a std::expected whose error says what went wrong in words a user can act on.
// No exception crosses the library's public API or a thread boundary.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace mcpaudit {

enum class ErrorCode {
  kInvalidArgument,  // the caller passed something that can never work
  kNotFound,         // the named thing does not exist
  kIo,               // the operating system refused a read or write
  kUnavailable,      // shut down, or a bounded queue refused the item
  kInternal,         // a bug: an invariant did not hold
  // 2026-07-28: the client's input is needed; the handler stops here and the
  // request's answer asks for it (ClientChannel::Request).
  kInputRequired,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace mcpaudit
