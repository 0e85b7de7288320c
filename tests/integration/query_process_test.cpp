// The query socket through a real `outpost run`: the socket file and its mode, /v1/status and
// its sections, errors as JSON with a status code, `outpost status` (text, JSON, and when the
// daemon is not running), and the API key never in what it answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <utime.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "collector/query/query_client.h"
#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"
#include "tests/support/trace_bodies.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using testing::NotifySocket;
using testing::Process;
using testing::sendUdp;
using testing::TempDir;

constexpr const char* kPlantedKey = "feedfacecafebeef0123456789abcdef";

// Connects to `socket` and sends `raw` without reading the answer: the caller holds (and closes)
// the connection. -1 when it cannot connect.
int openRequest(const std::string& socket, const std::string& raw) {
  const int fd = testing::connectUnix(socket);
  if (fd >= 0) {
    (void)::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  }
  return fd;
}

// Reads until the peer closes, then closes `fd`.
std::string readAll(int fd) {
  return testing::exchange(fd, "", 600);  // (searches may hold it for their whole timeout)
}

// Sends `raw` as is and returns the whole answer.
std::string rawRequest(const std::string& socket, const std::string& raw) {
  return testing::exchange(testing::connectUnix(socket), raw);
}

TEST(QueryProcessTest, StatusOverTheSocket) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  dir.write("conf.d/uptime.d/conf.yaml",
            "init_config:\ninstances:\n  - min_collection_interval: 1\n");
  dir.write("outpost.yaml", std::string("api_key: ") + kPlantedKey +
                                "\nhostname: query-test-host\n"
                                "use_dogstatsd: false\napm_config:\n  enabled: false\n"
                                "dd_url: " +
                                intake.url() + "\nrun_path: " + dir.file("run") +
                                "\nquery_socket: query.sock\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  struct stat st {};
  ASSERT_EQ(::stat(socket.c_str(), &st), 0) << p.err();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  std::this_thread::sleep_for(1500ms);  // a check run or two
  auto r = query::queryGet(socket, "/v1/status");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["hostname"], "query-test-host");
  EXPECT_EQ(j["forwarding"], "on");
  EXPECT_EQ(j["pid"], p.pid());
  EXPECT_FALSE(j["version"].get<std::string>().empty());
  ASSERT_EQ(j["checks"]["instances"].size(), 1u);
  EXPECT_EQ(j["checks"]["instances"][0]["check"], "uptime");
  EXPECT_EQ(j["checks"]["instances"][0]["status"], "OK");
  EXPECT_GE(j["checks"]["instances"][0]["runs"].get<int>(), 1);
  EXPECT_TRUE(j["forwarder"]["endpoints"].is_array());
  EXPECT_TRUE(j["telemetry"].contains("outpost.checks.runs"));
  EXPECT_EQ(r.body.find(kPlantedKey), std::string::npos);

  // The configuration, as configcheck prints it: the key redacted.
  r = query::queryGet(socket, "/v1/config");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto cfg = nlohmann::json::parse(r.body);
  EXPECT_NE(cfg["text"].get<std::string>().find("hostname: query-test-host"), std::string::npos)
      << r.body;
  EXPECT_NE(cfg["text"].get<std::string>().find("api_key:"), std::string::npos);
  EXPECT_EQ(r.body.find(kPlantedKey), std::string::npos) << r.body;
  EXPECT_EQ(query::queryPost(socket, "/v1/config", "{}").status, 405);

  r = query::queryGet(socket, "/v1/status?section=checks");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(r.body).contains("instances"));
  r = query::queryGet(socket, "/v1/checks");
  EXPECT_EQ(r.status, 200);

  // Errors: JSON {error, detail} with the right status.
  for (const auto& [target, status] : std::vector<std::pair<std::string, int>>{
           {"/v1/status?section=nope", 404}, {"/v1/status?x=1", 400}, {"/v1/unknown", 404}}) {
    r = query::queryGet(socket, target);
    ASSERT_TRUE(r.ok) << target;
    EXPECT_EQ(r.status, status) << target;
    const auto e = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_TRUE(e["error"].is_string()) << r.body;
    EXPECT_TRUE(e["detail"].is_string()) << r.body;
  }
  const std::string post = rawRequest(
      socket,
      "POST /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  const std::string garbage = rawRequest(socket, "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;

  // `outpost status`, as text and as JSON.
  auto text = testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path()});
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Outpost (v"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("query-test-host"), std::string::npos);
  EXPECT_NE(text.out.find("uptime"), std::string::npos);
  EXPECT_NE(text.out.find("Forwarder"), std::string::npos);
  EXPECT_EQ(text.out.find(kPlantedKey), std::string::npos);
  auto json = testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path(), "--json"});
  EXPECT_EQ(json.code, 0);
  EXPECT_EQ(nlohmann::json::parse(json.out)["hostname"], "query-test-host");

  // Every request is logged with the peer's credentials.
  EXPECT_NE(p.err().find("GET /v1/status from pid "), std::string::npos);
  EXPECT_EQ(p.err().find(kPlantedKey), std::string::npos);

  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  EXPECT_NE(::access(socket.c_str(), F_OK), 0);  // removed at stop
  auto down = testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path()});
  EXPECT_EQ(down.code, 1);
  EXPECT_NE(down.err.find("outpost is not running"), std::string::npos) << down.err;
}

