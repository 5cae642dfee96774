// Lines of a file a hostile operator may have edited: each is read whole, as
// std::getline reads it, but no more than a bound of it is kept in memory (a
// file without line breaks is one line as long as the file).
#pragma once

#include <cstddef>
#include <istream>
#include <string>

namespace mcpaudit {

struct LineRead {
  size_t bytes = 0;       // taken from the stream, the '\n' included (0: nothing was left)
  bool complete = false;  // it ended with '\n' (else the stream ended first)
  bool too_long = false;  // it held more than `max` bytes: `line` is left empty
};

// Reads the next line of `in` into `line` (without its '\n').
LineRead ReadLineWithin(std::istream& in, std::string& line, size_t max);

}  // namespace mcpaudit
