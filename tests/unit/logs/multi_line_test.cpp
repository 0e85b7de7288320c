#include "collector/sources/logs/multi_line.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace outpost::logs {
namespace {

using Message = MultiLineAggregator::Message;

struct Msg {
  std::string content;
  uint64_t end = 0;
  bool truncated = false;
  bool operator==(const Msg&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Msg& m) {
  return os << "{\"" << m.content << "\", " << m.end << (m.truncated ? ", truncated}" : "}");
}

const std::string M(kTruncatedMarker);

// Pushes lines (end offsets: cumulative length + 1 per newline) at time 0, then flushes.
class Harness {
 public:
  explicit Harness(MultiLineAggregator::Options o) : agg_(std::move(o)) {}

  void push(const std::string& line, int64_t now = 0, bool truncated = false) {
    offset_ += line.size() + 1;
    agg_.push(DecodedLine{line, offset_, truncated}, now, sink());
  }
  void flushIfIdle(int64_t now) { agg_.flushIfIdle(now, sink()); }
  std::vector<Msg> finish() {
    agg_.flush(sink());
    return out_;
  }
  const std::vector<Msg>& out() const { return out_; }
  uint64_t offset() const { return offset_; }
  MultiLineAggregator& agg() { return agg_; }

 private:
  struct Collect {
    std::vector<Msg>* out;
    void operator()(Message&& m) const {
      out->push_back({std::move(m.content), m.end_offset, m.truncated});
    }
  };
  Collect sink() { return Collect{&out_}; }
  MultiLineAggregator agg_;
  uint64_t offset_ = 0;
  std::vector<Msg> out_;
};

TEST(MultiLineTest, PatternGroupsLines) {
  Harness h({.pattern = "\\d{4}-\\d{2}-\\d{2}"});
  h.push("orphan 1");           // 9
  h.push("orphan 2");           // 18
  h.push("2024-01-01 start");   // 35
  h.push("  cont 1");           // 44
  h.push("x 2024-01-01 cont");  // 62: anchored, so not a start
  h.push("2024-01-02 next");    // 78
  EXPECT_EQ(h.out().size(), 2u);
  EXPECT_TRUE(h.agg().pending());
  EXPECT_EQ(h.finish(), (std::vector<Msg>{{"orphan 1\norphan 2", 18},
                                          {"2024-01-01 start\n  cont 1\nx 2024-01-01 cont", 62},
                                          {"2024-01-02 next", 78}}));
  EXPECT_FALSE(h.agg().pending());
}

TEST(MultiLineTest, TimeoutFlushesThePendingMessage) {
  Harness h({.pattern = "START", .timeout_ms = 1000});
  h.push("START a", 5000);
  h.push("more", 5400);
  EXPECT_EQ(h.agg().deadlineMs(), 6400);
  h.flushIfIdle(6399);
  EXPECT_TRUE(h.out().empty());
  h.flushIfIdle(6400);
  EXPECT_EQ(h.out(), (std::vector<Msg>{{"START a\nmore", 13}}));
  EXPECT_FALSE(h.agg().pending());
  h.flushIfIdle(99999);  // nothing pending
  EXPECT_EQ(h.out().size(), 1u);
}

TEST(MultiLineTest, MaxSizeCutsWithMarkers) {
  Harness h({.pattern = "\\d{4}", .max_message_size = 20});
  h.push("2024 aaaaaaaaaa");   // 15 bytes, end 16
  h.push("bbbbbbbbbb");        // + "\n" + 10 = 26 > 20; end 27
  h.push("cccccccccccccccc");  // end 44
  h.push("2025 next");         // end 54
  EXPECT_EQ(h.finish(), (std::vector<Msg>{
                            {"2024 aaaaaaaaaa\nbbbb" + M, 27, true},
                            {M + "bbbbbb\n" + std::string(13, 'c') + M, 44, true},
                            {M + "ccc", 44, true},
                            {"2025 next", 54},
                        }));
}

TEST(MultiLineTest, MaxSizeKeepsUtf8Whole) {
  Harness h({.pattern = "S", .max_message_size = 6});
  h.push("S");
  h.push("\xE2\x82\xAC\xE2\x82\xAC");  // "S\n€€" = 8 bytes: the cut keeps "€" whole
  const auto got = h.finish();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].content, "S\n\xE2\x82\xAC" + M);
  EXPECT_EQ(got[1].content, M + "\xE2\x82\xAC");
}

TEST(MultiLineTest, TruncatedPiecesAreNotAggregated) {
  Harness h({.pattern = "S"});
  h.push("S head");
  h.push("long" + M, 0, true);
  h.push(M + "tail", 0, true);
  h.push("S next");
  EXPECT_EQ(h.finish(),
            (std::vector<Msg>{
                {"S head", 7}, {"long" + M, 27, true}, {M + "tail", 47, true}, {"S next", 54}}));
}

