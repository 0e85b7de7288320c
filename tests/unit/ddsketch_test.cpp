#include "collector/aggregator/ddsketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace outpost::aggregator {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(DDSketchTest, ParametersMatchSpec) {
  EXPECT_DOUBLE_EQ(DDSketch::kGamma, 1.015625);
  EXPECT_NEAR(DDSketch::logGamma(), 0.015504186535965254, 1e-17);
  EXPECT_EQ(static_cast<int>(std::floor(std::log(1e-9) / DDSketch::logGamma())), DDSketch::kEmin);
  EXPECT_EQ(DDSketch::kEmin, -1337);
  EXPECT_EQ(DDSketch::kBias, 1338);
}

TEST(DDSketchTest, SampleKeys) {
  EXPECT_EQ(DDSketch::keyFor(1), 1338);
  EXPECT_EQ(DDSketch::keyFor(2), 1383);
  EXPECT_EQ(DDSketch::keyFor(10), 1487);
}

TEST(DDSketchTest, TinyValuesHaveKeyZero) {
  for (double v : {0.0, -0.0, 1e-9, -1e-9, 5e-10, -5e-10, 1e-300, -1e-300,
                   std::numeric_limits<double>::denorm_min()}) {
    EXPECT_EQ(DDSketch::keyFor(v), 0) << v;
  }
  EXPECT_GT(DDSketch::keyFor(1.0000001e-9), 0);
  EXPECT_LT(DDSketch::keyFor(-1.0000001e-9), 0);
}

TEST(DDSketchTest, NegativeKeysAreSymmetric) {
  for (double v : {1e-8, 0.001, 0.5, 1.0, 2.0, 10.0, 12345.678, 1e100}) {
    EXPECT_EQ(DDSketch::keyFor(-v), -DDSketch::keyFor(v)) << v;
  }
  EXPECT_EQ(DDSketch::keyFor(-1), -1338);
  EXPECT_EQ(DDSketch::keyFor(-2), -1383);
}

TEST(DDSketchTest, HugeValuesClampToInfinity) {
  EXPECT_EQ(DDSketch::keyFor(1e300), 32767);
  EXPECT_EQ(DDSketch::keyFor(std::numeric_limits<double>::max()), 32767);
  EXPECT_EQ(DDSketch::keyFor(kInf), 32767);
  EXPECT_EQ(DDSketch::keyFor(-1e300), -32767);
  EXPECT_EQ(DDSketch::keyFor(-kInf), -32767);
  // The largest finite key, 32766, is gamma^31428 (about 1.6e211).
  EXPECT_EQ(DDSketch::keyFor(DDSketch::keyValue(32766)), 32766);
  EXPECT_EQ(DDSketch::keyFor(DDSketch::keyValue(32766) * 1.01), 32767);
  EXPECT_EQ(DDSketch::keyValue(32767), kInf);
  EXPECT_EQ(DDSketch::keyValue(-32767), -kInf);
}

TEST(DDSketchTest, KeyOfKeyValueIsIdentity) {
  // round_half_even makes key(gamma^(k-bias)) == k for every finite positive key but 1: key 1's
  // centre gamma^-1337 (about 9.94e-10) is below the spec's 1e-9 floor, so it maps to 0, while
  // values just above 1e-9 still get key 1.
  EXPECT_EQ(DDSketch::keyFor(DDSketch::keyValue(1)), 0);
  EXPECT_EQ(DDSketch::keyFor(1.001e-9), 1);
  for (int k = 2; k <= DDSketch::kMaxKey; ++k) {
    ASSERT_EQ(DDSketch::keyFor(DDSketch::keyValue(static_cast<int16_t>(k))), k);
  }
}

TEST(DDSketchTest, CountOverflowSplitsIntoBinsWithTheSameKey) {
  DDSketch s;
  for (int i = 0; i < 70000; ++i) {
    s.insert(3.5);
  }
  const int16_t k = DDSketch::keyFor(3.5);
  // The Agent's appendSafe layout: remainder first, then full bins.
  const std::vector<SketchBin> expected = {{k, 4465}, {k, 65535}};
  EXPECT_EQ(s.bins(), expected);
  EXPECT_EQ(s.binCount(), 2u);
  EXPECT_EQ(s.binTotal(), 70000u);
  EXPECT_EQ(s.summary().count, 70000);

  // Exactly 2 · 65535 gives two full bins and no remainder bin.
  DDSketch exact;
  exact.insert(3.5, 1.0 / 65535.0);
  exact.insert(3.5, 1.0 / 65535.0);
  EXPECT_EQ(exact.bins(), (std::vector<SketchBin>{{k, 65535}, {k, 65535}}));
}

