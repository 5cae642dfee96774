#include "store/store_query.h"

#include <algorithm>
#include <charconv>
#include <map>


namespace mcpaudit {
namespace {

// How each database names and compares what the queries need.
struct Dialect {
  const char* table;
  const char* time;       // the timestamp column
  const char* time_text;  // it as stored text: RFC 3339, milliseconds, Z
  const char* phi;        // true when the record is PHI
  const char* like;       // case-insensitive LIKE with '\' escaping; %s is the column
};

const Dialect& DialectOf(SqlFlavour flavour) {
  static const Dialect kSqlite{kAuditTable, "timestamp", "timestamp", "phi = 1", "%s LIKE ? ESCAPE '\\'"};
  static const Dialect kPostgres{kAuditTable, "\"timestamp\"",
                                 "to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                                 "phi", "%s ILIKE ?"};
  static const Dialect kMysql{kMysqlAuditTable, "`timestamp`",
                              "CONCAT(DATE_FORMAT(`timestamp`, '%Y-%m-%dT%H:%i:%s.'), "
                              "LPAD(MICROSECOND(`timestamp`) DIV 1000, 3, '0'), 'Z')",
                              "phi = 1", "LOWER(%s) LIKE LOWER(?)"};
  switch (flavour) {
    case SqlFlavour::kPostgres: return kPostgres;
    case SqlFlavour::kMysql: return kMysql;
    case SqlFlavour::kSqlite: break;
  }
  return kSqlite;
}

// A time as the database compares it: RFC 3339, or DATETIME's "2026-11-27 10:30:00.000".
std::string TimeParam(SqlFlavour flavour, std::string text) {
  if (flavour == SqlFlavour::kMysql && text.size() == 24) {
    text[10] = ' ';
    text.pop_back();
  }
  return text;
}

// `text` inside a LIKE pattern: its own %, _ and \ escaped, any text around it.
std::string ContainsPattern(std::string_view text) {
  std::string pattern = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  return pattern + "%";
}

std::string Like(const Dialect& d, const std::string& column) {
  std::string out = d.like;
  out.replace(out.find("%s"), 2, column);
  return out;
}

// " WHERE …" for the filter (empty when it selects everything).
std::string Where(SqlFlavour flavour, const QueryFilter& f, std::vector<std::string>& params) {
  const Dialect& d = DialectOf(flavour);
  std::vector<std::string> terms;
  auto equal = [&](const char* column, const std::string& value) {
    if (value.empty()) return;
    terms.push_back(std::string(column) + " = ?");
    params.push_back(value);
  };
  if (f.since) {
    terms.push_back(std::string(d.time) + " >= ?");
    params.push_back(TimeParam(flavour, FormatTimestamp(*f.since)));
  }
  if (f.until) {
    terms.push_back(std::string(d.time) + " < ?");
    params.push_back(TimeParam(flavour, FormatTimestamp(*f.until)));
  }
  equal("user_id", f.user);
  equal("tenant_id", f.tenant);
  equal("tool", f.tool);
  equal("event_type", f.event_type);
  if (f.outcome) equal("outcome", std::string(ToString(*f.outcome)));
  equal("session_id", f.session);
  equal("request_id", f.request_id);
  equal("client_ip", f.client_ip);
  if (f.phi_only) terms.push_back(d.phi);
  // Narrowed here, confirmed on each record (Matches): the record text holds the URN as a JSON string.
  if (!f.resource.empty()) {
    terms.push_back(Like(d, "record"));
    params.push_back(ContainsPattern(nlohmann::json(f.resource).dump(-1, ' ', false,
                                                                      nlohmann::json::error_handler_t::replace)));
  }
  if (!f.text.empty()) {
    // In the record the text is JSON-escaped (a quote as \", a line break as \n).
    const std::string escaped = nlohmann::json(f.text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    terms.push_back("(" + Like(d, "tool") + " OR " + Like(d, "error_reason") + " OR " + Like(d, "record") + ")");
    params.push_back(ContainsPattern(f.text));
    params.push_back(ContainsPattern(f.text));
    params.push_back(ContainsPattern(std::string_view(escaped).substr(1, escaped.size() - 2)));
  }
  std::string where;
  for (const std::string& term : terms) where += (where.empty() ? " WHERE " : " AND ") + term;
  return where;
}

bool IsCursorIdChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
         c == '.' || c == ':';
}

}  // namespace

Result<SqlFlavour> FlavourOf(const SinkConfig& store) {
  if (SqlitePathFromUrl(store.url)) return SqlFlavour::kSqlite;
  if (IsPostgresUrl(store.url)) return SqlFlavour::kPostgres;
  if (IsMysqlUrl(store.url)) return SqlFlavour::kMysql;
  return Fail(ErrorCode::kInvalidArgument, "'" + RedactUrl(store.url) +
                                               "' is not a store URL (sqlite:///path, postgres://…, mysql://…)");
}

std::string EncodeCursor(const RecordPosition& position) { return position.timestamp + "~" + position.id; }

Result<RecordPosition> DecodeCursor(std::string_view cursor) {
  const size_t tilde = cursor.find('~');
  const auto bad = [] { return Fail(ErrorCode::kInvalidArgument, "not a cursor this server gave out"); };
  if (tilde == std::string_view::npos) return bad();
  RecordPosition position{std::string(cursor.substr(0, tilde)), std::string(cursor.substr(tilde + 1))};
  auto time = ParseTimestamp(position.timestamp);
  if (!time || FormatTimestamp(*time) != position.timestamp) return bad();
  if (position.id.empty() || position.id.size() > 128 ||
      !std::all_of(position.id.begin(), position.id.end(), IsCursorIdChar))
    return bad();
  return position;
}

SqlText SelectSql(SqlFlavour flavour, const Selection& selection, size_t limit) {
  const Dialect& d = DialectOf(flavour);
  SqlText query;
  std::string where = Where(flavour, selection.filter, query.params);
  const char* direction = selection.newest_first ? " DESC" : "";
  if (selection.after) {
    // The first term bounds the index range (an OR alone makes every engine scan from the start).
    const char* beyond = selection.newest_first ? " < ?" : " > ?";
    const char* up_to = selection.newest_first ? " <= ?" : " >= ?";
    where += (where.empty() ? " WHERE " : " AND ") + std::string(d.time) + up_to + " AND (" + d.time + beyond +
             " OR (" + d.time + " = ? AND id" + beyond + "))";
    const std::string time = TimeParam(flavour, selection.after->timestamp);
    query.params.insert(query.params.end(), {time, time, time, selection.after->id});
  }
  query.sql = "SELECT id, " + std::string(d.time_text) + ", record FROM " + d.table + where + " ORDER BY " + d.time +
              direction + ", id" + direction;
  if (limit > 0) query.sql += " LIMIT " + std::to_string(limit);
  return query;
}

Result<SelectedPage> SelectStoredRecords(const SinkConfig& store, const Selection& selection,
                                         const std::function<bool(const AuditEvent&, const std::string&)>& visit,
                                         const std::function<void(size_t, const std::string&)>& on_bad_row) {
  auto flavour = FlavourOf(store);
  if (!flavour) return std::unexpected(flavour.error());
  const size_t wanted = selection.filter.limit;
  // With a limit, one record more than asked says whether another page follows.
  // Filters SQL only narrows read in chunks until enough records matched.
  const bool exact = selection.filter.resource.empty() && selection.filter.text.empty();
  const size_t chunk = wanted == 0 ? 0 : exact ? wanted + 1 : std::max<size_t>(wanted + 1, 5000);
  SelectedPage page;
  Selection next = selection;
  size_t rows = 0;
  bool stopped = false;
  for (;;) {
    size_t rows_of_chunk = 0;
    std::string line;
    Status read = RunStoreQuery(store, SelectSql(*flavour, next, chunk), [&](std::span<const std::string_view> row) {
      ++rows;
      ++rows_of_chunk;
      RecordPosition position{std::string(row[1]), std::string(row[0])};
      line.assign(row[2]);
      auto event = AuditEventFromLine(line);
      if (!event) {
        on_bad_row(rows, event.error().message);
      } else if (Matches(selection.filter, *event)) {
        if (wanted > 0 && page.records == wanted) {
          stopped = true;  // the first record of the next page
          return false;
        }
        ++page.records;
        page.next = position;
        if (!visit(*event, line)) {
          stopped = true;
          return false;
        }
      }
      if (selection.max_rows > 0 && rows >= selection.max_rows) {
        page.next = std::move(position);  // read enough: the caller goes on from here
        stopped = true;
        return false;
      }
      next.after = std::move(position);
      return true;
    });
    if (!read) return std::unexpected(read.error());
    if (stopped) break;
    if (chunk == 0 || rows_of_chunk < chunk) {
      page.next.reset();  // the store has no more
      break;
    }
  }
  return page;
}

namespace {

// The first column of the first row `sql` (with `?` placeholders) selects.
Result<std::optional<std::string>> FirstValue(const SinkConfig& store, std::string sql,
                                              std::vector<std::string> params) {
  std::optional<std::string> found;
  Status read = RunStoreQuery(store, {std::move(sql), std::move(params)}, [&](std::span<const std::string_view> row) {
    found.emplace(row[0]);
    return false;
  });
  if (!read) return std::unexpected(read.error());
  return found;
}

}  // namespace

Result<std::optional<std::string>> FindStoredRecord(const SinkConfig& store, std::string_view id) {
  auto flavour = FlavourOf(store);
  if (!flavour) return std::unexpected(flavour.error());
  return FirstValue(store, "SELECT record FROM " + std::string(DialectOf(*flavour).table) + " WHERE id = ?",
                    {std::string(id)});
}

Result<std::optional<std::string>> FindCheckpointAfter(const SinkConfig& store, std::string_view stream,
                                                       uint64_t seq) {
  auto flavour = FlavourOf(store);
  if (!flavour) return std::unexpected(flavour.error());
  return FirstValue(store,
                    "SELECT record FROM " + std::string(DialectOf(*flavour).table) +
                        " WHERE stream = ? AND seq > ? AND event_type = 'checkpoint' ORDER BY seq LIMIT 1",
                    {std::string(stream), std::to_string(seq)});
}

Result<std::vector<StoredStreamHead>> StoredStreamHeads(const SinkConfig& store, size_t max_streams) {
  auto flavour = FlavourOf(store);
  if (!flavour) return std::unexpected(flavour.error());
  const std::string table = DialectOf(*flavour).table;
  std::vector<StoredStreamHead> heads;
  // A loose scan of the (stream, seq) index: the next stream name, then that stream's end.
  std::string stream;
  while (heads.size() < max_streams) {
    auto next = FirstValue(store, "SELECT stream FROM " + table + " WHERE stream > ? ORDER BY stream LIMIT 1",
                           {stream});
    if (!next) return std::unexpected(next.error());
    if (!*next) break;
    stream = std::move(**next);
    StoredStreamHead head{stream, {}, std::nullopt};
    auto newest = FirstValue(store, "SELECT record FROM " + table + " WHERE stream = ? ORDER BY seq DESC LIMIT 1",
                             {stream});
    if (!newest) return std::unexpected(newest.error());
    if (!*newest) continue;
    head.head = std::move(**newest);
    auto checkpoint = FirstValue(
        store, "SELECT record FROM " + table + " WHERE stream = ? AND event_type = 'checkpoint' ORDER BY seq DESC LIMIT 1",
        {stream});
    if (!checkpoint) return std::unexpected(checkpoint.error());
    head.checkpoint = std::move(*checkpoint);
    heads.push_back(std::move(head));
  }
  return heads;
}

Result<Bucket> ParseBucket(std::string_view text) {
  if (text == "minute") return Bucket::kMinute;
  if (text == "hour") return Bucket::kHour;
  if (text == "day") return Bucket::kDay;
  return Fail(ErrorCode::kInvalidArgument, "bucket must be minute, hour or day, not '" + std::string(text) + "'");
}

namespace {

// The text that starts each bucket's records, and what makes it a whole RFC 3339 time.
std::pair<std::string, std::string> BucketExpression(SqlFlavour flavour, Bucket bucket) {
  const size_t length = bucket == Bucket::kMinute ? 16 : bucket == Bucket::kHour ? 13 : 10;
  const std::string rest = std::string("0000-00-00T00:00:00.000Z").substr(length);
  switch (flavour) {
    case SqlFlavour::kPostgres: {
      const char* format = bucket == Bucket::kMinute ? "YYYY-MM-DD\"T\"HH24:MI"
                           : bucket == Bucket::kHour ? "YYYY-MM-DD\"T\"HH24"
                                                     : "YYYY-MM-DD";
      return {"to_char(\"timestamp\" AT TIME ZONE 'UTC', '" + std::string(format) + "')", rest};
    }
    case SqlFlavour::kMysql: {
      const char* format = bucket == Bucket::kMinute ? "%Y-%m-%dT%H:%i" : bucket == Bucket::kHour ? "%Y-%m-%dT%H" : "%Y-%m-%d";
      return {"DATE_FORMAT(`timestamp`, '" + std::string(format) + "')", rest};
    }
    case SqlFlavour::kSqlite: break;
  }
  return {"substr(timestamp, 1, " + std::to_string(length) + ")", rest};
}

uint64_t CountOf(std::string_view text) {
  uint64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

void AddTo(OutcomeCounts& counts, std::string_view outcome, uint64_t n) {
  if (outcome == "success") counts.success += n;
  else if (outcome == "failure") counts.failure += n;
  else if (outcome == "denied") counts.denied += n;
}

}  // namespace

namespace {

using Clock = std::chrono::system_clock;

// The counts of one question as they are gathered, from rollups and records.
struct Tally {
  std::map<std::string, OutcomeCounts> buckets;
  std::map<std::string, uint64_t> tools, users, reasons;
  OutcomeCounts totals;

