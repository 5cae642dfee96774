// The demo toolkit of `mcp-audit serve`: a small metadata catalog (datasets,
// dashboards, glossary terms, schemas, tags, lineage) in an embedded SQLite
// database. Every result names the URNs it touched, so audit records show the
// resources accessed; results touching `phi`-tagged data mark the record phi.
#pragma once

#include "mcpaudit/result.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

// Loads the embedded catalog and registers its five tools on `toolkit`:
// catalog_search, catalog_get_entity, catalog_get_schema, catalog_get_lineage,
// catalog_list_tags. The catalog lives as long as the toolkit's handlers.
[[nodiscard]] Status RegisterCatalogTools(Toolkit& toolkit);

}  // namespace mcpaudit
