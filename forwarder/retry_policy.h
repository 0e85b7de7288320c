#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace outpost {

// The one place that decides what happens to a request after an attempt: delivered, retried
// later, split and resent (413), or dropped. Retries wait an exponential backoff with full
// jitter, or what the intake asked with Retry-After if longer.
class RetryPolicy {
 public:
  enum class Outcome { kDelivered, kRetry, kSplit, kDrop };
  struct Decision {
    Outcome outcome;
    std::string reason;  // for drops and retries: "status_500", "timeout", "invalid_api_key", ...
  };
  struct Options {
    double backoff_base_s = 2;
    double backoff_factor = 2;
    double backoff_max_s = 64;
  };

  explicit RetryPolicy(Options options, uint64_t seed = std::random_device{}());

  // `status` is the HTTP status, or 0 when the request failed below HTTP; `transport_error`
  // then names the failure (timeout, connect, dns, tls, ...).
  static Decision classify(int status, std::string_view transport_error);

  // How long to wait before the next attempt after `consecutive_failures` (>= 1) failures in a
  // row: uniform in [0, min(max, base * factor^(n-1))], never below 50 ms; at least
  // `retry_after` when the intake sent one.
  std::chrono::milliseconds backoff(uint32_t consecutive_failures,
                                    std::optional<std::chrono::milliseconds> retry_after);

  // Parses a Retry-After value: delta-seconds or an HTTP-date. nullopt if unparsable.
  static std::optional<std::chrono::milliseconds> parseRetryAfter(
      std::string_view value, std::chrono::system_clock::time_point now);

 private:
  Options options_;
  std::mt19937_64 rng_;
};

}  // namespace outpost