  void Add(const std::string& bucket, std::string_view outcome, std::string_view tool, std::string_view reason,
           uint64_t n) {
    AddTo(buckets[bucket], outcome, n);
    AddTo(totals, outcome, n);
    if (!tool.empty()) tools[std::string(tool)] += n;
    if (outcome == "denied" && !reason.empty()) reasons[std::string(reason)] += n;
  }
};

std::vector<std::pair<std::string, uint64_t>> Top(const std::map<std::string, uint64_t>& counts, size_t top) {
  std::vector<std::pair<std::string, uint64_t>> out(counts.begin(), counts.end());
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (out.size() > top) out.resize(top);
  return out;
}

// What `filter` counts in [since, until) of `table`: the time column, and the
// other filters the rollup keeps (tenant, tool, kind, outcome).
struct Counting {
  const SinkConfig& store;
  SqlFlavour flavour;
  const QueryFilter& filter;
  Bucket bucket;
  Tally& tally;

  Status Records(std::optional<Clock::time_point> since, std::optional<Clock::time_point> until, bool events,
                 bool users) {
    QueryFilter part = filter;
    part.since = since;
    part.until = until;
    const Dialect& d = DialectOf(flavour);
    SqlText query;
    const std::string where = Where(flavour, part, query.params);
    const auto [expression, rest] = BucketExpression(flavour, bucket);
    if (events) {
      query.sql = "SELECT " + expression + ", outcome, tool, error_reason, count(*) FROM " + d.table + where +
                  " GROUP BY 1, 2, 3, 4";
      if (Status s = RunStoreQuery(store, query, [&, rest = rest](std::span<const std::string_view> row) {
            tally.Add(std::string(row[0]) + rest, row[1], row[2], row[3], CountOf(row[4]));
            return true;
          });
          !s)
        return s;
    }
    if (!users) return {};
    query.sql = "SELECT user_id, count(*) FROM " + std::string(d.table) + where + " GROUP BY 1";
    return RunStoreQuery(store, query, [&](std::span<const std::string_view> row) {
      if (!row[0].empty()) tally.users[std::string(row[0])] += CountOf(row[1]);
      return true;
    });
  }

