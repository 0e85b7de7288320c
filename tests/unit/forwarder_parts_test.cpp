#include <gtest/gtest.h>

#include <random>

#include "forwarder/compression.h"
#include "forwarder/retry_policy.h"

namespace outpost {
namespace {

std::string sampleBody(size_t n) {
  std::mt19937 rng(7);
  std::string s;
  while (s.size() < n) {
    s += "{\"message\":\"GET /api/v1/item/" + std::to_string(rng() % 1000) +
         " 200\",\"status\":\"info\"}";
  }
  s.resize(n);
  return s;
}

class CompressionTest : public ::testing::TestWithParam<Encoding> {};

TEST_P(CompressionTest, RoundTripsAndShrinks) {
  const std::string in = sampleBody(200000);
  std::string packed;
  std::string error;
  ASSERT_TRUE(compress(GetParam(), 1, in, packed, &error)) << error;
  if (GetParam() != Encoding::kIdentity) {
    EXPECT_LT(packed.size(), in.size() / 3);
  }
  std::string out;
  ASSERT_TRUE(decompress(GetParam(), packed, 1 << 20, out, &error)) << error;
  EXPECT_EQ(out, in);
}

class CompressedEncodingTest : public ::testing::TestWithParam<Encoding> {};

TEST_P(CompressedEncodingTest, TruncatedCorruptAndOversizedInputsAreErrorsNotCrashes) {
  const std::string in = sampleBody(100000);
  std::string packed;
  std::string error;
  ASSERT_TRUE(compress(GetParam(), 3, in, packed, &error));
  std::string out;
  EXPECT_FALSE(decompress(GetParam(), packed.substr(0, packed.size() / 2), 1 << 20, out, &error));
  std::string corrupt = packed;
  for (size_t i = 0; i < corrupt.size(); i += 7) {
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  }
  EXPECT_FALSE(decompress(GetParam(), corrupt, 1 << 20, out, &error));
  EXPECT_FALSE(decompress(GetParam(), packed, 1000, out, &error));
  EXPECT_EQ(error, "decompressed size over the limit");
}

INSTANTIATE_TEST_SUITE_P(Encodings, CompressionTest,
                         ::testing::Values(Encoding::kIdentity, Encoding::kZstd, Encoding::kGzip,
                                           Encoding::kDeflate),
                         [](const auto& info) {
                           std::string n(encodingName(info.param));
                           return n.empty() ? std::string("identity") : n;
                         });

INSTANTIATE_TEST_SUITE_P(Encodings, CompressedEncodingTest,
                         ::testing::Values(Encoding::kZstd, Encoding::kGzip, Encoding::kDeflate),
                         [](const auto& info) { return std::string(encodingName(info.param)); });

TEST(CompressionTest, GzipAndDeflateHaveTheirStandardHeaders) {
  std::string out;
  std::string error;
  ASSERT_TRUE(compress(Encoding::kGzip, 6, "hello", out, &error));
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
  ASSERT_TRUE(compress(Encoding::kDeflate, 6, "hello", out, &error));
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x78);  // zlib stream (RFC 1950)
  ASSERT_TRUE(compress(Encoding::kZstd, 1, "hello", out, &error));
  EXPECT_EQ(out.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));
}

struct ClassifyCase {
  int status;
  const char* transport;
  RetryPolicy::Outcome outcome;
  const char* reason;
};

TEST(RetryPolicyTest, ClassifiesEveryResponseAsTheIssueSays) {
  using O = RetryPolicy::Outcome;
  const ClassifyCase cases[] = {
      {200, "", O::kDelivered, ""},         {202, "", O::kDelivered, ""},
      {408, "", O::kRetry, "status_408"},   {429, "", O::kRetry, "status_429"},
      {500, "", O::kRetry, "status_500"},   {503, "", O::kRetry, "status_503"},
      {413, "", O::kSplit, "status_413"},   {400, "", O::kDrop, "status_400"},
      {401, "", O::kDrop, "status_401"},    {403, "", O::kDrop, "invalid_api_key"},
      {404, "", O::kDrop, "status_404"},    {0, "timeout", O::kRetry, "timeout"},
      {0, "connect", O::kRetry, "connect"}, {302, "", O::kDrop, "status_302"},
  };
  for (const auto& c : cases) {
    const auto d = RetryPolicy::classify(c.status, c.transport);
    EXPECT_EQ(d.outcome, c.outcome) << c.status;
    EXPECT_EQ(d.reason, c.reason) << c.status;
  }
}

TEST(RetryPolicyTest, BackoffIsFullJitterUnderAGrowingCap) {
  RetryPolicy policy(RetryPolicy::Options{2, 2, 64}, 42);
  for (uint32_t n = 1; n <= 10; ++n) {
    const double cap_ms = std::min(64.0, 2.0 * std::pow(2.0, n - 1)) * 1000;
    int64_t max_seen = 0;
    for (int i = 0; i < 200; ++i) {
      const auto w = policy.backoff(n, std::nullopt).count();
      EXPECT_GE(w, 50);
      EXPECT_LE(w, static_cast<int64_t>(cap_ms));
      max_seen = std::max<int64_t>(max_seen, w);
    }
    EXPECT_GT(max_seen, cap_ms / 2) << "jitter should spread over the whole range";
  }
  EXPECT_GE(policy.backoff(1, std::chrono::seconds(30)).count(), 30000);
}

TEST(RetryPolicyTest, RetryAfterSecondsAndHttpDate) {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37
  EXPECT_EQ(RetryPolicy::parseRetryAfter("120", now), std::chrono::seconds(120));
  EXPECT_EQ(RetryPolicy::parseRetryAfter(" 3 ", now), std::chrono::seconds(3));
  EXPECT_EQ(RetryPolicy::parseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now),
            std::chrono::seconds(60));
  EXPECT_EQ(RetryPolicy::parseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now),
            std::chrono::milliseconds(0));
  EXPECT_EQ(RetryPolicy::parseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(RetryPolicy::parseRetryAfter("99999999999", now), std::nullopt);
}

}  // namespace
}  // namespace outpost
