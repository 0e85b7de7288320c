#include "collector/aggregator/aggregator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace outpost::aggregator {
namespace {

constexpr int64_t kT0 = 1'700'000'000;  // a bucket start (divisible by 10)

class AggregatorTest : public ::testing::Test {
 protected:
  Aggregator make(Aggregator::Options o = {}) {
    if (o.hostname.empty()) {
      o.hostname = "myhost";
    }
    return Aggregator(std::move(o), telemetry_);
  }
  static SampleInput sample(std::string_view name, MetricType type, double value,
                            std::span<const std::string_view> tags = {}) {
    SampleInput s;
    s.name = name;
    s.type = type;
    s.value = value;
    s.tags = tags;
    return s;
  }
  static const Serie* find(const Aggregator::Flush& f, std::string_view name) {
    for (const auto& s : f.series) {
      if (s.name == name) {
        return &s;
      }
    }
    return nullptr;
  }
  using Points = std::vector<std::pair<int64_t, double>>;
  Telemetry telemetry_;
};

TEST_F(AggregatorTest, GaugesKeepTheLastValuePerBucketStampedWithItsStart) {
  auto agg = make();
  agg.add(sample("temp", MetricType::kGauge, 1), kT0 + 1);
  agg.add(sample("temp", MetricType::kGauge, 5), kT0 + 9);
  agg.add(sample("temp", MetricType::kGauge, 7), kT0 + 12);
  // Nothing closed yet at kT0 + 9.
  EXPECT_TRUE(agg.flush(kT0 + 9).series.empty());
  auto f = agg.flush(kT0 + 20);
  const Serie* s = find(f, "temp");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, SeriesType::kGauge);
  EXPECT_EQ(s->interval, 10);
  EXPECT_EQ(s->host, "myhost");
  EXPECT_EQ(s->points, (Points{{kT0, 5}, {kT0 + 10, 7}}));
  EXPECT_EQ(s->origin.product, 10u);
  EXPECT_EQ(s->origin.category, 10u);
}

TEST_F(AggregatorTest, CountersAreRatesCorrectedBySampleRateAndThenReportZero) {
  Aggregator::Options o;
  o.counter_expiry_seconds = 30;
  auto agg = make(o);
  auto c = sample("hits", MetricType::kCounter, 1);
  agg.add(c, kT0);
  agg.add(c, kT0 + 3);
  c.sample_rate = 0.5;  // counts for 2
  agg.add(c, kT0 + 5);
  agg.add(sample("hits", MetricType::kCounter, 10), kT0 + 25);
  auto f = agg.flush(kT0 + 30);
  const Serie* s = find(f, "hits");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, SeriesType::kRate);
  // (1 + 1 + 2) / 10, then 0 for the empty bucket, then 10 / 10.
  EXPECT_EQ(s->points, (Points{{kT0, 0.4}, {kT0 + 10, 0}, {kT0 + 20, 1}}));
  // Zeros for counter_expiry_seconds after the last sample, then nothing and the context goes.
  f = agg.flush(kT0 + 100);
  s = find(f, "hits");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->points, (Points{{kT0 + 30, 0}, {kT0 + 40, 0}, {kT0 + 50, 0}}));
  EXPECT_EQ(agg.contexts(), 0u);
  EXPECT_TRUE(agg.flush(kT0 + 200).series.empty());
}

TEST_F(AggregatorTest, SetsCountUniqueValues) {
  auto agg = make();
  for (const char* user : {"ann", "bob", "ann", "cid", "bob"}) {
    auto s = sample("users", MetricType::kSet, 0);
    s.set_value = user;
    agg.add(s, kT0 + 2);
  }
  auto f = agg.flush(kT0 + 10);
  ASSERT_NE(find(f, "users"), nullptr);
  EXPECT_EQ(find(f, "users")->points, (Points{{kT0, 3}}));
  EXPECT_EQ(find(f, "users")->type, SeriesType::kGauge);
}