TEST(DDSketchTest, BinLimitCollapsesLowestBinsKeepingCounts) {
  DDSketch s;
  constexpr int kDistinct = 5001;
  for (int i = 0; i < kDistinct; ++i) {
    s.insert(DDSketch::keyValue(static_cast<int16_t>(1000 + i)));
  }
  const std::vector<SketchBin> bins = s.bins();
  ASSERT_EQ(bins.size(), DDSketch::kBinLimit);
  EXPECT_EQ(s.binTotal(), static_cast<uint64_t>(kDistinct));
  // The lowest kDistinct - 4096 + 1 bins become one bin at the key of the lowest kept bin.
  const int collapsed = kDistinct - static_cast<int>(DDSketch::kBinLimit) + 1;
  EXPECT_EQ(bins.front().key, 1000 + collapsed - 1);
  EXPECT_EQ(bins.front().count, collapsed);
  EXPECT_EQ(bins[1].key, 1000 + collapsed);
  EXPECT_EQ(bins[1].count, 1);
  EXPECT_EQ(bins.back().key, 1000 + kDistinct - 1);
  uint64_t total = 0;
  for (const SketchBin& b : bins) {
    total += b.count;
  }
  EXPECT_EQ(total, static_cast<uint64_t>(kDistinct));
  EXPECT_EQ(s.summary().count, kDistinct);

  // With overflow bins in play the total is still kept and the limit still holds.
  DDSketch heavy;
  for (int i = 0; i < 4200; ++i) {
    // 1/131072 is exact, so every 7th sample counts 131072 = 3 wire bins.
    heavy.insert(DDSketch::keyValue(static_cast<int16_t>(2000 + i)),
                 i % 7 == 0 ? 1.0 / 131072 : 1.0);
  }
  uint64_t expected = 0;
  for (int i = 0; i < 4200; ++i) {
    expected += i % 7 == 0 ? 131072 : 1;
  }
  EXPECT_LE(heavy.bins().size(), DDSketch::kBinLimit);
  EXPECT_EQ(heavy.binTotal(), expected);
  total = 0;
  for (const SketchBin& b : heavy.bins()) {
    total += b.count;
  }
  EXPECT_EQ(total, expected);
}

// Exact quantile at the rank the Agent uses: round_half_even(q · (n - 1)).
double exactQuantile(const std::vector<double>& sorted, double q) {
  const double rank = std::nearbyint(q * static_cast<double>(sorted.size() - 1));
  return sorted[static_cast<size_t>(rank)];
}

// The Agent's estimate lies between the centre of the sample's bin and the next centre up, so
// against the true value it is within a factor [gamma^-0.5, gamma^1.5]: -0.78% .. +2.36%.
// Asserting 2.5% leaves a margin for rounding only.
constexpr double kRelativeBound = 0.025;

template <typename Dist>
double maxRelativeError(const char* name, Dist dist, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> values(100000);
  DDSketch s;
  for (double& v : values) {
    v = dist(rng);
    s.insert(v);
  }
  std::sort(values.begin(), values.end());
  EXPECT_EQ(s.quantile(0), values.front());
  EXPECT_EQ(s.quantile(1), values.back());
  double worst = 0;
  for (double q : {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999}) {
    const double exact = exactQuantile(values, q);
    const double estimate = s.quantile(q);
    const double err = std::fabs(estimate - exact) / std::fabs(exact);
    EXPECT_LE(err, kRelativeBound)
        << name << " q=" << q << " exact=" << exact << " estimate=" << estimate;
    worst = std::max(worst, err);
  }
  std::printf("[ accuracy ] %-12s max relative error %.4f%% over 11 quantiles, %zu bins\n", name,
              worst * 100, s.binCount());
  return worst;
}

TEST(DDSketchTest, QuantilesWithinRelativeAccuracy) {
  maxRelativeError("uniform", std::uniform_real_distribution<double>(0.0, 1.0), 42);
  maxRelativeError("uniform-big", std::uniform_real_distribution<double>(100.0, 5000.0), 7);
  maxRelativeError("exponential", std::exponential_distribution<double>(1.0), 43);
  maxRelativeError("lognormal", std::lognormal_distribution<double>(0.0, 1.0), 44);
  maxRelativeError("lognormal-w", std::lognormal_distribution<double>(3.0, 2.5), 45);
}

