#include "collector/query/timestamps.h"

#include <gtest/gtest.h>

namespace outpost::query {
namespace {

constexpr int64_t kNow = 1795366800000;  // 2026-11-22T17:00:00Z
constexpr int64_t kT = 1795338843123;    // 2026-11-22T09:14:03.123Z

TEST(TimestampsTest, EachFormat) {
  TimeFormat f = TimeFormat::kNone;
  EXPECT_EQ(lineTime("2026-11-22T09:14:03.123Z web app: x", TimeFormat::kNone, kNow, &f), kT);
  EXPECT_EQ(f, TimeFormat::kIso8601);
  EXPECT_EQ(lineTime("2026-11-22 10:14:03.123+01:00 x", TimeFormat::kNone, kNow), kT);
  EXPECT_EQ(lineTime("2026-11-22T04:14:03,123-0500 x", TimeFormat::kNone, kNow), kT);
  EXPECT_EQ(lineTime("2026-11-22T09:14:03.123456789 x", TimeFormat::kNone, kNow),
            kT);  // no zone: UTC
  EXPECT_EQ(lineTime("Nov 22 09:14:03 web sshd[1]: x", TimeFormat::kNone, kNow, &f), kT - 123);
  EXPECT_EQ(f, TimeFormat::kSyslog);
  EXPECT_EQ(lineTime("Nov  2 09:14:03 web x", TimeFormat::kNone, kNow), kT - 123 - 20LL * 86400000);
  // December's lines read early in January belong to the year before.
  const int64_t jan2 = 1798761600000 + 86400000;  // 2027-01-02T00:00:00Z
  EXPECT_EQ(lineTime("Dec 31 23:00:00 x", TimeFormat::kNone, jan2),
            1798758000000);  // 2026-12-31T23:00:00Z
  EXPECT_EQ(lineTime(R"(10.0.0.1 - - [22/Nov/2026:10:14:03 +0100] "GET / HTTP/1.1" 200)",
                     TimeFormat::kNone, kNow, &f),
            kT - 123);
  EXPECT_EQ(f, TimeFormat::kAccessLog);
  EXPECT_EQ(lineTime(R"({"level":"info","timestamp":"2026-11-22T09:14:03.123Z","msg":"x"})",
                     TimeFormat::kNone, kNow, &f),
            kT);
  EXPECT_EQ(f, TimeFormat::kJson);
  EXPECT_EQ(lineTime(R"({"ts": 1795338843.123, "msg":"x"})", TimeFormat::kNone, kNow), kT);
  EXPECT_EQ(lineTime(R"({"time":1795338843123})", TimeFormat::kNone, kNow), kT);
  EXPECT_EQ(lineTime("  at com.example.Foo(Foo.java:12)", TimeFormat::kNone, kNow), std::nullopt);
  EXPECT_EQ(lineTime("", TimeFormat::kNone, kNow), std::nullopt);
  EXPECT_EQ(lineTime("2026-13-40T99:99:99Z", TimeFormat::kNone, kNow), std::nullopt);
  EXPECT_EQ(lineTime("Nov 22 9:14:03 x", TimeFormat::kNone, kNow), std::nullopt);
}

TEST(TimestampsTest, Arguments) {
  EXPECT_EQ(parseTimeArg("2026-11-22T09:14:03.123Z", kNow), kT);
  EXPECT_EQ(parseTimeArg("1795338843123", kNow), kT);
  EXPECT_EQ(parseTimeArg("now", kNow), kNow);
  EXPECT_EQ(parseTimeArg("-15m", kNow), kNow - 15 * 60000);
  EXPECT_EQ(parseTimeArg("now-2h", kNow), kNow - 2 * 3600000);
  EXPECT_EQ(parseTimeArg("-1d", kNow), kNow - 86400000);
  EXPECT_EQ(parseTimeArg("-30s", kNow), kNow - 30000);
  EXPECT_EQ(parseTimeArg("-15x", kNow), std::nullopt);
  EXPECT_EQ(parseTimeArg("yesterday", kNow), std::nullopt);
  EXPECT_EQ(parseTimeArg("", kNow), std::nullopt);
  EXPECT_EQ(formatUtc(kT), "2026-11-22T09:14:03.123Z");
}

}  // namespace
}  // namespace outpost::query
