// The fake intake's decoding, without a server: decompression, per-route decoding and checks,
// and processRequest on hand-made requests.

#include "tests/fakeintake/payload.h"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <string>

#include "proto/ddsketch.pb.h"
#include "proto/metrics_payload.pb.h"
#include "proto/trace_agent_payload.pb.h"
#include "tests/fakeintake/test_helpers.h"

namespace outpost::fakeintake {
namespace {

// Fields a schema does not declare (the NoIndex marker, Origin field 3) go in unknown fields.
void addUnknownVarint(google::protobuf::Message* m, int number, uint64_t value) {
  m->GetReflection()->MutableUnknownFields(m)->AddVarint(number, value);
}

using nlohmann::json;
using testing::deflateCompress;
using testing::gzipCompress;
using testing::zstdCompress;

constexpr size_t kMax = 1 << 20;

std::string decompressOk(std::string_view encoding, std::string_view body) {
  std::string out;
  std::string error;
  EXPECT_TRUE(decompress(encoding, body, kMax, &out, &error)) << encoding << ": " << error;
  return out;
}

std::string decompressError(std::string_view encoding, std::string_view body, size_t max = kMax) {
  std::string out;
  std::string error;
  EXPECT_FALSE(decompress(encoding, body, max, &out, &error)) << encoding;
  return error;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool anyContains(const std::vector<std::string>& errors, std::string_view needle) {
  for (const std::string& e : errors) {
    if (contains(e, needle)) {
      return true;
    }
  }
  return false;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& e : errors) {
    out += e + "\n";
  }
  return out;
}

TEST(Decompress, EveryEncodingRoundTrips) {
  std::string text;
  for (int i = 0; i < 5000; ++i) {
    text += "line " + std::to_string(i) + "\n";
  }
  EXPECT_EQ(decompressOk("", text), text);
  EXPECT_EQ(decompressOk("identity", text), text);
  EXPECT_EQ(decompressOk("zstd", zstdCompress(text)), text);
  EXPECT_EQ(decompressOk("ZSTD", zstdCompress(text)), text);  // case-insensitive
  EXPECT_EQ(decompressOk("gzip", gzipCompress(text)), text);
  EXPECT_EQ(decompressOk("deflate", deflateCompress(text)), text);
  EXPECT_EQ(decompressOk("zstd", zstdCompress("")), "");
}

TEST(Decompress, ConcatenatedZstdFramesAndGzipMembers) {
  EXPECT_EQ(decompressOk("zstd", zstdCompress("ab") + zstdCompress("cd")), "abcd");
  EXPECT_EQ(decompressOk("gzip", gzipCompress("ab") + gzipCompress("cd")), "abcd");
}

TEST(Decompress, BadBodiesAreRejected) {
  const std::string text = std::string(10000, 'x') + "tail";
  struct Case {
    std::string encoding;
    std::string body;
    std::string error;  // a part of the message
  };
  std::string z = zstdCompress(text);
  std::string g = gzipCompress(text);
  std::string d = deflateCompress(text);
  std::string flipped = z;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  const std::vector<Case> cases = {
      {"zstd", "not zstd at all", "zstd:"},
      {"zstd", z.substr(0, z.size() - 3), "truncated"},
      {"zstd", z + "junk", "zstd:"},
      {"zstd", "", "empty"},
      {"gzip", g.substr(0, g.size() / 2), "truncated"},
      {"gzip", "\x1f\x8b garbage", "gzip:"},
      {"gzip", g + "x", "gzip:"},
      {"gzip", d, "gzip:"},  // a zlib stream is not gzip
      {"deflate", d + "junk", "trailing bytes"},
      {"deflate", d.substr(0, d.size() - 2), "truncated"},
      {"deflate", g, "deflate:"},  // and gzip is not a zlib stream
      {"br", "whatever", "unsupported Content-Encoding"},
  };
  for (const Case& c : cases) {
    std::string error = decompressError(c.encoding, c.body);
    EXPECT_TRUE(contains(error, c.error)) << c.encoding << ": " << error;
  }
}

TEST(Decompress, OutputIsBounded) {
  const std::string text(100000, 'a');
  EXPECT_EQ(decompressOk("zstd", zstdCompress(text)).size(), text.size());
  for (std::string enc : {"zstd", "gzip", "deflate", "identity"}) {
    std::string body = testing::compressAs(enc, text);
    std::string out;
    std::string error;
    EXPECT_TRUE(decompress(enc, body, text.size(), &out, &error)) << enc << error;
    EXPECT_FALSE(decompress(enc, body, text.size() - 1, &out, &error)) << enc;
    EXPECT_TRUE(contains(error, "exceeds 99999 bytes")) << enc << ": " << error;
  }
}

TEST(Decompress, ZipBombStopsAtTheLimit) {
  std::string bomb = testing::zstdZeros(size_t{256} << 20);  // 256 MiB of zeros
  ASSERT_LT(bomb.size(), 64u * 1024);
  std::string error = decompressError("zstd", bomb, 8 << 20);
  EXPECT_TRUE(contains(error, "exceeds")) << error;
}

TEST(Base64, KnownVectors) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(Routes, CanonicalNames) {
  EXPECT_EQ(canonicalRoute("/intake"), "/intake/");
  EXPECT_EQ(canonicalRoute("/intake/"), "/intake/");
  EXPECT_EQ(canonicalRoute("/api/v2/series"), "/api/v2/series");
  EXPECT_EQ(canonicalRoute("/nope"), "/nope");
  EXPECT_EQ(findRoute("/nope"), nullptr);
  EXPECT_EQ(routes().size(), 12u);
}

// --- decodeBody -------------------------------------------------------------------------------

Decoded decode(std::string_view route, std::string_view content_type, std::string_view raw) {
  const Route* r = findRoute(route);
  EXPECT_NE(r, nullptr) << route;
  return decodeBody(*r, content_type, raw);
}

TEST(DecodeBody, MetricPayloadToJsonKeepsProtoNamesAndUnknownFields) {
  datadog::agentpayload::MetricPayload payload;
  auto* s = payload.add_series();
  s->set_metric("n_o_i_n_d_e_x.x");
  s->set_type(datadog::agentpayload::MetricPayload::COUNT);
  auto* p = s->add_points();
  p->set_timestamp(1700000000);
  p->set_value(0.5);
  addUnknownVarint(s->mutable_metadata()->mutable_origin(), 3, 9);
  Decoded d = decode("/api/v2/series", "application/x-protobuf", payload.SerializeAsString());
  ASSERT_TRUE(d.errors.empty()) << joined(d.errors);
  const json& series = d.json["series"][0];
  EXPECT_EQ(series["type"], "COUNT");
  EXPECT_EQ(series["points"][0]["timestamp"], "1700000000");  // proto3 JSON: int64 as string
  EXPECT_EQ(series["points"][0]["value"], 0.5);
  EXPECT_EQ(series["source_type_name"], "");  // zero values are printed
  EXPECT_EQ(series["metadata"]["origin"]["_unknown_fields"]["3"][0], 9);
}

TEST(DecodeBody, MetricPayloadChecks) {
  Decoded empty = decode("/api/v2/series", "application/x-protobuf", "");
  EXPECT_TRUE(anyContains(empty.errors, "no series")) << joined(empty.errors);

  datadog::agentpayload::MetricPayload payload;
  payload.add_series()->set_metric("no.points");
  Decoded d = decode("/api/v2/series", "application/x-protobuf", payload.SerializeAsString());
  EXPECT_TRUE(anyContains(d.errors, "series[0] (no.points): no points")) << joined(d.errors);

  Decoded garbage = decode("/api/v2/series", "application/x-protobuf", "\xff\xff\xff\xff");
  EXPECT_TRUE(anyContains(garbage.errors, "not a valid datadog.agentpayload.MetricPayload"))
      << joined(garbage.errors);
  EXPECT_TRUE(garbage.json.is_null());
}

TEST(DecodeBody, SeriesV2AlsoTakesThePublicJsonForm) {
  Decoded d =
      decode("/api/v2/series", "application/json",
             R"({"series":[{"metric":"a","type":3,"points":[{"timestamp":1,"value":2}]}]})");
  EXPECT_TRUE(d.errors.empty()) << joined(d.errors);
  EXPECT_EQ(d.json["series"][0]["metric"], "a");
}

TEST(DecodeBody, SketchChecks) {
  datadog::agentpayload::SketchPayload payload;
  auto* sketch = payload.add_sketches();
  sketch->set_metric("d");
  auto* ds = sketch->add_dogsketches();
  ds->set_cnt(3);
  ds->set_min(1);
  ds->set_max(2);
  ds->add_k(5);
  ds->add_k(-3);  // not ascending
  ds->add_n(1);
  ds->add_n(70000);  // over 65535
  ds->add_n(1);      // more counts than keys
  Decoded d = decode("/api/beta/sketches", "application/x-protobuf", payload.SerializeAsString());
  EXPECT_TRUE(anyContains(d.errors, "2 keys (k) but 3 counts (n)")) << joined(d.errors);
  EXPECT_TRUE(anyContains(d.errors, "not ascending")) << joined(d.errors);
  EXPECT_TRUE(anyContains(d.errors, "exceeds 65535")) << joined(d.errors);
  EXPECT_EQ(d.json["sketches"][0]["dogsketches"][0]["k"][1], -3);
}

TEST(DecodeBody, JsonRoutesTable) {
  struct Case {
    std::string route;
    std::string body;
    std::string error;  // empty: valid
  };
  const std::vector<Case> cases = {
      {"/api/v1/series", R"({"series":[{"metric":"a","points":[[1,2.5]],"type":"gauge"}]})", ""},
      {"/api/v1/series", R"({"series":[{"metric":"a","points":[[1]]}]})", "expected [timestamp"},
      {"/api/v1/series", R"({"series":[{"points":[]}]})", "\"metric\" must be"},
      {"/api/v1/series", R"([])", "\"series\" array"},
      {"/api/v1/check_run", R"([{"check":"c","status":0,"host_name":"h","tags":null}])", ""},
      {"/api/v1/check_run", R"([{"check":"c","status":4}])", "integer 0-3"},
      {"/api/v1/check_run", R"({"check":"c"})", "JSON array of service checks"},
      {"/intake/", R"({"apiKey":"","events":{"api":[{"msg_title":"t"}]},"internalHostname":"h"})",
       ""},
      {"/intake/",
       R"({"internalHostname":"h","os":"linux","apiKey":"k","agentVersion":"7.60.0","uuid":"u",)"
       R"("systemStats":{"cpuCores":2},"meta":{"hostname":"h","host_aliases":[]},)"
       R"("host-tags":{"system":["a:b"]},"gohai":"{\"cpu\":{}}"})",
       ""},
      {"/intake/", R"({"internalHostname":"h","os":"linux"})", "\"apiKey\" must be a string"},
      {"/intake/",
       R"({"internalHostname":"h","os":"linux","apiKey":"k","agentVersion":"7.60.0","uuid":"u",)"
       R"("systemStats":{"cpuCores":2},"meta":{"hostname":"h"},"host-tags":{"system":[1]}})",
       "host-tags.system holds a non-string"},
      {"/intake/",
       R"({"internalHostname":"h","os":"linux","apiKey":"k","agentVersion":"7.60.0","uuid":"u",)"
       R"("systemStats":{"cpuCores":2},"meta":{"hostname":"h"},"host-tags":{"system":[]},)"
       R"("gohai":{}})",
       "gohai must be a string of JSON"},
      {"/intake/", R"({"events":{"api":{}}})", "expected an array"},
      {"/intake/", R"({"other":1})", "neither events"},
      {"/api/v1/metadata", R"({"a":1})", ""},
      {"/api/v2/host_metadata", R"([1])", "expected a JSON object"},
      {"/api/v2/logs", R"([{"message":"m","status":"info"}])", ""},
      {"/api/v2/logs", R"({})", ""},  // the Agent's connectivity check
      {"/api/v2/logs", R"([{"message":1}])", "\"message\" must be a string"},
      {"/api/v2/logs", R"([1])", "expected a log object"},
      {"/v1/input", R"([{"message":"m"}])", ""},
      {"/api/v2/logs", "[{\"message\":\"\xff\"}]", "not valid JSON"},  // invalid UTF-8
      {"/api/v2/logs", R"([{"message":"m"})", "not valid JSON"},
      {"/api/v1/metadata", std::string(200, '[') + std::string(200, ']'), "nested deeper"},
  };
  for (const Case& c : cases) {
    Decoded d = decode(c.route, "application/json", c.body);
    if (c.error.empty()) {
      EXPECT_TRUE(d.errors.empty()) << c.route << " " << c.body << ": " << joined(d.errors);
    } else {
      EXPECT_TRUE(anyContains(d.errors, c.error))
          << c.route << " " << c.body << ": " << joined(d.errors);
    }
  }
}

TEST(DecodeBody, LogsOverTheEntryLimitAreTooLarge) {
  json logs = json::array();
  for (int i = 0; i < 1001; ++i) {
    logs.push_back({{"message", "m"}});
  }
  Decoded d = decode("/api/v2/logs", "application/json", logs.dump());
  EXPECT_TRUE(d.too_large);
  EXPECT_TRUE(anyContains(d.errors, "1001 log entries exceed the intake's 1000"))
      << joined(d.errors);
}

std::string ddsketchBytes() {
  ddsketch::DDSketch sketch;
  sketch.mutable_mapping()->set_gamma(1.02);
  sketch.mutable_positivevalues()->add_contiguousbincounts(2);
  sketch.mutable_positivevalues()->set_contiguousbinindexoffset(1500);
  return sketch.SerializeAsString();
}

TEST(DecodeBody, StatsMsgpackWithDdsketchSummaries) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  std::string sketch = ddsketchBytes();
  pk.pack_map(3);
  pk.pack("AgentHostname");
  pk.pack("host-a");
  pk.pack("ClientComputed");
  pk.pack(false);
  pk.pack("Stats");
  pk.pack_array(1);
  {
    pk.pack_map(2);
    pk.pack("Hostname");
    pk.pack("h");
    pk.pack("Stats");
    pk.pack_array(1);
    {
      pk.pack_map(3);
      pk.pack("Start");
      pk.pack(uint64_t{1700000000000000000});
      pk.pack("AgentTimeShift");
      pk.pack(int64_t{-5});
      pk.pack("Stats");
      pk.pack_array(1);
      {
        pk.pack_map(4);
        pk.pack("Service");
        pk.pack("web");
        pk.pack("Hits");
        pk.pack(uint64_t{10});
        pk.pack("OkSummary");
        pk.pack_bin(static_cast<uint32_t>(sketch.size()));
        pk.pack_bin_body(sketch.data(), static_cast<uint32_t>(sketch.size()));
        pk.pack("PeerTags");
        pk.pack_nil();
      }
    }
  }
  Decoded d = decode("/api/v0.2/stats", "application/msgpack", std::string(buf.data(), buf.size()));
  ASSERT_TRUE(d.errors.empty()) << joined(d.errors);
  EXPECT_EQ(d.json["AgentHostname"], "host-a");
  const json& bucket = d.json["Stats"][0]["Stats"][0];
  EXPECT_EQ(bucket["Start"], uint64_t{1700000000000000000});
  EXPECT_EQ(bucket["AgentTimeShift"], -5);
  const json& grouped = bucket["Stats"][0];
  EXPECT_EQ(grouped["Hits"], 10);
  EXPECT_EQ(grouped["OkSummary"]["mapping"]["gamma"], 1.02);
  EXPECT_EQ(grouped["OkSummary"]["positiveValues"]["contiguousBinIndexOffset"], 1500);
}

