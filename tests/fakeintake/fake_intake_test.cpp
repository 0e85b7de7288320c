// The fake intake over real sockets (port 0): every route with every compression, validation
// answers, scripted faults, slow reads, the HTTP readback API and the standalone binary.

#include "tests/fakeintake/fake_intake.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "proto/metrics_payload.pb.h"
#include "proto/trace_agent_payload.pb.h"
#include "tests/fakeintake/test_helpers.h"

namespace outpost::fakeintake {
namespace {

// Fields a schema does not declare (the NoIndex marker, Origin field 3) go in unknown fields.
void addUnknownVarint(google::protobuf::Message* m, int number, uint64_t value) {
  m->GetReflection()->MutableUnknownFields(m)->AddVarint(number, value);
}

using namespace std::chrono_literals;
using nlohmann::json;
using testing::httpRequest;
using testing::post;
using testing::Reply;

constexpr auto kWait = 10s;
const std::vector<std::string> kEncodings = {"identity", "zstd", "gzip", "deflate"};

std::string base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) {
      continue;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& e : errors) {
    out += e + "\n";
  }
  return out;
}

class FakeIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    FakeIntake::Options options;
    options.validation.invalid_api_keys = {"revoked-key"};
    intake_ = std::make_unique<FakeIntakeThread>(options);
    std::string error;
    ASSERT_TRUE(intake_->start("127.0.0.1", 0, &error)) << error;
    ASSERT_GT(intake_->port(), 0);
  }
  void TearDown() override { intake_.reset(); }

  std::string url(std::string_view path) const { return intake_->url() + std::string(path); }

  Reply send(std::string_view path, const std::string& raw, std::string_view content_type,
             std::string_view encoding = "identity", std::vector<std::string> extra = {}) {
    std::vector<std::string> headers = {"DD-API-KEY: abcdef0123456789",
                                        "Content-Type: " + std::string(content_type),
                                        "User-Agent: datadog-agent/7.52.0"};
    if (encoding != "identity") {
      headers.push_back("Content-Encoding: " + std::string(encoding));
    }
    headers.insert(headers.end(), extra.begin(), extra.end());
    return post(url(path), testing::compressAs(encoding, raw), headers);
  }

  // The one payload recorded after `since` on `route`.
  Payload last(std::string_view route, uint64_t since) {
    auto got = intake_->waitForPayloads(route, 1, kWait, since);
    EXPECT_EQ(got.size(), 1u) << route;
    return got.empty() ? Payload{} : got.back();
  }

  std::unique_ptr<FakeIntakeThread> intake_;
};

datadog::agentpayload::MetricPayload sampleSeries() {
  datadog::agentpayload::MetricPayload payload;
  auto* s = payload.add_series();
  s->set_metric("system.load.1");
  s->set_type(datadog::agentpayload::MetricPayload::GAUGE);
  s->add_tags("env:prod");
  s->add_tags("bare");
  auto* host = s->add_resources();
  host->set_type("host");
  host->set_name("web-1");
  auto* p = s->add_points();
  p->set_timestamp(1700000000);
  p->set_value(0.25);
  s->set_interval(10);
  auto* origin = s->mutable_metadata()->mutable_origin();
  origin->set_origin_product(10);
  origin->set_origin_category(10);
  auto* noindex = payload.add_series();
  noindex->set_metric("hidden");
  noindex->set_type(datadog::agentpayload::MetricPayload::RATE);
  noindex->add_points()->set_value(1);
  addUnknownVarint(noindex->mutable_metadata()->mutable_origin(), 3, 9);
  return payload;
}

