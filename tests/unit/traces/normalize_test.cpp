#include "collector/sources/traces/normalize.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace outpost::traces {
namespace {

constexpr int64_t kNow = 1'795'000'000'000'000'000;
constexpr int64_t kYear2000 = 946'684'800'000'000'000;

Span span(uint64_t trace, uint64_t id, uint64_t parent, Str service, Str name = "op") {
  Span s;
  s.trace_id = trace;
  s.span_id = id;
  s.parent_id = parent;
  s.service = service;
  s.name = name;
  s.resource = "res";
  s.start = kNow - 1'000'000;
  s.duration = 1000;
  return s;
}

DecodedPayload& payloadOf(DecodedPayload& p, std::vector<PayloadVector<Span>> traces) {
  for (auto& t : traces) {
    TraceChunk c;
    c.spans = std::move(t);
    p.payload.chunks.push_back(std::move(c));
  }
  return p;
}

// Normalizes one span alone in its chunk; returns it.
Span normalizeOne(DecodedPayload& p, Span s, NormalizeCounts& counts, Str language = "") {
  p.payload.language_name = language;
  payloadOf(p, {{std::move(s)}});
  normalizePayload(p, {kNow, false}, counts);
  EXPECT_EQ(p.payload.chunks.size(), 1u);
  return p.payload.chunks.at(0).spans.at(0);
}

bool sameView(Str a, Str b) {
  return a.data() == b.data() && a.size() == b.size();
}

TEST(NormalizeTest, TagRules) {
  Arena a;
  const std::pair<std::string, std::string> cases[] = {
      {"web-shop", "web-shop"},
      {"Web Shop!", "web_shop"},
      {"  __leading", "leading"},
      {"1abc", "abc"},
      {":colon:ok", ":colon:ok"},
      {"12.:trim@", ":trim"},
      {"a!!!b", "a_b"},
      {"a__b", "a_b"},  // runs of '_' are one '_' too
      {"a!_b", "a_b"},
      {"a_!b", "a_b"},
      {"fun:ky__tag/1", "fun:ky_tag/1"},
      {"---fun:k####y_ta@#g/1_@@#", "fun:k_y_ta_g/1"},
      {"trailing___", "trailing"},
      {"UPPER.Case/Path-x_y", "upper.case/path-x_y"},
      {"tag:1/2.3", "tag:1/2.3"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},                            // é is a letter
      {"CAF\xc3\x89", "caf\xc3\xa9"},                            // É lower-cased
      {"\xe6\x9d\xb1\xe4\xba\xac", "\xe6\x9d\xb1\xe4\xba\xac"},  // 東京
      {"smile \xf0\x9f\x98\x80 face", "smile_face"},             // an emoji is not a letter
      {"!!!", ""},
      {"", ""},
      {std::string(250, 'a'), std::string(200, 'a')},
      {std::string(199, 'a') + "!b", std::string(199, 'a')},  // cut at 200, trailing '_' dropped
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(normalizeTag(in, a), want) << in;
    // Idempotent: a normalized tag is normal.
    const std::string once(normalizeTag(in, a));
    EXPECT_EQ(normalizeTag(once, a), once) << in;
  }
  const std::string normal = "already-normal:tag/1.2";
  const size_t before = a.size();
  EXPECT_TRUE(sameView(normalizeTag(normal, a), normal));  // no copy when normal
  EXPECT_EQ(a.size(), before);
}

TEST(NormalizeTest, MetricNameRules) {
  Arena a;
  const std::pair<std::string, std::string> cases[] = {
      {"http.request", "http.request"},
      {"Http.Request_2", "Http.Request_2"},  // case is kept
      {"9lives.op", "lives.op"},
      {"_private.op", "private.op"},
      {"my op-name", "my_op_name"},
      {"a_.b", "a.b"},
      {"a__b", "a_b"},
      {"a!@#b", "a_b"},
      {"op_", "op"},
      {"op!!", "op"},
      {"!!!", ""},
      {"123", ""},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(normalizeMetricName(in, a), want) << in;
  }
  const std::string normal = "rack.request";
  EXPECT_TRUE(sameView(normalizeMetricName(normal, a), normal));
}

TEST(NormalizeTest, Utf8SafeTruncation) {
  // é is 2 bytes (2..3), € 3 bytes (4..6), 😀 4 bytes (7..10).
  const std::string s = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
  const std::pair<size_t, std::string> cases[] = {
      {0, ""},
      {2, "ab"},
      {3, "ab"},  // would split é
      {4, "ab\xc3\xa9"},
      {5, "ab\xc3\xa9"},  // would split €
      {6, "ab\xc3\xa9"},
      {7, "ab\xc3\xa9\xe2\x82\xac"},
      {8, "ab\xc3\xa9\xe2\x82\xac"},  // would split 😀
      {10, "ab\xc3\xa9\xe2\x82\xac"},
      {11, "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
      {12, s},
      {100, s},
  };
  for (const auto& [max, want] : cases) {
    EXPECT_EQ(truncateUtf8(s, max), want) << max;
  }
}

TEST(NormalizeTest, Service) {
  struct Case {
    std::string language, in, want;
    uint64_t empty, truncated, invalid;
  };
  const Case cases[] = {
      {"", "", "unnamed-service", 1, 0, 0},
      {"python", "", "unnamed-python-service", 1, 0, 0},
      {"Node JS", "", "unnamed-node_js-service", 1, 0, 0},
      {"", "web-shop", "web-shop", 0, 0, 0},
      {"", "My Service", "my_service", 0, 0, 1},
      {"", std::string(150, 'a'), std::string(100, 'a'), 0, 1, 0},
      // 99 bytes then é (bytes 99..100): the cut at 100 would split it.
      {"", std::string(99, 'a') + "\xc3\xa9", std::string(99, 'a'), 0, 1, 0},
      {"", "!!!", "unnamed-service", 0, 0, 1},
      {"go", "!!!", "unnamed-go-service", 0, 0, 1},
  };
  for (const auto& c : cases) {
    DecodedPayload p;
    NormalizeCounts counts;
    const Span n = normalizeOne(p, span(1, 2, 0, c.in), counts, c.language);
    EXPECT_EQ(n.service, c.want) << c.in;
    EXPECT_EQ(counts.service_empty, c.empty) << c.in;
    EXPECT_EQ(counts.service_truncated, c.truncated) << c.in;
    EXPECT_EQ(counts.service_invalid, c.invalid) << c.in;
  }
}

// Spans of one payload repeat services and names (each is normalized once and the result reused
// while the next span has the same one): every span still gets its own result and is counted.
TEST(NormalizeTest, RepeatedServicesAndNamesInOnePayload) {
  struct Case {
    std::string service, name, want_service, want_name;
  };
  const std::string long_service(150, 's');
  const std::string long_name(120, 'n');
  const Case kinds[] = {
      {"web-shop", "web.request", "web-shop", "web.request"},
      {"My Service", "Bad Name!", "my_service", "Bad_Name"},
      {long_service, long_name, std::string(100, 's'), std::string(100, 'n')},
      {"!!!", "!!!", "unnamed-go-service", "unnamed_operation"},
      {"", "", "unnamed-go-service", "unnamed_operation"},
  };
  // Each kind three times in a row, then every kind once more in turn.
  std::vector<size_t> order;
  for (size_t k = 0; k < std::size(kinds); ++k) {
    order.insert(order.end(), {k, k, k});
  }
  for (size_t k = 0; k < std::size(kinds); ++k) {
    order.push_back(k);
  }
  DecodedPayload p;
  p.payload.language_name = "go";
  PayloadVector<Span> spans;
  for (size_t i = 0; i < order.size(); ++i) {
    const Case& c = kinds[order[i]];
    spans.push_back(span(1, i + 1, i == 0 ? 0 : 1, c.service, c.name));
  }
  payloadOf(p, {std::move(spans)});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  ASSERT_EQ(p.payload.chunks.size(), 1u);
  const auto& out = p.payload.chunks[0].spans;
  ASSERT_EQ(out.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(out[i].service, kinds[order[i]].want_service) << i;
    EXPECT_EQ(out[i].name, kinds[order[i]].want_name) << i;
  }
  EXPECT_EQ(counts.service_empty, 4u);
  EXPECT_EQ(counts.service_truncated, 4u);
  EXPECT_EQ(counts.service_invalid, 8u);
  EXPECT_EQ(counts.name_empty, 4u);
  EXPECT_EQ(counts.name_truncated, 4u);
  EXPECT_EQ(counts.name_invalid, 8u);
}

TEST(NormalizeTest, NameAndResource) {
  struct Case {
    std::string name, resource, want_name, want_resource;
  };
  const std::string long_resource(6000, 'r');
  const std::string utf8_resource = std::string(4999, 'r') + "\xe2\x82\xac";  // € at 4999..5001
  const Case cases[] = {
      {"web.request", "GET /", "web.request", "GET /"},
      {"", "GET /", "unnamed_operation", "GET /"},
      {"", "", "unnamed_operation", "unnamed_operation"},
      {"!!!", "", "unnamed_operation", "unnamed_operation"},
      {"Web Request", "", "Web_Request", "Web_Request"},
      {"op_.x", "r", "op.x", "r"},
      {std::string(150, 'n'), "r", std::string(100, 'n'), "r"},
      {"op", long_resource, "op", std::string(5000, 'r')},
      {"op", utf8_resource, "op", std::string(4999, 'r')},
  };
  for (const auto& c : cases) {
    DecodedPayload p;
    NormalizeCounts counts;
    Span s = span(1, 2, 0, "svc", c.name);
    s.resource = c.resource;
    const Span n = normalizeOne(p, s, counts);
    EXPECT_EQ(n.name, c.want_name) << c.name;
    EXPECT_EQ(n.resource, c.want_resource) << c.name;
  }
}

TEST(NormalizeTest, IdsStartAndDuration) {
  struct Case {
    uint64_t trace, id, parent;
    int64_t start, duration;
    uint64_t want_parent;
    int64_t want_start, want_duration;
  };
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  const Case cases[] = {
      {5, 5, 5, kNow, 10, 0, kNow, 10},        // parent == trace == span: a root
      {5, 6, 5, kNow, 10, 5, kNow, 10},        // parent == trace only: kept
      {5, 6, 6, kNow, 10, 6, kNow, 10},        // parent == span only: kept
      {1, 2, 0, kNow, -5, 0, kNow, 0},         // negative duration
      {1, 2, 0, 10, 100, 0, kNow - 100, 100},  // start before 2000 (a unit mistake)
      {1, 2, 0, kYear2000 - 1, 7, 0, kNow - 7, 7},
      {1, 2, 0, kYear2000, 7, 0, kYear2000, 7},    // exactly 2000-01-01 is valid
      {1, 2, 0, kMax - 10, 100, 0, kMax - 10, 0},  // start + duration overflows
      {1, 2, 0, 0, kNow + 1, 0, kNow, kNow + 1},   // now - duration < 0: now
  };
  for (const auto& c : cases) {
    DecodedPayload p;
    NormalizeCounts counts;
    Span s = span(c.trace, c.id, c.parent, "svc");
    s.start = c.start;
    s.duration = c.duration;
    const Span n = normalizeOne(p, s, counts);
    EXPECT_EQ(n.parent_id, c.want_parent) << c.start << " " << c.duration;
    EXPECT_EQ(n.start, c.want_start) << c.start << " " << c.duration;
    EXPECT_EQ(n.duration, c.want_duration) << c.start << " " << c.duration;
  }
}

TEST(NormalizeTest, HttpStatusCode) {
  const std::pair<std::string, bool> cases[] = {
      {"200", true}, {"100", true},  {"599", true},   {"404", true},
      {"99", false}, {"600", false}, {"1000", false}, {"abc", false},
      {"", false},   {"20x", false}, {"-200", false}, {" 200", false},
  };
  for (const auto& [code, kept] : cases) {
    DecodedPayload p;
    NormalizeCounts counts;
    Span s = span(1, 2, 0, "svc");
    s.meta = {{"a", "1"}, {"http.status_code", code}, {"b", "2"}};
    const Span n = normalizeOne(p, s, counts);
    const Str* v = n.findMeta("http.status_code");
    EXPECT_EQ(v != nullptr, kept) << code;
    EXPECT_EQ(counts.invalid_http_status, kept ? 0u : 1u) << code;
    EXPECT_EQ(n.meta.size(), kept ? 3u : 2u) << code;
    EXPECT_EQ(*n.findMeta("b"), "2");
  }
}

TEST(NormalizeTest, TypeEnvMetaAndMetrics) {
  DecodedPayload p;
  static const std::string long_type(150, 't');
  static const std::string long_key(250, 'k');
  static const std::string long_value(30000, 'v');
  static const std::string utf8_value = std::string(24999, 'v') + "\xc3\xa9";  // é at 24999
  static const std::string long_json(30000, '{');
  Span s = span(1, 2, 0, "svc");
  s.type = long_type;
  s.meta = {{"env", "Prod Env"},
            {long_key, "x"},
            {"big", long_value},
            {"utf8", utf8_value},
            {"_dd.appsec.json", long_json},
            {"_dd.iast.msgpack", long_json},
            {"_dd.x.protobuf", long_json},
            {"not_dd.json", long_json}};
  s.metrics = {{long_key, 1}, {"ok", 2}};
  NormalizeCounts counts;
  const Span n = normalizeOne(p, s, counts);
  EXPECT_EQ(n.type, std::string(100, 't'));
  EXPECT_EQ(*n.findMeta("env"), "prod_env");
  EXPECT_EQ(n.meta[1].first, std::string(200, 'k') + "...");
  EXPECT_EQ(n.meta[1].second, "x");
  EXPECT_EQ(*n.findMeta("big"), std::string(25000, 'v') + "...");
  EXPECT_EQ(*n.findMeta("utf8"), std::string(24999, 'v') + "...");
  EXPECT_EQ(n.findMeta("_dd.appsec.json")->size(), 30000u);  // structured values stay whole
  EXPECT_EQ(n.findMeta("_dd.iast.msgpack")->size(), 30000u);
  EXPECT_EQ(n.findMeta("_dd.x.protobuf")->size(), 30000u);
  EXPECT_EQ(n.findMeta("not_dd.json")->size(), 25003u);
  EXPECT_EQ(n.metrics[0].first, std::string(200, 'k') + "...");
  EXPECT_EQ(n.metrics[1].first, "ok");
  EXPECT_EQ(counts.type_truncated, 1u);
  EXPECT_EQ(counts.env_normalized, 1u);
  EXPECT_EQ(counts.meta_truncated, 4u);  // one key, three values
  EXPECT_EQ(counts.metrics_key_truncated, 1u);
}

TEST(NormalizeTest, AlreadyNormalSpanIsNotCopied) {
  DecodedPayload p;
  const std::string service = "web-shop", name = "rack.request", resource = "GET /cart";
  Span s = span(7, 8, 0, service, name);
  s.resource = resource;
  s.type = "web";
  s.meta = {{"env", "prod"}, {"http.status_code", "200"}, {"http.method", "GET"}};
  s.metrics = {{"_sampling_priority_v1", 1}};
  payloadOf(p, {{s}});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  const Span& n = p.payload.chunks.at(0).spans.at(0);
  EXPECT_TRUE(sameView(n.service, service));
  EXPECT_TRUE(sameView(n.name, name));
  EXPECT_TRUE(sameView(n.resource, resource));
  EXPECT_EQ(p.arena.size(), 0u);
  EXPECT_EQ(n.meta.size(), 3u);
  const NormalizeCounts zero;
  EXPECT_EQ(std::memcmp(&counts, &zero, sizeof counts), 0);
}

TEST(NormalizeTest, InvalidChunksAreDroppedAndCounted) {
  DecodedPayload p;
  payloadOf(p, {{span(1, 1, 0, "a")},
                {span(0, 5, 0, "a")},                      // zero trace id
                {span(4, 5, 0, "a"), span(4, 0, 5, "a")},  // zero span id
                {span(2, 3, 0, "a"), span(9, 4, 3, "a")},  // foreign span
                {},                                        // empty
                {span(3, 7, 0, "a"), span(3, 8, 7, "a")}});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  ASSERT_EQ(p.payload.chunks.size(), 2u);
  EXPECT_EQ(p.payload.chunks[0].spans[0].trace_id, 1u);
  EXPECT_EQ(p.payload.chunks[1].spans.size(), 2u);
  EXPECT_EQ(p.payload.chunks[1].spans[1].span_id, 8u);
  EXPECT_EQ(counts.dropped_zero_id, 2u);
  EXPECT_EQ(counts.dropped_foreign_span, 1u);
  EXPECT_EQ(counts.dropped_empty, 1u);
}

TEST(NormalizeTest, TopLevelPriorityAndOrigin) {
  DecodedPayload p;
  Span root = span(5, 1, 0, "web");
  root.metrics = {{"_sampling_priority_v1", 2}};
  root.meta = {{"_dd.origin", "synthetics"}};
  Span same = span(5, 2, 1, "web");
  same.metrics = {{"_top_level", 1}};  // stale: the Agent's computation wins
  Span other = span(5, 3, 2, "db");
  Span orphan = span(5, 4, 99, "web");
  Span child_of_db = span(5, 5, 3, "db");
  payloadOf(p, {{same, root, other, orphan, child_of_db}});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  const TraceChunk& c = p.payload.chunks.at(0);
  EXPECT_EQ(c.priority, 2);
  EXPECT_EQ(c.origin, "synthetics");
  EXPECT_FALSE(isTopLevel(c.spans[0]));  // same service as its parent
  EXPECT_EQ(c.spans[0].findMetric("_top_level"), nullptr);
  EXPECT_TRUE(isTopLevel(c.spans[1]));   // root
  EXPECT_TRUE(isTopLevel(c.spans[2]));   // another service than its parent
  EXPECT_TRUE(isTopLevel(c.spans[3]));   // parent not in the chunk
  EXPECT_FALSE(isTopLevel(c.spans[4]));  // same service as its parent
  EXPECT_EQ(rootSpanIndex(c), 1u);

  // The tracer computed top-level itself: its flags stay as sent, nothing is added.
  DecodedPayload q;
  Span flagged = span(6, 2, 1, "web");
  flagged.metrics = {{"_dd.top_level", 1}};
  payloadOf(q, {{span(6, 1, 0, "web"), span(6, 3, 1, "db"), flagged}});
  normalizePayload(q, {kNow, true}, counts);
  const TraceChunk& d = q.payload.chunks.at(0);
  EXPECT_FALSE(isTopLevel(d.spans[0]));
  EXPECT_FALSE(isTopLevel(d.spans[1]));
  EXPECT_TRUE(isTopLevel(d.spans[2]));
}

TEST(NormalizeTest, TopLevelInALargeChunk) {
  // More than 32 spans takes the hashed path: a chain where every tenth span changes service.
  DecodedPayload p;
  PayloadVector<Span> spans;
  const std::string services[] = {"s0", "s1", "s2", "s3", "s4"};
  for (uint64_t i = 1; i <= 50; ++i) {
    spans.push_back(span(9, i, i - 1, services[(i - 1) / 10]));
  }
  spans.push_back(span(9, 100, 12345, "s0"));  // orphan
  payloadOf(p, {std::move(spans)});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  const TraceChunk& c = p.payload.chunks.at(0);
  for (uint64_t i = 1; i <= 50; ++i) {
    const bool want = i == 1 || (i - 1) % 10 == 0;
    EXPECT_EQ(isTopLevel(c.spans[i - 1]), want) << i;
  }
  EXPECT_TRUE(isTopLevel(c.spans[50]));
  EXPECT_EQ(rootSpanIndex(c), 0u);
}

TEST(NormalizeTest, RootSpanIndex) {
  auto chunkOf = [](PayloadVector<Span> spans) {
    TraceChunk c;
    c.spans = std::move(spans);
    return c;
  };
  // parent 0 wins wherever it is
  EXPECT_EQ(rootSpanIndex(chunkOf({span(1, 2, 1, "a"), span(1, 1, 0, "a")})), 1u);
  // no parent 0: the span whose parent is not in the chunk
  EXPECT_EQ(rootSpanIndex(chunkOf({span(1, 3, 2, "a"), span(1, 2, 77, "a"), span(1, 4, 3, "a")})),
            1u);
  // a cycle: the last span
  EXPECT_EQ(rootSpanIndex(chunkOf({span(1, 2, 3, "a"), span(1, 3, 2, "a")})), 1u);
  // large chunk, orphan at the end
  PayloadVector<Span> many;
  for (uint64_t i = 2; i <= 40; ++i) {
    many.push_back(span(1, i, i + 1, "a"));
  }
  EXPECT_EQ(rootSpanIndex(chunkOf(many)), 38u);  // span 40's parent 41 is missing
}

TEST(NormalizeTest, ChunkPriority) {
  struct Case {
    int32_t chunk_priority;
    bool has_metric;
    double metric;
    int32_t want;
  };
  const Case cases[] = {
      {kPriorityNone, true, 1, 1},
      {kPriorityNone, true, -1, -1},
      {kPriorityNone, true, 0, 0},
      {kPriorityNone, false, 0, kPriorityNone},
      {2, true, 0, 2},  // the chunk's own priority wins
      {kPriorityNone, true, NAN, kPriorityNone},
      {kPriorityNone, true, 1e12, kPriorityNone},
  };
  for (const auto& c : cases) {
    DecodedPayload p;
    Span root = span(1, 1, 0, "a");
    if (c.has_metric) {
      root.metrics = {{"_sampling_priority_v1", c.metric}};
    }
    Span child = span(1, 2, 1, "a");
    child.metrics = {{"_sampling_priority_v1", 2}};  // only the root counts
    payloadOf(p, {{child, root}});
    p.payload.chunks[0].priority = c.chunk_priority;
    NormalizeCounts counts;
    normalizePayload(p, {kNow, false}, counts);
    EXPECT_EQ(p.payload.chunks.at(0).priority, c.want) << c.metric;
  }
}

TEST(NormalizeTest, SpanFlags) {
  Span s;
  EXPECT_FALSE(isTopLevel(s));
  EXPECT_FALSE(isMeasured(s));
  EXPECT_FALSE(isPartialSnapshot(s));
  s.metrics = {{"_top_level", 0}, {"_dd.measured", 1}, {"_dd.partial_version", 0}};
  EXPECT_FALSE(isTopLevel(s));
  EXPECT_TRUE(isMeasured(s));
  EXPECT_TRUE(isPartialSnapshot(s));
  s.metrics = {{"_dd.top_level", 1}, {"_dd.measured", 0}, {"_dd.partial_version", -1}};
  EXPECT_TRUE(isTopLevel(s));
  EXPECT_FALSE(isMeasured(s));
  EXPECT_FALSE(isPartialSnapshot(s));
}

// Not a benchmark: shows normalizing 100k already-normal spans is linear and copies nothing.
TEST(NormalizeTest, HundredThousandNormalSpans) {
  DecodedPayload p;
  static const std::string keys[] = {"env",          "version",         "http.method", "http.url",
                                     "http.route",   "component",       "span.kind",   "language",
                                     "peer.service", "http.status_code"};
  for (uint64_t t = 0; t < 10'000; ++t) {
    TraceChunk c;
    for (uint64_t i = 0; i < 10; ++i) {
      Span s = span(t + 1, i + 1, i, i < 5 ? "web-shop" : "postgres", "rack.request");
      s.type = "web";
      for (const auto& k : keys) {
        s.meta.emplace_back(k, k == "http.status_code" ? "200" : "value");
      }
      s.metrics = {{"_sampling_priority_v1", 1}, {"_dd.measured", 1}, {"process_id", 42}};
      c.spans.push_back(std::move(s));
    }
    p.payload.chunks.push_back(std::move(c));
  }
  NormalizeCounts counts;
  const auto t0 = std::chrono::steady_clock::now();
  normalizePayload(p, {kNow, false}, counts);
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("normalize: 100000 spans in %.2f ms (%.1f ns/span)\n", ns / 1e6, ns / 1e5);
  EXPECT_EQ(p.payload.chunks.size(), 10'000u);
  EXPECT_EQ(p.arena.size(), 0u);
  EXPECT_TRUE(isTopLevel(p.payload.chunks[0].spans[5]));
  EXPECT_FALSE(isTopLevel(p.payload.chunks[0].spans[6]));
}

}  // namespace
}  // namespace outpost::traces
