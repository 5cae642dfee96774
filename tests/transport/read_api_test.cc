// The auditor's read API (/api/v1/) of `mcp-audit serve --http`, as a program
// calls it: who may read, every filter and the cursor, a record with its
// integrity, the counts, what a wrong parameter gets, and the audit_read record
// each request leaves.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "audit/journal_format.h"
#include "audit/merkle_tree.h"
#include "audit/signed_note.h"
#include "base/crypto.h"
#include "mcpaudit/sink.h"
#include "support/cli_process.h"
#include "support/database_server.h"
#include "support/http_client.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::RunCommand;
using testing::ServerProcess;

struct Key {
  std::string key;
  std::string entry;  // its [[auth.api_keys]] table
};

// A key made by `mcp-audit apikey`, as an operator makes one.
Key MakeKey(const std::string& user, const std::string& role) {
  auto [code, out] = RunCommand("apikey --user " + user + " --role " + role);
  EXPECT_EQ(code, 0) << out;
  Key key;
  const auto at = out.find("mcpa_");
  key.key = out.substr(at, out.find('\n', at) - at);
  key.entry = out.substr(out.find("[[auth.api_keys]]"));
  return key;
}

void SearchBy(const std::filesystem::path& audit, const std::string& user,
              const std::string& query) {
  ServerProcess server(audit, {"--user", user});
  server.Initialize();
  server.Request(1, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", query}}}});
  EXPECT_EQ(server.CloseAndWait(), 0);
}

class ReadApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SearchBy(audit_, "carol", "orders");
    SearchBy(audit_, "dave", "payroll");
    auditor_ = MakeKey("ann", "auditor");
    analyst_ = MakeKey("bob", "analyst");
    const auto config = dir_.path() / "mcp-audit.toml";
    std::ofstream(config) << auditor_.entry << "\n" << analyst_.entry << "\n";
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--http", "127.0.0.1:0", "--config", config.string(),
                                 "--audit-dir", audit_.string()},
        dir_.path() / "serve.txt");
    const auto endpoint = testing::WaitForEndpoint(*server_);
    ASSERT_NE(endpoint.port, 0) << server_->Stderr();
    port_ = endpoint.port;
    http_ = std::make_unique<testing::HttpClient>("127.0.0.1", endpoint.port);
    // The server ships the journal to its store as it starts: wait until both calls are there.
    for (int i = 0; i < 100 && Get("/api/v1/events?event_type=tool_call")["events"].size() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  testing::HttpReply Send(const std::string& target, const Key* key,
                          const std::string& method = "GET") {
    testing::Headers headers;
    if (key) headers.emplace_back("X-API-Key", key->key);
    return http_->Send(method, target, "", headers);
  }

  json Get(const std::string& target) {
    auto reply = Send(target, &auditor_);
    EXPECT_EQ(reply.status, 200) << target << ": " << reply.body;
    EXPECT_EQ(reply.header("content-type"), "application/json");
    return json::parse(reply.body, nullptr, false);
  }

  // Listens to a tail of `query` for `duration` on a thread of its own, open
  // once this returns: join the thread, then read `into`.
  std::thread ListenToTail(const std::string& query, std::chrono::seconds duration,
                           testing::HttpReply& into) {
    auto tails = [this] {  // the tails opened so far: each is recorded once its start is fixed
      return std::ranges::count_if(testing::Records(audit_, /*all=*/true), [](const AuditEvent& e) {
        return e.event_type == "audit_read" && e.tool == "tail";
      });
    };
    const auto before = tails();
    std::thread reader([this, query, duration, &into] {
      into =
          http_->Send("GET", "/api/v1/tail?" + query, "", {{"X-API-Key", auditor_.key}}, duration);
    });
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         tails() == before && std::chrono::steady_clock::now() < deadline;)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return reader;
  }

  // A 400 that names `parameter`.
  void ExpectBadParameter(const std::string& target, const std::string& parameter) {
    auto reply = Send(target, &auditor_);
    EXPECT_EQ(reply.status, 400) << target;
    const json body = json::parse(reply.body, nullptr, false);
    EXPECT_EQ(body.value("parameter", ""), parameter) << target << ": " << reply.body;
    EXPECT_FALSE(body.value("error", "").empty()) << reply.body;
  }

  testing::TempDir dir_;
  std::filesystem::path audit_ = dir_.path() / "audit";
  Key auditor_, analyst_;
  std::unique_ptr<ServerProcess> server_;
  unsigned short port_ = 0;
  std::unique_ptr<testing::HttpClient> http_;
};

