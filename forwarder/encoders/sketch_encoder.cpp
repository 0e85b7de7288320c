#include "forwarder/encoders/sketch_encoder.h"

#include "forwarder/encoders/json_writer.h"
#include "forwarder/encoders/series_encoder.h"
#include "proto/metrics_payload.pb.h"

namespace outpost {

namespace {

using datadog::agentpayload::SketchPayload;

}  // namespace

SketchEncoder::SketchEncoder() : SketchEncoder(Options{}) {}

SketchEncoder::SketchEncoder(Options options)
    : options_(options),
      shape_(repeatedProtobufShape("/api/beta/sketches",
                                   {{"DD-Agent-Payload", std::string(kAgentPayloadVersion)}})) {}

std::string SketchEncoder::encodeOne(const SketchSerie& sketch) {
  SketchPayload payload;
  SketchPayload::Sketch* s = payload.add_sketches();
  s->set_metric(toValidUtf8(sketch.name));
  s->set_host(toValidUtf8(sketch.host));
  for (const auto& tag : sketch.tags) {
    s->add_tags(toValidUtf8(tag));
  }
  for (const SketchSerie::Point& p : sketch.points) {
    auto* d = s->add_dogsketches();
    d->set_ts(p.ts);
    d->set_cnt(p.cnt);
    d->set_min(p.min);
    d->set_max(p.max);
    d->set_avg(p.avg);
    d->set_sum(p.sum);
    d->mutable_k()->Add(p.k.begin(), p.k.end());
    d->mutable_n()->Add(p.n.begin(), p.n.end());
  }
  return payload.SerializeAsString();
}

EncodeResult SketchEncoder::encode(std::span<const SketchSerie> sketches) const {
  EncodeResult result;
  PayloadBuilder builder(shape_, {options_.max_uncompressed_bytes, 0});
  for (const SketchSerie& sketch : sketches) {
    if (sketch.points.empty()) {
      ++result.dropped_empty;
      continue;
    }
    if (!builder.add(encodeOne(sketch), {}, 0)) {
      ++result.dropped_too_large;
    }
  }
  result.payloads = builder.finish();
  return result;
}

}  // namespace outpost
