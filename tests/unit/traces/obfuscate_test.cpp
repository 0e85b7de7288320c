#include "collector/sources/traces/obfuscate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace outpost::traces {
namespace {

bool sameView(Str a, Str b) {
  return a.data() == b.data() && a.size() == b.size();
}

TEST(ObfuscateSqlTest, LiteralsBecomeQuestionMarks) {
  const std::pair<std::string, std::string> cases[] = {
      // numbers
      {"SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?"},
      {"SELECT * FROM t WHERE a = -7", "SELECT * FROM t WHERE a = ?"},
      {"SELECT * FROM t WHERE a = -1.5e3 AND b = 0xFF", "SELECT * FROM t WHERE a = ? AND b = ?"},
      {"SELECT * FROM t WHERE a > 3.14 OR b < .5", "SELECT * FROM t WHERE a > ? OR b < ?"},
      {"select * from t where ts > '2024-01-01' and n = 1e-5",
       "select * from t where ts > ? and n = ?"},
      {"SELECT a - 1 FROM t", "SELECT a - ? FROM t"},  // a binary minus stays
      {"SELECT a FROM t LIMIT 10 OFFSET 20", "SELECT a FROM t LIMIT ? OFFSET ?"},
      {"SELECT a FROM t WHERE b >= 3 AND c <> 4 AND d != 5",
       "SELECT a FROM t WHERE b >= ? AND c <> ? AND d != ?"},
      // strings, with both kinds of escaped quote
      {"SELECT * FROM t WHERE name = 'bob' AND x = 'it''s'",
       "SELECT * FROM t WHERE name = ? AND x = ?"},
      {"SELECT * FROM t WHERE a = 'x\\'y' AND b = 1", "SELECT * FROM t WHERE a = ? AND b = ?"},
      {"DELETE FROM sessions WHERE token = 'abc123'", "DELETE FROM sessions WHERE token = ?"},
      {"SELECT * FROM t WHERE name LIKE '%abc%'", "SELECT * FROM t WHERE name LIKE ?"},
      {"SELECT X'DEADBEEF', N'unicode', E'esc\\n'", "SELECT ?, ?, ?"},
      {"SELECT 'a' || 'b'", "SELECT ? || ?"},
      {"SELECT $$secret$$", "SELECT ?"},
      {"SELECT $body$it's secret$body$ AS x", "SELECT ? AS x"},
      // booleans; NULL is a keyword
      {"UPDATE t SET a = TRUE, b = false WHERE c = NULL",
       "UPDATE t SET a = ?, b = ? WHERE c = NULL"},
      {"UPDATE users SET password = 'hunter2' WHERE id = 5",
       "UPDATE users SET password = ? WHERE id = ?"},
      // lists
      {"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN ( ? )"},
      {"SELECT * FROM t WHERE id IN ('a','b')", "SELECT * FROM t WHERE id IN ( ? )"},
      {"SELECT * FROM t WHERE id IN (-1, -2)", "SELECT * FROM t WHERE id IN ( ? )"},
      {"INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t ( a, b ) VALUES ( ? )"},
      {"INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES ( ? ), ( ? )"},
      // comments and white space
      {"SELECT a -- the a column\nFROM t /* comment */ WHERE b = 2", "SELECT a FROM t WHERE b = ?"},
      {"/* leading */ SELECT 1", "SELECT ?"},
      {"SELECT a FROM t # mysql comment", "SELECT a FROM t"},
      {"SELECT   a\n\tFROM    t", "SELECT a FROM t"},
      // what stays: placeholders, identifiers, operators
      {"SELECT * FROM t WHERE a = $1 AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = ?"},
      {"SELECT * FROM t WHERE a = :name AND b = @p1",
       "SELECT * FROM t WHERE a = :name AND b = @p1"},
      {"SELECT * FROM \"Users\" WHERE \"id\" = 7", "SELECT * FROM \"Users\" WHERE \"id\" = ?"},
      {"SELECT `name` FROM `t` WHERE x = 'y'", "SELECT `name` FROM `t` WHERE x = ?"},
      {"SELECT t1.col, t2.col FROM t1 JOIN t2 ON t1.id = t2.id",
       "SELECT t1.col, t2.col FROM t1 JOIN t2 ON t1.id = t2.id"},
      {"SELECT count(*) FROM t WHERE x = 1", "SELECT count ( * ) FROM t WHERE x = ?"},
      {"SELECT x::int FROM t", "SELECT x :: int FROM t"},
      // unterminated: the rest of the query is hidden
      {"SELECT * FROM t WHERE a = 'unterminated secret", "SELECT * FROM t WHERE a = ?"},
      {"SELECT * FROM t WHERE a = 'it''s open", "SELECT * FROM t WHERE a = ?"},
      {"SELECT * FROM t WHERE a = \"unterminated secret", "SELECT * FROM t WHERE a = ?"},
      {"SELECT $$never closed", "SELECT ?"},
      {"SELECT a FROM t /* unterminated comment 'secret'", "SELECT a FROM t"},
      {"", ""},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(Obfuscator::obfuscateSql(in), want) << in;
  }
  EXPECT_GE(std::size(cases), 25u);
}

TEST(ObfuscateSqlTest, NoSecretSurvives) {
  // Whatever the shape, the secret text never comes out.
  const std::string queries[] = {
      "SELECT 'S3CR3T'",
      "SELECT * FROM t WHERE x = 'S3CR3T",
      "SELECT * FROM t WHERE x = 'a\\'S3CR3T'",
      "SELECT * FROM t WHERE x = 'a''S3CR3T'",
      "SELECT $q$S3CR3T$q$",
      "SELECT E'S3CR3T'",
      "SELECT 1 -- S3CR3T",
      "SELECT 1 /* S3CR3T */",
      "SELECT \"S3CR3T",
  };
  for (const auto& q : queries) {
    EXPECT_EQ(Obfuscator::obfuscateSql(q).find("S3CR3T"), std::string::npos) << q;
  }
}

TEST(ObfuscateRedisTest, ArgumentsBecomeQuestionMarks) {
  const std::pair<std::string, std::string> cases[] = {
      {"SET key value", "SET key ?"},
      {"SET key value EX 60", "SET key ?"},
      {"GET key", "GET key"},
      {"get key", "get key"},
      {"LPUSH list a b c", "LPUSH list ?"},
      {"AUTH my-password", "AUTH ?"},
      {"AUTH user pass", "AUTH ?"},
      {"MSET k1 v1 k2 v2", "MSET k1 ? k2 ?"},
      {"MSETNX k1 v1", "MSETNX k1 ?"},
      {"HSET h f1 v1 f2 v2", "HSET h f1 ? f2 ?"},
      {"HMSET h f v", "HMSET h f ?"},
      {"EVAL \"return redis.call('get', KEYS[1])\" 1 key", "EVAL ?"},
      {"EVALSHA abc123 1 k", "EVALSHA ?"},
      {"CONFIG SET maxmemory 1gb", "CONFIG SET ?"},
      {"SET \"my key\" \"secret value\"", "SET \"my key\" ?"},
      {"PING", "PING"},
      {"HSET h f1 v1\nEXPIRE h 60", "HSET h f1 ?\nEXPIRE h ?"},
      {"SET k v\n\nGET k", "SET k ?\nGET k"},
      {"", ""},
      // Edges of the word scanner and of the command lookup.
      {"MSET", "MSET"},
      {"HSET h", "HSET h"},
      {"HSET h f1", "HSET h f1"},
      {"  GET\tkey  ", "GET key"},
      {"   \n GET k", "GET k"},
      {"SET \"unterminated value", "SET \"unterminated value"},
      {"SET 'a\\'b' c", "SET 'a\\'b' ?"},
      {"AVERYLONGCOMMANDNAME a b", "AVERYLONGCOMMANDNAME a ?"},
      {"authx a b", "authx a ?"},
      {"mset k1 v1 k2", "mset k1 ? k2"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(Obfuscator::obfuscateRedis(in), want) << in;
  }
}

TEST(ObfuscateRedisTest, Quantize) {
  const std::pair<std::string, std::string> cases[] = {
      {"SET k v\nGET k", "SET GET"},
      {"set k v", "SET"},
      {"CLIENT LIST", "CLIENT LIST"},
      {"config get maxmemory", "CONFIG GET"},
      {"GET a\nGET b\nGET c\nGET d", "GET GET GET ..."},
      {"", ""},
      {" \n \n", ""},
      {"client", "CLIENT"},
      {"averylongcommandname x", "AVERYLONGCOMMANDNAME"},
      {"object\tencoding k", "OBJECT ENCODING"},
      {"GET a\n\nGET b\nGET c\nGET d", "GET GET GET ..."},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(Obfuscator::quantizeRedis(in), want) << in;
  }
}

TEST(ObfuscateHttpTest, Url) {
  struct Case {
    std::string url;
    bool query, digits;
    std::string want;
  };
  const Case cases[] = {
      {"http://h/users/123/orders?token=x", true, true, "http://h/users/?/orders?"},
      {"http://h/users/123?x=1", true, false, "http://h/users/123?"},
      {"http://h/users/123?x=1", false, true, "http://h/users/??x=1"},
      {"/api/v1/items/42", false, true, "/api/?/items/?"},
      {"http://h/a/b", true, true, "http://h/a/b"},
      {"http://h", false, true, "http://h"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Obfuscator::obfuscateHttpUrl(c.url, c.query, c.digits), c.want) << c.url;
  }
}

Obfuscator allOn() {
  return Obfuscator({.sql = true,
                     .redis = true,
                     .memcached = true,
                     .http_remove_query_string = true,
                     .http_remove_paths_with_digits = true,
                     .credit_cards = true});
}

TEST(ObfuscateSpanTest, Sql) {
  Arena arena;
  const Obfuscator o = allOn();
  Span s;
  s.type = "sql";
  s.resource = "SELECT * FROM t WHERE id = 7";
  s.meta = {{"db.statement", "SELECT 'x'"}};
  o.obfuscateSpan(s, arena);
  EXPECT_EQ(s.resource, "SELECT * FROM t WHERE id = ?");
  EXPECT_EQ(*s.findMeta("sql.query"), "SELECT * FROM t WHERE id = ?");
  EXPECT_EQ(*s.findMeta("db.statement"), "SELECT ?");

  // sql.query given apart from the resource: both obfuscated.
  Span c;
  c.type = "cassandra";
  c.resource = "SELECT * FROM ks.t WHERE k = 'a'";
  c.meta = {{"sql.query", "SELECT * FROM ks.t WHERE k = 'a' LIMIT 5"}};
  o.obfuscateSpan(c, arena);
  EXPECT_EQ(c.resource, "SELECT * FROM ks.t WHERE k = ?");
  EXPECT_EQ(*c.findMeta("sql.query"), "SELECT * FROM ks.t WHERE k = ? LIMIT ?");

  // Nothing to hide: the views stay, nothing is copied.
  const std::string clean = "SELECT a FROM t WHERE b = ?";
  Span k;
  k.type = "sql";
  k.resource = clean;
  const size_t before = arena.size();
  o.obfuscateSpan(k, arena);
  EXPECT_TRUE(sameView(k.resource, clean));
  EXPECT_TRUE(sameView(*k.findMeta("sql.query"), clean));
  EXPECT_EQ(arena.size(), before);

  Span only_comment;
  only_comment.type = "sql";
  only_comment.resource = "-- just a comment";
  o.obfuscateSpan(only_comment, arena);
  EXPECT_EQ(only_comment.resource, "?");

  Span off;
  off.type = "sql";
  off.resource = "SELECT 1";
  Obfuscator({.sql = false}).obfuscateSpan(off, arena);
  EXPECT_EQ(off.resource, "SELECT 1");
  EXPECT_EQ(off.findMeta("sql.query"), nullptr);
}

// The cache answers exactly what obfuscation answers, stays within its bound, and is off when
// configured off.
TEST(ObfuscateSpanTest, SqlCache) {
  const std::vector<std::string> queries = {
      "SELECT * FROM t WHERE id = 7",           "SELECT a FROM t WHERE b = ?",  "-- only a comment",
      "UPDATE u SET p = 'secret' WHERE id = 3", "SELECT * FROM t WHERE id = 7",
  };
  Obfuscator cached({.cache = true, .cache_max_bytes = 1'000'000});
  Obfuscator plain({.cache = false});
  Arena arena;
  for (int round = 0; round < 3; ++round) {
    for (const auto& q : queries) {
      Span a;
      a.type = "sql";
      a.resource = q;
      Span b = a;
      cached.obfuscateSpan(a, arena);
      plain.obfuscateSpan(b, arena);
      EXPECT_EQ(a.resource, b.resource) << q;
      EXPECT_EQ(*a.findMeta("sql.query"), *b.findMeta("sql.query")) << q;
      if (q == "SELECT a FROM t WHERE b = ?") {
        EXPECT_TRUE(sameView(a.resource, q));  // unchanged: still the tracer's bytes
      }
    }
  }
  const auto st = cached.cacheStats();
  EXPECT_EQ(st.entries, 4u);
  EXPECT_EQ(st.misses, 4u);
  EXPECT_EQ(st.hits, 11u);
  EXPECT_EQ(plain.cacheStats().entries, 0u);
  EXPECT_EQ(plain.cacheStats().hits, 0u);

  // A small bound: the cache starts over instead of growing past it.
  Obfuscator small({.cache = true, .cache_max_bytes = 4000});
  for (int i = 0; i < 200; ++i) {
    Span s;
    s.type = "sql";
    const std::string q = "SELECT c" + std::to_string(i) + " FROM t WHERE x = 1";
    s.resource = q;
    small.obfuscateSpan(s, arena);
    EXPECT_EQ(s.resource, "SELECT c" + std::to_string(i) + " FROM t WHERE x = ?");
    EXPECT_LE(small.cacheStats().bytes, 4000u);
  }
  EXPECT_GT(small.cacheStats().entries, 0u);
  EXPECT_LT(small.cacheStats().entries, 200u);
}

TEST(ObfuscateSpanTest, RedisValkeyMemcachedHttp) {
  Arena arena;
  const Obfuscator o = allOn();
  Span redis;
  redis.type = "redis";
  redis.resource = "SET session:1 secret";
  redis.meta = {{"redis.raw_command", "SET session:1 secret"}};
  o.obfuscateSpan(redis, arena);
  EXPECT_EQ(*redis.findMeta("redis.raw_command"), "SET session:1 ?");
  EXPECT_EQ(redis.resource, "SET");

  Span js;  // dd-trace-js puts the command name in the resource
  js.type = "redis";
  js.resource = "get";
  js.meta = {{"redis.raw_command", "GET session:1"}};
  o.obfuscateSpan(js, arena);
  EXPECT_EQ(js.resource, "GET");
  EXPECT_EQ(*js.findMeta("redis.raw_command"), "GET session:1");

  Span valkey;
  valkey.type = "valkey";
  valkey.resource = "AUTH pw";
  valkey.meta = {{"valkey.raw_command", "AUTH pw\nGET k"}};
  o.obfuscateSpan(valkey, arena);
  EXPECT_EQ(*valkey.findMeta("valkey.raw_command"), "AUTH ?\nGET k");
  EXPECT_EQ(valkey.resource, "AUTH");

  const std::pair<std::string, std::string> memcached[] = {
      {"set key 0 0 5 value", "set"},
      {"get key", "get"},
      {"set\r\nsecret", "set"},
      {"stats", "stats"},
  };
  for (const auto& [in, want] : memcached) {
    Span mc;
    mc.type = "memcached";
    mc.meta = {{"memcached.command", in}};
    o.obfuscateSpan(mc, arena);
    EXPECT_EQ(*mc.findMeta("memcached.command"), want) << in;
  }

  Span web;
  web.type = "web";
  web.meta = {{"http.url", "https://x/y/42?card=1"}};
  o.obfuscateSpan(web, arena);
  EXPECT_EQ(*web.findMeta("http.url"), "https://x/y/??");

  Span http_off;
  http_off.type = "http";
  http_off.meta = {{"http.url", "https://x/y/42?card=1"}};
  Obfuscator({}).obfuscateSpan(http_off, arena);
  EXPECT_EQ(*http_off.findMeta("http.url"), "https://x/y/42?card=1");
}

TEST(ObfuscateSpanTest, CreditCards) {
  const std::pair<std::string, bool> cases[] = {
      {"4111 1111 1111 1111", true},  // Visa
      {"4111111111111111", true},
      {"5555-5555-5555-4444", true},  // Mastercard
      {"378282246310005", true},      // Amex
      {"6011111111111117", true},     // Discover
      {"4111111111111112", false},    // Luhn fails
      {"1234567812345670", false},    // Luhn passes, no issuer starts with 12
      {"card 4111111111111111", false},
      {"12345", false},
      {"", false},
  };
  Arena arena;
  for (const auto& [value, hidden] : cases) {
    Span s;
    s.type = "web";
    s.meta = {{"payment.card", value}, {"_dd.internal", value}};
    allOn().obfuscateSpan(s, arena);
    EXPECT_EQ(*s.findMeta("payment.card"), hidden ? "?" : value) << value;
    EXPECT_EQ(*s.findMeta("_dd.internal"), value) << value;
  }
  Span s;
  s.meta = {{"payment.card", "4111111111111111"}};
  Obfuscator({}).obfuscateSpan(s, arena);  // off by default
  EXPECT_EQ(*s.findMeta("payment.card"), "4111111111111111");
}

Span withResource(uint64_t id, uint64_t parent, Str resource) {
  Span s;
  s.trace_id = 1;
  s.span_id = id;
  s.parent_id = parent;
  s.resource = resource;
  return s;
}

TEST(ResourceFilterTest, IgnoreResources) {
  ResourceFilter f;
  std::string error;
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE(f.compile({"^ok$", "(unclosed"}, &error));
  EXPECT_EQ(error.rfind("invalid regex '(unclosed': ", 0), 0u) << error;
  EXPECT_TRUE(f.empty());  // nothing half-compiled is kept

  ASSERT_TRUE(f.compile({"^GET /health", "(?i)ping$"}, &error));
  EXPECT_FALSE(f.empty());
  TraceChunk c;
  c.spans.push_back(withResource(1, 0, "GET /healthz"));
  EXPECT_TRUE(f.ignored(c));
  c.spans[0].resource = "redis PING";
  EXPECT_TRUE(f.ignored(c));
  c.spans[0].resource = "GET /cart";
  EXPECT_FALSE(f.ignored(c));
  c.spans[0].resource = "POST /api/health";  // anchored pattern
  EXPECT_FALSE(f.ignored(c));

  // Only the root span's resource counts.
  TraceChunk d;
  d.spans = {withResource(2, 1, "GET /health"), withResource(1, 0, "GET /cart")};
  EXPECT_FALSE(f.ignored(d));
  d.spans[1].resource = "GET /health";
  EXPECT_TRUE(f.ignored(d));

  EXPECT_FALSE(f.ignored(TraceChunk{}));
  ASSERT_TRUE(f.compile({}, &error));
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE(f.ignored(d));
}

}  // namespace
}  // namespace outpost::traces
