#include "collector/sources/traces/agent_payload.h"

#include <algorithm>

#include "collector/sources/traces/proto_writer.h"

namespace outpost::traces {

using proto::delimitedSize;
using proto::Writer;

namespace {

// Span fields (§5.4).
enum SpanField : uint32_t {
  kService = 1,
  kName = 2,
  kResource = 3,
  kTraceId = 4,
  kSpanId = 5,
  kParentId = 6,
  kStart = 7,
  kDuration = 8,
  kError = 9,
  kMeta = 10,
  kMetrics = 11,
  kType = 12,
  kMetaStruct = 13,
  kSpanLinks = 14,
  kSpanEvents = 15,
};

size_t linkSize(const SpanLink& l) {
  size_t n = proto::uint64Size(1, l.trace_id) + proto::uint64Size(2, l.trace_id_high) +
             proto::uint64Size(3, l.span_id) + proto::stringSize(5, l.tracestate) +
             proto::uint64Size(6, l.flags);
  for (const auto& [k, v] : l.attributes) {
    n += delimitedSize(4, proto::stringEntrySize(k, v));
  }
  return n;
}

void writeLink(Writer& w, const SpanLink& l) {
  w.uint64(1, l.trace_id);
  w.uint64(2, l.trace_id_high);
  w.uint64(3, l.span_id);
  for (const auto& [k, v] : l.attributes) {
    w.stringEntry(4, k, v);
  }
  w.string(5, l.tracestate);
  w.uint64(6, l.flags);
}

// AttributeAnyValue (or AttributeArrayValue, which has the same fields 1-5).
size_t attributeValueSize(const AttributeValue& v) {
  size_t n = proto::uint64Size(1, static_cast<uint64_t>(v.type));
  switch (v.type) {
    case AttributeValue::kString:
      n += proto::stringSize(2, v.string_value);
      break;
    case AttributeValue::kBool:
      n += proto::boolSize(3, v.bool_value);
      break;
    case AttributeValue::kInt:
      n += proto::int64Size(4, v.int_value);
      break;
    case AttributeValue::kDouble:
      n += proto::doubleSize(5, v.double_value);
      break;
    case AttributeValue::kArray: {
      size_t array = 0;
      for (const auto& e : v.array_value) {
        array += delimitedSize(1, attributeValueSize(e));
      }
      n += delimitedSize(6, array);
      break;
    }
  }
  return n;
}

void writeAttributeValue(Writer& w, const AttributeValue& v) {
  w.uint64(1, static_cast<uint64_t>(v.type));
  switch (v.type) {
    case AttributeValue::kString:
      w.string(2, v.string_value);
      break;
    case AttributeValue::kBool:
      w.boolean(3, v.bool_value);
      break;
    case AttributeValue::kInt:
      w.int64(4, v.int_value);
      break;
    case AttributeValue::kDouble:
      w.float64(5, v.double_value);
      break;
    case AttributeValue::kArray: {
      size_t array = 0;
      for (const auto& e : v.array_value) {
        array += delimitedSize(1, attributeValueSize(e));
      }
      w.header(6, array);
      for (const auto& e : v.array_value) {
        w.header(1, attributeValueSize(e));
        writeAttributeValue(w, e);
      }
      break;
    }
  }
}

size_t eventSize(const SpanEvent& e) {
  size_t n = (e.time_unix_nano != 0 ? proto::tagSize(1) + 8 : 0) + proto::stringSize(2, e.name);
  for (const auto& [k, v] : e.attributes) {
    n += delimitedSize(3, delimitedSize(1, k.size()) + delimitedSize(2, attributeValueSize(v)));
  }
  return n;
}

void writeEvent(Writer& w, const SpanEvent& e) {
  if (e.time_unix_nano != 0) {
    w.fixed64(1, e.time_unix_nano);
  }
  w.string(2, e.name);
  for (const auto& [k, v] : e.attributes) {
    const size_t value = attributeValueSize(v);
    w.header(3, delimitedSize(1, k.size()) + delimitedSize(2, value));
    w.bytes(1, k);
    w.header(2, value);
    writeAttributeValue(w, v);
  }
}

}  // namespace

namespace {

// Bounds for GrowingWriter::room(): a varint field (tag and value), and the framing of a string
// field or a map entry (tags and length varints), whatever their size.
constexpr size_t kVarintRoom = proto::GrowingWriter::kTagRoom + 10;
constexpr size_t kStringRoom = kVarintRoom;
constexpr size_t kEntryRoom = 3 * kStringRoom;

void writeSpan(proto::GrowingWriter& w, const Span& s) {
  w.room(3 * kStringRoom + s.service.size() + s.name.size() + s.resource.size() + 6 * kVarintRoom);
  w.string(kService, s.service);
  w.string(kName, s.name);
  w.string(kResource, s.resource);
  w.uint64(kTraceId, s.trace_id);
  w.uint64(kSpanId, s.span_id);
  w.uint64(kParentId, s.parent_id);
  w.int64(kStart, s.start);
  w.int64(kDuration, s.duration);
  w.int64(kError, s.error);
  for (const auto& [k, v] : s.meta) {
    w.room(kEntryRoom + k.size() + v.size());
    w.stringEntry(kMeta, k, v);
  }
  for (const auto& [k, v] : s.metrics) {
    w.room(kEntryRoom + k.size());
    w.doubleEntry(kMetrics, k, v);
  }
  w.room(kStringRoom + s.type.size());
  w.string(kType, s.type);
  for (const auto& [k, v] : s.meta_struct) {
    w.room(kEntryRoom + k.size() + v.size());
    w.stringEntry(kMetaStruct, k, v);
  }
  for (const auto& l : s.span_links) {  // rare: sized first, written with the exact writer
    const size_t size = linkSize(l);
    w.room(kStringRoom + size);
    w.header(kSpanLinks, size);
    writeLink(w, l);
  }
  for (const auto& e : s.span_events) {
    const size_t size = eventSize(e);
    w.room(kStringRoom + size);
    w.header(kSpanEvents, size);
    writeEvent(w, e);
  }
}

void writeTraceChunk(proto::GrowingWriter& w, const TraceChunk& c) {
  w.room(kVarintRoom + kStringRoom + c.origin.size());
  w.int64(1, c.priority);
  w.string(2, c.origin);
  for (const auto& s : c.spans) {
    const size_t at = w.open(3);
    writeSpan(w, s);
    w.close(at);
  }
  for (const auto& [k, v] : c.tags) {
    w.room(kEntryRoom + k.size() + v.size());
    w.stringEntry(4, k, v);
  }
  w.room(kVarintRoom);
  w.boolean(5, c.dropped_trace);
}

}  // namespace

namespace {

template <typename Message>
std::string encode(const Message& m, void (*write)(proto::GrowingWriter&, const Message&)) {
  proto::Buffer out;
  proto::GrowingWriter w(out);
  write(w, m);
  w.finish();
  return std::string(out.view());
}

}  // namespace

std::string encodeSpan(const Span& s) {
  return encode(s, writeSpan);
}

std::string encodeTraceChunk(const TraceChunk& c) {
  return encode(c, writeTraceChunk);
}

AgentPayloadBuffer::AgentPayloadBuffer(Options options) : options_(std::move(options)) {}

AgentPayloadBuffer::Group& AgentPayloadBuffer::groupFor(const TracerPayload& p) {
  for (auto& g : groups_) {
    if (g.container_id == p.container_id && g.language_name == p.language_name &&
        g.language_version == p.language_version && g.tracer_version == p.tracer_version &&
        g.runtime_id == p.runtime_id && g.env == p.env && g.hostname == p.hostname &&
        g.app_version == p.app_version) {
      return g;
    }
  }
  Group& g = groups_.emplace_back();
  g.container_id = p.container_id;
  g.language_name = p.language_name;
  g.language_version = p.language_version;
  g.tracer_version = p.tracer_version;
  g.runtime_id = p.runtime_id;
  g.env = p.env;
  g.hostname = p.hostname;
  g.app_version = p.app_version;
  for (const auto& [k, v] : p.tags) {
    g.tags.emplace_back(std::string(k), std::string(v));
  }
  bytes_ += 64 + g.container_id.size() + g.runtime_id.size() + g.tracer_version.size();
  return g;
}

void AgentPayloadBuffer::add(const TracerPayload& payload, const TraceChunk& chunk) {
  Group& g = groupFor(payload);
  const size_t before = g.chunks.size();
  proto::GrowingWriter w(g.chunks);
  const size_t at = w.open(6);
  writeTraceChunk(w, chunk);
  w.close(at);
  w.finish();
  bytes_ += g.chunks.size() - before;
  ++chunks_;
}

std::string AgentPayloadBuffer::languages() const {
  std::vector<std::string> langs;
  for (const auto& g : groups_) {
    if (!g.chunks.empty() && !g.language_name.empty() &&
        std::find(langs.begin(), langs.end(), g.language_name) == langs.end()) {
      langs.push_back(g.language_name);
    }
  }
  std::string out;
  for (const auto& l : langs) {
    if (!out.empty()) {
      out.push_back('|');
    }
    out += l;
  }
  return out;
}

std::string AgentPayloadBuffer::take() {
  auto headSize = [](const Group& g) {  // the group's fields before its chunks
    return proto::stringSize(1, g.container_id) + proto::stringSize(2, g.language_name) +
           proto::stringSize(3, g.language_version) + proto::stringSize(4, g.tracer_version) +
           proto::stringSize(5, g.runtime_id);
  };
  auto tailSize = [](const Group& g) {  // and after them
    size_t n = proto::stringSize(8, g.env) + proto::stringSize(9, g.hostname) +
               proto::stringSize(10, g.app_version);
    for (const auto& [k, v] : g.tags) {
      n += delimitedSize(7, proto::stringEntrySize(k, v));
    }
    return n;
  };
  auto groupSize = [&](const Group& g) { return headSize(g) + g.chunks.size() + tailSize(g); };
  const size_t top = proto::stringSize(1, options_.hostname) + proto::stringSize(2, options_.env);
  size_t bottom =
      proto::stringSize(7, options_.agent_version) + proto::doubleSize(8, options_.target_tps) +
      proto::doubleSize(9, options_.error_tps) + proto::boolSize(10, options_.rare_sampler_enabled);
  for (const auto& [k, v] : options_.tags) {
    bottom += delimitedSize(6, proto::stringEntrySize(k, v));
  }
  size_t total = top + bottom;
  for (const auto& g : groups_) {
    if (!g.chunks.empty()) {
      total += delimitedSize(5, groupSize(g));
    }
  }
  // Written piece by piece: the chunks (nearly all of it) are appended, not written over a
  // zero-filled string.
  std::string out;
  out.reserve(total);
  Writer w = proto::extend(out, top);
  w.string(1, options_.hostname);
  w.string(2, options_.env);
  for (const auto& g : groups_) {
    if (g.chunks.empty()) {
      continue;
    }
    const size_t size = groupSize(g);
    w = proto::extend(out, delimitedSize(5, size) - size + headSize(g));
    w.header(5, size);
    w.string(1, g.container_id);
    w.string(2, g.language_name);
    w.string(3, g.language_version);
    w.string(4, g.tracer_version);
    w.string(5, g.runtime_id);
    out.append(g.chunks.view());
    w = proto::extend(out, tailSize(g));
    for (const auto& [k, v] : g.tags) {
      w.stringEntry(7, k, v);
    }
    w.string(8, g.env);
    w.string(9, g.hostname);
    w.string(10, g.app_version);
  }
  w = proto::extend(out, bottom);
  for (const auto& [k, v] : options_.tags) {
    w.stringEntry(6, k, v);
  }
  w.string(7, options_.agent_version);
  w.float64(8, options_.target_tps);
  w.float64(9, options_.error_tps);
  w.boolean(10, options_.rare_sampler_enabled);
  // Groups with nothing since the last take go; the others keep their buffer for the next.
  std::erase_if(groups_, [](const Group& g) { return g.chunks.empty(); });
  for (auto& g : groups_) {
    g.chunks.clear();
  }
  bytes_ = 0;
  chunks_ = 0;
  return out;
}

}  // namespace outpost::traces
