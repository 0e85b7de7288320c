// The /api/v2/logs body encoder, checked against the fake intake's own decoder.
#include "forwarder/encoders/logs_encoder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>
#include <string>

#include "collector/sources/logs/json_plain.h"
#include "forwarder/encoders/json_writer.h"
#include "tests/fakeintake/payload.h"

namespace outpost {
namespace {

using logs::LogMessage;
using logs::LogOrigin;
using nlohmann::json;

std::shared_ptr<const LogOrigin> origin(std::string service, std::string source, std::string tags) {
  return std::make_shared<const LogOrigin>(
      LogOrigin{std::move(service), std::move(source), std::move(tags)});
}

LogMessage message(std::string content, int64_t ts, std::shared_ptr<const LogOrigin> o,
                   std::string status = "") {
  LogMessage m;
  m.content = std::move(content);
  m.timestamp_ms = ts;
  m.origin = std::move(o);
  m.status = std::move(status);
  return m;
}

// What the fake intake makes of a body sent to /api/v2/logs.
fakeintake::Decoded decodeLogs(const std::string& body) {
  const fakeintake::Route* route = fakeintake::findRoute("/api/v2/logs");
  EXPECT_NE(route, nullptr);
  return fakeintake::decodeBody(*route, "application/json", body);
}

LogsPayloadEncoder::Options options(size_t max_entries = 1000, size_t max_size = 5'000'000) {
  return LogsPayloadEncoder::Options{"host-1", max_entries, max_size, "7.60.0"};
}

TEST(LogsEncoderTest, FieldsInOrderAndThePayloadShape) {
  LogsPayloadEncoder enc(options());
  auto o = origin("web", "nginx", "env:prod,filename:access.log");
  ASSERT_TRUE(enc.add(message("GET / 200", 1700000000123, o)));
  ASSERT_TRUE(enc.add(message("oops", 1700000000456, o, "error")));
  EXPECT_EQ(enc.entries(), 2u);
  const size_t bytes = enc.bytes();
  Payload p = enc.take();
  EXPECT_EQ(p.body, R"([{"message":"GET / 200","status":"info","timestamp":1700000000123,)"
                    R"("hostname":"host-1","service":"web","ddsource":"nginx",)"
                    R"("ddtags":"env:prod,filename:access.log"},)"
                    R"({"message":"oops","status":"error","timestamp":1700000000456,)"
                    R"("hostname":"host-1","service":"web","ddsource":"nginx",)"
                    R"("ddtags":"env:prod,filename:access.log"}])");
  EXPECT_EQ(bytes, p.body.size());
  EXPECT_EQ(p.intake, IntakeKind::kLogs);
  EXPECT_EQ(p.route, "/api/v2/logs");
  EXPECT_EQ(p.content_type, "application/json");
  EXPECT_FALSE(p.spoolable);
  ASSERT_EQ(p.headers.size(), 1u);
  EXPECT_EQ(p.headers[0].first, "dd-message-timestamp");
  EXPECT_EQ(p.headers[0].second, "1700000000456");
  EXPECT_TRUE(enc.empty());
  EXPECT_EQ(enc.bytes(), 0u);

  auto d = decodeLogs(p.body);
  EXPECT_TRUE(d.errors.empty()) << d.errors.front();
  ASSERT_TRUE(d.json.is_array());
  ASSERT_EQ(d.json.size(), 2u);
  EXPECT_EQ(d.json[1]["message"], "oops");
  EXPECT_EQ(d.json[1]["timestamp"].get<int64_t>(), 1700000000456);
  std::vector<std::string> keys;
  for (auto it = d.json[0].begin(); it != d.json[0].end(); ++it) {
    keys.push_back(it.key());
  }
  // nlohmann sorts keys, so the order is checked on the bytes above; here every field is there.
  EXPECT_EQ(keys.size(), 7u);
}

TEST(LogsEncoderTest, StatusIsDetectedWhenEmpty) {
  LogsPayloadEncoder enc(options());
  auto o = origin("s", "src", "");
  enc.add(message("<11>Jan  1 00:00:00 host app: failed", 1, o));
  enc.add(message(R"({"level":"WARN","msg":"x"})", 2, o));
  enc.add(message("plain line", 3, o));
  enc.add(message("<11>but the caller knows", 4, o, "debug"));
  auto d = decodeLogs(enc.take().body);
  ASSERT_EQ(d.json.size(), 4u);
  EXPECT_EQ(d.json[0]["status"], "error");
  EXPECT_EQ(d.json[1]["status"], "warning");
  EXPECT_EQ(d.json[2]["status"], "info");
  EXPECT_EQ(d.json[3]["status"], "debug");
}

TEST(LogsEncoderTest, EscapesContentAndOriginFields) {
  LogsPayloadEncoder enc(options());
  auto o = origin("svc \"q\"", "src\\x", "k:v\n,t:\x01");
  std::string content = "tab\there \"quoted\" back\\slash\r\nctl\x1f\x7f end é ✓ 😀";
  ASSERT_TRUE(enc.add(message(content, 5, o)));
  Payload p = enc.take();
  EXPECT_NE(p.body.find(R"("message":"tab\there \"quoted\" back\\slash\r\nctl\u001f)"),
            std::string::npos)
      << p.body;
  auto d = decodeLogs(p.body);
  ASSERT_TRUE(d.errors.empty());
  EXPECT_EQ(d.json[0]["message"], content);
  EXPECT_EQ(d.json[0]["service"], "svc \"q\"");
  EXPECT_EQ(d.json[0]["ddsource"], "src\\x");
  EXPECT_EQ(d.json[0]["ddtags"], "k:v\n,t:\x01");
  EXPECT_EQ(d.json[0]["hostname"], "host-1");
}

TEST(LogsEncoderTest, InvalidUtf8IsReplacedAndTheIntakeAcceptsIt) {
  LogsPayloadEncoder enc(options());
  auto o = origin("s", "src", "t:1");
  // A lone continuation, a truncated 3-byte sequence, an overlong, a surrogate, past U+10FFFF.
  const std::string bad =
      "a\x80"
      "b\xE2\x82"
      "c\xC0\xAF"
      "d\xED\xA0\x80"
      "e\xF5\x80"
      "f";
  ASSERT_TRUE(enc.add(message(bad, 1, o)));
  ASSERT_TRUE(enc.add(message("ok", 2, origin("s\xFF", "src", "t:\xC3"))));
  Payload p = enc.take();
  EXPECT_TRUE(isValidUtf8(p.body));
  auto d = decodeLogs(p.body);
  ASSERT_TRUE(d.errors.empty()) << d.errors.front();
  EXPECT_EQ(d.json[0]["message"], toValidUtf8(bad));
  EXPECT_EQ(d.json[1]["service"], "s\xEF\xBF\xBD");
  EXPECT_EQ(d.json[1]["ddtags"], "t:\xEF\xBF\xBD");
}

TEST(LogsEncoderTest, FastEscaperMatchesAppendJsonStringOnRandomInput) {
  std::mt19937_64 rng(42);
  // Bytes drawn mostly from the interesting ranges, so every path is taken often.
  const std::string alphabet = std::string("abcXYZ019 \"\\\t\n\r\x01\x1f\x7f") +
                               "\xC2\xA9\xE2\x82\xAC\xF0\x9F\x98\x80" +
                               "\x80\xBF\xC0\xC1\xE0\xED\xF4\xF5\xFF";
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const size_t len = rng() % 40;
    for (size_t i = 0; i < len; ++i) {
      s.push_back(alphabet[rng() % alphabet.size()]);
    }
    if (round % 7 == 0) {
      s = std::string(rng() % 30, 'x') + s + std::string(rng() % 20, 'y');
    }
    std::string fast = "\"";
    appendJsonStringBody(fast, s);
    fast.push_back('"');
    ASSERT_EQ(fast, jsonString(s))
        << "input bytes: " << json(std::vector<uint8_t>(s.begin(), s.end()));
  }
}

TEST(LogsEncoderTest, JsonPlainContentIsCopiedAsItIsAndGivesTheSameBody) {
  // The decoder's flag saves the encoder a look at plain content: the bodies must not differ.
  std::mt19937_64 rng(7);
  const std::string alphabet = "abcXYZ019 ~/'=:[]{}<>,.\x7f";
  for (int round = 0; round < 200; ++round) {
    LogsPayloadEncoder looked(options());
    LogsPayloadEncoder copied(options());
    for (int i = 0; i < 20; ++i) {
      std::string s;
      const size_t len = rng() % 300;
      for (size_t k = 0; k < len; ++k) {
        s.push_back(alphabet[rng() % alphabet.size()]);
      }
      ASSERT_TRUE(logs::isJsonPlain(s));
      LogMessage m = message(s, 1700000000000 + i, origin("svc", "src", "a:b"));
      ASSERT_TRUE(looked.add(m));
      m.json_plain = true;
      ASSERT_TRUE(copied.add(m));
    }
    const std::string body = looked.take().body;
    EXPECT_EQ(copied.take().body, body);
    EXPECT_TRUE(decodeLogs(body).errors.empty());
  }
}

TEST(LogsEncoderTest, CachesOriginsPerPointerButNeverMixesThem) {
  LogsPayloadEncoder enc(options());
  auto a = origin("a", "sa", "ta");
  auto b = origin("b", "sb", "tb");
  enc.add(message("1", 1, a));
  enc.add(message("2", 2, b));
  enc.add(message("3", 3, a));
  enc.add(message("4", 4, nullptr));
  // A new origin with the same content at a possibly reused address after `b` dies.
  b.reset();
  enc.add(message("5", 5, origin("c", "sc", "tc")));
  auto d = decodeLogs(enc.take().body);
  ASSERT_EQ(d.json.size(), 5u);
  EXPECT_EQ(d.json[0]["service"], "a");
  EXPECT_EQ(d.json[1]["service"], "b");
  EXPECT_EQ(d.json[2]["ddsource"], "sa");
  EXPECT_EQ(d.json[3]["service"], "");
  EXPECT_EQ(d.json[3]["ddtags"], "");
  EXPECT_EQ(d.json[4]["ddtags"], "tc");
}

// An entry's tail (status, timestamp, origin) is reused while all three stay the same: each
// change of any one of them shows in its own entry.
TEST(LogsEncoderTest, EachEntryHasItsOwnStatusTimestampAndOrigin) {
  LogsPayloadEncoder enc(options());
  auto a = origin("a", "sa", "ta");
  auto b = origin("b", "sb", "tb");
  struct Want {
    const char* content;
    const char* status;
    int64_t ts;
    std::shared_ptr<const logs::LogOrigin> o;
  };
  const Want wants[] = {{"1", "info", 10, a},   {"2", "info", 10, a},    {"3", "error", 10, a},
                        {"4", "error", 11, a},  {"5", "error", 11, b},   {"6", "info", 11, b},
                        {"7", "", 11, b},       {"8", "weird\"", 11, b}, {"9", "info", 12, a},
                        {"<11>boom", "", 12, a}};
  for (const auto& w : wants) {
    auto m = message(w.content, w.ts, w.o);
    m.status = w.status;
    ASSERT_TRUE(enc.add(m));
  }
  auto d = decodeLogs(enc.take().body);
  ASSERT_EQ(d.json.size(), std::size(wants));
  for (size_t i = 0; i < std::size(wants); ++i) {
    const auto& w = wants[i];
    const std::string status = *w.status != 0                             ? w.status
                               : std::string(w.content).find("<11>") == 0 ? "error"
                                                                          : "info";
    EXPECT_EQ(d.json[i]["message"], w.content) << i;
    EXPECT_EQ(d.json[i]["status"], status) << i;
    EXPECT_EQ(d.json[i]["timestamp"], w.ts) << i;
    EXPECT_EQ(d.json[i]["service"], w.o == a ? "a" : "b") << i;
  }
}

TEST(LogsEncoderTest, MaxEntriesIsKept) {
  LogsPayloadEncoder enc(options(3));
  auto o = origin("s", "src", "");
  EXPECT_TRUE(enc.add(message("1", 1, o)));
  EXPECT_TRUE(enc.add(message("2", 2, o)));
  EXPECT_TRUE(enc.add(message("3", 3, o)));
  const std::string before = std::to_string(enc.bytes());
  EXPECT_FALSE(enc.add(message("4", 4, o)));
  EXPECT_EQ(enc.entries(), 3u);
  EXPECT_EQ(std::to_string(enc.bytes()), before);
  auto d = decodeLogs(enc.take().body);
  EXPECT_EQ(d.json.size(), 3u);
  EXPECT_TRUE(enc.add(message("4", 4, o)));
}

TEST(LogsEncoderTest, MaxContentSizeCountsEscapedBytes) {
  auto o = origin("s", "src", "t");
  LogsPayloadEncoder probe(options());
  probe.add(message("0123456789", 1, o));
  const size_t one = probe.bytes();  // "[" + entry + "]"
  const size_t two = 2 * one - 1;    // "[" + entry + "," + entry + "]"
  LogsPayloadEncoder enc(options(1000, two));
  EXPECT_TRUE(enc.add(message("0123456789", 1, o)));
  // Nine raw bytes, eighteen escaped: does not fit where ten plain ones would.
  EXPECT_FALSE(enc.add(message(std::string(9, '"'), 1, o)));
  EXPECT_FALSE(enc.add(message(std::string(9, '\x01'), 1, o)));
  EXPECT_EQ(enc.entries(), 1u);
  EXPECT_TRUE(enc.add(message("012345678", 1, o)));
  EXPECT_EQ(enc.bytes(), two - 1);
  Payload p = enc.take();
  EXPECT_EQ(p.body.size(), two - 1);
  auto d = decodeLogs(p.body);
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.json.size(), 2u);
  EXPECT_EQ(d.json[1]["message"], "012345678");
}

