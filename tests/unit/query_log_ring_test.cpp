#include <fmt/format.h>
#include <gtest/gtest.h>

#include "collector/query/log_ring.h"

namespace outpost::query {
namespace {

std::shared_ptr<const logs::LogOrigin> origin(std::string service, std::string source,
                                              std::string path) {
  auto o = std::make_shared<logs::LogOrigin>();
  o->service = std::move(service);
  o->source = std::move(source);
  o->path = std::move(path);
  return o;
}

logs::LogMessage message(std::string content, std::shared_ptr<const logs::LogOrigin> o,
                         int64_t ts = 1795338843123) {
  logs::LogMessage m;
  m.content = std::move(content);
  m.origin = std::move(o);
  m.timestamp_ms = ts;
  return m;
}

TEST(LogRingTest, NewestLinesOldestFirstWithFilters) {
  LogRing ring(1 << 20);
  const auto web = origin("web", "nginx", "/var/log/nginx/access.log");
  const auto auth = origin("auth", "python", "/var/log/auth/app.log");
  for (int i = 0; i < 10; ++i) {
    ring.add(message("web line " + std::to_string(i), web));
    ring.add(message(
        i % 3 == 0 ? "auth ERROR timeout " + std::to_string(i) : "auth ok " + std::to_string(i),
        auth));
  }
  TailRequest r;
  r.lines = 3;
  auto j = ring.tail(r);
  ASSERT_EQ(j["lines"].size(), 3u);
  EXPECT_EQ(j["lines"][0]["message"], "auth ok 8");
  EXPECT_EQ(j["lines"][1]["message"], "web line 9");
  EXPECT_EQ(j["lines"][2]["message"], "auth ERROR timeout 9");
  EXPECT_EQ(j["lines"][2]["service"], "auth");
  EXPECT_EQ(j["lines"][2]["path"], "/var/log/auth/app.log");
  EXPECT_EQ(j["lines"][2]["timestamp"], "2026-11-22T09:14:03.123Z");
  EXPECT_EQ(j["matched_all"], false);

  r = {};
  r.service = "web";
  r.lines = 2;
  j = ring.tail(r);
  EXPECT_EQ(j["lines"][0]["message"], "web line 8");
  EXPECT_EQ(j["lines"][1]["message"], "web line 9");
  r = {};
  r.source = "python";
  r.contains = "timeout";
  r.lines = 100;
  j = ring.tail(r);
  EXPECT_EQ(j["lines"].size(), 4u);  // 0, 3, 6, 9
  EXPECT_EQ(j["matched_all"], true);
  r = {};
  r.path = "nginx/";
  EXPECT_EQ(ring.tail(r)["lines"].size(), 10u);
  // Status: detected from the line when the source set none, or as the source set it.
  r = {};
  r.status = "error";
  r.lines = 100;
  EXPECT_EQ(ring.tail(r)["lines"].size(), 0u);  // "ERROR" inside a line is not a status
  auto m = message("<11>Nov 22 09:14:03 host app: failed", auth);
  ring.add(m);
  m = message("{\"level\":\"warn\",\"msg\":\"slow\"}", auth);
  ring.add(m);
  m = message("journal line", auth);
  m.status = "error";
  ring.add(m);
  j = ring.tail(r);
  ASSERT_EQ(j["lines"].size(), 2u);
  EXPECT_EQ(j["lines"][0]["message"], "<11>Nov 22 09:14:03 host app: failed");
  EXPECT_EQ(j["lines"][1]["status"], "error");
  r.status = "warning";
  EXPECT_EQ(ring.tail(r)["lines"][0]["status"], "warning");
}

TEST(LogRingTest, OldestOverwrittenWithinTheBudget) {
  LogRing ring(LogRing::kMaxLineBytes * 2);  // 32 KiB
  const auto o = origin("s", "s", "");
  const std::string line(1000, 'x');
  for (int i = 0; i < 100; ++i) {
    ring.add(message(std::to_string(i) + line, o));
  }
  const auto st = ring.statusJson();
  EXPECT_LE(st["bytes"].get<uint64_t>(), st["max_bytes"].get<uint64_t>());
  EXPECT_GE(st["lines"].get<size_t>(), 30u);
  EXPECT_EQ(st["lines"].get<uint64_t>() + st["lines_overwritten"].get<uint64_t>(), 100u);
  TailRequest r;
  r.lines = 1000;
  auto j = ring.tail(r);
  ASSERT_EQ(j["lines"].size(), st["lines"].get<size_t>());
  // Every kept line is intact and they are the newest ones, in order.
  const size_t n = j["lines"].size();
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(j["lines"][i]["message"], std::to_string(100 - n + i) + line);
  }
  // A line longer than the per-line cap keeps its start and says so.
  ring.add(message(std::string(LogRing::kMaxLineBytes + 10, 'y'), o));
  r.lines = 1;
  j = ring.tail(r);
  EXPECT_EQ(j["lines"][0]["message"].get<std::string>().size(), LogRing::kMaxLineBytes);
  EXPECT_EQ(j["lines"][0]["truncated"], true);
  // Dropped-by-rule markers are not lines.
  auto marker = message("", o);
  marker.marker_only = true;
  const auto before = ring.statusJson()["lines_added"];
  ring.add(marker);
  EXPECT_EQ(ring.statusJson()["lines_added"], before);
}

TEST(LogRingTest, HeadersBoundedWhenLinesAreEmpty) {
  LogRing ring(LogRing::kMaxLineBytes * 2);  // 32 KiB of bytes: at most 1024 headers
  const auto o = origin("s", "s", "");
  for (int i = 0; i < 100000; ++i) {
    ring.add(message(i % 1000 == 999 ? std::string("x").append(std::to_string(i)) : "", o));
  }
  const auto st = ring.statusJson();
  EXPECT_EQ(st["lines"].get<size_t>(), 1024u);
  EXPECT_EQ(st["lines_overwritten"].get<uint64_t>(), 100000u - 1024u);
  TailRequest r;
  r.lines = 2000;
  r.contains = "x";
  const auto j = ring.tail(r);
  ASSERT_EQ(j["lines"].size(), 2u);  // the marked lines among the newest 1024
  EXPECT_EQ(j["lines"][0]["message"], "x98999");
  EXPECT_EQ(j["lines"][1]["message"], "x99999");
}

TEST(LogRingTest, WrapsManyTimesKeepingTheNewestIntact) {
  LogRing ring(LogRing::kMaxLineBytes);  // 16 KiB
  const auto o = origin("s", "s", "");
  for (int i = 0; i < 20000; ++i) {
    ring.add(message(std::to_string(i) + std::string(static_cast<size_t>(i % 700), 'k'), o));
  }
  TailRequest r;
  r.lines = 100000;
  const auto j = ring.tail(r);
  const auto st = ring.statusJson();
  EXPECT_LE(st["bytes"].get<uint64_t>(), st["max_bytes"].get<uint64_t>());
  ASSERT_EQ(j["lines"].size(), st["lines"].get<size_t>());
  ASSERT_GT(j["lines"].size(), 20u);
  const size_t n = j["lines"].size();
  for (size_t k = 0; k < n; ++k) {
    const int i = static_cast<int>(20000 - n + k);
    EXPECT_EQ(j["lines"][k]["message"],
              std::to_string(i) + std::string(static_cast<size_t>(i % 700), 'k'));
  }
}

TEST(LogRingTest, OriginsOfOverwrittenLinesAreLetGo) {
  LogRing ring(LogRing::kMaxLineBytes);  // 16 KiB
  std::vector<std::weak_ptr<const logs::LogOrigin>> seen;
  // 5,000 files that each write a few lines, interleaved with one busy file and lines
  // without an origin: every kept line names its own file, and the files whose lines were all
  // overwritten are no longer held by the ring.
  const auto busy = origin("busy", "b", "/var/log/busy");
  for (int f = 0; f < 5000; ++f) {
    auto o = origin(fmt::format("svc{}", f), "s", fmt::format("/var/log/f{}", f));
    seen.push_back(o);
    for (int k = 0; k < 3; ++k) {
      ring.add(message(fmt::format("f{} line {}", f, k), o));
      ring.add(message("busy line", busy));
    }
    ring.add(message("no origin", nullptr));
  }
  TailRequest r;
  r.lines = 100000;
  const auto j = ring.tail(r);
  ASSERT_GT(j["lines"].size(), 100u);
  for (const auto& l : j["lines"]) {
    const std::string msg = l["message"];
    if (msg == "busy line") {
      EXPECT_EQ(l["service"], "busy");
    } else if (msg == "no origin") {
      EXPECT_FALSE(l.contains("service"));
    } else {
      const std::string f = msg.substr(1, msg.find(' ') - 1);
      EXPECT_EQ(l["service"], fmt::format("svc{}", f));
      EXPECT_EQ(l["path"], fmt::format("/var/log/f{}", f));
    }
  }
  size_t alive = 0;
  for (const auto& w : seen) {
    alive += w.expired() ? 0 : 1;
  }
  EXPECT_LT(alive, 300u);  // a few hundred kept lines' files (and some not yet swept), of 5,000
  EXPECT_FALSE(seen.back().expired());
}

}  // namespace
}  // namespace outpost::query