TEST_F(ReadApiTest, OnlyAuditorsReadAndEveryRequestIsRecorded) {
  EXPECT_EQ(Send("/api/v1/events", nullptr).status, 401);
  auto refused = Send("/api/v1/events?user=carol", &analyst_);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(json::parse(refused.body)["error"].get<std::string>().find("auditor"),
            std::string::npos);
  EXPECT_EQ(Send("/api/v1/events", &auditor_, "POST").status, 405);
  EXPECT_EQ(Send("/api/v1/nothing", &auditor_).status, 404);
  Get("/api/v1/events?user=carol&tool=catalog_search");
  ASSERT_EQ(server_->Signal(SIGTERM), 0) << server_->Stderr();

  // Every request is recorded with its answer: the refusals as denied, with their reason.
  std::vector<AuditEvent> reads;
  for (const auto& e : testing::Records(audit_, /*all=*/true))
    if (e.event_type == "audit_read" && e.request.transport == "http") reads.push_back(e);
  ASSERT_GE(reads.size(), 4u);  // the first: waiting for the store to catch up
  reads.erase(reads.begin(), reads.end() - 4);
  const std::pair<std::string, std::string> expected[] = {{"bob", "auditor_role_required"},
                                                          {"ann", "method_not_allowed"},
                                                          {"ann", "not_found"},
                                                          {"ann", ""}};
  for (size_t i = 0; i < reads.size(); ++i) {
    EXPECT_EQ(reads[i].user.id, expected[i].first) << i;
    EXPECT_EQ(reads[i].outcome, expected[i].second.empty() ? Outcome::kSuccess : Outcome::kDenied)
        << i;
    EXPECT_EQ(reads[i].error ? reads[i].error->reason : "", expected[i].second) << i;
  }
  const AuditEvent& read = reads.back();
  EXPECT_EQ(read.details["endpoint"], "events");
  EXPECT_EQ(read.details["status"], 200);
  EXPECT_EQ(read.details["request"]["filters"],
            json({{"user", "carol"}, {"tool", "catalog_search"}}));
  EXPECT_EQ(read.request.client_ip, "127.0.0.1");
}

TEST_F(ReadApiTest, EventsAreFilteredAndPagedNewestFirstWithACursor) {
  const json carol = Get("/api/v1/events?user=carol&event_type=tool_call");
  ASSERT_EQ(carol["events"].size(), 1u) << carol;
  EXPECT_EQ(carol["events"][0]["params"]["query"], "orders");
  EXPECT_TRUE(carol["next_cursor"].is_null());
  EXPECT_EQ(Get("/api/v1/events?q=CATALOG&outcome=success&event_type=tool_call")["events"].size(),
            2u);
  EXPECT_EQ(Get("/api/v1/events?tool=no_such_tool")["events"].size(), 0u);

  // One record per page, newest first, following the cursor to the end.
  std::vector<std::string> ids;
  std::string target = "/api/v1/events?event_type=tool_call&limit=1";
  for (int page = 0; page < 5; ++page) {
    const json body = Get(target);
    for (const auto& e : body["events"]) ids.push_back(e["id"]);
    if (body["next_cursor"].is_null()) break;
    target = "/api/v1/events?event_type=tool_call&limit=1&cursor=" +
             body["next_cursor"].get<std::string>();
  }
  ASSERT_EQ(ids.size(), 2u);
  const json all = Get("/api/v1/events?event_type=tool_call&order=oldest");
  EXPECT_EQ(all["events"][0]["id"], ids[1]);  // oldest first: the other way round
  EXPECT_EQ(all["events"][0]["user"]["id"], "carol");

  ExpectBadParameter("/api/v1/events?limit=0", "limit");
  ExpectBadParameter("/api/v1/events?limit=abc", "limit");
  ExpectBadParameter("/api/v1/events?limit=100000", "limit");
  ExpectBadParameter("/api/v1/events?colour=blue", "colour");
  ExpectBadParameter("/api/v1/events?cursor=not-one-of-ours", "cursor");
  ExpectBadParameter("/api/v1/events?since=yesterday", "since");
  ExpectBadParameter("/api/v1/events?outcome=maybe", "outcome");
  ExpectBadParameter("/api/v1/events?phi=yes", "phi");
  ExpectBadParameter("/api/v1/events?user=a&user=b", "user");
  ExpectBadParameter("/api/v1/events?order=random", "order");
  ExpectBadParameter("/api/v1/events?user=carol%00", "user");  // a NUL would cut the value in SQL
  ExpectBadParameter("/api/v1/events?q=%ff", "q");             // not UTF-8
  EXPECT_EQ(Send("/api/v1/events?user=%zz", &auditor_).status, 400);
}

TEST_F(ReadApiTest, ARecordComesWithItsPlaceInTheChainAndTheCheckpointThatCoversIt) {
  const json carol = Get("/api/v1/events?user=carol&event_type=tool_call");
  ASSERT_EQ(carol["events"].size(), 1u);
  const std::string id = carol["events"][0]["id"];
  const json one = Get("/api/v1/events/" + id);
  EXPECT_EQ(one["event"], carol["events"][0]);
  EXPECT_EQ(one["integrity"]["seq"], carol["events"][0]["integrity"]["seq"]);
  EXPECT_EQ(one["integrity"]["hash"].get<std::string>().size(), 64u);
  // The first server that wrote it sealed a checkpoint after it when it stopped.
  ASSERT_TRUE(one["integrity"]["checkpoint"].is_object()) << one;
  EXPECT_EQ(one["integrity"]["checkpoint"]["event_type"], "checkpoint");
  EXPECT_GT(one["integrity"]["checkpoint"]["details"]["covers"]["seq"].get<uint64_t>(),
            one["integrity"]["seq"].get<uint64_t>() - 1);
  auto unknown = Send("/api/v1/events/0193a2b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b", &auditor_);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(json::parse(unknown.body)["error"].get<std::string>().find("no record"),
            std::string::npos);
}

