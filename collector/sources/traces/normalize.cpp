#include "collector/sources/traces/normalize.h"

#include <algorithm>
#include <array>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace outpost::traces {

namespace {

constexpr int64_t kYear2000Ns = 946'684'800'000'000'000;
constexpr std::string_view kTruncatedSuffix = "...";

constexpr bool isAsciiLetter(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool isDigit(unsigned char c) {
  return c >= '0' && c <= '9';
}

constexpr bool validTagChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || isDigit(c) || c == ':' || c == '.' || c == '/' || c == '-' ||
         c == '_';
}

// The byte classes the two "already normal" checks below test, one table lookup a byte.
enum : uint8_t { kTagByte = 1, kMetricByte = 2 };
constexpr auto kByteClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const auto u = static_cast<unsigned char>(c);
    t[u] = static_cast<uint8_t>(
        (validTagChar(u) ? kTagByte : 0) |
        (isAsciiLetter(u) || isDigit(u) || u == '.' || u == '_' ? kMetricByte : 0));
  }
  return t;
}();

// Already a normal tag: only valid lower-case characters, starts with a letter or ':', no run of
// '_', does not end with '_', at most 200 bytes. (Non-ASCII letters take the slow path.)
bool tagIsNormal(std::string_view s) {
  if (s.empty() || s.size() > kMaxTagLen || s.back() == '_') {
    return false;
  }
  const auto first = static_cast<unsigned char>(s[0]);
  if (!((first >= 'a' && first <= 'z') || first == ':')) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((kByteClass[c] & kTagByte) == 0 || (c == '_' && s[i + 1] == '_')) {  // s.back() != '_'
      return false;
    }
  }
  return true;
}

// Already a normal metric name: starts with a letter, only letters, digits, '.', '_', no '_'
// followed by '_' or '.', no trailing '_'.
bool metricNameIsNormal(std::string_view s) {
  if (s.empty() || !isAsciiLetter(static_cast<unsigned char>(s[0])) || s.back() == '_') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((kByteClass[c] & kMetricByte) == 0) {
      return false;
    }
    if (c == '_' && (s[i + 1] == '.' || s[i + 1] == '_')) {  // s.back() != '_'
      return false;
    }
  }
  return true;
}

// Decodes one UTF-8 code point at s[i] (the text was validated by the decoder); returns its
// length and sets *cp.
size_t decode(std::string_view s, size_t i, uint32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
  if (i + n > s.size()) {
    n = 1;
  }
  uint32_t v = n == 1 ? c : c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    v = (v << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  }
  *cp = v;
  return n;
}

// A letter beyond ASCII: Latin-1 letters and the common alphabetic blocks count as letters
// (a tag may be "café" or "東京"); symbols and punctuation do not.
bool unicodeLetter(uint32_t cp) {
  if (cp < 0x80) {
    return isAsciiLetter(static_cast<unsigned char>(cp));
  }
  if (cp == 0xd7 || cp == 0xf7) {
    return false;
  }
  return (cp >= 0xc0 && cp <= 0x24f) || (cp >= 0x370 && cp <= 0x3ff) ||
         (cp >= 0x400 && cp <= 0x52f) || (cp >= 0x590 && cp <= 0x6ff) ||
         (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x4e00 && cp <= 0x9fff) ||
         (cp >= 0xac00 && cp <= 0xd7af);
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

uint32_t lower(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') {
    return cp + 32;
  }
  if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7) || (cp >= 0x391 && cp <= 0x3a9) ||
      (cp >= 0x410 && cp <= 0x42f)) {
    return cp + 32;
  }
  return cp;
}

// Truncates a meta key/value to `max` bytes plus "..." (UTF-8 safe), into the arena.
Str truncateWithSuffix(Str s, size_t max, Arena& arena) {
  std::string out(truncateUtf8(s, max));
  out += kTruncatedSuffix;
  return arena.keep(std::move(out));
}

