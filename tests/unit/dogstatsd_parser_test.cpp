#include "collector/sources/dogstatsd/parser.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace outpost::dogstatsd {
namespace {

std::string join(std::span<const std::string_view> tags) {
  std::string out;
  for (std::string_view t : tags) {
    if (!out.empty()) {
      out += ',';
    }
    out += t;
  }
  return out;
}

// Appends the non-default metadata fields, so expectations only name what matters.
void appendMetadata(const Metadata& m, std::string& out) {
  if (!m.tags.empty()) {
    out += " #" + join(m.tags);
  }
  if (m.has_host) {
    out += " host=" + std::string(m.host);
  }
  auto add = [&out](const char* key, std::string_view v) {
    if (!v.empty()) {
      out += std::string(" ") + key + "=" + std::string(v);
    }
  };
  add("cid", m.container_id);
  add("inode", m.cgroup_inode);
  add("ext", m.external_data);
  add("card", m.cardinality);
  add("eid", m.entity_id);
  add("jmx", m.jmx_check_name);
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

class Recorder : public Handler {
 public:
  void onSample(const Sample& s) override {
    std::string out = "S " + std::string(s.name) + " " + std::string(metricTypeName(s.type));
    if (s.type == MetricType::kSet) {
      out += " '" + std::string(s.set_value) + "'";
    } else {
      out += " " + number(s.value);
    }
    if (s.sample_rate != 1) {
      out += " @" + number(s.sample_rate);
    }
    if (s.timestamp != 0) {
      out += " T" + std::to_string(s.timestamp);
    }
    appendMetadata(s, out);
    got.push_back(out);
  }
  void onEvent(const Event& e) override {
    std::string out = "E [" + std::string(e.title) + "] [" + std::string(e.text) + "]";
    if (e.timestamp != 0) {
      out += " d=" + std::to_string(e.timestamp);
    }
    if (!e.aggregation_key.empty()) {
      out += " k=" + std::string(e.aggregation_key);
    }
    if (e.priority == EventPriority::kLow) {
      out += " p=low";
    }
    if (!e.source_type_name.empty()) {
      out += " s=" + std::string(e.source_type_name);
    }
    static const char* kAlert[] = {"info", "error", "warning", "success"};
    if (e.alert_type != AlertType::kInfo) {
      out += std::string(" t=") + kAlert[static_cast<int>(e.alert_type)];
    }
    appendMetadata(e, out);
    got.push_back(out);
  }
  void onServiceCheck(const ServiceCheck& c) override {
    std::string out = "C " + std::string(c.name) + " " + std::to_string(c.status);
    if (c.timestamp != 0) {
      out += " d=" + std::to_string(c.timestamp);
    }
    if (!c.message.empty()) {
      out += " m=[" + std::string(c.message) + "]";
    }
    appendMetadata(c, out);
    got.push_back(out);
  }
  void onError(ParseError error, std::string_view line) override {
    errors.push_back(std::string(parseErrorName(error)) + ": " + std::string(line));
  }

  std::vector<std::string> got;
  std::vector<std::string> errors;
};

struct GoodCase {
  std::string input;
  std::vector<std::string> want;
};

const std::vector<GoodCase>& goodCases() {
  static const std::vector<GoodCase> cases = {
      // Every type.
      {"a:1|c", {"S a c 1"}},
      {"a:1.5|g", {"S a g 1.5"}},
      {"a:-2|g", {"S a g -2"}},
      {"a:+3|g", {"S a g 3"}},
      {"a:1e3|h", {"S a h 1000"}},
      {"a:.5|d", {"S a d 0.5"}},
      {"a:12|ms", {"S a ms 12"}},
      {"a:user1|s", {"S a s 'user1'"}},
      {"a:-0|g", {"S a g -0"}},
      {"my.metric-name_x/y:7|c", {"S my.metric-name_x/y c 7"}},
      // Multi-value: one sample per value, empty entries skipped, shared fields.
      {"a:1:2:3|h", {"S a h 1", "S a h 2", "S a h 3"}},
      {"a:1::2|c", {"S a c 1", "S a c 2"}},
      {"a:1:|c", {"S a c 1"}},
      {"a::1|d|#t", {"S a d 1 #t"}},
      {"a:1:2|d|@0.5|#x|T10", {"S a d 1 @0.5 T10 #x", "S a d 2 @0.5 T10 #x"}},
      // Sample rate.
      {"a:1|c|@0.5", {"S a c 1 @0.5"}},
      {"a:1|c|@1", {"S a c 1"}},
      {"a:1|c|@1e-3", {"S a c 1 @0.001"}},
      // Tags: split on ',', kept byte for byte, deduplicated, empties skipped, last "#" wins.
      {"a:1|c|#x:1,y,x:1", {"S a c 1 #x:1,y"}},
      {"a:1|c|#Env: Prod ,env:prod", {"S a c 1 #Env: Prod ,env:prod"}},
      {"a:1|c|#a,,b,", {"S a c 1 #a,b"}},
      {"a:1|c|#", {"S a c 1"}},
      {"a:1|c|#old|#new", {"S a c 1 #new"}},
      // Special tags.
      {"a:1|c|#host:web1,env:prod", {"S a c 1 #env:prod host=web1"}},
      {"a:1|c|#host:", {"S a c 1 host="}},
      {"a:1|c|#host:a,host:b,x", {"S a c 1 #x host=b"}},
      {"a:1|c|#dd.internal.entity_id:uid1,dd.internal.card:high,dd.internal.jmx_check_name:j,t",
       {"S a c 1 #t card=high eid=uid1 jmx=j"}},
      {"a:1|c|#dd.internal.other:x", {"S a c 1 #dd.internal.other:x"}},
      // Timestamp.
      {"a:1|g|T1700000000", {"S a g 1 T1700000000"}},
      {"a:1|g|T+5", {"S a g 1 T5"}},
      // Origin fields.
      {"a:1|c|c:ci-abc", {"S a c 1 cid=abc"}},
      {"a:1|c|c:cid-abc,in-123", {"S a c 1 cid=abc inode=123"}},
      {"a:1|c|c:in-77", {"S a c 1 inode=77"}},
      {"a:1|c|c:0123abcdef", {"S a c 1 cid=0123abcdef"}},
      {"a:1|c|e:it-false,cn-web", {"S a c 1 ext=it-false,cn-web"}},
      {"a:1|c|card:orchestrator", {"S a c 1 card=orchestrator"}},
      {"a:1|c|card:low|#dd.internal.card:high", {"S a c 1 card=low"}},
      // Any order, unknown and empty fields ignored.
      {"a:1|c|#t|T5|@0.5|c:abc", {"S a c 1 @0.5 T5 #t cid=abc"}},
      {"a:1|c|x:y|@0.25|zzz||", {"S a c 1 @0.25"}},
      {"a:1|c|Z9|card|cx|ex", {"S a c 1"}},
      // Framing: several messages, \r\n, empty lines.
      {"a:1|c\nb:2|g", {"S a c 1", "S b g 2"}},
      {"a:1|c\r\nb:2|g\r\n", {"S a c 1", "S b g 2"}},
      {"\n\r\n\na:1|c\n\n", {"S a c 1"}},
      {"a:1|c\n_e{1,1}:t|x\n_sc|s|0\nb:x|s", {"S a c 1", "E [t] [x]", "C s 0", "S b s 'x'"}},
      // Events.
      {"_e{5,4}:title|text", {"E [title] [text]"}},
      {"_e{1,0}:a|", {"E [a] []"}},
      {"_e{3,1}:a|b|c", {"E [a|b] [c]"}},
      {"_e{3,2}:h\xC3\xA9|ok", {"E [h\xC3\xA9] [ok]"}},
      {"_e{4,6}:a\\nb|c\\nd\\n", {"E [a\nb] [c\nd\n]"}},
      {"_e{1,3}:t|x\\n", {"E [t] [x\n]"}},
      {"_e{1,1}:t|x|d:1700000000|h:myhost|k:agg|p:low|s:nagios|t:error|#a,b,a|c:ci-c1|"
       "e:ext|card:high",
       {"E [t] [x] d=1700000000 k=agg p=low s=nagios t=error #a,b host=myhost cid=c1 ext=ext "
        "card=high"}},
      {"_e{1,1}:t|x|t:warning|p:normal", {"E [t] [x] t=warning"}},
      {"_e{1,1}:t|x|t:success", {"E [t] [x] t=success"}},
      {"_e{1,1}:t|x|t:info", {"E [t] [x]"}},
      // Invalid optional values are ignored, the event is accepted.
      {"_e{1,1}:t|x|p:urgent|t:fatal|d:abc|zz:1", {"E [t] [x]"}},
      // Host: h: wins when not empty; the host: tag is always removed.
      {"_e{1,1}:t|x|h:h1|#host:tagged,x", {"E [t] [x] #x host=h1"}},
      {"_e{1,1}:t|x|h:|#host:tagged", {"E [t] [x] host=tagged"}},
      {"_e{1,1}:t|x|#dd.internal.entity_id:u", {"E [t] [x] eid=u"}},
      // Service checks.
      {"_sc|svc|0", {"C svc 0"}},
      {"_sc|svc|1", {"C svc 1"}},
      {"_sc|svc|2", {"C svc 2"}},
      {"_sc|svc|3|", {"C svc 3"}},
      {"_sc|svc.name|2|d:123|h:host1|#a,b,a,host:tagh|c:ci-x|e:ext|card:low|m:msg m\\: "
       "here\\nline2",
       {"C svc.name 2 d=123 m=[msg m: here\nline2] #a,b host=host1 cid=x ext=ext card=low"}},
      {"_sc|svc|0|#host:tagh|zz:1|d:bad", {"C svc 0 host=tagh"}},
      {"_sc|svc|0|m:plain", {"C svc 0 m=[plain]"}},
      {"_sc|svc|+1", {"C svc 1"}},
  };
  return cases;
}

TEST(DogStatsdParserTest, GoodInputs) {
  for (const GoodCase& c : goodCases()) {
    SCOPED_TRACE(c.input);
    Parser parser;
    Recorder rec;
    parser.parse(c.input, rec);
    EXPECT_EQ(rec.got, c.want);
    EXPECT_TRUE(rec.errors.empty()) << rec.errors.front();
    EXPECT_EQ(parser.errors(), 0u);
  }
}

struct BadCase {
  std::string input;
  ParseError error;
};

const std::vector<BadCase>& badCases() {
  static const std::vector<BadCase> cases = {
      // Metric framing.
      {"abc", ParseError::kNoType},
      {"abc:1", ParseError::kNoType},
      {"a:1 c", ParseError::kNoType},
      {"abc|c", ParseError::kNoValue},
      {"a:|c", ParseError::kNoValue},
      {"a::|c", ParseError::kNoValue},
      {"a:::|g|#t", ParseError::kNoValue},
      {":1|c", ParseError::kEmptyName},
      {":|c", ParseError::kEmptyName},
      // Type.
      {"a:1|", ParseError::kUnknownType},
      {"a:1|x", ParseError::kUnknownType},
      {"a:1|C", ParseError::kUnknownType},
      {"a:1|cc", ParseError::kUnknownType},
      {"a:1|m", ParseError::kUnknownType},
      {"a:1| c", ParseError::kUnknownType},
      {"a:1||c", ParseError::kUnknownType},
      {"a:1|c\r\r", ParseError::kUnknownType},
      // Values.
      {"a:abc|c", ParseError::kBadValue},
      {"a:1x|g", ParseError::kBadValue},
      {"a:nan|g", ParseError::kBadValue},
      {"a:NaN|g", ParseError::kBadValue},
      {"a:inf|g", ParseError::kBadValue},
      {"a:-Infinity|g", ParseError::kBadValue},
      {"a:1e999|g", ParseError::kBadValue},
      {"a:1:x|h", ParseError::kBadValue},
      {"a: 1|c", ParseError::kBadValue},
      {"a:0x10|c", ParseError::kBadValue},
      {"a:--1|c", ParseError::kBadValue},
      {"a:+-1|c", ParseError::kBadValue},
      {"a:+|c", ParseError::kBadValue},
      {"a:1,5|c", ParseError::kBadValue},
      {"a:b:1|c", ParseError::kBadValue},
      {"a:b:c|s", ParseError::kSetMultiValue},
      {"a:1:|s", ParseError::kSetMultiValue},
      // Sample rate.
      {"a:1|c|@", ParseError::kBadSampleRate},
      {"a:1|c|@x", ParseError::kBadSampleRate},
      {"a:1|c|@0", ParseError::kBadSampleRate},
      {"a:1|c|@-0.5", ParseError::kBadSampleRate},
      {"a:1|c|@1.5", ParseError::kBadSampleRate},
      {"a:1|c|@nan", ParseError::kBadSampleRate},
      {"a:1|c|#t|@0.5x", ParseError::kBadSampleRate},
      // Timestamp.
      {"a:1|g|T", ParseError::kBadTimestamp},
      {"a:1|g|T0", ParseError::kBadTimestamp},
      {"a:1|g|T-5", ParseError::kBadTimestamp},
      {"a:1|g|T1.5", ParseError::kBadTimestamp},
      {"a:1|g|Tabc", ParseError::kBadTimestamp},
      {"a:1|g|T99999999999999999999", ParseError::kBadTimestamp},
      {"a:1|g|Tomorrow", ParseError::kBadTimestamp},
      // Events.
      {"_e{", ParseError::kEventTooShort},
      {"_e{1,}", ParseError::kEventTooShort},
      {"_e{1,1}a|b", ParseError::kEventHeader},
      {"_e{1,1:a|b", ParseError::kEventHeader},
      {"_e{11}:a|b", ParseError::kEventHeader},
      {"_e{x,1}:a|b", ParseError::kEventHeader},
      {"_e{1,y}:a|b", ParseError::kEventHeader},
      {"_e{-1,1}:a|b", ParseError::kEventHeader},
      {"_e{1,-1}:a|b", ParseError::kEventHeader},
      {"_e{,}:a|b", ParseError::kEventHeader},
      {"_e{1,1}}:a|b", ParseError::kEventHeader},
      {"_e{99999999999999999999,1}:a|b", ParseError::kEventHeader},
      {"_e{0,1}:|b", ParseError::kEventTitleLength},
      {"_e{5,1}:a|b", ParseError::kEventTitleLength},
      {"_e{2,1}:a|b", ParseError::kEventTitleLength},
      {"_e{1,1}:a", ParseError::kEventTitleLength},
      {"_e{9223372036854775807,1}:a|b", ParseError::kEventTitleLength},
      {"_e{1,5}:a|b", ParseError::kEventTextLength},
      {"_e{1,1}:a|bc", ParseError::kEventTextLength},
      {"_e{1,0}:a|b", ParseError::kEventTextLength},
      {"_e{1,9223372036854775807}:a|b", ParseError::kEventTextLength},
      // Service checks.
      {"_sc", ParseError::kServiceCheckTooShort},
      {"_sc|", ParseError::kServiceCheckTooShort},
      {"_sc|a", ParseError::kServiceCheckTooShort},
      {"_scx|a|0", ParseError::kServiceCheckTooShort},
      {"_sc||0", ParseError::kServiceCheckEmptyName},
      {"_sc||", ParseError::kServiceCheckEmptyName},
      {"_sc|a|", ParseError::kServiceCheckBadStatus},
      {"_sc|a|4", ParseError::kServiceCheckBadStatus},
      {"_sc|a|-1", ParseError::kServiceCheckBadStatus},
      {"_sc|a|x", ParseError::kServiceCheckBadStatus},
      {"_sc|a|1.0", ParseError::kServiceCheckBadStatus},
      {"_sc|a| 0", ParseError::kServiceCheckBadStatus},
      {"_sc|a|OK|m:x", ParseError::kServiceCheckBadStatus},
  };
  return cases;
}

TEST(DogStatsdParserTest, BadInputsAreCountedPerReason) {
  ASSERT_GE(badCases().size(), 40u);
  for (const BadCase& c : badCases()) {
    SCOPED_TRACE(c.input);
    Parser parser;
    Recorder rec;
    EXPECT_EQ(parser.parse(c.input, rec), 0u);
    EXPECT_TRUE(rec.got.empty()) << rec.got.front();
    EXPECT_EQ(parser.errorCount(c.error), 1u);
    EXPECT_EQ(parser.errors(), 1u);
    ASSERT_EQ(rec.errors.size(), 1u);
    EXPECT_EQ(rec.errors[0].substr(0, rec.errors[0].find(':')), parseErrorName(c.error));
  }
}

TEST(DogStatsdParserTest, RestOfDatagramIsStillProcessed) {
  for (const BadCase& c : badCases()) {
    SCOPED_TRACE(c.input);
    Parser parser;
    Recorder rec;
    std::string datagram =
        "before:1|c\n" + c.input + "\nafter:2|g|#t\n_sc|ok|0\n" + c.input + "\r\n_e{1,1}:t|x";
    EXPECT_EQ(parser.parse(datagram, rec), 4u);
    std::vector<std::string> want = {"S before c 1", "S after g 2 #t", "C ok 0", "E [t] [x]"};
    EXPECT_EQ(rec.got, want);
    EXPECT_EQ(parser.errorCount(c.error), 2u);
    EXPECT_EQ(parser.errors(), 2u);
    EXPECT_EQ(parser.samples(), 2u);
    EXPECT_EQ(parser.events(), 1u);
    EXPECT_EQ(parser.serviceChecks(), 1u);
  }
}

TEST(DogStatsdParserTest, ErrorLineHasNoLineEnding) {
  Parser parser;
  Recorder rec;
  parser.parse("bad\r\nok:1|c", rec);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0], "no_type: bad");
}