// The digest a proof gives in base64.
Sha256Digest DigestOf(const json& text) {
  const std::string bytes = Base64Decode(text.get<std::string>()).value_or("");
  Sha256Digest digest{};
  std::copy_n(bytes.begin(), std::min<size_t>(bytes.size(), 32), reinterpret_cast<char*>(digest.data()));
  return digest;
}

TEST_F(ReadApiTest, TheTlogEndpointsServeTheCheckpointAndProofsThatCheckWithoutTheLog) {
  const json carol = Get("/api/v1/events?user=carol&event_type=tool_call")["events"][0];
  const std::string stream = carol["integrity"]["stream"], id = carol["id"];
  const uint64_t seq = carol["integrity"]["seq"];
  const std::string base = "/api/v1/tlog/" + stream;

  auto checkpoint = Send(base + "/checkpoint", &auditor_);
  ASSERT_EQ(checkpoint.status, 200) << checkpoint.body;
  EXPECT_EQ(checkpoint.header("content-type"), "text/plain; charset=utf-8");
  auto signed_tree = note::ParseCheckpoint(checkpoint.body);  // unsigned here: no key, the text alone
  ASSERT_TRUE(signed_tree) << checkpoint.body;
  EXPECT_EQ(signed_tree->origin, note::DefaultOrigin(stream));

  const json proof = Get(base + "/proof?id=" + id);
  EXPECT_EQ(proof["index"], seq - 1);
  EXPECT_EQ(proof["checkpoint"], checkpoint.body);
  std::vector<Sha256Digest> path;
  for (const json& hash : proof["proof"]) path.push_back(DigestOf(hash));
  const std::string leaf = *Base64Decode(proof["leaf"].get<std::string>());
  EXPECT_TRUE(merkle::VerifyInclusion(seq - 1, signed_tree->size, journal::LeafHash(leaf), path, signed_tree->root));
  EXPECT_NE(leaf.find(id), std::string::npos);
  auto tlog_proof = Send(base + "/proof?id=" + id + "&format=tlog-proof", &auditor_);
  EXPECT_EQ(tlog_proof.status, 200);
  EXPECT_TRUE(tlog_proof.body.starts_with("c2sp.org/tlog-proof@v1\nextra ")) << tlog_proof.body;

  const json growth = Get(base + "/consistency?old_size=2");
  path.clear();
  for (const json& hash : growth["proof"]) path.push_back(DigestOf(hash));
  EXPECT_TRUE(merkle::VerifyConsistency(2, signed_tree->size, DigestOf(growth["old_root"]), signed_tree->root, path));

  // What cannot be answered says why; a caller without the auditor role reads nothing.
  EXPECT_EQ(Send("/api/v1/tlog/no-such-stream/checkpoint", &auditor_).status, 404);
  ExpectBadParameter(base + "/consistency?old_size=many", "old_size");
  ExpectBadParameter(base + "/proof", "id");
  EXPECT_EQ(Send(base + "/proof?id=0193a2b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b", &auditor_).status, 404);
  EXPECT_EQ(Send(base + "/checkpoint", &analyst_).status, 403);
  EXPECT_EQ(Send(base + "/checkpoint", nullptr).status, 401);
}

TEST_F(ReadApiTest, StatsCountTheRecordsPerBucketWithTheTopToolsAndUsers) {
  const json stats = Get("/api/v1/stats?bucket=day&event_type=tool_call");
  ASSERT_EQ(stats["buckets"].size(), 1u) << stats;
  EXPECT_EQ(stats["buckets"][0]["success"], 2);
  EXPECT_EQ(stats["totals"]["total"], 2);
  EXPECT_EQ(stats["top_tools"][0], json({{"tool", "catalog_search"}, {"count", 2}}));
  ASSERT_EQ(stats["top_users"].size(), 2u);
  std::set<std::string> users;
  for (const auto& u : stats["top_users"]) users.insert(u["user"].get<std::string>());
  EXPECT_EQ(users, (std::set<std::string>{"carol", "dave"}));
  EXPECT_EQ(Get("/api/v1/stats?user=dave&event_type=tool_call")["totals"]["total"], 1);
  ExpectBadParameter("/api/v1/stats?bucket=week", "bucket");
  ExpectBadParameter("/api/v1/stats?q=x", "q");
  ExpectBadParameter("/api/v1/stats?limit=5", "limit");
  ExpectBadParameter("/api/v1/stats?bucket=minute&since=2000-01-01",
                     "bucket");  // millions of minutes: no
  const json minutes = Get("/api/v1/stats?bucket=minute&event_type=tool_call");  // the last day
  EXPECT_EQ(minutes["totals"]["total"], 2) << minutes;
}

