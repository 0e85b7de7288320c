#include <gtest/gtest.h>

#include "collector/query/trace_store.h"
#include "collector/sources/traces/decoder.h"
#include "tests/support/trace_bodies.h"

namespace outpost::query {
namespace {

using testing::Trace;
using testing::TraceSpan;

constexpr int64_t kT0 = 1795338000'000'000'000;  // 2026-11-22T09:00:00Z in ns
constexpr int64_t kMs = 1'000'000;

// A request as the receiver hands it over: decoded, every chunk kept unless `dropped`.
std::unique_ptr<traces::DecodedPayload> request(const std::vector<Trace>& ts,
                                                std::vector<bool> dropped = {}) {
  auto dp = std::make_unique<traces::DecodedPayload>();
  dp->body = testing::v04Body(ts);
  std::string error;
  EXPECT_TRUE(decodeTraces(traces::TraceApiVersion::kV04, "application/msgpack", *dp, &error))
      << error;
  for (size_t i = 0; i < dp->payload.chunks.size(); ++i) {
    dp->payload.chunks[i].kept = i >= dropped.size() || !dropped[i];
  }
  return dp;
}

// A web request (root) with a db child; `error` on the child.
Trace webTrace(uint64_t id, const std::string& service, int64_t start_ms, int64_t dur_ms,
               bool error = false, const std::string& resource = "GET /cart") {
  TraceSpan root{service,
                 "http.request",
                 resource,
                 "web",
                 id,
                 id * 10,
                 0,
                 kT0 + start_ms * kMs,
                 dur_ms * kMs,
                 0,
                 {{"env", "prod"}, {"http.status_code", error ? "500" : "200"}},
                 {{"_sampling_priority_v1", 1}}};
  TraceSpan db{service + "-db",
               "postgres.query",
               "SELECT ?",
               "sql",
               id,
               id * 10 + 1,
               id * 10,
               kT0 + (start_ms + 1) * kMs,
               (dur_ms / 2) * kMs,
               error ? 1 : 0,
               error ? std::vector<std::pair<std::string, std::string>>{{"error.message",
                                                                         "deadlock detected"}}
                     : std::vector<std::pair<std::string, std::string>>{},
               {}};
  return {root, db};
}

TEST(TraceStoreTest, SearchFiltersSortsAndPages) {
  TraceStore store(64 << 20);
  store.add(request({webTrace(1, "checkout", 0, 120), webTrace(2, "checkout", 1000, 900, true),
                     webTrace(3, "auth", 2000, 40)}));
  store.add(request(
      {webTrace(4, "checkout", 3000, 300, false, "POST /pay"), webTrace(5, "auth", 4000, 10)},
      {false, true}));  // trace 5 sampled out: not kept

  TraceSearch s;
  auto r = store.search(s);
  EXPECT_EQ(r["total"], 4);
  ASSERT_EQ(r["traces"].size(), 4u);
  EXPECT_EQ(r["traces"][0]["trace_id"], "4");  // newest first
  EXPECT_EQ(r["stored_traces"], 4);

  s.service = "checkout";
  s.sort = TraceSearch::Sort::kSlowest;
  r = store.search(s);
  ASSERT_EQ(r["traces"].size(), 3u);
  EXPECT_EQ(r["traces"][0]["trace_id"], "2");
  EXPECT_DOUBLE_EQ(r["traces"][0]["duration_ms"].get<double>(), 900);
  EXPECT_EQ(r["traces"][0]["errors"], 1);
  EXPECT_EQ(r["traces"][0]["error"]["message"], "deadlock detected");
  EXPECT_EQ(r["traces"][0]["error"]["service"], "checkout-db");
  EXPECT_EQ(r["traces"][0]["http_status_code"], "500");
  EXPECT_EQ(r["traces"][0]["services"], (nlohmann::json{"checkout", "checkout-db"}));
  EXPECT_EQ(r["traces"][0]["start"], "2026-11-22T09:00:01.000Z");
  EXPECT_EQ(r["traces"][0]["trace_id_hex"], "00000000000000000000000000000002");

  // A child's service matches too; error only; resource substring; min duration.
  s = {};
  s.service = "checkout-db";
  s.error_only = true;
  r = store.search(s);
  ASSERT_EQ(r["traces"].size(), 1u);
  EXPECT_EQ(r["traces"][0]["service"], "checkout");
  s = {};
  s.resource = "/pay";
  EXPECT_EQ(store.search(s)["traces"][0]["trace_id"], "4");
  s = {};
  s.min_duration_ms = 200;
  EXPECT_EQ(store.search(s)["total"], 2);
  s = {};
  s.operation = "postgres.query";
  s.from_ms = kT0 / kMs + 1500;
  s.to_ms = kT0 / kMs + 3500;
  r = store.search(s);
  ASSERT_EQ(r["traces"].size(), 2u);  // traces 3 and 4 started in the range
  EXPECT_EQ(r["traces"][0]["trace_id"], "4");

  // Paging: two pages of 2, the cursor an offset.
  s = {};
  s.limit = 2;
  r = store.search(s);
  EXPECT_EQ(r["truncated"], true);
  EXPECT_EQ(r["next_cursor"], "2");
  s.offset = 2;
  r = store.search(s);
  EXPECT_EQ(r["traces"].size(), 2u);
  EXPECT_EQ(r["truncated"], false);
  EXPECT_EQ(r["next_cursor"], "");
}

TEST(TraceStoreTest, WholeTraceWithDepthMetaAndPartialChunks) {
  TraceStore store(64 << 20);
  store.add(request({webTrace(7, "checkout", 0, 100, true)}));
  // A later chunk of the same trace (a partial flush): a grandchild.
  TraceSpan late{"checkout", "cache.get",   "GET key", "cache", 7,  72,
                 71,         kT0 + 5 * kMs, 2 * kMs,   0,       {}, {{"_dd.measured", 1}}};
  store.add(request({{late}}));
  for (const char* id : {"7", "0x7", "0000000000000007", "00000000000000000000000000000007"}) {
    auto t = store.trace(id, 100, true);
    ASSERT_TRUE(t.has_value()) << id;
    EXPECT_EQ((*t)["span_count"], 3);
  }
  auto t = store.trace("7", 100, true);
  EXPECT_EQ((*t)["service"], "checkout");
  EXPECT_EQ((*t)["errors"], 1);
  const auto& spans = (*t)["spans"];
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0]["name"], "http.request");
  EXPECT_EQ(spans[0]["depth"], 0);
  EXPECT_EQ(spans[1]["name"], "postgres.query");
  EXPECT_EQ(spans[1]["depth"], 1);
  EXPECT_EQ(spans[1]["meta"]["error.message"], "deadlock detected");
  EXPECT_EQ(spans[2]["name"], "cache.get");
  EXPECT_EQ(spans[2]["depth"], 2);
  EXPECT_DOUBLE_EQ(spans[2]["start_offset_ms"].get<double>(), 5);
  EXPECT_EQ(spans[2]["metrics"]["_dd.measured"], 1.0);
  // The search sees one trace of three spans.
  auto r = store.search({});
  ASSERT_EQ(r["traces"].size(), 1u);
  EXPECT_EQ(r["traces"][0]["spans"], 3);
  EXPECT_EQ(r["traces"][0]["name"], "http.request");

