#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <msgpack.hpp>
#include <random>
#include <string>
#include <vector>

#include "collector/sources/traces/apm_sketch.h"
#include "collector/sources/traces/concentrator.h"
#include "collector/sources/traces/msgpack_writer.h"
#include "collector/sources/traces/stats_payload.h"
#include "proto/ddsketch.pb.h"

namespace outpost::traces {
namespace {

constexpr int64_t kBucket = 10'000'000'000;
constexpr int64_t kT0 = 1'795'000'000'000'000'000;  // a multiple of 10 s

TEST(ApmSketchTest, ProtobufDecodesAndQuantilesAreWithinOnePercent) {
  ApmSketch s;
  std::vector<double> values;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    const double v = 1000.0 * std::exp(static_cast<double>(rng() % 10000) / 1000.0);  // 1 µs..22 ms
    values.push_back(v);
    s.add(v);
  }
  s.add(0);  // the zero bin
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99}) {
    const double want = values[static_cast<size_t>(q * (values.size() - 1))];
    EXPECT_NEAR(s.quantile(q), want, want * 0.02) << q;
  }
  ddsketch::DDSketch pb;
  ASSERT_TRUE(pb.ParseFromString(s.encode()));
  EXPECT_DOUBLE_EQ(pb.mapping().gamma(), 1.01 / 0.99);
  EXPECT_EQ(pb.mapping().indexoffset(), 0);
  EXPECT_EQ(pb.zerocount(), 1);
  double total = 0;
  for (double c : pb.positivevalues().contiguousbincounts()) {
    total += c;
  }
  EXPECT_EQ(total, 10000);
  // The lowest bin's index: the index of the smallest value.
  const int want_offset =
      static_cast<int>(std::floor(std::log(values.front()) / std::log(1.01 / 0.99)));
  EXPECT_EQ(pb.positivevalues().contiguousbinindexoffset(), want_offset);
}

TEST(ApmSketchTest, CollapsesBeyondItsBinsAndMerges) {
  ApmSketch a;
  for (int e = -300; e <= 300; ++e) {
    a.add(std::pow(10.0, e / 10.0));  // 60 decades: more than 2048 bins
  }
  ddsketch::DDSketch pb;
  ASSERT_TRUE(pb.ParseFromString(a.encode()));
  EXPECT_LE(pb.positivevalues().contiguousbincounts_size(), ApmSketch::kMaxBins);
  EXPECT_EQ(a.count(), 601);
  ApmSketch b;
  b.add(5);
  b.add(7);
  a.merge(b);
  EXPECT_EQ(a.count(), 603);
  EXPECT_NEAR(a.quantile(1), std::pow(10.0, 30), std::pow(10.0, 30) * 0.02);
}

Span statSpan(uint64_t id, uint64_t parent, Str service, Str resource, int64_t start,
              int64_t duration, int32_t error = 0) {
  Span s;
  s.trace_id = 1;
  s.span_id = id;
  s.parent_id = parent;
  s.service = service;
  s.name = "op";
  s.resource = resource;
  s.type = "web";
  s.start = start;
  s.duration = duration;
  s.error = error;
  return s;
}

