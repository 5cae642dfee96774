// open_sink URL: opens the sink of URL, stores nothing, and says what happened.
#include <mcpaudit/sink.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto sink = mcpaudit::OpenSink({.name = "store", .url = argv[1]});
  if (!sink) {
    std::cout << "refused: " << sink.error().message << "\n";
    return 1;
  }
  std::cout << "opened\n";
  return 0;
}
