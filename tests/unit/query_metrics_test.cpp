#include <gtest/gtest.h>

#include <cmath>

#include "collector/query/metric_store.h"
#include "core/strings.h"

namespace outpost::query {
namespace {

constexpr int64_t kT0 = 1795338000;  // 2026-11-22T09:00:00Z, a multiple of 60

Serie gauge(std::string name, std::vector<std::string> tags, std::string host,
            std::vector<std::pair<int64_t, double>> points, std::string device = "") {
  Serie s;
  s.name = std::move(name);
  s.tags = std::move(tags);
  s.host = std::move(host);
  s.device = std::move(device);
  s.type = SeriesType::kGauge;
  s.points = std::move(points);
  return s;
}

MetricQuery parse(std::string_view text) {
  MetricQuery q;
  std::string error;
  EXPECT_TRUE(parseMetricQuery(text, &q, &error)) << error;
  return q;
}

std::string parseError(std::string_view text) {
  MetricQuery q;
  std::string error;
  EXPECT_FALSE(parseMetricQuery(text, &q, &error)) << text;
  return error;
}

nlohmann::json run(const MetricStore& store, std::string_view text, int64_t from, int64_t to,
                   size_t max_points = 360) {
  MetricQueryOptions o;
  o.from_s = from;
  o.to_s = to;
  o.max_points = max_points;
  std::string error;
  auto r = store.query(parse(text), o, &error);
  EXPECT_TRUE(r.has_value()) << error;
  return r.value_or(nlohmann::json::object());
}

TEST(MetricQueryTest, ParsesTheDatadogSubset) {
  MetricQuery q = parse("avg:system.cpu.user{host:a,!device:sda} by {device}.rollup(max, 60)");
  EXPECT_EQ(q.space, MetricQuery::Agg::kAvg);
  EXPECT_EQ(q.metric, "system.cpu.user");
  ASSERT_EQ(q.filters.size(), 2u);
  EXPECT_EQ(q.filters[0].key, "host");
  EXPECT_EQ(q.filters[0].value, "a");
  EXPECT_FALSE(q.filters[0].negated);
  EXPECT_EQ(q.filters[1].key, "device");
  EXPECT_EQ(q.filters[1].value, "sda");
  EXPECT_TRUE(q.filters[1].negated);
  EXPECT_EQ(q.group_by, (std::vector<std::string>{"device"}));
  EXPECT_EQ(q.rollup, MetricQuery::Agg::kMax);
  EXPECT_EQ(q.rollup_s, 60);

  q = parse("system.load.1");
  EXPECT_EQ(q.space, MetricQuery::Agg::kAvg);
  EXPECT_TRUE(q.filters.empty());
  EXPECT_FALSE(q.rollup.has_value());
  q = parse("sum:app.hits{*}.as_count()");
  EXPECT_EQ(q.space, MetricQuery::Agg::kSum);
  EXPECT_TRUE(q.as_count);
  q = parse("max:system.load.1.rollup(120)");
  EXPECT_EQ(q.metric, "system.load.1");
  EXPECT_EQ(q.rollup_s, 120);
  q = parse("count:x{env:prod AND -service:web*, team} by {host, device}");
  ASSERT_EQ(q.filters.size(), 3u);
  EXPECT_TRUE(q.filters[1].negated);
  EXPECT_EQ(q.filters[1].value, "web*");
  EXPECT_EQ(q.filters[2].key, "");
  EXPECT_EQ(q.filters[2].value, "team");
  EXPECT_EQ(q.group_by, (std::vector<std::string>{"host", "device"}));
}

TEST(MetricQueryTest, ErrorsSayWhatIsWrong) {
  EXPECT_NE(parseError("").find("empty"), std::string::npos);
  EXPECT_NE(parseError("p99:x{*}").find("unknown aggregator 'p99'"), std::string::npos);
  EXPECT_NE(parseError("avg:x{host:a").find("'{' without '}'"), std::string::npos);
  EXPECT_NE(parseError("avg:x{*} by host").find("'by' needs"), std::string::npos);
  EXPECT_NE(parseError("avg:x{*}.rollup(median)").find("median"), std::string::npos);
  EXPECT_NE(parseError("avg:x{*}.timeshift(3600)").find("unknown function 'timeshift'"),
            std::string::npos);
  EXPECT_NE(parseError("avg:x{host:}").find("key:value"), std::string::npos);
  EXPECT_NE(parseError("avg:{*}").find("no metric name"), std::string::npos);
}

TEST(MetricQueryTest, GlobAndFilters) {
  EXPECT_TRUE(globMatch("sd*", "sda"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(globMatch("a*b*c", "axxbyy"));
  EXPECT_FALSE(globMatch("sda", "sdab"));
  const std::vector<std::string> tags = {"device:sda1", "env:prod", "host:web-1", "team"};
  EXPECT_TRUE(matchFilters(tags, parse("x{device:sd*,env:prod}").filters));
  EXPECT_FALSE(matchFilters(tags, parse("x{!device:sd*}").filters));
  EXPECT_TRUE(matchFilters(tags, parse("x{team}").filters));
  EXPECT_FALSE(matchFilters(tags, parse("x{env:dev}").filters));
  EXPECT_TRUE(matchFilters(tags, parse("x{!region:*}").filters));
  EXPECT_FALSE(matchFilters(tags, parse("x{region:*}").filters));
}

TEST(MetricStoreTest, GroupsRollsUpAndAggregatesAcrossSeries) {
  MetricStore store;
  // Two devices on host a, one on host b; a point every 10 s for 2 minutes.
  std::vector<Serie> series;
  for (int i = 0; i < 12; ++i) {
    const int64_t ts = kT0 + i * 10;
    series.push_back(gauge("system.io.util", {"env:prod"}, "a", {{ts, 10.0 + i}}, "sda"));
    series.push_back(gauge("system.io.util", {"env:prod"}, "a", {{ts, 20.0}}, "sdb"));
    series.push_back(gauge("system.io.util", {"env:dev"}, "b", {{ts, 1.0}}, "sda"));
  }
  store.add(series);

  // avg by device over 60 s rollups (avg in time, then avg across hosts).
  auto r = run(store, "avg:system.io.util{*} by {device}.rollup(avg, 60)", kT0, kT0 + 119);
  EXPECT_EQ(r["interval_s"], 60);
  ASSERT_EQ(r["series"].size(), 2u) << r.dump();
  const auto& sda = r["series"][0];
  EXPECT_EQ(sda["scope"], "device:sda");
  EXPECT_EQ(sda["contexts"], 2);
  ASSERT_EQ(sda["points"].size(), 2u);
  // host a sda over the first minute: 10..15 → 12.5; host b: 1 → avg 6.75.
  EXPECT_EQ(sda["points"][0][0], kT0 * 1000);
  EXPECT_DOUBLE_EQ(sda["points"][0][1].get<double>(), (12.5 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(sda["points"][1][1].get<double>(), (18.5 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(r["series"][1]["points"][0][1].get<double>(), 20.0);

  // Filters with negation; max rollup; sum across series.
  r = run(store, "sum:system.io.util{env:prod,!device:sdb}.rollup(max,60)", kT0, kT0 + 119);
  ASSERT_EQ(r["series"].size(), 1u);
  EXPECT_EQ(r["series"][0]["scope"], "*");
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][0][1].get<double>(), 15.0);
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][1][1].get<double>(), 21.0);
  EXPECT_DOUBLE_EQ(r["series"][0]["summary"]["max"].get<double>(), 21.0);
  EXPECT_DOUBLE_EQ(r["series"][0]["summary"]["last"].get<double>(), 21.0);

  // count: how many series reported; by host.
  r = run(store, "count:system.io.util{*} by {host}.rollup(60)", kT0, kT0 + 59);
  ASSERT_EQ(r["series"].size(), 2u);
  EXPECT_EQ(r["series"][0]["group"]["host"], "a");
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][0][1].get<double>(), 2.0);

  // At most max_series groups (the first by key), the rest counted.
  {
    MetricQueryOptions o;
    o.from_s = kT0;
    o.to_s = kT0 + 59;
    o.max_series = 1;
    std::string error;
    auto t = store.query(parse("avg:system.io.util{*} by {host}"), o, &error);
    ASSERT_TRUE(t.has_value()) << error;
    EXPECT_EQ((*t)["series"].size(), 1u);
    EXPECT_EQ((*t)["series"][0]["group"]["host"], "a");
    EXPECT_EQ((*t)["series_total"], 2);
    EXPECT_EQ((*t)["truncated"], true);
  }

  // A tag key a series lacks groups it under N/A.
  r = run(store, "avg:system.io.util{*} by {team}", kT0, kT0 + 59);
  ASSERT_EQ(r["series"].size(), 1u);
  EXPECT_EQ(r["series"][0]["group"]["team"], "N/A");
  EXPECT_EQ(r["series"][0]["contexts"], 3);
}

TEST(MetricStoreTest, NativeResolutionGapsAndDefaultInterval) {
  MetricStore store;
  store.add({gauge("g", {}, "h", {{kT0, 1}, {kT0 + 30, 4}})});
  auto r = run(store, "avg:g{*}", kT0, kT0 + 30);
  EXPECT_EQ(r["interval_s"], 10);
  ASSERT_EQ(r["series"][0]["points"].size(), 4u);
  EXPECT_TRUE(r["series"][0]["points"][1][1].is_null());
  EXPECT_TRUE(r["series"][0]["points"][2][1].is_null());
  EXPECT_EQ(r["series"][0]["points"][3][1], 4.0);
  // A 30-minute range with at most 18 points: 100 s buckets.
  r = run(store, "avg:g{*}", kT0, kT0 + 1799, 18);
  EXPECT_EQ(r["interval_s"], 100);
  EXPECT_LE(r["series"][0]["points"].size(), 19u);
  // An unaligned rollup is rounded up to whole 10 s slots.
  r = run(store, "avg:g{*}.rollup(25)", kT0, kT0 + 59);
  EXPECT_EQ(r["interval_s"], 30);
}

TEST(MetricStoreTest, CountsAddUpInASlotAndRollUpBySum) {
  MetricStore store;
  Serie c = gauge("hits", {}, "h", {{kT0, 3}, {kT0 + 5, 2}, {kT0 + 10, 5}});
  c.type = SeriesType::kCount;
  store.add({c});
  auto r = run(store, "sum:hits{*}.rollup(60)", kT0, kT0 + 59);
  EXPECT_EQ(r["rollup"], "sum");
  EXPECT_EQ(r["type"], "count");
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][0][1].get<double>(), 10.0);
  r = run(store, "sum:hits{*}.rollup(60).as_rate()", kT0, kT0 + 59);
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][0][1].get<double>(), 10.0 / 60);
  // A gauge keeps the last value of a slot.
  store.add({gauge("g", {}, "h", {{kT0, 3}, {kT0 + 5, 2}})});
  r = run(store, "avg:g{*}", kT0, kT0 + 9);
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][0][1].get<double>(), 2.0);
}