bool structuredMetaKey(Str k) {
  return k.starts_with("_dd.") &&
         (k.ends_with(".json") || k.ends_with(".msgpack") || k.ends_with(".protobuf"));
}

bool validHttpStatus(Str v) {
  if (v.empty() || v.size() > 3) {
    return false;
  }
  int code = 0;
  for (char c : v) {
    if (!isDigit(static_cast<unsigned char>(c))) {
      return false;
    }
    code = code * 10 + (c - '0');
  }
  return code >= 100 && code <= 599;
}

// "unnamed-<lang>-service", made at most once per payload.
class FallbackService {
 public:
  FallbackService(Str language, Arena& arena) : language_(language), arena_(arena) {}
  Str get() {
    if (value_.empty()) {
      const Str lang = language_.empty() ? Str() : normalizeTag(language_, arena_);
      if (lang.empty()) {
        value_ = "unnamed-service";
      } else {
        std::string v = "unnamed-";
        v += lang;
        v += "-service";
        value_ = arena_.keep(std::move(v));
      }
    }
    return value_;
  }

 private:
  Str language_;
  Arena& arena_;
  Str value_;
};

void normalizeSpan(Span& s, FallbackService& fallback, const NormalizeOptions& opts, Arena& arena,
                   NormalizeCounts& counts) {
  // service
  if (s.service.empty()) {
    ++counts.service_empty;
    s.service = fallback.get();
  } else {
    if (s.service.size() > kMaxServiceLen) {
      ++counts.service_truncated;
      s.service = truncateUtf8(s.service, kMaxServiceLen);
    }
    const Str n = normalizeTag(s.service, arena);
    if (n.data() != s.service.data() || n.size() != s.service.size()) {
      ++counts.service_invalid;
      s.service = n.empty() ? fallback.get() : n;
    }
  }
  // name
  if (s.name.empty()) {
    ++counts.name_empty;
    s.name = "unnamed_operation";
  } else {
    if (s.name.size() > kMaxNameLen) {
      ++counts.name_truncated;
      s.name = truncateUtf8(s.name, kMaxNameLen);
    }
    if (!metricNameIsNormal(s.name)) {
      ++counts.name_invalid;
      const Str n = normalizeMetricName(s.name, arena);
      s.name = n.empty() ? Str("unnamed_operation") : n;
    }
  }
  // resource
  if (s.resource.empty()) {
    ++counts.resource_empty;
    s.resource = s.name;
  } else if (s.resource.size() > kMaxResourceLen) {
    ++counts.resource_truncated;
    s.resource = truncateUtf8(s.resource, kMaxResourceLen);
  }
  // ids, times
  if (s.parent_id == s.trace_id && s.parent_id == s.span_id) {
    s.parent_id = 0;
  }
  if (s.duration < 0) {
    ++counts.invalid_duration;
    s.duration = 0;
  }
  if (s.start > 0 && s.duration > std::numeric_limits<int64_t>::max() - s.start) {
    ++counts.invalid_duration;
    s.duration = 0;
  }
  if (s.start < kYear2000Ns) {
    ++counts.invalid_start;
    s.start = opts.now_ns - s.duration;
    if (s.start < 0) {
      s.start = opts.now_ns;
    }
  }
  if (s.type.size() > kMaxTypeLen) {
    ++counts.type_truncated;
    s.type = truncateUtf8(s.type, kMaxTypeLen);
  }
  // meta
  for (size_t i = 0; i < s.meta.size();) {
    auto& [k, v] = s.meta[i];
    if (k == "http.status_code" && !validHttpStatus(v)) {
      ++counts.invalid_http_status;
      s.meta.erase(s.meta.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    if (k == "env") {
      const Str n = normalizeTag(v, arena);
      if (n.data() != v.data() || n.size() != v.size()) {
        ++counts.env_normalized;
        v = n;
      }
    }
    if (k.size() > kMaxMetaKeyLen) {
      ++counts.meta_truncated;
      k = truncateWithSuffix(k, kMaxMetaKeyLen, arena);
    }
    if (v.size() > kMaxMetaValueLen && !structuredMetaKey(k)) {
      ++counts.meta_truncated;
      v = truncateWithSuffix(v, kMaxMetaValueLen, arena);
    }
    ++i;
  }
  for (auto& [k, v] : s.metrics) {
    if (k.size() > kMaxMetricsKeyLen) {
      ++counts.metrics_key_truncated;
      k = truncateWithSuffix(k, kMaxMetricsKeyLen, arena);
    }
  }
}

// Sets metric _top_level = 1 on top-level spans and removes a stale one from the others.
void setTopLevel(Span& s, bool top) {
  if (top) {
    s.setMetric("_top_level", 1);
    return;
  }
  auto& m = s.metrics;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it->first == "_top_level") {
      m.erase(it);
      return;
    }
  }
}