TEST_F(FakeIntakeTest, MetricPayloadRoundTripsWithEveryEncoding) {
  const std::string raw = sampleSeries().SerializeAsString();
  for (const std::string& enc : kEncodings) {
    uint64_t since = intake_->store().lastSeq();
    Reply r = send("/api/v2/series", raw, "application/x-protobuf", enc);
    ASSERT_EQ(r.code, CURLE_OK) << enc;
    EXPECT_EQ(r.status, 202) << enc << ": " << r.body;
    EXPECT_EQ(json::parse(r.body), json::parse(R"({"errors":[]})"));
    Payload p = last("/api/v2/series", since);
    EXPECT_TRUE(p.valid) << enc << ": " << joined(p.errors);
    EXPECT_EQ(p.status, 202);
    EXPECT_EQ(p.raw, raw) << enc;  // byte-exact
    EXPECT_EQ(p.decompressed_size, raw.size());
    EXPECT_EQ(p.content_encoding, enc == "identity" ? "" : enc);
    EXPECT_EQ(p.compressed_size, testing::compressAs(enc, raw).size());
    EXPECT_EQ(p.header("dd-api-key"), "abcdef0123456789");
    EXPECT_EQ(p.header("user-agent"), "datadog-agent/7.52.0");
    const json& s = p.decoded["series"][0];
    EXPECT_EQ(s["metric"], "system.load.1");
    EXPECT_EQ(s["type"], "GAUGE");
    EXPECT_EQ(s["tags"], json::array({"env:prod", "bare"}));
    EXPECT_EQ(s["resources"][0]["name"], "web-1");
    EXPECT_EQ(s["points"][0]["timestamp"], "1700000000");
    EXPECT_EQ(s["points"][0]["value"], 0.25);
    EXPECT_EQ(s["interval"], "10");
    EXPECT_EQ(s["metadata"]["origin"]["origin_product"], 10);
    EXPECT_EQ(p.decoded["series"][1]["metadata"]["origin"]["_unknown_fields"]["3"][0], 9);
  }
  // The recorded bytes parse back with the generated classes.
  datadog::agentpayload::MetricPayload back;
  ASSERT_TRUE(back.ParseFromString(intake_->payloads("/api/v2/series").back().raw));
  EXPECT_EQ(back.series(0).points(0).value(), 0.25);
  EXPECT_EQ(back.series(1)
                .metadata()
                .origin()
                .GetReflection()
                ->GetUnknownFields(back.series(1).metadata().origin())
                .field(0)
                .varint(),
            9u);
}

std::string sampleStats() {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(&buf);
  pk.pack_map(4);
  pk.pack("AgentHostname");
  pk.pack("web-1");
  pk.pack("AgentEnv");
  pk.pack("prod");
  pk.pack("AgentVersion");
  pk.pack("7.52.0");
  pk.pack("Stats");
  pk.pack_array(1);
  pk.pack_map(2);
  pk.pack("Service");
  pk.pack("api");
  pk.pack("Sequence");
  pk.pack(uint64_t{4});
  return std::string(buf.data(), buf.size());
}

std::string sampleTraces() {
  pb::AgentPayload payload;
  payload.set_hostname("web-1");
  payload.set_env("prod");
  payload.set_agentversion("7.52.0");
  payload.set_targettps(10);
  auto* tp = payload.add_tracerpayloads();
  tp->set_languagename("go");
  auto* chunk = tp->add_chunks();
  chunk->set_priority(1);
  auto* span = chunk->add_spans();
  span->set_service("api");
  span->set_name("http.request");
  span->set_traceid(42);
  span->set_spanid(7);
  span->set_start(1700000000000000000);
  span->set_duration(1500);
  (*span->mutable_metrics())["_sampling_priority_v1"] = 1;
  auto* link = span->add_spanlinks();
  link->set_traceid(43);
  link->set_flags(0x80000001u);
  return payload.SerializeAsString();
}

std::string sampleSketches() {
  datadog::agentpayload::SketchPayload payload;
  auto* sketch = payload.add_sketches();
  sketch->set_metric("request.latency");
  sketch->set_host("web-1");
  auto* ds = sketch->add_dogsketches();
  ds->set_ts(1700000000);
  ds->set_cnt(3);
  ds->set_min(1);
  ds->set_max(3);
  ds->set_sum(6);
  ds->set_avg(2);
  for (int k : {-5, 1338, 1338}) {
    ds->add_k(k);
    ds->add_n(1);
  }
  return payload.SerializeAsString();
}

