#include "forwarder/encoders/series_encoder.h"

#include "forwarder/encoders/json_writer.h"
#include "proto/metrics_payload.pb.h"

namespace outpost {

namespace {

using datadog::agentpayload::MetricPayload;

constexpr int kOriginNoIndexField = 3;  // reserved Origin field the Agent writes for NoIndex
constexpr uint64_t kOriginNoIndexValue = 9;

// proto3 strings must be valid UTF-8, or the intake (and protobuf's own parser) rejects them.

MetricPayload::MetricType metricType(SeriesType t) {
  switch (t) {
    case SeriesType::kCount:
      return MetricPayload::COUNT;
    case SeriesType::kRate:
      return MetricPayload::RATE;
    case SeriesType::kGauge:
      return MetricPayload::GAUGE;
  }
  return MetricPayload::UNSPECIFIED;
}

}  // namespace

SeriesEncoder::SeriesEncoder() : SeriesEncoder(Options{}) {}

SeriesEncoder::SeriesEncoder(Options options)
    : options_(options),
      shape_(repeatedProtobufShape("/api/v2/series",
                                   {{"DD-Agent-Payload", std::string(kAgentPayloadVersion)}})) {}

std::string SeriesEncoder::encodeOne(const Serie& serie) {
  MetricPayload payload;
  MetricPayload::MetricSeries* s = payload.add_series();
  auto* host = s->add_resources();
  host->set_type("host");
  host->set_name(toValidUtf8(serie.host));
  if (!serie.device.empty()) {
    auto* device = s->add_resources();
    device->set_type("device");
    device->set_name(toValidUtf8(serie.device));
  }
  s->set_metric(toValidUtf8(serie.name));
  for (const auto& tag : serie.tags) {
    s->add_tags(toValidUtf8(tag));
  }
  for (const auto& [ts, value] : serie.points) {
    auto* point = s->add_points();
    point->set_timestamp(ts);
    point->set_value(value);
  }
  s->set_type(metricType(serie.type));
  if (!serie.source_type_name.empty()) {
    s->set_source_type_name(toValidUtf8(serie.source_type_name));
  }
  s->set_interval(serie.interval);
  const SeriesOrigin& o = serie.origin;
  if (o.product != 0 || o.category != 0 || o.service != 0 || serie.no_index) {
    auto* origin = s->mutable_metadata()->mutable_origin();
    origin->set_origin_product(o.product);
    origin->set_origin_category(o.category);
    origin->set_origin_service(o.service);
    if (serie.no_index) {
      origin->GetReflection()->MutableUnknownFields(origin)->AddVarint(kOriginNoIndexField,
                                                                       kOriginNoIndexValue);
    }
  }
  return payload.SerializeAsString();
}

EncodeResult SeriesEncoder::encode(std::span<const Serie> series) const {
  EncodeResult result;
  PayloadBuilder builder(shape_, {options_.max_uncompressed_bytes, options_.max_points});
  for (const Serie& serie : series) {
    if (serie.points.empty()) {
      ++result.dropped_empty;
      continue;
    }
    // Too many points: dropped before spending time on encoding.
    if (serie.points.size() > options_.max_points ||
        !builder.add(encodeOne(serie), {}, serie.points.size())) {
      ++result.dropped_too_large;
    }
  }
  result.payloads = builder.finish();
  return result;
}

}  // namespace outpost
