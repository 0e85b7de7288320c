#include "collector/sources/traces/agent_payload.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "proto/trace_agent_payload.pb.h"

namespace outpost::traces {
namespace {

Span fullSpan() {
  Span s;
  s.service = "checkout";
  s.name = "http.request";
  s.resource = "GET /cart";
  s.type = "web";
  s.trace_id = 0xfedcba9876543210ULL;
  s.span_id = 42;
  s.parent_id = 7;
  s.start = 1'795'000'000'123'456'789;
  s.duration = 1'500'000;
  s.error = 1;
  s.meta = {{"http.method", "GET"}, {"_dd.p.tid", "0123456789abcdef"}, {"empty", ""}};
  s.metrics = {{"_sampling_priority_v1", 2}, {"zero", 0}, {"neg", -1.5}};
  s.meta_struct = {{"appsec", std::string_view("\x81\xa1k\x01", 4)}};
  SpanLink l;
  l.trace_id = 1;
  l.trace_id_high = 2;
  l.span_id = 3;
  l.attributes = {{"link.kind", "follows"}};
  l.tracestate = "dd=s:1";
  l.flags = 0x80000001u;
  s.span_links.push_back(l);
  SpanEvent e;
  e.time_unix_nano = 1'795'000'000'000'000'001ULL;
  e.name = "exception";
  AttributeValue str;
  str.string_value = "boom";
  AttributeValue num;
  num.type = AttributeValue::kInt;
  num.int_value = -3;
  AttributeValue arr;
  arr.type = AttributeValue::kArray;
  arr.array_value = {str, num};
  AttributeValue dbl;
  dbl.type = AttributeValue::kDouble;
  dbl.double_value = 2.5;
  AttributeValue yes;
  yes.type = AttributeValue::kBool;
  yes.bool_value = true;
  e.attributes = {{"message", str}, {"list", arr}, {"ratio", dbl}, {"handled", yes}};
  s.span_events.push_back(e);
  return s;
}

TEST(AgentPayloadTest, EveryFieldDecodesWithTheRealProtobufClasses) {
  AgentPayloadBuffer::Options o;
  o.hostname = "host-a";
  o.env = "prod";
  o.agent_version = "7.60.0";
  o.target_tps = 10;
  o.error_tps = 5;
  o.rare_sampler_enabled = true;
  o.tags = {{"_dd.hostname", "host-a"}};
  AgentPayloadBuffer buffer(o);

  TracerPayload tp;
  tp.container_id = "c0ffee";
  tp.language_name = "nodejs";
  tp.language_version = "v20.1.0";
  tp.tracer_version = "5.0.0";
  tp.runtime_id = "rt-1";
  tp.env = "staging";
  tp.hostname = "app-host";
  tp.app_version = "1.2.3";
  tp.tags = {{"_dd.tags.container", "image:x"}};
  TraceChunk chunk;
  chunk.priority = 2;
  chunk.origin = "synthetics";
  chunk.spans = {fullSpan(), Span{}};
  chunk.spans[1].name = "child";
  chunk.spans[1].trace_id = chunk.spans[0].trace_id;
  chunk.spans[1].span_id = 43;
  chunk.tags = {{"_dd.p.dm", "-4"}};
  buffer.add(tp, chunk);

  TraceChunk unset;  // priority -128 (10-byte varint), dropped flag
  unset.dropped_trace = true;
  unset.spans.push_back(Span{});
  unset.spans[0].trace_id = 9;
  unset.spans[0].span_id = 9;
  buffer.add(tp, unset);

  TracerPayload other;  // a second group
  other.language_name = "python";
  buffer.add(other, chunk);
  EXPECT_EQ(buffer.chunks(), 3u);
  EXPECT_EQ(buffer.languages(), "nodejs|python");

  const std::string body = buffer.take();
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.bytes(), 0u);