TEST(DDSketchTest, QuantileFollowsAgentFormula) {
  DDSketch s;
  for (double v : {1.0, 2.0, 10.0}) {
    s.insert(v);
  }
  // rank(0.5) = 1 → the bin of 2 (n = 2 after it), weight = (2 - 1) / 1 = 1 → gamma^45.
  EXPECT_DOUBLE_EQ(s.quantile(0.5), DDSketch::keyValue(1383));
  // rank(0.1) = round(0.2) = 0 → first bin, whose low end is the exact minimum.
  EXPECT_DOUBLE_EQ(s.quantile(0.1), 1.0);
  EXPECT_EQ(DDSketch().quantile(0.5), 0);
  EXPECT_TRUE(std::isnan(s.quantile(std::nan(""))));
}

TEST(DDSketchTest, SampleRateWeightsTheCount) {
  DDSketch s;
  s.insert(4.0, 0.5);
  EXPECT_EQ(s.binTotal(), 2u);
  EXPECT_EQ(s.summary().count, 2);
  EXPECT_DOUBLE_EQ(s.summary().sum, 8.0);

  // uint(1/0.3) = 3 in the bins and the count; the Agent's InsertN keeps the untruncated sum.
  DDSketch t;
  t.insert(3.0, 0.3);
  EXPECT_EQ(t.binTotal(), 3u);
  EXPECT_EQ(t.summary().count, 3);
  EXPECT_DOUBLE_EQ(t.summary().sum, 3.0 / 0.3);
  EXPECT_DOUBLE_EQ(t.summary().avg, 3.0);

  // A rate outside (0, 1] counts as 1.
  for (double rate : {0.0, -1.0, 2.0, std::nan(""), kInf}) {
    DDSketch u;
    u.insert(5.0, rate);
    EXPECT_EQ(u.binTotal(), 1u) << rate;
    EXPECT_EQ(u.summary().count, 1) << rate;
  }

  // rate 0.1 of each value gives the same bins as ten copies of each value.
  DDSketch sampled;
  DDSketch copies;
  for (double v : {0.25, 1.5, 7.0, 7.0, 300.0}) {
    sampled.insert(v, 0.1);
    for (int i = 0; i < 10; ++i) {
      copies.insert(v);
    }
  }
  EXPECT_EQ(sampled.bins(), copies.bins());
  EXPECT_EQ(sampled.summary().count, copies.summary().count);
  EXPECT_DOUBLE_EQ(sampled.quantile(0.5), copies.quantile(0.5));
  EXPECT_DOUBLE_EQ(sampled.quantile(0.9), copies.quantile(0.9));

  // A vanishing rate is clamped instead of asking for unbounded bins.
  DDSketch tiny;
  tiny.insert(1.0, 1e-300);
  EXPECT_EQ(tiny.binTotal(), DDSketch::kMaxInsertCount);
  EXPECT_LE(tiny.binCount(), DDSketch::kBinLimit);
}

TEST(DDSketchTest, MergeEqualsInsertingAll) {
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> dist(0.0, 2.0);
  std::normal_distribution<double> signedDist(0.0, 50.0);
  DDSketch a;
  DDSketch b;
  DDSketch all;
  for (int i = 0; i < 20000; ++i) {
    const double v = i % 3 == 0 ? signedDist(rng) : dist(rng);
    (i % 2 == 0 ? a : b).insert(v);
    all.insert(v);
  }
  b.insert(123.0, 0.25);
  all.insert(123.0, 0.25);
  DDSketch merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.bins(), all.bins());
  EXPECT_EQ(merged.binTotal(), all.binTotal());
  EXPECT_EQ(merged.summary().count, all.summary().count);
  EXPECT_EQ(merged.summary().min, all.summary().min);
  EXPECT_EQ(merged.summary().max, all.summary().max);
  EXPECT_NEAR(merged.summary().sum, all.summary().sum, 1e-9 * std::fabs(all.summary().sum) + 1e-9);
  EXPECT_NEAR(merged.summary().avg, all.summary().avg, 1e-9);
  for (double q : {0.1, 0.5, 0.99}) {
    EXPECT_DOUBLE_EQ(merged.quantile(q), all.quantile(q));
  }

  DDSketch empty;
  DDSketch copy = a;
  copy.merge(empty);
  EXPECT_EQ(copy, a);
  empty.merge(a);
  EXPECT_EQ(empty, a);
}

