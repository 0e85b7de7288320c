#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "forwarder/forwarder.h"

namespace outpost::testing {

// A serialized datadog.agentpayload.MetricPayload with `series` series named
// test.metric.<seed>.<i>, `points` points each; the same seed gives the same bytes.
std::string seriesBody(uint64_t seed, int series = 10, int points = 5);

// A /api/v2/series payload of that body; its split() halves the series (for 413 tests).
Payload seriesPayload(uint64_t seed, int series = 10, int points = 5);

// The metric names a decoded MetricPayload JSON holds.
std::vector<std::string> metricNames(const std::string& serialized);

}  // namespace outpost::testing