TEST(DogStatsdParserTest, CountersAccumulateAcrossDatagrams) {
  Parser parser;
  Recorder rec;
  EXPECT_EQ(parser.parse("a:1:2:3|h\nb:1|c", rec), 2u);
  EXPECT_EQ(parser.parse("c:x|s\nbad|c\n_e{1,1}:a|b\n_sc|s|9", rec), 2u);
  EXPECT_EQ(parser.samples(), 5u);
  EXPECT_EQ(parser.metricMessages(), 3u);
  EXPECT_EQ(parser.events(), 1u);
  EXPECT_EQ(parser.serviceChecks(), 0u);
  EXPECT_EQ(parser.errorCount(ParseError::kNoValue), 1u);
  EXPECT_EQ(parser.errorCount(ParseError::kServiceCheckBadStatus), 1u);
  EXPECT_EQ(parser.errors(), 2u);
}

TEST(DogStatsdParserTest, EolRequiredDropsTheUnterminatedFinalLine) {
  Parser parser(ParserOptions{.eol_required = true});
  Recorder rec;
  EXPECT_EQ(parser.parse("a:1|c\nb:2|c", rec), 1u);
  EXPECT_EQ(rec.got, std::vector<std::string>{"S a c 1"});
  EXPECT_EQ(parser.errorCount(ParseError::kMissingEol), 1u);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0], "missing_eol: b:2|c");

  rec.got.clear();
  EXPECT_EQ(parser.parse("a:1|c\nb:2|c\n", rec), 2u);
  EXPECT_EQ(parser.parse("a:1|c\r\n", rec), 1u);
  EXPECT_EQ(parser.parse("", rec), 0u);
  EXPECT_EQ(parser.parse("\n", rec), 0u);
  EXPECT_EQ(parser.errorCount(ParseError::kMissingEol), 1u);

  Parser lenient;
  EXPECT_EQ(lenient.parse("a:1|c\nb:2|c", rec), 2u);
  EXPECT_EQ(lenient.errors(), 0u);
}