TEST(DecodeBody, StatsMsgpackSchemaErrors) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  pk.pack_map(3);
  pk.pack("AgentHostName");  // wrong case
  pk.pack("h");
  pk.pack("SplitPayload");
  pk.pack("yes");  // not a bool
  pk.pack("Stats");
  pk.pack_array(1);
  pk.pack_map(1);
  pk.pack("Sequence");
  pk.pack(int64_t{-1});
  Decoded d = decode("/api/v0.2/stats", "application/msgpack", std::string(buf.data(), buf.size()));
  EXPECT_TRUE(anyContains(d.errors, "StatsPayload.AgentHostName: unknown key in StatsPayload"))
      << joined(d.errors);
  EXPECT_TRUE(anyContains(d.errors, "StatsPayload.SplitPayload: expected bool, got str"))
      << joined(d.errors);
  EXPECT_TRUE(anyContains(d.errors, "StatsPayload.Stats[0].Sequence: expected uint"))
      << joined(d.errors);
  EXPECT_EQ(d.json["AgentHostName"], "h");  // still decoded

  Decoded trailing =
      decode("/api/v0.2/stats", "application/msgpack", std::string(buf.data(), buf.size()) + "x");
  EXPECT_TRUE(anyContains(trailing.errors, "1 trailing bytes")) << joined(trailing.errors);
  // A forged array length must not allocate: 0xdd = array 32 with 4 billion elements.
  Decoded forged =
      decode("/api/v0.2/stats", "application/msgpack", std::string("\xdd\xff\xff\xff\xff\x01", 6));
  EXPECT_TRUE(anyContains(forged.errors, "not valid msgpack")) << joined(forged.errors);
  Decoded empty = decode("/api/v0.2/stats", "application/msgpack", "");
  EXPECT_TRUE(anyContains(empty.errors, "not valid msgpack")) << joined(empty.errors);
}

