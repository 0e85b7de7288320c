// The metrics-intake encoders: each payload is decoded and validated by the fake intake
// (tests/fakeintake/payload.h) and parsed back with the generated protobuf classes.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <limits>
#include <string>
#include <vector>

#include "forwarder/compression.h"
#include "forwarder/encoders/event_encoder.h"
#include "forwarder/encoders/json_writer.h"
#include "forwarder/encoders/series_encoder.h"
#include "forwarder/encoders/service_check_encoder.h"
#include "forwarder/encoders/sketch_encoder.h"
#include "proto/metrics_payload.pb.h"
#include "tests/fakeintake/payload.h"

namespace outpost {
namespace {

using datadog::agentpayload::MetricPayload;
using datadog::agentpayload::SketchPayload;
using nlohmann::json;

// Decodes `p` as the fake intake does and expects it valid; returns the decoded JSON.
json decodeValid(const Payload& p) {
  const fakeintake::Route* route = fakeintake::findRoute(p.route);
  EXPECT_NE(route, nullptr) << p.route;
  if (route == nullptr) {
    return nullptr;
  }
  EXPECT_EQ(p.content_type, route->content_type);
  fakeintake::Decoded d = fakeintake::decodeBody(*route, p.content_type, p.body);
  std::string errors;
  for (const auto& e : d.errors) {
    errors += e + "\n";
  }
  EXPECT_TRUE(d.errors.empty()) << errors;
  EXPECT_FALSE(d.json.is_null());
  if (route->max_decompressed != 0) {
    EXPECT_LE(p.body.size(), route->max_decompressed);
  }
  return d.json;
}

std::string header(const Payload& p, std::string_view name) {
  for (const auto& [k, v] : p.headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

Serie gauge(std::string name, size_t points = 1) {
  Serie s;
  s.name = std::move(name);
  s.tags = {"env:prod", "team:a"};
  s.host = "web-1";
  s.type = SeriesType::kGauge;
  s.interval = 10;
  for (size_t i = 0; i < points; ++i) {
    s.points.emplace_back(1700000000 + static_cast<int64_t>(i) * 10, 1.5 + static_cast<double>(i));
  }
  s.origin = {10, 10, 0};
  return s;
}

// ----------------------------------------------------------------------------------------------
// JSON writer

TEST(JsonWriter, EscapesControlCharactersQuotesAndBackslashes) {
  EXPECT_EQ(jsonString("plain"), R"("plain")");
  EXPECT_EQ(jsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(jsonString("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(jsonString(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(jsonString("/"), R"("/")");
}

TEST(JsonWriter, KeepsValidUtf8AndReplacesInvalid) {
  EXPECT_EQ(jsonString("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  const std::string fffd = "\xEF\xBF\xBD";
  struct Case {
    std::string in;
    std::string out;
  };
  std::vector<Case> cases = {
      {"\xFF", fffd},                                   // never valid
      {"a\x80z", "a" + fffd + "z"},                     // stray continuation
      {"\xC0\xAF", fffd + fffd},                        // overlong '/'
      {"\xE0\x80\xAF", fffd + fffd + fffd},             // overlong, 3 bytes
      {"\xED\xA0\x80", fffd + fffd + fffd},             // surrogate U+D800
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // past U+10FFFF
      {"\xE2\x82", fffd},                               // truncated at the end
      {"\xE2\x82z", fffd + "z"},                        // truncated in the middle
      {"\xF0\x9F\x98", fffd},                           // truncated 4-byte sequence
      {"\xC3", fffd},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(toValidUtf8(c.in), c.out) << json(c.out).dump();
    EXPECT_FALSE(isValidUtf8(c.in));
    EXPECT_EQ(jsonString(c.in), "\"" + c.out + "\"");
    // What the writer produces always parses.
    EXPECT_EQ(json::parse(jsonString(c.in)).get<std::string>(), c.out);
  }
  EXPECT_TRUE(isValidUtf8("h\xC3\xA9llo \xF4\x8F\xBF\xBF"));
}

// The writer looks at 32, 16 and 8 bytes at a time: a character that needs care is found at
// every position of a long plain string, alone and in pairs, with the same output as one at a
// time.
TEST(JsonWriter, FindsWhatNeedsCareAtEveryPosition) {
  const std::string fffd = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\"", R"(\")"},     {"\\", R"(\\)"},   {"\n", R"(\n)"}, {"\x01", "\\u0001"},
      {"\x1f", "\\u001f"}, {"\x7f", "\x7f"},  {" ", " "},      {"\xC3\xA9", "\xC3\xA9"},
      {"\xFF", fffd},      {"\xE2\x82", fffd}};
  for (size_t len : {1u, 15u, 16u, 17u, 31u, 32u, 33u, 47u, 48u, 63u, 64u, 65u, 97u}) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (const auto& [raw, escaped] : specials) {
        std::string in(len, 'a');
        in.replace(pos, 1, raw);
        std::string want = std::string(pos, 'a') + escaped + std::string(len - pos - 1, 'a');
        ASSERT_EQ(jsonString(in), "\"" + want + "\"") << len << " " << pos << " " << json(raw);
        // And a second one further on.
        in += std::string(20, 'b') + raw;
        want += std::string(20, 'b') + escaped;
        ASSERT_EQ(jsonString(in), "\"" + want + "\"") << len << " " << pos;
      }
    }
  }
}

TEST(JsonWriter, WritesNestedValuesWithCommas) {
  JsonWriter w;
  w.beginObject();
  w.key("a").integer(-3);
  w.key("b").beginArray().string("x").null().boolean(true).number(0.5).endArray();
  w.key("c").beginObject().endObject();
  w.key("d").number(std::numeric_limits<double>::infinity());
  w.key("e").uinteger(18446744073709551615ull);
  w.key("f").stringArray({});
  w.key("g").raw(R"({"r":1})");
  w.endObject();
  EXPECT_EQ(w.str(), R"({"a":-3,"b":["x",null,true,0.5],"c":{},"d":null,"e":18446744073709551615,)"
                     R"("f":[],"g":{"r":1}})");
  json j = json::parse(w.take());
  EXPECT_EQ(j["g"]["r"], 1);
  EXPECT_TRUE(w.str().empty());
}

TEST(JsonWriter, OddStringsRoundTrip) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  JsonWriter w;
  w.beginArray().string(all).string("").string("\"\\\"").endArray();
  json j = json::parse(w.str());
  ASSERT_EQ(j.size(), 3u);
  std::string back = j[0].get<std::string>();
  EXPECT_EQ(back.substr(0, 128), all.substr(0, 128));  // ASCII survives exactly
  EXPECT_EQ(j[2], "\"\\\"");
}

// ----------------------------------------------------------------------------------------------
// Series

TEST(SeriesEncoder, EncodesWhatTheIntakeExpects) {
  std::vector<Serie> series;
  series.push_back(gauge("app.latency", 2));
  Serie rate = gauge("app.requests");
  rate.type = SeriesType::kRate;
  rate.host = "";  // host-less
  rate.device = "sda1";
  rate.source_type_name = "System";
  rate.no_index = true;
  series.push_back(rate);
  Serie count = gauge("app.count");
  count.type = SeriesType::kCount;
  count.interval = 0;
  count.origin = {};
  count.tags = {};
  series.push_back(count);

  EncodeResult r = SeriesEncoder().encode(series);
  ASSERT_EQ(r.payloads.size(), 1u);
  EXPECT_EQ(r.dropped_too_large, 0u);
  const Payload& p = r.payloads[0];
  EXPECT_EQ(p.route, "/api/v2/series");
  EXPECT_EQ(p.content_type, "application/x-protobuf");
  EXPECT_EQ(header(p, "DD-Agent-Payload"), kAgentPayloadVersion);
  EXPECT_EQ(p.intake, IntakeKind::kMetrics);
  EXPECT_TRUE(p.spoolable);

  json j = decodeValid(p);
  ASSERT_EQ(j["series"].size(), 3u);
  const json& s0 = j["series"][0];
  EXPECT_EQ(s0["metric"], "app.latency");
  EXPECT_EQ(s0["type"], "GAUGE");
  EXPECT_EQ(s0["interval"], "10");
  EXPECT_EQ(s0["tags"], json({"env:prod", "team:a"}));
  EXPECT_EQ(s0["resources"], json::parse(R"([{"type":"host","name":"web-1"}])"));
  ASSERT_EQ(s0["points"].size(), 2u);
  EXPECT_EQ(s0["points"][1]["timestamp"], "1700000010");
  EXPECT_EQ(s0["points"][1]["value"], 2.5);
  EXPECT_EQ(s0["metadata"]["origin"]["origin_product"], 10);
  EXPECT_EQ(s0["metadata"]["origin"]["origin_category"], 10);
  EXPECT_FALSE(s0["metadata"]["origin"].contains("_unknown_fields"));

  const json& s1 = j["series"][1];
  EXPECT_EQ(s1["type"], "RATE");
  EXPECT_EQ(s1["source_type_name"], "System");
  EXPECT_EQ(s1["resources"],
            json::parse(R"([{"type":"host","name":""},{"type":"device","name":"sda1"}])"));
  EXPECT_EQ(s1["metadata"]["origin"]["_unknown_fields"]["3"], json({9}));

  EXPECT_EQ(j["series"][2]["type"], "COUNT");
  EXPECT_EQ(j["series"][2]["tags"], json::array());

  // And with the generated classes.
  MetricPayload m;
  ASSERT_TRUE(m.ParseFromString(p.body));
  ASSERT_EQ(m.series_size(), 3);
  EXPECT_EQ(m.series(1).metric(), "app.requests");
  EXPECT_EQ(m.series(1).interval(), 10);
  EXPECT_EQ(m.series(1).points(0).timestamp(), 1700000000);
  EXPECT_EQ(m.series(1).points(0).value(), 1.5);
  const auto& unknown = m.series(1).metadata().origin().GetReflection()->GetUnknownFields(
      m.series(1).metadata().origin());
  ASSERT_EQ(unknown.field_count(), 1);
  EXPECT_EQ(unknown.field(0).number(), 3);
  EXPECT_EQ(unknown.field(0).varint(), 9u);
  EXPECT_FALSE(m.series(2).has_metadata());
}

TEST(SeriesEncoder, SplitsAtThePointsLimit) {
  std::vector<Serie> series;
  for (int i = 0; i < 25; ++i) {
    series.push_back(gauge(fmt::format("m{}", i), 1000));  // 25,000 points
  }
  EncodeResult r = SeriesEncoder().encode(series);
  ASSERT_EQ(r.payloads.size(), 3u);  // 10 + 10 + 5 series
  int total = 0;
  for (const Payload& p : r.payloads) {
    MetricPayload m;
    ASSERT_TRUE(m.ParseFromString(p.body));
    size_t points = 0;
    for (const auto& s : m.series()) {
      points += static_cast<size_t>(s.points_size());
      EXPECT_EQ(s.metric(), fmt::format("m{}", total));
      ++total;
    }
    EXPECT_LE(points, kSeriesMaxPointsPerPayload);
    decodeValid(p);
  }
  EXPECT_EQ(total, 25);
  EXPECT_EQ(MetricPayload().ParseFromString(r.payloads[2].body), true);
}

TEST(SeriesEncoder, ExactlyTheLimitFitsInOnePayload) {
  std::vector<Serie> series = {gauge("a", 4000), gauge("b", 6000), gauge("c", 1)};
  EncodeResult r = SeriesEncoder().encode(series);
  ASSERT_EQ(r.payloads.size(), 2u);
  MetricPayload m;
  ASSERT_TRUE(m.ParseFromString(r.payloads[0].body));
  EXPECT_EQ(m.series_size(), 2);
}

TEST(SeriesEncoder, SplitsAtTheByteLimit) {
  std::vector<Serie> series;
  for (int i = 0; i < 100; ++i) {
    Serie s = gauge("bytes." + std::to_string(i));
    s.tags.push_back("pad:" + std::string(1000, 'x'));
    series.push_back(s);
  }
  SeriesEncoder::Options o;
  o.max_uncompressed_bytes = 10'000;
  EncodeResult r = SeriesEncoder(o).encode(series);
  EXPECT_GT(r.payloads.size(), 10u);
  int total = 0;
  for (const Payload& p : r.payloads) {
    EXPECT_LE(p.body.size(), 10'000u);
    total += static_cast<int>(decodeValid(p)["series"].size());
  }
  EXPECT_EQ(total, 100);
}

TEST(SeriesEncoder, DropsAndCountsSeriesOverTheLimitsOnTheirOwn) {
  Serie huge_tags = gauge("too.big.bytes");
  huge_tags.tags.push_back("pad:" + std::string(5000, 'y'));
  std::vector<Serie> series = {gauge("ok.1"), gauge("too.many.points", 10'001), huge_tags,
                               gauge("ok.2"), gauge("empty", 0)};
  SeriesEncoder::Options o;
  o.max_uncompressed_bytes = 4096;
  EncodeResult r = SeriesEncoder(o).encode(series);
  EXPECT_EQ(r.dropped_too_large, 2u);
  EXPECT_EQ(r.dropped_empty, 1u);
  ASSERT_EQ(r.payloads.size(), 1u);
  json j = decodeValid(r.payloads[0]);
  ASSERT_EQ(j["series"].size(), 2u);
  EXPECT_EQ(j["series"][0]["metric"], "ok.1");
  EXPECT_EQ(j["series"][1]["metric"], "ok.2");

  EXPECT_TRUE(SeriesEncoder().encode(std::vector<Serie>{}).payloads.empty());
}

TEST(SeriesEncoder, SplitFunctionHalvesUntilSingleItems) {
  std::vector<Serie> series;
  for (int i = 0; i < 5; ++i) {
    series.push_back(gauge("s" + std::to_string(i), 3));
  }
  EncodeResult r = SeriesEncoder().encode(series);
  ASSERT_EQ(r.payloads.size(), 1u);
  ASSERT_TRUE(r.payloads[0].split);
  std::vector<Payload> halves = r.payloads[0].split();
  ASSERT_EQ(halves.size(), 2u);
  std::vector<std::string> names;
  for (const Payload& h : halves) {
    EXPECT_EQ(h.route, "/api/v2/series");
    EXPECT_EQ(header(h, "DD-Agent-Payload"), kAgentPayloadVersion);
    json j = decodeValid(h);
    for (const auto& s : j["series"]) {
      names.push_back(s["metric"]);
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
  // Halves split again, down to single series that cannot.
  std::vector<Payload> quarter = halves[0].split();  // s0, s1
  ASSERT_EQ(quarter.size(), 2u);
  EXPECT_EQ(decodeValid(quarter[1])["series"][0]["metric"], "s1");
  EXPECT_TRUE(quarter[0].split().empty());
  // The original payload may be gone by the time its halves are split.
  r.payloads.clear();
  EXPECT_EQ(halves[1].split().size(), 2u);
}

TEST(SeriesEncoder, InvalidUtf8BecomesReplacementCharacters) {
  Serie s = gauge("bad\xFFname");
  s.tags = {"k:\xC3"};
  EncodeResult r = SeriesEncoder().encode(std::vector<Serie>{s});
  ASSERT_EQ(r.payloads.size(), 1u);
  json j = decodeValid(r.payloads[0]);
  EXPECT_EQ(j["series"][0]["metric"], "bad\xEF\xBF\xBDname");
  EXPECT_EQ(j["series"][0]["tags"][0], "k:\xEF\xBF\xBD");
}

TEST(SeriesEncoder, DefaultCapCompressesWellUnderTheIntakeLimit) {
  // Realistic container series (8 tags, one a 64-hex-digit container id that barely
  // compresses), one point each so that the 1.5 MiB byte cap, not the points cap, closes the
  // payloads: zstd -1 (the forwarder's default) must land under 512,000 bytes.
  std::vector<Serie> series;
  uint64_t x = 88172645463325252ull;  // xorshift64: container ids look random
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 15'000; ++i) {
    Serie s = gauge(fmt::format("service.module{}.metric_{}", i % 37, i % 501));
    s.tags = {
        fmt::format("container_id:{:016x}{:016x}{:016x}{:016x}", next(), next(), next(), next()),
        fmt::format("container_name:web-{}", i % 97),
        fmt::format("env:{}", i % 3 ? "prod" : "staging"),
        fmt::format("image_tag:1.{}.{}", i % 13, i % 7),
        fmt::format("kube_deployment:web-{}", i % 11),
        fmt::format("kube_namespace:ns-{}", i % 5),
        fmt::format("pod_name:web-{:08x}", static_cast<unsigned>(next())),
        "service:web"};
    s.points = {{1700000000 + i % 10, static_cast<double>(next() % 100000) * 0.37}};
    series.push_back(std::move(s));
  }
  EncodeResult r = SeriesEncoder().encode(series);
  ASSERT_GE(r.payloads.size(), 2u);
  for (const Payload& p : r.payloads) {
    EXPECT_LE(p.body.size(), kSeriesMaxUncompressedBytes);
    std::string compressed;
    std::string error;
    ASSERT_TRUE(compress(Encoding::kZstd, 1, p.body, compressed, &error)) << error;
    EXPECT_LT(compressed.size(), 512'000u);
  }
}

// ----------------------------------------------------------------------------------------------
// Sketches

SketchSerie sketch(std::string name) {
  SketchSerie s;
  s.name = std::move(name);
  s.host = "web-1";
  s.tags = {"env:prod"};
  SketchSerie::Point p;
  p.ts = 1700000000;
  p.cnt = 6;
  p.min = -2;
  p.max = 40;
  p.sum = 60;
  p.avg = 10;
  p.k = {-1300, 0, 1338, 1338};
  p.n = {1, 1, 65535, 3};
  s.points.push_back(p);
  p.ts += 10;
  p.k = {5};
  p.n = {2};
  s.points.push_back(p);
  return s;
}

TEST(SketchEncoder, EncodesWhatTheIntakeExpects) {
  EncodeResult r = SketchEncoder().encode(std::vector<SketchSerie>{sketch("lat"), sketch("b")});
  ASSERT_EQ(r.payloads.size(), 1u);
  const Payload& p = r.payloads[0];
  EXPECT_EQ(p.route, "/api/beta/sketches");
  EXPECT_EQ(p.content_type, "application/x-protobuf");
  EXPECT_EQ(header(p, "DD-Agent-Payload"), kAgentPayloadVersion);
  json j = decodeValid(p);
  ASSERT_EQ(j["sketches"].size(), 2u);
  EXPECT_EQ(j["sketches"][0]["metric"], "lat");
  EXPECT_EQ(j["sketches"][0]["host"], "web-1");
  EXPECT_EQ(j["sketches"][0]["tags"], json({"env:prod"}));

  SketchPayload m;
  ASSERT_TRUE(m.ParseFromString(p.body));
  ASSERT_EQ(m.sketches_size(), 2);
  const auto& d = m.sketches(0).dogsketches(0);
  EXPECT_EQ(m.sketches(0).dogsketches_size(), 2);
  EXPECT_EQ(d.ts(), 1700000000);
  EXPECT_EQ(d.cnt(), 6);
  EXPECT_EQ(d.min(), -2);
  EXPECT_EQ(d.max(), 40);
  EXPECT_EQ(d.sum(), 60);
  EXPECT_EQ(d.avg(), 10);
  EXPECT_EQ(std::vector<int32_t>(d.k().begin(), d.k().end()),
            (std::vector<int32_t>{-1300, 0, 1338, 1338}));
  EXPECT_EQ(std::vector<uint32_t>(d.n().begin(), d.n().end()),
            (std::vector<uint32_t>{1, 1, 65535, 3}));
  EXPECT_EQ(m.sketches(1).metric(), "b");
  EXPECT_FALSE(m.has_metadata());
}

TEST(SketchEncoder, SplitsByBytesSplitsOn413AndDropsOversized) {
  std::vector<SketchSerie> sketches;
  for (int i = 0; i < 40; ++i) {
    sketches.push_back(sketch(fmt::format("s{}", i)));
  }
  SketchSerie empty = sketch("empty");
  empty.points.clear();
  sketches.push_back(empty);
  SketchSerie huge = sketch("huge");
  huge.tags.push_back(std::string(3000, 'z'));
  sketches.push_back(huge);

  SketchEncoder::Options o;
  o.max_uncompressed_bytes = 1000;
  EncodeResult r = SketchEncoder(o).encode(sketches);
  EXPECT_EQ(r.dropped_too_large, 1u);
  EXPECT_EQ(r.dropped_empty, 1u);
  ASSERT_GT(r.payloads.size(), 1u);
  int total = 0;
  for (const Payload& p : r.payloads) {
    EXPECT_LE(p.body.size(), 1000u);
    total += static_cast<int>(decodeValid(p)["sketches"].size());
  }
  EXPECT_EQ(total, 40);

  std::vector<Payload> halves = r.payloads[0].split();
  ASSERT_EQ(halves.size(), 2u);
  SketchPayload a;
  SketchPayload b;
  SketchPayload whole;
  ASSERT_TRUE(a.ParseFromString(halves[0].body));
  ASSERT_TRUE(b.ParseFromString(halves[1].body));
  ASSERT_TRUE(whole.ParseFromString(r.payloads[0].body));
  EXPECT_EQ(a.sketches_size() + b.sketches_size(), whole.sketches_size());
  EXPECT_EQ(a.sketches(0).metric(), "s0");
}

// ----------------------------------------------------------------------------------------------
// Service checks

TEST(ServiceCheckEncoder, EncodesTheCheckRunArray) {
  ServiceCheckRun ok{"app.can_connect", "web-1", 1700000000, 0, "", {"port:80", "env:prod"}};
  ServiceCheckRun odd{"odd", "", 1700000001, 2, "line1\nline2 \"quoted\" \\ \x01 \xFF tab\t", {}};
  EncodeResult r = ServiceCheckEncoder().encode(std::vector<ServiceCheckRun>{ok, odd});
  ASSERT_EQ(r.payloads.size(), 1u);
  const Payload& p = r.payloads[0];
  EXPECT_EQ(p.route, "/api/v1/check_run");
  EXPECT_EQ(p.content_type, "application/json");
  EXPECT_TRUE(p.headers.empty());
  json j = decodeValid(p);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0], json::parse(R"({"check":"app.can_connect","host_name":"web-1",
      "timestamp":1700000000,"status":0,"message":"","tags":["port:80","env:prod"]})"));
  EXPECT_EQ(j[1]["message"], "line1\nline2 \"quoted\" \\ \x01 \xEF\xBF\xBD tab\t");
  EXPECT_TRUE(j[1]["tags"].is_null());
  EXPECT_EQ(j[1]["status"], 2);
  EXPECT_EQ(j[1]["host_name"], "");
  EXPECT_NE(p.body.find(R"(\u0001)"), std::string::npos);
  EXPECT_EQ(p.body.front(), '[');
}

TEST(ServiceCheckEncoder, SplitsWithinTheByteLimitAndOn413) {
  std::vector<ServiceCheckRun> checks;
  for (int i = 0; i < 50; ++i) {
    checks.push_back({"check." + std::to_string(i), "h", 1700000000, i % 4, "m", {"a:b"}});
  }
  checks.push_back({"huge", "h", 1, 0, std::string(600, 'x'), {}});
  ServiceCheckEncoder::Options o;
  o.max_uncompressed_bytes = 500;
  EncodeResult r = ServiceCheckEncoder(o).encode(checks);
  EXPECT_EQ(r.dropped_too_large, 1u);
  size_t total = 0;
  for (const Payload& p : r.payloads) {
    EXPECT_LE(p.body.size(), 500u);
    total += decodeValid(p).size();
  }
  EXPECT_EQ(total, 50u);
  std::vector<Payload> halves = r.payloads[0].split();
  ASSERT_EQ(halves.size(), 2u);
  EXPECT_EQ(decodeValid(halves[0]).size() + decodeValid(halves[1]).size(),
            decodeValid(r.payloads[0]).size());

  EncodeResult one = ServiceCheckEncoder().encode(std::vector<ServiceCheckRun>{checks[0]});
  ASSERT_EQ(one.payloads.size(), 1u);
  EXPECT_TRUE(one.payloads[0].split().empty());
}

// ----------------------------------------------------------------------------------------------
// Events

TEST(EventEncoder, GroupsEventsBySourceTypeName) {
  EventRecord deploy;
  deploy.title = "Deploy \"v2\"";
  deploy.text = "%%% \n**done**\n %%%";
  deploy.timestamp = 1700000000;
  deploy.host = "web-1";
  deploy.tags = {"env:prod"};
  deploy.aggregation_key = "deploys";
  deploy.alert_type = "success";
  EventRecord nagios = deploy;
  nagios.title = "Host down";
  nagios.source_type_name = "nagios";
  nagios.priority = "low";
  nagios.tags = {};
  nagios.aggregation_key = "";
  nagios.alert_type = "";
  EventRecord deploy2 = deploy;
  deploy2.title = "Deploy 3";

  EventEncoder encoder({"agent-host", kEventMaxUncompressedBytes});
  EncodeResult r = encoder.encode(std::vector<EventRecord>{deploy, nagios, deploy2});
  ASSERT_EQ(r.payloads.size(), 1u);
  const Payload& p = r.payloads[0];
  EXPECT_EQ(p.route, "/intake/");
  EXPECT_EQ(p.content_type, "application/json");
  json j = decodeValid(p);
  EXPECT_EQ(j["apiKey"], "");
  EXPECT_EQ(j["internalHostname"], "agent-host");
  ASSERT_EQ(j["events"].size(), 2u);
  ASSERT_EQ(j["events"]["api"].size(), 2u);
  EXPECT_EQ(j["events"]["api"][0], json::parse(R"({"msg_title":"Deploy \"v2\"",
      "msg_text":"%%% \n**done**\n %%%","timestamp":1700000000,"priority":"normal",
      "host":"web-1","tags":["env:prod"],"alert_type":"success","aggregation_key":"deploys"})"));
  EXPECT_EQ(j["events"]["api"][1]["msg_title"], "Deploy 3");
  EXPECT_EQ(j["events"]["nagios"][0], json::parse(R"({"msg_title":"Host down",
      "msg_text":"%%% \n**done**\n %%%","timestamp":1700000000,"priority":"low",
      "host":"web-1","source_type_name":"nagios"})"));
  // Groups keep their first appearance order.
  EXPECT_LT(p.body.find("\"api\""), p.body.find("\"nagios\""));
}

TEST(EventEncoder, SplitsWithinTheByteLimitAndOn413) {
  std::vector<EventRecord> events;
  for (int i = 0; i < 30; ++i) {
    EventRecord e;
    e.title = "event " + std::to_string(i);
    e.text = std::string(50, 't');
    e.timestamp = 1700000000 + i;
    e.host = "h";
    e.source_type_name = i % 3 == 0 ? "" : (i % 3 == 1 ? "docker" : "odd \"source\"\n");
    events.push_back(e);
  }
  EventRecord huge;
  huge.title = std::string(2000, 'h');
  events.push_back(huge);
  EventEncoder encoder({"agent-host", 800});
  EncodeResult r = encoder.encode(events);
  EXPECT_EQ(r.dropped_too_large, 1u);
  ASSERT_GT(r.payloads.size(), 2u);
  size_t total = 0;
  for (const Payload& p : r.payloads) {
    EXPECT_LE(p.body.size(), 800u);
    json j = decodeValid(p);
    EXPECT_EQ(j["internalHostname"], "agent-host");
    for (const auto& [source, list] : j["events"].items()) {
      for (const auto& e : list) {
        EXPECT_EQ(source, e.value("source_type_name", std::string("api")));
      }
      total += list.size();
    }
  }
  EXPECT_EQ(total, 30u);

  std::vector<Payload> halves = r.payloads[0].split();
  ASSERT_EQ(halves.size(), 2u);
  size_t split_total = 0;
  for (const Payload& h : halves) {
    json j = decodeValid(h);
    for (const auto& [source, list] : j["events"].items()) {
      split_total += list.size();
    }
  }
  size_t whole_total = 0;
  json whole = decodeValid(r.payloads[0]);
  for (const auto& [source, list] : whole["events"].items()) {
    whole_total += list.size();
  }
  EXPECT_EQ(split_total, whole_total);
}

}  // namespace
}  // namespace outpost