  // `column` >= `from` and < `to` (texts as the rollup keys them), and the filters it keeps.
  std::string RollupWhere(const char* column, const std::string& from, const std::string& to, bool per_user,
                          std::vector<std::string>& params) const {
    std::string where = std::string(" WHERE ") + column + " >= ? AND " + column + " < ?";
    params = {from, to};
    auto equal = [&](const char* name, const std::string& value) {
      if (value.empty()) return;
      where += std::string(" AND ") + name + " = ?";
      params.push_back(value);
    };
    equal("tenant_id", filter.tenant);
    if (filter.outcome) equal("outcome", std::string(ToString(*filter.outcome)));
    if (!per_user) {
      equal("tool", filter.tool);
      equal("event_type", filter.event_type);
    }
    return where;
  }

  Status Hours(const std::string& from, const std::string& to) {
    const size_t length = bucket == Bucket::kHour ? 13 : 10;
    const std::string rest = std::string("0000-00-00T00:00:00.000Z").substr(length);
    SqlText query;
    query.sql = "SELECT substr(hour, 1, " + std::to_string(length) + "), outcome, tool, error_reason, sum(n) FROM " +
                "audit_rollup" + RollupWhere("hour", from, to, false, query.params) + " GROUP BY 1, 2, 3, 4";
    return RunStoreQuery(store, query, [&](std::span<const std::string_view> row) {
      tally.Add(std::string(row[0]) + rest, row[1], row[2], row[3], CountOf(row[4]));
      return true;
    });
  }