TEST(DDSketchTest, SummaryIsExact) {
  DDSketch s;
  const std::vector<double> values = {3.25, -7.5, 1e-12, 42.0, 0.0, 1e6, -0.125};
  double sum = 0;
  for (double v : values) {
    s.insert(v);
    sum += v;
  }
  const SketchSummary& sm = s.summary();
  EXPECT_EQ(sm.count, static_cast<int64_t>(values.size()));
  EXPECT_EQ(sm.min, -7.5);
  EXPECT_EQ(sm.max, 1e6);
  EXPECT_EQ(sm.sum, sum);
  EXPECT_NEAR(sm.avg, sum / static_cast<double>(values.size()), 1e-9);
  EXPECT_EQ(s.binTotal(), values.size());

  // NaN is ignored; reset empties everything.
  s.insert(std::nan(""));
  EXPECT_EQ(s.summary().count, static_cast<int64_t>(values.size()));
  s.reset();
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.bins().empty());
}

TEST(DDSketchTest, DogsketchRoundTrip) {
  DDSketch s;
  for (double v : {-1e300, -2.0, -1e-10, 0.0, 1.0, 1.0, 10.0, 1e300}) {
    s.insert(v);
  }
  for (int i = 0; i < 70000; ++i) {
    s.insert(2.0);
  }
  DDSketch::Dogsketch d;
  s.toDogsketch(1700000000, &d);
  EXPECT_EQ(d.ts(), 1700000000);
  EXPECT_EQ(d.cnt(), s.summary().count);
  EXPECT_EQ(d.min(), -1e300);
  EXPECT_EQ(d.max(), 1e300);
  EXPECT_EQ(d.sum(), s.summary().sum);
  EXPECT_EQ(d.avg(), s.summary().avg);
  const std::vector<int32_t> keys(d.k().begin(), d.k().end());
  const std::vector<uint32_t> counts(d.n().begin(), d.n().end());
  EXPECT_EQ(keys, (std::vector<int32_t>{-32767, -1383, 0, 1338, 1383, 1383, 1487, 32767}));
  EXPECT_EQ(counts, (std::vector<uint32_t>{1, 1, 2, 2, 4465, 65535, 1, 1}));

  datadog::agentpayload::SketchPayload payload;
  auto* sketch = payload.add_sketches();
  sketch->set_metric("my.dist");
  sketch->set_host("host-a");
  *sketch->add_dogsketches() = d;
  std::string wire;
  ASSERT_TRUE(payload.SerializeToString(&wire));

  datadog::agentpayload::SketchPayload parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  ASSERT_EQ(parsed.sketches_size(), 1);
  ASSERT_EQ(parsed.sketches(0).dogsketches_size(), 1);
  const auto back = DDSketch::fromDogsketch(parsed.sketches(0).dogsketches(0));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, s);
  EXPECT_EQ(back->bins(), s.bins());
  EXPECT_EQ(back->summary(), s.summary());
}

TEST(DDSketchTest, DogsketchKeysAreZigzagPacked) {
  DDSketch s;
  s.insert(1.0);
  s.insert(-1.0);
  DDSketch::Dogsketch d;
  s.toDogsketch(0, &d);
  std::string wire;
  ASSERT_TRUE(d.SerializeToString(&wire));
  // cnt=2 (field 2), min=-1 (3), max=1 (4), avg=0 omitted, sum=0 omitted, then field 7 packed:
  // zigzag(-1338) = 2675 = 0xf3 0x14, zigzag(1338) = 2676 = 0xf4 0x14; field 8 packed: 1, 1.
  const std::string tail = std::string("\x3a\x04\xf3\x14\xf4\x14\x42\x02\x01\x01", 10);
  ASSERT_GE(wire.size(), tail.size());
  EXPECT_EQ(wire.substr(wire.size() - tail.size()), tail);
}

TEST(DDSketchTest, FromDogsketchRejectsBadInput) {
  DDSketch::Dogsketch d;
  d.add_k(1338);
  EXPECT_FALSE(DDSketch::fromDogsketch(d).has_value());  // k and n differ in length
  d.add_n(70000);
  EXPECT_FALSE(DDSketch::fromDogsketch(d).has_value());  // count above 65535
  d.set_n(0, 0);
  EXPECT_FALSE(DDSketch::fromDogsketch(d).has_value());  // zero count
  d.set_n(0, 5);
  d.add_k(1000);
  d.add_n(1);
  EXPECT_FALSE(DDSketch::fromDogsketch(d).has_value());  // keys not ascending
  d.set_k(1, 40000);
  EXPECT_FALSE(DDSketch::fromDogsketch(d).has_value());  // key out of int16 range
  d.set_k(1, 1338);
  EXPECT_TRUE(DDSketch::fromDogsketch(d).has_value());  // same key twice is an overflow pair
}

}  // namespace
}  // namespace outpost::aggregator
