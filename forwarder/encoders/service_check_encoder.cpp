#include "forwarder/encoders/service_check_encoder.h"

#include "forwarder/encoders/json_writer.h"

namespace outpost {

namespace {

std::shared_ptr<const PayloadShape> checkRunShape() {
  auto shape = std::make_shared<PayloadShape>();
  shape->route = "/api/v1/check_run";
  shape->content_type = "application/json";
  shape->fixed_overhead = 2;      // [ ]
  shape->per_chunk_overhead = 1;  // ,
  shape->assemble = [](const Chunks& chunks, size_t begin, size_t end) {
    size_t from = begin == 0 ? 0 : chunks.ends[begin - 1];
    std::string body;
    body.reserve(chunks.ends[end - 1] - from + (end - begin) + 2);
    body.push_back('[');
    for (size_t i = begin; i < end; ++i) {
      if (i != begin) {
        body.push_back(',');
      }
      body.append(chunks.chunk(i));
    }
    body.push_back(']');
    return body;
  };
  return shape;
}

}  // namespace

ServiceCheckEncoder::ServiceCheckEncoder() : ServiceCheckEncoder(Options{}) {}

ServiceCheckEncoder::ServiceCheckEncoder(Options options)
    : options_(options), shape_(checkRunShape()) {}

std::string ServiceCheckEncoder::encodeOne(const ServiceCheckRun& check) {
  JsonWriter w;
  w.beginObject();
  w.key("check").string(check.check);
  w.key("host_name").string(check.host);
  w.key("timestamp").integer(check.timestamp);
  w.key("status").integer(check.status);
  w.key("message").string(check.message);
  w.key("tags");
  if (check.tags.empty()) {
    w.null();
  } else {
    w.stringArray(check.tags);
  }
  w.endObject();
  return w.take();
}

EncodeResult ServiceCheckEncoder::encode(std::span<const ServiceCheckRun> checks) const {
  EncodeResult result;
  PayloadBuilder builder(shape_, {options_.max_uncompressed_bytes, 0});
  for (const ServiceCheckRun& check : checks) {
    if (!builder.add(encodeOne(check), {}, 0)) {
      ++result.dropped_too_large;
    }
  }
  result.payloads = builder.finish();
  return result;
}

}  // namespace outpost