// Decoded StatsPayload: (service|resource) -> {hits, errors, top, duration}.
struct Sum {
  uint64_t hits = 0, errors = 0, top = 0, duration = 0;
};
std::map<std::string, Sum> sums(const std::vector<std::string>& bodies, bool* split = nullptr,
                                std::vector<uint64_t>* starts = nullptr) {
  std::map<std::string, Sum> out;
  for (const auto& body : bodies) {
    auto h = msgpack::unpack(body.data(), body.size());
    const auto root = h.get().as<std::map<std::string, msgpack::object>>();
    EXPECT_EQ(root.count("AgentHostname"), 1u);
    if (split != nullptr) {
      *split = *split || root.at("SplitPayload").as<bool>();
    }
    for (const auto& csp : root.at("Stats").as<std::vector<msgpack::object>>()) {
      const auto c = csp.as<std::map<std::string, msgpack::object>>();
      for (const auto& bo : c.at("Stats").as<std::vector<msgpack::object>>()) {
        const auto b = bo.as<std::map<std::string, msgpack::object>>();
        if (starts != nullptr) {
          starts->push_back(b.at("Start").as<uint64_t>());
        }
        for (const auto& go : b.at("Stats").as<std::vector<msgpack::object>>()) {
          const auto g = go.as<std::map<std::string, msgpack::object>>();
          Sum& s =
              out[g.at("Service").as<std::string>() + "|" + g.at("Resource").as<std::string>()];
          s.hits += g.at("Hits").as<uint64_t>();
          s.errors += g.at("Errors").as<uint64_t>();
          s.top += g.at("TopLevelHits").as<uint64_t>();
          s.duration += g.at("Duration").as<uint64_t>();
        }
      }
    }
  }
  return out;
}