TEST(DogStatsdParserTest, ViewsPointIntoTheDatagram) {
  struct Check : Handler {
    std::string_view datagram;
    int samples = 0;
    void onSample(const Sample& s) override {
      EXPECT_GE(s.name.data(), datagram.data());
      EXPECT_LE(s.name.data() + s.name.size(), datagram.data() + datagram.size());
      for (std::string_view t : s.tags) {
        EXPECT_GE(t.data(), datagram.data());
        EXPECT_LE(t.data() + t.size(), datagram.data() + datagram.size());
      }
      ++samples;
    }
    void onEvent(const Event&) override {}
    void onServiceCheck(const ServiceCheck&) override {}
  };
  std::string datagram = "metric.name:1:2|c|#a,b,c";
  Check check;
  check.datagram = datagram;
  Parser parser;
  parser.parse(datagram, check);
  EXPECT_EQ(check.samples, 2);
}

TEST(DogStatsdParserTest, ManyTagsAreDeduplicated) {
  std::string line = "a:1|c|#";
  std::set<std::string> want;
  for (int i = 0; i < 100; ++i) {
    std::string tag = fmt::format("t{}", i % 40);
    want.insert(tag);
    line += tag + ",";
  }
  struct Tags : Handler {
    std::set<std::string> got;
    size_t count = 0;
    void onSample(const Sample& s) override {
      count = s.tags.size();
      for (std::string_view t : s.tags) {
        got.emplace(t);
      }
    }
    void onEvent(const Event&) override {}
    void onServiceCheck(const ServiceCheck&) override {}
  } handler;
  Parser parser;
  EXPECT_EQ(parser.parse(line, handler), 1u);
  EXPECT_EQ(handler.count, 40u);
  EXPECT_EQ(handler.got, want);
}

