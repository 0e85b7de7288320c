#include "collector/sources/traces/decoder.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "collector/sources/traces/msgpack_reader.h"

namespace outpost::traces {

namespace {

constexpr uint64_t kMaxChunks = 100'000;
constexpr uint64_t kMaxSpans = 500'000;

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8Sequence(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t min;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    n = 2;
    min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

// Whether every byte of `s` is ASCII. Nearly every string is ASCII and short (a tag key, a
// service name): eight bytes at a time, the last word overlapping the one before. Inline, so
// that the decoder's string reads make no call for them.
[[gnu::always_inline]] inline bool asciiOnly(std::string_view s) {
  const char* p = s.data();
  const size_t size = s.size();
  auto word = [p](size_t at) {
    uint64_t w;
    std::memcpy(&w, p + at, sizeof w);
    return w;
  };
  auto half = [p](size_t at) {
    uint32_t w;
    std::memcpy(&w, p + at, sizeof w);
    return w;
  };
  uint64_t any = 0;
  if (size >= 8) {
    for (size_t at = 0; at + 8 <= size; at += 8) {
      any |= word(at);
    }
    any |= word(size - 8);
  } else if (size >= 4) {
    any = half(0) | half(size - 4);
  } else if (size > 0) {  // the first, middle and last bytes cover one to three
    any = static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[size / 2]) |
          static_cast<unsigned char>(p[size - 1]);
  }
  return (any & 0x8080808080808080ull) == 0;
}

}  // namespace

bool validUtf8(std::string_view s) {
  if (asciiOnly(s)) {
    return true;
  }
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8Sequence(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

std::string repairUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = utf8Sequence(s, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

namespace {

// `key` is the literal `lit`: a compare of a known length, which the compiler turns into a load
// or two instead of a call to memcmp (span keys are compared ~25 times a span).
template <size_t N>
bool keyIs(Str key, const char (&lit)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), lit, N - 1) == 0;
}

class MsgpackDecoder {
 public:
  MsgpackDecoder(DecodedPayload& out) : out_(out), r_(out.body) {}

  bool fail(std::string* error) {
    *error = r_.ok() ? std::string("malformed payload") : r_.error();
    return false;
  }

  // A string, repaired into the arena when it is not valid UTF-8.
  bool str(Str* s) {
    if (!r_.readString(s)) {
      return false;
    }
    if (!asciiOnly(*s) && !validUtf8(*s)) [[unlikely]] {
      repair(s);
    }
    return true;
  }
  // Out of line, so that str() itself needs no stack frame.
  [[gnu::noinline]] void repair(Str* s) { *s = out_.arena.keep(repairUtf8(*s)); }

  bool strPairs(StrPairs& pairs) {
    uint32_t n = 0;
    if (!r_.readMapHeader(&n)) {
      return false;
    }
    out_.useMemory(pairs);
    pairs.reserve(pairs.size() + n);
    for (uint32_t i = 0; i < n; ++i) {
      Str k, v;
      if (!str(&k) || !str(&v)) {
        return false;
      }
      pairs.emplace_back(k, v);
    }
    return true;
  }

  bool metrics(StrDoubles& metrics) {
    uint32_t n = 0;
    if (!r_.readMapHeader(&n)) {
      return false;
    }
    out_.useMemory(metrics);
    metrics.reserve(metrics.size() + n + 1);  // + _top_level, added to most root spans later
    for (uint32_t i = 0; i < n; ++i) {
      Str k;
      double v = 0;
      if (!str(&k) || !r_.readDouble(&v)) {
        return false;
      }
      metrics.emplace_back(k, v);
    }
    return true;
  }

  bool metaStruct(StrPairs& pairs) {
    uint32_t n = 0;
    if (!r_.readMapHeader(&n)) {
      return false;
    }
    pairs.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Str k, v;
      if (!str(&k) || !r_.readString(&v)) {  // the value is raw bytes: no UTF-8 repair
        return false;
      }
      pairs.emplace_back(k, v);
    }
    return true;
  }

  bool links(std::vector<SpanLink>& links) {
    uint32_t n = 0;
    if (!r_.readArrayHeader(&n)) {
      return false;
    }
    links.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      SpanLink& l = links.emplace_back();
      uint32_t keys = 0;
      if (!r_.readMapHeader(&keys)) {
        return false;
      }
      for (uint32_t k = 0; k < keys; ++k) {
        Str key;
        if (!r_.readString(&key)) {
          return false;
        }
        bool ok = true;
        if (key == "trace_id") {
          ok = r_.readUint64(&l.trace_id);
        } else if (key == "trace_id_high") {
          ok = r_.readUint64(&l.trace_id_high);
        } else if (key == "span_id") {
          ok = r_.readUint64(&l.span_id);
        } else if (key == "attributes") {
          ok = strPairs(l.attributes);
        } else if (key == "tracestate") {
          ok = str(&l.tracestate);
        } else if (key == "flags") {
          uint64_t f = 0;
          ok = r_.readUint64(&f);
          l.flags = static_cast<uint32_t>(f);
        } else {
          ok = r_.skip();
        }
        if (!ok) {
          return false;
        }
      }
    }
    return true;
  }

  bool attributeValue(AttributeValue& v, bool nested) {
    uint32_t keys = 0;
    if (!r_.readMapHeader(&keys)) {
      return false;
    }
    for (uint32_t k = 0; k < keys; ++k) {
      Str key;
      if (!r_.readString(&key)) {
        return false;
      }
      bool ok = true;
      if (key == "type") {
        int64_t t = 0;
        ok = r_.readInt64(&t);
        if (ok && (t < 0 || t > (nested ? 3 : 4))) {
          r_.fail("span event attribute type " + std::to_string(t) + " is not valid");
          return false;
        }
        v.type = static_cast<AttributeValue::Type>(t);
      } else if (key == "string_value") {
        ok = str(&v.string_value);
      } else if (key == "bool_value") {
        ok = r_.readBool(&v.bool_value);
      } else if (key == "int_value") {
        ok = r_.readInt64(&v.int_value);
      } else if (key == "double_value") {
        ok = r_.readDouble(&v.double_value);
      } else if (key == "array_value" && !nested) {
        uint32_t outer = 0;
        ok = r_.readMapHeader(&outer);
        for (uint32_t o = 0; ok && o < outer; ++o) {
          Str okey;
          ok = r_.readString(&okey);
          if (ok && okey == "values") {
            uint32_t n = 0;
            ok = r_.readArrayHeader(&n);
            v.array_value.reserve(n);
            for (uint32_t i = 0; ok && i < n; ++i) {
              ok = attributeValue(v.array_value.emplace_back(), true);
            }
          } else if (ok) {
            ok = r_.skip();
          }
        }
      } else {
        ok = r_.skip();
      }
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  bool events(std::vector<SpanEvent>& events) {
    uint32_t n = 0;
    if (!r_.readArrayHeader(&n)) {
      return false;
    }
    events.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      SpanEvent& e = events.emplace_back();
      uint32_t keys = 0;
      if (!r_.readMapHeader(&keys)) {
        return false;
      }
      for (uint32_t k = 0; k < keys; ++k) {
        Str key;
        if (!r_.readString(&key)) {
          return false;
        }
        bool ok = true;
        if (key == "time_unix_nano") {
          ok = r_.readUint64(&e.time_unix_nano);
        } else if (key == "name") {
          ok = str(&e.name);
        } else if (key == "attributes") {
          uint32_t m = 0;
          ok = r_.readMapHeader(&m);
          e.attributes.reserve(m);
          for (uint32_t a = 0; ok && a < m; ++a) {
            auto& [akey, value] = e.attributes.emplace_back();
            ok = str(&akey) && attributeValue(value, false);
          }
        } else {
          ok = r_.skip();
        }
        if (!ok) {
          return false;
        }
      }
    }
    return true;
  }

  bool span(Span& s) {
    uint32_t keys = 0;
    if (!r_.nextIsMap()) {
      r_.fail("expected a span map at byte " + std::to_string(r_.position()));
      return false;
    }
    if (!r_.readMapHeader(&keys)) {
      return false;
    }
    for (uint32_t k = 0; k < keys; ++k) {
      Str key;
      if (!r_.readString(&key)) {
        return false;
      }
      bool ok = true;
      switch (key.size()) {
        case 4:
          if (keyIs(key, "name")) {
            ok = str(&s.name);
          } else if (keyIs(key, "meta")) {
            ok = strPairs(s.meta);
          } else if (keyIs(key, "type")) {
            ok = str(&s.type);
          } else {
            ok = r_.skip();
          }
          break;
        case 5:
          if (keyIs(key, "start")) {
            ok = r_.readInt64(&s.start);
          } else if (keyIs(key, "error")) {
            int64_t e = 0;
            ok = r_.readInt64(&e);
            s.error = static_cast<int32_t>(e);
          } else {
            ok = r_.skip();
          }
          break;
        case 7:
          if (keyIs(key, "service")) {
            ok = str(&s.service);
          } else if (keyIs(key, "span_id")) {
            ok = r_.readUint64(&s.span_id);
          } else if (keyIs(key, "metrics")) {
            ok = metrics(s.metrics);
          } else {
            ok = r_.skip();
          }
          break;
        case 8:
          if (keyIs(key, "resource")) {
            ok = str(&s.resource);
          } else if (keyIs(key, "trace_id")) {
            ok = r_.readUint64(&s.trace_id);
          } else if (keyIs(key, "duration")) {
            ok = r_.readInt64(&s.duration);
          } else {
            ok = r_.skip();
          }
          break;
        case 9:
          ok = keyIs(key, "parent_id") ? r_.readUint64(&s.parent_id) : r_.skip();
          break;
        case 10:
          if (keyIs(key, "span_links")) {
            ok = links(s.span_links);
          } else {
            ok = r_.skip();
          }
          break;
        case 11:
          if (keyIs(key, "meta_struct")) {
            ok = metaStruct(s.meta_struct);
          } else if (keyIs(key, "span_events")) {
            ok = events(s.span_events);
          } else {
            ok = r_.skip();
          }
          break;
        default:
          ok = r_.skip();
      }
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  bool spans(PayloadVector<Span>& spans) {
    uint32_t n = 0;
    if (!r_.nextIsArray() && !r_.nextIsNil()) {
      r_.fail("expected a trace (an array of spans) at byte " + std::to_string(r_.position()));
      return false;
    }
    if (!r_.readArrayHeader(&n) || !count(n, kMaxSpans, spans_, "spans")) {
      return false;
    }
    out_.useMemory(spans);
    spans.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (!span(spans[i])) {
        return false;
      }
    }
    return true;
  }

  // Each element may take one byte of the body but a whole struct in memory: the number of
  // chunks and spans in one payload is capped so a small body cannot claim gigabytes.
  bool count(uint32_t n, uint64_t max, uint64_t& total, const char* what) {
    total += n;
    if (total > max) {
      r_.fail(std::string("more than ") + std::to_string(max) + " " + what + " in one payload");
      return false;
    }
    return true;
  }

  // v0.3 / v0.4: [[span, ...], ...]
  bool v04(std::string* error) {
    uint32_t n = 0;
    if (r_.peek() != MsgpackReader::Type::kArray) {
      r_.fail("expected an array of traces");
      return fail(error);
    }
    if (!r_.readArrayHeader(&n) || !count(n, kMaxChunks, chunks_, "traces")) {
      return fail(error);
    }
    auto& chunks = out_.payload.chunks;
    out_.useMemory(chunks);
    chunks.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (!spans(chunks[i].spans)) {
        return fail(error);
      }
    }
    return trailing(error);
  }

  // v0.5: [dictionary, [[span as a 12-array of indexes], ...]]
  bool v05(std::string* error) {
    uint32_t top = 0;
    if (r_.peek() != MsgpackReader::Type::kArray || !r_.readArrayHeader(&top) || top != 2) {
      r_.fail("v0.5: expected an array of 2 elements [dictionary, traces]");
      return fail(error);
    }
    uint32_t words = 0;
    if (!r_.readArrayHeader(&words)) {
      return fail(error);
    }
    dict_.resize(words);
    for (uint32_t i = 0; i < words; ++i) {
      if (r_.nextIsNil()) {
        r_.fail("v0.5: nil in the dictionary");
        return fail(error);
      }
      if (!str(&dict_[i])) {
        return fail(error);
      }
    }
    uint32_t n = 0;
    if (!r_.readArrayHeader(&n) || !count(n, kMaxChunks, chunks_, "traces")) {
      return fail(error);
    }
    auto& chunks = out_.payload.chunks;
    out_.useMemory(chunks);
    chunks.resize(n);
    for (uint32_t t = 0; t < n; ++t) {
      uint32_t count = 0;
      if (!r_.readArrayHeader(&count) || !this->count(count, kMaxSpans, spans_, "spans")) {
        return fail(error);
      }
      out_.useMemory(chunks[t].spans);
      chunks[t].spans.resize(count);
      for (uint32_t i = 0; i < count; ++i) {
        if (!span05(chunks[t].spans[i])) {
          return fail(error);
        }
      }
    }
    return trailing(error);
  }

  // A span's string: an index into the dictionary (nearly always a fixint, uint8 or uint16).
  [[gnu::always_inline]] bool index(Str* s) {
    const size_t at = r_.position();
    if (uint32_t i = 0; r_.readSmallUint(&i)) [[likely]] {
      if (i < dict_.size()) [[likely]] {
        *s = dict_[i];
        return true;
      }
      return indexFailed(at, i);
    }
    return indexSlow(s);
  }
  [[gnu::noinline]] bool indexSlow(Str* s) {
    const size_t at = r_.position();
    if (r_.nextIsNil()) {
      r_.fail("v0.5: nil at byte " + std::to_string(at));
      return false;
    }
    uint64_t i = 0;
    if (!r_.readUint64(&i)) {
      return false;
    }
    if (i < dict_.size()) {
      *s = dict_[i];
      return true;
    }
    return indexFailed(at, i);
  }
  // An index outside the dictionary (out of line: the messages' strings would cost every call a
  // frame).
  [[gnu::noinline]] bool indexFailed(size_t at, uint64_t i) {
    r_.fail("v0.5: string index " + std::to_string(i) + " at byte " + std::to_string(at) +
            " is outside the dictionary of " + std::to_string(dict_.size()));
    return false;
  }

  bool span05(Span& s) {
    uint32_t n = 0;
    if (!r_.nextIsArray() || !r_.readArrayHeader(&n) || n != 12) {
      r_.fail("v0.5: a span must be an array of exactly 12 elements (byte " +
              std::to_string(r_.position()) + ")");
      return false;
    }
    auto notNil = [&] {
      if (r_.nextIsNil()) {
        r_.fail("v0.5: nil at byte " + std::to_string(r_.position()));
        return false;
      }
      return true;
    };
    int64_t error = 0;
    if (!index(&s.service) || !index(&s.name) || !index(&s.resource) || !notNil() ||
        !r_.readUint64(&s.trace_id) || !notNil() || !r_.readUint64(&s.span_id) || !notNil() ||
        !r_.readUint64(&s.parent_id) || !notNil() || !r_.readInt64(&s.start) || !notNil() ||
        !r_.readInt64(&s.duration) || !notNil() || !r_.readInt64(&error)) {
      return false;
    }
    s.error = static_cast<int32_t>(error);
    uint32_t m = 0;
    if (!notNil() || !r_.readMapHeader(&m)) {
      return false;
    }
    out_.useMemory(s.meta);
    s.meta.reserve(m);
    for (uint32_t i = 0; i < m; ++i) {
      Str k, v;
      if (!index(&k) || !index(&v)) {
        return false;
      }
      s.meta.emplace_back(k, v);
    }
    if (!notNil() || !r_.readMapHeader(&m)) {
      return false;
    }
    out_.useMemory(s.metrics);
    s.metrics.reserve(m + 1);  // + _top_level, added to most root spans later
    for (uint32_t i = 0; i < m; ++i) {
      Str k;
      double v = 0;
      if (!index(&k) || !notNil() || !r_.readDouble(&v)) {
        return false;
      }
      s.metrics.emplace_back(k, v);
    }
    return index(&s.type);
  }

  // v0.7: a TracerPayload map.
  bool v07(std::string* error) {
    TracerPayload& p = out_.payload;
    uint32_t keys = 0;
    if (r_.peek() != MsgpackReader::Type::kMap || !r_.readMapHeader(&keys)) {
      r_.fail("v0.7: expected a TracerPayload map");
      return fail(error);
    }
    for (uint32_t k = 0; k < keys; ++k) {
      Str key;
      if (!r_.readString(&key)) {
        return fail(error);
      }
      bool ok = true;
      if (key == "container_id") {
        ok = str(&p.container_id);
      } else if (key == "language_name") {
        ok = str(&p.language_name);
      } else if (key == "language_version") {
        ok = str(&p.language_version);
      } else if (key == "tracer_version") {
        ok = str(&p.tracer_version);
      } else if (key == "runtime_id") {
        ok = str(&p.runtime_id);
      } else if (key == "env") {
        ok = str(&p.env);
      } else if (key == "hostname") {
        ok = str(&p.hostname);
      } else if (key == "app_version") {
        ok = str(&p.app_version);
      } else if (key == "tags") {
        ok = strPairs(p.tags);
      } else if (key == "chunks") {
        uint32_t n = 0;
        ok = r_.readArrayHeader(&n) && count(n, kMaxChunks, chunks_, "traces");
        p.chunks.resize(ok ? n : 0);
        for (uint32_t i = 0; ok && i < n; ++i) {
          ok = chunk(p.chunks[i]);
        }
      } else {
        ok = r_.skip();
      }
      if (!ok) {
        return fail(error);
      }
    }
    return trailing(error);
  }

  bool chunk(TraceChunk& c) {
    uint32_t keys = 0;
    if (!r_.readMapHeader(&keys)) {
      return false;
    }
    for (uint32_t k = 0; k < keys; ++k) {
      Str key;
      if (!r_.readString(&key)) {
        return false;
      }
      bool ok = true;
      if (key == "priority") {
        int64_t p = 0;
        ok = r_.readInt64(&p);
        c.priority = static_cast<int32_t>(p);
      } else if (key == "origin") {
        ok = str(&c.origin);
      } else if (key == "spans") {
        ok = spans(c.spans);
      } else if (key == "tags") {
        ok = strPairs(c.tags);
      } else if (key == "dropped_trace") {
        ok = r_.readBool(&c.dropped_trace);
      } else {
        ok = r_.skip();
      }
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  bool trailing(std::string* error) {
    if (!r_.atEnd()) {
      *error = "unexpected bytes after the payload at byte " + std::to_string(r_.position());
      return false;
    }
    return true;
  }

 private:
  DecodedPayload& out_;
  MsgpackReader r_;
  std::vector<Str> dict_;
  uint64_t chunks_ = 0;
  uint64_t spans_ = 0;
};

// --- JSON (v0.3 / v0.4 with a JSON content type) ---------------------------------------------

using nlohmann::json;

class JsonDecoder {
 public:
  explicit JsonDecoder(DecodedPayload& out) : out_(out) {}

  bool decode(std::string* error) {
    json doc = json::parse(out_.body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      *error = "malformed JSON";
      return false;
    }
    if (!doc.is_array()) {
      *error = "expected a JSON array of traces";
      return false;
    }
    auto& chunks = out_.payload.chunks;
    chunks.resize(doc.size());
    for (size_t t = 0; t < doc.size(); ++t) {
      const json& trace = doc[t];
      if (trace.is_null()) {
        continue;
      }
      if (!trace.is_array()) {
        *error = "trace " + std::to_string(t) + ": expected an array of spans";
        return false;
      }
      chunks[t].spans.resize(trace.size());
      for (size_t i = 0; i < trace.size(); ++i) {
        if (!span(trace[i], chunks[t].spans[i], error)) {
          *error = "trace " + std::to_string(t) + " span " + std::to_string(i) + ": " + *error;
          return false;
        }
      }
    }
    return true;
  }

 private:
  Str str(const json& v) {
    if (!v.is_string()) {
      return {};
    }
    const auto& s = v.get_ref<const std::string&>();
    return out_.arena.copy(validUtf8(s) ? s : repairUtf8(s));
  }

  static bool u64(const json& v, uint64_t* out) {
    if (v.is_null()) {
      *out = 0;
    } else if (v.is_number_unsigned()) {
      *out = v.get<uint64_t>();
    } else if (v.is_number_integer()) {
      *out = static_cast<uint64_t>(v.get<int64_t>());
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!(d >= 0 && d < 18446744073709551616.0)) {
        return false;  // out of range (or NaN): not an id
      }
      *out = static_cast<uint64_t>(d);
    } else {
      return false;
    }
    return true;
  }

  static bool i64(const json& v, int64_t* out) {
    if (v.is_null()) {
      *out = 0;
    } else if (v.is_number_integer()) {
      *out = v.get<int64_t>();
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
        return false;
      }
      *out = static_cast<int64_t>(d);
    } else {
      return false;
    }
    return true;
  }

  bool span(const json& j, Span& s, std::string* error) {
    if (!j.is_object()) {
      *error = "expected an object";
      return false;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      bool ok = true;
      if (key == "service") {
        s.service = str(v);
      } else if (key == "name") {
        s.name = str(v);
      } else if (key == "resource") {
        s.resource = str(v);
      } else if (key == "type") {
        s.type = str(v);
      } else if (key == "trace_id") {
        ok = u64(v, &s.trace_id);
      } else if (key == "span_id") {
        ok = u64(v, &s.span_id);
      } else if (key == "parent_id") {
        ok = u64(v, &s.parent_id);
      } else if (key == "start") {
        ok = i64(v, &s.start);
      } else if (key == "duration") {
        ok = i64(v, &s.duration);
      } else if (key == "error") {
        int64_t e = 0;
        ok = i64(v, &e);
        s.error = static_cast<int32_t>(e);
      } else if (key == "meta" && v.is_object()) {
        for (auto m = v.begin(); m != v.end(); ++m) {
          s.meta.emplace_back(str(json(m.key())), str(m.value()));
        }
      } else if (key == "metrics" && v.is_object()) {
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (m.value().is_number()) {
            s.metrics.emplace_back(str(json(m.key())), m.value().get<double>());
          }
        }
      }
      if (!ok) {
        *error = "\"" + key + "\" has the wrong type";
        return false;
      }
    }
    return true;
  }

  DecodedPayload& out_;
};

std::string_view mediaType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  std::string_view m = content_type.substr(0, semi);
  while (!m.empty() && (m.back() == ' ' || m.back() == '\t')) {
    m.remove_suffix(1);
  }
  while (!m.empty() && (m.front() == ' ' || m.front() == '\t')) {
    m.remove_prefix(1);
  }
  return m;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool decodeTraces(TraceApiVersion version, std::string_view content_type, DecodedPayload& out,
                  std::string* error) {
  const std::string_view media = mediaType(content_type);
  const bool msgpack = equalsIgnoreCase(media, "application/msgpack");
  const bool json = media.empty() || equalsIgnoreCase(media, "application/json") ||
                    equalsIgnoreCase(media, "text/json");
  switch (version) {
    case TraceApiVersion::kV05:
      return MsgpackDecoder(out).v05(error);
    case TraceApiVersion::kV07:
      return MsgpackDecoder(out).v07(error);
    case TraceApiVersion::kV03:
    case TraceApiVersion::kV04:
      if (msgpack) {
        return MsgpackDecoder(out).v04(error);
      }
      if (json) {
        return JsonDecoder(out).decode(error);
      }
      // Unknown content type: JSON first, then msgpack (§4.3).
      if (JsonDecoder(out).decode(error)) {
        return true;
      }
      out.payload = TracerPayload{};
      return MsgpackDecoder(out).v04(error);
  }
  *error = "unknown version";
  return false;
}

}  // namespace outpost::traces
