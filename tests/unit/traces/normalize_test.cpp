#include "collector/sources/traces/normalize.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collector/sources/traces/obfuscate.h"

namespace outpost::traces {
namespace {

constexpr int64_t kNow = 1'795'000'000'000'000'000;

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

DecodedPayload& payloadOf(DecodedPayload& p, std::vector<std::vector<Span>> traces) {
  for (auto& t : traces) {
    TraceChunk c;
    c.spans = std::move(t);
    p.payload.chunks.push_back(std::move(c));
  }
  return p;
}

TEST(NormalizeTest, TagRules) {
  Arena a;
  const std::pair<std::string, std::string> cases[] = {
      {"web-shop", "web-shop"},
      {"Web Shop!", "web_shop"},
      {"  __leading", "leading"},
      {"1abc", "abc"},
      {":colon:ok", ":colon:ok"},
      {"a!!!b", "a_b"},
      {"a__b", "a__b"},  // '_' is a valid character; only runs of invalid ones collapse
      {"trailing___", "trailing"},
      {"UPPER.Case/Path-x_y", "upper.case/path-x_y"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"CAF\xc3\x89", "caf\xc3\xa9"},
      {"!!!", ""},
      {std::string(250, 'a'), std::string(200, 'a')},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(normalizeTag(in, a), want) << in;
  }
  const std::string normal = "already-normal";
  EXPECT_EQ(normalizeTag(normal, a).data(), normal.data());  // no copy when normal
}

TEST(NormalizeTest, MetricNameRules) {
  Arena a;
  EXPECT_EQ(normalizeMetricName("http.request", a), "http.request");
  EXPECT_EQ(normalizeMetricName("9lives.op", a), "lives.op");
  EXPECT_EQ(normalizeMetricName("my op-name", a), "my_op_name");
  EXPECT_EQ(normalizeMetricName("a_.b", a), "a.b");
  EXPECT_EQ(normalizeMetricName("!!!", a), "");
}

TEST(NormalizeTest, Utf8SafeTruncation) {
  const std::string s =
      "ab\xc3\xa9"
      "cd";  // é is 2 bytes at 2..3
  EXPECT_EQ(truncateUtf8(s, 3), "ab");
  EXPECT_EQ(truncateUtf8(s, 4), "ab\xc3\xa9");
  EXPECT_EQ(truncateUtf8(s, 100), s);
}

TEST(NormalizeTest, FieldsAreFixedAsTheAgentDoes) {
  DecodedPayload p;
  p.payload.language_name = "python";
  Span s = span(1, 2, 0, "", "");
  s.resource = "";
  s.duration = -5;
  s.start = 10;  // before 2000
  static const std::string long_type(150, 't');
  s.type = long_type;
  static const std::string long_value(30000, 'v');
  static const std::string long_key(250, 'k');
  s.meta = {{"http.status_code", "999"}, {"env", "Prod Env"}, {long_key, "x"}, {"big", long_value}};
  s.metrics = {{long_key, 1}};
  payloadOf(p, {{s}});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  const Span& n = p.payload.chunks.at(0).spans.at(0);
  EXPECT_EQ(n.service, "unnamed-python-service");
  EXPECT_EQ(n.name, "unnamed_operation");
  EXPECT_EQ(n.resource, "unnamed_operation");
  EXPECT_EQ(n.duration, 0);
  EXPECT_EQ(n.start, kNow);
  EXPECT_EQ(n.type.size(), 100u);
  EXPECT_EQ(n.findMeta("http.status_code"), nullptr);
  EXPECT_EQ(*n.findMeta("env"), "prod_env");
  EXPECT_EQ(n.meta[1].first, std::string(200, 'k') + "...");
  EXPECT_EQ(n.findMeta("big")->size(), 25003u);
  EXPECT_EQ(n.metrics[0].first.size(), 203u);
  EXPECT_EQ(counts.service_empty, 1u);
  EXPECT_EQ(counts.invalid_http_status, 1u);
  EXPECT_EQ(*n.findMetric("_top_level"), 1);
}

TEST(NormalizeTest, InvalidChunksAreDroppedAndCounted) {
  DecodedPayload p;
  payloadOf(p, {{span(1, 1, 0, "a")},
                {span(0, 5, 0, "a")},                      // zero trace id
                {span(2, 3, 0, "a"), span(9, 4, 3, "a")},  // foreign span
                {},                                        // empty
                {span(3, 7, 0, "a")}});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  ASSERT_EQ(p.payload.chunks.size(), 2u);
  EXPECT_EQ(p.payload.chunks[0].spans[0].trace_id, 1u);
  EXPECT_EQ(p.payload.chunks[1].spans[0].trace_id, 3u);
  EXPECT_EQ(counts.dropped_zero_id, 1u);
  EXPECT_EQ(counts.dropped_foreign_span, 1u);
  EXPECT_EQ(counts.dropped_empty, 1u);
}

TEST(NormalizeTest, TopLevelPriorityAndOrigin) {
  DecodedPayload p;
  Span root = span(5, 1, 0, "web");
  root.metrics = {{"_sampling_priority_v1", 2}};
  root.meta = {{"_dd.origin", "synthetics"}};
  Span same = span(5, 2, 1, "web");
  Span other = span(5, 3, 2, "db");
  Span orphan = span(5, 4, 99, "web");
  payloadOf(p, {{root, same, other, orphan}});
  NormalizeCounts counts;
  normalizePayload(p, {kNow, false}, counts);
  const TraceChunk& c = p.payload.chunks.at(0);
  EXPECT_EQ(c.priority, 2);
  EXPECT_EQ(c.origin, "synthetics");
  EXPECT_TRUE(isTopLevel(c.spans[0]));   // root
  EXPECT_FALSE(isTopLevel(c.spans[1]));  // same service as its parent
  EXPECT_TRUE(isTopLevel(c.spans[2]));   // another service
  EXPECT_TRUE(isTopLevel(c.spans[3]));   // parent not in the chunk
  EXPECT_EQ(rootSpanIndex(c), 0u);

  // The tracer already marked top-level spans: nothing is added.
  DecodedPayload q;
  payloadOf(q, {{span(6, 1, 0, "web"), span(6, 2, 1, "db")}});
  normalizePayload(q, {kNow, true}, counts);
  EXPECT_FALSE(isTopLevel(q.payload.chunks[0].spans[1]));
}

TEST(ObfuscateTest, SqlLiteralsBecomeQuestionMarks) {
  const std::pair<std::string, std::string> cases[] = {
      {"SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?"},
      {"SELECT * FROM t WHERE name = 'bob' AND x = 'it''s'",
       "SELECT * FROM t WHERE name = ? AND x = ?"},
      {"SELECT * FROM t WHERE a = 'x\\'y'", "SELECT * FROM t WHERE a = ?"},
      {"SELECT * FROM t WHERE a = -1.5e3 AND b = 0xFF", "SELECT * FROM t WHERE a = ? AND b = ?"},
      {"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN ( ? )"},
      {"SELECT * FROM t WHERE id IN ('a','b')", "SELECT * FROM t WHERE id IN ( ? )"},
      {"INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t ( a, b ) VALUES ( ? )"},
      {"UPDATE t SET a = TRUE, b = false WHERE c = NULL",
       "UPDATE t SET a = ?, b = ? WHERE c = NULL"},
      {"SELECT a -- the a column\nFROM t /* comment */ WHERE b = 2", "SELECT a FROM t WHERE b = ?"},
      {"SELECT   a\n\tFROM    t", "SELECT a FROM t"},
      {"SELECT * FROM t WHERE a = $1", "SELECT * FROM t WHERE a = $1"},
      {"SELECT $$secret$$", "SELECT ?"},
      {"SELECT * FROM \"Users\" WHERE \"id\" = 7", "SELECT * FROM \"Users\" WHERE \"id\" = ?"},
      {"SELECT * FROM t WHERE a = 'unterminated secret", "SELECT * FROM t WHERE a = ?"},
      {"SELECT t1.col, t2.col FROM t1 JOIN t2 ON t1.id = t2.id",
       "SELECT t1.col, t2.col FROM t1 JOIN t2 ON t1.id = t2.id"},
      {"SELECT a FROM t LIMIT 10 OFFSET 20", "SELECT a FROM t LIMIT ? OFFSET ?"},
      {"SELECT a FROM t WHERE b >= 3 AND c <> 4", "SELECT a FROM t WHERE b >= ? AND c <> ?"},
      {"DELETE FROM sessions WHERE token = 'abc123'", "DELETE FROM sessions WHERE token = ?"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(Obfuscator::obfuscateSql(in), want) << in;
  }
}

TEST(ObfuscateTest, RedisMemcachedHttpAndCards) {
  EXPECT_EQ(Obfuscator::obfuscateRedis("SET key value"), "SET key ?");
  EXPECT_EQ(Obfuscator::obfuscateRedis("GET key"), "GET key");
  EXPECT_EQ(Obfuscator::obfuscateRedis("AUTH my-password"), "AUTH ?");
  EXPECT_EQ(Obfuscator::obfuscateRedis("HSET h f v\nEXPIRE h 60"), "HSET h ?\nEXPIRE h ?");
  EXPECT_EQ(Obfuscator::obfuscateRedis("CONFIG SET maxmemory 1gb"), "CONFIG SET ?");
  EXPECT_EQ(Obfuscator::quantizeRedis("SET k v\nGET k"), "SET GET");
  EXPECT_EQ(Obfuscator::obfuscateHttpUrl("http://h/users/123/orders?token=x", true, true),
            "http://h/users/?/orders?");

  Arena arena;
  Obfuscator o({.sql = true,
                .redis = true,
                .memcached = true,
                .http_remove_query_string = true,
                .http_remove_paths_with_digits = false,
                .credit_cards = true});
  Span sql;
  sql.type = "sql";
  sql.resource = "SELECT * FROM t WHERE id = 7";
  o.obfuscateSpan(sql, arena);
  EXPECT_EQ(sql.resource, "SELECT * FROM t WHERE id = ?");
  EXPECT_EQ(*sql.findMeta("sql.query"), "SELECT * FROM t WHERE id = ?");

  Span redis;
  redis.type = "redis";
  redis.resource = "SET session:1 secret";
  redis.meta = {{"redis.raw_command", "SET session:1 secret"}};
  o.obfuscateSpan(redis, arena);
  EXPECT_EQ(*redis.findMeta("redis.raw_command"), "SET session:1 ?");
  EXPECT_EQ(redis.resource, "SET");

  Span mc;
  mc.type = "memcached";
  mc.meta = {{"memcached.command", "set key 0 0 5 value"}};
  o.obfuscateSpan(mc, arena);
  EXPECT_EQ(*mc.findMeta("memcached.command"), "set");

  Span web;
  web.type = "web";
  web.meta = {{"http.url", "https://x/y?card=1"}, {"card", "4111 1111 1111 1111"}};
  o.obfuscateSpan(web, arena);
  EXPECT_EQ(*web.findMeta("http.url"), "https://x/y?");
  EXPECT_EQ(*web.findMeta("card"), "?");
}

TEST(ObfuscateTest, IgnoreResources) {
  ResourceFilter f;
  std::string error;
  EXPECT_FALSE(f.compile({"(unclosed"}, &error));
  EXPECT_NE(error.find("(unclosed"), std::string::npos);
  ASSERT_TRUE(f.compile({"^GET /health", "ping$"}, &error));
  TraceChunk c;
  c.spans.push_back(span(1, 1, 0, "s"));
  c.spans[0].resource = "GET /healthz";
  EXPECT_TRUE(f.ignored(c));
  c.spans[0].resource = "GET /cart";
  EXPECT_FALSE(f.ignored(c));
}

}  // namespace
}  // namespace outpost::traces