TEST(LogsEncoderTest, BoundaryByteExactly) {
  auto o = origin("s", "src", "t");
  LogsPayloadEncoder probe(options());
  probe.add(message("abc", 1, o));
  probe.add(message("abc", 1, o));
  const size_t exact = probe.bytes();
  LogsPayloadEncoder fits(options(1000, exact));
  EXPECT_TRUE(fits.add(message("abc", 1, o)));
  EXPECT_TRUE(fits.add(message("abc", 1, o)));
  EXPECT_EQ(fits.bytes(), exact);
  LogsPayloadEncoder short_by_one(options(1000, exact - 1));
  EXPECT_TRUE(short_by_one.add(message("abc", 1, o)));
  EXPECT_FALSE(short_by_one.add(message("abc", 1, o)));
}

TEST(LogsEncoderTest, AMessageTooBigOnItsOwnIsCutToFit) {
  auto o = origin("s", "src", "t");
  const size_t max = 300;
  LogsPayloadEncoder enc(options(1000, max));
  // Multi-byte characters and escapes straddle every possible cut position.
  std::string big;
  for (int i = 0; i < 200; ++i) {
    big += "é\n\x01";
  }
  ASSERT_TRUE(enc.add(message(big, 1, o)));
  EXPECT_EQ(enc.cutMessages(), 1u);
  EXPECT_LE(enc.bytes(), max);
  EXPECT_GE(enc.bytes(), max - 6);  // cut at a token boundary, at most one token short
  // Full: the next message waits for the next batch.
  EXPECT_FALSE(enc.add(message("x", 2, o)));
  Payload p = enc.take();
  EXPECT_LE(p.body.size(), max);
  auto d = decodeLogs(p.body);
  ASSERT_TRUE(d.errors.empty()) << d.errors.front();
  const std::string got = d.json[0]["message"];
  EXPECT_FALSE(got.empty());
  EXPECT_EQ(big.compare(0, got.size(), got), 0) << "a prefix of the original";
  // A limit smaller than the entry's fixed fields still terminates, with an empty message.
  LogsPayloadEncoder tiny(options(1000, 10));
  ASSERT_TRUE(tiny.add(message(big, 1, o)));
  auto t = decodeLogs(tiny.take().body);
  ASSERT_TRUE(t.errors.empty());
  EXPECT_EQ(t.json[0]["message"], "");
}