void markTopLevel(TraceChunk& chunk) {
  const auto& spans = chunk.spans;
  // Small chunks: a linear search beats hashing.
  auto parentOf = [&](const Span& s) -> const Span* {
    for (const auto& p : spans) {
      if (p.span_id == s.parent_id) {
        return &p;
      }
    }
    return nullptr;
  };
  if (spans.size() <= 32) {
    for (auto& s : chunk.spans) {
      const Span* parent = s.parent_id == 0 ? nullptr : parentOf(s);
      setTopLevel(s, parent == nullptr || parent->service != s.service);
    }
    return;
  }
  std::unordered_map<uint64_t, Str> service_of;
  service_of.reserve(spans.size());
  for (const auto& s : spans) {
    service_of.emplace(s.span_id, s.service);
  }
  for (auto& s : chunk.spans) {
    auto it = s.parent_id == 0 ? service_of.end() : service_of.find(s.parent_id);
    setTopLevel(s, it == service_of.end() || it->second != s.service);
  }
}

}  // namespace

std::string_view truncateUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) {
    return s;
  }
  size_t cut = max;
  // Step back over continuation bytes to the start of the sequence that crosses the limit.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) {
    --cut;
  }
  return s.substr(0, cut);
}

std::string_view normalizeTag(std::string_view in, Arena& arena) {
  if (tagIsNormal(in)) {
    return in;
  }
  std::string out;
  out.reserve(std::min(in.size(), kMaxTagLen));
  bool started = false;
  bool pending_underscore = false;
  size_t i = 0;
  while (i < in.size() && out.size() < kMaxTagLen) {
    uint32_t cp;
    const size_t n = decode(in, i, &cp);
    i += n;
    cp = lower(cp);
    const bool letter = unicodeLetter(cp);
    if (!started) {
      if (letter || cp == ':') {
        started = true;
      } else {
        continue;  // leading characters that cannot start a tag
      }
    }
    const bool valid = letter || (cp < 0x80 && validTagChar(static_cast<unsigned char>(cp)));
    if (!valid || cp == '_') {
      pending_underscore = true;  // a run of '_' and invalid characters is one '_'
      continue;
    }
    if (pending_underscore) {
      out.push_back('_');  // never leading (a tag starts with a letter or ':'), never trailing
      pending_underscore = false;
    }
    appendUtf8(out, cp);
  }
  if (out.size() > kMaxTagLen) {
    out = std::string(truncateUtf8(out, kMaxTagLen));
  }
  while (!out.empty() && out.back() == '_') {
    out.pop_back();
  }
  return arena.keep(std::move(out));
}