TEST_F(FakeIntakeTest, EveryRouteWithEveryEncoding) {
  struct Case {
    std::string route;
    std::string content_type;
    std::string body;
    int status;
    std::string answer;
    std::function<void(const json&)> check;
  };
  const std::vector<Case> cases = {
      {"/api/v1/series", "application/json",
       R"({"series":[{"metric":"m","points":[[1700000000,1.5]],"tags":["a:b"],"host":"h","type":"gauge","interval":0}]})",
       202, R"({"errors":[]})",
       [](const json& j) { EXPECT_EQ(j["series"][0]["points"][0][1], 1.5); }},
      {"/api/beta/sketches", "application/x-protobuf", sampleSketches(), 202, R"({"errors":[]})",
       [](const json& j) {
         const json& ds = j["sketches"][0]["dogsketches"][0];
         EXPECT_EQ(ds["k"], json::array({-5, 1338, 1338}));
         EXPECT_EQ(ds["n"], json::array({1, 1, 1}));
         EXPECT_EQ(ds["cnt"], "3");
       }},
      {"/api/v1/check_run", "application/json",
       R"([{"check":"datadog.agent.up","host_name":"h","timestamp":1700000000,"status":0,"message":"","tags":null}])",
       202, R"({"errors":[]})",
       [](const json& j) { EXPECT_EQ(j[0]["check"], "datadog.agent.up"); }},
      {"/intake/", "application/json",
       R"({"apiKey":"","events":{"api":[{"msg_title":"Deploy","msg_text":"v2","timestamp":1700000000}]},"internalHostname":"h"})",
       202, R"({"errors":[]})",
       [](const json& j) { EXPECT_EQ(j["events"]["api"][0]["msg_title"], "Deploy"); }},
      {"/intake/", "application/json",
       R"({"apiKey":"k","agentVersion":"7.52.0","uuid":"u","internalHostname":"h","os":"linux","meta":{"hostname":"h"},"systemStats":{"cpuCores":1},"host-tags":{"system":[]}})",
       202, R"({"errors":[]})", [](const json& j) { EXPECT_EQ(j["meta"]["hostname"], "h"); }},
      {"/api/v1/metadata", "application/json", R"({"inventories":{"a":1}})", 202,
       R"({"errors":[]})", [](const json& j) { EXPECT_EQ(j["inventories"]["a"], 1); }},
      {"/api/v2/host_metadata", "application/json", R"({"hostname":"h"})", 202, R"({"errors":[]})",
       [](const json& j) { EXPECT_EQ(j["hostname"], "h"); }},
      {"/api/v2/logs", "application/json",
       R"([{"message":"hello","status":"info","timestamp":1700000000123,"hostname":"h","service":"s","ddsource":"file","ddtags":"env:prod,filename:app.log"}])",
       202, "{}", [](const json& j) { EXPECT_EQ(j[0]["ddtags"], "env:prod,filename:app.log"); }},
      {"/v1/input", "application/json", R"([{"message":"legacy"}])", 202, "{}",
       [](const json& j) { EXPECT_EQ(j[0]["message"], "legacy"); }},
      {"/api/v0.2/traces", "application/x-protobuf", sampleTraces(), 200, "{}",
       [](const json& j) {
         const json& span = j["tracerPayloads"][0]["chunks"][0]["spans"][0];
         EXPECT_EQ(j["hostName"], "web-1");
         EXPECT_EQ(span["traceID"], "42");
         EXPECT_EQ(span["metrics"]["_sampling_priority_v1"], 1);
         EXPECT_EQ(span["spanLinks"][0]["flags"], 0x80000001u);
       }},
      {"/api/v0.2/stats", "application/msgpack", sampleStats(), 200, "{}",
       [](const json& j) {
         EXPECT_EQ(j["AgentHostname"], "web-1");
         EXPECT_EQ(j["Stats"][0]["Sequence"], 4);
       }},
  };
  for (const Case& c : cases) {
    for (const std::string& enc : kEncodings) {
      SCOPED_TRACE(c.route + " " + enc);
      uint64_t since = intake_->store().lastSeq();
      Reply r = send(c.route, c.body, c.content_type, enc);
      ASSERT_EQ(r.code, CURLE_OK);
      EXPECT_EQ(r.status, c.status) << r.body;
      EXPECT_EQ(json::parse(r.body), json::parse(c.answer));
      EXPECT_EQ(r.headers["content-type"], "application/json");
      Payload p = last(c.route, since);
      EXPECT_TRUE(p.valid) << joined(p.errors);
      EXPECT_EQ(p.raw, c.body);
      c.check(p.decoded);
    }
  }
  auto stats = intake_->store().stats();
  EXPECT_EQ(stats["/intake/"].requests, 8u);
  EXPECT_EQ(stats["/api/v0.2/stats"].valid, 4u);
}