TEST(DecodeBody, AgentPayload) {
  pb::AgentPayload payload;
  payload.set_hostname("h");
  payload.set_apmmode("edge");
  auto* tp = payload.add_tracerpayloads();
  tp->set_languagename("python");
  auto* span = tp->add_chunks()->add_spans();
  span->set_traceid(18446744073709551615ULL);
  span->set_name("op");
  (*span->mutable_meta())["k"] = "v";
  (*span->mutable_meta_struct())["blob"] = std::string("\x00\x01", 2);
  auto* event = span->add_spanevents();
  auto& attr = (*event->mutable_attributes())["n"];
  attr.set_type(pb::AttributeAnyValue::INT_VALUE);
  attr.set_int_value(7);
  addUnknownVarint(&attr, 99, 1);
  Decoded d = decode("/api/v0.2/traces", "application/x-protobuf", payload.SerializeAsString());
  ASSERT_TRUE(d.errors.empty()) << joined(d.errors);
  EXPECT_EQ(d.json["hostName"], "h");
  EXPECT_EQ(d.json["APMMode"], "edge");
  const json& s = d.json["tracerPayloads"][0]["chunks"][0]["spans"][0];
  EXPECT_EQ(s["traceID"], "18446744073709551615");
  EXPECT_EQ(s["meta"]["k"], "v");
  EXPECT_EQ(s["meta_struct"]["blob"], "AAE=");
  EXPECT_EQ(s["spanEvents"][0]["attributes"]["n"]["type"], "INT_VALUE");
  EXPECT_EQ(s["spanEvents"][0]["attributes"]["n"]["_unknown_fields"]["99"][0], 1);
}