TEST_F(AggregatorTest, HistogramsGiveTheAgentsAggregatesAndPercentiles) {
  Aggregator::Options o;
  o.histogram_aggregates = {"max", "median", "avg", "count", "min", "sum"};
  o.histogram_percentiles = {"0.95", "0.5"};
  auto agg = make(o);
  for (int v = 100; v >= 1; --v) {  // order does not matter
    agg.add(sample("latency", MetricType::kHistogram, v), kT0 + 1);
  }
  auto f = agg.flush(kT0 + 10);
  auto value = [&](const char* name) {
    const Serie* s = find(f, name);
    EXPECT_NE(s, nullptr) << name;
    return s ? s->points.at(0).second : -1;
  };
  EXPECT_EQ(value("latency.max"), 100);
  EXPECT_EQ(value("latency.min"), 1);
  EXPECT_EQ(value("latency.median"), 50);  // first cumulative weight > (100-1)/2
  EXPECT_EQ(value("latency.avg"), 50.5);
  EXPECT_EQ(value("latency.sum"), 5050);
  EXPECT_EQ(value("latency.count"), 10);  // 100 samples / 10 s
  EXPECT_EQ(find(f, "latency.count")->type, SeriesType::kRate);
  EXPECT_EQ(value("latency.95percentile"), 95);  // rank (95*100-1)/100 = 94
  EXPECT_EQ(value("latency.50percentile"), 50);
  EXPECT_EQ(find(f, "latency.max")->type, SeriesType::kGauge);
}

TEST_F(AggregatorTest, HistogramSampleRatesWeighTheSamples) {
  auto agg = make();
  auto s = sample("t", MetricType::kTiming, 10);
  s.sample_rate = 0.25;  // weight 4
  agg.add(s, kT0);
  agg.add(sample("t", MetricType::kTiming, 20), kT0);
  auto f = agg.flush(kT0 + 10);
  EXPECT_EQ(find(f, "t.count")->points, (Points{{kT0, 0.5}}));  // 5 / 10
  EXPECT_EQ(find(f, "t.avg")->points, (Points{{kT0, 12}}));     // (40 + 20) / 5
  EXPECT_EQ(find(f, "t.median")->points, (Points{{kT0, 10}}));
  EXPECT_EQ(find(f, "t.max")->points, (Points{{kT0, 20}}));
}

TEST_F(AggregatorTest, DistributionsBecomeOneSketchPerBucket) {
  auto agg = make();
  for (int i = 1; i <= 1000; ++i) {
    agg.add(sample("req.size", MetricType::kDistribution, i), kT0 + 1);
  }
  agg.add(sample("req.size", MetricType::kDistribution, 5), kT0 + 11);
  auto f = agg.flush(kT0 + 20);
  EXPECT_TRUE(f.series.empty());
  ASSERT_EQ(f.sketches.size(), 1u);
  const SketchSerie& sk = f.sketches[0];
  EXPECT_EQ(sk.name, "req.size");
  EXPECT_EQ(sk.host, "myhost");
  ASSERT_EQ(sk.points.size(), 2u);
  EXPECT_EQ(sk.points[0].ts, kT0);
  EXPECT_EQ(sk.points[0].cnt, 1000);
  EXPECT_EQ(sk.points[0].min, 1);
  EXPECT_EQ(sk.points[0].max, 1000);
  EXPECT_EQ(sk.points[0].sum, 500500);
  EXPECT_FALSE(sk.points[0].k.empty());
  EXPECT_EQ(sk.points[0].k.size(), sk.points[0].n.size());
  EXPECT_TRUE(std::is_sorted(sk.points[0].k.begin(), sk.points[0].k.end()));
  EXPECT_EQ(sk.points[1].cnt, 1);
  EXPECT_EQ(sk.points[1].k, std::vector<int32_t>{DDSketch::keyFor(5)});
}