TEST(MetricStoreTest, RetentionRingCapAndRecycling) {
  MetricStoreOptions o;
  o.retention_s = 120;  // 12 slots
  o.max_contexts = 2;
  MetricStore store(o);
  store.add({gauge("a", {}, "h", {{kT0, 1}}), gauge("b", {}, "h", {{kT0, 1}}),
             gauge("c", {}, "h", {{kT0, 1}})});
  auto s = store.stats();
  EXPECT_EQ(s.contexts, 2u);
  EXPECT_EQ(s.contexts_refused, 1u);
  // Points older than the ring are counted, not stored.
  store.add({gauge("a", {}, "h", {{kT0 + 200, 7}, {kT0, 9}})});
  EXPECT_EQ(store.stats().points_too_old, 1u);
  auto r = run(store, "avg:a{*}", kT0 - 100, kT0 + 200);
  double sum = 0;
  for (const auto& p : r["series"][0]["points"]) {
    if (!p[1].is_null()) {
      sum += p[1].get<double>();
    }
  }
  EXPECT_EQ(sum, 7.0);  // the point at kT0 fell out of the ring when kT0+200 arrived
  // b has been silent for a whole retention: recycled, so c now fits.
  store.add({gauge("a", {}, "h", {{kT0 + 400, 1}})});
  store.add({gauge("c", {}, "h", {{kT0 + 400, 1}})});
  s = store.stats();
  EXPECT_EQ(s.contexts, 2u);
  EXPECT_EQ(store.list("", {}, 10, "")["metrics"].size(), 2u);
  EXPECT_EQ(store.list("", {}, 10, "")["metrics"][1]["name"], "c");
}