  pb::AgentPayload p;
  ASSERT_TRUE(p.ParseFromString(body));
  // Minimal varints and no stray bytes: re-serializing gives the same size.
  EXPECT_EQ(p.ByteSizeLong(), body.size());
  EXPECT_EQ(p.hostname(), "host-a");
  EXPECT_EQ(p.env(), "prod");
  EXPECT_EQ(p.agentversion(), "7.60.0");
  EXPECT_EQ(p.targettps(), 10);
  EXPECT_EQ(p.errortps(), 5);
  EXPECT_TRUE(p.raresamplerenabled());
  EXPECT_EQ(p.tags().at("_dd.hostname"), "host-a");
  ASSERT_EQ(p.tracerpayloads_size(), 2);

  const pb::TracerPayload& t = p.tracerpayloads(0);
  EXPECT_EQ(t.containerid(), "c0ffee");
  EXPECT_EQ(t.languagename(), "nodejs");
  EXPECT_EQ(t.languageversion(), "v20.1.0");
  EXPECT_EQ(t.tracerversion(), "5.0.0");
  EXPECT_EQ(t.runtimeid(), "rt-1");
  EXPECT_EQ(t.env(), "staging");
  EXPECT_EQ(t.hostname(), "app-host");
  EXPECT_EQ(t.appversion(), "1.2.3");
  EXPECT_EQ(t.tags().at("_dd.tags.container"), "image:x");
  ASSERT_EQ(t.chunks_size(), 2);
  EXPECT_EQ(t.chunks(0).priority(), 2);
  EXPECT_EQ(t.chunks(0).origin(), "synthetics");
  EXPECT_EQ(t.chunks(0).tags().at("_dd.p.dm"), "-4");
  EXPECT_FALSE(t.chunks(0).droppedtrace());
  EXPECT_EQ(t.chunks(1).priority(), -128);
  EXPECT_TRUE(t.chunks(1).droppedtrace());
  EXPECT_EQ(t.chunks(1).spans(0).traceid(), 9u);

  ASSERT_EQ(t.chunks(0).spans_size(), 2);
  const pb::Span& s = t.chunks(0).spans(0);
  EXPECT_EQ(s.service(), "checkout");
  EXPECT_EQ(s.name(), "http.request");
  EXPECT_EQ(s.resource(), "GET /cart");
  EXPECT_EQ(s.type(), "web");
  EXPECT_EQ(s.traceid(), 0xfedcba9876543210ULL);
  EXPECT_EQ(s.spanid(), 42u);
  EXPECT_EQ(s.parentid(), 7u);
  EXPECT_EQ(s.start(), 1'795'000'000'123'456'789);
  EXPECT_EQ(s.duration(), 1'500'000);
  EXPECT_EQ(s.error(), 1);
  EXPECT_EQ(s.meta_size(), 3);
  EXPECT_EQ(s.meta().at("http.method"), "GET");
  EXPECT_EQ(s.meta().at("_dd.p.tid"), "0123456789abcdef");
  EXPECT_EQ(s.meta().at("empty"), "");
  EXPECT_EQ(s.metrics().at("_sampling_priority_v1"), 2);
  EXPECT_EQ(s.metrics().at("zero"), 0);
  EXPECT_EQ(s.metrics().at("neg"), -1.5);
  EXPECT_EQ(s.meta_struct().at("appsec"), std::string("\x81\xa1k\x01", 4));
  ASSERT_EQ(s.spanlinks_size(), 1);
  EXPECT_EQ(s.spanlinks(0).traceid(), 1u);
  EXPECT_EQ(s.spanlinks(0).traceid_high(), 2u);
  EXPECT_EQ(s.spanlinks(0).spanid(), 3u);
  EXPECT_EQ(s.spanlinks(0).attributes().at("link.kind"), "follows");
  EXPECT_EQ(s.spanlinks(0).tracestate(), "dd=s:1");
  EXPECT_EQ(s.spanlinks(0).flags(), 0x80000001u);
  ASSERT_EQ(s.spanevents_size(), 1);
  const pb::SpanEvent& e = s.spanevents(0);
  EXPECT_EQ(e.time_unix_nano(), 1'795'000'000'000'000'001ULL);
  EXPECT_EQ(e.name(), "exception");
  EXPECT_EQ(e.attributes().at("message").string_value(), "boom");
  EXPECT_EQ(e.attributes().at("ratio").type(), pb::AttributeAnyValue::DOUBLE_VALUE);
  EXPECT_EQ(e.attributes().at("ratio").double_value(), 2.5);
  EXPECT_TRUE(e.attributes().at("handled").bool_value());
  const auto& list = e.attributes().at("list");
  EXPECT_EQ(list.type(), pb::AttributeAnyValue::ARRAY_VALUE);
  ASSERT_EQ(list.array_value().values_size(), 2);
  EXPECT_EQ(list.array_value().values(0).string_value(), "boom");
  EXPECT_EQ(list.array_value().values(1).int_value(), -3);

