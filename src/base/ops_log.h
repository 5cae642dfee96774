// The operational log of the library (not the audit log): always stderr, so
// that a stdio MCP server's stdout carries protocol messages only.
#pragma once

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace mcpaudit {

inline spdlog::logger& OpsLog() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto existing = spdlog::get("mcpaudit");
    return existing ? existing : spdlog::stderr_logger_mt("mcpaudit");
  }();
  return *logger;
}

}  // namespace mcpaudit