TEST_F(FakeIntakeTest, ValidateEndpoint) {
  Reply ok = httpRequest("GET", url("/api/v1/validate"), {"DD-API-KEY: good"});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body), json::parse(R"({"valid":true})"));
  Reply revoked = httpRequest("GET", url("/api/v1/validate"), {"dd-api-key: revoked-key"});
  EXPECT_EQ(revoked.status, 403);
  Reply missing = httpRequest("GET", url("/api/v1/validate"));
  EXPECT_EQ(missing.status, 403);
  // The invalid set can change at run time, in process or over HTTP.
  Reply set = post(url("/fakeintake/api_keys"), R"({"invalid":["good"]})", {});
  EXPECT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(httpRequest("GET", url("/api/v1/validate"), {"DD-API-KEY: good"}).status, 403);
  auto recorded = intake_->payloads("/api/v1/validate");
  ASSERT_EQ(recorded.size(), 4u);
  EXPECT_TRUE(recorded[0].valid);
  EXPECT_FALSE(recorded[1].valid);
  EXPECT_EQ(recorded[1].status, 403);
}

TEST_F(FakeIntakeTest, ApiKeyHeaderIsRequiredAnyCase) {
  const std::string body = R"([{"message":"m"}])";
  for (std::string header : {"dd-api-key: k1", "DD-API-KEY: k1", "Dd-Api-Key: k1"}) {
    Reply r = post(url("/api/v2/logs"), body, {header, "Content-Type: application/json"});
    EXPECT_EQ(r.status, 202) << header << ": " << r.body;
  }
  uint64_t since = intake_->store().lastSeq();
  for (std::string header : {"X-Api-Key: k1", "DD-API-KEY:"}) {
    Reply r = post(url("/api/v2/logs"), body, {header, "Content-Type: application/json"});
    EXPECT_EQ(r.status, 400) << header;
    EXPECT_NE(r.body.find("missing DD-API-KEY header"), std::string::npos) << r.body;
  }
  auto bad = intake_->waitForPayloads("/api/v2/logs", 2, kWait, since);
  ASSERT_EQ(bad.size(), 2u);
  for (const Payload& p : bad) {
    EXPECT_FALSE(p.valid);
    EXPECT_EQ(p.status, 400);
    EXPECT_EQ(p.decoded[0]["message"], "m");  // decoded all the same
  }
  Reply revoked = post(url("/api/v2/logs"), body,
                       {"DD-API-KEY: revoked-key", "Content-Type: application/json"});
  EXPECT_EQ(revoked.status, 403);
}

TEST_F(FakeIntakeTest, CorruptBodiesAre400) {
  std::string z = testing::zstdCompress(R"([{"message":"m"}])");
  z[1] = static_cast<char>(z[1] ^ 0xff);  // the frame magic (small frames carry no checksum)
  Reply corrupt =
      post(url("/api/v2/logs"), z,
           {"DD-API-KEY: k", "Content-Type: application/json", "Content-Encoding: zstd"});
  EXPECT_EQ(corrupt.status, 400);
  EXPECT_NE(corrupt.body.find("zstd"), std::string::npos) << corrupt.body;
  Payload p = intake_->payloads("/api/v2/logs").back();
  EXPECT_FALSE(p.valid);
  EXPECT_EQ(p.raw, z);  // the body as received when it does not decompress
  EXPECT_TRUE(p.decoded.is_null());

  Reply not_proto = send("/api/v2/series", "\xff\xff\xff", "application/x-protobuf", "gzip");
  EXPECT_EQ(not_proto.status, 400);
  Reply wrong_type = send("/api/v2/series", sampleSeries().SerializeAsString(), "text/plain");
  EXPECT_EQ(wrong_type.status, 400);
  Reply brotli = post(url("/api/v2/logs"), "x",
                      {"DD-API-KEY: k", "Content-Type: application/json", "Content-Encoding: br"});
  EXPECT_EQ(brotli.status, 400);
  EXPECT_NE(brotli.body.find("unsupported Content-Encoding"), std::string::npos);
}