  const pb::Span& child = t.chunks(0).spans(1);
  EXPECT_EQ(child.name(), "child");
  EXPECT_EQ(child.parentid(), 0u);
  EXPECT_EQ(p.tracerpayloads(1).languagename(), "python");
  EXPECT_EQ(p.tracerpayloads(1).chunks_size(), 1);
}

// Written in one pass, every length is still a minimal varint: the encoding is exactly as long
// as protobuf's own (ByteSizeLong), for the full span, a chunk of it, and extreme values.
TEST(AgentPayloadTest, EncodingsAreAsLongAsProtobufs) {
  Span s = fullSpan();
  std::string out = encodeSpan(s);
  pb::Span span;
  ASSERT_TRUE(span.ParseFromString(out));
  EXPECT_EQ(span.ByteSizeLong(), out.size());
  TraceChunk c;
  c.spans = {s, s};
  c.priority = -1;
  out = encodeTraceChunk(c);
  pb::TraceChunk chunk;
  ASSERT_TRUE(chunk.ParseFromString(out));
  EXPECT_EQ(chunk.ByteSizeLong(), out.size());
  EXPECT_EQ(chunk.spans_size(), 2);
  s.start = std::numeric_limits<int64_t>::min();
  s.trace_id = std::numeric_limits<uint64_t>::max();
  out = encodeSpan(s);
  ASSERT_TRUE(span.ParseFromString(out));
  EXPECT_EQ(span.ByteSizeLong(), out.size());
  EXPECT_EQ(span.start(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(span.traceid(), std::numeric_limits<uint64_t>::max());
}

// Spans and chunks whose lengths take one, two, three and four bytes (the writer keeps two and
// moves the contents for the others), in a buffer that grows in the middle of a span: every
// payload decodes to what was added, with minimal lengths.
TEST(AgentPayloadTest, SpansAndChunksOfEveryLengthWidthRoundTrip) {
  AgentPayloadBuffer buffer({});
  TracerPayload tp;
  tp.language_name = "go";
  const std::string big(3'000'000, 'v');
  const std::vector<size_t> value_sizes = {0, 50, 200, 5'000, 16'370, 16'400, 20'000, 2'500'000};
  for (const size_t per_chunk : {1, 40}) {
    std::vector<TraceChunk> chunks;
    for (const size_t size : value_sizes) {
      TraceChunk chunk;
      for (size_t i = 0; i < per_chunk; ++i) {
        Span s;
        s.span_id = size + i + 1;
        s.meta = {{"k", Str(big).substr(0, size)}};
        chunk.spans.push_back(s);
      }
      buffer.add(tp, chunk);
      chunks.push_back(chunk);
    }
    const std::string body = buffer.take();
    pb::AgentPayload p;
    ASSERT_TRUE(p.ParseFromString(body));
    EXPECT_EQ(p.ByteSizeLong(), body.size());
    ASSERT_EQ(p.tracerpayloads_size(), 1);
    ASSERT_EQ(p.tracerpayloads(0).chunks_size(), static_cast<int>(chunks.size()));
    for (size_t c = 0; c < chunks.size(); ++c) {
      const auto& got = p.tracerpayloads(0).chunks(static_cast<int>(c));
      ASSERT_EQ(got.spans_size(), static_cast<int>(per_chunk));
      for (size_t i = 0; i < per_chunk; ++i) {
        const auto& span = got.spans(static_cast<int>(i));
        EXPECT_EQ(span.spanid(), chunks[c].spans[i].span_id);
        EXPECT_EQ(span.meta().at("k").size(), value_sizes[c]);
      }
    }
  }
}

// Ids and times at every varint width's edges (2^7k - 1 and 2^7k): minimal, and decoded back to
// the same values.
TEST(AgentPayloadTest, VarintsOfEveryWidthRoundTrip) {
  for (int bits = 0; bits <= 64; ++bits) {
    for (const uint64_t v : {bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1,
                             bits == 64 ? uint64_t{1} << 63 : uint64_t{1} << bits}) {
      Span s;
      s.trace_id = v;
      s.span_id = v + 1;
      s.start = static_cast<int64_t>(v);
      s.duration = static_cast<int64_t>(v >> 1);
      const std::string out = encodeSpan(s);
      pb::Span parsed;
      ASSERT_TRUE(parsed.ParseFromString(out)) << v;
      EXPECT_EQ(parsed.ByteSizeLong(), out.size()) << v;
      EXPECT_EQ(parsed.traceid(), s.trace_id);
      EXPECT_EQ(parsed.spanid(), s.span_id);
      EXPECT_EQ(parsed.start(), s.start);
      EXPECT_EQ(parsed.duration(), s.duration);
    }
  }
}

// The writer copies short strings by overlapping words and writes small map entries with one-byte
// lengths: every length around those paths (0-3, 4-7, 8-16, entries just under and over 128
// bytes, lengths over 127), through a buffer that grows past its first allocation and is taken
// twice, decodes to exactly what was added.
TEST(AgentPayloadTest, StringsOfEveryLengthAroundTheFastPathsRoundTrip) {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    text.push_back(static_cast<char>('a' + i % 26));
  }
  const std::string upper = "K" + text;  // keys that never equal one from `text`
  AgentPayloadBuffer buffer({});
  TracerPayload tp;
  tp.language_name = "go";
  for (int take = 0; take < 2; ++take) {
    TraceChunk chunk;
    for (size_t n = 0; n <= 260; ++n) {
      Span s;
      s.span_id = n + 1;
      s.service = Str(text).substr(0, n % 40);
      s.resource = Str(text).substr(take, n);
      s.meta = {{Str(text).substr(0, n % 20), Str(text).substr(n % 7, n)},
                {Str(upper).substr(0, n + 1), "v"}};
      s.metrics = {{Str(text).substr(2, n), static_cast<double>(n)}};
      chunk.spans.push_back(s);
    }
    buffer.add(tp, chunk);
    const std::string body = buffer.take();
    pb::AgentPayload p;
    ASSERT_TRUE(p.ParseFromString(body));
    EXPECT_EQ(p.ByteSizeLong(), body.size());
    ASSERT_EQ(p.tracerpayloads_size(), 1);
    ASSERT_EQ(p.tracerpayloads(0).chunks_size(), 1);
    const auto& spans = p.tracerpayloads(0).chunks(0).spans();
    ASSERT_EQ(spans.size(), 261);
    for (int i = 0; i < spans.size(); ++i) {
      const auto& want = chunk.spans[static_cast<size_t>(i)];
      const auto& got = spans[i];
      EXPECT_EQ(got.spanid(), want.span_id);
      EXPECT_EQ(got.service(), want.service);
      EXPECT_EQ(got.resource(), want.resource);
      ASSERT_EQ(got.meta_size(), 2) << i;
      for (const auto& [k, v] : want.meta) {
        ASSERT_EQ(got.meta().count(std::string(k)), 1u) << i;
        EXPECT_EQ(got.meta().at(std::string(k)), v) << i;
      }
      const std::string metric(want.metrics[0].first);
      ASSERT_EQ(got.metrics().count(metric), 1u) << i;
      EXPECT_EQ(got.metrics().at(metric), want.metrics[0].second);
    }
  }
}

TEST(AgentPayloadTest, AnEmptyBufferGivesAPayloadWithoutTracerPayloads) {
  AgentPayloadBuffer buffer({});
  pb::AgentPayload p;
  ASSERT_TRUE(p.ParseFromString(buffer.take()));
  EXPECT_EQ(p.tracerpayloads_size(), 0);
  EXPECT_EQ(p.env(), "none");
}

}  // namespace
}  // namespace outpost::traces