TEST(DogStatsdParserTest, LongEscapedEventKeepsBothViews) {
  std::string title(500, 'a');
  title += "\\n";
  std::string text(3000, 'b');
  text += "\\nend";
  std::string line = "_e{" + std::to_string(title.size()) + "," + std::to_string(text.size()) +
                     "}:" + title + "|" + text;
  struct Ev : Handler {
    std::string title;
    std::string text;
    void onSample(const Sample&) override {}
    void onEvent(const Event& e) override {
      title = e.title;
      text = e.text;
    }
    void onServiceCheck(const ServiceCheck&) override {}
  } handler;
  Parser parser;
  EXPECT_EQ(parser.parse(line, handler), 1u);
  EXPECT_EQ(handler.title, std::string(500, 'a') + "\n");
  EXPECT_EQ(handler.text, std::string(3000, 'b') + "\nend");
}

TEST(DogStatsdParserTest, ErrorNamesAreDistinctSnakeCase) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < static_cast<size_t>(ParseError::kCount); ++i) {
    std::string_view name = parseErrorName(static_cast<ParseError>(i));
    EXPECT_NE(name, "unknown");
    for (char ch : name) {
      EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_') << name;
    }
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(ParseError::kCount));
}

TEST(DogStatsdParserTest, EveryReasonHasABadCase) {
  std::set<ParseError> covered = {ParseError::kMissingEol};  // covered by its own test
  for (const BadCase& c : badCases()) {
    covered.insert(c.error);
  }
  EXPECT_EQ(covered.size(), static_cast<size_t>(ParseError::kCount));
}

}  // namespace
}  // namespace outpost::dogstatsd