TEST_F(FakeIntakeTest, ZipBombIsRejected) {
  std::string bomb = testing::zstdZeros(size_t{200} << 20);  // 200 MiB of zeros, ~6 KiB
  Reply r = post(url("/api/v2/logs"), bomb,
                 {"DD-API-KEY: k", "Content-Type: application/json", "Content-Encoding: zstd"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exceeds 67108864 bytes"), std::string::npos) << r.body;
  Payload p = intake_->payloads("/api/v2/logs").back();
  EXPECT_FALSE(p.valid);
  EXPECT_EQ(p.compressed_size, bomb.size());
}

TEST_F(FakeIntakeTest, FaultsServerErrorTwiceThenAccepted) {
  Fault fault;
  fault.status = 500;
  fault.count = 2;
  intake_->addFault("/api/v2/series", fault);
  const std::string raw = sampleSeries().SerializeAsString();
  std::vector<long> statuses;
  for (int i = 0; i < 3; ++i) {
    statuses.push_back(send("/api/v2/series", raw, "application/x-protobuf", "zstd").status);
  }
  EXPECT_EQ(statuses, (std::vector<long>{500, 500, 202}));
  auto recorded = intake_->payloads("/api/v2/series");
  ASSERT_EQ(recorded.size(), 3u);
  EXPECT_TRUE(recorded[0].faulted);
  EXPECT_EQ(recorded[0].status, 500);
  EXPECT_TRUE(recorded[0].valid);  // the body itself was fine
  EXPECT_FALSE(recorded[2].faulted);
  EXPECT_EQ(recorded[2].raw, recorded[0].raw);
  EXPECT_EQ(intake_->store().acceptedPayloads("/api/v2/series").size(), 1u);
  EXPECT_TRUE(intake_->store().faults().empty());
  // Other routes are not affected by a route's faults.
  intake_->addFault("/api/v2/series", fault);
  EXPECT_EQ(send("/api/v2/logs", "[]", "application/json").status, 202);
}

TEST_F(FakeIntakeTest, Fault429WithRetryAfter) {
  intake_->addFault("/api/v2/logs", {.status = 429, .retry_after = "7"});
  Reply r = send("/api/v2/logs", "[]", "application/json");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "7");
  Reply next = send("/api/v2/logs", "[]", "application/json");
  EXPECT_EQ(next.status, 202);
  EXPECT_EQ(next.headers.count("retry-after"), 0u);
}

TEST_F(FakeIntakeTest, FaultDelay) {
  Fault fault;
  fault.delay_ms = 300;
  intake_->addFault("/api/v2/logs", fault);
  Reply r = send("/api/v2/logs", "[]", "application/json");
  EXPECT_EQ(r.status, 202);
  EXPECT_GE(r.elapsed, 300ms);
  // Recorded on arrival, before the delayed answer.
  EXPECT_EQ(intake_->payloads("/api/v2/logs").size(), 1u);
}

TEST_F(FakeIntakeTest, FaultDropConnection) {
  Fault fault;
  fault.drop_connection = true;
  intake_->addFault("*", fault);
  Reply r = send("/api/v1/check_run", R"([{"check":"c","status":0}])", "application/json");
  EXPECT_NE(r.code, CURLE_OK);  // CURLE_GOT_NOTHING: the server closed without answering
  EXPECT_EQ(r.status, 0);
  Payload p = intake_->payloads("/api/v1/check_run").back();
  EXPECT_TRUE(p.faulted);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(send("/api/v1/check_run", "[]", "application/json").status, 202);
}

TEST_F(FakeIntakeTest, SlowReads) {
  const std::string body =
      "[" + std::string(0, ' ') + R"({"message":")" + std::string(10'000, 'x') + R"("}])";
  intake_->setReadRateLimit(20'000);  // ~0.5 s for this body
  Reply slow = send("/api/v2/logs", body, "application/json");
  EXPECT_EQ(slow.status, 202);
  EXPECT_GE(slow.elapsed, 300ms);
  intake_->reset();  // back to unlimited
  Reply fast = send("/api/v2/logs", body, "application/json");
  EXPECT_EQ(fast.status, 202);
  EXPECT_LT(fast.elapsed, slow.elapsed);
  // Over HTTP too.
  EXPECT_EQ(post(url("/fakeintake/read_rate"), R"({"bytes_per_second":20000})", {}).status, 200);
  EXPECT_GE(send("/api/v2/logs", body, "application/json").elapsed, 300ms);
  EXPECT_EQ(post(url("/fakeintake/read_rate"), R"({"bytes_per_second":0})", {}).status, 200);
}

TEST_F(FakeIntakeTest, HttpReadbackAndControl) {
  const std::string raw = sampleSeries().SerializeAsString();
  ASSERT_EQ(send("/api/v2/series", raw, "application/x-protobuf", "zstd").status, 202);
  ASSERT_EQ(send("/api/v2/logs", R"([{"message":"a"}])", "application/json", "gzip").status, 202);
  ASSERT_EQ(send("/api/v2/series", raw, "application/x-protobuf", "deflate").status, 202);

  Reply all = httpRequest("GET", url("/fakeintake/payloads"));
  ASSERT_EQ(all.status, 200);
  json list = json::parse(all.body)["payloads"];
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]["seq"], 1);
  EXPECT_EQ(list[1]["route"], "/api/v2/logs");

  Reply series =
      httpRequest("GET", url("/fakeintake/payloads?endpoint=%2Fapi%2Fv2%2Fseries&since=1"));
  json s = json::parse(series.body)["payloads"];
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["seq"], 3);
  EXPECT_EQ(s[0]["content_encoding"], "deflate");
  EXPECT_EQ(s[0]["headers"]["dd-api-key"], "abcdef0123456789");
  EXPECT_EQ(s[0]["decoded"]["series"][0]["metric"], "system.load.1");
  EXPECT_EQ(base64Decode(s[0]["raw_base64"].get<std::string>()), raw);
  EXPECT_EQ(s[0]["valid"], true);
  EXPECT_EQ(s[0]["status"], 202);

  json no_raw =
      json::parse(httpRequest("GET", url("/fakeintake/payloads?endpoint=/api/v2/logs&raw=0")).body);
  EXPECT_FALSE(no_raw["payloads"][0].contains("raw_base64"));

  // Faults over HTTP: one object or a list.
  Reply queued = post(url("/fakeintake/faults"),
                      R"([{"path":"/api/v2/series","status":503,"count":1,"retry_after":"1"},
                          {"path":"/api/v2/series","status":500}])",
                      {});
  EXPECT_EQ(queued.status, 200) << queued.body;
  EXPECT_EQ(json::parse(queued.body)["queued"], 2);
  json faults = json::parse(httpRequest("GET", url("/fakeintake/faults")).body)["faults"];
  ASSERT_EQ(faults.size(), 2u);
  EXPECT_EQ(faults[0]["status"], 503);
  Reply first = send("/api/v2/series", raw, "application/x-protobuf");
  EXPECT_EQ(first.status, 503);
  EXPECT_EQ(first.headers["retry-after"], "1");
  EXPECT_EQ(send("/api/v2/series", raw, "application/x-protobuf").status, 500);
  EXPECT_EQ(send("/api/v2/series", raw, "application/x-protobuf").status, 202);
  Reply bad_fault = post(url("/fakeintake/faults"), R"({"status":500})", {});
  EXPECT_EQ(bad_fault.status, 400);
  EXPECT_NE(bad_fault.body.find("\\\"path\\\" is required"), std::string::npos) << bad_fault.body;
  EXPECT_EQ(post(url("/fakeintake/faults"), R"({"path":"/api/v2/series","colour":1})", {}).status,
            400);
  post(url("/fakeintake/faults"), R"({"path":"/api/v2/series","status":500,"count":0})", {});
  EXPECT_EQ(send("/api/v2/series", raw, "application/x-protobuf").status, 500);
  EXPECT_EQ(send("/api/v2/series", raw, "application/x-protobuf").status, 500);
  EXPECT_EQ(httpRequest("DELETE", url("/fakeintake/faults")).status, 200);
  EXPECT_EQ(send("/api/v2/series", raw, "application/x-protobuf").status, 202);

  json stats = json::parse(httpRequest("GET", url("/fakeintake/stats")).body);
  EXPECT_EQ(stats["routes"]["/api/v2/series"]["requests"], 8);
  EXPECT_EQ(stats["routes"]["/api/v2/series"]["faulted"], 4);
  EXPECT_EQ(stats["routes"]["/api/v2/logs"]["requests"], 1);
  EXPECT_EQ(stats["total"], 9);

  EXPECT_EQ(post(url("/fakeintake/reset"), "", {}).status, 200);
  EXPECT_TRUE(
      json::parse(httpRequest("GET", url("/fakeintake/payloads")).body)["payloads"].empty());
  EXPECT_EQ(json::parse(httpRequest("GET", url("/fakeintake/stats")).body)["total"], 0);
  // Sequence numbers keep counting across a reset.
  ASSERT_EQ(send("/api/v2/logs", "[]", "application/json").status, 202);
  EXPECT_EQ(intake_->payloads().back().seq, 10u);

  EXPECT_EQ(httpRequest("GET", url("/fakeintake/nothing")).status, 404);
  EXPECT_EQ(httpRequest("POST", url("/fakeintake/payloads")).status, 405);
  EXPECT_EQ(json::parse(httpRequest("GET", url("/fakeintake/routes")).body)["routes"].size(),
            routes().size());
}

