#include "collector/sources/traces/decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "collector/sources/traces/msgpack_reader.h"
#include "collector/sources/traces/msgpack_writer.h"

namespace outpost::traces {
namespace {

// --- MsgpackReader ---------------------------------------------------------------------------

TEST(MsgpackReaderTest, EveryIntegerWidthAndSign) {
  std::string b;
  MsgpackWriter w(b);
  const uint64_t unsigned_values[] = {0,
                                      1,
                                      127,
                                      128,
                                      255,
                                      256,
                                      65535,
                                      65536,
                                      4294967295ULL,
                                      4294967296ULL,
                                      std::numeric_limits<uint64_t>::max()};
  for (uint64_t v : unsigned_values) {
    w.uint(v);
  }
  const int64_t signed_values[] = {
      -1,     -32,    -33,           -128,          -129,
      -32768, -32769, -2147483648LL, -2147483649LL, std::numeric_limits<int64_t>::min()};
  for (int64_t v : signed_values) {
    w.integer(v);
  }
  MsgpackReader r(b);
  for (uint64_t want : unsigned_values) {
    uint64_t got = 0;
    ASSERT_TRUE(r.readUint64(&got)) << r.error();
    EXPECT_EQ(got, want);
  }
  for (int64_t want : signed_values) {
    int64_t got = 0;
    ASSERT_TRUE(r.readInt64(&got)) << r.error();
    EXPECT_EQ(got, want);
  }
  EXPECT_TRUE(r.atEnd());
}

// Integers are read inline when nine bytes remain and out of line near the end of the body: each
// encoding (explicit, not only the writer's minimal one) gives the same value both ways.
// Doubles and array/map headers: the inline encodings (float64, positive fixint, fixarray,
// fixmap) and the others give the same values with and without bytes after them, and a header
// claiming more elements than bytes remain fails the same way on both paths.
TEST(MsgpackReaderTest, DoublesAndHeadersReadTheSameInlineAndAtTheEndOfTheBody) {
  auto bytes = [](const auto& literal) {  // with its zero bytes
    return std::string(literal, sizeof literal - 1);
  };
  const std::pair<std::string, double> doubles[] = {
      {bytes("\xcb\x40\x60\x30\x00\x00\x00\x00\x00"), 129.5},
      {bytes("\xcb\xbf\xf8\x00\x00\x00\x00\x00\x00"), -1.5},
      {bytes("\xca\x40\x20\x00\x00"), 2.5},
      {bytes("\x7f"), 127},
      {bytes("\x00"), 0},
      {bytes("\xcd\x01\x02"), 258},
      {bytes("\xd0\xfe"), -2},
      {bytes("\xc0"), 0},
  };
  for (const auto& [encoded, want] : doubles) {
    for (const bool padded : {true, false}) {
      const std::string body = padded ? encoded + std::string(9, '\xc0') : encoded;
      MsgpackReader r(body);
      double v = -99;
      ASSERT_TRUE(r.readDouble(&v)) << r.error();
      EXPECT_EQ(v, want) << static_cast<int>(encoded[0]) << " padded " << padded;
      EXPECT_EQ(r.position(), encoded.size());
    }
  }
  struct Header {
    std::string bytes;
    bool map;
    uint32_t n;
  };
  const Header headers[] = {
      {bytes("\x93"), false, 3}, {bytes("\x90"), false, 0}, {bytes("\xdc\x00\x02"), false, 2},
      {bytes("\x82"), true, 2},  {bytes("\x80"), true, 0},  {bytes("\xde\x00\x01"), true, 1},
      {bytes("\xc0"), true, 0},  {bytes("\xc0"), false, 0},
  };
  for (const auto& h : headers) {
    // Exactly enough bytes after the header for its elements (one byte each), then one fewer.
    const std::string body = h.bytes + std::string(h.map ? 2 * h.n : h.n, '\x01');
    MsgpackReader r(body);
    uint32_t n = 99;
    ASSERT_TRUE(h.map ? r.readMapHeader(&n) : r.readArrayHeader(&n)) << r.error();
    EXPECT_EQ(n, h.n);
    EXPECT_EQ(r.position(), h.bytes.size());
    if (h.n > 0) {
      MsgpackReader short_body(std::string_view(body).substr(0, body.size() - 1));
      EXPECT_FALSE(h.map ? short_body.readMapHeader(&n) : short_body.readArrayHeader(&n));
      EXPECT_NE(short_body.error().find("is longer than the body"), std::string::npos)
          << short_body.error();
    }
  }
  MsgpackReader wrong("\xa1x");
  uint32_t n = 0;
  EXPECT_FALSE(wrong.readMapHeader(&n));
  EXPECT_NE(wrong.error().find("expected map"), std::string::npos) << wrong.error();
  double d = 0;
  const std::string truncated_body = bytes("\xcb\x40\x60");
  MsgpackReader truncated(truncated_body);
  EXPECT_FALSE(truncated.readDouble(&d));
  EXPECT_NE(truncated.error().find("float64"), std::string::npos) << truncated.error();
}

TEST(MsgpackReaderTest, IntegersReadTheSameInlineAndAtTheEndOfTheBody) {
  auto bytes = [](const auto& literal) {  // with its zero bytes
    return std::string(literal, sizeof literal - 1);
  };
  struct Case {
    std::string bytes;
    bool int64_ok;
    int64_t as_int64;
    uint64_t as_uint64;
  };
  const Case cases[] = {
      {bytes("\x05"), true, 5, 5},
      {bytes("\xcc\xfe"), true, 254, 254},
      {bytes("\xcd\x01\x02"), true, 258, 258},
      {bytes("\xce\x80\x00\x00\x01"), true, 2147483649LL, 2147483649ULL},
      {bytes("\xcf\x00\x00\x00\x01\x00\x00\x00\x02"), true, 4294967298LL, 4294967298ULL},
      {bytes("\xcf\xff\xff\xff\xff\xff\xff\xff\xfe"), false, 0, 0xfffffffffffffffeULL},
      {bytes("\xd0\xfe"), true, -2, static_cast<uint64_t>(-2)},
      {bytes("\xd0\x7f"), true, 127, 127},
      {bytes("\xd1\xff\x00"), true, -256, static_cast<uint64_t>(-256)},
      {bytes("\xd2\x80\x00\x00\x00"), true, -2147483648LL, static_cast<uint64_t>(-2147483648LL)},
      {bytes("\xd3\x80\x00\x00\x00\x00\x00\x00\x01"), true, std::numeric_limits<int64_t>::min() + 1,
       static_cast<uint64_t>(std::numeric_limits<int64_t>::min() + 1)},
      {bytes("\xe0"), true, -32, static_cast<uint64_t>(-32)},
  };
  for (const auto& c : cases) {
    for (const bool padded : {true, false}) {
      const std::string body = padded ? c.bytes + std::string(9, '\xc0') : c.bytes;
      MsgpackReader u(body);
      uint64_t uv = 0;
      ASSERT_TRUE(u.readUint64(&uv)) << u.error();
      EXPECT_EQ(uv, c.as_uint64) << static_cast<int>(c.bytes[0]) << " padded " << padded;
      EXPECT_EQ(u.position(), c.bytes.size());
      MsgpackReader i(body);
      int64_t iv = 0;
      EXPECT_EQ(i.readInt64(&iv), c.int64_ok) << static_cast<int>(c.bytes[0]);
      if (c.int64_ok) {
        EXPECT_EQ(iv, c.as_int64) << static_cast<int>(c.bytes[0]) << " padded " << padded;
        EXPECT_EQ(i.position(), c.bytes.size());
      } else {
        EXPECT_NE(i.error().find("int"), std::string::npos) << i.error();
      }
    }
  }
}

// The inline checks a span's decoding uses agree with peek() for every first byte, at the end of
// the body and after an error.
TEST(MsgpackReaderTest, InlineTypeChecksAgreeWithPeek) {
  for (int b = 0; b < 256; ++b) {
    const std::string body = std::string(1, static_cast<char>(b)) + std::string(8, '\0');
    MsgpackReader r(body);
    EXPECT_EQ(r.nextIsNil(), r.peek() == MsgpackReader::Type::kNil) << b;
    EXPECT_EQ(r.nextIsMap(), r.peek() == MsgpackReader::Type::kMap) << b;
    EXPECT_EQ(r.nextIsArray(), r.peek() == MsgpackReader::Type::kArray) << b;
  }
  MsgpackReader empty(std::string_view{});
  EXPECT_FALSE(empty.nextIsNil() || empty.nextIsMap() || empty.nextIsArray());
  MsgpackReader failed(std::string_view("\x90", 1));
  failed.fail("an earlier error");
  EXPECT_FALSE(failed.nextIsArray());
}

TEST(MsgpackReaderTest, StringsBinsFloatsNilAndContainers) {
  std::string b;
  MsgpackWriter w(b);
  w.str("");
  w.str(std::string(31, 'a'));
  w.str(std::string(32, 'b'));     // str8
  w.str(std::string(300, 'c'));    // str16
  w.str(std::string(70000, 'd'));  // str32
  w.bin(std::string("\x00\x01", 2));
  w.float64(2.5);
  b += std::string("\xca\x40\x20\x00\x00", 5);  // float32 2.5
  w.nil();
  w.boolean(true);
  w.arrayHeader(20);  // array16
  for (int i = 0; i < 20; ++i) {
    w.uint(static_cast<uint64_t>(i));
  }
  w.mapHeader(17);  // map16
  for (int i = 0; i < 17; ++i) {
    w.str("k");
    w.nil();
  }
  MsgpackReader r(b);
  std::string_view s;
  ASSERT_TRUE(r.readString(&s));
  EXPECT_EQ(s, "");
  ASSERT_TRUE(r.readString(&s));
  EXPECT_EQ(s.size(), 31u);
  ASSERT_TRUE(r.readString(&s));
  EXPECT_EQ(s, std::string(32, 'b'));
  ASSERT_TRUE(r.readString(&s));
  EXPECT_EQ(s.size(), 300u);
  ASSERT_TRUE(r.readString(&s));
  EXPECT_EQ(s.size(), 70000u);
  ASSERT_TRUE(r.readString(&s));  // bin reads as a string
  EXPECT_EQ(s, std::string("\x00\x01", 2));
  double d = 0;
  ASSERT_TRUE(r.readDouble(&d));
  EXPECT_EQ(d, 2.5);
  ASSERT_TRUE(r.readDouble(&d));
  EXPECT_EQ(d, 2.5);
  EXPECT_EQ(r.peek(), MsgpackReader::Type::kNil);
  ASSERT_TRUE(r.readDouble(&d));  // nil -> 0
  EXPECT_EQ(d, 0);
  bool flag = false;
  ASSERT_TRUE(r.readBool(&flag));
  EXPECT_TRUE(flag);
  uint32_t n = 0;
  ASSERT_TRUE(r.readArrayHeader(&n));
  EXPECT_EQ(n, 20u);
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_TRUE(r.skip());
  }
  ASSERT_TRUE(r.skip());  // the whole map
  EXPECT_TRUE(r.atEnd());
}

TEST(MsgpackReaderTest, TypeErrorsAndLiesAreErrorsNotCrashes) {
  {
    MsgpackReader r(
        std::string_view("\xa3"
                         "abc",
                         4));
    uint64_t v;
    EXPECT_FALSE(r.readUint64(&v));
    EXPECT_EQ(r.error(), "expected int, got str at byte 0");
    EXPECT_FALSE(r.skip());  // every read fails after the first error
  }
  {
    MsgpackReader r(std::string_view("\xdd\x7f\xff\xff\xff\x01", 6));  // array32 of 2^31-1
    uint32_t n;
    EXPECT_FALSE(r.readArrayHeader(&n));
    EXPECT_NE(r.error().find("longer than the body"), std::string::npos);
  }
  {
    MsgpackReader r(std::string_view("\xcf\x00\x01", 3));  // truncated uint64
    uint64_t v;
    EXPECT_FALSE(r.readUint64(&v));
    EXPECT_NE(r.error().find("truncated"), std::string::npos);
  }
  {
    MsgpackReader r(std::string_view("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9));
    int64_t v;
    EXPECT_FALSE(r.readInt64(&v));  // above INT64_MAX
  }
  {
    std::string deep(100, '\x91');  // 100 nested arrays of one element
    deep += '\x01';
    MsgpackReader r(deep);
    EXPECT_FALSE(r.skip());
    EXPECT_NE(r.error().find("deeper than 64"), std::string::npos);
  }
  // Truncation at every byte of a document: clean failures.
  std::string doc;
  MsgpackWriter w(doc);
  w.mapHeader(3);
  w.str("name");
  w.str("a string of some length");
  w.str("list");
  w.arrayHeader(3);
  w.uint(70000);
  w.float64(1.5);
  w.integer(-5);
  w.str("bin");
  w.bin("xyz");
  for (size_t cut = 0; cut < doc.size(); ++cut) {
    MsgpackReader r(doc.data(), cut);
    EXPECT_FALSE(r.skip() && r.atEnd() && cut == doc.size()) << cut;
    if (cut < doc.size()) {
      EXPECT_FALSE(r.ok() && r.atEnd() && r.position() == doc.size());
    }
  }
}

// --- decoders --------------------------------------------------------------------------------

std::unique_ptr<DecodedPayload> decode(TraceApiVersion v, std::string_view type, std::string body,
                                       std::string* error) {
  auto dp = std::make_unique<DecodedPayload>();
  dp->body = std::move(body);
  if (!decodeTraces(v, type, *dp, error)) {
    return nullptr;
  }
  return dp;
}

void writeFullSpan(MsgpackWriter& w) {
  w.mapHeader(16);
  w.str("service");
  w.str("svc");
  w.str("name");
  w.bin("op.name");  // bin accepted for strings
  w.str("resource");
  w.str("GET /x");
  w.str("type");
  w.str("web");
  w.str("trace_id");
  w.uint(0xfedcba9876543210ULL);
  w.str("span_id");
  w.integer(-2);  // signed ids are cast
  w.str("parent_id");
  w.nil();
  w.str("start");
  w.uint(1'795'000'000'000'000'000ULL);
  w.str("duration");
  w.integer(1500);
  w.str("error");
  w.integer(1);
  w.str("meta");
  w.mapHeader(2);
  w.str("env");
  w.str("prod");
  w.str("bad.utf8");
  w.str(
      "a\xff"
      "b");
  w.str("metrics");
  w.mapHeader(2);
  w.str("int.metric");
  w.integer(3);  // integers become doubles
  w.str("_sampling_priority_v1");
  w.float64(2);
  w.str("meta_struct");
  w.mapHeader(1);
  w.str("appsec");
  w.bin(std::string("\x81\xa1k\x01", 4));
  w.str("span_links");
  w.arrayHeader(1);
  w.mapHeader(6);
  w.str("trace_id");
  w.uint(1);
  w.str("trace_id_high");
  w.uint(2);
  w.str("span_id");
  w.uint(3);
  w.str("attributes");
  w.mapHeader(1);
  w.str("k");
  w.str("v");
  w.str("tracestate");
  w.str("dd=s:1");
  w.str("flags");
  w.uint(0x80000001u);
  w.str("span_events");
  w.arrayHeader(1);
  w.mapHeader(3);
  w.str("time_unix_nano");
  w.uint(7);
  w.str("name");
  w.str("exception");
  w.str("attributes");
  w.mapHeader(1);
  w.str("list");
  w.mapHeader(2);
  w.str("type");
  w.uint(4);
  w.str("array_value");
  w.mapHeader(1);
  w.str("values");
  w.arrayHeader(1);
  w.mapHeader(2);
  w.str("type");
  w.uint(2);
  w.str("int_value");
  w.integer(-9);
  w.str("unknown_key");  // skipped
  w.arrayHeader(2);
  w.str("x");
  w.mapHeader(0);
}

TEST(TraceDecoderTest, V04EveryFieldAndTheLenientTypes) {
  std::string body;
  MsgpackWriter w(body);
  w.arrayHeader(2);
  w.arrayHeader(1);
  writeFullSpan(w);
  w.arrayHeader(0);  // an empty trace is a chunk without spans (the normalizer drops it)
  std::string error;
  auto dp = decode(TraceApiVersion::kV04, "application/msgpack; charset=utf-8", body, &error);
  ASSERT_TRUE(dp) << error;
  const auto& chunks = dp->payload.chunks;
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].priority, kPriorityNone);
  ASSERT_EQ(chunks[0].spans.size(), 1u);
  EXPECT_TRUE(chunks[1].spans.empty());
  const Span& s = chunks[0].spans[0];
  EXPECT_EQ(s.service, "svc");
  EXPECT_EQ(s.name, "op.name");
  EXPECT_EQ(s.resource, "GET /x");
  EXPECT_EQ(s.type, "web");
  EXPECT_EQ(s.trace_id, 0xfedcba9876543210ULL);
  EXPECT_EQ(s.span_id, std::numeric_limits<uint64_t>::max() - 1);
  EXPECT_EQ(s.parent_id, 0u);
  EXPECT_EQ(s.start, 1'795'000'000'000'000'000);
  EXPECT_EQ(s.duration, 1500);
  EXPECT_EQ(s.error, 1);
  ASSERT_EQ(s.meta.size(), 2u);
  EXPECT_EQ(*s.findMeta("env"), "prod");
  EXPECT_EQ(*s.findMeta("bad.utf8"),
            "a\xef\xbf\xbd"
            "b");  // repaired
  EXPECT_EQ(*s.findMetric("int.metric"), 3);
  EXPECT_EQ(*s.findMetric("_sampling_priority_v1"), 2);
  ASSERT_EQ(s.meta_struct.size(), 1u);
  EXPECT_EQ(s.meta_struct[0].second, std::string("\x81\xa1k\x01", 4));
  ASSERT_EQ(s.span_links.size(), 1u);
  EXPECT_EQ(s.span_links[0].trace_id_high, 2u);
  EXPECT_EQ(s.span_links[0].tracestate, "dd=s:1");
  EXPECT_EQ(s.span_links[0].flags, 0x80000001u);
  ASSERT_EQ(s.span_events.size(), 1u);
  EXPECT_EQ(s.span_events[0].name, "exception");
  ASSERT_EQ(s.span_events[0].attributes.size(), 1u);
  const AttributeValue& list = s.span_events[0].attributes[0].second;
  EXPECT_EQ(list.type, AttributeValue::kArray);
  ASSERT_EQ(list.array_value.size(), 1u);
  EXPECT_EQ(list.array_value[0].int_value, -9);
  // Valid strings are views into the body, not copies.
  EXPECT_GE(s.service.data(), dp->body.data());
  EXPECT_LT(s.service.data(), dp->body.data() + dp->body.size());
}

// A v0.5 body of one span over `dict` whose service and type indices are the raw msgpack bytes
// given (the type is the body's last value; none: an 11-element span), with one meta entry and
// one metric when `tags`.
std::string v05BodyWithRawIndices(const std::vector<std::string>& dict, std::string_view service,
                                  std::optional<std::string_view> type, bool tags = false) {
  std::string body;
  MsgpackWriter w(body);
  w.arrayHeader(2);
  w.arrayHeader(static_cast<uint32_t>(dict.size()));
  for (const auto& s : dict) {
    w.str(s);
  }
  w.arrayHeader(1);
  w.arrayHeader(1);
  w.arrayHeader(type ? 12 : 11);
  body.append(service);
  w.uint(2);  // name
  w.uint(3);  // resource
  w.uint(10);
  w.uint(11);
  w.uint(0);
  w.integer(1'795'000'000'000'000'000);
  w.integer(500);
  w.integer(0);
  w.mapHeader(tags ? 1 : 0);
  if (tags) {
    w.uint(4);
    w.uint(5);
  }
  w.mapHeader(tags ? 1 : 0);
  if (tags) {
    w.uint(6);
    w.float64(1);
  }
  if (type) {
    body.append(*type);
  }
  return body;
}

std::string v05Body(const std::vector<std::string>& dict, uint64_t service_index,
                    int elements = 12) {
  std::string service;
  MsgpackWriter(service).uint(service_index);
  return v05BodyWithRawIndices(
      dict, service, elements == 12 ? std::optional<std::string_view>("\x07") : std::nullopt, true);
}

TEST(TraceDecoderTest, V05StringTable) {
  const std::vector<std::string> dict = {
      "", "svc", "op", "res", "env", "prod", "_sampling_priority_v1", "web"};
  std::string error;
  auto dp = decode(TraceApiVersion::kV05, "application/msgpack", v05Body(dict, 1), &error);
  ASSERT_TRUE(dp) << error;
  const Span& s = dp->payload.chunks.at(0).spans.at(0);
  EXPECT_EQ(s.service, "svc");
  EXPECT_EQ(s.name, "op");
  EXPECT_EQ(s.resource, "res");
  EXPECT_EQ(s.type, "web");
  EXPECT_EQ(s.trace_id, 10u);
  EXPECT_EQ(s.span_id, 11u);
  EXPECT_EQ(*s.findMeta("env"), "prod");
  EXPECT_EQ(*s.findMetric("_sampling_priority_v1"), 1);

  EXPECT_FALSE(decode(TraceApiVersion::kV05, "application/msgpack", v05Body(dict, 99), &error));
  EXPECT_NE(error.find("outside the dictionary"), std::string::npos) << error;
  EXPECT_FALSE(decode(TraceApiVersion::kV05, "application/msgpack", v05Body(dict, 1, 11), &error));
  EXPECT_NE(error.find("exactly 12"), std::string::npos) << error;
}

TEST(TraceDecoderTest, V05IndicesInEveryIntegerEncoding) {
  std::vector<std::string> dict = {""};
  for (int i = 1; i < 300; ++i) {
    dict.push_back(std::to_string(i).insert(0, 1, 's'));
  }
  using namespace std::string_literals;
  const std::pair<std::string, std::string> good[] = {
      {"\x05"s, "s5"},                                  // positive fixint
      {"\xcc\xc8"s, "s200"},                            // uint8
      {"\xcd\x01\x2b"s, "s299"},                        // uint16
      {"\xce\x00\x00\x00\x07"s, "s7"},                  // uint32
      {"\xcf\x00\x00\x00\x00\x00\x00\x00\x08"s, "s8"},  // uint64
      {"\xd0\x09"s, "s9"},                              // int8
  };
  for (const auto& [bytes, want] : good) {
    std::string error;
    // The type's index last in the body: fewer bytes left than the inline path loads.
    for (const std::string& type : {"\x07"s, "\xcc\x07"s, "\xcd\x00\x07"s}) {
      auto dp = decode(TraceApiVersion::kV05, "application/msgpack",
                       v05BodyWithRawIndices(dict, bytes, type), &error);
      ASSERT_TRUE(dp) << error;
      EXPECT_EQ(dp->payload.chunks.at(0).spans.at(0).service, want);
      EXPECT_EQ(dp->payload.chunks.at(0).spans.at(0).type, "s7");
    }
  }
  const std::pair<std::string, std::string> bad[] = {
      {"\xcd\x01\x2c"s, "string index 300 at byte"},  // uint16, one past the end
      {"\xce\x00\x01\x00\x00"s, "string index 65536 at byte"},
      {"\xc0"s, "nil at byte"},
      {"\xa1x"s, "expected"},  // a string where an index belongs
  };
  for (const auto& [bytes, want] : bad) {
    std::string error;
    EXPECT_FALSE(decode(TraceApiVersion::kV05, "application/msgpack",
                        v05BodyWithRawIndices(dict, bytes, "\x07"), &error));
    EXPECT_NE(error.find(want), std::string::npos) << error;
  }
  std::string error;
  EXPECT_FALSE(decode(TraceApiVersion::kV05, "application/msgpack",
                      v05BodyWithRawIndices(dict, "\x01", "\xcd\x01\x2c"), &error));
  EXPECT_NE(error.find("string index 300 at byte"), std::string::npos) << error;
}

TEST(TraceDecoderTest, V07TracerPayload) {
  std::string body;
  MsgpackWriter w(body);
  w.mapHeader(6);
  w.str("language_name");
  w.str("go");
  w.str("tracer_version");
  w.str("1.60");
  w.str("env");
  w.str("staging");
  w.str("tags");
  w.mapHeader(1);
  w.str("t");
  w.str("v");
  w.str("chunks");
  w.arrayHeader(1);
  w.mapHeader(4);
  w.str("priority");
  w.integer(-1);
  w.str("origin");
  w.str("synthetics");
  w.str("dropped_trace");
  w.boolean(true);
  w.str("spans");
  w.arrayHeader(1);
  writeFullSpan(w);
  w.str("app_version");
  w.str("2.0");
  std::string error;
  auto dp = decode(TraceApiVersion::kV07, "application/msgpack", body, &error);
  ASSERT_TRUE(dp) << error;
  const TracerPayload& p = dp->payload;
  EXPECT_EQ(p.language_name, "go");
  EXPECT_EQ(p.tracer_version, "1.60");
  EXPECT_EQ(p.env, "staging");
  EXPECT_EQ(p.app_version, "2.0");
  ASSERT_EQ(p.chunks.size(), 1u);
  EXPECT_EQ(p.chunks[0].priority, -1);
  EXPECT_EQ(p.chunks[0].origin, "synthetics");
  EXPECT_TRUE(p.chunks[0].dropped_trace);
  EXPECT_EQ(p.chunks[0].spans.at(0).service, "svc");
}

TEST(TraceDecoderTest, JsonKeepsSixtyFourBitIdsExact) {
  const std::string body =
      R"([[{"trace_id":18446744073709551615,"span_id":9007199254740993,"parent_id":null,)"
      R"("name":"op","service":"s\u00e9rvice","resource":"r \"q\"","start":1795000000000000000,)"
      R"("duration":10,"error":0,"meta":{"a":"b"},"metrics":{"m":1.5,"skip":"x"}}]])";
  std::string error;
  for (std::string_view type : {"application/json", "text/json", "", "application/x-other"}) {
    auto dp = decode(TraceApiVersion::kV03, type, body, &error);
    ASSERT_TRUE(dp) << type << ": " << error;
    const Span& s = dp->payload.chunks.at(0).spans.at(0);
    EXPECT_EQ(s.trace_id, std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(s.span_id, 9007199254740993ULL);  // 2^53 + 1
    EXPECT_EQ(s.service, "s\xc3\xa9rvice");
    EXPECT_EQ(s.resource, "r \"q\"");
    EXPECT_EQ(*s.findMeta("a"), "b");
    EXPECT_EQ(*s.findMetric("m"), 1.5);
    EXPECT_EQ(s.findMetric("skip"), nullptr);
  }
}

TEST(TraceDecoderTest, MalformedBodiesAreErrorsWithReasons) {
  struct Case {
    TraceApiVersion version;
    std::string type;
    std::string body;
  };
  std::string huge_array("\xdd\x00\x10\x00\x00", 5);  // claims 1 M traces in 5 bytes
  std::string deep;
  for (int i = 0; i < 1000; ++i) {
    deep += '\x91';
  }
  std::string wrong_span;
  MsgpackWriter w(wrong_span);
  w.arrayHeader(1);
  w.arrayHeader(1);
  w.mapHeader(1);
  w.str("trace_id");
  w.str("not a number");
  const Case cases[] = {
      {TraceApiVersion::kV04, "application/msgpack", ""},
      {TraceApiVersion::kV04, "application/msgpack", "\x92\x91"},       // truncated
      {TraceApiVersion::kV04, "application/msgpack", "\x81\xa1k\x01"},  // not an array
      {TraceApiVersion::kV04, "application/msgpack", huge_array},
      {TraceApiVersion::kV04, "application/msgpack", deep},
      {TraceApiVersion::kV04, "application/msgpack", wrong_span},
      {TraceApiVersion::kV04, "application/msgpack", "\x90\x90"},  // trailing bytes
      {TraceApiVersion::kV04, "application/json", "[[{\"trace_id\": \"x\"}]]"},
      {TraceApiVersion::kV04, "application/json", "[[{"},
      {TraceApiVersion::kV04, "application/json", "{}"},
      {TraceApiVersion::kV05, "application/msgpack", "\x93\x90\x90\x90"},
      {TraceApiVersion::kV05, "application/msgpack", "\x92\x91\xc0\x90"},  // nil in dictionary
      {TraceApiVersion::kV07, "application/msgpack", "\x90"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(decode(c.version, c.type, c.body, &error)) << c.type << " " << c.body.size();
    EXPECT_FALSE(error.empty());
  }
}

TEST(TraceDecoderTest, Utf8Repair) {
  EXPECT_TRUE(validUtf8("plain ascii text that is long enough for the word loop"));
  EXPECT_TRUE(validUtf8("caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(validUtf8("\xc3"));              // truncated
  EXPECT_FALSE(validUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(validUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(validUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(repairUtf8("a\xffz\xc3"), "a\xef\xbf\xbdz\xef\xbf\xbd");
}

TEST(TraceDecoderTest, ManySpansAreLinear) {
  std::string body;
  MsgpackWriter w(body);
  w.arrayHeader(1000);
  for (int t = 0; t < 1000; ++t) {
    w.arrayHeader(100);
    for (int s = 0; s < 100; ++s) {
      w.mapHeader(3);
      w.str("trace_id");
      w.uint(static_cast<uint64_t>(t + 1));
      w.str("span_id");
      w.uint(static_cast<uint64_t>(s + 1));
      w.str("meta");
      w.mapHeader(1);
      w.str("k");
      w.str("v");
    }
  }
  std::string error;
  auto dp = decode(TraceApiVersion::kV04, "application/msgpack", body, &error);
  ASSERT_TRUE(dp) << error;
  size_t spans = 0;
  for (const auto& c : dp->payload.chunks) {
    spans += c.spans.size();
  }
  EXPECT_EQ(spans, 100'000u);
}

}  // namespace
}  // namespace outpost::traces