  t = store.trace("7", 1, false);
  EXPECT_EQ((*t)["spans"].size(), 1u);
  EXPECT_EQ((*t)["truncated"], true);
  EXPECT_FALSE((*t)["spans"][0].contains("meta"));
  EXPECT_FALSE(store.trace("8", 10, true).has_value());
  EXPECT_FALSE(store.trace("xyz", 10, true).has_value());
}

TEST(TraceStoreTest, OldestRequestsEvictedOverTheBudget) {
  // Each request is a few KB; a budget of about three of them.
  const size_t one = [] {
    TraceStore probe(1 << 30);
    probe.add(request({webTrace(1, "a", 0, 10)}));
    return probe.statusJson()["bytes"].get<size_t>();
  }();
  TraceStore store(one * 3 + one / 2);
  for (uint64_t i = 1; i <= 10; ++i) {
    store.add(request({webTrace(i, "a", static_cast<int64_t>(i) * 100, 10)}));
  }
  const auto st = store.statusJson();
  EXPECT_EQ(st["traces"], 3);
  EXPECT_EQ(st["chunks_evicted"], 7);
  EXPECT_LE(st["bytes"].get<size_t>(), one * 3 + one / 2);
  EXPECT_FALSE(store.trace("7", 10, true).has_value());
  EXPECT_TRUE(store.trace("8", 10, true).has_value());
  EXPECT_EQ(store.search({})["traces"][0]["trace_id"], "10");
  // A request with no kept chunk is not held.
  store.add(request({webTrace(11, "a", 2000, 10)}, {true}));
  EXPECT_EQ(store.statusJson()["traces"], 3);
}

TEST(TraceStoreTest, TraceIds) {
  EXPECT_EQ(parseTraceId("12345"), 12345u);
  EXPECT_EQ(parseTraceId("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parseTraceId("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parseTraceId("00000000000000ff"), 255u);
  EXPECT_EQ(parseTraceId("0xff"), 255u);
  EXPECT_EQ(parseTraceId("6560a1b2000000000000000000000abc"), 0xabcu);
  EXPECT_EQ(parseTraceId(""), std::nullopt);
  EXPECT_EQ(parseTraceId("12g"), std::nullopt);
}

}  // namespace
}  // namespace outpost::query