TEST_F(FakeIntakeTest, UnknownRoutesAreRecordedAnd404) {
  Reply r = send("/api/v3/series", "{}", "application/json");
  EXPECT_EQ(r.status, 404);
  Payload p = last("/api/v3/series", 0);
  EXPECT_FALSE(p.valid);
  EXPECT_EQ(p.status, 404);
}

TEST_F(FakeIntakeTest, IntakeLimits) {
  json logs = json::array();
  for (int i = 0; i < 1001; ++i) {
    logs.push_back({{"message", "m"}});
  }
  Reply r = send("/api/v2/logs", logs.dump(), "application/json", "zstd");
  EXPECT_EQ(r.status, 413) << r.body;
}

TEST_F(FakeIntakeTest, WaitForPayloadsWakesOnArrival) {
  std::thread sender([this] {
    for (int i = 0; i < 5; ++i) {
      send("/api/v2/logs", R"([{"message":"m"}])", "application/json", "zstd");
    }
  });
  auto got = intake_->waitForPayloads("/api/v2/logs", 5, kWait);
  sender.join();
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_LT(got[i - 1].seq, got[i].seq);
  }
  // A wait that cannot be satisfied returns what there is after the timeout.
  EXPECT_EQ(intake_->waitForPayloads("/api/v2/logs", 6, 50ms).size(), 5u);
}

