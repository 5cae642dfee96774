#include "catalog/catalog_toolkit.h"

#include <sqlite3.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <set>

namespace mcpaudit {
namespace catalog {
extern const char* const kCatalogSql;
}

namespace {

using nlohmann::json;

// A read-only in-memory SQLite database holding the catalog. One connection,
// used under a mutex: the tools' queries are tiny.
class Catalog {
 public:
  static Result<std::shared_ptr<Catalog>> Load() {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      return Fail(ErrorCode::kInternal, "cannot open the in-memory catalog database");
    }
    char* error = nullptr;
    if (sqlite3_exec(db, catalog::kCatalogSql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = std::string("cannot load the catalog data: ") + (error ? error : "?");
      sqlite3_free(error);
      sqlite3_close(db);
      return Fail(ErrorCode::kInternal, message);
    }
    sqlite3_exec(db, "PRAGMA query_only = ON", nullptr, nullptr, nullptr);
    return std::shared_ptr<Catalog>(new Catalog(db));
  }
  ~Catalog() { sqlite3_close(db_); }

  // Runs `sql` with text parameters; returns every row as a vector of texts
  // (NULL becomes ""). The schema is fixed, so a failure here is a bug.
  std::vector<std::vector<std::string>> Rows(const char* sql, const std::vector<std::string>& args) const {
    std::lock_guard lock(mutex_);
    sqlite3_stmt* stmt = nullptr;
    std::vector<std::vector<std::string>> rows;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("catalog query failed: ") + sqlite3_errmsg(db_));
    for (size_t i = 0; i < args.size(); ++i)
      sqlite3_bind_text(stmt, static_cast<int>(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const unsigned char* text = sqlite3_column_text(stmt, c);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return rows;
  }

  std::vector<std::string> Tags(const std::string& urn) const {
    std::vector<std::string> tags;
    for (auto& row : Rows("SELECT tag FROM tags WHERE urn = ?1 ORDER BY tag", {urn})) tags.push_back(row[0]);
    return tags;
  }

  bool IsPhi(const std::string& urn) const {
    return !Rows("SELECT 1 FROM tags WHERE urn = ?1 AND tag = 'phi' UNION ALL "
                 "SELECT 1 FROM fields WHERE urn = ?1 AND tag = 'phi' LIMIT 1",
                 {urn})
                .empty();
  }

  // The entity summary shared by several tools, or null when it does not exist.
  json Summary(const std::string& urn) const {
    auto rows = Rows("SELECT urn, type, name, platform, description FROM entities WHERE urn = ?1", {urn});
    if (rows.empty()) return nullptr;
    auto& r = rows[0];
    json out = {{"urn", r[0]}, {"type", r[1]}, {"name", r[2]}, {"description", r[4]}, {"tags", Tags(urn)}};
    if (!r[3].empty()) out["platform"] = r[3];
    return out;
  }

 private:
  explicit Catalog(sqlite3* db) : db_(db) {}
  mutable std::mutex mutex_;
  sqlite3* db_;  // guarded by mutex_
};

// A result whose text is the JSON of `structured`, for clients that read text.
ToolResult JsonResult(json structured) {
  ToolResult result = ToolResult::Text(structured.dump(2));
  result.structured_content = std::move(structured);
  return result;
}

Result<ToolResult> NotFound(const std::string& urn) {
  return Fail(ErrorCode::kNotFound, "No entity with URN " + urn + " in the catalog");
}

// Marks the record with what the result touched.
void Touch(const Catalog& catalog, ToolResult& result, const std::vector<std::string>& urns) {
  for (const auto& urn : urns) {
    result.resources.push_back(urn);
    if (catalog.IsPhi(urn)) result.phi = true;
  }
  if (result.phi) result.sensitivity = "restricted";
}

const json kUrnProperty = {{"type", "string"}, {"minLength", 1}, {"description", "The entity's URN, as returned by catalog_search"}};

json ObjectSchema(json properties, json required) {
  json schema = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) schema["required"] = std::move(required);
  return schema;
}

ToolAnnotations ReadOnly(std::string title) {
  ToolAnnotations a;
  a.title = std::move(title);
  a.read_only_hint = true;
  a.destructive_hint = false;
  a.idempotent_hint = true;
  a.open_world_hint = false;
  return a;
}

std::string EscapeLike(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

Status RegisterSearch(Toolkit& toolkit, std::shared_ptr<Catalog> catalog) {
  ToolDefinition d;
  d.name = "catalog_search";
  d.title = "Search the data catalog";
  d.description =
      "Finds datasets, dashboards and glossary terms whose name, description, URN, tags or field "
      "names contain the query (case-insensitive). Returns URNs to pass to the other catalog tools.";
  d.input_schema = ObjectSchema(
      {{"query", {{"type", "string"}, {"description", "Text to look for; empty lists everything"}}},
       // Mirrored into the Mcp-Param-Entity-Type header (2026-07-28 over HTTP): a gateway may route
       // on it.
       {"entity_type",
        {{"type", "string"},
         {"enum", {"DATASET", "DASHBOARD", "GLOSSARY_TERM"}},
         {"description", "Only this kind of entity"},
         {"x-mcp-header", "Entity-Type"}}},
       {"limit", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}, {"default", 10}}},
       {"offset", {{"type", "integer"}, {"minimum", 0}, {"default", 0}}}},
      {"query"});
  d.output_schema = ObjectSchema({{"total", {{"type", "integer"}}}, {"results", {{"type", "array"}}}},
                                 {"total", "results"});
  d.annotations = ReadOnly(d.title);
  return toolkit.Register(std::move(d), [catalog](const RequestContext&, const json& args) -> Result<ToolResult> {
    const std::string pattern = "%" + EscapeLike(args.value("query", "")) + "%";
    const std::string type = args.value("entity_type", "");
    const int64_t limit = args.value("limit", int64_t{10});
    const int64_t offset = args.value("offset", int64_t{0});
    auto rows = catalog->Rows(
        "SELECT DISTINCT e.urn FROM entities e "
        "LEFT JOIN tags t ON t.urn = e.urn LEFT JOIN fields f ON f.urn = e.urn "
        "WHERE (?2 = '' OR e.type = ?2) AND (e.name LIKE ?1 ESCAPE '\\' OR e.description LIKE ?1 ESCAPE '\\' "
        "OR e.urn LIKE ?1 ESCAPE '\\' OR t.tag LIKE ?1 ESCAPE '\\' OR f.name LIKE ?1 ESCAPE '\\') "
        "ORDER BY e.type, e.name",
        {pattern, type});
    json results = json::array();
    std::vector<std::string> urns;
    for (int64_t i = offset; i < static_cast<int64_t>(rows.size()) && i < offset + limit; ++i) {
      urns.push_back(rows[i][0]);
      results.push_back(catalog->Summary(rows[i][0]));
    }
    const int64_t count = static_cast<int64_t>(results.size());
    ToolResult result = JsonResult({{"total", rows.size()}, {"results", std::move(results)}});
    result.result_count = count;
    Touch(*catalog, result, urns);
    return result;
  });
}

Status RegisterGetEntity(Toolkit& toolkit, std::shared_ptr<Catalog> catalog) {
  ToolDefinition d;
  d.name = "catalog_get_entity";
  d.title = "Get a catalog entity";
  d.description = "Returns one entity by URN: description, owner, tags, glossary terms and how many "
                  "upstream and downstream entities it has.";
  d.input_schema = ObjectSchema({{"urn", kUrnProperty}}, {"urn"});
  d.output_schema = ObjectSchema({{"urn", {{"type", "string"}}}, {"type", {{"type", "string"}}}}, {"urn", "type"});
  d.annotations = ReadOnly(d.title);
  return toolkit.Register(std::move(d), [catalog](const RequestContext&, const json& args) -> Result<ToolResult> {
    const std::string urn = args.at("urn").get<std::string>();
    json entity = catalog->Summary(urn);
    if (entity.is_null()) return NotFound(urn);
    auto owner = catalog->Rows("SELECT owner FROM entities WHERE urn = ?1", {urn});
    if (!owner.empty() && !owner[0][0].empty()) entity["owner"] = owner[0][0];
    json terms = json::array();
    for (auto& row : catalog->Rows("SELECT t.term_urn, e.name FROM terms t JOIN entities e ON e.urn = t.term_urn "
                                   "WHERE t.urn = ?1 ORDER BY e.name",
                                   {urn}))
      terms.push_back({{"urn", row[0]}, {"name", row[1]}});
    entity["glossary_terms"] = std::move(terms);
    entity["upstream_count"] =
        std::stoll(catalog->Rows("SELECT COUNT(*) FROM lineage WHERE downstream = ?1", {urn})[0][0]);
    entity["downstream_count"] =
        std::stoll(catalog->Rows("SELECT COUNT(*) FROM lineage WHERE upstream = ?1", {urn})[0][0]);
    ToolResult result = JsonResult(std::move(entity));
    result.result_count = 1;
    Touch(*catalog, result, {urn});
    return result;
  });
}

Status RegisterGetSchema(Toolkit& toolkit, std::shared_ptr<Catalog> catalog) {
  ToolDefinition d;
  d.name = "catalog_get_schema";
  d.title = "Get a dataset's schema";
  d.description = "Returns the fields of a dataset: name, type, description and tags (pii, phi).";
  d.input_schema = ObjectSchema({{"urn", kUrnProperty}}, {"urn"});
  d.output_schema = ObjectSchema({{"urn", {{"type", "string"}}}, {"fields", {{"type", "array"}}}}, {"urn", "fields"});
  d.annotations = ReadOnly(d.title);
  return toolkit.Register(std::move(d), [catalog](const RequestContext&, const json& args) -> Result<ToolResult> {
    const std::string urn = args.at("urn").get<std::string>();
    json entity = catalog->Summary(urn);
    if (entity.is_null()) return NotFound(urn);
    if (entity["type"] != "DATASET")
      return Fail(ErrorCode::kInvalidArgument, urn + " is a " + entity["type"].get<std::string>() +
                                                   ", not a dataset: only datasets have a schema");
    json fields = json::array();
    for (auto& row : catalog->Rows(
             "SELECT name, type, description, tag FROM fields WHERE urn = ?1 ORDER BY position", {urn})) {
      json field = {{"name", row[0]}, {"type", row[1]}, {"description", row[2]}, {"tags", json::array()}};
      if (!row[3].empty()) field["tags"].push_back(row[3]);
      fields.push_back(std::move(field));
    }
    const int64_t count = static_cast<int64_t>(fields.size());
    ToolResult result = JsonResult({{"urn", urn}, {"fields", std::move(fields)}});
    result.result_count = count;
    Touch(*catalog, result, {urn});
    return result;
  });
}

Status RegisterGetLineage(Toolkit& toolkit, std::shared_ptr<Catalog> catalog) {
  ToolDefinition d;
  d.name = "catalog_get_lineage";
  d.title = "Get an entity's lineage";
  d.description = "Walks the lineage graph from an entity: the datasets it is built from (upstream) "
                  "and what is built from it (downstream), up to `depth` hops.";
  d.input_schema = ObjectSchema(
      {{"urn", kUrnProperty},
       {"direction", {{"type", "string"}, {"enum", {"upstream", "downstream", "both"}}, {"default", "both"}}},
       {"depth", {{"type", "integer"}, {"minimum", 1}, {"maximum", 5}, {"default", 1}}}},
      {"urn"});
  d.output_schema = ObjectSchema({{"urn", {{"type", "string"}}}, {"upstream", {{"type", "array"}}},
                                  {"downstream", {{"type", "array"}}}},
                                 {"urn", "upstream", "downstream"});
  d.annotations = ReadOnly(d.title);
  return toolkit.Register(std::move(d), [catalog](const RequestContext&, const json& args) -> Result<ToolResult> {
    const std::string urn = args.at("urn").get<std::string>();
    const std::string direction = args.value("direction", "both");
    const int depth = args.value("depth", 1);
    if (catalog->Summary(urn).is_null()) return NotFound(urn);
    std::vector<std::string> touched = {urn};
    auto walk = [&](const char* sql) {
      json found = json::array();
      std::set<std::string> seen = {urn};
      std::deque<std::pair<std::string, int>> frontier = {{urn, 0}};
      while (!frontier.empty()) {
        auto [current, degree] = frontier.front();
        frontier.pop_front();
        if (degree == depth) continue;
        for (auto& row : catalog->Rows(sql, {current})) {
          if (!seen.insert(row[0]).second) continue;
          json entry = catalog->Summary(row[0]);
          entry["degree"] = degree + 1;
          found.push_back(std::move(entry));
          touched.push_back(row[0]);
          frontier.emplace_back(row[0], degree + 1);
        }
      }
      return found;
    };
    json up = direction != "downstream"
                  ? walk("SELECT upstream FROM lineage WHERE downstream = ?1 ORDER BY upstream")
                  : json::array();
    json down = direction != "upstream"
                    ? walk("SELECT downstream FROM lineage WHERE upstream = ?1 ORDER BY downstream")
                    : json::array();
    const int64_t count = static_cast<int64_t>(up.size() + down.size());
    ToolResult result = JsonResult({{"urn", urn}, {"upstream", std::move(up)}, {"downstream", std::move(down)}});
    result.result_count = count;
    Touch(*catalog, result, touched);
    return result;
  });
}

Status RegisterListTags(Toolkit& toolkit, std::shared_ptr<Catalog> catalog) {
  ToolDefinition d;
  d.name = "catalog_list_tags";
  d.title = "List catalog tags";
  d.description = "Lists the tags used in the catalog with how many entities carry each; "
                  "`filter` keeps the tags that contain it.";
  d.input_schema = ObjectSchema({{"filter", {{"type", "string"}}}}, json::array());
  d.output_schema = ObjectSchema({{"tags", {{"type", "array"}}}}, {"tags"});
  d.annotations = ReadOnly(d.title);
  return toolkit.Register(std::move(d), [catalog](const RequestContext&, const json& args) -> Result<ToolResult> {
    const std::string pattern = "%" + EscapeLike(args.value("filter", "")) + "%";
    json tags = json::array();
    for (auto& row : catalog->Rows("SELECT tag, COUNT(*) FROM tags WHERE tag LIKE ?1 ESCAPE '\\' "
                                   "GROUP BY tag ORDER BY tag",
                                   {pattern}))
      tags.push_back({{"tag", row[0]}, {"count", std::stoll(row[1])}});
    const int64_t count = static_cast<int64_t>(tags.size());
    ToolResult result = JsonResult({{"tags", std::move(tags)}});
    result.result_count = count;
    return result;
  });
}

}  // namespace

Status RegisterCatalogTools(Toolkit& toolkit) {
  auto catalog = Catalog::Load();
  if (!catalog) return std::unexpected(catalog.error());
  for (auto registration : {RegisterSearch, RegisterGetEntity, RegisterGetSchema, RegisterGetLineage,
                            RegisterListTags}) {
    if (auto status = registration(toolkit, *catalog); !status) return status;
  }
  return {};
}

}  // namespace mcpaudit