// --- processRequest ---------------------------------------------------------------------------

HttpRequest makeRequest(std::string method, std::string path,
                        std::vector<std::pair<std::string, std::string>> headers,
                        std::string body) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.target = path;
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

TEST(ProcessRequest, ValidRequest) {
  Processed p = processRequest(makeRequest("POST", "/api/v2/logs",
                                           {{"dd-api-key", "k"},
                                            {"content-type", "Application/JSON; charset=utf-8"},
                                            {"content-encoding", "gzip"}},
                                           gzipCompress(R"([{"message":"hello"}])")),
                               {}, 42);
  EXPECT_TRUE(p.payload.valid) << joined(p.payload.errors);
  EXPECT_EQ(p.response.status, 202);
  EXPECT_EQ(p.response.body, "{}");
  EXPECT_EQ(p.payload.received_ms, 42);
  EXPECT_EQ(p.payload.raw, R"([{"message":"hello"}])");
  EXPECT_EQ(p.payload.decoded[0]["message"], "hello");
  EXPECT_EQ(p.payload.content_encoding, "gzip");
}

TEST(ProcessRequest, ErrorsAndTheirStatuses) {
  struct Case {
    std::string method;
    std::string path;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int status;
    std::string error;
  };
  const auto json_headers = [](std::string key) {
    return std::vector<std::pair<std::string, std::string>>{{"dd-api-key", key},
                                                            {"content-type", "application/json"}};
  };
  ValidationOptions options;
  options.invalid_api_keys = {"bad"};
  const std::vector<Case> cases = {
      {"POST",
       "/api/v1/check_run",
       {{"content-type", "application/json"}},
       "[]",
       400,
       "missing DD-API-KEY"},
      {"POST", "/api/v1/check_run", json_headers("bad"), "[]", 403, "invalid API key"},
      {"GET", "/api/v1/validate", {}, "", 403, "missing DD-API-KEY"},
      {"GET", "/api/v1/validate", {{"dd-api-key", "bad"}}, "", 403, "invalid API key"},
      {"POST", "/api/v1/check_run", {{"dd-api-key", "k"}}, "[]", 400, "missing Content-Type"},
      {"POST",
       "/api/v1/check_run",
       {{"dd-api-key", "k"}, {"content-type", "text/plain"}},
       "[]",
       400,
       "expected application/json"},
      {"POST", "/api/v0.2/stats", json_headers("k"), "", 400, "expected application/msgpack"},
      {"GET", "/api/v2/logs", json_headers("k"), "", 405, "method GET not allowed"},
      {"POST", "/api/v9/nothing", json_headers("k"), "", 404, "no intake route"},
      {"POST",
       "/api/v1/check_run",
       {{"dd-api-key", "k"}, {"content-type", "application/json"}, {"content-encoding", "zstd"}},
       "[]",
       400,
       "Content-Encoding \"zstd\": zstd:"},
  };
  for (const Case& c : cases) {
    Processed p = processRequest(makeRequest(c.method, c.path, c.headers, c.body), options, 0);
    EXPECT_FALSE(p.payload.valid) << c.path;
    EXPECT_EQ(p.response.status, c.status) << c.path << ": " << joined(p.payload.errors);
    EXPECT_TRUE(anyContains(p.payload.errors, c.error))
        << c.path << ": " << joined(p.payload.errors);
    json body = json::parse(p.response.body);
    EXPECT_FALSE(body["errors"].empty()) << p.response.body;
  }
}