TEST_F(FakeIntakeTest, KeepAliveAndStopWithOpenConnections) {
  // Two requests on one connection, then the connection is left open across stop().
  CURL* curl = curl_easy_init();
  std::string sink;
  curl_slist* headers = curl_slist_append(nullptr, "DD-API-KEY: k");
  headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url("/api/v2/logs").c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "[]");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, testing::curlWrite);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
  long connects = -1;
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0);  // the second request reused the connection
  EXPECT_EQ(intake_->payloads().size(), 2u);
  intake_->stop();
  EXPECT_EQ(intake_->payloads().size(), 2u);  // readable after stop
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
}

TEST(FakeIntakeThreadTest, ListenErrorIsReported) {
  FakeIntakeThread intake;
  std::string error;
  EXPECT_FALSE(intake.start("256.0.0.1", 0, &error));
  EXPECT_FALSE(error.empty());
}

// The standalone program: prints its port, serves, stops on SIGTERM.
TEST(FakeIntakeBinary, ServesAndStopsOnSigterm) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    execl(OUTPOST_FAKEINTAKE_BIN, OUTPOST_FAKEINTAKE_BIN, "--port", "0", "--invalid-api-key",
          "nope", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string line;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&pfd, 1, 10000) > 0) {
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    line.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  ASSERT_EQ(line.rfind("listening on 127.0.0.1:", 0), 0u) << line;
  int port = std::stoi(line.substr(std::string("listening on 127.0.0.1:").size()));
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(post(base + "/api/v2/logs", R"([{"message":"m"}])",
                 {"DD-API-KEY: k", "Content-Type: application/json"})
                .status,
            202);
  EXPECT_EQ(httpRequest("GET", base + "/api/v1/validate", {"DD-API-KEY: nope"}).status, 403);
  json got =
      json::parse(httpRequest("GET", base + "/fakeintake/payloads?endpoint=/api/v2/logs").body);
  ASSERT_EQ(got["payloads"].size(), 1u);
  EXPECT_EQ(got["payloads"][0]["decoded"][0]["message"], "m");
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace outpost::fakeintake