TEST_F(AggregatorTest, TimestampedSamplesBypassTheBuckets) {
  auto agg = make();
  auto g = sample("queue", MetricType::kGauge, 42);
  g.timestamp = kT0 - 3600;
  EXPECT_TRUE(agg.add(g, kT0));
  auto c = sample("jobs", MetricType::kCounter, 30);
  c.timestamp = kT0 - 7;
  EXPECT_TRUE(agg.add(c, kT0));
  auto h = sample("lat", MetricType::kHistogram, 1);
  h.timestamp = kT0 - 7;
  EXPECT_FALSE(agg.add(h, kT0));
  EXPECT_EQ(telemetry_.valueOf("outpost.aggregator.dropped", {"reason:unsupported_timestamped"}),
            1);
  auto f = agg.flush(kT0);  // no bucket closed, but timestamped points go out at once
  EXPECT_EQ(find(f, "queue")->points, (Points{{kT0 - 3600, 42}}));
  EXPECT_EQ(find(f, "queue")->type, SeriesType::kGauge);
  EXPECT_EQ(find(f, "jobs")->points, (Points{{kT0 - 7, 3}}));
  EXPECT_EQ(find(f, "jobs")->type, SeriesType::kRate);
}

TEST_F(AggregatorTest, ContextsAreNameSortedTagsAndHostWithExtraTagsAndDevices) {
  Aggregator::Options o;
  o.extra_tags = {"env:prod", "team:core"};
  auto agg = make(o);
  const std::string_view tags_a[] = {"b:2", "a:1", "team:core", "device:sda1"};
  const std::string_view tags_b[] = {"device:sda1", "a:1", "b:2"};  // same context
  agg.add(sample("io", MetricType::kGauge, 1, tags_a), kT0);
  agg.add(sample("io", MetricType::kGauge, 2, tags_b), kT0 + 1);
  auto other_host = sample("io", MetricType::kGauge, 3, tags_b);
  other_host.host = "db-1";
  other_host.has_host = true;
  agg.add(other_host, kT0 + 1);
  auto no_host = sample("io", MetricType::kGauge, 4, tags_b);
  no_host.has_host = true;  // `host:` with an empty value
  agg.add(no_host, kT0 + 1);
  EXPECT_EQ(agg.contexts(), 3u);
  auto f = agg.flush(kT0 + 10);
  ASSERT_EQ(f.series.size(), 3u);
  for (const auto& s : f.series) {
    EXPECT_EQ(s.tags, (std::vector<std::string>{"a:1", "b:2", "env:prod", "team:core"}));
    EXPECT_EQ(s.device, "sda1");
    if (s.host == "myhost") {
      EXPECT_EQ(s.points, (Points{{kT0, 2}}));
    } else if (s.host == "db-1") {
      EXPECT_EQ(s.points, (Points{{kT0, 3}}));
    } else {
      EXPECT_EQ(s.host, "");
      EXPECT_EQ(s.points, (Points{{kT0, 4}}));
    }
  }
}

TEST_F(AggregatorTest, TheContextLimitDropsNewContextsNotExistingOnes) {
  Aggregator::Options o;
  o.context_limit = 2;
  auto agg = make(o);
  EXPECT_TRUE(agg.add(sample("a", MetricType::kGauge, 1), kT0));
  EXPECT_TRUE(agg.add(sample("b", MetricType::kGauge, 1), kT0));
  EXPECT_FALSE(agg.add(sample("c", MetricType::kGauge, 1), kT0));
  EXPECT_TRUE(agg.add(sample("a", MetricType::kGauge, 2), kT0));
  EXPECT_EQ(agg.contexts(), 2u);
  EXPECT_EQ(telemetry_.valueOf("outpost.aggregator.dropped", {"reason:context_limit"}), 1);
  EXPECT_EQ(telemetry_.valueOf("outpost.aggregator.contexts"), 2);
}

