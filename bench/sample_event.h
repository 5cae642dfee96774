// The tool call the benchmarks log: the size and shape of a typical catalog
// search, with about 300 bytes of parameters.
#pragma once

#include <string>

#include "mcpaudit/audit_event.h"

namespace mcpaudit::bench {

// Call `n`, its id `id_prefix` followed by a number.
inline AuditEvent SampleEvent(size_t n, const std::string& id_prefix = "") {
  AuditEvent e;
  e.timestamp = std::chrono::system_clock::now();
  e.id = id_prefix + "0193c1b2-0000-7000-8000-" + std::to_string(100000000000 + n);
  e.tool = "catalog_search";
  e.user = {"user123", "user@example.com", "acme-corp", {"analyst"}, "jwt"};
  e.request = {"req-" + std::to_string(n), "192.168.1.1", "session-1", "http", "bench/1", {"bench", "1"}};
  e.server = {"mcp-audit", "bench", "host-a"};
  e.params = {{"query", "customers in the north region with open orders since last quarter"},
              {"entity_type", "DATASET"},
              {"limit", 10},
              {"filters", {{"region", "north"}, {"status", "open"}, {"owner", "alice@example.com"}, {"tags", {"crm", "sales", "pii"}}}},
              {"fields", {"name", "email", "phone", "address", "orders", "created_at", "updated_at"}}};
  e.resources = {"urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)"};
  e.response = AuditResponse{5, 0.15, false, 1834};
  return e;
}

}  // namespace mcpaudit::bench