TEST(MetricStoreTest, ListsWithPrefixFiltersAndPages) {
  MetricStore store;
  store.add({gauge("system.cpu.user", {"env:prod"}, "a", {{kT0, 1}}),
             gauge("system.cpu.idle", {"env:prod"}, "a", {{kT0, 1}}),
             gauge("system.mem.used", {"env:dev"}, "a", {{kT0, 1}}),
             gauge("app.requests", {}, "a", {{kT0, 1}}, "sda")});
  auto l = store.list("system.", {}, 2, "");
  ASSERT_EQ(l["metrics"].size(), 2u);
  EXPECT_EQ(l["metrics"][0]["name"], "system.cpu.idle");
  EXPECT_EQ(l["metrics"][0]["tag_keys"], (nlohmann::json{"env", "host"}));
  EXPECT_EQ(l["truncated"], true);
  EXPECT_EQ(l["next_cursor"], "system.cpu.user");
  l = store.list("system.", {}, 2, l["next_cursor"].get<std::string>());
  ASSERT_EQ(l["metrics"].size(), 1u);
  EXPECT_EQ(l["metrics"][0]["name"], "system.mem.used");
  EXPECT_EQ(l["truncated"], false);
  l = store.list("", parse("x{env:prod}").filters, 10, "");
  EXPECT_EQ(l["metrics"].size(), 2u);
  l = store.list("app", {}, 10, "");
  EXPECT_EQ(l["metrics"][0]["tag_keys"], (nlohmann::json{"device", "host"}));
}