TEST(LogsEncoderTest, RandomLimitsAndContentAlwaysGiveValidBodiesWithinTheLimit) {
  std::mt19937_64 rng(3);
  const std::string alphabet =
      std::string("ab \"\\\n\x02") + "\xC3\xA9\xE2\x9C\x93\xF0\x9F\x98\x80\xFF";
  auto o = origin("s", "src", "t:1");
  for (int round = 0; round < 300; ++round) {
    const size_t max = 150 + rng() % 600;
    LogsPayloadEncoder enc(options(1 + rng() % 8, max));
    size_t added = 0;
    for (int i = 0; i < 20; ++i) {
      std::string content;
      const size_t len = rng() % 400;
      for (size_t k = 0; k < len; ++k) {
        content.push_back(alphabet[rng() % alphabet.size()]);
      }
      const bool was_empty = enc.empty();
      const bool ok = enc.add(message(content, i, o));
      ASSERT_TRUE(ok || !was_empty) << "an empty encoder always takes a message";
      added += ok ? 1 : 0;
      ASSERT_LE(enc.bytes(), max);
      if (!ok || rng() % 5 == 0) {
        Payload p = enc.take();
        ASSERT_LE(p.body.size(), max);
        auto d = decodeLogs(p.body);
        ASSERT_TRUE(d.errors.empty()) << p.body;
        ASSERT_TRUE(d.json.is_array());
      }
    }
    EXPECT_GT(added, 0u);
  }
}

TEST(LogsEncoderTest, EmptyTakeIsAnEmptyArray) {
  LogsPayloadEncoder enc(options());
  Payload p = enc.take();
  EXPECT_EQ(p.body, "[]");
}

TEST(LogsEncoderTest, StopsAtTheIntakesThousandEntries) {
  LogsPayloadEncoder enc(options());
  auto o = origin("s", "src", "t");
  size_t n = 0;
  while (enc.add(message("line " + std::to_string(n), static_cast<int64_t>(n), o))) {
    ++n;
  }
  EXPECT_EQ(n, kLogsMaxEntries);
  auto d = decodeLogs(enc.take().body);
  EXPECT_TRUE(d.errors.empty());
  EXPECT_FALSE(d.too_large);
  EXPECT_EQ(d.json.size(), kLogsMaxEntries);
  EXPECT_EQ(d.json[999]["message"], "line 999");
}

}  // namespace
}  // namespace outpost