// A verify run started through the API, followed to its end.
json RunVerify(
    const std::function<testing::HttpReply(const std::string&, const std::string&)>& send) {
  auto started = send("/api/v1/integrity/verify", "POST");
  EXPECT_EQ(started.status, 202) << started.body;
  const std::string job = json::parse(started.body, nullptr, false).value("job", "");
  for (int i = 0; i < 200; ++i) {
    auto reply = send("/api/v1/integrity/verify/" + job, "GET");
    EXPECT_EQ(reply.status, 200) << reply.body;
    json state = json::parse(reply.body, nullptr, false);
    if (state.value("state", "") != "running") return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "the verify run did not end";
  return nullptr;
}

TEST_F(ReadApiTest,
       IntegrityShowsEachChainHeadAndAVerifyRunTurnsTamperedWhenAJournalLineIsAltered) {
  const json integrity = Get("/api/v1/integrity");
  ASSERT_EQ(integrity["streams"].size(), 1u) << integrity;
  const json& stream = integrity["streams"][0];
  EXPECT_GE(stream["head"]["seq"].get<uint64_t>(), 4u);
  EXPECT_EQ(stream["head"]["hash"].get<std::string>().size(), 64u);
  ASSERT_TRUE(stream["checkpoint"].is_object())
      << stream;  // the servers that wrote the calls sealed them
  EXPECT_EQ(stream["checkpoint"]["signed"], false);
  EXPECT_TRUE(integrity["last_verify"].is_null());
  EXPECT_EQ(integrity["verify_available"], true);
  EXPECT_EQ(Send("/api/v1/integrity/verify", &auditor_).status, 405)
      << "a verify run is started by POST";
  EXPECT_EQ(Send("/api/v1/integrity/verify", &analyst_, "POST").status, 403);
  EXPECT_EQ(Send("/api/v1/integrity/verify/no-such-job", &auditor_).status, 404);

  auto send = [&](const std::string& target, const std::string& method) {
    return Send(target, &auditor_, method);
  };
  const json valid = RunVerify(send);
  EXPECT_EQ(valid["state"], "valid") << valid;
  EXPECT_GE(valid["records"].get<uint64_t>(), 4u);
  EXPECT_EQ(valid["requested_by"], "ann");

  // Someone who can edit the journal changes what carol searched for.
  const auto segment = testing::SegmentPaths(audit_).front();
  auto lines = testing::ReadLines(segment);
  bool altered = false;
  for (auto& line : lines)
    if (const size_t at = line.find("\"orders\""); at != std::string::npos && !altered) {
      line.replace(at, 8, "\"ORDERS\"");
      altered = true;
    }
  ASSERT_TRUE(altered);
  testing::WriteLines(segment, lines);
  const json tampered = RunVerify(send);
  EXPECT_EQ(tampered["state"], "tampered") << tampered;
  ASSERT_GE(tampered["problems"].size(), 1u);
  EXPECT_EQ(tampered["problems"][0]["verdict"], "modified") << tampered;
  EXPECT_EQ(Get("/api/v1/integrity")["last_verify"]["state"], "tampered");
}

TEST_F(ReadApiTest, ReportsAreDownloadsInCsvHtmlAndJson) {
  auto csv = Send("/api/v1/reports/access-review?format=csv", &auditor_);
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.header("content-type"), "text/csv; charset=utf-8");
  EXPECT_EQ(csv.header("content-disposition"), "attachment; filename=\"access-review.csv\"");
  EXPECT_NE(csv.body.find("carol"), std::string::npos) << csv.body;
  EXPECT_NE(csv.body.find("dave"), std::string::npos) << csv.body;
  auto html = Send("/api/v1/reports/failures?format=html&since=2000-01-01", &auditor_);
  ASSERT_EQ(html.status, 200);
  EXPECT_EQ(html.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(html.body.find("<script"), std::string::npos);
  const json phi = json::parse(Send("/api/v1/reports/phi-access", &auditor_).body, nullptr, false);
  EXPECT_TRUE(phi.is_object()) << "JSON by default";
  EXPECT_EQ(Send("/api/v1/reports/everything", &auditor_).status, 404);
  ExpectBadParameter("/api/v1/reports/failures?format=pdf", "format");
  ExpectBadParameter("/api/v1/reports/failures?user=carol", "user");
  EXPECT_EQ(Send("/api/v1/reports/failures", &analyst_).status, 403);
}

TEST_F(ReadApiTest, AnExportStreamsEveryRecordOldestFirstPageAfterPage) {
  // More records than one page of the export holds: each read leaves one.
  for (int i = 0; i < 1100; ++i)
    ASSERT_EQ(Send("/api/v1/events?limit=1&tool=none", &auditor_).status, 200);
  // The store follows the journal: wait until it holds them all.
  for (int i = 0; i < 100; ++i) {
    if (Get("/api/v1/stats?bucket=day&event_type=audit_read&tool=events")["totals"]["total"] >=
        1100)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto jsonl = Send("/api/v1/export?event_type=audit_read&tool=events", &auditor_);
  ASSERT_EQ(jsonl.status, 200) << jsonl.body;
  EXPECT_EQ(jsonl.header("content-type"), "application/x-ndjson");
  EXPECT_EQ(jsonl.header("transfer-encoding"), "chunked");
  EXPECT_EQ(jsonl.header("content-disposition"), "attachment; filename=\"audit-export.jsonl\"");
  std::set<std::string> ids;
  std::string previous;
  size_t lines = 0;
  std::istringstream in(jsonl.body);
  for (std::string line; std::getline(in, line); ++lines) {
    const json record = json::parse(line);
    EXPECT_TRUE(ids.insert(record["id"].get<std::string>()).second) << "twice: " << record["id"];
    EXPECT_LE(previous, record["timestamp"].get<std::string>());
    previous = record["timestamp"];
  }
  EXPECT_GE(lines, 1100u);

  auto csv = Send("/api/v1/export?event_type=tool_call&format=csv", &auditor_);
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.header("content-type"), "text/csv; charset=utf-8");
  EXPECT_EQ(std::ranges::count(csv.body, '\n'), 3) << csv.body;  // the header, carol's call, dave's
  EXPECT_LT(csv.body.find("carol"), csv.body.find("dave")) << "oldest first";
  ExpectBadParameter("/api/v1/export?format=xml", "format");
  ExpectBadParameter("/api/v1/export?limit=5", "limit");
}

TEST_F(ReadApiTest, ATailSendsTheRecordsThatArriveAsServerSentEventsAndResumesAfterACursor) {
  testing::HttpReply tail;
  std::thread reader =
      ListenToTail("event_type=audit_read&tool=stats", std::chrono::seconds(4), tail);
  Get("/api/v1/stats?bucket=day");
  Get("/api/v1/stats?bucket=hour");
  reader.join();
  EXPECT_EQ(tail.status, 200);
  EXPECT_EQ(tail.header("content-type"), "text/event-stream");
  std::vector<json> events;
  std::vector<std::string> ids;
  std::istringstream in(tail.body);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("data: ")) events.push_back(json::parse(line.substr(6)));
    if (line.starts_with("id: ")) ids.push_back(line.substr(4));
  }
  ASSERT_EQ(events.size(), 2u) << tail.body;  // only what arrived after it opened
  EXPECT_EQ(events[0]["details"]["request"]["filters"]["bucket"], "day");
  EXPECT_EQ(events[1]["details"]["request"]["filters"]["bucket"], "hour");
  ASSERT_EQ(ids.size(), 2u);

  // A client that lost the stream resumes after the last id it saw.
  auto resumed =
      http_->Send("GET", "/api/v1/tail?event_type=audit_read&tool=stats&cursor=" + ids[0], "",
                  {{"X-API-Key", auditor_.key}}, std::chrono::seconds(2));
  EXPECT_EQ(testing::SseData(resumed.body).size(), 1u) << resumed.body;
  EXPECT_NE(resumed.body.find(events[1]["id"].get<std::string>()), std::string::npos);
  ExpectBadParameter("/api/v1/tail?cursor=nonsense", "cursor");
}

