#include "forwarder/encoders/event_encoder.h"

#include <string_view>
#include <unordered_map>

#include "forwarder/encoders/json_writer.h"

namespace outpost {

namespace {

constexpr std::string_view kBodyStart = R"({"apiKey":"","events":{)";
constexpr std::string_view kBodyHostKey = R"(},"internalHostname":)";

std::shared_ptr<const PayloadShape> eventShape(const std::string& hostname) {
  auto shape = std::make_shared<PayloadShape>();
  shape->route = "/intake/";
  shape->content_type = "application/json";
  std::string host = jsonString(hostname);
  shape->fixed_overhead = kBodyStart.size() + kBodyHostKey.size() + host.size() + 1;
  shape->per_chunk_overhead = 4;  // the group's :[ ] and , (the key itself is counted apart)
  // Chunk keys are the group names, already JSON-encoded. Groups keep the order in which
  // they first appear.
  shape->assemble = [host](const Chunks& chunks, size_t begin, size_t end) {
    std::vector<std::vector<size_t>> groups;
    std::unordered_map<std::string_view, size_t> index;
    for (size_t i = begin; i < end; ++i) {
      auto [it, inserted] = index.try_emplace(chunks.keys[i], groups.size());
      if (inserted) {
        groups.emplace_back();
      }
      groups[it->second].push_back(i);
    }
    std::string body(kBodyStart);
    for (size_t g = 0; g < groups.size(); ++g) {
      if (g != 0) {
        body.push_back(',');
      }
      body.append(chunks.keys[groups[g].front()]);
      body.append(":[");
      for (size_t j = 0; j < groups[g].size(); ++j) {
        if (j != 0) {
          body.push_back(',');
        }
        body.append(chunks.chunk(groups[g][j]));
      }
      body.push_back(']');
    }
    body.append(kBodyHostKey);
    body.append(host);
    body.push_back('}');
    return body;
  };
  return shape;
}

}  // namespace

EventEncoder::EventEncoder(Options options)
    : options_(std::move(options)), shape_(eventShape(options_.hostname)) {}

std::string EventEncoder::encodeOne(const EventRecord& event) {
  JsonWriter w;
  w.beginObject();
  w.key("msg_title").string(event.title);
  w.key("msg_text").string(event.text);
  w.key("timestamp").integer(event.timestamp);
  if (!event.priority.empty()) {
    w.key("priority").string(event.priority);
  }
  w.key("host").string(event.host);
  if (!event.tags.empty()) {
    w.key("tags").stringArray(event.tags);
  }
  if (!event.alert_type.empty()) {
    w.key("alert_type").string(event.alert_type);
  }
  if (!event.aggregation_key.empty()) {
    w.key("aggregation_key").string(event.aggregation_key);
  }
  if (!event.source_type_name.empty()) {
    w.key("source_type_name").string(event.source_type_name);
  }
  w.endObject();
  return w.take();
}

EncodeResult EventEncoder::encode(std::span<const EventRecord> events) const {
  EncodeResult result;
  PayloadBuilder builder(shape_, {options_.max_uncompressed_bytes, 0});
  for (const EventRecord& event : events) {
    std::string group = jsonString(event.source_type_name.empty() ? "api" : event.source_type_name);
    if (!builder.add(encodeOne(event), std::move(group), 0)) {
      ++result.dropped_too_large;
    }
  }
  result.payloads = builder.finish();
  return result;
}

}  // namespace outpost