TEST(ConcentratorTest, HitsErrorsTopLevelDurationsAndBuckets) {
  ConcentratorOptions o;
  o.hostname = "h";
  Concentrator c(o);
  TracerPayload p;
  TraceChunk chunk;
  Span root = statSpan(1, 0, "web", "GET /", kT0 + 1'000, 5'000);
  root.metrics = {{"_top_level", 1}, {"_sample_rate", 0.5}};           // weight 2
  Span child = statSpan(2, 1, "web", "inner", kT0 + 2'000, 1'000);     // not eligible
  Span client = statSpan(3, 1, "web", "call", kT0 + 3'000, 2'000, 1);  // span.kind client
  client.meta = {{"span.kind", "client"}};
  Span measured = statSpan(4, 1, "web", "measured", kT0 + 4'000, 3'000);
  measured.metrics = {{"_dd.measured", 1}};
  Span partial = statSpan(5, 1, "web", "partial", kT0, 1'000);
  partial.metrics = {{"_top_level", 1}, {"_dd.partial_version", 1}};
  Span next_bucket = statSpan(6, 0, "web", "GET /", kT0 + kBucket + 1, 10);
  next_bucket.metrics = {{"_top_level", 1}};
  chunk.spans = {root, child, client, measured, partial};
  c.add(p, chunk, kT0);
  TraceChunk later;
  later.spans = {next_bucket};
  c.add(p, later, kT0);

  // Nothing is old enough yet: buckets wait buffer_len buckets for late spans.
  EXPECT_TRUE(c.flush(kT0 + kBucket, false).empty());
  std::vector<uint64_t> starts;
  const auto first = c.flush(kT0 + 3 * kBucket, false);  // the first bucket only
  auto s = sums(first, nullptr, &starts);
  EXPECT_EQ(starts, std::vector<uint64_t>{static_cast<uint64_t>(kT0)});
  EXPECT_EQ(s["web|GET /"].hits, 2u);
  EXPECT_EQ(s["web|GET /"].top, 2u);
  EXPECT_EQ(s["web|GET /"].duration, 10'000u);
  EXPECT_EQ(s["web|call"].hits, 2u);
  EXPECT_EQ(s["web|call"].errors, 2u);
  EXPECT_EQ(s["web|call"].top, 0u);
  EXPECT_EQ(s["web|measured"].hits, 2u);
  EXPECT_EQ(s.count("web|inner"), 0u);
  EXPECT_EQ(s.count("web|partial"), 0u);
  const auto rest = c.flush(kT0 + 3 * kBucket, true);
  EXPECT_EQ(sums(rest)["web|GET /"].hits, 1u);
  EXPECT_EQ(c.memoryEntries(), 0u);
}

// Adds one top-level span of service "svc" with `resource`.
void addTopLevel(Concentrator& c, const std::string& resource) {
  TracerPayload p;
  TraceChunk chunk;
  Span s = statSpan(1, 0, "svc", resource, kT0, 10);
  s.metrics = {{"_top_level", 1}};
  chunk.spans = {s};
  c.add(p, chunk, kT0);
}

std::vector<std::string> resourceNames(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back("r" + std::to_string(i));
  }
  return out;
}

TEST(ConcentratorTest, SplitsAtTheEntryLimit) {
  ConcentratorOptions o;
  o.max_entries_per_payload = 100;
  Concentrator c(o);
  const auto resources = resourceNames(250);
  for (const auto& r : resources) {
    addTopLevel(c, r);
  }
  bool split = false;
  const auto bodies = c.flush(kT0, true);
  EXPECT_EQ(bodies.size(), 3u);
  const auto s = sums(bodies, &split);
  EXPECT_TRUE(split);
  EXPECT_EQ(s.size(), 250u);
}

// The groups held are bounded: spans of new keys past max_entries are left out and counted,
// spans of keys already held still count, and a flush makes room again.
TEST(ConcentratorTest, BoundedByMaxEntries) {
  ConcentratorOptions o;
  o.max_entries = 10;
  Concentrator c(o);
  const auto resources = resourceNames(25);
  for (const auto& r : resources) {
    addTopLevel(c, r);
  }
  addTopLevel(c, resources[3]);  // a key already held
  EXPECT_EQ(c.memoryEntries(), 10u);
  EXPECT_EQ(c.maxEntries(), 10u);
  EXPECT_EQ(c.droppedSpans(), 15u);
  auto s = sums(c.flush(kT0, true));
  EXPECT_EQ(s.size(), 10u);
  EXPECT_EQ(s["svc|r3"].hits, 2u);
  EXPECT_EQ(s.count("svc|r10"), 0u);
  EXPECT_EQ(c.memoryEntries(), 0u);
  addTopLevel(c, resources[20]);
  EXPECT_EQ(c.memoryEntries(), 1u);
}

TEST(StatsPayloadTest, ClientStatsRoundTripAndBadInput) {
  std::string body;
  MsgpackWriter w(body);
  w.mapHeader(5);
  w.str("Hostname");
  w.str("");
  w.str("Env");
  w.str("prod");
  w.str("Lang");
  w.str("python");
  w.str("Unknown");
  w.arrayHeader(0);
  w.str("Stats");
  w.arrayHeader(1);
  w.mapHeader(3);
  w.str("Start");
  w.uint(static_cast<uint64_t>(kT0));
  w.str("Duration");
  w.uint(static_cast<uint64_t>(kBucket));
  w.str("Stats");
  w.arrayHeader(1);
  w.mapHeader(4);
  w.str("Service");
  w.str("svc");
  w.str("Resource");
  w.str("GET /");
  w.str("Hits");
  w.uint(7);
  w.str("Errors");
  w.uint(1);
  ClientStatsPayload cs;
  std::string error;
  ASSERT_TRUE(decodeClientStatsPayload(body, &cs, &error)) << error;
  EXPECT_EQ(cs.env, "prod");
  EXPECT_EQ(cs.lang, "python");
  ASSERT_EQ(cs.stats.size(), 1u);
  EXPECT_EQ(cs.stats[0].stats.at(0).hits, 7u);

  ConcentratorOptions agent;
  agent.hostname = "agent-host";
  const std::string wrapped = wrapClientStats(cs, agent);
  auto h = msgpack::unpack(wrapped.data(), wrapped.size());
  const auto root = h.get().as<std::map<std::string, msgpack::object>>();
  EXPECT_TRUE(root.at("ClientComputed").as<bool>());
  const auto client = root.at("Stats")
                          .as<std::vector<msgpack::object>>()[0]
                          .as<std::map<std::string, msgpack::object>>();
  EXPECT_EQ(client.at("Hostname").as<std::string>(), "agent-host");
  EXPECT_EQ(sums({wrapped})["svc|GET /"].hits, 7u);

  for (std::string bad :
       {std::string(""), std::string("\x90"), body.substr(0, body.size() - 3), body + "x"}) {
    ClientStatsPayload x;
    EXPECT_FALSE(decodeClientStatsPayload(bad, &x, &error));
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace outpost::traces
