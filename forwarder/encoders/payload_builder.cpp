#include "forwarder/encoders/payload_builder.h"

namespace outpost {

Payload makePayload(const std::shared_ptr<const PayloadShape>& shape,
                    const std::shared_ptr<const Chunks>& chunks, size_t begin, size_t end) {
  Payload p;
  p.intake = IntakeKind::kMetrics;
  p.route = shape->route;
  p.content_type = shape->content_type;
  p.headers = shape->headers;
  p.spoolable = true;
  p.body = shape->assemble(*chunks, begin, end);
  // The halves share the chunks; they are freed with the last payload holding them.
  p.split = [shape, chunks, begin, end]() -> std::vector<Payload> {
    if (end - begin < 2) {
      return {};
    }
    size_t mid = begin + (end - begin) / 2;
    std::vector<Payload> halves;
    halves.push_back(makePayload(shape, chunks, begin, mid));
    halves.push_back(makePayload(shape, chunks, mid, end));
    return halves;
  };
  return p;
}

PayloadBuilder::PayloadBuilder(std::shared_ptr<const PayloadShape> shape, PayloadLimits limits)
    : shape_(std::move(shape)), limits_(limits) {}

bool PayloadBuilder::add(std::string_view chunk, std::string key, size_t weight) {
  size_t cost = chunk.size() + key.size() + shape_->per_chunk_overhead;
  if (shape_->fixed_overhead + cost > limits_.max_bytes ||
      (limits_.max_weight != 0 && weight > limits_.max_weight)) {
    return false;
  }
  if (current_ && (current_bytes_ + cost > limits_.max_bytes ||
                   (limits_.max_weight != 0 && current_weight_ + weight > limits_.max_weight))) {
    flush();
  }
  if (!current_) {
    current_ = std::make_unique<Chunks>();
    current_bytes_ = shape_->fixed_overhead;
    current_weight_ = 0;
  }
  current_->data.append(chunk);
  current_->ends.push_back(current_->data.size());
  current_->keys.push_back(std::move(key));
  current_bytes_ += cost;
  current_weight_ += weight;
  return true;
}

void PayloadBuilder::flush() {
  if (!current_ || current_->size() == 0) {
    current_.reset();
    return;
  }
  std::shared_ptr<const Chunks> chunks(std::move(current_));
  payloads_.push_back(makePayload(shape_, chunks, 0, chunks->size()));
}

std::vector<Payload> PayloadBuilder::finish() {
  flush();
  std::vector<Payload> out;
  out.swap(payloads_);
  return out;
}

std::shared_ptr<const PayloadShape> repeatedProtobufShape(
    std::string route, std::vector<std::pair<std::string, std::string>> headers) {
  auto shape = std::make_shared<PayloadShape>();
  shape->route = std::move(route);
  shape->content_type = "application/x-protobuf";
  shape->headers = std::move(headers);
  shape->assemble = [](const Chunks& chunks, size_t begin, size_t end) {
    const size_t from = begin == 0 ? 0 : chunks.ends[begin - 1];
    return chunks.data.substr(from, chunks.ends[end - 1] - from);
  };
  return shape;
}

}  // namespace outpost