std::string_view normalizeMetricName(std::string_view in, Arena& arena) {
  if (metricNameIsNormal(in)) {
    return in;
  }
  size_t i = 0;
  while (i < in.size() && !isAsciiLetter(static_cast<unsigned char>(in[i]))) {
    ++i;
  }
  std::string out;
  for (; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    char next =
        (isAsciiLetter(c) || isDigit(c) || c == '.' || c == '_') ? static_cast<char>(c) : '_';
    if (next == '_' && !out.empty() && out.back() == '_') {
      continue;
    }
    if (next == '.' && !out.empty() && out.back() == '_') {
      out.back() = '.';
      continue;
    }
    out.push_back(next);
  }
  while (!out.empty() && out.back() == '_') {
    out.pop_back();
  }
  if (out.empty()) {
    return {};
  }
  return arena.keep(std::move(out));
}

size_t rootSpanIndex(const TraceChunk& chunk) {
  const auto& spans = chunk.spans;
  for (size_t i = spans.size(); i-- > 0;) {
    if (spans[i].parent_id == 0) {
      return i;
    }
  }
  if (spans.size() <= 32) {
    for (size_t i = 0; i < spans.size(); ++i) {
      bool found = false;
      for (const auto& p : spans) {
        if (p.span_id == spans[i].parent_id) {
          found = true;
          break;
        }
      }
      if (!found) {
        return i;
      }
    }
  } else {
    std::unordered_set<uint64_t> ids;
    ids.reserve(spans.size());
    for (const auto& s : spans) {
      ids.insert(s.span_id);
    }
    for (size_t i = 0; i < spans.size(); ++i) {
      if (!ids.count(spans[i].parent_id)) {
        return i;
      }
    }
  }
  return spans.empty() ? 0 : spans.size() - 1;
}

bool isTopLevel(const Span& s) {
  const double* a = s.findMetric("_top_level");
  if (a != nullptr && *a == 1) {
    return true;
  }
  const double* b = s.findMetric("_dd.top_level");
  return b != nullptr && *b == 1;
}

bool isMeasured(const Span& s) {
  const double* m = s.findMetric("_dd.measured");
  return m != nullptr && *m == 1;
}

bool isPartialSnapshot(const Span& s) {
  const double* v = s.findMetric("_dd.partial_version");
  return v != nullptr && *v >= 0;
}

void normalizePayload(DecodedPayload& p, const NormalizeOptions& opts, NormalizeCounts& counts) {
  auto& chunks = p.payload.chunks;
  FallbackService fallback(p.payload.language_name, p.arena);
  size_t kept = 0;
  for (size_t c = 0; c < chunks.size(); ++c) {
    TraceChunk& chunk = chunks[c];
    if (chunk.spans.empty()) {
      ++counts.dropped_empty;
      continue;
    }
    const uint64_t trace_id = chunk.spans.front().trace_id;
    bool valid = true;
    for (const auto& s : chunk.spans) {
      if (s.trace_id == 0 || s.span_id == 0) {
        ++counts.dropped_zero_id;
        valid = false;
        break;
      }
      if (s.trace_id != trace_id) {
        ++counts.dropped_foreign_span;
        valid = false;
        break;
      }
    }
    if (!valid) {
      continue;
    }
    for (auto& s : chunk.spans) {
      normalizeSpan(s, fallback, opts, p.arena, counts);
    }
    if (!opts.client_computed_top_level) {
      markTopLevel(chunk);
    }
    const Span& root = chunk.spans[rootSpanIndex(chunk)];
    if (chunk.priority == kPriorityNone) {
      const double* prio = root.findMetric("_sampling_priority_v1");
      // A priority is a small integer; NaN or out-of-range values leave it unset.
      if (prio != nullptr && *prio >= -127 && *prio <= 127) {
        chunk.priority = static_cast<int32_t>(*prio);
      }
    }
    if (chunk.origin.empty()) {
      if (const Str* origin = root.findMeta("_dd.origin")) {
        chunk.origin = *origin;
      }
    }
    if (kept != c) {
      chunks[kept] = std::move(chunk);
    }
    ++kept;
  }
  chunks.resize(kept);
}

}  // namespace outpost::traces