TEST(MultiLineTest, NoPatternPassesLinesThrough) {
  Harness h({});
  h.push("a");
  h.push("  b");
  EXPECT_FALSE(h.agg().pending());
  EXPECT_EQ(h.finish(), (std::vector<Msg>{{"a", 2}, {"  b", 6}}));
}

TEST(MultiLineTest, InvalidPatternDisablesAggregation) {
  Harness h({.pattern = "(unclosed"});
  EXPECT_FALSE(h.agg().aggregates());
  EXPECT_NE(h.agg().error().find("missing )"), std::string::npos);
  h.push("a");
  h.push(" b");
  EXPECT_EQ(h.finish(), (std::vector<Msg>{{"a", 2}, {" b", 5}}));
}

TEST(MultiLineTest, AutoDetectsJavaStackTraceAndJson) {
  Harness h({.auto_detect = true});
  const std::vector<std::string> lines = {
      "2024-01-01 12:00:00.123 ERROR request failed",
      "java.lang.IllegalStateException: bad state",
      "\tat com.example.Foo.bar(Foo.java:10)",
      "\tat com.example.Main.main(Main.java:5)",
      "Caused by: java.io.IOException: disk",
      "\t... 3 more",
      "2024-01-01 12:00:01.000 INFO recovered",
      "{\"level\":\"info\",\"msg\":\"one\"}",
      "{\"level\":\"info\",\"msg\":\"two\"}",
      "Jan  2 15:04:05 host app[12]: syslog line",
      "    continued",
  };
  for (const auto& l : lines) {
    h.push(l);
  }
  std::string trace;
  uint64_t end = 0;
  for (size_t i = 0; i < 6; ++i) {
    trace += (i ? "\n" : "") + lines[i];
  }
  for (size_t i = 0; i < 6; ++i) {
    end += lines[i].size() + 1;
  }
  const uint64_t e6 = end + lines[6].size() + 1;
  const uint64_t e7 = e6 + lines[7].size() + 1;
  const uint64_t e8 = e7 + lines[8].size() + 1;
  const uint64_t e10 = e8 + lines[9].size() + 1 + lines[10].size() + 1;
  EXPECT_EQ(h.finish(), (std::vector<Msg>{{trace, end},
                                          {lines[6], e6},
                                          {lines[7], e7},
                                          {lines[8], e8},
                                          {lines[9] + "\n" + lines[10], e10}}));
}

TEST(MultiLineTest, AutoGroupsAnUntimestampedTraceButNotPlainLines) {
  Harness h({.auto_detect = true});
  h.push("Exception in thread \"main\" java.lang.NullPointerException");
  h.push("\tat Main.main(Main.java:3)");
  const uint64_t e1 = h.offset();
  h.push("plain line one");
  const uint64_t e2 = h.offset();
  h.push("plain line two");
  EXPECT_EQ(h.finish(), (std::vector<Msg>{
                            {"Exception in thread \"main\" java.lang.NullPointerException\n\tat "
                             "Main.main(Main.java:3)",
                             e1},
                            {"plain line one", e2},
                            {"plain line two", e2 + 15},
                        }));
}

TEST(MultiLineTest, TimestampDetectionTable) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"2024-05-01T12:00:00.123Z msg", true},
      {"2024-05-01 12:00:00,123 INFO", true},
      {"[2024-05-01 12:00:00] x", true},
      {"2024/05/01 12:00:00 x", true},
      {"Jan  2 15:04:05 host x", true},
      {"Dec 31 23:59:59 host x", true},
      {"[02/Jan/2006:15:04:05 -0700] \"GET /\"", true},
      {"02-Jan-2006 15:04:05.000 INFO", true},
      {"15:04:05.000 [main] INFO", true},
      {"I0102 15:04:05.000000 1 main.go:10] x", true},
      {"Mon Jan  2 15:04:05 2006 x", true},
      {"Mon, 02 Jan 2006 15:04:05 GMT x", true},
      {"<34>Oct 11 22:14:15 mymachine su: x", true},
      {"<165>1 2003-10-11T22:14:15.003Z host app", true},
      {"", false},
      {"hello 2024-05-01T12:00:00", false},
      {"2024-05-01", false},
      {"12345 is a number", false},
      {"Jan is a month", false},
      {"\tat com.example.Foo", false},
      {"<34 not a priority", false},
      {"{\"time\":\"2024-05-01T12:00:00Z\"}", false},
  };
  for (const auto& [line, want] : cases) {
    EXPECT_EQ(startsWithTimestamp(line), want) << line;
  }
}

}  // namespace
}  // namespace outpost::logs
