#include "collector/sources/traces/sampler.h"

#include <gtest/gtest.h>

#include <string>

namespace outpost::traces {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'795'000'000LL * kSecond;

TraceChunk chunk(uint64_t trace_id, int32_t priority, Str service = "svc", int32_t error = 0) {
  TraceChunk c;
  c.priority = priority;
  Span s;
  s.trace_id = trace_id;
  s.span_id = trace_id;
  s.service = service;
  s.name = "op";
  s.resource = "res";
  s.error = error;
  s.metrics = {{"_top_level", 1}};
  c.spans.push_back(s);
  return c;
}

TEST(SamplerTest, PriorityDecides) {
  Sampler s({});
  for (int32_t p : {1, 2}) {
    auto c = chunk(1, p);
    EXPECT_TRUE(s.sample(c, "prod", kT0).keep);
  }
  for (int32_t p : {0, -1}) {
    auto c = chunk(1, p);
    const auto d = s.sample(c, "prod", kT0);
    EXPECT_FALSE(d.keep);
    EXPECT_STREQ(sampleReasonName(d.reason), "dropped");
  }
}

TEST(SamplerTest, TheErrorSamplerKeepsAboutItsRate) {
  SamplerOptions o;
  o.errors_per_second = 10;
  Sampler s(o);
  int kept = 0;
  for (int sec = 0; sec < 5; ++sec) {
    for (int i = 0; i < 1000; ++i) {
      auto c = chunk(static_cast<uint64_t>(sec * 1000 + i + 1), 0, "svc", 1);
      const auto d = s.sample(c, "prod", kT0 + sec * kSecond + i * 1000);
      if (d.keep) {
        EXPECT_EQ(d.reason, SampleReason::kError);
        ++kept;
      }
    }
  }
  EXPECT_EQ(kept, 50);  // 10 per second over 5 seconds
}

TEST(SamplerTest, RatesConvergeToTheTargetAndTheJsonSaysSo) {
  SamplerOptions o;
  o.target_tps = 10;
  Sampler s(o);
  EXPECT_EQ(s.rateByServiceJson(), R"({"rate_by_service":{"service:,env:":1}})");
  const uint64_t v0 = s.ratesVersion();
  uint64_t id = 1;
  for (int sec = 1; sec <= 30; ++sec) {
    for (int i = 0; i < 100; ++i) {  // 100 traces per second
      auto c = chunk(id++, 1, "checkout");
      s.sample(c, "prod", kT0 + sec * kSecond);
    }
    s.updateRates(kT0 + sec * kSecond);
  }
  const double rate = s.rateFor("checkout", "prod");
  EXPECT_NEAR(rate, 0.1, 0.02);
  EXPECT_GT(s.ratesVersion(), v0);
  EXPECT_NE(s.rateByServiceJson().find("\"service:checkout,env:prod\":0.1"), std::string::npos)
      << s.rateByServiceJson();
  // Unchanged traffic: the rates (and their version) stay.
  const uint64_t v = s.ratesVersion();
  for (int i = 0; i < 100; ++i) {
    auto c = chunk(id++, 1, "checkout");
    s.sample(c, "prod", kT0 + 31 * kSecond);
  }
  s.updateRates(kT0 + 31 * kSecond);
  EXPECT_EQ(s.ratesVersion(), v);
}

TEST(SamplerTest, NoPriorityIsDeterministicAtTheRate) {
  SamplerOptions o;
  o.target_tps = 10;
  Sampler s(o);
  // At rate 1 everything is kept, and the root says which rate the agent applied.
  auto c = chunk(12345, kPriorityNone);
  const auto d = s.sample(c, "prod", kT0);
  EXPECT_TRUE(d.keep);
  EXPECT_EQ(d.reason, SampleReason::kNoPriority);
  EXPECT_EQ(*c.spans[0].findMetric("_dd.agent_psr"), 1);
  // Heavy traffic lowers the rate; then about rate x traces are kept, the same ones each time.
  uint64_t id = 1;
  for (int sec = 1; sec <= 20; ++sec) {
    for (int i = 0; i < 1000; ++i) {
      auto x = chunk(id++, kPriorityNone);
      s.sample(x, "prod", kT0 + sec * kSecond);
    }
    s.updateRates(kT0 + sec * kSecond);
  }
  const double rate = s.rateFor("svc", "prod");
  EXPECT_LT(rate, 0.05);
  int kept = 0;
  for (uint64_t t = 1; t <= 100000; ++t) {
    auto x = chunk(t * 7919, kPriorityNone);
    kept += s.sample(x, "prod", kT0 + 21 * kSecond).keep ? 1 : 0;
  }
  EXPECT_NEAR(kept / 100000.0, rate, rate * 0.2);
  auto again = chunk(7919, kPriorityNone);
  auto first = chunk(7919, kPriorityNone);
  EXPECT_EQ(s.sample(again, "prod", kT0).keep, s.sample(first, "prod", kT0).keep);
}

TEST(SamplerTest, RareSamplerKeepsANewResourceOncePerCooldown) {
  SamplerOptions o;
  o.rare_enabled = true;
  Sampler s(o);
  auto a = chunk(1, 0);
  EXPECT_EQ(s.sample(a, "prod", kT0).reason, SampleReason::kRare);
  auto b = chunk(2, 0);
  EXPECT_FALSE(s.sample(b, "prod", kT0 + kSecond).keep);  // seen
  auto c = chunk(3, 0);
  EXPECT_TRUE(s.sample(c, "prod", kT0 + o.rare_cooldown_ns + 2 * kSecond).keep);
}

TEST(SamplerTest, ServiceNamesAreJsonEscaped) {
  SamplerOptions o;
  o.target_tps = 1;
  Sampler s(o);
  uint64_t id = 1;
  for (int sec = 1; sec <= 5; ++sec) {
    for (int i = 0; i < 50; ++i) {
      auto c = chunk(id++, 1, "we\"ird");
      s.sample(c, "prod", kT0 + sec * kSecond);
    }
    s.updateRates(kT0 + sec * kSecond);
  }
  EXPECT_NE(s.rateByServiceJson().find(R"("service:we\"ird,env:prod":)"), std::string::npos)
      << s.rateByServiceJson();
}

}  // namespace
}  // namespace outpost::traces