TEST_F(AggregatorTest, IdleContextsExpire) {
  Aggregator::Options o;
  o.context_expiry_seconds = 20;
  auto agg = make(o);
  agg.add(sample("a", MetricType::kGauge, 1), kT0);
  agg.flush(kT0 + 10);
  EXPECT_EQ(agg.contexts(), 1u);
  agg.add(sample("b", MetricType::kGauge, 1), kT0 + 25);
  agg.flush(kT0 + 30);
  EXPECT_EQ(agg.contexts(), 1u);  // a expired (20 s without a sample), b kept
  auto f = agg.flush(kT0 + 60);
  EXPECT_EQ(agg.contexts(), 0u);
  EXPECT_TRUE(f.series.empty());  // gauges are not repeated
}

TEST_F(AggregatorTest, TagOrderAndDuplicateTagsDoNotMakeNewContexts) {
  Aggregator::Options o;
  o.extra_tags = {"env:prod", "env:prod", ""};
  auto agg = make(o);
  const std::string_view a[] = {"b:2", "a:1", "c:3"};
  const std::string_view b[] = {"c:3", "b:2", "a:1", "a:1", "env:prod", ""};
  agg.add(sample("m", MetricType::kCounter, 1, a), kT0);
  agg.add(sample("m", MetricType::kCounter, 2, b), kT0);
  // More than 32 tags: the sorting path finds the duplicates.
  std::vector<std::string> many;
  for (int i = 0; i < 40; ++i) {
    many.push_back(fmt::format("k{}:v", i));
  }
  std::vector<std::string_view> forward(many.begin(), many.end());
  std::vector<std::string_view> backward(many.rbegin(), many.rend());
  backward.insert(backward.end(), forward.begin(), forward.begin() + 5);  // duplicates
  agg.add(sample("wide", MetricType::kGauge, 1, forward), kT0);
  agg.add(sample("wide", MetricType::kGauge, 2, backward), kT0 + 1);
  EXPECT_EQ(agg.contexts(), 2u);
  auto f = agg.flush(kT0 + 10);
  ASSERT_NE(find(f, "m"), nullptr);
  EXPECT_EQ(find(f, "m")->points, (Points{{kT0, 0.3}}));
  EXPECT_EQ(find(f, "m")->tags, (std::vector<std::string>{"a:1", "b:2", "c:3", "env:prod"}));
  ASSERT_NE(find(f, "wide"), nullptr);
  EXPECT_EQ(find(f, "wide")->points, (Points{{kT0, 2}}));
  EXPECT_EQ(find(f, "wide")->tags.size(), 41u);  // and env:prod
  EXPECT_TRUE(std::is_sorted(find(f, "wide")->tags.begin(), find(f, "wide")->tags.end()));
}

TEST_F(AggregatorTest, LongTagsAndDevicesSurviveTheInternedTagList) {
  auto agg = make();
  const std::string long_tag = fmt::format("long:{}", std::string(1000, 'x'));
  const std::string_view tags[] = {long_tag, "device:", "device:sdb", "z:1"};
  agg.add(sample("d", MetricType::kDistribution, 5, tags), kT0);
  agg.add(sample("g", MetricType::kGauge, 5, tags), kT0);
  auto f = agg.flush(kT0 + 10);
  ASSERT_NE(find(f, "g"), nullptr);
  EXPECT_EQ(find(f, "g")->tags, (std::vector<std::string>{long_tag, "z:1"}));
  EXPECT_EQ(find(f, "g")->device, "sdb");  // the last device: tag in sorted order
  ASSERT_EQ(f.sketches.size(), 1u);
  EXPECT_EQ(f.sketches[0].tags, (std::vector<std::string>{long_tag, "z:1", "device:sdb"}));
}

