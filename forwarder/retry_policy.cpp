#include "forwarder/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "core/strings.h"

namespace outpost {

RetryPolicy::RetryPolicy(Options options, uint64_t seed) : options_(options), rng_(seed) {}

RetryPolicy::Decision RetryPolicy::classify(int status, std::string_view transport_error) {
  if (status == 0) {
    return {Outcome::kRetry,
            transport_error.empty() ? "transport_error" : std::string(transport_error)};
  }
  if (status >= 200 && status < 300) {
    return {Outcome::kDelivered, ""};
  }
  const std::string code = "status_" + std::to_string(status);
  if (status == 413) {
    return {Outcome::kSplit, code};
  }
  if (status == 403) {
    return {Outcome::kDrop, "invalid_api_key"};
  }
  if (status == 400 || status == 401 || status == 404) {
    return {Outcome::kDrop, code};
  }
  if (status == 408 || status == 429 || status >= 500) {
    return {Outcome::kRetry, code};
  }
  // 1xx/3xx (no redirects are followed) and other 4xx: the intake will not take it as is.
  return {Outcome::kDrop, code};
}

std::chrono::milliseconds RetryPolicy::backoff(
    uint32_t consecutive_failures, std::optional<std::chrono::milliseconds> retry_after) {
  const double n = std::max<uint32_t>(consecutive_failures, 1) - 1;
  const double cap_s = std::min(options_.backoff_max_s,
                                options_.backoff_base_s * std::pow(options_.backoff_factor, n));
  std::uniform_real_distribution<double> jitter(0.0, std::max(cap_s, 0.0));
  auto wait = std::chrono::milliseconds(static_cast<int64_t>(jitter(rng_) * 1000.0));
  wait = std::max(wait, std::chrono::milliseconds(50));
  if (retry_after) {
    wait = std::max(wait, *retry_after);
  }
  return wait;
}

std::optional<std::chrono::milliseconds> RetryPolicy::parseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now) {
  const std::string v(trim(value));
  if (v.empty()) {
    return std::nullopt;
  }
  if (v.find_first_not_of("0123456789") == std::string::npos) {
    if (v.size() > 9) {
      return std::nullopt;
    }
    return std::chrono::seconds(std::stoll(v));
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  tm t{};
  const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  const auto when = std::chrono::system_clock::from_time_t(timegm(&t));
  if (when <= now) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
}

}  // namespace outpost