TEST(MetricStoreTest, UnknownMetricAndUnmatchedFiltersGiveHints) {
  MetricStore store;
  store.add({gauge("g", {"env:prod"}, "h", {{kT0, 1}})});
  auto r = run(store, "avg:nope{*}", kT0, kT0 + 60);
  EXPECT_TRUE(r["series"].empty());
  EXPECT_NE(r["hints"][0].get<std::string>().find("no metric named nope"), std::string::npos);
  r = run(store, "avg:g{env:dev}", kT0, kT0 + 60);
  EXPECT_NE(r["hints"][0].get<std::string>().find("none matches"), std::string::npos);
}

TEST(MetricStoreTest, DistributionsKeepTheirAverage) {
  MetricStore store;
  SketchSerie d;
  d.name = "latency";
  d.host = "h";
  d.points.push_back({.ts = kT0, .cnt = 4, .min = 1, .max = 7, .sum = 12, .avg = 3});
  store.addSketches({d});
  auto r = run(store, "avg:latency{*}", kT0, kT0 + 9);
  EXPECT_DOUBLE_EQ(r["series"][0]["points"][0][1].get<double>(), 3.0);
}

TEST(QueryStringTest, DecodesEscapes) {
  const auto q =
      parseQueryString("prefix=system.&tag_filter=host%3Aa%2C%21device%3Asda&x&y=a+b%zz");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[1].second, "host:a,!device:sda");
  EXPECT_EQ(q[2].first, "x");
  EXPECT_EQ(q[2].second, "");
  EXPECT_EQ(q[3].second, "a b%zz");
}

}  // namespace
}  // namespace outpost::query