// Log search over the configured files and their rotated siblings (plain, .gz, .zst), with
// every filter, paging, and bad requests. logs_enabled is off: search reads the files anyway.
TEST(QueryProcessTest, LogSearch) {
  TempDir dir;
  auto lines = [](int from, int to) {
    std::string out;
    for (int i = from; i <= to; ++i) {
      out += "2026-11-22T10:00:" + std::to_string(i % 60) + "Z host app[1]: " +
             (i % 10 == 0   ? "ERROR db timeout after 5s"
              : i % 10 == 5 ? "error: connection refused"
                            : "INFO request ok") +
             " n=" + std::to_string(i) + "\n";
    }
    return out;
  };
  // Oldest first: app.log.2.gz (1-100), app.log.1 (101-200), app.log (201-300).
  {
    const std::string gz = dir.file("logs/app.log.2.gz");
    std::filesystem::create_directories(dir.file("logs"));
    gzFile f = gzopen(gz.c_str(), "wb");
    const std::string text = lines(1, 100);
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
  }
  dir.write("logs/app.log.1", lines(101, 200));
  dir.write("logs/app.log",
            lines(201, 299) + "2026-11-22T10:05:00Z host app[1]: ERROR db last, no newline");
  dir.write("logs/other-a.log", "ERROR in other\nfine\n");
  // Rotated files are older: their order is by modification time, oldest first.
  const time_t now = ::time(nullptr);
  for (const auto& [name, age] :
       {std::pair<const char*, int>{"logs/app.log.2.gz", 200}, {"logs/app.log.1", 100}}) {
    utimbuf t{now - age, now - age};
    ::utime(dir.file(name).c_str(), &t);
  }
  dir.write("conf.d/app.d/conf.yaml",
            "logs:\n"
            "  - type: file\n    path: " +
                dir.file("logs/app.log") +
                "\n    service: app\n    source: myapp\n"
                "  - type: file\n    path: " +
                dir.file("logs/other-*.log") + "\n    service: other\n    source: x\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "query:\n  cache_ttl: 1\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");
  auto search = [&](const nlohmann::json& body) {
    auto r = query::queryPost(socket, "/v1/logs/search", body.dump());
    EXPECT_TRUE(r.ok) << r.error;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    j["_status"] = r.status;
    return j;
  };

  // The sources and their files, rotations included.
  auto src = query::queryGet(socket, "/v1/logs/sources");
  ASSERT_EQ(src.status, 200) << src.body;
  const auto sj = nlohmann::json::parse(src.body);
  ASSERT_EQ(sj["sources"].size(), 2u) << sj.dump();
  EXPECT_EQ(sj["sources"][0]["type"], "file");
  EXPECT_EQ(sj["sources"][0]["service"], "app");
  std::map<std::string, nlohmann::json> files;
  for (const auto& f : sj["sources"][0]["files"]) {
    files[std::filesystem::path(f["path"].get<std::string>()).filename()] = f;
  }
  ASSERT_EQ(files.size(), 3u) << sj.dump();
  EXPECT_EQ(files["app.log"]["rotated"], false);
  EXPECT_EQ(files["app.log.1"]["rotated"], true);
  EXPECT_EQ(files["app.log.2.gz"]["compressed"], true);
  EXPECT_GT(files["app.log"]["size"].get<uint64_t>(), 0u);
  EXPECT_FALSE(files["app.log"].contains("tailed"));  // logs_enabled is off
  EXPECT_EQ(sj["sources"][1]["files"].size(), 1u);

  auto r = search({{"query", "ERROR"}, {"limit", 1000}});
  ASSERT_EQ(r["_status"], 200) << r.dump();
  // ERROR lines: n % 10 == 0 in 1-299 (29), the last unterminated line, and other-a.log.
  ASSERT_EQ(r["results"].size(), 31u) << r.dump();
  EXPECT_EQ(r["results"][0]["file"], dir.file("logs/app.log.2.gz"));
  EXPECT_EQ(r["results"][0]["line_number"], 10);
  EXPECT_EQ(r["results"][9]["file"], dir.file("logs/app.log.2.gz"));
  EXPECT_EQ(r["results"][10]["file"], dir.file("logs/app.log.1"));
  EXPECT_EQ(r["results"][10]["line_number"], 10);  // n=110 is line 10 of app.log.1
  EXPECT_NE(r["results"][10]["line"].get<std::string>().find("n=110"), std::string::npos);
  EXPECT_EQ(r["results"][29]["file"], dir.file("logs/app.log"));
  EXPECT_EQ(r["results"][29]["line_number"], 100);
  EXPECT_EQ(r["results"][29]["line"],
            "2026-11-22T10:05:00Z host app[1]: ERROR db last, no newline");
  EXPECT_EQ(r["results"][30]["file"], dir.file("logs/other-a.log"));
  EXPECT_EQ(r["results"][30]["service"], "other");
  EXPECT_EQ(r["results"][0]["service"], "app");
  EXPECT_EQ(r["results"][0]["source"], "myapp");
  EXPECT_EQ(r["truncated"], false);
  EXPECT_TRUE(r["next_cursor"].is_null());
  EXPECT_EQ(r["files_scanned"], 4);

  // Counting only: every match, no lines.
  r = search({{"query", "ERROR"}, {"count_only", true}});
  EXPECT_EQ(r["count"], 31);
  EXPECT_TRUE(r["results"].empty());

  // Case-insensitive: "error:" lines too (n % 10 == 5: 30 of them).
  r = search({{"query", "error"}, {"case_insensitive", true}, {"limit", 1000}});
  EXPECT_EQ(r["results"].size(), 61u);
  // A regex with alternation.
  r = search({{"query", "timeout|refused"}, {"regex", true}, {"limit", 1000}});
  EXPECT_EQ(r["results"].size(), 59u);
  // An alternation of words ANDed with another pattern, and a regex with syntax (RE2).
  r = search({{"patterns", {"timeout|refused", "n=1"}}, {"regex", true}, {"limit", 1000}});
  EXPECT_EQ(r["results"].size(), 22u);  // n=10, 15 and n=100-195 ending in 0 or 5
  r = search({{"query", "(timeout|refused).*n=1[0-9]$"}, {"regex", true}, {"limit", 1000}});
  EXPECT_EQ(r["results"].size(), 2u);
  // Patterns are ANDed on one line.
  r = search({{"patterns", {"ERROR", "n=2"}}, {"limit", 1000}});
  EXPECT_EQ(r["results"].size(), 11u);  // n=20, 200..290 with ERROR
  // Filters.
  r = search({{"query", "ERROR"}, {"service", "other"}});
  ASSERT_EQ(r["results"].size(), 1u);
  EXPECT_EQ(r["results"][0]["line_number"], 1);
  r = search({{"query", "ERROR"}, {"path", "app.log.1"}});
  EXPECT_EQ(r["results"].size(), 10u);
  r = search({{"query", "ERROR"}, {"service", "nope"}});
  EXPECT_EQ(r["results"].size(), 0u);
  EXPECT_FALSE(r["hints"].empty());

  // Paging: limit 7 and the cursor give the same 31 hits, in order.
  std::vector<std::string> paged;
  nlohmann::json cursor = nullptr;
  for (int page = 0; page < 10; ++page) {
    nlohmann::json body = {{"query", "ERROR"}, {"limit", 7}};
    if (!cursor.is_null()) {
      body["cursor"] = cursor;
    }
    r = search(body);
    ASSERT_EQ(r["_status"], 200) << r.dump();
    EXPECT_EQ(r["results"].size(), page < 4 ? 7u : 3u) << page;
    for (const auto& h : r["results"]) {
      paged.push_back(h["file"].get<std::string>() + ":" +
                      std::to_string(h["line_number"].get<int>()));
    }
    cursor = r["next_cursor"];
    if (cursor.is_null()) {
      break;
    }
    EXPECT_EQ(r["truncated"], true);
  }
  r = search({{"query", "ERROR"}, {"limit", 1000}});
  std::vector<std::string> all;
  for (const auto& h : r["results"]) {
    all.push_back(h["file"].get<std::string>() + ":" + std::to_string(h["line_number"].get<int>()));
  }
  EXPECT_EQ(paged, all);

  // Newest first: the same hits from the end (files in reverse order, each from its last
  // line), and paging by its own cursor gives them all once.
  const std::vector<std::string> reversed(all.rbegin(), all.rend());
  auto keys = [](const nlohmann::json& results) {
    std::vector<std::string> out;
    for (const auto& h : results) {
      out.push_back(h["file"].get<std::string>() + ":" +
                    std::to_string(h["line_number"].get<int>()));
    }
    return out;
  };
  r = search({{"query", "ERROR"}, {"order", "desc"}, {"limit", 1000}});
  ASSERT_EQ(r["_status"], 200) << r.dump();
  EXPECT_EQ(keys(r["results"]), reversed);
  EXPECT_EQ(r["truncated"], false);
  EXPECT_TRUE(r["next_cursor"].is_null());
  std::vector<std::string> paged_desc;
  cursor = nullptr;
  for (int page = 0; page < 10; ++page) {
    nlohmann::json body = {{"query", "ERROR"}, {"order", "desc"}, {"limit", 7}, {"keep", 0}};
    if (!cursor.is_null()) {
      body["cursor"] = cursor;
    }
    r = search(body);
    ASSERT_EQ(r["_status"], 200) << r.dump();
    EXPECT_EQ(r["results"].size(), page < 4 ? 7u : 3u) << page;
    for (const auto& k : keys(r["results"])) {
      paged_desc.push_back(k);
    }
    cursor = r["next_cursor"];
    if (cursor.is_null()) {
      break;
    }
  }
  EXPECT_EQ(paged_desc, reversed);
  // Newest first with kept results: the answer, then the kept older ones, then the search
  // goes on from the oldest kept.
  r = search({{"query", "ERROR"}, {"order", "desc"}, {"limit", 5}, {"keep", 10}});
  ASSERT_EQ(keys(r["results"]), std::vector<std::string>(reversed.begin(), reversed.begin() + 5));
  ASSERT_TRUE(r["result_id"].is_string()) << r.dump();
  {
    auto kept = query::queryGet(
        socket, "/v1/logs/results/" + r["result_id"].get<std::string>() + "?limit=100");
    ASSERT_EQ(kept.status, 200) << kept.body;
    const auto kj = nlohmann::json::parse(kept.body);
    EXPECT_EQ(keys(kj["results"]),
              std::vector<std::string>(reversed.begin() + 5, reversed.begin() + 15));
    ASSERT_TRUE(kj["search_cursor"].is_string()) << kj.dump();
    r = search(
        {{"query", "ERROR"}, {"order", "desc"}, {"limit", 1000}, {"cursor", kj["search_cursor"]}});
    EXPECT_EQ(keys(r["results"]), std::vector<std::string>(reversed.begin() + 15, reversed.end()));
  }
  // A cursor of one order is refused by the other.
  r = search({{"query", "ERROR"}, {"limit", 7}});
  const auto asc_cursor = r["next_cursor"];
  r = search({{"query", "ERROR"}, {"order", "desc"}, {"cursor", asc_cursor}});
  EXPECT_EQ(r["_status"], 400);
  // An empty query: every line (here of one file).
  r = search({{"query", ""}, {"path", "other-a.log"}});
  ASSERT_EQ(r["results"].size(), 2u) << r.dump();
  EXPECT_EQ(r["results"][1]["line"], "fine");

  // Bad requests: 400 with a reason; GET is 405.
  for (const auto& [body, why] : std::vector<std::pair<std::string, std::string>>{
           {"{not json", "not JSON"},
           {R"({"query":"(a","regex":true})", "invalid regex"},
           {R"({"query":"a","colour":"red"})", "unknown field 'colour'"},
           {R"({"query":"a","limit":0})", "limit must be"},
           {R"({"query":"a","limit":100000})", "limit must be"},
           {R"({"patterns":["a",""]})", "1 to 4096 bytes"},
           {R"({"query":"a","order":"up"})", "order: asc"},
           {R"({"query":"a","status":"loud"})", "status: one of"},
           {R"({"regex":true})", "is required"},
           {R"({"query":"a","from":"yesterday"})", "RFC 3339"},
           {R"({"query":"a","from":"-1m","to":"-2h"})", "from is after to"},
           {R"({"query":"a","cursor":"xyz"})", "cursor"},
       }) {
    auto res = query::queryPost(socket, "/v1/logs/search", body);
    ASSERT_TRUE(res.ok);
    EXPECT_EQ(res.status, 400) << body;
    const auto e = nlohmann::json::parse(res.body, nullptr, false);
    EXPECT_NE(e["detail"].get<std::string>().find(why), std::string::npos)
        << body << " " << res.body;
  }
  EXPECT_EQ(query::queryGet(socket, "/v1/logs/search").status, 405);

  // A zstd-compressed rotation is read too (found at each search).
  const nlohmann::json again = {{"query", "ERROR"}, {"service", "other"}, {"limit", 3}};
  const auto t_first = std::chrono::steady_clock::now();
  r = search(again);
  EXPECT_FALSE(r.contains("cached"));
  EXPECT_EQ(r["results"].size(), 1u) << r.dump();
  {
    const std::string plain = "fine\nERROR from zst\n";
    std::string z(ZSTD_compressBound(plain.size()), '\0');
    z.resize(ZSTD_compress(z.data(), z.size(), plain.data(), plain.size(), 1));
    dir.write("logs/other-a.log.1.zst", z);
    utimbuf t{now - 300, now - 300};
    ::utime(dir.file("logs/other-a.log.1.zst").c_str(), &t);
  }
  // The same body within query.cache_ttl (1 s here) is the cached answer, said so (stale:
  // without the new file); after it, a new scan finds the new file.
  r = search(again);
  if (std::chrono::steady_clock::now() - t_first < 900ms) {  // (unless this machine paused)
    EXPECT_EQ(r["cached"], true) << r.dump();
    EXPECT_GE(r["cached_age_ms"].get<double>(), 0.0);
    EXPECT_EQ(r["results"].size(), 1u) << r.dump();
  }
  std::this_thread::sleep_for(1100ms);  // the cache's TTL
  r = search(again);
  EXPECT_FALSE(r.contains("cached"));
  ASSERT_EQ(r["results"].size(), 2u) << r.dump();
  EXPECT_EQ(r["results"][0]["file"], dir.file("logs/other-a.log.1.zst"));
  EXPECT_EQ(r["results"][0]["line_number"], 2);
  EXPECT_EQ(r["results"][0]["line"], "ERROR from zst");
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// Time ranges: each timestamp format, binary search in time-ordered files, a file without
// timestamps read whole (and said so), an old rotation skipped by its modification time.
TEST(QueryProcessTest, LogSearchTimeRanges) {
  TempDir dir;
  // 20,000 lines a file, one every 3 s, the last a little before now (syslog stamps have no
  // year, so the lines must be within a day of now; files written now have a modification
  // time after the range, whatever the time of day the test runs at).
  const int64_t base = (static_cast<int64_t>(::time(nullptr)) - 62000) / 60 * 60;
  auto make = [&](const std::string& name, auto stamp) {
    std::string text;
    for (int i = 0; i < 20000; ++i) {
      const time_t t = static_cast<time_t>(base + 3 * i);
      text +=
          stamp(t) + " host app: request " + std::to_string(i) + (i % 7 == 0 ? " slow" : "") + "\n";
      if (i % 100 == 0) {
        text += "  continuation line without a stamp slow\n";
      }
    }
    dir.write("logs/" + name, text);
  };
  auto fmt = [](time_t t, const char* f) {
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, f, &tm);
    return std::string(buf);
  };
  make("iso.log", [&](time_t t) { return fmt(t, "%Y-%m-%dT%H:%M:%SZ"); });
  make("syslog.log", [&](time_t t) { return fmt(t, "%b %d %H:%M:%S"); });
  make("access.log", [&](time_t t) {
    return "10.0.0.1 - - " + fmt(t, "[%d/%b/%Y:%H:%M:%S +0000]") + " \"GET /\"";
  });
  make("json.log", [&](time_t t) {
    return "{\"timestamp\":\"" + fmt(t, "%Y-%m-%dT%H:%M:%S") + ".000Z\",\"msg\":\"x\"}";
  });
  std::string plain;
  for (int i = 0; i < 1000; ++i) {
    plain += "no time here slow " + std::to_string(i) + "\n";
  }
  dir.write("logs/plain.log", plain);
  dir.write("logs/iso.log.1", fmt(base - 86400, "%Y-%m-%dT%H:%M:%SZ") + " old slow line\n");
  const time_t old_time = static_cast<time_t>(base - 86400);
  utimbuf ot{old_time, old_time};
  ::utime(dir.file("logs/iso.log.1").c_str(), &ot);
  dir.write("conf.d/app.d/conf.yaml", "logs:\n  - type: file\n    path: " + dir.file("logs/*.log") +
                                          "\n    service: app\n    source: app\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "run_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  // One minute in the middle, 4 hours after the first line, holds requests 4800-4819 (one
  // every 3 s).
  auto at = [&](int64_t offset_s) {
    return fmt(static_cast<time_t>(base + offset_s), "%Y-%m-%dT%H:%M:%SZ");
  };
  const std::string minute = at(14400).substr(0, 17);  // "YYYY-MM-DDTHH:MM:"
  const nlohmann::json body = {
      {"query", "request"}, {"from", at(14400)}, {"to", at(14459)}, {"limit", 1000}};
  auto res = query::queryPost(socket, "/v1/logs/search", body.dump());
  ASSERT_EQ(res.status, 200) << res.body;
  const auto j = nlohmann::json::parse(res.body);
  std::map<std::string, std::vector<int>> by_file;
  for (const auto& h : j["results"]) {
    const std::string line = h["line"];
    const size_t at = line.find("request ");
    by_file[std::filesystem::path(h["file"].get<std::string>()).filename()].push_back(
        std::stoi(line.substr(at + 8)));
    EXPECT_TRUE(h["timestamp"].get<std::string>().rfind(minute, 0) == 0) << line;
  }
  std::vector<int> want;
  for (int i = 4800; i < 4820; ++i) {
    want.push_back(i);
  }
  for (const char* f : {"iso.log", "syslog.log", "access.log", "json.log"}) {
    EXPECT_EQ(by_file[f], want) << f;
  }
  EXPECT_EQ(j["files_binary_searched"], 4);
  EXPECT_EQ(j["files_skipped_by_time"], 1);  // iso.log.1, last written the day before
  EXPECT_EQ(j["no_timestamps"], (nlohmann::json{dir.file("logs/plain.log")}));
  // Far less than the files were read: a binary search, not a scan.
  EXPECT_LT(j["scanned_bytes"].get<uint64_t>(), 4u << 20) << j.dump();

  // Continuation lines inside the range come with it; relative times work.
  res = query::queryPost(
      socket, "/v1/logs/search",
      nlohmann::json{
          {"query", "continuation"}, {"from", at(14400)}, {"to", at(14700)}, {"path", "iso.log"}}
          .dump());
  ASSERT_EQ(res.status, 200) << res.body;
  // After requests 4800 (the start) and 4900 (5 minutes later: `to` is inclusive).
  EXPECT_EQ(nlohmann::json::parse(res.body)["results"].size(), 2u);
  res = query::queryPost(socket, "/v1/logs/search", R"({"query":"request","from":"-15m"})");
  ASSERT_EQ(res.status, 200) << res.body;
  const std::string since = fmt(::time(nullptr) - 15 * 60 - 1, "%Y-%m-%dT%H:%M:%S");
  const nlohmann::json recent = nlohmann::json::parse(res.body);
  for (const auto& h : recent["results"]) {
    if (h.contains("timestamp")) {
      EXPECT_GE(h["timestamp"].get<std::string>(), since) << h.dump();
    }
  }
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// In local mode the default socket is run_path/query.sock, and status says forwarding is off.
TEST(QueryProcessTest, LocalModeSocketUnderRunPath) {
  TempDir dir;
  dir.write("app.log", "one\ntwo\n");
  dir.write("conf.d/app.d/conf.yaml", "logs:\n  - type: file\n    path: " + dir.file("app.log") +
                                          "\n    service: app\n    source: app\n"
                                          "    start_position: beginning\n");
  dir.write("outpost.yaml",
            "hostname: local-host\nuse_dogstatsd: false\napm_config:\n  "
            "enabled: false\nlogs_enabled: true\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  auto r = query::queryGet(dir.file("run/query.sock"), "/v1/status");
  ASSERT_TRUE(r.ok) << r.error << "\n" << p.err();
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["forwarding"], "off: local mode (no api_key)");
  EXPECT_FALSE(j.contains("forwarder"));
  // The tailed file, as the pipeline sees it, in /v1/logs/sources (once it was read).
  nlohmann::json tailed;
  for (int i = 0; i < 50 && tailed.is_null(); ++i) {
    const auto src =
        nlohmann::json::parse(query::queryGet(dir.file("run/query.sock"), "/v1/logs/sources").body);
    const auto& f = src["sources"][0]["files"][0];
    if (f.contains("tailed") && f["tailed"]["offset_read"] == 8) {
      tailed = f["tailed"];
    }
    std::this_thread::sleep_for(100ms);  // polling another process
  }
  ASSERT_FALSE(tailed.is_null()) << p.err();
  EXPECT_EQ(tailed["lines"], 2);
  // The lines the pipeline processed, from the recent-logs ring (local mode: never sent).
  auto tail = query::queryGet(dir.file("run/query.sock"), "/v1/logs/tail?service=app&lines=5");
  ASSERT_EQ(tail.status, 200) << tail.body;
  auto lines = nlohmann::json::parse(tail.body)["lines"];
  ASSERT_EQ(lines.size(), 2u) << tail.body;
  EXPECT_EQ(lines[0]["message"], "one");
  EXPECT_EQ(lines[1]["message"], "two");
  EXPECT_EQ(lines[1]["path"], dir.file("app.log"));
  EXPECT_EQ(lines[1]["status"], "info");
  tail = query::queryPost(dir.file("run/query.sock"), "/v1/logs/tail", R"({"service":"other"})");
  ASSERT_EQ(tail.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(tail.body)["lines"].empty());
  EXPECT_FALSE(nlohmann::json::parse(tail.body)["hints"].empty());
  EXPECT_EQ(query::queryGet(dir.file("run/query.sock"), "/v1/logs/tail?status=bad").status, 400);
  EXPECT_EQ(query::queryGet(dir.file("run/query.sock"), "/v1/logs/tail?lines=0").status, 400);
  EXPECT_EQ(query::queryGet(dir.file("run/query.sock"), "/v1/logs/tail?x=1").status, 400);
  // Rates: 100 more lines, read after the snapshot taken at start.
  {
    std::string more;
    for (int i = 0; i < 100; ++i) {
      more += "more " + std::to_string(i) + "\n";
    }
    std::ofstream(dir.file("app.log"), std::ios::app) << more;
  }
  nlohmann::json rated;
  for (int i = 0; i < 50 && rated.is_null(); ++i) {
    const auto src =
        nlohmann::json::parse(query::queryGet(dir.file("run/query.sock"), "/v1/logs/sources").body);
    const auto& f = src["sources"][0]["files"][0];
    if (f.contains("tailed") && f["tailed"]["lines"] == 102 && f["tailed"].contains("rates")) {
      rated = f["tailed"]["rates"];
    }
    std::this_thread::sleep_for(100ms);  // polling another process
  }
  ASSERT_FALSE(rated.is_null()) << p.err();
  EXPECT_GT(rated["lines_per_s"].get<double>(), 0.0) << rated.dump();
  EXPECT_GT(rated["bytes_per_s"].get<double>(), 0.0);
  EXPECT_GE(rated["over_s"].get<double>(), 1.0);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// Metrics through the socket in local mode: DogStatsD samples and a check's series land in the
// metric store; /v1/metrics/list and /v1/metrics/query answer with filters, groups, rollups and
// errors.
TEST(QueryProcessTest, MetricsQueryAndList) {
  TempDir dir;
  const int port = testing::freeUdpPort();
  dir.write("conf.d/uptime.d/conf.yaml",
            "init_config:\ninstances:\n  - min_collection_interval: 1\n");
  dir.write("outpost.yaml",
            "hostname: metrics-host\napm_config:\n  enabled: false\nrun_path: " + dir.file("run") +
                "\ndogstatsd_port: " + std::to_string(port) + "\ndogstatsd_flush_interval: 1\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");
  sendUdp(port,
          "app.temp:21|g|#room:a\napp.temp:23|g|#room:b\napp.hits:5|c|#route:/x\n"
          "app.hits:3|c|#route:/x\n");

  // The 10 s bucket closes, then the next one-second flush stores it.
  nlohmann::json list;
  for (int i = 0; i < 250; ++i) {
    list = nlohmann::json::parse(query::queryGet(socket, "/v1/metrics/list?prefix=app.").body);
    if (list["metrics"].size() == 2) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process
  }
  ASSERT_EQ(list["metrics"].size(), 2u) << list.dump() << p.err();
  EXPECT_EQ(list["metrics"][0]["name"], "app.hits");
  EXPECT_EQ(list["metrics"][0]["type"], "rate");
  EXPECT_EQ(list["metrics"][1]["name"], "app.temp");
  EXPECT_EQ(list["metrics"][1]["contexts"], 2);
  EXPECT_EQ(list["metrics"][1]["tag_keys"], (nlohmann::json{"host", "room"}));
  EXPECT_GE(list["store"]["contexts"].get<int>(), 3);

  auto post = [&](const nlohmann::json& body) {
    auto r = query::queryPost(socket, "/v1/metrics/query", body.dump());
    EXPECT_TRUE(r.ok) << r.error;
    return std::make_pair(r.status, nlohmann::json::parse(r.body, nullptr, false));
  };
  auto [status, j] = post({{"query", "avg:app.temp{*} by {room}"}, {"from", "-5m"}});
  ASSERT_EQ(status, 200) << j.dump();
  ASSERT_EQ(j["series"].size(), 2u) << j.dump();
  EXPECT_EQ(j["series"][0]["group"]["room"], "a");
  EXPECT_EQ(j["series"][0]["summary"]["last"], 21.0);
  EXPECT_EQ(j["series"][1]["summary"]["last"], 23.0);
  EXPECT_EQ(j["interval_s"], 10);
  std::tie(status, j) = post({{"query", "max:app.temp{!room:a,host:metrics-host}"}});
  ASSERT_EQ(status, 200);
  ASSERT_EQ(j["series"].size(), 1u);
  EXPECT_EQ(j["series"][0]["summary"]["max"], 23.0);
  // A DogStatsD count is a rate per second; as_count() gives back the count.
  std::tie(status, j) = post({{"query", "sum:app.hits{route:/x}.as_count()"}, {"from", "-5m"}});
  ASSERT_EQ(status, 200);
  EXPECT_DOUBLE_EQ(j["series"][0]["summary"]["max"].get<double>(), 8.0) << j.dump();
  // The check's series are there too (any host metric from conf.d).
  for (int i = 0; i < 50; ++i) {
    std::tie(status, j) = post({{"query", "avg:system.uptime{*}"}});
    if (!j["series"].empty()) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process
  }
  ASSERT_EQ(j["series"].size(), 1u) << j.dump();
  EXPECT_GT(j["series"][0]["summary"]["last"].get<double>(), 0);

  // GET with url-encoded parameters works like POST.
  auto r = query::queryGet(socket, "/v1/metrics/query?query=avg%3Aapp.temp%7Broom%3Ab%7D&from=-5m");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["series"][0]["summary"]["last"], 23.0);
  r = query::queryGet(socket, "/v1/metrics/list?tag_filter=room%3Aa");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["metrics"].size(), 1u);

  // Errors: a reason and a 400.
  for (const auto& body :
       std::vector<nlohmann::json>{{{"query", "p99:app.temp{*}"}},
                                   {{"query", "avg:app.temp{*}"}, {"bogus", 1}},
                                   {{"query", "avg:app.temp{*}"}, {"from", "yesterday-ish"}},
                                   {{"query", "avg:app.temp{*}"}, {"max_series", 0}},
                                   {{"from", "-5m"}}}) {
    std::tie(status, j) = post(body);
    EXPECT_EQ(status, 400) << body.dump();
    EXPECT_TRUE(j["detail"].is_string()) << body.dump();
  }
  // An unknown metric answers empty with a hint.
  std::tie(status, j) = post({{"query", "avg:no.such.metric{*}"}});
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(j["series"].empty());
  EXPECT_FALSE(j["hints"].empty());
  const auto st = nlohmann::json::parse(query::queryGet(socket, "/v1/status").body);
  EXPECT_GE(st["metric_store"]["contexts"].get<int>(), 4);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// Sends `raw` to 127.0.0.1:port and returns the whole answer (Connection: close).
std::string rawTcpRequest(int port, const std::string& raw) {
  return testing::exchange(testing::connectTcp(port), raw);
}

// Traces through the socket in local mode: a real v0.4 request to the receiver, then
// /v1/traces with filters and sorting and /v1/traces/{id} with the span tree.
TEST(QueryProcessTest, TracesSearchAndGet) {
  TempDir dir;
  const int port = testing::freeTcpPort();
  dir.write("outpost.yaml",
            "hostname: traces-host\nuse_dogstatsd: false\nrun_path: " + dir.file("run") +
                "\napm_config:\n  receiver_port: " + std::to_string(port) + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  const int64_t t0 = (static_cast<int64_t>(::time(nullptr)) - 60) * 1'000'000'000;
  std::vector<testing::Trace> traces;
  for (uint64_t i = 1; i <= 3; ++i) {
    const bool error = i == 2;
    testing::TraceSpan root{"checkout",
                            "http.request",
                            "POST /pay",
                            "web",
                            0xabc0 + i,
                            i * 10,
                            0,
                            t0 + static_cast<int64_t>(i) * 1'000'000'000,
                            static_cast<int64_t>(i) * 100'000'000,
                            0,
                            {{"env", "prod"}, {"http.status_code", error ? "500" : "200"}},
                            {{"_sampling_priority_v1", 1}}};
    testing::TraceSpan db{
        "checkout-db",
        "postgres.query",
        "UPDATE accounts SET x = 1",
        "sql",
        0xabc0 + i,
        i * 10 + 1,
        i * 10,
        t0 + static_cast<int64_t>(i) * 1'000'000'000 + 1'000'000,
        50'000'000,
        error ? 1 : 0,
        error ? std::vector<std::pair<std::string, std::string>>{{"error.message", "lock timeout"}}
              : std::vector<std::pair<std::string, std::string>>{},
        {}};
    traces.push_back({root, db});
  }
  const std::string body = testing::v04Body(traces);
  const std::string answer =
      rawTcpRequest(port,
                    "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                    "X-Datadog-Trace-Count: 3\r\nDatadog-Meta-Lang: python\r\nConnection: close\r\n"
                    "Content-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;

  auto r = query::queryGet(socket, "/v1/traces?service=checkout-db&sort=slowest");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["traces"].size(), 3u) << j.dump();
  EXPECT_EQ(j["traces"][0]["trace_id"], std::to_string(0xabc3));
  EXPECT_EQ(j["traces"][0]["service"], "checkout");
  EXPECT_EQ(j["traces"][0]["env"], "prod");
  EXPECT_DOUBLE_EQ(j["traces"][0]["duration_ms"].get<double>(), 300);
  r = query::queryPost(socket, "/v1/traces",
                       R"({"service":"checkout","error_only":true,"min_duration_ms":150})");
  ASSERT_EQ(r.status, 200) << r.body;
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["traces"].size(), 1u) << j.dump();
  EXPECT_EQ(j["traces"][0]["error"]["message"], "lock timeout");
  // The SQL was obfuscated before it was stored, as it is before it is sent.
  r = query::queryGet(socket, "/v1/traces/" + j["traces"][0]["trace_id"].get<std::string>());
  ASSERT_EQ(r.status, 200) << r.body;
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["spans"].size(), 2u);
  EXPECT_EQ(j["spans"][1]["depth"], 1);
  EXPECT_EQ(j["spans"][1]["resource"], "UPDATE accounts SET x = ?");
  EXPECT_EQ(j["spans"][1]["meta"]["error.message"], "lock timeout");
  EXPECT_EQ(j["spans"][0]["meta"]["http.status_code"], "500");

  // Errors.
  EXPECT_EQ(query::queryGet(socket, "/v1/traces/999999").status, 404);
  EXPECT_EQ(query::queryGet(socket, "/v1/traces/not-an-id").status, 400);
  EXPECT_EQ(query::queryGet(socket, "/v1/traces?sort=random").status, 400);
  EXPECT_EQ(query::queryGet(socket, "/v1/traces?limit=100000").status, 400);
  EXPECT_EQ(query::queryGet(socket, "/v1/traces?min_duration_ms=fast").status, 400);
  EXPECT_EQ(query::queryPost(socket, "/v1/traces", R"({"service":1})").status, 400);
  const auto st = nlohmann::json::parse(query::queryGet(socket, "/v1/status").body);
  EXPECT_EQ(st["trace_store"]["traces"], 3);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

std::string searchRequest(const std::string& body, bool keep_alive) {
  return "POST /v1/logs/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         std::string(keep_alive ? "" : "Connection: close\r\n") +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A log source whose one file is a 1 TiB sparse file (a line, then zeros): a search through it
// runs for minutes, so the test decides when searches end.
void writeSlowAndSmallSources(TempDir& dir) {
  dir.write("logs/small.log", "alpha one\nbeta two\nalpha three\n");
  dir.write("logs/big.log", "NEEDLE first line\n");
  ASSERT_EQ(::truncate(dir.file("logs/big.log").c_str(), off_t{1} << 40), 0);
  dir.write("conf.d/app.d/conf.yaml",
            "logs:\n"
            "  - type: file\n    path: " +
                dir.file("logs/small.log") +
                "\n    service: small\n    source: s\n"
                "  - type: file\n    path: " +
                dir.file("logs/big.log") + "\n    service: big\n    source: b\n");
}

nlohmann::json searchStatus(const std::string& socket) {
  auto r = query::queryGet(socket, "/v1/status");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("searches") ? j["searches"] : nlohmann::json();
}

// Polls /v1/status until `pred(searches)` holds (or 10 s pass); returns the last section.
template <typename Pred>
nlohmann::json waitSearches(const std::string& socket, Pred pred) {
  nlohmann::json s;
  for (int i = 0; i < 200; ++i) {
    s = searchStatus(socket);
    if (s.is_object() && pred(s)) {
      break;
    }
    std::this_thread::sleep_for(50ms);  // polling another process
  }
  return s;
}

// query.max_concurrent_searches searches run, the next query.max_queued_searches wait and are
// all answered when threads free up, one more is refused with 429; a client that disconnects
// cancels its search, whether it asked to keep the connection alive or not.
TEST(QueryProcessTest, SearchConcurrencyQueueAndCancellation) {
  TempDir dir;
  writeSlowAndSmallSources(dir);
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "query:\n  max_concurrent_searches: 4\n  max_queued_searches: 16\n"
            "  search_timeout: 120\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  // Four searches through the 1 TiB file hold the four search threads.
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(
        openRequest(socket, searchRequest(R"({"query":"nowhere","service":"big"})", i % 2 == 0)));
    ASSERT_GE(slow.back(), 0);
  }
  auto s = waitSearches(socket, [](const auto& j) { return j["running"] == 4; });
  ASSERT_EQ(s["running"], 4) << s.dump();
  EXPECT_EQ(s["max_concurrent"], 4);

  // Sixteen more wait in the queue.
  std::vector<query::ClientResult> answers(16);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < answers.size(); ++i) {
    clients.emplace_back([&, i] {
      answers[i] = query::queryPost(socket, "/v1/logs/search",
                                    R"({"query":"alpha","service":"small"})", 60s);
    });
  }
  s = waitSearches(socket, [](const auto& j) { return j["queued"] == 16; });
  EXPECT_EQ(s["queued"], 16) << s.dump();
  EXPECT_EQ(s["running"], 4) << s.dump();

  // The queue is full: the next one is refused at once.
  auto refused =
      query::queryPost(socket, "/v1/logs/search", R"({"query":"alpha","service":"small"})");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(refused.body.find("query.max_concurrent_searches"), std::string::npos) << refused.body;

  // The four slow clients go away: their searches stop, and the queued ones are answered.
  for (int fd : slow) {
    ::close(fd);
  }
  for (auto& t : clients) {
    t.join();
  }
  for (const auto& a : answers) {
    ASSERT_EQ(a.status, 200) << a.error << a.body;
    const auto j = nlohmann::json::parse(a.body);
    ASSERT_EQ(j["results"].size(), 2u) << a.body;
    EXPECT_EQ(j["results"][1]["line"], "alpha three");
    EXPECT_GT(j["queued_ms"].get<double>(), 0.0);
    EXPECT_FALSE(j.contains("timed_out"));
  }
  s = waitSearches(socket, [](const auto& j) { return j["running"] == 0; });
  EXPECT_EQ(s["running"], 0) << s.dump();
  EXPECT_EQ(s["queued"], 0);
  EXPECT_EQ(s["cancelled"], 4) << s.dump();
  EXPECT_EQ(s["waited"], 16);
  EXPECT_EQ(s["refused"], 1);
  EXPECT_EQ(s["timed_out"], 0);

  // A client that half-closes (shuts down its writing side) still gets its answer.
  const int half =
      openRequest(socket, searchRequest(R"({"query":"beta","service":"small"})", true));
  ASSERT_GE(half, 0);
  ::shutdown(half, SHUT_WR);
  const std::string answer = readAll(half);
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find("beta two"), std::string::npos) << answer;

  // Stopping while a search runs: it is cancelled and the daemon exits promptly.
  const int last = openRequest(socket, searchRequest(R"({"query":"x","service":"big"})", true));
  s = waitSearches(socket, [](const auto& j) { return j["running"] == 1; });
  EXPECT_EQ(s["running"], 1) << s.dump();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
  ::close(last);
}

// A search that outlives query.search_timeout answers with what it found, timed_out and a
// cursor that goes on from where it stopped.
TEST(QueryProcessTest, SearchTimeoutAnswersPartially) {
  TempDir dir;
  writeSlowAndSmallSources(dir);
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "query:\n  search_timeout: 0.5\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");

  auto r = query::queryPost(socket, "/v1/logs/search",
                            R"({"query":"NEEDLE","service":"big","limit":10})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["timed_out"], true) << r.body;
  EXPECT_EQ(j["truncated"], true);
  ASSERT_EQ(j["results"].size(), 1u) << r.body;
  EXPECT_EQ(j["results"][0]["line"], "NEEDLE first line");
  EXPECT_GE(j["took_ms"].get<double>(), 450.0);
  EXPECT_LT(j["took_ms"].get<double>(), 5000.0);
  EXPECT_FALSE(j["hints"].empty());
  const auto cursor = j["next_cursor"].get<std::string>();
  ASSERT_FALSE(cursor.empty());
  const auto scanned = j["scanned_bytes"].get<uint64_t>();
  EXPECT_GT(scanned, 0u);

  // The cursor goes on from where the search stopped: the first line is not found again (the
  // cursor's position only moves at line ends, and these zeros have none for 64 MiB).
  r = query::queryPost(
      socket, "/v1/logs/search",
      nlohmann::json{{"query", "NEEDLE"}, {"service", "big"}, {"limit", 10}, {"cursor", cursor}}
          .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["timed_out"], true) << r.body;
  EXPECT_TRUE(j["results"].empty()) << r.body;
  EXPECT_GT(j["scanned_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["next_cursor"].is_string()) << r.body;
  const auto s = searchStatus(socket);
  EXPECT_EQ(s["timed_out"], 2) << s.dump();
  EXPECT_EQ(s["timeout_s"], 0.5);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// Results beyond the limit are kept and read page by page at /v1/logs/results/{id}; the last
// page hands back the search's cursor for what was not kept.
TEST(QueryProcessTest, SearchResultStorePaging) {
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 50; ++i) {
    text += "hit " + std::to_string(i) + "\nmiss\n";
  }
  dir.write("logs/app.log", text);
  dir.write("conf.d/app.d/conf.yaml",
            "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                "\n    service: app\n    source: app\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");
  auto lineOf = [](const nlohmann::json& hit) { return hit["line"].get<std::string>(); };

  auto r = query::queryPost(socket, "/v1/logs/search", R"({"query":"hit","limit":10,"keep":25})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["results"].size(), 10u);
  EXPECT_EQ(j["truncated"], true);
  EXPECT_EQ(j["kept"], 25);
  const std::string id = j["result_id"];
  // The answer's cursor goes on at the first result not in it (hit 11, line 21).
  const auto next = query::queryPost(
      socket, "/v1/logs/search",
      nlohmann::json{{"query", "hit"}, {"limit", 1}, {"cursor", j["next_cursor"]}}.dump());
  const auto nj = nlohmann::json::parse(next.body);
  ASSERT_EQ(nj["results"].size(), 1u) << next.body;
  EXPECT_EQ(lineOf(nj["results"][0]), "hit 11");
  EXPECT_EQ(nj["results"][0]["line_number"], 21);

  // Pages of 10 through the 25 kept: hits 11-35.
  std::vector<std::string> kept;
  std::string cursor;
  nlohmann::json page;
  for (int pages = 0; pages < 5; ++pages) {
    const std::string target =
        "/v1/logs/results/" + id + "?limit=10" + (cursor.empty() ? "" : "&cursor=" + cursor);
    auto pr = query::queryGet(socket, target);
    ASSERT_EQ(pr.status, 200) << pr.body;
    page = nlohmann::json::parse(pr.body);
    EXPECT_EQ(page["total"], 25);
    for (const auto& h : page["results"]) {
      kept.push_back(lineOf(h));
    }
    if (page["next_cursor"].is_null()) {
      break;
    }
    cursor = page["next_cursor"];
  }
  ASSERT_EQ(kept.size(), 25u);
  EXPECT_EQ(kept.front(), "hit 11");
  EXPECT_EQ(kept.back(), "hit 35");
  // The last page: the search found more than it kept; its cursor finds hit 36 on.
  EXPECT_EQ(page["truncated"], true);
  ASSERT_TRUE(page["search_cursor"].is_string()) << page.dump();
  r = query::queryPost(
      socket, "/v1/logs/search",
      nlohmann::json{{"query", "hit"}, {"limit", 100}, {"cursor", page["search_cursor"]}}.dump());
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["results"].size(), 15u) << r.body;
  EXPECT_EQ(lineOf(j["results"][0]), "hit 36");
  EXPECT_EQ(j["truncated"], false);
  EXPECT_FALSE(j.contains("result_id"));

  // Everything found fits the store: the last page says nothing is left.
  r = query::queryPost(socket, "/v1/logs/search", R"({"query":"hit","limit":40})");
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["kept"], 10) << r.body;
  auto pr = query::queryGet(socket,
                            "/v1/logs/results/" + j["result_id"].get<std::string>() + "?limit=100");
  page = nlohmann::json::parse(pr.body);
  EXPECT_EQ(page["results"].size(), 10u);
  EXPECT_EQ(page["truncated"], false);
  EXPECT_FALSE(page.contains("search_cursor"));
  // keep: 0 keeps nothing.
  r = query::queryPost(socket, "/v1/logs/search", R"({"query":"hit","limit":5,"keep":0})");
  j = nlohmann::json::parse(r.body);
  EXPECT_FALSE(j.contains("result_id"));
  EXPECT_EQ(j["truncated"], true);

  // Errors.
  EXPECT_EQ(query::queryGet(socket, "/v1/logs/results/r0000000000000000").status, 404);
  EXPECT_EQ(query::queryGet(socket, "/v1/logs/results/" + id + "?cursor=x").status, 400);
  EXPECT_EQ(query::queryGet(socket, "/v1/logs/results/" + id + "?limit=0").status, 400);
  EXPECT_EQ(query::queryGet(socket, "/v1/logs/results/" + id + "?other=1").status, 400);
  EXPECT_EQ(query::queryPost(socket, "/v1/logs/results/" + id, "{}").status, 405);
  EXPECT_EQ(query::queryPost(socket, "/v1/logs/search", R"({"query":"hit","keep":100001})").status,
            400);
  const auto st = searchStatus(socket);
  // Kept: the first search's 25, the limit-1 search's (keep defaults to 1000: 39 were left),
  // and the limit-40 search's 10.
  EXPECT_EQ(st["result_store"]["entries"], 3) << st.dump();
  EXPECT_GT(st["result_store"]["bytes"].get<uint64_t>(), 0u);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// With query.search_split_bytes small, every search of the file runs in two halves at once:
// the answers must be exactly those of one pass (lines, line numbers, offsets, counts, cursors).
TEST(QueryProcessTest, SearchInTwoHalvesAnswersAsOnePass) {
  TempDir dir;
  std::string text;
  std::vector<std::pair<uint64_t, uint64_t>> errors;  // (line number, offset)
  for (int i = 1; i <= 20000; ++i) {
    const bool error = i % 7 == 0;
    if (error) {
      errors.emplace_back(i, text.size());
    }
    text += "2026-11-22T10:00:00Z host app: request " + std::to_string(i) +
            (error ? " ERROR Timeout" : " ok") + "\n";
  }
  dir.write("logs/app.log", text);
  // Seven small files: searched two at a time, one on each core (the last one alone).
  std::vector<std::pair<std::string, uint64_t>> many_errors;  // (file, line number)
  for (int k = 1; k <= 7; ++k) {
    std::string small;
    const std::string name = dir.file("many/m" + std::to_string(k) + ".log");
    for (int i = 1; i <= 30 * k; ++i) {
      small += (i % 4 == k % 4 ? "ERROR in " : "fine ") + std::to_string(i) + "\n";
      if (i % 4 == k % 4) {
        many_errors.emplace_back(name, i);
      }
    }
    dir.write("many/m" + std::to_string(k) + ".log", small);
  }
  dir.write("conf.d/app.d/conf.yaml",
            "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                "\n    service: app\n    source: app\n"
                "  - type: file\n    path: " +
                dir.file("many/m*.log") + "\n    service: many\n    source: many\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "query:\n  search_split_bytes: 4096\n  cache_ttl: 0\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");
  auto search = [&](nlohmann::json body) {
    auto r = query::queryPost(socket, "/v1/logs/search", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false);
  };
  for (const nlohmann::json& q :
       {nlohmann::json{{"query", "ERROR"}, {"service", "app"}},
        nlohmann::json{{"query", "timeout"}, {"case_insensitive", true}, {"service", "app"}},
        nlohmann::json{
            {"query", "ERROR (Timeout|Nothing)"}, {"regex", true}, {"service", "app"}}}) {
    // All at once.
    auto body = q;
    body["limit"] = 10000;
    body["keep"] = 0;
    auto j = search(body);
    ASSERT_EQ(j["results"].size(), errors.size()) << q.dump();
    for (size_t k = 0; k < errors.size(); ++k) {
      ASSERT_EQ(j["results"][k]["line_number"], errors[k].first) << q.dump() << " " << k;
      ASSERT_EQ(j["results"][k]["offset"], errors[k].second) << q.dump() << " " << k;
    }
    EXPECT_EQ(j["truncated"], false);
    EXPECT_EQ(j["scanned_bytes"], text.size());
    EXPECT_EQ(j["files_split"], 1);
    // Counted.
    body = q;
    body["count_only"] = true;
    EXPECT_EQ(search(body)["count"], errors.size()) << q.dump();
    // Page by page (each page starts a new split at its cursor), and kept results.
    body = q;
    body["limit"] = 300;
    body["keep"] = 200;
    std::vector<uint64_t> lines;
    for (int pages = 0; pages < 100; ++pages) {
      j = search(body);
      for (const auto& h : j["results"]) {
        lines.push_back(h["line_number"]);
      }
      if (pages == 0) {
        ASSERT_EQ(j["kept"], 200);
      }
      if (j["next_cursor"].is_null()) {
        break;
      }
      body["cursor"] = j["next_cursor"];
    }
    ASSERT_EQ(lines.size(), errors.size()) << q.dump();
    for (size_t k = 0; k < errors.size(); ++k) {
      ASSERT_EQ(lines[k], errors[k].first) << q.dump() << " " << k;
    }
  }
  // The seven files: in order, whole, then page by page.
  auto j = search({{"query", "ERROR"}, {"service", "many"}, {"limit", 10000}});
  ASSERT_EQ(j["results"].size(), many_errors.size()) << j.dump();
  for (size_t k = 0; k < many_errors.size(); ++k) {
    ASSERT_EQ(j["results"][k]["file"], many_errors[k].first) << k;
    ASSERT_EQ(j["results"][k]["line_number"], many_errors[k].second) << k;
  }
  EXPECT_EQ(j["files_scanned"], 7);
  EXPECT_EQ(search({{"query", "ERROR"}, {"service", "many"}, {"count_only", true}})["count"],
            many_errors.size());
  nlohmann::json body = {{"query", "ERROR"}, {"service", "many"}, {"limit", 11}, {"keep", 3}};
  std::vector<std::pair<std::string, uint64_t>> paged;
  for (int pages = 0; pages < 100; ++pages) {
    j = search(body);
    for (const auto& h : j["results"]) {
      paged.emplace_back(h["file"], h["line_number"]);
    }
    if (j["next_cursor"].is_null()) {
      break;
    }
    body["cursor"] = j["next_cursor"];
  }
  EXPECT_EQ(paged, many_errors);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// /v1/status gathers what needs attention in "warnings", and `outpost status` prints them.
TEST(QueryProcessTest, StatusWarnings) {
  TempDir dir;
  dir.write("logs/a.log", "one\n");
  dir.write("logs/b.log", "two\n");
  dir.write("conf.d/app.d/conf.yaml", "logs:\n  - type: file\n    path: " + dir.file("logs/*.log") +
                                          "\n    service: app\n    source: app\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\n"
            "logs_enabled: true\nlogs_config:\n  open_files_limit: 1\n"
            "hostnme_typo: x\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  nlohmann::json warnings;
  for (int i = 0; i < 50; ++i) {
    auto r = query::queryGet(dir.file("run/query.sock"), "/v1/status?section=warnings");
    ASSERT_EQ(r.status, 200) << r.body;
    warnings = nlohmann::json::parse(r.body);
    if (warnings.size() >= 2) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process (the first scan)
  }
  ASSERT_TRUE(warnings.is_array()) << warnings.dump();
  const std::string all = warnings.dump();
  EXPECT_NE(all.find("configuration: "), std::string::npos) << all;
  EXPECT_NE(all.find("hostnme_typo"), std::string::npos) << all;
  EXPECT_NE(all.find("1 log files not tailed"), std::string::npos) << all;
  // (the open files at their limit are said by that warning, not once more as a resource)
  EXPECT_EQ(all.find("logs.open_files at its limit"), std::string::npos) << all;
  const auto text =
      testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path()}, {}, std::chrono::seconds(10));
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Warnings"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("not tailed: over logs_config.open_files_limit"), std::string::npos);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// Every bounded queue, buffer, store and cache in /v1/status's "resources", with the limits the
// configuration set (non-default values here), what it holds, and a warning for one that is
// full (DogStatsD contexts) but not for a ring that is (the recent-logs ring is not full here).
TEST(QueryProcessTest, ResourcesAgainstTheirLimits) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  const int dsd_port = testing::freeUdpPort();
  const int apm_port = testing::freeTcpPort();
  std::string lines;
  for (int i = 0; i < 200; ++i) {
    lines += "2026-12-07T10:00:00Z line " + std::to_string(i) + "\n";
  }
  dir.write("logs/app.log", "");
  dir.write("conf.d/app.d/conf.yaml", "logs:\n  - type: file\n    path: " +
                                          dir.file("logs/app.log") + "\n    service: app\n");
  dir.write("outpost.yaml",
            "api_key: 0123456789abcdef0123456789abcdef\nhostname: res-host\n"
            "query_socket: query.sock\ndd_url: " +
                intake.url() + "\nrun_path: " + dir.file("run") +
                "\nlogs_enabled: true\nlogs_config:\n  open_files_limit: 7\n"
                "  batch_wait: 0.1\n  logs_dd_url: " +
                intake.url() +
                "\n"
                "forwarder_retry_queue_payloads_max_size: 6291456\n"
                "forwarder_storage_max_size_in_bytes: 52428800\n"
                "dogstatsd_port: " +
                std::to_string(dsd_port) +
                "\ndogstatsd_context_limit: 3\n"
                "apm_config:\n  receiver_port: " +
                std::to_string(apm_port) + "\n  apm_dd_url: " + intake.url() +
                "\n  connection_limit: 50\n  obfuscation:\n    cache:\n      max_size: 100000\n"
                "query:\n  logs_buffer_bytes: 1048576\n  metrics_max_contexts: 500\n"
                "  traces_max_bytes: 2097152\n  results_max_bytes: 3000000\n"
                "  cache_max_bytes: 400000\n  max_concurrent_searches: 3\n"
                "  max_queued_searches: 9\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");
  {
    std::ofstream f(dir.file("logs/app.log"), std::ios::app);
    f << lines;
  }
  // Five contexts against a limit of three.
  sendUdp(dsd_port, "r.a:1|c\nr.b:1|c\nr.c:1|c\nr.d:1|c\nr.e:1|c");

  std::map<std::string, nlohmann::json> by_name;
  nlohmann::json doc;
  for (int i = 0; i < 100; ++i) {
    const auto r = query::queryGet(socket, "/v1/status");
    ASSERT_EQ(r.status, 200) << r.error << p.err();
    doc = nlohmann::json::parse(r.body);
    by_name.clear();
    for (const auto& r : doc["resources"]) {
      by_name[r["name"].get<std::string>()] = r;
    }
    if (by_name.count("dogstatsd.contexts") &&
        by_name["dogstatsd.contexts"]["used"].get<uint64_t>() == 3 &&
        by_name.count("query.recent_logs") &&
        by_name["query.recent_logs"]["used"].get<uint64_t>() > 200u * 20) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process
  }
  // name -> (limit, key) as configured (or fixed)
  const std::map<std::string, std::pair<uint64_t, std::string>> expected = {
      {"workers.queue", {1024, ""}},
      {"forwarder.memory{endpoint:metrics}", {6291456, "forwarder_retry_queue_payloads_max_size"}},
      {"forwarder.spool{endpoint:metrics}", {52428800, "forwarder_storage_max_size_in_bytes"}},
      {"forwarder.memory{endpoint:logs}", {6291456, "forwarder_retry_queue_payloads_max_size"}},
      {"forwarder.memory{endpoint:traces}", {6291456, "forwarder_retry_queue_payloads_max_size"}},
      {"logs.inflight", {3145728, "forwarder_retry_queue_payloads_max_size"}},
      {"logs.open_files", {7, "logs_config.open_files_limit"}},
      {"dogstatsd.contexts", {3, "dogstatsd_context_limit"}},
      {"traces.connections", {50, "apm_config.connection_limit"}},
      {"traces.pending", {64u << 20, ""}},
      {"traces.buffer", {1000000, ""}},
      {"traces.stats_groups", {100000, ""}},
      {"traces.sampler_signatures", {2000, ""}},
      {"traces.obfuscation_cache", {100000, "apm_config.obfuscation.cache.max_size"}},
      {"query.connections", {64, ""}},
      {"query.searches_running", {3, "query.max_concurrent_searches"}},
      {"query.searches_queued", {9, "query.max_queued_searches"}},
      {"query.results", {3000000, "query.results_max_bytes"}},
      {"query.cache", {400000, "query.cache_max_bytes"}},
      {"query.recent_logs", {1048576, "query.logs_buffer_bytes"}},
      {"query.metric_contexts", {500, "query.metrics_max_contexts"}},
      {"query.traces", {2097152, "query.traces_max_bytes"}},
  };
  for (const auto& [name, limit_key] : expected) {
    ASSERT_TRUE(by_name.count(name)) << name << " missing: " << doc["resources"].dump();
    const auto& r = by_name[name];
    EXPECT_EQ(r["limit"].get<uint64_t>(), limit_key.first) << name;
    EXPECT_EQ(r["key"], limit_key.second) << name;
    EXPECT_LE(r["used"].get<uint64_t>(), r["limit"].get<uint64_t>()) << name;
    EXPECT_FALSE(r["unit"].get<std::string>().empty()) << name;
    EXPECT_FALSE(r["note"].get<std::string>().empty()) << name;
  }
  EXPECT_EQ(by_name["dogstatsd.contexts"]["used"], 3) << doc["resources"].dump();
  EXPECT_DOUBLE_EQ(by_name["dogstatsd.contexts"]["used_ratio"].get<double>(), 1.0);
  EXPECT_EQ(by_name["logs.open_files"]["used"], 1);
  EXPECT_EQ(by_name["query.connections"]["used"], 1);  // this request
  EXPECT_GT(by_name["query.recent_logs"]["used"].get<uint64_t>(), 200u * 20);
  EXPECT_TRUE(by_name["query.recent_logs"]["full_is_normal"].get<bool>());
  // Limits checked at admission say how far past them the last item taken may go.
  EXPECT_EQ(by_name["logs.inflight"]["slack"], 5000000);
  EXPECT_EQ(by_name["traces.pending"]["slack"], 26214400u + 1000000u);
  EXPECT_EQ(by_name["dogstatsd.contexts"]["slack"], 0);
  // The one at its limit is a warning naming the key that raises it; nothing else is.
  const std::string warnings = doc["warnings"].dump();
  EXPECT_NE(warnings.find("dogstatsd.contexts at its limit (3 contexts), raised by "
                          "dogstatsd_context_limit"),
            std::string::npos)
      << warnings;
  size_t at_limit = 0;
  for (const auto& w : doc["warnings"]) {
    at_limit += w.get<std::string>().find("at its limit") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(at_limit, 1u) << warnings;
  {
    const auto r = query::queryGet(socket, "/v1/status?section=resources");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body).size(), doc["resources"].size());
  }

  // `outpost status` prints them as a table with the key, the full one flagged.
  const auto text =
      testing::runCommand({OUTPOST_BIN, "status", "-c", dir.path()}, {}, std::chrono::seconds(10));
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("Resources (used / limit"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("forwarder_storage_max_size_in_bytes"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("50.0 MiB"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("3 / 3 contexts"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("<- near its limit"), std::string::npos) << text.out;
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// /v1/logs/aggregate: counts of matching lines per time bucket and group, from the files.
TEST(QueryProcessTest, LogAggregate) {
  TempDir dir;
  dir.write("logs/app.log",
            "2026-11-22T10:00:05Z app: ERROR a\n2026-11-22T10:00:50Z app: ERROR b\n"
            "2026-11-22T10:01:10Z app: ERROR c\n2026-11-22T10:01:20Z app: ok\n"
            "2026-11-22T10:05:00Z app: ERROR outside the range\n");
  dir.write("logs/api.log",
            "{\"timestamp\":\"2026-11-22T10:00:30Z\",\"level\":\"warn\",\"msg\":\"ERROR json\"}\n");
  dir.write("logs/plain.log", "ERROR without a time\n");
  dir.write("conf.d/app.d/conf.yaml",
            "logs:\n"
            "  - type: file\n    path: " +
                dir.file("logs/app.log") +
                "\n    service: app\n    source: s\n"
                "  - type: file\n    path: " +
                dir.file("logs/api.log") +
                "\n    service: api\n    source: s\n"
                "  - type: file\n    path: " +
                dir.file("logs/plain.log") + "\n    service: plain\n    source: s\n");
  dir.write("outpost.yaml",
            "hostname: h\nuse_dogstatsd: false\napm_config:\n  enabled: false\nrun_path: " +
                dir.file("run") + "\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  const std::string socket = dir.file("run/query.sock");
  auto aggregate = [&](nlohmann::json body) {
    body["query"] = "ERROR";
    body["from"] = "2026-11-22T10:00:00Z";
    body["to"] = "2026-11-22T10:02:00Z";
    auto r = query::queryPost(socket, "/v1/logs/aggregate", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false);
  };
  const int64_t t0 = 1795341600000;  // 2026-11-22T10:00:00Z
  auto j = aggregate({{"interval_s", 60}});
  EXPECT_EQ(j["total"], 5) << j.dump();
  ASSERT_EQ(j["groups"].size(), 3u) << j.dump();
  EXPECT_EQ(j["groups"][0]["key"], "app");
  EXPECT_EQ(j["groups"][0]["total"], 3);
  EXPECT_EQ(j["groups"][0]["counts"], (nlohmann::json{{t0, 2}, {t0 + 60000, 1}}));
  EXPECT_EQ(j["groups"][1]["key"], "api");
  EXPECT_EQ(j["groups"][1]["counts"], (nlohmann::json{{t0, 1}}));
  EXPECT_EQ(j["groups"][2]["key"], "plain");
  EXPECT_EQ(j["groups"][2]["without_timestamp"], 1);
  EXPECT_EQ(j["interval_s"], 60);
  EXPECT_EQ(j["truncated"], false);
  // By status (a JSON line's level), the biggest first, and the top only.
  j = aggregate({{"group_by", "status"}, {"interval_s", 60}});
  ASSERT_EQ(j["groups"].size(), 2u) << j.dump();
  EXPECT_EQ(j["groups"][0]["key"], "info");
  EXPECT_EQ(j["groups"][0]["total"], 4);
  EXPECT_EQ(j["groups"][1]["key"], "warning");
  j = aggregate({{"top", 1}});
  EXPECT_EQ(j["groups"].size(), 1u);
  EXPECT_EQ(j["other_total"], 2);
  EXPECT_EQ(j["truncated"], true);
  EXPECT_EQ(j["interval_s"], 10);  // two minutes: 12 points of 10 s
  // A search by status: a JSON line's level ("warn" names warning), and lines without one
  // (info) with a time range (the file without timestamps is read whole).
  auto search = [&](const nlohmann::json& body) {
    auto r = query::queryPost(socket, "/v1/logs/search", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false);
  };
  j = search({{"query", ""}, {"status", "warn"}});
  ASSERT_EQ(j["results"].size(), 1u) << j.dump();
  EXPECT_EQ(j["results"][0]["file"], dir.file("logs/api.log"));
  j = search({{"query", "ERROR"},
              {"status", "info"},
              {"from", "2026-11-22T10:00:00Z"},
              {"to", "2026-11-22T10:02:00Z"}});
  EXPECT_EQ(j["results"].size(), 4u) << j.dump();  // a, b, c and the line without a time
  j = search({{"query", "ERROR"}, {"status", "error"}});
  EXPECT_EQ(j["results"].size(), 0u) << j.dump();
  // Errors.
  for (const char* bad : {R"({"query":"x","group_by":"host"})", R"({"query":"x","limit":5})",
                          R"({"query":"x","interval_s":0})", R"({"group_by":"service"})"}) {
    EXPECT_EQ(query::queryPost(socket, "/v1/logs/aggregate", bad).status, 400) << bad;
  }
  EXPECT_EQ(query::queryGet(socket, "/v1/logs/aggregate").status, 405);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

}  // namespace
}  // namespace outpost