TEST(ProcessRequest, IntakeLimitsAnswer413UnlessTurnedOff) {
  datadog::agentpayload::MetricPayload payload;
  auto* s = payload.add_series();
  s->set_metric("big");
  s->add_tags(std::string(600'000, 't'));
  s->add_points()->set_value(1);
  auto request = makeRequest("POST", "/api/v2/series",
                             {{"dd-api-key", "k"}, {"content-type", "application/x-protobuf"}},
                             payload.SerializeAsString());
  Processed p = processRequest(request, {}, 0);
  EXPECT_EQ(p.response.status, 413);
  EXPECT_TRUE(anyContains(p.payload.errors, "exceeds the intake's 512000 bytes"))
      << joined(p.payload.errors);
  ValidationOptions off;
  off.enforce_intake_limits = false;
  EXPECT_EQ(processRequest(request, off, 0).response.status, 202);
}

TEST(PayloadJson, ReadbackShape) {
  Payload p;
  p.seq = 3;
  p.route = "/api/v2/logs";
  p.headers = {{"dd-api-key", "k"}, {"x-a", "1"}, {"x-a", "2"}};
  p.raw = "foo";
  p.decoded = json::array();
  p.valid = true;
  p.status = 202;
  json j = toJson(p);
  EXPECT_EQ(j["seq"], 3);
  EXPECT_EQ(j["headers"]["dd-api-key"], "k");
  EXPECT_EQ(j["headers"]["x-a"], "1, 2");
  EXPECT_EQ(j["raw_base64"], "Zm9v");
  EXPECT_FALSE(toJson(p, false).contains("raw_base64"));
}

}  // namespace
}  // namespace outpost::fakeintake