// A call's record bears its arrival time but reaches the store when the call
// ends: after records that are newer. A tail that already sent those still sends it.
TEST_F(ReadApiTest, ATailSendsARecordThatReachesTheStoreAfterNewerOnes) {
  testing::HttpReply tail;
  std::thread reader = ListenToTail("tool=slow_call", std::chrono::seconds(5), tail);
  auto store = OpenSink({.name = "late", .url = "sqlite://" + (audit_ / "audit.db").string()});
  ASSERT_TRUE(store.has_value()) << store.error().message;
  auto deliver = [&](const std::string& id, std::chrono::system_clock::time_point at,
                     uint64_t seq) {
    AuditEvent e;
    e.id = id;
    e.timestamp = at;
    e.tool = "slow_call";
    e.integrity = AuditIntegrity{"late-stream", seq, std::string(64, '0'), std::string(64, 'a')};
    const SinkRecord record{ToJsonLine(e), e};
    ASSERT_TRUE((*store)->Store({&record, 1}).has_value());
  };
  const auto now = std::chrono::system_clock::now();
  deliver("quick", now, 1);  // a short call, stored at once
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  deliver("slow", now - std::chrono::seconds(10), 2);  // a call that began 10 s earlier ends now
  reader.join();
  std::vector<std::string> ids;
  for (const auto& data : testing::SseData(tail.body)) ids.push_back(json::parse(data)["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"quick", "slow"})) << tail.body;
}

// The web console: its pages for anyone the listener serves, the audit log for
// a signed-in auditor only.
TEST_F(ReadApiTest, TheConsoleSignsAnAuditorInWithASessionCookieAndNobodyElse) {
  auto page = http_->Send("GET", "/console/", "", {});
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.header("content-security-policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
  EXPECT_NE(page.body.find("name=\"credential\""), std::string::npos);
  EXPECT_EQ(http_->Send("GET", "/console/console.js", "", {}).header("content-type"),
            "text/javascript; charset=utf-8");
  EXPECT_EQ(http_->Send("GET", "/console/%2e%2e/%2e%2e/etc/passwd", "", {}).status, 404);
  EXPECT_EQ(http_->Send("GET", "/console/login", "", {}).status, 405);

  // The forms are posted from the console's own pages: this origin, scheme, host and port.
  const std::string origin = "http://127.0.0.1:" + std::to_string(port_);
  auto sign_in = [&](const std::string& credential, const std::string& from) {
    return http_->Send("POST", "/console/login", "credential=" + credential,
                       {{"Content-Type", "application/x-www-form-urlencoded"}, {"Origin", from}});
  };
  EXPECT_EQ(sign_in(auditor_.key, "http://127.0.0.1:1").status, 403)
      << "another port is another origin";
  EXPECT_EQ(sign_in(auditor_.key, "http://evil.example").status, 403);
  auto empty = sign_in("", origin);
  EXPECT_EQ(empty.header("location"), "/console/?login=failed");
  auto wrong = sign_in("mcpa_wrong", origin);
  EXPECT_EQ(wrong.status, 303);
  EXPECT_EQ(wrong.header("location"), "/console/?login=failed");
  EXPECT_EQ(wrong.header("set-cookie"), "");
  auto analyst = sign_in(analyst_.key, origin);
  EXPECT_EQ(analyst.header("location"), "/console/?login=forbidden");
  EXPECT_EQ(analyst.header("set-cookie"), "");

  auto auditor = sign_in(auditor_.key, origin);
  EXPECT_EQ(auditor.status, 303);
  EXPECT_EQ(auditor.header("location"), "/console/");
  const std::string cookie_header = auditor.header("set-cookie");
  EXPECT_NE(cookie_header.find("HttpOnly"), std::string::npos) << cookie_header;
  EXPECT_NE(cookie_header.find("SameSite=Strict"), std::string::npos) << cookie_header;
  EXPECT_NE(cookie_header.find("Max-Age="), std::string::npos) << cookie_header;
  const std::string cookie = cookie_header.substr(0, cookie_header.find(';'));
  auto read = http_->Send("GET", "/api/v1/events?user=carol", "", {{"Cookie", cookie}});
  EXPECT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(
      json::parse(http_->Send("GET", "/console/session", "", {{"Cookie", cookie}}).body)["user"],
      "ann");
  // What changes anything, the session does only from this origin.
  EXPECT_EQ(http_
                ->Send("POST", "/api/v1/integrity/verify", "",
                       {{"Cookie", cookie}, {"Origin", "http://127.0.0.1:1"}})
                .status,
            403);
  EXPECT_EQ(http_->Send("POST", "/api/v1/integrity/verify", "", {{"Cookie", cookie}}).status, 403)
      << "no Origin";
  EXPECT_EQ(
      http_->Send("POST", "/api/v1/integrity/verify", "", {{"Cookie", cookie}, {"Origin", origin}})
          .status,
      202);
  // Another application's cookie on this host is no session, and no refusal either.
  EXPECT_EQ(http_->Send("GET", "/api/v1/events", "", {{"Cookie", "theme=dark"}}).status, 401);
  EXPECT_EQ(
      http_->Send("GET", "/api/v1/events", "", {{"Cookie", "mcpaudit_console=guessed"}}).status,
      401);
  EXPECT_EQ(http_->Send("GET", "/mcp", "", {{"Cookie", cookie}}).status, 401)
      << "a cookie is no MCP credential";

  auto out = http_->Send("POST", "/console/logout", "", {{"Cookie", cookie}, {"Origin", origin}});
  EXPECT_EQ(out.status, 303);
  EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(http_->Send("GET", "/api/v1/events", "", {{"Cookie", cookie}}).status, 401)
      << "signed out";
  ASSERT_EQ(server_->Signal(SIGTERM), 0) << server_->Stderr();

  // The sign-ins and the sign-out are in the log: no credential and the wrong one as
  // auth_failure, the analyst as denied; the reads by session say so.
  std::vector<AuditEvent> sign_ins;
  std::string read_by;
  for (const auto& e : testing::Records(audit_, /*all=*/true)) {
    if (e.tool == "console/login" || e.tool == "console/logout") sign_ins.push_back(e);
    if (e.tool == "events" && e.user.id == "ann" && e.outcome == Outcome::kSuccess)
      read_by = e.user.auth_method;
  }
  ASSERT_EQ(sign_ins.size(), 5u);
  EXPECT_EQ(sign_ins[0].event_type, "auth_failure");
  EXPECT_EQ(sign_ins[0].error->reason, "invalid_request");
  EXPECT_EQ(sign_ins[1].event_type, "auth_failure");
  EXPECT_EQ(sign_ins[2].user.id, "bob");
  EXPECT_EQ(sign_ins[2].outcome, Outcome::kDenied);
  EXPECT_EQ(sign_ins[3].user.id, "ann");
  EXPECT_EQ(sign_ins[3].outcome, Outcome::kSuccess);
  EXPECT_EQ(sign_ins[4].tool, "console/logout");
  EXPECT_EQ(sign_ins[4].user.id, "ann");
  EXPECT_EQ(read_by, "console_session/api_key");
}

// `mcp-audit serve --http` on a free port with `config`, its journal in `dir`.
std::unique_ptr<ServerProcess> ServeHttpWith(const std::filesystem::path& dir,
                                             const std::filesystem::path& config) {
  return std::make_unique<ServerProcess>(
      std::vector<std::string>{"serve", "--http", "127.0.0.1:0", "--config", config.string(),
                               "--audit-dir", (dir / "audit").string()},
      dir / "serve.txt");
}

// An HS256 token for `claims`, signed with `secret`.
std::string Hs256Token(const std::string& secret, const json& claims) {
  const std::string signing_input =
      Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(claims.dump());
  const std::string hex = HmacSha256Hex(secret, signing_input);
  std::string mac;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    mac.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return signing_input + "." + Base64UrlEncode(mac);
}

// A session opened with a bearer token ends when the token does, not 8 hours later.
TEST(ConsoleSessionTest, ASessionSignedInWithATokenEndsWhenTheTokenExpires) {
  testing::TempDir dir;
  const auto secret_file = dir.path() / "jwt.secret";
  const std::string secret(40, 'k');
  std::ofstream(secret_file) << secret;
  std::filesystem::permissions(
      secret_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[auth.jwt]\nalgorithms = [\"HS256\"]\nsecret_file = \""
                        << secret_file.string() << "\"\nleeway_seconds = 0\n";
  auto server = ServeHttpWith(dir.path(), config);
  const auto endpoint = testing::WaitForEndpoint(*server);
  ASSERT_NE(endpoint.port, 0) << server->Stderr();
  const testing::HttpClient http("127.0.0.1", endpoint.port);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string token =
      Hs256Token(secret, {{"sub", "ann"}, {"roles", {"auditor"}}, {"exp", now + 3}});
  auto signed_in = http.Send("POST", "/console/login", "credential=" + token,
                             {{"Content-Type", "application/x-www-form-urlencoded"},
                              {"Origin", "http://127.0.0.1:" + std::to_string(endpoint.port)}});
  ASSERT_EQ(signed_in.header("location"), "/console/") << signed_in.body << server->Stderr();
  const std::string set_cookie = signed_in.header("set-cookie");
  const auto max_age = std::stoi(set_cookie.substr(set_cookie.find("Max-Age=") + 8));
  EXPECT_GE(max_age, 1);
  EXPECT_LE(max_age, 3) << "the cookie lives as long as the token";
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  EXPECT_EQ(http.Send("GET", "/api/v1/events?limit=1", "", {{"Cookie", cookie}}).status, 200);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_EQ(http.Send("GET", "/api/v1/events?limit=1", "", {{"Cookie", cookie}}).status, 401)
      << "the token expired";
}

// Behind a TLS-terminating reverse proxy the server trusts: the console's forms
// come from the public origin, and the session cookie is Secure.
TEST(ConsoleSessionTest,
     BehindATrustedHttpsProxyTheSignInIsFromThePublicOriginAndTheCookieIsSecure) {
  testing::TempDir dir;
  const Key auditor = MakeKey("ann", "auditor");
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config)
      << "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n"
      << "allowed_origins = [\"https://audit.example.com\", \"http://audit.example.com\"]\n\n"
      << auditor.entry;
  auto server = ServeHttpWith(dir.path(), config);
  const auto endpoint = testing::WaitForEndpoint(*server);
  ASSERT_NE(endpoint.port, 0) << server->Stderr();
  const testing::HttpClient http("127.0.0.1", endpoint.port);
  auto sign_in = [&](const std::string& origin) {
    return http.Send("POST", "/console/login", "credential=" + auditor.key,
                     {{"Content-Type", "application/x-www-form-urlencoded"},
                      {"Origin", origin},
                      {"X-Forwarded-Host", "audit.example.com"},
                      {"X-Forwarded-Proto", "https"}});
  };
  auto public_origin = sign_in("https://audit.example.com");
  EXPECT_EQ(public_origin.header("location"), "/console/") << public_origin.body;
  EXPECT_NE(public_origin.header("set-cookie").find("; Secure"), std::string::npos)
      << public_origin.header("set-cookie");
  EXPECT_EQ(sign_in("http://audit.example.com").status, 403) << "the scheme is part of the origin";
  EXPECT_EQ(sign_in("https://evil.example").status, 403);
}

// `mcp-audit console`: the same API for an auditor's machine, reading a shared
// PostgreSQL that a server ships to; its reads go to the local journal.
TEST(ConsoleTest, AnAuditorReadsASharedPostgresqlThroughTheConsoleAndTheReadsAreRecorded) {
  using testing::DatabaseServer;
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  DatabaseServer& postgres = DatabaseServer::Get(DatabaseServer::Kind::kPostgres);
  postgres.UseNewDatabase();
  const SinkConfig pg = postgres.Config("pg");
  const auto server_config = dir.path() / "server.toml";
  std::ofstream(server_config) << "[[sinks]]\nname = \"pg\"\nurl = \"" << pg.url
                               << "\"\npassword_file = \"" << pg.password_file << "\"\n";
  {
    ServerProcess server(audit, {"--config", server_config.string(), "--user", "erin"});
    server.Initialize();
    server.Request(1, "tools/call",
                   {{"name", "catalog_search"}, {"arguments", {{"query", "ledger"}}}});
    EXPECT_EQ(server.CloseAndWait(), 0);
  }
  const Key auditor = MakeKey("ann", "auditor");
  const auto console_config = dir.path() / "console.toml";
  std::ofstream(console_config) << auditor.entry << "\n";
  ServerProcess console(
      {"console", "--http", "127.0.0.1:0", "--config", console_config.string(), "--store", pg.url,
       "--store-password-file", pg.password_file, "--audit-dir", audit.string()},
      dir.path() / "console.txt");
  const auto endpoint = testing::WaitForEndpoint(console);
  ASSERT_NE(endpoint.port, 0) << console.Stderr();
  const testing::HttpClient http("127.0.0.1", endpoint.port);
  const testing::Headers key = {{"X-API-Key", auditor.key}};
  auto events = http.Send("GET", "/api/v1/events?user=erin&event_type=tool_call", "", key);
  ASSERT_EQ(events.status, 200) << events.body;
  const json body = json::parse(events.body);
  ASSERT_EQ(body["events"].size(), 1u) << body;
  EXPECT_EQ(body["events"][0]["params"]["query"], "ledger");
  auto stats = http.Send("GET", "/api/v1/stats?bucket=hour&user=erin", "", key);
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_GE(json::parse(stats.body)["totals"]["total"].get<int>(), 1);
  auto integrity = http.Send("GET", "/api/v1/integrity", "", key);
  ASSERT_EQ(integrity.status, 200) << integrity.body;
  EXPECT_EQ(json::parse(integrity.body)["streams"].size(), 1u) << integrity.body;
  const json verdict = RunVerify([&](const std::string& target, const std::string& method) {
    return http.Send(method, target, "", key);
  });
  EXPECT_EQ(verdict["state"], "valid") << verdict;  // the store itself: it holds the records
  EXPECT_NE(verdict["what"].get<std::string>().find("postgres"), std::string::npos) << verdict;
  auto report = http.Send("GET", "/api/v1/reports/access-review?format=csv", "", key);
  ASSERT_EQ(report.status, 200) << report.body;
  EXPECT_NE(report.body.find("erin"), std::string::npos) << report.body;
  auto exported = http.Send("GET", "/api/v1/export?user=erin&event_type=tool_call", "", key);
  ASSERT_EQ(exported.status, 200) << exported.body;
  EXPECT_EQ(std::ranges::count(exported.body, '\n'), 1) << exported.body;
  auto tail =
      http.Send("GET", "/api/v1/tail?user=nobody", "", key, std::chrono::milliseconds(1500));
  EXPECT_EQ(tail.status, 200);
  EXPECT_EQ(tail.header("content-type"), "text/event-stream");
  EXPECT_EQ(http.Send("GET", "/mcp", "", key).status, 404) << "the console serves no MCP";
  EXPECT_EQ(http.Send("GET", "/api/v1/events", "", {{"X-API-Key", "mcpa_wrong"}}).status, 401);
  EXPECT_EQ(console.Signal(SIGTERM), 0) << console.Stderr();

  // No server holds the journal: the reads wait for the next one, in order.
  std::vector<json> reads;
  for (const auto& line : testing::ReadLines(audit / "pending-reads.jsonl"))
    reads.push_back(json::parse(line));
  std::vector<std::string> endpoints;
  for (const auto& read : reads) endpoints.push_back(read["tool"]);
  // The polls of the verify run, as many as it took; its verdict, recorded when it ended, among
  // them.
  const auto polls = std::ranges::count(endpoints, "integrity/verify/{job}");
  EXPECT_GE(polls, 1);
  std::erase(endpoints, "integrity/verify/{job}");
  EXPECT_EQ(endpoints, (std::vector<std::string>{"events", "stats", "integrity", "integrity/verify",
                                                 "integrity/verify", "reports/{kind}", "export",
                                                 "tail", "api"}));
  EXPECT_EQ(reads[0]["user"]["id"], "ann");
  EXPECT_EQ(reads[0]["details"]["source"].get<std::string>().rfind("postgres", 0), 0u) << reads[0];
  EXPECT_EQ(reads.back()["outcome"], "denied");  // the wrong key
  size_t verdicts = 0;
  for (const auto& read : reads) {
    if (!read["details"].contains("verdict")) continue;
    ++verdicts;
    EXPECT_EQ(read["details"]["verdict"]["state"], "valid") << read;
  }
  EXPECT_EQ(verdicts, 1u);
}

}  // namespace
}  // namespace mcpaudit
