// A Streamable HTTP server's event stream, as the proxy reads it, cut into
// pieces of any size (the first byte picks the piece size).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/sse_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  mcpaudit::SseReader whole, pieces;
  whole.set_max_bytes(4096);
  pieces.set_max_bytes(4096);
  std::string from_whole, from_pieces;
  const bool whole_ok = whole.Feed(input, [&](std::string event) { from_whole += event + '\x1e'; });
  bool pieces_ok = true;
  for (size_t at = 0; at < input.size() && pieces_ok; at += piece)
    pieces_ok = pieces.Feed(input.substr(at, piece), [&](std::string event) { from_pieces += event + '\x1e'; });
  // The same events, however the bytes arrive (while within the size limit).
  if (whole_ok && pieces_ok && from_whole != from_pieces) __builtin_trap();
  return 0;
}
