// detectStatus: a table of good and bad inputs.
#include "collector/sources/logs/status.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

namespace outpost::logs {
namespace {

struct Case {
  std::string line;
  std::string_view want;
};

class StatusTable : public ::testing::TestWithParam<Case> {};

TEST_P(StatusTable, Detects) {
  EXPECT_EQ(detectStatus(GetParam().line), GetParam().want) << GetParam().line;
}

INSTANTIATE_TEST_SUITE_P(
    Syslog, StatusTable,
    ::testing::Values(Case{"<0>kernel panic", "emergency"}, Case{"<1>x", "alert"},
                      Case{"<2>x", "critical"}, Case{"<3>x", "error"}, Case{"<4>x", "warning"},
                      Case{"<5>x", "notice"}, Case{"<6>x", "info"}, Case{"<7>x", "debug"},
                      Case{"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - 'su' failed",
                           "critical"},  // RFC 5424 example: facility 4, severity 2
                      Case{"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", "notice"},
                      Case{"<191>x", "debug"},  // the largest PRI: local7.debug
                      Case{"<165>1 2003-08-24T05:14:15.000003-07:00 host app - - - msg", "notice"},
                      // Not a PRI: too large, leading zero, no digits, unterminated, letters.
                      Case{"<192>x", "info"}, Case{"<03>x", "info"}, Case{"<>x", "info"},
                      Case{"<12", "info"}, Case{"<1a>x", "info"}, Case{"<1234>x", "info"},
                      Case{" <3>x", "info"}, Case{"<", "info"}));

INSTANTIATE_TEST_SUITE_P(
    Json, StatusTable,
    ::testing::Values(
        Case{R"({"level":"ERROR","msg":"boom"})", "error"}, Case{R"({"level":"err"})", "error"},
        Case{R"({"level":"WARN"})", "warning"}, Case{R"({"level":"Warning"})", "warning"},
        Case{R"({"level":"FATAL"})", "critical"}, Case{R"({"level":"crit"})", "critical"},
        Case{R"({"level":"critical"})", "critical"}, Case{R"({"level":"INFO"})", "info"},
        Case{R"({"level":"information"})", "info"}, Case{R"({"level":"debug"})", "debug"},
        Case{R"({"level":"trace"})", "debug"}, Case{R"({"level":"notice"})", "notice"},
        Case{R"({"level":"alert"})", "alert"}, Case{R"({"level":"emerg"})", "emergency"},
        Case{R"({"level":"EMERGENCY"})", "emergency"}, Case{R"({"status":"warn"})", "warning"},
        Case{R"({"severity":"Error"})", "error"},
        // Preference: status over level over severity, wherever they stand.
        Case{R"({"severity":"debug","level":"warn","status":"error"})", "error"},
        Case{R"({"severity":"debug","level":"warn"})", "warning"},
        // An unknown value is skipped in favour of the next key.
        Case{R"({"status":"ok-ish","level":"error"})", "error"},
        // Whitespace, nested values and strings that look like keys are skipped correctly.
        Case{R"(  { "ts" : 12.5e3 , "ctx" : {"level":"debug","a":[1,{"x":"}"}]} , )"
             R"("note":"\"level\":\"debug\"" , "level" : "warn" })",
             "warning"},
        Case{R"({"ctx":{"level":"error"}})", "info"},  // only the top level counts
        Case{R"({"level":3})", "info"},                // not a string
        Case{R"({"level":null,"status":true})", "info"},
        Case{R"({"level":"err)", "info"},                // unterminated
        Case{R"({"msg":"x" "level":"error"})", "info"},  // malformed: the search stops
        Case{"{", "info"}, Case{"{}", "info"}, Case{R"({"level":""})", "info"},
        Case{R"({"level":"errorerrorerrorerror"})", "info"}));

INSTANTIATE_TEST_SUITE_P(Plain, StatusTable,
                         ::testing::Values(Case{"", "info"}, Case{"ERROR: plain text", "info"},
                                           Case{"[error] bracketed", "info"},
                                           Case{"level=error logfmt", "info"},
                                           Case{"\xFF\xFE binary", "info"},
                                           Case{R"(["level","error"])", "info"}));

TEST(StatusTest, NormalizeStatus) {
  EXPECT_EQ(normalizeStatus("ERR"), "error");
  EXPECT_EQ(normalizeStatus("Informational"), "info");
  EXPECT_EQ(normalizeStatus("panic"), "emergency");
  EXPECT_EQ(normalizeStatus("bogus"), "");
  EXPECT_EQ(normalizeStatus(""), "");
}

TEST(StatusTest, LongJsonLinesAreScannedToTheEnd) {
  std::string line = R"({"payload":")" + std::string(100000, 'a') + R"(","level":"error"})";
  EXPECT_EQ(detectStatus(line), "error");
}

TEST(StatusTest, RandomInputAlwaysGivesAKnownStatus) {
  const std::set<std::string_view> known = {"emergency", "alert",  "critical", "error",
                                            "warning",   "notice", "info",     "debug"};
  const std::string_view pieces[] = {"{", "}", "[",     "]",      "\"",       "\\",    ":",
                                     ",", " ", "level", "status", "severity", "error", "WARN",
                                     "<", ">", "1",     "9",      "\xFF",     "x"};
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50000; ++round) {
    std::string line;
    const size_t n = rng() % 24;
    for (size_t i = 0; i < n; ++i) {
      line += pieces[rng() % std::size(pieces)];
    }
    ASSERT_EQ(known.count(detectStatus(line)), 1u) << line;
  }
}

}  // namespace
}  // namespace outpost::logs
