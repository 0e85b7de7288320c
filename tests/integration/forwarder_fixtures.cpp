#include "tests/integration/forwarder_fixtures.h"

#include "proto/metrics_payload.pb.h"

namespace outpost::testing {
namespace {

using datadog::agentpayload::MetricPayload;

std::string build(uint64_t seed, int first, int count, int points) {
  MetricPayload payload;
  for (int i = first; i < first + count; ++i) {
    auto* s = payload.add_series();
    s->set_metric("test.metric." + std::to_string(seed) + "." + std::to_string(i));
    s->set_type(MetricPayload::GAUGE);
    s->set_interval(10);
    auto* r = s->add_resources();
    r->set_type("host");
    r->set_name("outpost-test-host");
    s->add_tags("env:test");
    s->add_tags("seed:" + std::to_string(seed));
    for (int p = 0; p < points; ++p) {
      auto* point = s->add_points();
      point->set_value(static_cast<double>(seed * 1000 + static_cast<uint64_t>(i * 10 + p)));
      point->set_timestamp(1'700'000'000 + p * 10);
    }
  }
  std::string out;
  payload.SerializeToString(&out);
  return out;
}

Payload make(uint64_t seed, int first, int count, int points) {
  Payload p;
  p.intake = IntakeKind::kMetrics;
  p.route = "/api/v2/series";
  p.content_type = "application/x-protobuf";
  p.body = build(seed, first, count, points);
  p.headers = {{"DD-Agent-Payload", "5.0.4"}};
  if (count > 1) {
    p.split = [seed, first, count, points] {
      const int half = count / 2;
      std::vector<Payload> parts;
      parts.push_back(make(seed, first, half, points));
      parts.push_back(make(seed, first + half, count - half, points));
      return parts;
    };
  }
  return p;
}

}  // namespace

std::string seriesBody(uint64_t seed, int series, int points) {
  return build(seed, 0, series, points);
}

Payload seriesPayload(uint64_t seed, int series, int points) {
  return make(seed, 0, series, points);
}

std::vector<std::string> metricNames(const std::string& serialized) {
  MetricPayload payload;
  std::vector<std::string> names;
  if (payload.ParseFromString(serialized)) {
    for (const auto& s : payload.series()) {
      names.push_back(s.metric());
    }
  }
  return names;
}

}  // namespace outpost::testing