  Status Days(const std::string& from, const std::string& to) {
    SqlText query;
    query.sql = "SELECT user_id, sum(n) FROM audit_rollup_users" + RollupWhere("day", from, to, true, query.params) +
                " GROUP BY 1";
    return RunStoreQuery(store, query, [&](std::span<const std::string_view> row) {
      if (!row[0].empty()) tally.users[std::string(row[0])] += CountOf(row[1]);
      return true;
    });
  }
};

template <typename Unit>
Clock::time_point CeilTo(Clock::time_point t) {
  const auto floor = std::chrono::floor<Unit>(t);
  return floor == t ? floor : floor + Unit(1);
}

}  // namespace

Result<StoreStats> CountStoredRecords(const SinkConfig& store, const QueryFilter& filter, Bucket bucket,
                                      size_t top) {
  if (!filter.text.empty() || !filter.resource.empty())
    return Fail(ErrorCode::kInvalidArgument, "counts cannot be narrowed by a text search or a resource");
  auto flavour = FlavourOf(store);
  if (!flavour) return std::unexpected(flavour.error());
  Tally tally;
  Counting counting{store, *flavour, filter, bucket, tally};
  // The rollups keep whole hours (and whole days per user) by tenant, tool,
  // kind and outcome: they answer the whole hours and days of the range, the
  // records its ragged ends. Other filters, and minutes, need the records.
  const bool rollups_answer = filter.user.empty() && filter.session.empty() && filter.request_id.empty() &&
                              filter.client_ip.empty() && !filter.phi_only && bucket != Bucket::kMinute;
  if (!rollups_answer) {
    if (Status s = counting.Records(filter.since, filter.until, true, true); !s) return std::unexpected(s.error());
  } else {
    constexpr Clock::time_point kFirst{};  // 1970: before any record
    const Clock::time_point kLast = Clock::now() + std::chrono::days(3650);
    const auto text = [](Clock::time_point t, size_t length) { return FormatTimestamp(t).substr(0, length); };
    const auto hour_from = filter.since ? CeilTo<std::chrono::hours>(*filter.since) : kFirst;
    const auto hour_to = std::max<Clock::time_point>(hour_from, filter.until ? std::chrono::floor<std::chrono::hours>(*filter.until)
                                                          : std::chrono::floor<std::chrono::hours>(kLast));
    const auto day_from = filter.since ? CeilTo<std::chrono::days>(*filter.since) : kFirst;
    const auto day_to = std::max<Clock::time_point>(day_from, filter.until ? std::chrono::floor<std::chrono::days>(*filter.until)
                                                        : std::chrono::floor<std::chrono::days>(kLast));
    const bool users_by_day = filter.tool.empty() && filter.event_type.empty();
    for (Status s : {counting.Hours(text(hour_from, 13), text(hour_to, 13)),
                     hour_from == hour_to ? counting.Records(filter.since, filter.until, true, false)
                                          : counting.Records(filter.since, hour_from, true, false),
                     hour_from == hour_to ? Status{} : counting.Records(hour_to, filter.until, true, false),
                     users_by_day ? counting.Days(text(day_from, 10), text(day_to, 10)) : Status{},
                     !users_by_day || day_from == day_to ? counting.Records(filter.since, filter.until, false, true)
                                                         : counting.Records(filter.since, day_from, false, true),
                     users_by_day && day_from != day_to ? counting.Records(day_to, filter.until, false, true)
                                                        : Status{}})
      if (!s) return std::unexpected(s.error());
  }
  StoreStats stats;
  stats.buckets.assign(tally.buckets.begin(), tally.buckets.end());
  stats.totals = tally.totals;
  stats.top_tools = Top(tally.tools, top);
  stats.top_users = Top(tally.users, top);
  stats.denials_by_reason = Top(tally.reasons, top);
  return stats;
}

}  // namespace mcpaudit