// Thousands of contexts created, expired and replaced: every surviving context keeps its own
// value (the index's deletions and the reuse of context ids lose nothing).
TEST_F(AggregatorTest, ContextChurnKeepsEveryLiveContextsValue) {
  Aggregator::Options o;
  o.context_expiry_seconds = 20;
  auto agg = make(o);
  std::vector<std::string> tags;
  for (int i = 0; i < 6000; ++i) {
    tags.push_back(fmt::format("id:{}", i));
  }
  auto addRange = [&](int from, int to, int64_t now, double base) {
    for (int i = from; i < to; ++i) {
      const std::string_view t[] = {tags[i]};
      ASSERT_TRUE(agg.add(sample("churn", MetricType::kGauge, base + i, t), now));
    }
  };
  addRange(0, 4000, kT0, 0);
  agg.flush(kT0 + 10);
  EXPECT_EQ(agg.contexts(), 4000u);
  // Only the odd half keeps reporting; the even half expires.
  for (int i = 1; i < 4000; i += 2) {
    const std::string_view t[] = {tags[i]};
    agg.add(sample("churn", MetricType::kGauge, 100000 + i, t), kT0 + 25);
  }
  agg.flush(kT0 + 30);
  EXPECT_EQ(agg.contexts(), 2000u);
  // New contexts reuse the freed ids; the odd ones are still found.
  addRange(4000, 6000, kT0 + 35, 0);
  for (int i = 1; i < 4000; i += 2) {
    const std::string_view t[] = {tags[i]};
    agg.add(sample("churn", MetricType::kGauge, 200000 + i, t), kT0 + 36);
  }
  EXPECT_EQ(agg.contexts(), 4000u);
  auto f = agg.flush(kT0 + 40);
  ASSERT_EQ(f.series.size(), 4000u);
  for (const auto& s : f.series) {
    ASSERT_EQ(s.tags.size(), 1u);
    const int i = std::stoi(s.tags[0].substr(3));
    ASSERT_EQ(s.points.size(), 1u);
    EXPECT_EQ(s.points[0].first, kT0 + 30);
    EXPECT_EQ(s.points[0].second, i >= 4000 ? i : 200000 + i) << s.tags[0];
  }
  // Everything expires; the memory goes back down.
  const size_t busy = agg.memoryBytes();
  agg.flush(kT0 + 100);
  EXPECT_EQ(agg.contexts(), 0u);
  EXPECT_LT(agg.memoryBytes(), busy / 4);
}

TEST_F(AggregatorTest, AClockSteppingBackLandsInTheOpenBucket) {
  auto agg = make();
  agg.add(sample("g", MetricType::kGauge, 1), kT0 + 5);
  auto f = agg.flush(kT0 + 20);  // flushes kT0 and kT0+10
  EXPECT_EQ(find(f, "g")->points, (Points{{kT0, 1}}));
  // The clock went back to kT0+3: those buckets are gone, the sample goes to kT0+20.
  agg.add(sample("g", MetricType::kGauge, 2), kT0 + 3);
  agg.add(sample("c", MetricType::kCounter, 5), kT0 + 3);
  // A sample from the future, then one from the past again: same bucket for the context.
  agg.add(sample("h", MetricType::kGauge, 7), kT0 + 35);
  agg.add(sample("h", MetricType::kGauge, 8), kT0 + 21);
  f = agg.flush(kT0 + 30);
  EXPECT_EQ(find(f, "g")->points, (Points{{kT0 + 20, 2}}));
  EXPECT_EQ(find(f, "c")->points, (Points{{kT0 + 20, 0.5}}));
  EXPECT_EQ(find(f, "h"), nullptr);  // its values wait in the kT0+30 bucket
  f = agg.flush(kT0 + 40);
  EXPECT_EQ(find(f, "h")->points, (Points{{kT0 + 30, 8}}));
}

TEST_F(AggregatorTest, AClockSteppingBackOverAMinuteRestartsTheBuckets) {
  auto agg = make();
  agg.add(sample("c", MetricType::kCounter, 1), kT0 + 3605);
  auto f = agg.flush(kT0 + 3620);  // an hour ahead
  EXPECT_EQ(find(f, "c")->points.front(), (std::pair<int64_t, double>{kT0 + 3600, 0.1}));
  // The clock goes back an hour: what arrives lands in the open bucket of the old timeline,
  // then the next flush sends it at once and restarts from the present...
  agg.add(sample("c", MetricType::kCounter, 4), kT0 + 5);
  f = agg.flush(kT0 + 20);
  ASSERT_NE(find(f, "c"), nullptr);
  EXPECT_EQ(find(f, "c")->points.back(), (std::pair<int64_t, double>{kT0 + 3620, 0.4}));
  // ... where samples are bucketed and flushed as usual, not an hour later.
  agg.add(sample("c", MetricType::kCounter, 7), kT0 + 25);
  f = agg.flush(kT0 + 40);
  ASSERT_NE(find(f, "c"), nullptr);
  EXPECT_EQ(find(f, "c")->points.front(), (std::pair<int64_t, double>{kT0 + 20, 0.7}));
  // A step back within a minute still only waits (AClockSteppingBackLandsInTheOpenBucket).
  agg.add(sample("g", MetricType::kGauge, 3), kT0 + 15);
  f = agg.flush(kT0 + 45);
  EXPECT_EQ(find(f, "g"), nullptr);
  f = agg.flush(kT0 + 50);
  EXPECT_EQ(find(f, "g")->points, (Points{{kT0 + 40, 3}}));
}

TEST_F(AggregatorTest, SetsCountThousandsOfUniqueValues) {
  auto agg = make();
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5000; ++i) {
      const std::string v = fmt::format("user-{}", i);
      auto s = sample("users", MetricType::kSet, 0);
      s.set_value = v;
      agg.add(s, kT0 + 1);
    }
  }
  auto f = agg.flush(kT0 + 10);
  EXPECT_EQ(find(f, "users")->points, (Points{{kT0, 5000}}));
}

// The flat index against a reference map, through inserts and erases at random.
TEST(FlatIndexTest, AgreesWithAMapThroughRandomInsertsAndErases) {
  FlatIndex index;
  std::unordered_map<uint32_t, uint32_t> reference;  // id -> hash
  std::mt19937 rng(7);
  for (int step = 0; step < 200000; ++step) {
    const uint32_t id = rng() % 5000;
    const uint32_t hash = (id * 2654435761u) & 0x3ff;  // many collisions on purpose
    auto equal = [&](uint32_t candidate) { return candidate == id; };
    if (reference.count(id) != 0) {
      ASSERT_EQ(index.find(hash, equal), id);
      if (rng() % 2 == 0) {
        ASSERT_TRUE(index.erase(hash, id));
        reference.erase(id);
        ASSERT_EQ(index.find(hash, equal), FlatIndex::kNotFound);
      }
    } else {
      ASSERT_EQ(index.find(hash, equal), FlatIndex::kNotFound);
      index.insert(hash, id);
      reference[id] = hash;
    }
    ASSERT_EQ(index.size(), reference.size());
  }
  for (const auto& [id, hash] : reference) {
    ASSERT_EQ(index.find(hash, [&](uint32_t c) { return c == id; }), id);
  }
}

TEST(StringInternerTest, SharesEqualStringsAndFreesWithTheLastReference) {
  StringInterner strings;
  const auto a = strings.intern("alpha");
  const auto b = strings.intern("beta");
  EXPECT_EQ(strings.intern("alpha"), a);
  EXPECT_NE(a, b);
  EXPECT_EQ(strings.view(a), "alpha");
  EXPECT_EQ(strings.size(), 2u);
  strings.release(a);
  EXPECT_EQ(strings.view(a), "alpha");  // one reference left
  strings.release(a);
  EXPECT_EQ(strings.size(), 1u);
  const auto c = strings.intern("gamma");
  EXPECT_EQ(c, a);  // the id is reused
  EXPECT_EQ(strings.view(c), "gamma");
  EXPECT_EQ(strings.view(strings.intern("")), "");
  EXPECT_EQ(strings.view(b), "beta");
}

}  // namespace
}  // namespace outpost::aggregator
